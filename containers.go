package kafkaboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/internal/kgolog"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

// ErrMissingTopics is wrapped by Containers.Start when
// kafka.listener.missing-topics-fatal is set and a topic of an
// auto-startup listener does not exist.
var ErrMissingTopics = errors.New("listener topics do not exist")

// Containers holds the listener endpoints of an application and their
// containers, like Spring's KafkaListenerEndpointRegistry.
type Containers struct {
	// Listeners is the registry of endpoints, by id.
	Listeners *listener.Registry
	// Registry holds the containers; use it to pause, resume, seek or stop
	// one listener.
	Registry *container.Registry

	// checkClient, set when kafka.listener.missing-topics-fatal is, is
	// the client Start looks the listeners' topics up with.
	checkClient *kgo.Client
}

// NewContainers registers every listener struct (structs whose func fields
// carry `kafka:"..."` tags; see package listener) with placeholders
// resolved from cfg, and creates a container for each endpoint, consuming
// with the kafka.consumer settings, the kafka.listener defaults (ack mode,
// counts, concurrency, idle interval) and publishing dead letters and
// replies through producer. A bad tag fails here, naming the struct, the
// field and the tag. opts are applied after the configuration's.
func NewContainers(cfg *config.Config, producer *template.ProducerFactory, logger *slog.Logger, targets []any, opts ...container.Option) (*Containers, error) {
	if logger == nil {
		logger = slog.Default()
	}
	lr := listener.NewRegistry(listener.WithResolver(cfg.Resolve))
	for _, t := range targets {
		if _, err := lr.Register(t); err != nil {
			return nil, err
		}
	}
	k := &cfg.Kafka
	base, err := k.ConsumerOpts("")
	if err != nil {
		return nil, err
	}
	mode, err := listener.ParseAckMode(k.Listener.AckMode)
	if err != nil {
		return nil, fmt.Errorf("kafkaboot: kafka.listener.ack-mode: %w", err)
	}
	level, err := kgolog.ParseLevel(k.Client.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("kafkaboot: %w", err)
	}
	for _, ep := range lr.Endpoints() {
		if ep.Concurrency == 0 {
			ep.Concurrency = k.Listener.Concurrency
		}
	}
	all := []container.Option{
		container.WithClientOpts(base...),
		container.WithDefaultGroup(k.Consumer.GroupID),
		container.WithAckMode(mode),
		container.WithPublisher(producer.Client()),
		container.WithLogger(logger),
		container.WithClientLogLevel(level),
	}
	popts, err := k.ProducerOpts()
	if err != nil {
		return nil, err
	}
	// Transactional listeners produce with the kafka.producer settings,
	// partitioned as the template's clients are.
	popts = append(popts, kgo.RecordPartitioner(template.Partitioner(container.DeadLetterPartitioner(kgo.StickyKeyPartitioner(nil)))))
	if d := k.Producer.TransactionTimeout; d > 0 {
		popts = append(popts, kgo.TransactionTimeout(d))
	}
	all = append(all, container.WithTransactionalClientOpts(popts...))
	if p := k.Listener.TransactionalIDPrefix; p != "" {
		all = append(all, container.WithTransactionalIDPrefix(p))
	}
	if rt := retryTopics(k.Listener.Retry); k.Listener.Retry.Enabled {
		all = append(all, container.WithRetryTopics(rt))
	} else {
		all = append(all, container.WithRetryTopicDefaults(rt))
	}
	if d := k.Listener.MonitorInterval; d > 0 {
		all = append(all, container.WithMonitorInterval(d))
	}
	if k.Listener.AckCount > 0 {
		all = append(all, container.WithAckCount(k.Listener.AckCount))
	}
	if k.Listener.AckTime > 0 {
		all = append(all, container.WithAckTime(k.Listener.AckTime))
	}
	if k.Consumer.MaxPollRecords > 0 {
		all = append(all, container.WithMaxPollRecords(k.Consumer.MaxPollRecords))
	}
	if k.Consumer.FetchMaxWait == 0 && k.Listener.PollTimeout > 0 {
		// Spring's poll timeout bounds one poll; with franz-go that is how
		// long the broker may hold a fetch open.
		all = append(all, container.WithClientOpts(kgo.FetchMaxWait(k.Listener.PollTimeout)))
	}
	if d := k.Listener.IdleInterval; d > 0 {
		all = append(all, container.WithIdleEvents(d, func(e container.IdleEvent) {
			logger.Info("kafka listener idle", "listener", e.ListenerID, "idle", e.IdleFor, "paused", e.Paused)
		}))
	}
	reg, err := container.FromListeners(lr, append(all, opts...)...)
	if err != nil {
		return nil, err
	}
	c := &Containers{Listeners: lr, Registry: reg}
	if k.Listener.MissingTopicsFatal {
		c.checkClient = producer.Client()
	}
	return c, nil
}

