package container

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Publisher produces records synchronously; *kgo.Client satisfies it.
// Containers use it for dead-letter records and replies.
type Publisher interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Dead-letter headers, with Spring for Apache Kafka's names and encodings
// (KafkaHeaders.DLT_*), so that Spring applications can read kafkaboot
// dead letters and vice versa. Partition is a 4-byte big-endian int32;
// offset and timestamp (Unix milliseconds) are 8-byte big-endian int64; the
// others are UTF-8 strings.
const (
	HeaderDLTOriginalTopic         = "kafka_dlt-original-topic"
	HeaderDLTOriginalPartition     = "kafka_dlt-original-partition"
	HeaderDLTOriginalOffset        = "kafka_dlt-original-offset"
	HeaderDLTOriginalTimestamp     = "kafka_dlt-original-timestamp"
	HeaderDLTOriginalTimestampType = "kafka_dlt-original-timestamp-type"
	HeaderDLTOriginalConsumerGroup = "kafka_dlt-original-consumer-group"
	HeaderDLTExceptionMessage      = "kafka_dlt-exception-message"
	HeaderDLTExceptionFQCN         = "kafka_dlt-exception-fqcn"
	HeaderDLTExceptionCauseFQCN    = "kafka_dlt-exception-cause-fqcn"
	HeaderDLTExceptionStacktrace   = "kafka_dlt-exception-stacktrace"
)

// Request/reply headers (Spring's KafkaHeaders.CORRELATION_ID and
// REPLY_TOPIC): a reply carries the request's correlation id; a listener
// without sendto replies to the request's reply topic.
const (
	HeaderCorrelationID = "kafka_correlationId"
	HeaderReplyTopic    = "kafka_replyTopic"
)

// DLTSuffix is appended to the original topic to name its dead-letter topic.
const DLTSuffix = ".DLT"

// ErrNoDeadLetterTopic is returned by a DeadLetterRecoverer whose
// destination func returned an empty topic.
var ErrNoDeadLetterTopic = errors.New("container: no dead-letter topic")

// DeadLetterRecoverer publishes failed records to a dead-letter topic, like
// Spring's DeadLetterPublishingRecoverer: the ORIGINAL raw key, value and
// headers (minus earlier kafka_dlt-* headers) plus the kafka_dlt-* headers
// describing the failure.
//
// The destination is the listener's dlt attribute if set, else
// Destination(r, err) if set, else "<topic>.DLT". With dlt=none the records
// are logged and skipped. Each dead letter asks for the original partition,
// like Spring; kgo's partitioners ignore kgo.Record.Partition, so the
// request is honored only when the publisher's client uses
// [DeadLetterPartitioner] (which falls back to the usual partitioning when
// the dead-letter topic has fewer partitions). Otherwise the publisher's
// partitioner picks the partition — for keyed records with the default
// hashing and equal partition counts, that is the same partition anyway.
//
// If producing fails, Recover returns the error and the record is not
// committed (see ErrorHandler).
type DeadLetterRecoverer struct {
	Publisher   Publisher
	Destination func(r *kgo.Record, err error) string
	Logger      *slog.Logger
}

// Recover implements Recoverer.
func (d *DeadLetterRecoverer) Recover(ctx context.Context, f *Failure) error {
	if f.DLT == listener.DLTNone {
		return LoggingRecoverer{Logger: d.Logger}.Recover(ctx, f)
	}
	if d.Publisher == nil {
		return errors.New("container: DeadLetterRecoverer without a Publisher")
	}
	rs := make([]*kgo.Record, 0, len(f.Records))
	for _, r := range f.Records {
		topic := f.DLT
		if topic == "" && d.Destination != nil {
			topic = d.Destination(r, f.Err)
		}
		if topic == "" && d.Destination == nil {
			topic = r.Topic + DLTSuffix
		}
		if topic == "" {
			return fmt.Errorf("%w for %s[%d]@%d", ErrNoDeadLetterTopic, r.Topic, r.Partition, r.Offset)
		}
		dl := DeadLetter(r, topic, f.Group, f.Err)
		// The dead letter continues the trace of the failed handler
		// call (ctx), keeping its partition preference.
		dl.Context = context.WithValue(ctx, preferredPartitionKey{}, r.Partition)
		rs = append(rs, dl)
	}
	if err := d.Publisher.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("container: publishing to dead-letter topic: %w", err)
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	for i, r := range f.Records {
		log.Warn("kafka listener: record sent to dead-letter topic", "listener", f.ListenerID,
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "dlt", rs[i].Topic, "err", f.Err)
	}
	return nil
}

