package telemetry

import (
	"context"
	"fmt"
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
	duration  metric.Float64Histogram
	sent      metric.Int64Counter
	sentBytes metric.Int64Counter
	sets      *setCache[producerKey]
}

// producerKind says which attribute set a producerKey stands for.
type producerKind uint8

const (
	prodSendDuration producerKind = iota // system, destination, operation, error.type
	prodSentBatch                        // system, destination, partition, operation
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
		if m.sent, err = int64Counter(meter, "messaging.client.sent.messages", "{message}",
			"Number of messages producer attempted to send to the broker."); err != nil {
			return nil, err
		}
		if m.sentBytes, err = int64Counter(meter, "kafkaboot.client.sent.bytes", "By",
			"Uncompressed bytes of the record batches written to the brokers."); err != nil {
			return nil, err
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
// With metrics on, batches written count into messaging.client.sent.messages
// and kafkaboot.client.sent.bytes per topic and partition, and each record
// that fails counts one into messaging.client.sent.messages with error.type
// (per topic).
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

// sendMetricsHook counts what a producer client sends.
type sendMetricsHook struct{ m *producerMetrics }

var (
	_ kgo.HookProduceBatchWritten     = sendMetricsHook{}
	_ kgo.HookProduceRecordUnbuffered = sendMetricsHook{}
)

// OnProduceBatchWritten implements kgo.HookProduceBatchWritten.
func (h sendMetricsHook) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, partition int32, bm kgo.ProduceBatchMetrics) {
	o := h.m.sets.get(producerKey{kind: prodSentBatch, topic: topic, partition: partition})
	ctx := context.Background()
	h.m.sent.Add(ctx, int64(bm.NumRecords), o.add...)
	h.m.sentBytes.Add(ctx, int64(bm.UncompressedBytes), o.add...)
}

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered: it
// counts failed records (successful ones are counted per batch).
func (h sendMetricsHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	o := h.m.sets.get(producerKey{kind: prodSentError, topic: r.Topic, errType: ErrorType(err)})
	h.m.sent.Add(context.Background(), 1, o.add...)
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
