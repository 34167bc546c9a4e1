package kafkaboot

import (
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/serde"
)

// schemaRegistry provides, from kafka.schema-registry, the registry client
// and the registry serializers (Avro, Protobuf, JSON Schema) with the
// configured auto-registration, version and subject settings, to pass to
// templates (TemplateOptions(template.WithSerializer(avro))) and listeners
// (ContainerOptions(container.WithDeserializer(avro))). fx builds them only
// when asked for; without kafka.schema-registry.url that fails the start
// naming the key.
var schemaRegistry = fx.Provide(
	func(cfg *config.Config) (*sr.Client, error) { return serde.NewSRClient(cfg.Kafka.SchemaRegistry) },
	func(cl *sr.Client, cfg *config.Config) *serde.SRAvro {
		return serde.NewSRAvro(cl, serde.SROptionsFromConfig(cfg.Kafka.SchemaRegistry)...)
	},
	func(cl *sr.Client, cfg *config.Config) *serde.SRProtobuf {
		return serde.NewSRProtobuf(cl, serde.SROptionsFromConfig(cfg.Kafka.SchemaRegistry)...)
	},
	func(cl *sr.Client, cfg *config.Config) *serde.SRJSONSchema {
		return serde.NewSRJSONSchema(cl, serde.SROptionsFromConfig(cfg.Kafka.SchemaRegistry)...)
	},
)
