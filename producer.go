package kafkaboot

import (
	"context"
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
	lc, cfg := p.Lifecycle, p.Config
	var opts []template.FactoryOption
	if p.Logger != nil {
		opts = append(opts, template.WithClientLogger(p.Logger))
	}
	if t := p.Telemetry; t.MeterProvider != nil || t.TracerProvider != nil {
		opts = append(opts, template.WithMeterProvider(t.MeterProvider), template.WithTracerProvider(t.TracerProvider))
		if t.Propagator != nil {
			opts = append(opts, template.WithPropagator(t.Propagator))
		}
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

func provideTemplate(f *template.ProducerFactory, cfg *config.Config) *template.Template {
	var opts []template.Option
	if t := cfg.Kafka.Template.DefaultTopic; t != "" {
		opts = append(opts, template.WithDefaultTopic(t))
	}
	return f.Template(opts...)
}
