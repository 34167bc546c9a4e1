package telemetry

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Attribute keys without a semantic-convention equivalent.
const (
	// ListenerIDKey is the listener id on consumer-side metrics and spans.
	ListenerIDKey = attribute.Key("kafkaboot.listener.id")
	// OutcomeKey is the final outcome of a record on
	// kafkaboot.listener.records.
	OutcomeKey = attribute.Key("kafkaboot.outcome")
	// RebalanceTypeKey is the kind of event on kafkaboot.consumer.rebalances.
	RebalanceTypeKey = attribute.Key("kafkaboot.rebalance.type")
	// AttemptKey is the 1-based attempt number on a process span.
	AttemptKey = attribute.Key("kafkaboot.attempt")
)

// Values of [OutcomeKey], as passed to Consumer.Records.
const (
	OutcomeSuccess      = "success"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeRecovered    = "recovered"
	// OutcomeRetried: forwarded to a retry topic, to be handled again.
	OutcomeRetried = "retried"
)

// Values of [RebalanceTypeKey], as passed to Consumer.Rebalance.
const (
	RebalanceAssigned = "assigned"
	RebalanceRevoked  = "revoked"
	RebalanceLost     = "lost"
)

// Operation names (messaging.operation.name and messaging.operation.type).
const (
	opSend    = "send"
	opReceive = "receive"
	opProcess = "process"
)

// maxKeyAttrLen is the longest record key recorded as
// messaging.kafka.message.key.
const maxKeyAttrLen = 64

// maxCachedSets bounds an attribute-set cache. Past it, sets are built per
// measurement (correct, only slower): a bound, not an expected size.
const maxCachedSets = 1 << 14

// durationBuckets are the bucket boundaries the semantic conventions
// recommend for messaging durations, in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

var (
	systemKafka = semconv.MessagingSystemKafka
	opNameSend  = semconv.MessagingOperationNameKey.String(opSend)
	opTypeSend  = semconv.MessagingOperationTypeSend
	opNameRecv  = semconv.MessagingOperationNameKey.String(opReceive)
	opTypeRecv  = semconv.MessagingOperationTypeReceive
	opNameProc  = semconv.MessagingOperationNameKey.String(opProcess)
	opTypeProc  = semconv.MessagingOperationTypeProcess
)

// measureOpts is one precomputed attribute set in the option forms the
// instruments take. Passing a stored slice with "..." spares both building
// the set and allocating the variadic slice at every measurement.
type measureOpts struct {
	add []metric.AddOption
	rec []metric.RecordOption
	obs []metric.ObserveOption
}

func newMeasureOpts(kvs ...attribute.KeyValue) *measureOpts {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return &measureOpts{
		add: []metric.AddOption{o},
		rec: []metric.RecordOption{o},
		obs: []metric.ObserveOption{o},
	}
}

// setCache maps a comparable key to its measureOpts. Reads are one atomic
// load and a map lookup, with no lock and no allocation; a miss builds the
// set and publishes a copy of the map under mu. Keys are few (topics,
// partitions, error types) and settle quickly, so copying on write is cheap
// overall.
type setCache[K comparable] struct {
	build func(K) *measureOpts
	m     atomic.Pointer[map[K]*measureOpts]
	mu    sync.Mutex
}

func newSetCache[K comparable](build func(K) *measureOpts) *setCache[K] {
	return &setCache[K]{build: build}
}

func (c *setCache[K]) get(k K) *measureOpts {
	if m := c.m.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	return c.miss(k)
}

func (c *setCache[K]) miss(k K) *measureOpts {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var n int
	if old != nil {
		if o, ok := (*old)[k]; ok {
			return o
		}
		n = len(*old)
	}
	o := c.build(k)
	if n >= maxCachedSets {
		return o
	}
	next := make(map[K]*measureOpts, n+1)
	if old != nil {
		maps.Copy(next, *old)
	}
	next[k] = o
	c.m.Store(&next)
	return o
}

// partitionID is the messaging.destination.partition.id attribute.
func partitionID(p int32) attribute.KeyValue {
	return semconv.MessagingDestinationPartitionIDKey.String(strconv.FormatInt(int64(p), 10))
}

// messageKey returns the messaging.kafka.message.key attribute and true
// when key is short valid UTF-8.
func messageKey(key []byte) (attribute.KeyValue, bool) {
	if len(key) == 0 || len(key) > maxKeyAttrLen || !utf8.Valid(key) {
		return attribute.KeyValue{}, false
	}
	return semconv.MessagingKafkaMessageKeyKey.String(string(key)), true
}
