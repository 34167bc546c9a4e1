package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Consumer instruments one listener container, all its clients included:
// the records fetched (through [Consumer.Hooks]), each handler call
// ([Consumer.Process], [Consumer.ProcessBatch]), the outcome of records,
// retries, rebalances and commits, and the lag ([Consumer.ObserveLag]). A
// nil *Consumer, and one made from a disabled Config, does nothing. It is
// safe for concurrent use.
type Consumer struct {
	listenerID string
	group      string
	tracer     trace.Tracer // nil: tracing off
	prop       propagation.TextMapPropagator
	m          *consumerMetrics // nil: metrics off
}

type consumerMetrics struct {
	meter         metric.Meter
	consumed      metric.Int64Counter
	consumedBytes metric.Int64Counter
	processDur    metric.Float64Histogram
	records       metric.Int64Counter
	retries       metric.Int64Counter
	rebalances    metric.Int64Counter
	commits       metric.Int64Counter
	lag           metric.Int64ObservableGauge
	lagTime       metric.Float64ObservableGauge
	paused        metric.Int64ObservableGauge
	sets          *setCache[consumerKey]
}

// consumerKind says which attribute set a consumerKey stands for. Every
// set has messaging.system, messaging.consumer.group.name and
// kafkaboot.listener.id.
type consumerKind uint8

const (
	consReceive   consumerKind = iota // topic, partition, operation receive
	consProcess                       // topic (if any), partition (if >= 0), operation process, error.type
	consRecords                       // topic, outcome
	consRetry                         // topic
	consRebalance                     // rebalance type
	consCommit                        // error.type
	consLag                           // topic, partition
	consListener                      // nothing more
)

type consumerKey struct {
	kind      consumerKind
	topic     string
	partition int32  // -1 when not part of the set
	s         string // error type, outcome or rebalance type, by kind
}

func (c *Consumer) buildSet(k consumerKey) *measureOpts {
	kvs := make([]attribute.KeyValue, 0, 8)
	kvs = append(kvs, systemKafka,
		semconv.MessagingConsumerGroupNameKey.String(c.group),
		ListenerIDKey.String(c.listenerID))
	if k.topic != "" {
		kvs = append(kvs, semconv.MessagingDestinationNameKey.String(k.topic))
	}
	if k.partition >= 0 {
		kvs = append(kvs, partitionID(k.partition))
	}
	switch k.kind {
	case consReceive:
		kvs = append(kvs, opNameRecv, opTypeRecv)
	case consProcess:
		kvs = append(kvs, opNameProc, opTypeProc)
		if k.s != "" {
			kvs = append(kvs, semconv.ErrorTypeKey.String(k.s))
		}
	case consRecords:
		kvs = append(kvs, OutcomeKey.String(k.s))
	case consRebalance:
		kvs = append(kvs, RebalanceTypeKey.String(k.s))
	case consCommit:
		if k.s != "" {
			kvs = append(kvs, semconv.ErrorTypeKey.String(k.s))
		}
	}
	return newMeasureOpts(kvs...)
}

