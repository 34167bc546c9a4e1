package kafkaboot

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// NewProducerFactory builds the producer factory from the configuration.
// Its clients partition with container.DeadLetterPartitioner, so that dead
// letters go to the partition of the record they replace, and with
// template.Partitioner, so that template.Partition is honoured.
func NewProducerFactory(cfg *config.Config, opts ...template.FactoryOption) (*template.ProducerFactory, error) {
	opts = append([]template.FactoryOption{template.WithClientOpts(
		kgo.RecordPartitioner(template.Partitioner(container.DeadLetterPartitioner(kgo.StickyKeyPartitioner(nil)))),
	)}, opts...)
	return template.NewProducerFactory(cfg, opts...)
}

// ProducerParams are the inputs of the producer factory under fx.
type ProducerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Logger    *slog.Logger `optional:"true"`
	Telemetry Telemetry
	// Options are the franz-go options of ProducerOptions.
	Options [][]kgo.Opt `group:"kafkaboot.producer"`
}

// ProducerOptions adds franz-go options (hooks, a logger, partitioner,
// anything kgo takes) to the producer factory's clients under fx, after
// the configuration's.
//
//	kafkaboot.ProducerOptions(kgo.WithHooks(myHook), kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
func ProducerOptions(opts ...kgo.Opt) fx.Option {
	return fx.Provide(fx.Annotate(func() []kgo.Opt { return opts }, fx.ResultTags(`group:"kafkaboot.producer"`)))
}

// TemplateOptions adds options (a ProducerListener, interceptors, a
// serializer, a logger) to the templates kafkaboot provides under fx.
func TemplateOptions(opts ...template.Option) fx.Option {
	return fx.Provide(fx.Annotate(func() []template.Option { return opts }, fx.ResultTags(`group:"kafkaboot.template"`)))
}

// TemplateParams are the inputs of the templates under fx.
type TemplateParams struct {
	fx.In
	Factory *template.ProducerFactory
	Config  *config.Config
	Options [][]template.Option `group:"kafkaboot.template"`
	// Clusters has the schema registry serdes of
	// kafka.producer.value-serializer.
	Clusters *Clusters
}

// Telemetry are the OpenTelemetry providers Module takes from the
// application, when it provides them: a metric.MeterProvider turns the
// producer and listener metrics on, a trace.TracerProvider the send and
// handler spans (trace context carried in record headers by the
// propagation.TextMapPropagator, W3C trace context by default). Without
// them there are neither metrics nor spans, at no cost. Module never uses
// OpenTelemetry's global providers: provide them, for example
//
//	fx.Provide(func() metric.MeterProvider { return sdkmetric.NewMeterProvider(...) })
type Telemetry struct {
	fx.In
	MeterProvider  metric.MeterProvider          `optional:"true"`
	TracerProvider trace.TracerProvider          `optional:"true"`
	Propagator     propagation.TextMapPropagator `optional:"true"`
}

func provideProducerFactory(p ProducerParams) (*template.ProducerFactory, error) {
	return newProducerFactory(p.Lifecycle, p.Config, p.Logger, p.Telemetry, p.Options)
}

// newProducerFactory builds a producer factory for cfg (the top level or a
// cluster's) with the application's logger, telemetry and ProducerOptions,
// closed when the application stops.
func newProducerFactory(lc fx.Lifecycle, cfg *config.Config, logger *slog.Logger, tel Telemetry, extra [][]kgo.Opt) (*template.ProducerFactory, error) {
	var opts []template.FactoryOption
	if logger != nil {
		opts = append(opts, template.WithClientLogger(logger))
	}
	if tel.MeterProvider != nil || tel.TracerProvider != nil {
		opts = append(opts, template.WithMeterProvider(tel.MeterProvider), template.WithTracerProvider(tel.TracerProvider))
		if tel.Propagator != nil {
			opts = append(opts, template.WithPropagator(tel.Propagator))
		}
	}
	for _, o := range extra {
		opts = append(opts, template.WithClientOpts(o...))
	}
	f, err := NewProducerFactory(cfg, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Kafka.Security.Protocol != config.ProtocolPlaintext {
		// A refused credential or certificate fails the start, with the
		// broker's reason; an unreachable broker does not (the producer
		// says so in the log and sends wait for it).
		lc.Append(fx.StartHook(func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, securityCheckTimeout)
			defer cancel()
			return f.CheckSecurity(ctx)
		}))
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error { return f.Close(ctx) }))
	return f, nil
}

// securityCheckTimeout bounds the start-time check of kafka.security.
const securityCheckTimeout = 5 * time.Second

func provideTemplate(p TemplateParams) (*template.Template, error) {
	opts, err := templateOpts(p)
	if err != nil {
		return nil, err
	}
	return p.Factory.Template(opts...), nil
}

func templateOpts(p TemplateParams) ([]template.Option, error) {
	var opts []template.Option
	if t := p.Config.Kafka.Template.DefaultTopic; t != "" {
		opts = append(opts, template.WithDefaultTopic(t))
	}
	for _, o := range p.Options {
		opts = append(opts, o...)
	}
	return p.Clusters.registry("").templateOpts(p.Config, opts)
}

// TransactionalTemplateSuffix is the transactional id suffix of the
// transactional template kafkaboot provides: its transactional id is
// kafka.producer.transactional-id-prefix plus this.
const TransactionalTemplateSuffix = "template"

// provideTransactionalTemplate provides the template named
// "transactional" (`name:"transactional"`): a template on a transactional
// client, for Template.ExecuteInTransaction, when
// kafka.producer.transactional-id-prefix is set.
func provideTransactionalTemplate(p TemplateParams) (*template.Template, error) {
	if p.Config.Kafka.Producer.TransactionalIDPrefix == "" {
		return nil, errors.New("kafkaboot: the transactional template needs kafka.producer.transactional-id-prefix")
	}
	opts, err := templateOpts(p)
	if err != nil {
		return nil, err
	}
	return p.Factory.TransactionalTemplate(TransactionalTemplateSuffix, opts...)
}
