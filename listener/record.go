package listener

import (
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Metadata is the record metadata handed to a handler of the form
// func(ctx, T, listener.Metadata) error.
//
// Key and Headers alias the consumed record's memory: treat them as read
// only, and copy them if they must outlive the handler call.
type Metadata struct {
	Key         []byte
	Headers     []kgo.RecordHeader
	Topic       string
	Partition   int32
	Offset      int64
	Timestamp   time.Time
	LeaderEpoch int32
}

// MetadataOf returns the metadata of a consumed record.
func MetadataOf(r *kgo.Record) Metadata {
	return Metadata{
		Key:         r.Key,
		Headers:     r.Headers,
		Topic:       r.Topic,
		Partition:   r.Partition,
		Offset:      r.Offset,
		Timestamp:   r.Timestamp,
		LeaderEpoch: r.LeaderEpoch,
	}
}

// Header returns the value of the last header named key, and whether it
// exists.
func (m Metadata) Header(key string) ([]byte, bool) { return lastHeader(m.Headers, key) }

// Record is a consumed record whose value was deserialized into T. It is
// handed to handlers of the form func(ctx, *listener.Record[T]) error and
// func(ctx, []*listener.Record[T]) error (batch).
//
// Key and Headers alias the consumed record's memory: treat them as read
// only, and copy them if they must outlive the handler call.
type Record[T any] struct {
	Value       T
	Key         []byte
	Headers     []kgo.RecordHeader
	Topic       string
	Partition   int32
	Offset      int64
	Timestamp   time.Time
	LeaderEpoch int32
}

// Header returns the value of the last header named key, and whether it
// exists.
func (r *Record[T]) Header(key string) ([]byte, bool) { return lastHeader(r.Headers, key) }

// Metadata returns the record's metadata.
func (r *Record[T]) Metadata() Metadata {
	return Metadata{Key: r.Key, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition,
		Offset: r.Offset, Timestamp: r.Timestamp, LeaderEpoch: r.LeaderEpoch}
}

// fill sets r from a consumed record and its decoded value; it lets the
// invoker build a *Record[T] without knowing T statically.
func (r *Record[T]) fill(kr *kgo.Record, v reflect.Value) {
	r.Value, _ = v.Interface().(T) // a nil interface value leaves the zero T
	r.fillMeta(kr)
}

// fillMeta sets everything but the value from a consumed record.
func (r *Record[T]) fillMeta(kr *kgo.Record) {
	r.Key = kr.Key
	r.Headers = kr.Headers
	r.Topic = kr.Topic
	r.Partition = kr.Partition
	r.Offset = kr.Offset
	r.Timestamp = kr.Timestamp
	r.LeaderEpoch = kr.LeaderEpoch
}

// valueType reports T.
func (*Record[T]) valueType() reflect.Type { return reflect.TypeFor[T]() }

// recordFiller is implemented only by *Record[T]; the invoker uses it to
// recognize Record parameters by reflection.
type recordFiller interface {
	fill(kr *kgo.Record, v reflect.Value)
	fillMeta(kr *kgo.Record)
	valueType() reflect.Type
}

func lastHeader(hs []kgo.RecordHeader, key string) ([]byte, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return hs[i].Value, true
		}
	}
	return nil, false
}

// Acknowledgment is the optional trailing handler parameter for listeners
// with ack=manual or ack=manual-immediate (it is a registration error to
// declare it with any other ack mode, and to omit it with a manual mode).
//
// Acknowledge marks the record (for a batch handler: every record of the
// batch) as processed. With ack=manual the offset is committed at the next
// commit point (when the partition finishes the records of the current poll,
// on rebalance, on stop); with ack=manual-immediate Acknowledge commits
// before it returns. Acknowledge may be called after the handler returned,
// from any goroutine; records may be acknowledged out of order, and the
// container only ever commits the contiguous acknowledged prefix of a
// partition, so an unacknowledged record holds back the commits of the
// records after it (they are redelivered after a restart or rebalance).
// Acknowledging twice is a no-op.
//
// Nack, called before the handler returns, tells the container not to
// acknowledge the record (batch: the whole batch) and to redeliver it after
// sleep; the partition is blocked meanwhile (other partitions go on). Nack
// after the handler returned, or after Acknowledge, is ignored.
type Acknowledgment interface {
	Acknowledge()
	Nack(sleep time.Duration)
}