// NewConsumer returns the instrumentation of the listener container
// listenerID, consuming in consumer group group. With cfg disabled it
// returns a usable *Consumer that does nothing. It fails only when the meter
// refuses an instrument.
func NewConsumer(cfg Config, listenerID, group string) (*Consumer, error) {
	c := &Consumer{listenerID: listenerID, group: group, tracer: cfg.tracer()}
	if c.tracer != nil {
		c.prop = cfg.propagator()
	}
	meter := cfg.meter()
	if meter == nil {
		return c, nil
	}
	m := &consumerMetrics{meter: meter, sets: newSetCache(c.buildSet)}
	counters := []struct {
		dst         *metric.Int64Counter
		name, unit  string
		description string
	}{
		{&m.consumed, "messaging.client.consumed.messages", "{message}", "Number of messages that were delivered to the application."},
		{&m.consumedBytes, "kafkaboot.client.consumed.bytes", "By", "Uncompressed bytes of the record batches fetched from the brokers."},
		{&m.records, "kafkaboot.listener.records", "{record}", "Records a listener finished with, by final outcome."},
		{&m.retries, "kafkaboot.listener.retries", "{retry}", "Re-deliveries of a record or batch after a failed handler call."},
		{&m.rebalances, "kafkaboot.consumer.rebalances", "{rebalance}", "Partition assignment changes seen by a listener, by type."},
		{&m.commits, "kafkaboot.consumer.commits", "{commit}", "Offset commits of a listener, with error.type when they failed."},
	}
	var err error
	for _, ctr := range counters {
		if *ctr.dst, err = int64Counter(meter, ctr.name, ctr.unit, ctr.description); err != nil {
			return nil, err
		}
	}
	if m.processDur, err = durationHistogram(meter, "messaging.process.duration", "Duration of processing operation."); err != nil {
		return nil, err
	}
	if m.lag, err = meter.Int64ObservableGauge("kafkaboot.consumer.lag",
		metric.WithDescription("Records between a partition's committed position and its end."),
		metric.WithUnit("{message}")); err != nil {
		return nil, instrumentErr("kafkaboot.consumer.lag", err)
	}
	if m.lagTime, err = meter.Float64ObservableGauge("kafkaboot.consumer.lag.time",
		metric.WithDescription("Age of a partition's oldest unprocessed record."),
		metric.WithUnit("s")); err != nil {
		return nil, instrumentErr("kafkaboot.consumer.lag.time", err)
	}
	if m.paused, err = meter.Int64ObservableGauge("kafkaboot.consumer.paused.partitions",
		metric.WithDescription("Partitions a listener has paused."),
		metric.WithUnit("{partition}")); err != nil {
		return nil, instrumentErr("kafkaboot.consumer.paused.partitions", err)
	}
	c.m = m
	return c, nil
}

// MetricsEnabled reports whether c records metrics.
func (c *Consumer) MetricsEnabled() bool { return c != nil && c.m != nil }

// Hooks returns the franz-go hooks to pass with kgo.WithHooks to each of
// the container's clients, or nil when metrics are off: batches fetched
// count into messaging.client.consumed.messages and
// kafkaboot.client.consumed.bytes per topic and partition. (Kafka counts
// transaction markers as records of a batch; so does this.)
func (c *Consumer) Hooks() []kgo.Hook {
	if c == nil || c.m == nil {
		return nil
	}
	return []kgo.Hook{fetchMetricsHook{c.m}}
}

// fetchMetricsHook counts what a consumer client fetches.
type fetchMetricsHook struct{ m *consumerMetrics }

var _ kgo.HookFetchBatchRead = fetchMetricsHook{}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (h fetchMetricsHook) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, partition int32, bm kgo.FetchBatchMetrics) {
	o := h.m.sets.get(consumerKey{kind: consReceive, topic: topic, partition: partition})
	ctx := context.Background()
	h.m.consumed.Add(ctx, int64(bm.NumRecords), o.add...)
	h.m.consumedBytes.Add(ctx, int64(bm.UncompressedBytes), o.add...)
}

// Processing is one handler call under way, returned by Process and
// ProcessBatch. Its zero value (what a disabled Consumer returns) does
// nothing.
type Processing struct {
	c         *Consumer
	ctx       context.Context
	span      trace.Span // nil: tracing off
	start     time.Time
	topic     string
	partition int32
	// measure: End records the duration even when the call succeeded.
	measure bool
}

// Process starts the handling of one record, one handler call; attempt is
// 1 for the first delivery. With tracing on it starts the span
// "process <topic>" (kind consumer) as a child of the trace context
// extracted from the record's headers (or of ctx when they carry none),
// with the record's topic, partition, offset and key, the group, the
// listener and the attempt. The returned context, derived from ctx and
// carrying the span and any extracted baggage, is the one to give the
// handler. Call End on the returned Processing when the handler returns.
//
// With tracing and metrics off, Process returns ctx unchanged and a zero
// Processing, without allocating.
func (c *Consumer) Process(ctx context.Context, r *kgo.Record, attempt int) (context.Context, Processing) {
	if c == nil || (c.tracer == nil && c.m == nil) {
		return ctx, Processing{}
	}
	return c.ProcessAt(ctx, r, attempt, time.Now(), true)
}