type preferredPartitionKey struct{}

// appendOrigin appends the headers naming where r was consumed, with
// Spring's names under prefix ("kafka_dlt-" for dead letters, "kafka_"
// for retry topics): original-topic, -partition (4-byte int), -offset and
// -timestamp (8-byte longs), -timestamp-type and -consumer-group.
func appendOrigin(hs []kgo.RecordHeader, prefix string, r *kgo.Record, group string) []kgo.RecordHeader {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(r.Partition))
	tsType := "CreateTime"
	if r.Attrs.TimestampType() == 1 {
		tsType = "LogAppendTime"
	}
	return append(hs,
		kgo.RecordHeader{Key: prefix + "original-topic", Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: prefix + "original-partition", Value: p[:]},
		kgo.RecordHeader{Key: prefix + "original-offset", Value: be64(r.Offset)},
		kgo.RecordHeader{Key: prefix + "original-timestamp", Value: be64(r.Timestamp.UnixMilli())},
		kgo.RecordHeader{Key: prefix + "original-timestamp-type", Value: []byte(tsType)},
		kgo.RecordHeader{Key: prefix + "original-consumer-group", Value: []byte(group)},
	)
}

// appendException appends the headers describing cause, with Spring's
// names under prefix: exception-message, -fqcn, -cause-fqcn and, for a
// panic, -stacktrace.
func appendException(hs []kgo.RecordHeader, prefix string, cause error) []kgo.RecordHeader {
	msg, fqcn, causeFQCN, stack := describe(cause)
	hs = append(hs,
		kgo.RecordHeader{Key: prefix + "exception-message", Value: []byte(msg)},
		kgo.RecordHeader{Key: prefix + "exception-fqcn", Value: []byte(fqcn)},
		kgo.RecordHeader{Key: prefix + "exception-cause-fqcn", Value: []byte(causeFQCN)},
	)
	if stack != "" {
		hs = append(hs, kgo.RecordHeader{Key: prefix + "exception-stacktrace", Value: []byte(stack)})
	}
	return hs
}

// DeadLetter builds the dead-letter record for r: same key, value and
// headers (earlier kafka_dlt-* headers dropped) plus the kafka_dlt-*
// headers, asking for r's partition (see DeadLetterPartitioner).
func DeadLetter(r *kgo.Record, topic, group string, cause error) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+10)
	for _, h := range r.Headers {
		if !strings.HasPrefix(h.Key, "kafka_dlt-") {
			hs = append(hs, h)
		}
	}
	hs = appendOrigin(hs, "kafka_dlt-", r, group)
	hs = appendException(hs, "kafka_dlt-", cause)
	return &kgo.Record{
		Topic:     topic,
		Partition: r.Partition,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   hs,
		Context:   context.WithValue(context.Background(), preferredPartitionKey{}, r.Partition),
	}
}

func be64(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}

// describe returns the message, outer type, innermost cause type and panic
// stack of err.
func describe(err error) (msg, fqcn, cause, stack string) {
	if err == nil {
		return "", "", "", ""
	}
	msg, fqcn = err.Error(), fmt.Sprintf("%T", err)
	inner := err
	for {
		var next error
		switch u := inner.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			break
		}
		inner = next
	}
	cause = fmt.Sprintf("%T", inner)
	var pe *listener.PanicError
	if errors.As(err, &pe) {
		stack = string(pe.Stack)
	}
	return msg, fqcn, cause, stack
}

// DeadLetterInfo is the decoded kafka_dlt-* headers of a dead letter.
type DeadLetterInfo struct {
	OriginalTopic     string
	OriginalPartition int32
	OriginalOffset    int64
	OriginalTimestamp time.Time
	ConsumerGroup     string
	ExceptionMessage  string
	ExceptionType     string
	CauseType         string
	Stacktrace        string
}

