package container

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of records forwarded to retry topics and, from there, to the
// dead-letter topic, with the names and encodings of Spring for Apache
// Kafka's non-blocking retries (RetryTopicHeaders and the KafkaHeaders a
// retry topic's DeadLetterPublishingRecoverer writes), so that Java and Go
// services read each other's retry records:
//
//   - HeaderRetryAttempts: the number of the delivery the record is
//     forwarded for (2 on the first retry topic), a 4-byte big-endian int;
//   - HeaderRetryBackoffTimestamp: when it is due, Unix milliseconds as
//     Java's BigInteger.toByteArray (minimal two's complement);
//   - HeaderRetryOriginalTimestamp: the main record's timestamp, likewise;
//   - HeaderOriginal*: where the record was first consumed, set on the
//     first hop and kept after it; partition a 4-byte int, offset and
//     timestamp 8-byte longs;
//   - HeaderException*: the last failure, replaced at each hop.
const (
	HeaderRetryAttempts          = "retry_topic-attempts"
	HeaderRetryBackoffTimestamp  = "retry_topic-backoff-timestamp"
	HeaderRetryOriginalTimestamp = "retry_topic-original-timestamp"

	HeaderOriginalTopic         = "kafka_original-topic"
	HeaderOriginalPartition     = "kafka_original-partition"
	HeaderOriginalOffset        = "kafka_original-offset"
	HeaderOriginalTimestamp     = "kafka_original-timestamp"
	HeaderOriginalTimestampType = "kafka_original-timestamp-type"
	HeaderOriginalConsumerGroup = "kafka_original-consumer-group"

	HeaderExceptionMessage    = "kafka_exception-message"
	HeaderExceptionFQCN       = "kafka_exception-fqcn"
	HeaderExceptionCauseFQCN  = "kafka_exception-cause-fqcn"
	HeaderExceptionStacktrace = "kafka_exception-stacktrace"
)

// retryPlan is a container's retry topics: for each main topic the topic
// of each retry and the dead-letter topic.
type retryPlan struct {
	cfg listener.RetryTopics // effective
	// main topic -> its retry topics in order (trailing ones may repeat)
	retries map[string][]listener.RetryTopic
	dlt     map[string]string // main topic -> dead-letter topic ("" none)
	mainOf  map[string]string // retry topic -> main topic
	// fetchWait bounds how long the broker may hold a fetch: the lateness
	// of a resumed retry partition.
	fetchWait time.Duration
	// shortWait: a record due within it is waited for in the worker
	// rather than by pausing its partition.
	shortWait time.Duration
}

func newRetryPlan(ep *listener.Endpoint, rt listener.RetryTopics) *retryPlan {
	p := &retryPlan{cfg: rt.Effective(), retries: map[string][]listener.RetryTopic{}, dlt: map[string]string{}, mainOf: map[string]string{}}
	minDelay := time.Duration(-1)
	for _, t := range ep.Topics {
		retries, dlt := p.cfg.Topics(t)
		switch ep.DLT {
		case listener.DLTNone:
			dlt = ""
		case "":
		default:
			dlt = ep.DLT
		}
		p.retries[t], p.dlt[t] = retries, dlt
		for _, r := range retries {
			p.mainOf[r.Name] = t
			if minDelay < 0 || r.Delay < minDelay {
				minDelay = r.Delay
			}
		}
	}
	p.fetchWait = min(max(minDelay/20, 10*time.Millisecond), 500*time.Millisecond)
	p.shortWait = p.fetchWait + 25*time.Millisecond
	return p
}

// topics returns the retry topics to consume, each once.
func (p *retryPlan) topics() []string {
	var out []string
	seen := map[string]bool{}
	for _, rs := range p.retries {
		for _, r := range rs {
			if !seen[r.Name] {
				seen[r.Name] = true
				out = append(out, r.Name)
			}
		}
	}
	return out
}

func (p *retryPlan) isRetryTopic(t string) bool { _, ok := p.mainOf[t]; return ok }