// Start starts the auto-startup containers. With
// kafka.listener.missing-topics-fatal it first checks that every topic
// named by an auto-startup listener (topics and partitions attributes;
// patterns match whatever exists) exists, and fails with an error
// wrapping ErrMissingTopics that names the listeners and topics if not.
// The check runs after the admin created kafka.admin.topics (under fx)
// and does not create topics, whatever the broker's
// auto.create.topics.enable; a topic deleted after the check is not
// noticed.
func (c *Containers) Start(ctx context.Context) error {
	if c.checkClient != nil {
		if err := c.checkTopics(ctx); err != nil {
			return err
		}
	}
	return c.Registry.Start(ctx)
}

// checkTopics implements kafka.listener.missing-topics-fatal.
func (c *Containers) checkTopics(ctx context.Context) error {
	byTopic := map[string][]string{} // topic -> listener ids
	for _, ctr := range c.Registry.Containers() {
		if !ctr.AutoStartup() {
			continue
		}
		ep := ctr.Endpoint()
		topics := slices.Clone(ep.Topics)
		for _, tp := range ep.Partitions {
			topics = append(topics, tp.Topic)
		}
		for _, t := range topics {
			if !slices.Contains(byTopic[t], ep.ID) {
				byTopic[t] = append(byTopic[t], ep.ID)
			}
		}
	}
	if len(byTopic) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(byTopic))
	details, err := kadm.NewClient(c.checkClient).ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("kafkaboot: kafka.listener.missing-topics-fatal: listing topics: %w", err)
	}
	var errs []error
	for _, t := range names {
		if d, ok := details[t]; !ok || d.Err != nil {
			cause := "not found"
			if ok {
				cause = d.Err.Error()
			}
			errs = append(errs, fmt.Errorf("topic %q of listener %v: %s", t, byTopic[t], cause))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("kafkaboot: kafka.listener.missing-topics-fatal: %w: %w", ErrMissingTopics, errors.Join(errs...))
	}
	return nil
}

// Stop stops every container gracefully: records in flight are finished
// and committed before the group is left.
func (c *Containers) Stop(ctx context.Context) error { return c.Registry.Stop(ctx) }

// ListenerParams are the inputs of the containers under fx.
type ListenerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Producer  *template.ProducerFactory
	Admin     *Admin
	Logger    *slog.Logger         `optional:"true"`
	Targets   []any                `group:"kafkaboot.listeners"`
	Options   [][]container.Option `group:"kafkaboot.container"`
	Telemetry Telemetry
}

func provideContainers(p ListenerParams) (*Containers, error) {
	var opts []container.Option
	if t := p.Telemetry; t.MeterProvider != nil || t.TracerProvider != nil {
		opts = append(opts, container.WithMeterProvider(t.MeterProvider), container.WithTracerProvider(t.TracerProvider))
		if t.Propagator != nil {
			opts = append(opts, container.WithPropagator(t.Propagator))
		}
	}
	for _, o := range p.Options {
		opts = append(opts, o...)
	}
	c, err := NewContainers(p.Config, p.Producer, p.Logger, p.Targets, opts...)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StartStopHook(c.Start, c.Stop))
	return c, nil
}

// Listeners registers the struct returned by constructor (a func with any
// fx-provided parameters returning a pointer to a struct whose func fields
// carry `kafka:"..."` tags) with the application's listener containers.
//
//	kafkaboot.Listeners(func(s *BillingService) *Orders { return &Orders{Created: s.OnOrder} })
func Listeners(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"kafkaboot.listeners"`), fx.As(new(any))))
}

// ContainerOptions adds options to every container, for example an error
// handler or a rebalance listener.
func ContainerOptions(opts ...container.Option) fx.Option {
	return fx.Provide(fx.Annotate(func() []container.Option { return opts }, fx.ResultTags(`group:"kafkaboot.container"`)))
}

// retryTopics maps kafka.listener.retry onto listener.RetryTopics.
func retryTopics(r config.ListenerRetry) listener.RetryTopics {
	rt := listener.RetryTopics{
		Attempts: r.Attempts, Delay: r.Delay, Multiplier: r.Multiplier, MaxDelay: r.MaxDelay,
		MultipleTopics: r.TopicReuse == "multiple",
		RetrySuffix:    r.RetryTopicSuffix, DLTSuffix: r.DLTTopicSuffix,
		AutoCreate: listener.Off,
	}
	if r.TopicSuffixing == "delay" {
		rt.Suffixing = listener.SuffixDelay
	}
	if r.AutoCreateTopics {
		rt.AutoCreate = listener.On
	}
	return rt
}
