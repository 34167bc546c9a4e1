package container

import (
	"context"
	"log/slog"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a Container.
type Option interface{ apply(*options) }

type optFunc func(*options)

func (f optFunc) apply(o *options) { f(o) }

// RebalanceListener gets the partition changes of a container's members,
// after the container handled them: Revoked runs once the in-flight
// records of the revoked partitions finished and their offsets were
// committed; Lost runs once they finished (nothing can be committed for
// lost partitions). Callbacks run on kgo's group goroutine of the member
// and delay the rebalance: keep them short.
type RebalanceListener struct {
	Assigned func(ctx context.Context, partitions map[string][]int32)
	Revoked  func(ctx context.Context, partitions map[string][]int32)
	Lost     func(ctx context.Context, partitions map[string][]int32)
}

// IdleEvent is emitted when a container received no record for its idle
// interval, and again every interval while it stays idle (Spring's
// ListenerContainerIdleEvent).
type IdleEvent struct {
	ListenerID string
	IdleFor    time.Duration
	Paused     bool
}

// CommitEvent reports an offset commit attempt of one container member:
// Offsets are the committed offsets (next offset to consume) per topic and
// partition; Err is non-nil if the commit failed (offsets of failed
// partitions stay pending and are retried at the next commit point).
type CommitEvent struct {
	ListenerID string
	Member     int
	Offsets    map[string]map[int32]int64
	Err        error
}

type options struct {
	clientOpts     []kgo.Opt
	groupProtocol  groupProtocol
	deser          listener.Deserializer
	ser            listener.Serializer
	pub            Publisher
	eh             *ErrorHandler
	ehs            map[string]*ErrorHandler
	log            *slog.Logger
	ackMode        listener.AckMode
	ackCount       int
	ackTime        time.Duration
	idleInterval   time.Duration
	onIdle         func(IdleEvent)
	rebalance      RebalanceListener
	seekOnAssign   func(ctx context.Context, assigned map[string][]int32, s Seeker)
	maxPollRecords int
	defaultGroup   string
	onCommit       func(CommitEvent)
	onEvent        []func(Event)
	clientLog      kgo.LogLevel
	otel           telemetry.Config
	// monitorInterval is the non-responsive handler check's interval.
	monitorInterval time.Duration
	// retryDefaults fill in the retry attributes of listeners;
	// retryAll gives every listener without one retry topics.
	retryDefaults listener.RetryTopics
	retryAll      bool
	// txPrefix makes listeners transactional; txOpts configure their
	// clients' producing.
	txPrefix string
	txOpts   []kgo.Opt
	// stopContainerWhenFenced: a fenced transactional member stops the container
	// rather than replacing its client.
	stopContainerWhenFenced bool
}

// WithTransactionalIDPrefix makes every listener without
// transactional=false transactional (kafka.listener.transactional-id-prefix),
// each group member producing with the transactional id
// prefix+listener id+"-"+member number. Transactional ids must be unique
// among the running instances of an application: a second producer with
// the same id fences the first; include an instance name in the prefix
// when several instances run the same listeners.
func WithTransactionalIDPrefix(prefix string) Option {
	return optFunc(func(o *options) { o.txPrefix = prefix })
}

// WithTransactionalClientOpts adds producer options (acks, compression,
// partitioner, transaction timeout: the kafka.producer settings) to the
// clients of transactional listeners, after WithClientOpts'.
func WithTransactionalClientOpts(opts ...kgo.Opt) Option {
	return optFunc(func(o *options) { o.txOpts = append(o.txOpts, opts...) })
}

// WithStopContainerWhenFenced makes a transactional listener's container stop
// (StateFailed) when a member's producer is fenced, as Spring's
// ContainerProperties.stopContainerWhenFenced=true. By default, as
// Spring's, the member goes on with a new client of the same
// transactional id (the fenced transaction's records come again), and
// stops only when fenced again and again without committing in between,
// which is what a second instance with the same transactional id does.
func WithStopContainerWhenFenced() Option {
	return optFunc(func(o *options) { o.stopContainerWhenFenced = true })
}

// WithRetryTopicDefaults sets the values a listener's retry attribute
// does not give (kafka.listener.retry.*); it turns retry topics on for no
// listener by itself.
func WithRetryTopicDefaults(rt listener.RetryTopics) Option {
	return optFunc(func(o *options) { o.retryDefaults = rt })
}

// WithRetryTopics gives every listener without a retry attribute retry
// topics configured by rt (kafka.listener.retry.enabled), and fills in the
// attribute of those that have one as WithRetryTopicDefaults does; a
// listener opts out with retry=false.
func WithRetryTopics(rt listener.RetryTopics) Option {
	return optFunc(func(o *options) { o.retryDefaults, o.retryAll = rt, true })
}

// WithClientOpts sets the base kgo options of every client of the
// container: connection, security and consumer options (from the
// configuration). The container appends its own options after them:
// ConsumerGroup (the listener's group), DisableAutoCommit, the partition
// callbacks, ConsumeTopics / ConsumeRegex / ConsumePartitions, ClientID
// (clientidprefix) and the listener's properties. Do not pass group
// callbacks or autocommit options here.
func WithClientOpts(opts ...kgo.Opt) Option {
	return optFunc(func(o *options) { o.clientOpts = append(o.clientOpts, opts...) })
}

// WithDeserializer sets the value deserializer (default: serde.NewAuto():
// string, []byte, protobuf messages, JSON for everything else, type
// headers for interface payloads).
func WithDeserializer(d listener.Deserializer) Option {
	return optFunc(func(o *options) { o.deser = d })
}

// WithSerializer sets the serializer of replies (default: serde.NewAuto()).
func WithSerializer(s listener.Serializer) Option { return optFunc(func(o *options) { o.ser = s }) }

// WithPublisher sets the producer used for dead letters and replies
// (typically the template's *kgo.Client). Without one, failed records are
// logged and skipped and reply listeners are rejected.
func WithPublisher(p Publisher) Option { return optFunc(func(o *options) { o.pub = p }) }

// WithErrorHandler sets the error handler of listeners without an
// errorhandler attribute (default: &ErrorHandler{}, i.e. 9 immediate
// retries, then the dead-letter topic).
func WithErrorHandler(h *ErrorHandler) Option { return optFunc(func(o *options) { o.eh = h }) }

// WithErrorHandlers registers named error handlers for the errorhandler
// attribute. New fails if a listener names an unknown one.
func WithErrorHandlers(m map[string]*ErrorHandler) Option {
	return optFunc(func(o *options) {
		if o.ehs == nil {
			o.ehs = make(map[string]*ErrorHandler, len(m))
		}
		for k, v := range m {
			o.ehs[k] = v
		}
	})
}

// WithClientLogLevel passes franz-go's client logs from level up to the
// container's logger (kafka.client.log-level; default none). While the
// container's clients cannot reach any broker, which the container logs
// once, franz-go's warnings and errors are logged at debug level.
func WithClientLogLevel(level kgo.LogLevel) Option {
	return optFunc(func(o *options) { o.clientLog = level })
}

// WithMeterProvider records the listener metrics with mp: records and
// bytes received, handler latency and outcome (success, dead-lettered,
// recovered), retries, rebalances, commits, and per partition the lag in
// records and in time and the paused partitions (OpenTelemetry's
// messaging conventions where they apply; kafkaboot.* names otherwise).
// Handler latency (messaging.process.duration) is recorded for every
// retry, every call of handlers slower than 20 µs, and one call in 64 of
// faster ones, whose timing with the SDK would cost more than the
// handler; record and retry counts are exact. Without it there are none, at no
// cost.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optFunc(func(o *options) { o.otel.MeterProvider = mp })
}

