package kafkaboot

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/kafkaboot/kafkaboot/template"
)

// schemaRegistry provides, from kafka.schema-registry, the registry client
// and the registry serializers (Avro, Protobuf, JSON Schema) with the
// configured auto-registration, version and subject settings. They are the
// ones kafka.producer.value-serializer and
// kafka.consumer.value-deserializer select for the templates and
// listeners, so Go types registered with them (serde.RegisterAvro) apply
// there too; pass them to templates and listeners of your own with
// TemplateOptions(template.WithSerializer(avro)) and
// ContainerOptions(container.WithDeserializer(avro)). fx builds them only
// when asked for; without kafka.schema-registry.url that fails the start
// naming the key.
var schemaRegistry = fx.Provide(
	func(c *Clusters) (*sr.Client, error) {
		return built(c.registry(""), func(r *registrySerdes) *sr.Client { return r.cl })
	},
	func(c *Clusters) (*serde.SRAvro, error) {
		return built(c.registry(""), func(r *registrySerdes) *serde.SRAvro { return r.av })
	},
	func(c *Clusters) (*serde.SRProtobuf, error) {
		return built(c.registry(""), func(r *registrySerdes) *serde.SRProtobuf { return r.pb })
	},
	func(c *Clusters) (*serde.SRJSONSchema, error) {
		return built(c.registry(""), func(r *registrySerdes) *serde.SRJSONSchema { return r.js })
	},
)

// registrySerdes are the registry client and serializers of one
// kafka.schema-registry configuration, built on first use.
type registrySerdes struct {
	cfg  config.SchemaRegistry
	once sync.Once
	err  error
	cl   *sr.Client
	av   *serde.SRAvro
	pb   *serde.SRProtobuf
	js   *serde.SRJSONSchema
}

func (r *registrySerdes) build() error {
	r.once.Do(func() {
		if r.cl, r.err = serde.NewSRClient(r.cfg); r.err != nil {
			return
		}
		opts := serde.SROptionsFromConfig(r.cfg)
		r.av = serde.NewSRAvro(r.cl, opts...)
		r.pb = serde.NewSRProtobuf(r.cl, opts...)
		r.js = serde.NewSRJSONSchema(r.cl, opts...)
	})
	return r.err
}

// built returns what pick picks of r, once r is built.
func built[T any](r *registrySerdes, pick func(*registrySerdes) T) (T, error) {
	if err := r.build(); err != nil {
		var zero T
		return zero, err
	}
	return pick(r), nil
}

// format returns the registry serde of a value-serializer or
// value-deserializer setting (avro, protobuf, json-schema), or nil for
// the default (by type); key names the setting in errors.
func (r *registrySerdes) format(key, name string) (serde.Serde, error) {
	switch name {
	case "":
		return nil, nil
	case "avro", "protobuf", "json-schema":
	default:
		return nil, fmt.Errorf("kafkaboot: %s %q: want avro, protobuf or json-schema", key, name)
	}
	if err := r.build(); err != nil {
		return nil, fmt.Errorf("kafkaboot: %s %s: %w", key, name, err)
	}
	switch name {
	case "avro":
		return r.av, nil
	case "protobuf":
		return r.pb, nil
	}
	return r.js, nil
}

// registry returns the registry serdes of cluster name's
// kafka.schema-registry ("" is the default cluster); clusters with the
// same registry configuration share them.
func (c *Clusters) registry(name string) *registrySerdes {
	cfg := c.cfg.Kafka.SchemaRegistry
	if name != "" {
		if ccfg, err := c.cfg.ForCluster(name); err == nil {
			cfg = ccfg.Kafka.SchemaRegistry
		}
	}
	c.regMu.Lock()
	defer c.regMu.Unlock()
	for _, r := range c.registries {
		if reflect.DeepEqual(r.cfg, cfg) {
			return r
		}
	}
	r := &registrySerdes{cfg: cfg}
	c.registries = append(c.registries, r)
	return r
}

// templateOpts are a template's options for cfg: the registry serializer
// of kafka.producer.value-serializer, if set, then opts.
func (r *registrySerdes) templateOpts(cfg *config.Config, opts []template.Option) ([]template.Option, error) {
	s, err := r.format("kafka.producer.value-serializer", cfg.Kafka.Producer.ValueSerializer)
	if err != nil || s == nil {
		return opts, err
	}
	return append([]template.Option{template.WithSerializer(s)}, opts...), nil
}

// AvroSchema gives Go type T its Avro schema (Avro JSON text) in the
// application's registry Avro serde (serde.RegisterAvro): templates with
// kafka.producer.value-serializer avro write T's values with it,
// registered under their subject; listeners with
// kafka.consumer.value-deserializer avro read records of any compatible
// writer's schema into T through Avro's schema resolution (fields the
// writer lacks get this schema's defaults). A schema that does not parse
// fails the start.
//
//	kafkaboot.AvroSchema[Order](orderSchema)
func AvroSchema[T any](schema string) fx.Option {
	return fx.Invoke(func(a *serde.SRAvro) error {
		if err := serde.RegisterAvro[T](a, schema); err != nil {
			return fmt.Errorf("kafkaboot: AvroSchema[%s]: %w", reflect.TypeFor[T](), err)
		}
		return nil
	})
}

// JSONSchema gives Go type T its JSON Schema in the application's
// registry JSON Schema serde (serde.RegisterJSONSchema), as AvroSchema
// does for Avro.
func JSONSchema[T any](schema string) fx.Option {
	return fx.Invoke(func(j *serde.SRJSONSchema) error {
		if err := serde.RegisterJSONSchema[T](j, schema); err != nil {
			return fmt.Errorf("kafkaboot: JSONSchema[%s]: %w", reflect.TypeFor[T](), err)
		}
		return nil
	})
}