// ParseDeadLetter decodes the kafka_dlt-* headers of r, or, on a record
// a retry topic forwarded to its dead-letter topic (Spring's retry
// topics write no kafka_dlt-* headers), the kafka_original-* and
// kafka_exception-* ones; ok is false when r has neither
// kafka_dlt-original-topic nor kafka_original-topic.
func ParseDeadLetter(r *kgo.Record) (info DeadLetterInfo, ok bool) {
	dlt := false
	if _, has := header(r, HeaderDLTOriginalTopic); has {
		dlt = true
	}
	for _, h := range r.Headers {
		key := h.Key
		if !dlt {
			// The retry-topic names, mapped onto the DLT ones.
			switch {
			case strings.HasPrefix(key, "kafka_original-"):
				key = "kafka_dlt-" + key[len("kafka_"):]
			case strings.HasPrefix(key, "kafka_exception-"):
				key = "kafka_dlt-" + key[len("kafka_"):]
			default:
				continue
			}
		}
		switch key {
		case HeaderDLTOriginalTopic:
			info.OriginalTopic, ok = string(h.Value), true
		case HeaderDLTOriginalPartition:
			if len(h.Value) == 4 {
				info.OriginalPartition = int32(binary.BigEndian.Uint32(h.Value))
			}
		case HeaderDLTOriginalOffset:
			if len(h.Value) == 8 {
				info.OriginalOffset = int64(binary.BigEndian.Uint64(h.Value))
			}
		case HeaderDLTOriginalTimestamp:
			if len(h.Value) == 8 {
				info.OriginalTimestamp = time.UnixMilli(int64(binary.BigEndian.Uint64(h.Value)))
			}
		case HeaderDLTOriginalConsumerGroup:
			info.ConsumerGroup = string(h.Value)
		case HeaderDLTExceptionMessage:
			info.ExceptionMessage = string(h.Value)
		case HeaderDLTExceptionFQCN:
			info.ExceptionType = string(h.Value)
		case HeaderDLTExceptionCauseFQCN:
			info.CauseType = string(h.Value)
		case HeaderDLTExceptionStacktrace:
			info.Stacktrace = string(h.Value)
		}
	}
	return info, ok
}

// DeadLetterPartitioner wraps fallback (nil: kgo's default partitioner) so
// that records built by DeadLetter go to their original partition when the
// destination topic has it; every other record is partitioned by fallback.
// Use it as the kgo.RecordPartitioner of the client passed as a container's
// Publisher to get Spring's "same partition" dead-lettering.
func DeadLetterPartitioner(fallback kgo.Partitioner) kgo.Partitioner {
	if fallback == nil {
		fallback = kgo.UniformBytesPartitioner(64<<10, true, true, nil)
	}
	return &dltPartitioner{fallback}
}

type dltPartitioner struct{ fallback kgo.Partitioner }

func (p *dltPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	tp := p.fallback.ForTopic(t)
	if b, ok := tp.(kgo.TopicBackupPartitioner); ok {
		return &dltBackupTopicPartitioner{dltTopicPartitioner{tp}, b}
	}
	return &dltTopicPartitioner{tp}
}

func preferred(r *kgo.Record, n int) (int, bool) {
	if r.Context == nil {
		return 0, false
	}
	p, ok := r.Context.Value(preferredPartitionKey{}).(int32)
	if !ok || p < 0 || int(p) >= n {
		return 0, false
	}
	return int(p), true
}

type dltTopicPartitioner struct{ fallback kgo.TopicPartitioner }

func (p *dltTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if r.Context != nil && r.Context.Value(preferredPartitionKey{}) != nil {
		return true
	}
	return p.fallback.RequiresConsistency(r)
}

func (p *dltTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if pp, ok := preferred(r, n); ok {
		return pp
	}
	return p.fallback.Partition(r, n)
}

func (p *dltTopicPartitioner) OnNewBatch() {
	if nb, ok := p.fallback.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

type dltBackupTopicPartitioner struct {
	dltTopicPartitioner
	backup kgo.TopicBackupPartitioner
}

func (p *dltBackupTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if pp, ok := preferred(r, n); ok {
		return pp
	}
	return p.backup.PartitionByBackup(r, n, it)
}
