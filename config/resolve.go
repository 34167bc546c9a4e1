package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// maxResolveDepth bounds nested/recursive placeholder resolution, which
// also catches cycles such as a=${b}, b=${a}.
const maxResolveDepth = 32

// Lookup returns the value of key (a dotted key such as
// "app.topics.payments" or "kafka.consumer.group-id") as a string.
//
// Scalars are formatted with their natural string form, lists are joined
// with ",", durations use time.Duration's form ("5s"). A key holding a map
// (a non-leaf key) is reported as not found. Keys absent from every loaded
// source are finally looked up in the environment under their relaxed name
// (APP_TOPICS_PAYMENTS, with the [WithEnvPrefix] prefix if any).
func (c *Config) Lookup(key string) (string, bool) {
	if c == nil {
		return "", false
	}
	if c.k != nil && c.k.Exists(key) {
		return scalarString(c.k.Get(key))
	}
	v, ok := c.env[envNorm(key)]
	return v, ok
}

// Resolve replaces placeholders in s: "${key}" is replaced by
// Lookup(key), "${key:default}" falls back to default when the key is not
// found. Defaults and looked-up values may themselves contain placeholders
// ("${a:${b}}"), resolved recursively up to a fixed depth, which also
// stops cycles. A string without "${" is returned unchanged. There is no
// escape syntax for a literal "${".
//
// An unresolvable placeholder yields an error naming the key and matching
// [ErrUnresolved]; an unterminated "${" matches [ErrInvalid].
func (c *Config) Resolve(s string) (string, error) {
	return c.resolve(s, 0)
}

func (c *Config) resolve(s string, depth int) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	if depth >= maxResolveDepth {
		return "", fmt.Errorf("config: resolve %q: placeholders nested deeper than %d (cycle?): %w", s, maxResolveDepth, ErrUnresolved)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end, level := -1, 1
		for j := i + 2; j < len(s); j++ {
			if strings.HasPrefix(s[j:], "${") {
				level++
				j++
				continue
			}
			if s[j] == '}' {
				level--
				if level == 0 {
					end = j
					break
				}
			}
		}
		if end < 0 {
			return "", fmt.Errorf("config: resolve %q: unterminated placeholder: %w", s, ErrInvalid)
		}
		key, def, hasDef := strings.Cut(s[i+2:end], ":")
		key = strings.TrimSpace(key)
		if key == "" {
			return "", fmt.Errorf("config: resolve %q: empty placeholder key: %w", s, ErrInvalid)
		}
		var (
			val string
			err error
		)
		if v, ok := c.Lookup(key); ok {
			val, err = c.resolve(v, depth+1)
		} else if hasDef {
			val, err = c.resolve(def, depth+1)
		} else {
			err = fmt.Errorf("config: resolve placeholder ${%s}: key %q not found: %w", key, key, ErrUnresolved)
		}
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		s = s[end+1:]
	}
}

// Bind decodes the subtree at key into out, a non-nil pointer to a struct
// with koanf tags (kebab-case names), then validates it with validator/v10
// "validate" tags. It is the equivalent of Spring's
// @ConfigurationProperties for application keys:
//
//	type Topics struct {
//		Payments string `koanf:"payments" validate:"required"`
//	}
//	var t Topics
//	err := cfg.Bind("app.topics", &t)
//
// Fields already set in out are kept when the key is absent, so out may
// carry defaults. Unknown keys under key are errors. Values come from the
// loaded sources; environment variables fill keys of out's tree that no
// source set (APP_TOPICS_PAYMENTS for app.topics.payments). Supported field
// types: strings, bools, integers, floats, time.Duration, [ByteSize],
// pointers to those, slices of strings, slices of structs, maps with
// string keys, and nested structs. Errors match [ErrInvalid].
func (c *Config) Bind(key string, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: bind %q: out must be a non-nil pointer to a struct, got %T", key, out)
	}
	sub := koanf.New(".")
	if c.k != nil && c.k.Exists(key) {
		if _, ok := c.k.Get(key).(map[string]any); !ok {
			return &FieldError{Key: key, Msg: "expected a map"}
		}
		sub = c.k.Cut(key)
	}
	envMap := map[string]any{}
	pfx := envNorm(key) + "_"
	for name, val := range c.env {
		rest, ok := strings.CutPrefix(name, pfx)
		if !ok {
			continue
		}
		if m := matchEnv(rv.Elem().Type(), rest); m != "" && !sub.Exists(m) {
			envMap[m] = val
		}
	}
	if len(envMap) > 0 {
		if err := sub.Load(confmap.Provider(envMap, "."), nil); err != nil {
			return fmt.Errorf("config: bind %q: environment: %w", key, err)
		}
	}
	var d decoder
	d.decode(key, sub.Raw(), rv.Elem())
	if err := joinErrs(d.errs); err != nil {
		return locate(err, c.origins)
	}
	if err := validate().Struct(out); err != nil {
		var verrs validator.ValidationErrors
		if !errors.As(err, &verrs) {
			return &FieldError{Key: key, Msg: err.Error(), Err: err}
		}
		errs := make([]error, 0, len(verrs))
		for _, fe := range verrs {
			errs = append(errs, fieldErr(key, fe))
		}
		return locate(joinErrs(errs), c.origins)
	}
	return nil
}