// createTopics creates the retry and dead-letter topics that do not exist,
// with their main topic's partition count and replication factor (the
// broker's defaults when the main topic does not exist yet).
func (c *Container) createRetryTopics(ctx context.Context) error {
	p := c.retry
	cl, err := kgo.NewClient(append(c.o.clientOpts[:len(c.o.clientOpts):len(c.o.clientOpts)], kgo.ConsumerGroup(""))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var mains []string
	for t := range p.retries {
		mains = append(mains, t)
	}
	md, err := adm.Metadata(ctx, mains...)
	if err != nil {
		return fmt.Errorf("reading metadata of %v: %w", mains, err)
	}
	for _, t := range mains {
		parts, rf := int32(-1), int16(-1)
		if td, ok := md.Topics[t]; ok && td.Err == nil && len(td.Partitions) > 0 {
			parts = int32(len(td.Partitions))
			if p0, ok := td.Partitions[0]; ok && len(p0.Replicas) > 0 {
				rf = int16(len(p0.Replicas))
			}
		} else {
			c.log.Warn("kafka listener: main topic not found; retry topics get the broker's default partitions", "topic", t)
		}
		names := p.topicsOf(t)
		for _, name := range names {
			resp, err := adm.CreateTopic(ctx, parts, rf, nil, name)
			if err == nil {
				err = resp.Err
			}
			switch {
			case err == nil:
				c.log.Info("kafka listener: created retry topic", "topic", name, "partitions", parts, "replication_factor", rf)
			case errors.Is(err, kerr.TopicAlreadyExists):
			default:
				return fmt.Errorf("creating %q: %w", name, err)
			}
		}
	}
	return nil
}

// topicsOf returns main topic t's retry topics and dead-letter topic.
func (p *retryPlan) topicsOf(t string) []string {
	var out []string
	for _, r := range p.retries[t] {
		if len(out) == 0 || out[len(out)-1] != r.Name {
			out = append(out, r.Name)
		}
	}
	if d := p.dlt[t]; d != "" {
		out = append(out, d)
	}
	return out
}

// retryForwarder is the recoverer of a container with retry topics: it
// sends a failed record to the retry topic of its next attempt, or, after
// the last attempt or for an error that is not retryable, to the
// dead-letter topic, with Spring's headers.
type retryForwarder struct {
	c    *Container
	plan *retryPlan
}

// Recover implements Recoverer.
func (f *retryForwarder) Recover(ctx context.Context, fl *Failure) error {
	if f.c.pub == nil {
		return errors.New("container: retry topics without a publisher (WithPublisher)")
	}
	retryable := f.c.eh.Retryable(fl.Err)
	rs := make([]*kgo.Record, 0, len(fl.Records))
	var dests []string
	outcome := telemetry.OutcomeRetried
	for _, r := range fl.Records {
		main, fromRetry := f.plan.mainOf[r.Topic]
		if !fromRetry {
			main = r.Topic
		}
		attempt := retryAttempt(r)
		retries := f.plan.retries[main]
		var (
			dest  string
			delay time.Duration
		)
		if retryable && attempt < f.plan.cfg.Attempts && len(retries) > 0 {
			next := retries[min(attempt-1, len(retries)-1)]
			dest, delay = next.Name, next.Delay
		} else {
			dest = f.plan.dlt[main]
			outcome = telemetry.OutcomeDeadLettered
			if dest == "" {
				fl.outcome = telemetry.OutcomeRecovered
				return LoggingRecoverer{Logger: f.c.log}.Recover(ctx, fl)
			}
		}
		fwd := forwardRecord(r, dest, fl.Group, fl.Err, attempt+1, time.Now().Add(delay), !fromRetry)
		fwd.Context = context.WithValue(ctx, preferredPartitionKey{}, r.Partition)
		rs = append(rs, fwd)
		dests = append(dests, dest)
	}
	if err := f.c.pub.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("container: forwarding to %v: %w", dests, err)
	}
	fl.outcome = outcome
	for i, r := range fl.Records {
		level := slog.LevelInfo
		msg := "kafka listener: record sent to retry topic"
		if outcome == telemetry.OutcomeDeadLettered {
			level, msg = slog.LevelWarn, "kafka listener: record sent to dead-letter topic"
		}
		f.c.log.Log(ctx, level, msg, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
			"to", dests[i], "attempt", retryAttempt(r), "err", fl.Err)
	}
	return nil
}

