package kafkaboot

import (
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/template"
)

// Module is the fx module of kafkaboot: configuration, producer factory,
// template (and, with kafka.producer.transactional-id-prefix, a
// transactional one named "transactional": `name:"transactional"`),
// admin, listener containers with lifecycle hooks, Health (also as the
// http.Handler named HealthHandler), and, from kafka.schema-registry, the
// registry client and serializers (*sr.Client, *serde.SRAvro,
// *serde.SRProtobuf, *serde.SRJSONSchema). The
// containers are always built (an application without listeners has an
// empty registry), so that a bad listener tag fails the application at
// start.
var Module = fx.Module("kafkaboot",
	fx.Provide(
		provideConfig,
		provideProducerFactory,
		provideTemplate,
		fx.Annotate(provideTransactionalTemplate, fx.ResultTags(`name:"transactional"`)),
		provideAdmin,
		provideClusters,
		provideContainers,
		NewHealth,
	),
	healthHandler,
	schemaRegistry,
	fx.Invoke(func(*Containers) {}),
)

func provideAdmin(lc fx.Lifecycle, cfg *config.Config, f *template.ProducerFactory) *Admin {
	a := NewAdmin(cfg, f.Client())
	lc.Append(fx.StartHook(a.Start))
	return a
}