// ProcessAt is Process for a call that started at start (the caller read
// the clock), whose duration End records only if measure is true (start
// may be zero otherwise). A listener container measures a sample of the
// calls of fast handlers: recording a duration costs a few hundred
// nanoseconds with the SDK, more than such a handler.
func (c *Consumer) ProcessAt(ctx context.Context, r *kgo.Record, attempt int, start time.Time, measure bool) (context.Context, Processing) {
	if c == nil || c.tracer == nil && (c.m == nil || !measure) {
		return ctx, Processing{} // nothing to record: End does nothing
	}
	p := Processing{c: c, start: start, topic: r.Topic, partition: r.Partition, measure: measure}
	if c.tracer != nil {
		pctx := c.prop.Extract(ctx, HeaderCarrier{Headers: &r.Headers})
		attrs := make([]attribute.KeyValue, 0, 11)
		attrs = append(attrs, systemKafka, opNameProc, opTypeProc,
			semconv.MessagingDestinationNameKey.String(r.Topic),
			partitionID(r.Partition),
			semconv.MessagingKafkaOffset(int(r.Offset)),
			semconv.MessagingConsumerGroupNameKey.String(c.group),
			ListenerIDKey.String(c.listenerID),
			AttemptKey.Int(attempt))
		if kv, ok := messageKey(r.Key); ok {
			attrs = append(attrs, kv)
		}
		if r.Value == nil {
			attrs = append(attrs, semconv.MessagingKafkaMessageTombstone(true))
		}
		ctx, p.span = c.tracer.Start(pctx, opProcess+" "+r.Topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attrs...))
	}
	p.ctx = ctx
	return ctx, p
}

// ProcessBatch is Process for one call of a batch handler with recs. With
// tracing on, the single span "process <topic>" (just "process" when recs
// span several topics) is a child of ctx and links to the trace context of
// each record, as the semantic conventions have it for batches; it carries
// messaging.batch.message_count, and the partition when all records share
// one. The duration is recorded once, for the call.
func (c *Consumer) ProcessBatch(ctx context.Context, recs []*kgo.Record, attempt int) (context.Context, Processing) {
	if c == nil || (c.tracer == nil && c.m == nil) {
		return ctx, Processing{}
	}
	p := Processing{c: c, start: time.Now(), partition: -1, measure: true}
	if len(recs) > 0 {
		p.topic, p.partition = recs[0].Topic, recs[0].Partition
		for _, r := range recs[1:] {
			if r.Topic != p.topic {
				p.topic, p.partition = "", -1
				break
			}
			if r.Partition != p.partition {
				p.partition = -1
			}
		}
	}
	if c.tracer != nil {
		links := make([]trace.Link, 0, len(recs))
		for _, r := range recs {
			rctx := c.prop.Extract(context.Background(), HeaderCarrier{Headers: &r.Headers})
			if sc := trace.SpanContextFromContext(rctx); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
		attrs := make([]attribute.KeyValue, 0, 10)
		attrs = append(attrs, systemKafka, opNameProc, opTypeProc,
			semconv.MessagingBatchMessageCount(len(recs)),
			semconv.MessagingConsumerGroupNameKey.String(c.group),
			ListenerIDKey.String(c.listenerID),
			AttemptKey.Int(attempt))
		name := opProcess
		if p.topic != "" {
			attrs = append(attrs, semconv.MessagingDestinationNameKey.String(p.topic))
			name += " " + p.topic
		}
		if p.partition >= 0 {
			attrs = append(attrs, partitionID(p.partition))
		}
		ctx, p.span = c.tracer.Start(ctx, name,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attrs...),
			trace.WithLinks(links...))
	}
	p.ctx = ctx
	return ctx, p
}

// End finishes the handler call with its result: it records
// messaging.process.duration (with error.type when err != nil; for
// ProcessAt only when measured) and ends the span, recording err
// and status Error when err != nil. It returns the duration it recorded, 0
// when none. End must be called once; on a zero Processing it does
// nothing.
func (p Processing) End(err error) time.Duration {
	c := p.c
	if c == nil {
		return 0
	}
	var errType string
	if err != nil {
		errType = ErrorType(err)
	}
	var d time.Duration
	if m := c.m; m != nil && p.measure {
		d = time.Since(p.start)
		o := m.sets.get(consumerKey{kind: consProcess, topic: p.topic, partition: p.partition, s: errType})
		m.processDur.Record(p.ctx, d.Seconds(), o.rec...)
	}
	if p.span != nil {
		if err != nil {
			p.span.SetAttributes(semconv.ErrorTypeKey.String(errType))
			p.span.RecordError(err)
			p.span.SetStatus(codes.Error, err.Error())
		}
		p.span.End()
	}
	return d
}

