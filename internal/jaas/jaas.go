// Package jaas parses the JAAS login module entries Kafka configures SASL
// with (sasl.jaas.config), for the embedded broker's PLAIN users and
// OAUTHBEARER options and for the clients' properties files.
package jaas

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("jaas: bad sasl.jaas.config")

// Entry is one login module entry: `<module class> <flag> key="value" ...;`.
type Entry struct {
	// Module is the login module's class name, such as
	// org.apache.kafka.common.security.plain.PlainLoginModule.
	Module string
	// Flag is the control flag: required, requisite, sufficient or
	// optional.
	Flag string
	// Options are the key="value" options. Values may be quoted (and then
	// hold spaces and the characters = and ;) or not.
	Options map[string]string
}

// Is reports whether the entry's module is the class named simple (the
// class name without its package, PlainLoginModule).
func (e Entry) Is(simple string) bool {
	return e.Module == simple || strings.HasSuffix(e.Module, "."+simple)
}

// Parse parses a sasl.jaas.config value, which Kafka requires to hold
// exactly one entry.
func Parse(s string) (Entry, error) {
	rest := strings.TrimSpace(s)
	var e Entry
	var ok bool
	if e.Module, rest, ok = word(rest); !ok {
		return e, fmt.Errorf("%w: no login module", ErrSyntax)
	}
	if e.Flag, rest, ok = word(rest); !ok {
		return e, fmt.Errorf("%w: %s has no control flag", ErrSyntax, e.Module)
	}
	switch e.Flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return e, fmt.Errorf("%w: control flag %q, want required", ErrSyntax, e.Flag)
	}
	e.Options = map[string]string{}
	for {
		rest = strings.TrimSpace(rest)
		if rest == ";" {
			return e, nil
		}
		if rest == "" {
			return e, fmt.Errorf("%w: the entry must end with ';'", ErrSyntax)
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return e, fmt.Errorf("%w: option %q has no value", ErrSyntax, firstWord(rest))
		}
		key := strings.TrimSpace(rest[:eq])
		if strings.ContainsAny(key, " \t\n\";") {
			return e, fmt.Errorf("%w: bad option name %q", ErrSyntax, key)
		}
		rest = strings.TrimSpace(rest[eq+1:])
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return e, fmt.Errorf("%w: option %s: unterminated quote", ErrSyntax, key)
			}
			val, rest = rest[1:1+end], rest[2+end:]
		} else {
			end := strings.IndexAny(rest, " \t\n;")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		e.Options[key] = val
	}
}

func word(s string) (w, rest string, ok bool) {
	s = strings.TrimSpace(s)
	end := strings.IndexAny(s, " \t\n;")
	if end <= 0 {
		return "", s, false
	}
	return s[:end], s[end:], true
}

func firstWord(s string) string {
	if w, _, ok := word(s); ok {
		return w
	}
	return s
}