// WithTracerProvider gives every handler call a "process <topic>" span
// from tp, child of the trace context in the record's headers (the
// sender's span), so that a trace runs from the send through every
// attempt; the handler's context carries the span, so what it sends (and
// the dead letter of a record that failed) continues the trace. A batch
// call gets one span with a link to each record's context. Without it
// nothing is traced, at no cost.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optFunc(func(o *options) { o.otel.TracerProvider = tp })
}

// WithPropagator sets how trace context is read from record headers
// (default: W3C trace context and baggage).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return optFunc(func(o *options) { o.otel.Propagator = p })
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optFunc(func(o *options) { o.log = l }) }

// WithAckMode sets the ack mode of listeners without an ack attribute
// (default listener.AckBatch).
func WithAckMode(m listener.AckMode) Option { return optFunc(func(o *options) { o.ackMode = m }) }

// WithGroupProtocol sets the group protocol of listeners that do not
// choose one (their groupprotocol attribute or group.protocol property):
// [GroupProtocolClassic] (the default) or [GroupProtocolConsumer], KIP-848's
// protocol in which the broker assigns partitions with assignor (uniform or
// range; "" lets the broker choose). The consumer protocol takes no
// partition.assignment.strategy, session.timeout.ms or
// heartbeat.interval.ms property (the broker's group.consumer.* configs
// apply), as Kafka's consumer refuses them.
func WithGroupProtocol(protocol, assignor string) Option {
	return optFunc(func(o *options) { o.groupProtocol.protocol, o.groupProtocol.assignor = protocol, assignor })
}

// WithClassicGroupSettings names settings behind the container's client
// options (WithClientOpts) that only the classic group protocol takes,
// such as kafka.consumer.session-timeout: a listener that joins with the
// consumer protocol (its groupprotocol attribute) then fails at creation
// naming the first, instead of ignoring it, as Kafka's consumer refuses
// them.
func WithClassicGroupSettings(names ...string) Option {
	return optFunc(func(o *options) { o.groupProtocol.classicOnly = names })
}

// WithAckCount sets the record count of ack=count and ack=count-time
// (default 100).
func WithAckCount(n int) Option { return optFunc(func(o *options) { o.ackCount = n }) }

// WithAckTime sets the interval of ack=time and ack=count-time (default 5s).
func WithAckTime(d time.Duration) Option { return optFunc(func(o *options) { o.ackTime = d }) }

// WithIdleEvents calls fn every interval while the container receives no
// records.
func WithIdleEvents(interval time.Duration, fn func(IdleEvent)) Option {
	return optFunc(func(o *options) { o.idleInterval, o.onIdle = interval, fn })
}

// WithRebalanceListener sets partition change callbacks.
func WithRebalanceListener(l RebalanceListener) Option {
	return optFunc(func(o *options) { o.rebalance = l })
}

// WithMaxPollRecords sets max.poll.records (default 500; property
// max.poll.records overrides it per listener): the most records a partition
// worker gets at once (a batch listener's batch; the unit of ack=batch
// commits), and the backlog at which a member stops polling: it polls while
// fewer records are waiting for or in its partition workers. A poll itself
// takes everything the client has fetched, which may be more (see the
// package documentation).
func WithMaxPollRecords(n int) Option { return optFunc(func(o *options) { o.maxPollRecords = n }) }

// WithDefaultGroup sets the group of listeners without a group attribute
// (default: the listener id, like Spring's idIsGroup).
func WithDefaultGroup(g string) Option { return optFunc(func(o *options) { o.defaultGroup = g }) }

// WithCommitListener calls fn after every commit attempt (metrics, tests).
// It runs on the committing goroutine; keep it fast.
func WithCommitListener(fn func(CommitEvent)) Option {
	return optFunc(func(o *options) { o.onCommit = fn })
}
