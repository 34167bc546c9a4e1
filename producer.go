package kafkaboot

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kgo"
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
}

func provideProducerFactory(p ProducerParams) (*template.ProducerFactory, error) {
	lc, cfg := p.Lifecycle, p.Config
	var opts []template.FactoryOption
	if p.Logger != nil {
		opts = append(opts, template.WithClientLogger(p.Logger))
	}
	f, err := NewProducerFactory(cfg, opts...)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error { return f.Close(ctx) }))
	return f, nil
}

func provideTemplate(f *template.ProducerFactory, cfg *config.Config) *template.Template {
	var opts []template.Option
	if t := cfg.Kafka.Template.DefaultTopic; t != "" {
		opts = append(opts, template.WithDefaultTopic(t))
	}
	return f.Template(opts...)
}
