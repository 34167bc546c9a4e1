package kafkaboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

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

	// checkOpts, by cluster where kafka.listener.missing-topics-fatal is
	// set, connect the client Start looks the listeners' topics up with
	// (one that does not ask the broker to create them, as the producer's
	// does).
	checkOpts map[string][]kgo.Opt
}

// NewContainers registers every listener struct (structs whose func fields
// carry `kafka:"..."` tags; see package listener) with placeholders
// resolved from cfg, and creates a container for each endpoint, consuming
// with the kafka.consumer settings, the kafka.listener defaults (ack mode,
// counts, concurrency, idle interval) and publishing dead letters and
// replies through producer. A bad tag fails here, naming the struct, the
// field and the tag. opts are applied after the configuration's.
func NewContainers(cfg *config.Config, producer *template.ProducerFactory, logger *slog.Logger, targets []any, opts ...container.Option) (*Containers, error) {
	return newContainers(cfg, &Clusters{cfg: cfg, main: producer}, logger, targets, opts...)
}

// newContainers is NewContainers with the application's clusters: a
// listener with a cluster attribute consumes from that cluster, with its
// configuration, and publishes through its producer.
func newContainers(cfg *config.Config, clusters *Clusters, logger *slog.Logger, targets []any, opts ...container.Option) (*Containers, error) {
	if logger == nil {
		logger = slog.Default()
	}
	lopts := []listener.Option{listener.WithResolver(cfg.Resolve)}
	if cfg.Kafka.Listener.Type == "batch" {
		lopts = append(lopts, listener.WithBatchByDefault())
	}
	lr := listener.NewRegistry(lopts...)
	for _, t := range targets {
		if lf, ok := t.(listenerFunc); ok {
			if _, err := lr.RegisterFunc(lf.tag, lf.handler); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := lr.Register(t); err != nil {
			return nil, err
		}
	}
	eps := lr.Endpoints()
	k := &cfg.Kafka
	if err := checkListenerIDs(k, eps); err != nil {
		return nil, err
	}
	byCluster := map[string][]container.Option{}
	optsFor := func(ep *listener.Endpoint) ([]container.Option, error) {
		if o, ok := byCluster[ep.Cluster]; ok {
			return o, nil
		}
		ccfg, err := cfg.ForCluster(ep.Cluster)
		if err != nil {
			return nil, fmt.Errorf("kafkaboot: listener %q: cluster %q: %w", ep.ID, ep.Cluster, err)
		}
		producer, err := clusters.ProducerFactory(ep.Cluster)
		if err != nil {
			return nil, fmt.Errorf("kafkaboot: listener %q: %w", ep.ID, err)
		}
		o, err := clusterContainerOpts(&ccfg.Kafka, producer, clusters.registry(ep.Cluster), logger)
		if err != nil {
			return nil, err
		}
		byCluster[ep.Cluster] = o
		return o, nil
	}
	reg := container.NewRegistry()
	for _, ep := range eps {
		all, err := optsFor(ep)
		if err != nil {
			return nil, err
		}
		if ep.Concurrency == 0 {
			ep.Concurrency = k.Listener.Concurrency
		}
		// The configuration's defaults, the application's options, then
		// kafka.listeners.<id>, the most specific.
		own, err := listenerOverrides(k, ep)
		if err != nil {
			return nil, err
		}
		ctr, err := container.New(ep, append(append(slices.Clone(all), opts...), own...)...)
		if err != nil {
			return nil, err
		}
		if err := reg.Add(ctr); err != nil {
			return nil, err
		}
	}
	c := &Containers{Listeners: lr, Registry: reg}
	for _, ep := range eps {
		ccfg, _ := cfg.ForCluster(ep.Cluster) // known: the container exists
		if !ccfg.Kafka.Listener.MissingTopicsFatal || c.checkOpts[ep.Cluster] != nil {
			continue
		}
		copts, err := ccfg.Kafka.ClientOpts()
		if err != nil {
			return nil, err
		}
		if c.checkOpts == nil {
			c.checkOpts = map[string][]kgo.Opt{}
		}
		c.checkOpts[ep.Cluster] = copts
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
	if c.checkOpts != nil {
		if err := c.checkTopics(ctx); err != nil {
			return err
		}
	}
	return c.Registry.Start(ctx)
}

// checkTopics implements kafka.listener.missing-topics-fatal.
func (c *Containers) checkTopics(ctx context.Context) error {
	var errs []error
	for _, cluster := range slices.Sorted(maps.Keys(c.checkOpts)) {
		if err := c.checkClusterTopics(ctx, cluster); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("kafkaboot: kafka.listener.missing-topics-fatal: %w: %w", ErrMissingTopics, errors.Join(errs...))
	}
	return nil
}

// checkClusterTopics checks the topics of the auto-startup listeners of
// one cluster.
func (c *Containers) checkClusterTopics(ctx context.Context, cluster string) error {
	byTopic := map[string][]string{} // topic -> listener ids
	for _, ctr := range c.Registry.Containers() {
		ep := ctr.Endpoint()
		if !ctr.AutoStartup() || ep.Cluster != cluster {
			continue
		}
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
	cl, err := kgo.NewClient(c.checkOpts[cluster]...)
	if err != nil {
		return err
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	in := ""
	if cluster != "" {
		in = fmt.Sprintf(" in cluster %q", cluster)
	}
	var errs []error
	for _, t := range names {
		if d, ok := details[t]; !ok || d.Err != nil {
			cause := "not found"
			if ok {
				cause = d.Err.Error()
			}
			errs = append(errs, fmt.Errorf("topic %q of listener %v%s: %s", t, byTopic[t], in, cause))
		}
	}
	return errors.Join(errs...)
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
	Clusters  *Clusters
	Admin     *Admin
	Logger    *slog.Logger         `optional:"true"`
	Targets   []any                `group:"kafkaboot.listeners"`
	Options   [][]container.Option `group:"kafkaboot.container"`
	Consumer  [][]kgo.Opt          `group:"kafkaboot.consumer"`
	Telemetry Telemetry
}

// ConsumerOptions adds franz-go options (hooks, a logger, fetch settings)
// to every listener container's clients under fx, after the
// configuration's (container.WithClientOpts).
func ConsumerOptions(opts ...kgo.Opt) fx.Option {
	return fx.Provide(fx.Annotate(func() []kgo.Opt { return opts }, fx.ResultTags(`group:"kafkaboot.consumer"`)))
}

func provideContainers(p ListenerParams) (*Containers, error) {
	var opts []container.Option
	if t := p.Telemetry; t.MeterProvider != nil || t.TracerProvider != nil {
		opts = append(opts, container.WithMeterProvider(t.MeterProvider), container.WithTracerProvider(t.TracerProvider))
		if t.Propagator != nil {
			opts = append(opts, container.WithPropagator(t.Propagator))
		}
	}
	for _, o := range p.Consumer {
		opts = append(opts, container.WithClientOpts(o...))
	}
	for _, o := range p.Options {
		opts = append(opts, o...)
	}
	c, err := newContainers(p.Config, p.Clusters, p.Logger, p.Targets, opts...)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StartStopHook(c.Start, c.Stop))
	return c, nil
}

// Listeners registers a listener struct (a struct whose func fields carry
// `kafka:"..."` tags) with the application's listener containers: either
// the struct itself (a pointer to it), or a constructor, a func with any
// fx-provided parameters returning it.
//
//	kafkaboot.Listeners(&Orders{Created: onOrder})
//	kafkaboot.Listeners(func(s *BillingService) *Orders { return &Orders{Created: s.OnOrder} })
func Listeners(structOrConstructor any) fx.Option {
	if t := reflect.TypeOf(structOrConstructor); t == nil || t.Kind() != reflect.Func {
		v := structOrConstructor
		return fx.Provide(fx.Annotate(func() any { return v }, fx.ResultTags(`group:"kafkaboot.listeners"`)))
	}
	return fx.Provide(fx.Annotate(structOrConstructor, fx.ResultTags(`group:"kafkaboot.listeners"`), fx.As(new(any))))
}

// Listen registers one handler with its tag, a listener declared once (the
// tag is the one of listener/doc.go; the listener id defaults to the
// handler's name). handler is the handler func itself, or a constructor:
// a func with fx-provided parameters (and no context.Context first)
// returning the handler, and optionally an error.
//
//	kafkaboot.Listen("topics=orders,group=billing", onOrder)
//	kafkaboot.Listen("topics=orders,group=billing", func(s *Billing) func(context.Context, Order) error { return s.OnOrder })
func Listen(tag string, handler any) fx.Option {
	t := reflect.TypeOf(handler)
	if t == nil || t.Kind() != reflect.Func {
		return fx.Error(fmt.Errorf("kafkaboot: Listen(%q): handler must be a func, got %T", tag, handler))
	}
	if t.NumIn() > 0 && t.In(0) == reflect.TypeFor[context.Context]() {
		lf := listenerFunc{tag: tag, handler: handler}
		return fx.Provide(fx.Annotate(func() any { return lf }, fx.ResultTags(`group:"kafkaboot.listeners"`)))
	}
	// A constructor: the same parameters, returning the listenerFunc.
	if t.NumOut() < 1 || t.NumOut() > 2 || t.Out(0).Kind() != reflect.Func ||
		(t.NumOut() == 2 && t.Out(1) != reflect.TypeFor[error]()) {
		return fx.Error(fmt.Errorf("kafkaboot: Listen(%q): %T is neither a handler (context.Context first) nor a constructor returning one (and optionally an error)", tag, handler))
	}
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	ft := reflect.FuncOf(in, []reflect.Type{reflect.TypeFor[any](), reflect.TypeFor[error]()}, t.IsVariadic())
	hv := reflect.ValueOf(handler)
	fn := reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		var out []reflect.Value
		if t.IsVariadic() {
			out = hv.CallSlice(args)
		} else {
			out = hv.Call(args)
		}
		var err error
		if len(out) == 2 && !out[1].IsNil() {
			err = out[1].Interface().(error)
		}
		lf := any(listenerFunc{tag: tag, handler: out[0].Interface()})
		errV := reflect.Zero(reflect.TypeFor[error]())
		if err != nil {
			errV = reflect.ValueOf(&err).Elem()
		}
		return []reflect.Value{reflect.ValueOf(&lf).Elem(), errV}
	})
	return fx.Provide(fx.Annotate(fn.Interface(), fx.ResultTags(`group:"kafkaboot.listeners"`)))
}

// listenerFunc is a handler registered with Listen.
type listenerFunc struct {
	tag     string
	handler any
}

// ContainerOptions adds options to every container, for example an error
// handler or a rebalance listener.
func ContainerOptions(opts ...container.Option) fx.Option {
	return fx.Provide(fx.Annotate(func() []container.Option { return opts }, fx.ResultTags(`group:"kafkaboot.container"`)))
}

// clusterContainerOpts are the container options of a cluster's
// configuration k (the top level, or a kafka.clusters entry): its consumer
// settings, the kafka.listener defaults, and its producer for dead
// letters, replies and transactional listeners.
func clusterContainerOpts(k *config.Kafka, producer *template.ProducerFactory, registry *registrySerdes, logger *slog.Logger) ([]container.Option, error) {
	// The group protocol goes to the containers (WithGroupProtocol), where
	// a listener may override it; franz-go cannot undo a protocol option
	// in the base client options.
	protocol, assignor, err := k.Consumer.EffectiveGroupProtocol()
	if err != nil {
		return nil, err
	}
	kc := *k
	kc.Consumer.GroupProtocol, kc.Consumer.GroupRemoteAssignor = "", ""
	kc.Consumer.Properties = maps.Clone(k.Consumer.Properties)
	delete(kc.Consumer.Properties, "group.protocol")
	delete(kc.Consumer.Properties, "group.remote.assignor")
	base, err := kc.ConsumerOpts("")
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
	all := []container.Option{
		container.WithClientOpts(base...),
		container.WithDefaultGroup(k.Consumer.GroupID),
		container.WithGroupProtocol(protocol, assignor),
		container.WithClassicGroupSettings(k.Consumer.ClassicGroupSettings()...),
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
	popts = append(popts, kgo.RecordPartitioner(template.Partitioner(container.DeadLetterPartitioner(kgo.StickyKeyPartitioner(nil)))),
		kgo.AllowAutoTopicCreation())
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
	all = append(all, container.WithErrorHandler(&container.ErrorHandler{BackOff: backOff(k.Listener.BackOff)}))
	d, err := registry.format("kafka.consumer.value-deserializer", k.Consumer.ValueDeserializer)
	if err != nil {
		return nil, err
	}
	if d != nil {
		all = append(all, container.WithDeserializer(d))
	}
	return all, nil
}

// checkListenerIDs refuses kafka.listeners.<id> entries that name no
// listener: most likely a typo, which would otherwise change nothing.
func checkListenerIDs(k *config.Kafka, eps []*listener.Endpoint) error {
	ids := make([]string, 0, len(eps))
	for _, ep := range eps {
		ids = append(ids, ep.ID)
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(k.Listeners)) {
		if !slices.Contains(ids, id) {
			errs = append(errs, &config.FieldError{Key: "kafka.listeners." + id,
				Msg: fmt.Sprintf("no listener has the id %q (listeners: %s)", id, strings.Join(ids, ", ")), Err: config.ErrUnknownKey})
		}
	}
	return errors.Join(errs...)
}

// listenerOverrides applies kafka.listeners.<id> to ep and returns the
// container options it asks for.
func listenerOverrides(k *config.Kafka, ep *listener.Endpoint) ([]container.Option, error) {
	o, ok := k.Listeners[ep.ID]
	if !ok {
		return nil, nil
	}
	var opts []container.Option
	if o.Concurrency != nil {
		ep.Concurrency = *o.Concurrency
	}
	if o.AckMode != nil {
		m, err := listener.ParseAckMode(*o.AckMode)
		if err != nil {
			return nil, fmt.Errorf("kafkaboot: kafka.listeners.%s.ack-mode: %w", ep.ID, err)
		}
		ep.AckMode = m
	}
	if o.AutoStartup != nil {
		ep.AutoStartup = toggle(*o.AutoStartup)
	}
	if o.DLT != nil {
		ep.DLT = *o.DLT
	}
	if o.Transactional != nil {
		ep.Transactional = toggle(*o.Transactional)
	}
	if o.BackOff != nil {
		opts = append(opts, container.WithErrorHandler(&container.ErrorHandler{BackOff: backOff(k.BackOffFor(ep.ID))}))
	}
	if or := o.Retry; or != nil {
		enabled := k.Listener.Retry.Enabled
		if ep.Retry != nil {
			enabled = !ep.Retry.Disabled // the tag says
		}
		if or.Enabled != nil {
			enabled = *or.Enabled // the configuration says, over the tag
		}
		if !enabled {
			ep.Retry = &listener.RetryTopics{Disabled: true}
		} else {
			// The tag's values over kafka.listener.retry, then
			// kafka.listeners.<id>.retry's over both.
			var rt listener.RetryTopics
			if ep.Retry != nil {
				rt = *ep.Retry
			}
			rt.Disabled = false
			rt = rt.Merge(retryTopics(k.Listener.Retry))
			if or.Attempts != nil {
				rt.Attempts = *or.Attempts
			}
			if or.Delay != nil {
				rt.Delay = *or.Delay
			}
			if or.Multiplier != nil {
				rt.Multiplier = *or.Multiplier
			}
			if or.MaxDelay != nil {
				rt.MaxDelay = *or.MaxDelay
			}
			ep.Retry = &rt
		}
	}
	return opts, nil
}

func toggle(b bool) listener.Toggle {
	if b {
		return listener.On
	}
	return listener.Off
}

// backOff maps kafka.listener.back-off onto a container back off.
func backOff(b config.BackOff) container.BackOff {
	if b.Type == "exponential" {
		return container.ExponentialBackOff{Initial: b.Interval, Multiplier: b.Multiplier, MaxInterval: b.MaxInterval,
			MaxElapsed: b.MaxElapsed, MaxRetries: b.MaxRetries}
	}
	return container.FixedBackOff{Interval: b.Interval, MaxRetries: b.MaxRetries}
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
