package serde

// Option configures [NewJSON], [NewProtobuf], [NewAuto] and the generic
// constructors. Options that do not apply to a serde are ignored by it.
type Option interface{ apply(*options) }

type options struct {
	registry        *TypeRegistry
	mappings        []mapping
	header          string
	noHeader        bool
	disallowUnknown bool
	useNumber       bool
}

type mapping struct {
	name   string
	sample any
}

type optFunc func(*options)

func (f optFunc) apply(o *options) { f(o) }

func newOptions(opts []Option) options {
	o := options{header: TypeIDHeader}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.registry == nil {
		o.registry = NewTypeRegistry()
	}
	for _, m := range o.mappings {
		if err := o.registry.Register(m.name, m.sample); err != nil {
			// A conflicting static mapping is a programming error,
			// like an invalid regexp in regexp.MustCompile.
			panic(err)
		}
	}
	return o
}

// WithRegistry uses r for type names (shared, for example, between a
// serializer and a deserializer, or among several serdes). Without it each
// serde has a private registry.
func WithRegistry(r *TypeRegistry) Option {
	return optFunc(func(o *options) { o.registry = r })
}

// WithTypeMapping registers name for the type of sample in the serde's
// registry (see [TypeRegistry.Register]). The constructor panics if the
// mapping conflicts with an existing one; use [TypeRegistry.Register]
// directly to handle that as an error.
func WithTypeMapping(name string, sample any) Option {
	return optFunc(func(o *options) { o.mappings = append(o.mappings, mapping{name, sample}) })
}

// WithTypeHeader sets the header used for type names, [TypeIDHeader] by
// default. Key serdes should use [KeyTypeIDHeader].
func WithTypeHeader(name string) Option {
	return optFunc(func(o *options) { o.header = name })
}

// WithoutTypeHeader stops serializers from writing the type header (for
// consumers that reject unknown headers, or to save bytes). Deserializers
// still read the header when present.
func WithoutTypeHeader() Option {
	return optFunc(func(o *options) { o.noHeader = true })
}

// DisallowUnknownFields makes JSON deserialization fail on object keys that
// do not match a field of the target struct.
func DisallowUnknownFields() Option {
	return optFunc(func(o *options) { o.disallowUnknown = true })
}

// UseNumber makes JSON deserialization into interface values (any,
// map[string]any) produce json.Number instead of float64, preserving
// large integers.
func UseNumber() Option {
	return optFunc(func(o *options) { o.useNumber = true })
}
