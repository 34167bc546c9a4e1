package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Producer instruments one producer client: the records it sends (through
// [Producer.Hooks]) and the template's sends ([Producer.SendDone]). A nil
// *Producer, and one made from a disabled Config, does nothing. It is safe
// for concurrent use.
type Producer struct {
	tracer trace.Tracer // nil: tracing off
	prop   propagation.TextMapPropagator
	m      *producerMetrics // nil: metrics off
}

type producerMetrics struct {
	duration metric.Float64Histogram
	sets     *setCache[producerKey]
	// The records sent are counted per record, as each completes, into
	// sentCounters, which the observable counters report when the meter
	// provider collects. franz-go's batch hook would count per batch, but
	// it runs on a new goroutine per produce request, which on a
	// synchronous send's path cost 10% of its throughput.
	counts sync.Map // producerKey (prodSentBatch or prodSentError) -> *sentCounter
	last   atomic.Pointer[sentCounter]
	reg    metric.Registration
}

// sentCounter counts the records a producer client sent with one attribute
// set, and their bytes.
type sentCounter struct {
	key            producerKey
	opts           *measureOpts
	records, bytes atomic.Int64
}

// counter returns k's counter. Consecutive records of a batch share one,
// so the last one found is tried first.
func (m *producerMetrics) counter(k producerKey) *sentCounter {
	if c := m.last.Load(); c != nil && c.key == k {
		return c
	}
	v, ok := m.counts.Load(k)
	if !ok {
		v, _ = m.counts.LoadOrStore(k, &sentCounter{key: k, opts: buildProducerSet(k)})
	}
	c := v.(*sentCounter)
	m.last.Store(c)
	return c
}

// observe reports every counter to the meter provider collecting.
func (m *producerMetrics) observe(sent, sentBytes metric.Int64Observable) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		m.counts.Range(func(_, v any) bool {
			c := v.(*sentCounter)
			o.ObserveInt64(sent, c.records.Load(), c.opts.obs...)
			if c.key.kind == prodSentBatch {
				o.ObserveInt64(sentBytes, c.bytes.Load(), c.opts.obs...)
			}
			return true
		})
		return nil
	}
}

// producerKind says which attribute set a producerKey stands for.
type producerKind uint8

const (
	prodSendDuration producerKind = iota // system, destination, operation, error.type
	prodSentBatch                        // system, destination, partition, operation: records sent
	prodSentError                        // system, destination, operation, error.type
)

type producerKey struct {
	kind      producerKind
	topic     string
	partition int32
	errType   string
}

func buildProducerSet(k producerKey) *measureOpts {
	kvs := make([]attribute.KeyValue, 0, 6)
	kvs = append(kvs, systemKafka, opNameSend, opTypeSend)
	if k.topic != "" {
		kvs = append(kvs, semconv.MessagingDestinationNameKey.String(k.topic))
	}
	if k.kind == prodSentBatch {
		kvs = append(kvs, partitionID(k.partition))
	}
	if k.errType != "" {
		kvs = append(kvs, semconv.ErrorTypeKey.String(k.errType))
	}
	return newMeasureOpts(kvs...)
}

// NewProducer returns the instrumentation of one producer client. With
// cfg disabled it returns a usable *Producer that does nothing. It fails
// only when the meter refuses an instrument.
func NewProducer(cfg Config) (*Producer, error) {
	p := &Producer{tracer: cfg.tracer()}
	if p.tracer != nil {
		p.prop = cfg.propagator()
	}
	if meter := cfg.meter(); meter != nil {
		m := &producerMetrics{sets: newSetCache(buildProducerSet)}
		var err error
		if m.duration, err = durationHistogram(meter, "messaging.client.operation.duration",
			"Duration of messaging operation initiated by a producer or consumer client."); err != nil {
			return nil, err
		}
		sent, err := meter.Int64ObservableCounter("messaging.client.sent.messages", metric.WithUnit("{message}"),
			metric.WithDescription("Number of messages producer attempted to send to the broker."))
		if err != nil {
			return nil, instrumentErr("messaging.client.sent.messages", err)
		}
		sentBytes, err := meter.Int64ObservableCounter("kafkaboot.client.sent.bytes", metric.WithUnit("By"),
			metric.WithDescription("Bytes of the keys, values and headers of the records written to the brokers, uncompressed."))
		if err != nil {
			return nil, instrumentErr("kafkaboot.client.sent.bytes", err)
		}
		if m.reg, err = meter.RegisterCallback(m.observe(sent, sentBytes), sent, sentBytes); err != nil {
			return nil, fmt.Errorf("telemetry: register the producer's counters: %w", err)
		}
		p.m = m
	}
	return p, nil
}

func instrumentErr(name string, err error) error {
	return fmt.Errorf("telemetry: create instrument %s: %w", name, err)
}