// retryAttempt is the number of the delivery r is: its
// retry_topic-attempts header, 1 without one (Spring reads a 1-byte value
// too, as older versions wrote it).
func retryAttempt(r *kgo.Record) int {
	v, ok := header(r, HeaderRetryAttempts)
	if !ok {
		return 1
	}
	n := 0
	switch len(v) {
	case 1:
		n = int(v[0])
	case 4:
		n = int(int32(binary.BigEndian.Uint32(v)))
	}
	if n < 1 {
		return 1
	}
	return n
}

// retryDue returns when r, a record of a retry topic, is due: its
// retry_topic-backoff-timestamp header; ok is false without one.
func retryDue(r *kgo.Record) (time.Time, bool) {
	v, ok := header(r, HeaderRetryBackoffTimestamp)
	if !ok || len(v) == 0 || len(v) > 8 {
		return time.Time{}, false
	}
	return time.UnixMilli(javaBigIntToInt64(v)), true
}

// forwardRecord builds the record r is forwarded as: its key, value and
// headers, minus the exception and retry headers of an earlier hop, plus
// the original-* headers (on the first hop; kept after it), the exception
// headers of cause, and the attempt and due time of its next delivery.
func forwardRecord(r *kgo.Record, topic, group string, cause error, attempt int, due time.Time, firstHop bool) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+14)
	for _, h := range r.Headers {
		switch {
		case strings.HasPrefix(h.Key, "kafka_exception-"), strings.HasPrefix(h.Key, "kafka_dlt-"),
			h.Key == HeaderRetryAttempts, h.Key == HeaderRetryBackoffTimestamp:
			continue
		case firstHop && (strings.HasPrefix(h.Key, "kafka_original-") || h.Key == HeaderRetryOriginalTimestamp):
			continue
		}
		hs = append(hs, h)
	}
	if _, ok := header(r, HeaderOriginalTopic); firstHop || !ok {
		hs = appendOrigin(hs, "kafka_", r, group)
	}
	if _, ok := header(r, HeaderRetryOriginalTimestamp); firstHop || !ok {
		hs = append(hs, kgo.RecordHeader{Key: HeaderRetryOriginalTimestamp, Value: javaBigInt(r.Timestamp.UnixMilli())})
	}
	hs = appendException(hs, "kafka_", cause)
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(attempt))
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderRetryAttempts, Value: a[:]},
		kgo.RecordHeader{Key: HeaderRetryBackoffTimestamp, Value: javaBigInt(due.UnixMilli())},
	)
	return &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: hs}
}

// javaBigInt encodes v as Java's BigInteger.valueOf(v).toByteArray():
// big-endian two's complement in the fewest bytes.
func javaBigInt(v int64) []byte {
	b := big.NewInt(v)
	if v >= 0 {
		out := b.Bytes()
		if len(out) == 0 || out[0]&0x80 != 0 {
			out = append([]byte{0}, out...)
		}
		return out
	}
	var full [8]byte
	binary.BigEndian.PutUint64(full[:], uint64(v))
	i := 0
	for i < 7 && full[i] == 0xff && full[i+1]&0x80 != 0 {
		i++
	}
	return full[i:]
}

// javaBigIntToInt64 decodes what javaBigInt encodes (at most 8 bytes).
func javaBigIntToInt64(b []byte) int64 {
	var v int64
	if len(b) > 0 && b[0]&0x80 != 0 {
		v = -1
	}
	for _, x := range b {
		v = v<<8 | int64(x)
	}
	return v
}
