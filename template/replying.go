package template

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/serde"
)

// Request/reply headers, Spring's KafkaHeaders.CORRELATION_ID and
// REPLY_TOPIC, which kafkaboot's replying listeners (sendto) read too.
const (
	HeaderCorrelationID = "kafka_correlationId"
	HeaderReplyTopic    = "kafka_replyTopic"
)

// ErrReplyTimeout is returned by Request when no reply came in time.
var ErrReplyTimeout = errors.New("template: no reply in time")

// DefaultReplyTimeout is how long Request waits without a deadline of its
// own: Spring's ReplyingKafkaTemplate default.
const DefaultReplyTimeout = 5 * time.Second

// ReplyingTemplate sends requests and waits for their replies, like
// Spring's ReplyingKafkaTemplate: each request carries a random
// correlation id (kafka_correlationId) and the reply topic
// (kafka_replyTopic); a listener that returns a value (sendto, or the
// reply topic header) sends it back with the same correlation id, and the
// template hands it to the waiting Request.
//
// The template reads every partition of its reply topic from where they
// ended when it was created, without a consumer group: replies to other
// templates on the same topic are ignored (give each instance its own
// reply topic when many share a cluster, to read less). A Request that
// times out or is cancelled removes its correlation id; a reply arriving
// later is dropped.
type ReplyingTemplate struct {
	t          *Template
	cl         *kgo.Client
	replyTopic string
	deser      serde.IntoDeserializer
	timeout    time.Duration
	log        *slog.Logger

	mu      sync.Mutex
	pending map[string]chan *kgo.Record

	cancel context.CancelFunc
	done   chan struct{}
}

// ReplyOption configures a ReplyingTemplate.
type ReplyOption func(*ReplyingTemplate)

// WithReplyTimeout sets how long Request waits when its context has no
// earlier deadline (default DefaultReplyTimeout).
func WithReplyTimeout(d time.Duration) ReplyOption {
	return func(r *ReplyingTemplate) { r.timeout = d }
}

// WithReplyDeserializer sets how replies are decoded (default
// serde.NewAuto(): JSON with the type header, strings, bytes, protobuf).
func WithReplyDeserializer(d serde.IntoDeserializer) ReplyOption {
	return func(r *ReplyingTemplate) { r.deser = d }
}

// WithReplyLogger sets where dropped replies are logged (default
// slog.Default(), at debug).
func WithReplyLogger(l *slog.Logger) ReplyOption {
	return func(r *ReplyingTemplate) { r.log = l }
}

// NewReplyingTemplate returns a replying template that sends with t and
// reads replies from replyTopic with a client made from clientOpts (seed
// brokers, security). The topic must exist. Close it when done.
func NewReplyingTemplate(ctx context.Context, t *Template, replyTopic string, clientOpts []kgo.Opt, opts ...ReplyOption) (*ReplyingTemplate, error) {
	r := &ReplyingTemplate{t: t, replyTopic: replyTopic, deser: serde.NewAuto(), timeout: DefaultReplyTimeout,
		log: slog.Default(), pending: map[string]chan *kgo.Record{}, done: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	admCl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("template: reply consumer: %w", err)
	}
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, replyTopic)
	admCl.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("template: reply topic %q: %w", replyTopic, err)
	}
	starts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { starts[o.Partition] = kgo.NewOffset().At(o.Offset) })
	if len(starts) == 0 {
		return nil, fmt.Errorf("template: reply topic %q has no partitions", replyTopic)
	}
	r.cl, err = kgo.NewClient(append(append([]kgo.Opt(nil), clientOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{replyTopic: starts}),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("template: reply consumer: %w", err)
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go r.read(cctx)
	return r, nil
}

// read hands each reply to its waiting Request.
func (r *ReplyingTemplate) read(ctx context.Context) {
	defer close(r.done)
	for {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			r.log.Warn("kafka replies: fetch error", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(rec *kgo.Record) {
			id, ok := headerValue(rec, HeaderCorrelationID)
			if !ok {
				r.log.Debug("kafka replies: a record without a correlation id dropped", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
				return
			}
			r.mu.Lock()
			ch := r.pending[string(id)]
			delete(r.pending, string(id))
			r.mu.Unlock()
			if ch == nil {
				r.log.Debug("kafka replies: no request waits for this reply (late, or another template's)", "topic", rec.Topic, "offset", rec.Offset)
				return
			}
			ch <- rec
		})
	}
}

// Request sends value to topic and decodes the reply into reply (a
// pointer). It returns by ctx's deadline or the reply timeout, whichever
// is first, with an error matching ErrReplyTimeout (and, for the context,
// its error); the correlation id is forgotten then. Send options apply
// to the request.
func (r *ReplyingTemplate) Request(ctx context.Context, topic string, value, reply any, opts ...SendOption) error {
	id := make([]byte, 16)
	rand.Read(id)
	ch := make(chan *kgo.Record, 1)
	r.mu.Lock()
	r.pending[string(id)] = ch
	r.mu.Unlock()
	forget := func() {
		r.mu.Lock()
		delete(r.pending, string(id))
		r.mu.Unlock()
	}
	wctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	opts = append(opts, Headers(kgo.RecordHeader{Key: HeaderCorrelationID, Value: id}, kgo.RecordHeader{Key: HeaderReplyTopic, Value: []byte(r.replyTopic)}))
	if _, err := r.t.Send(wctx, topic, value, opts...); err != nil {
		forget()
		return fmt.Errorf("template: request to %q: %w", topic, err)
	}
	select {
	case rec := <-ch:
		if err := r.deser.DeserializeInto(rec.Topic, rec.Headers, rec.Value, reply); err != nil {
			return fmt.Errorf("template: reply from %q: %w", topic, err)
		}
		return nil
	case <-wctx.Done():
		forget()
		if ctx.Err() != nil {
			return fmt.Errorf("template: request to %q: %w: %w", topic, ErrReplyTimeout, ctx.Err())
		}
		return fmt.Errorf("template: request to %q: %w after %v", topic, ErrReplyTimeout, r.timeout)
	}
}

// Pending is the number of requests waiting for a reply.
func (r *ReplyingTemplate) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Close stops reading replies; Requests waiting then time out.
func (r *ReplyingTemplate) Close() {
	r.cancel()
	r.cl.Close()
	<-r.done
}

func headerValue(r *kgo.Record, key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}