// int64Counter creates a counter; its error names it.
func int64Counter(meter metric.Meter, name, unit, description string) (metric.Int64Counter, error) {
	c, err := meter.Int64Counter(name, metric.WithDescription(description), metric.WithUnit(unit))
	if err != nil {
		return nil, instrumentErr(name, err)
	}
	return c, nil
}

// durationHistogram creates a histogram of durations in seconds with the
// semantic conventions' messaging buckets; its error names it.
func durationHistogram(meter metric.Meter, name, description string) (metric.Float64Histogram, error) {
	h, err := meter.Float64Histogram(name, metric.WithDescription(description), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, instrumentErr(name, err)
	}
	return h, nil
}

// MetricsEnabled reports whether p records metrics, so callers can skip
// reading the clock for SendDone when it does not.
func (p *Producer) MetricsEnabled() bool { return p != nil && p.m != nil }

// Hooks returns the franz-go hooks to pass with kgo.WithHooks when creating
// the client, or nil when p is disabled.
//
// With metrics on, each record written counts into
// messaging.client.sent.messages and kafkaboot.client.sent.bytes per topic
// and partition, and each record that fails counts one into
// messaging.client.sent.messages with error.type (per topic), as the
// record completes, before its promise runs.
//
// With tracing on, each record gets a "send <topic>" producer span when it
// is buffered, child of the record's Context (the Produce context), whose
// context is injected into the record's headers (replacing headers of the
// same key) and becomes the record's Context; the span ends when the
// record's promise is about to run, with its partition and offset, or its
// error.
func (p *Producer) Hooks() []kgo.Hook {
	if p == nil {
		return nil
	}
	var hooks []kgo.Hook
	if p.m != nil {
		hooks = append(hooks, sendMetricsHook{p.m})
	}
	if p.tracer != nil {
		hooks = append(hooks, sendTraceHook{p})
	}
	return hooks
}

// SendDone records one template send, from start to now, in
// messaging.client.operation.duration, with error.type when err != nil. It
// does not allocate once the topic (and error type) has been seen.
func (p *Producer) SendDone(topic string, start time.Time, err error) {
	if p == nil || p.m == nil {
		return
	}
	d := time.Since(start).Seconds()
	o := p.m.sets.get(producerKey{kind: prodSendDuration, topic: topic, errType: ErrorType(err)})
	p.m.duration.Record(context.Background(), d, o.rec...)
}

// Close stops reporting p's counts to the meter provider: a closed
// client's records leave the sums. It is safe to call more than once.
func (p *Producer) Close() {
	if p == nil || p.m == nil || p.m.reg == nil {
		return
	}
	_ = p.m.reg.Unregister() // fails only when already unregistered
}

// sendMetricsHook counts what a producer client sends.
type sendMetricsHook struct{ m *producerMetrics }

var _ kgo.HookProduceRecordUnbuffered = sendMetricsHook{}

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered: it
// counts each record as it completes.
func (h sendMetricsHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err != nil {
		h.m.counter(producerKey{kind: prodSentError, topic: r.Topic, errType: ErrorType(err)}).records.Add(1)
		return
	}
	c := h.m.counter(producerKey{kind: prodSentBatch, topic: r.Topic, partition: r.Partition})
	c.records.Add(1)
	n := len(r.Key) + len(r.Value)
	for _, hd := range r.Headers {
		n += len(hd.Key) + len(hd.Value)
	}
	c.bytes.Add(int64(n))
}

// sendTraceHook traces each record a producer client sends.
type sendTraceHook struct{ p *Producer }

var (
	_ kgo.HookProduceRecordBuffered   = sendTraceHook{}
	_ kgo.HookProduceRecordUnbuffered = sendTraceHook{}
)

// OnProduceRecordBuffered implements kgo.HookProduceRecordBuffered: it
// starts the send span and injects it into the record.
func (h sendTraceHook) OnProduceRecordBuffered(r *kgo.Record) {
	parent := r.Context
	if parent == nil {
		parent = context.Background()
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, systemKafka, opNameSend, opTypeSend,
		semconv.MessagingDestinationNameKey.String(r.Topic))
	if kv, ok := messageKey(r.Key); ok {
		attrs = append(attrs, kv)
	}
	if r.Value == nil {
		attrs = append(attrs, semconv.MessagingKafkaMessageTombstone(true))
	}
	ctx, _ := h.p.tracer.Start(parent, opSend+" "+r.Topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrs...))
	h.p.prop.Inject(ctx, HeaderCarrier{Headers: &r.Headers})
	r.Context = ctx
}

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered: it
// ends the send span.
func (h sendTraceHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if r.Context == nil {
		return
	}
	span := trace.SpanFromContext(r.Context)
	if !span.IsRecording() {
		span.End()
		return
	}
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(ErrorType(err)))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(partitionID(r.Partition), semconv.MessagingKafkaOffset(int(r.Offset)))
	}
	span.End()
}