// Records counts n records of topic the listener finished with, by final
// outcome ([OutcomeSuccess], [OutcomeDeadLettered], [OutcomeRecovered]),
// in kafkaboot.listener.records.
func (c *Consumer) Records(topic, outcome string, n int) {
	if c == nil || c.m == nil || n <= 0 {
		return
	}
	o := c.m.sets.get(consumerKey{kind: consRecords, topic: topic, partition: -1, s: outcome})
	c.m.records.Add(context.Background(), int64(n), o.add...)
}

// Retry counts one re-delivery of a record (or batch) of topic after a
// failed handler call, in kafkaboot.listener.retries.
func (c *Consumer) Retry(topic string) {
	if c == nil || c.m == nil {
		return
	}
	o := c.m.sets.get(consumerKey{kind: consRetry, topic: topic, partition: -1})
	c.m.retries.Add(context.Background(), 1, o.add...)
}

// Rebalance counts one assignment change of kind [RebalanceAssigned],
// [RebalanceRevoked] or [RebalanceLost] in kafkaboot.consumer.rebalances:
// one per call, whatever partitions says. The number of partitions is not
// recorded (as an attribute it would multiply the series); call Rebalance
// only for changes that moved partitions.
func (c *Consumer) Rebalance(kind string, partitions int) {
	if c == nil || c.m == nil {
		return
	}
	o := c.m.sets.get(consumerKey{kind: consRebalance, partition: -1, s: kind})
	c.m.rebalances.Add(context.Background(), 1, o.add...)
}

// Commit counts one offset commit in kafkaboot.consumer.commits, with
// error.type when err != nil.
func (c *Consumer) Commit(err error) {
	if c == nil || c.m == nil {
		return
	}
	o := c.m.sets.get(consumerKey{kind: consCommit, partition: -1, s: ErrorType(err)})
	c.m.commits.Add(context.Background(), 1, o.add...)
}

// PartitionLag is one partition's lag: Lag records between the listener's
// position and the partition's end, the oldest of them LagTime old.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
	LagTime   time.Duration
}

// ObserveLag registers the callback of the observable gauges: at each
// collection lags is called and each partition it returns is reported in
// kafkaboot.consumer.lag and kafkaboot.consumer.lag.time (with topic,
// partition, group and listener), and paused gives
// kafkaboot.consumer.paused.partitions. Either function may be nil; both
// are called from the collecting goroutine and must be safe for that.
//
// The returned function unregisters the callback; it may be called more
// than once. With metrics off, ObserveLag registers nothing and returns a
// function that does nothing.
func (c *Consumer) ObserveLag(lags func() []PartitionLag, paused func() int) (unregister func(), err error) {
	if c == nil || c.m == nil {
		return func() {}, nil
	}
	m := c.m
	base := m.sets.get(consumerKey{kind: consListener, partition: -1})
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if lags != nil {
			for _, l := range lags() {
				a := m.sets.get(consumerKey{kind: consLag, topic: l.Topic, partition: l.Partition})
				o.ObserveInt64(m.lag, l.Lag, a.obs...)
				o.ObserveFloat64(m.lagTime, l.LagTime.Seconds(), a.obs...)
			}
		}
		if paused != nil {
			o.ObserveInt64(m.paused, int64(paused()), base.obs...)
		}
		return nil
	}, m.lag, m.lagTime, m.paused)
	if err != nil {
		return func() {}, fmt.Errorf("telemetry: register lag gauges of listener %q: %w", c.listenerID, err)
	}
	var once sync.Once
	return func() {
		// Unregister fails only for a callback registered elsewhere; there
		// is nobody to tell.
		once.Do(func() { _ = reg.Unregister() })
	}, nil
}
