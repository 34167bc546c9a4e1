package config

import (
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// EnvConfigFile is the environment variable naming a YAML file to load when
// no [WithFile] option is given. It is read from the same environment as
// the other variables (see [WithEnviron]) and is never prefixed.
const EnvConfigFile = "KAFKABOOT_CONFIG"

// Option configures [Load].
type Option interface{ apply(*loadOptions) }

type loadOptions struct {
	files    []string
	environ  []string
	envSet   bool
	prefix   string
	defaults []map[string]any
	values   []map[string]any
}

type optFunc func(*loadOptions)

func (f optFunc) apply(o *loadOptions) { f(o) }

// WithFile loads the YAML file at path. It may be given several times;
// later files override earlier ones. A missing file is an error (matching
// fs.ErrNotExist). Giving WithFile disables the KAFKABOOT_CONFIG lookup.
func WithFile(path string) Option {
	return optFunc(func(o *loadOptions) { o.files = append(o.files, path) })
}

// WithEnviron uses env ("KEY=value" entries, as returned by os.Environ)
// instead of the process environment. WithEnviron(nil) disables the
// environment entirely, which is what tests usually want.
func WithEnviron(env []string) Option {
	return optFunc(func(o *loadOptions) { o.environ, o.envSet = env, true })
}

// WithEnvPrefix only considers environment variables starting with prefix,
// and strips it before mapping: with prefix "MYAPP_", the variable
// MYAPP_KAFKA_CLIENT_ID sets kafka.client-id. KAFKABOOT_CONFIG is read
// unprefixed.
func WithEnvPrefix(prefix string) Option {
	return optFunc(func(o *loadOptions) { o.prefix = prefix })
}

// WithDefaults adds default values below files and environment. Keys may
// be nested maps or dotted ("app.topics.payments"). Kafka keys are checked
// like file keys.
func WithDefaults(m map[string]any) Option {
	return optFunc(func(o *loadOptions) { o.defaults = append(o.defaults, m) })
}

// WithValues adds values with the highest precedence, above files and the
// environment. Intended for tests and for programmatic overrides; keys as
// for [WithDefaults].
func WithValues(m map[string]any) Option {
	return optFunc(func(o *loadOptions) { o.values = append(o.values, m) })
}

// Load loads, merges, decodes and validates the configuration; see the
// package documentation for sources and precedence. Errors caused by bad
// configuration match [ErrInvalid]; an unreadable file is reported with its
// I/O error (for example matching fs.ErrNotExist).
func Load(opts ...Option) (*Config, error) {
	var o loadOptions
	for _, opt := range opts {
		opt.apply(&o)
	}
	if !o.envSet {
		o.environ = os.Environ()
	}
	env := make(map[string]string)
	var cfgFile string
	for _, kv := range o.environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if name == EnvConfigFile {
			cfgFile = val
		}
		if strings.HasPrefix(name, o.prefix) {
			env[name[len(o.prefix):]] = val
		}
	}
	files := o.files
	if len(files) == 0 && cfgFile != "" {
		files = []string{cfgFile}
	}

	l := &loader{k: koanf.New("."), origins: map[string]origin{}}
	def := DefaultKafka()
	if err := l.k.Set("kafka", encode(reflectValueOf(&def))); err != nil {
		return nil, fmt.Errorf("config: defaults: %w", err)
	}
	for _, m := range o.defaults {
		s := newSource()
		if err := s.k.Load(confmap.Provider(m, "."), nil); err != nil {
			return nil, fmt.Errorf("config: defaults: %w", err)
		}
		if err := l.add(s); err != nil {
			return nil, fmt.Errorf("config: defaults: %w", err)
		}
	}
	for _, f := range files {
		m, lines, err := readYAML(f)
		if err != nil {
			return nil, err
		}
		s := newSource()
		if err := s.k.Load(confmap.Provider(m, ""), nil); err != nil {
			return nil, fmt.Errorf("config: file %q: %w", f, err)
		}
		for key, n := range lines {
			s.origins[key] = origin{file: f, line: n}
		}
		if err := l.add(s); err != nil {
			return nil, fmt.Errorf("config: file %q: %w", f, err)
		}
	}

	// Environment: known kafka.* keys (and aliases), and application keys
	// present so far. SPRING_KAFKA_* variables, and KAFKA_* variables
	// that set nothing but are near a variable that would, are errors.
	es := newSource()
	envMap := map[string]any{}
	for _, name := range sortedKeys(env) {
		if rest, ok := strings.CutPrefix(name, "SPRING_KAFKA_"); ok {
			l.errs = append(l.errs, springEnvError(o.prefix, rest))
			continue
		}
		rest, ok := strings.CutPrefix(name, "KAFKA_")
		if !ok {
			continue
		}
		if key := envKey(rest); key != "" {
			envMap["kafka."+key] = env[name]
			es.origins["kafka."+key] = origin{env: o.prefix + name}
		} else if near := nearEnv(rest); near != "" {
			l.errs = append(l.errs, &FieldError{Env: o.prefix + name, Err: ErrUnknownKey, located: true,
				Msg: fmt.Sprintf("matches no key (did you mean %sKAFKA_%s?)", o.prefix, near)})
		}
	}
	for _, key := range l.k.Keys() {
		if strings.HasPrefix(key, "kafka.") {
			continue
		}
		if val, ok := env[envNorm(key)]; ok {
			envMap[key] = val
			es.origins[key] = origin{env: o.prefix + envNorm(key)}
		}
	}
	if len(envMap) > 0 {
		if err := es.k.Load(confmap.Provider(envMap, "."), nil); err != nil {
			return nil, fmt.Errorf("config: environment: %w", err)
		}
		if err := l.add(es); err != nil {
			return nil, fmt.Errorf("config: environment: %w", err)
		}
	}
	for _, m := range o.values {
		s := newSource()
		if err := s.k.Load(confmap.Provider(m, "."), nil); err != nil {
			return nil, fmt.Errorf("config: values: %w", err)
		}
		if err := l.add(s); err != nil {
			return nil, fmt.Errorf("config: values: %w", err)
		}
	}
	k := l.k
	fail := func(err error) (*Config, error) {
		errs := l.errs
		if err != nil {
			errs = append(errs, err)
		}
		return nil, locate(joinErrs(errs), l.origins)
	}

	// Decode onto the defaults, so that a null subtree in YAML ("kafka:"
	// or "producer:" with no value) keeps the defaults.
	c := &Config{Kafka: DefaultKafka(), k: k, env: env, origins: l.origins}
	var rawClusters any
	if raw := k.Get("kafka"); raw != nil {
		if m, ok := raw.(map[string]any); ok {
			if rc, has := m["clusters"]; has {
				// Decoded separately, over the top level (clusters.go).
				m = maps.Clone(m)
				delete(m, "clusters")
				raw, rawClusters = m, rc
			}
		}
		var d decoder
		d.decode("kafka", raw, reflectValueOf(&c.Kafka))
		if err := joinErrs(d.errs); err != nil {
			return fail(err)
		}
	}
	if err := c.Kafka.Validate(); err != nil {
		return fail(err)
	}
	clusters, err := loadClusters(rawClusters, &c.Kafka)
	if err != nil {
		return fail(err)
	}
	if len(l.errs) > 0 {
		return fail(nil)
	}
	c.clusters = clusters
	return c, nil
}
