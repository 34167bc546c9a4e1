package listener

import (
	"errors"
	"fmt"
	"strings"
)

// Resolver replaces ${key} and ${key:default} placeholders in s. The root
// kafkaboot module passes the configuration's Resolve; [MapResolver] is a
// small stand-alone implementation.
type Resolver func(s string) (string, error)

// ErrUnresolved is wrapped by errors for placeholders without a value and
// without a default.
var ErrUnresolved = errors.New("unresolvable placeholder")

// MapResolver returns a Resolver that looks keys up in m, honoring
// ${key:default} defaults (defaults may themselves contain placeholders).
// A key that is missing and has no default is an error wrapping
// ErrUnresolved.
func MapResolver(m map[string]string) Resolver {
	return func(s string) (string, error) {
		return expand(s, func(k string) (string, bool) {
			v, ok := m[k]
			return v, ok
		})
	}
}

// resolveValue resolves placeholders in v; without a resolver only
// ${key:default} forms resolve (to their default).
func resolveValue(v string, r Resolver) (string, error) {
	if !strings.Contains(v, "${") {
		return v, nil
	}
	if r == nil {
		out, err := expand(v, func(string) (string, bool) { return "", false })
		if err != nil {
			return "", fmt.Errorf("%w (no resolver configured)", err)
		}
		return out, nil
	}
	out, err := r(v)
	if err != nil {
		if !errors.Is(err, ErrUnresolved) {
			err = fmt.Errorf("%w: %w", ErrUnresolved, err)
		}
		return "", err
	}
	return out, nil
}

// expand substitutes every ${key[:default]} of s using lookup.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end := matchBrace(s, i+2)
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated placeholder in %q", ErrUnresolved, s)
		}
		inner := s[i+2 : end]
		key, def, hasDef := strings.Cut(inner, ":")
		key = strings.TrimSpace(key)
		if v, ok := lookup(key); ok {
			b.WriteString(v)
		} else if hasDef {
			d, err := expand(def, lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(d)
		} else {
			return "", fmt.Errorf("%w: ${%s}", ErrUnresolved, key)
		}
		s = s[end+1:]
	}
}

// matchBrace returns the index of the '}' closing a placeholder whose body
// starts at from, honoring nested braces; -1 if none.
func matchBrace(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
