// Package template provides Template, kafkaboot's KafkaTemplate: a
// high-level producer that serializes values, applies send options and
// reports results, on top of a franz-go producer client.
//
//	res, err := tmpl.Send(ctx, "orders", Order{ID: 1}, template.Key("order-1"))
//
// A [ProducerFactory] owns the franz-go producer clients built from the
// configuration (one shared client, plus transactional clients) and creates
// templates for them.
//
// # Delivery and errors
//
// [Template.Send] is synchronous: it returns when the broker acknowledged
// the record (or it failed). [Template.SendAsync] returns a [Future]
// immediately; records sent asynchronously are batched (kafka.producer.linger)
// and delivered in order per partition. Errors name the topic and wrap the
// cause, so errors.Is(err, kerr.MessageTooLarge) and similar checks work;
// serialization failures wrap [ErrSerialization] and nothing is produced.
//
// # Hooks
//
// [Interceptor]s see every record before it is produced and may modify or
// reject it; a [ProducerListener] is told about every outcome. Listener
// methods and [OnComplete] callbacks of asynchronous sends run on
// franz-go's promise goroutine, serially for all records of the client:
// they must be fast and must never block on the client (no synchronous
// Send, no Flush), or the client deadlocks.
package template

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/internal/connwatch"
	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/kafkaboot/kafkaboot/internal/txscope"
	"github.com/kafkaboot/kafkaboot/serde"
)

// Sentinel errors.
var (
	// ErrSerialization is wrapped when the key or value could not be
	// serialized; the record was not produced.
	ErrSerialization = errors.New("serialization failed")

	// ErrNoTopic is returned when a send has no topic: an empty topic
	// argument, or SendDefault without a default topic.
	ErrNoTopic = errors.New("no topic")

	// ErrPartitionerRequired is returned by sends with the Partition
	// option when the template's client does not use [Partitioner].
	ErrPartitionerRequired = errors.New("explicit partitions need the template.Partitioner on the client")

	// ErrNotTransactional is returned by ExecuteInTransaction when the
	// template's client has no transactional id.
	ErrNotTransactional = errors.New("client is not transactional")

	// ErrRejected is wrapped when an interceptor rejected a record.
	ErrRejected = errors.New("rejected by interceptor")
)

// Result describes a successfully produced record.
type Result struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the record timestamp (the producer's time truncated to
	// milliseconds, or the broker's for LogAppendTime topics).
	Timestamp time.Time
}

func resultOf(r *kgo.Record) Result {
	return Result{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
}

// ProducerListener is told the outcome of every send made through a
// template: exactly one of OnSuccess or OnError per send, including sends
// that failed before reaching Kafka (serialization, interceptors). For
// asynchronous sends it runs on franz-go's promise goroutine (see the
// package documentation: do not block).
type ProducerListener interface {
	OnSuccess(rec *kgo.Record, res Result)
	OnError(rec *kgo.Record, err error)
}

// Interceptor sees every record after serialization and before it is
// produced. It may modify the record (typically adding headers such as
// tracing context) or reject it by returning an error, which fails the send
// with an error wrapping [ErrRejected] and the interceptor's error.
// Interceptors run on the sending goroutine, in the order given.
type Interceptor interface {
	OnSend(ctx context.Context, rec *kgo.Record) error
}

// InterceptorFunc adapts a function to [Interceptor].
type InterceptorFunc func(ctx context.Context, rec *kgo.Record) error

// OnSend calls f.
func (f InterceptorFunc) OnSend(ctx context.Context, rec *kgo.Record) error { return f(ctx, rec) }

// Template sends values to Kafka. It is safe for concurrent use. Create it
// with [New] or [ProducerFactory.Template]. A Template does not own its
// client: closing is the job of whoever created the client.
type Template struct {
	// The fields a send reads come first, in one cache line: a send
	// that touches fewer lines of memory is faster on a busy machine
	// (measured).
	cl *kgo.Client
	// promise is t.asyncDone, the promise of every asynchronous send.
	promise  func(*kgo.Record, error)
	expiry   *expiry
	valueSer serde.Serializer
	// plain: no listener and no interceptors see the records.
	plain bool
	// metrics: tel records metrics.
	metrics    bool
	explicitOK bool // client uses Partitioner

	keySer       serde.Serializer
	defaultTopic string
	listener     ProducerListener
	interceptors []Interceptor
	logger       *slog.Logger

	transactional bool
	// watch, for a template of a ProducerFactory, follows the client's
	// broker connections: a send that gives up names the last error.
	watch *connwatch.Watcher
	// tel, for a template of a ProducerFactory, records send latency.
	tel  *telemetry.Producer
	txMu sync.Mutex // serializes transactions on this template
	// topics holds the topics a send succeeded to: the client knows
	// their partitions, so a synchronous send to them can skip the linger
	// with ProduceSync.
	topics sync.Map
	// asyncSends counts asynchronous sends, to sample their latency.
	asyncSends atomic.Uint64
	// deliveryTimeout is kafka.producer.delivery-timeout for a template
	// of a ProducerFactory, else the client's kgo.RecordDeliveryTimeout
	// (0: none); expiry enforces it on asynchronous sends.
	deliveryTimeout time.Duration
	// epoch is when the template was made: sends timed for the latency
	// metric keep their start relative to it (8 bytes, not 24).
	epoch time.Time
	// A size of a multiple of 64 bytes is a size class of Go's allocator
	// whose objects are 64-byte aligned, so the fields a send reads are
	// in one cache line, not two.
	_ [8]byte
}

// The fields a send reads fit in one cache line, which starts the
// Template (its size is a multiple of 64 bytes, at most 512).
var (
	_ [64 - unsafe.Offsetof(Template{}.keySer)]struct{}
	_ [0]struct{} = [unsafe.Sizeof(Template{}) % 64]struct{}{}
	_ [512 - unsafe.Sizeof(Template{})]struct{}
)

// Option configures a Template.
type Option interface{ apply(*Template) }

type optFunc func(*Template)

func (f optFunc) apply(t *Template) { f(t) }

// WithSerializer sets the value serializer. Default: serde.NewAuto().
func WithSerializer(s serde.Serializer) Option {
	return optFunc(func(t *Template) { t.valueSer = s })
}

// WithKeySerializer sets the key serializer. Default:
// serde.NewAuto(serde.WithTypeHeader(serde.KeyTypeIDHeader)), so string
// keys are written as UTF-8 and struct keys as JSON with a
// "__KeyTypeId__" header.
func WithKeySerializer(s serde.Serializer) Option {
	return optFunc(func(t *Template) { t.keySer = s })
}

// WithDefaultTopic sets the topic used by SendDefault and SendRecord (for
// records without a topic).
func WithDefaultTopic(topic string) Option {
	return optFunc(func(t *Template) { t.defaultTopic = topic })
}

// WithListener sets the producer listener.
func WithListener(l ProducerListener) Option {
	return optFunc(func(t *Template) { t.listener = l })
}

// WithInterceptor appends interceptors.
func WithInterceptor(is ...Interceptor) Option {
	return optFunc(func(t *Template) { t.interceptors = append(t.interceptors, is...) })
}

// WithLogger logs every failed send at error level (like Spring's
// LoggingProducerListener), in addition to the listener. By default
// nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return optFunc(func(t *Template) { t.logger = l })
}

// New returns a Template producing with client, which must be a producer
// client. To honour the [Partition] send option, the client must have been
// built with kgo.RecordPartitioner(template.Partitioner(...)), as
// [ProducerFactory] does. A client with a transactional id enables
// [Template.ExecuteInTransaction].
func New(client *kgo.Client, opts ...Option) *Template {
	t := &Template{cl: client, epoch: time.Now()}
	t.promise = t.asyncDone
	for _, o := range opts {
		o.apply(t)
	}
	if t.valueSer == nil {
		t.valueSer = serde.NewAuto()
	}
	t.plain = t.listener == nil && len(t.interceptors) == 0
	t.metrics = t.tel.MetricsEnabled()
	if t.keySer == nil {
		t.keySer = serde.NewAuto(serde.WithTypeHeader(serde.KeyTypeIDHeader))
	}
	_, t.explicitOK = client.OptValue(kgo.RecordPartitioner).(*explicitPartitioner)
	if t.deliveryTimeout == 0 {
		t.deliveryTimeout, _ = client.OptValue(kgo.RecordDeliveryTimeout).(time.Duration)
	}
	if t.deliveryTimeout > 0 {
		t.expiry = &expiry{t: t, timeout: t.deliveryTimeout}
	}
	if vs := client.OptValues(kgo.TransactionalID); len(vs) == 2 {
		t.transactional, _ = vs[1].(bool)
	}
	return t
}

// withWatcher sets the connection watcher of the factory's client.
func withWatcher(w *connwatch.Watcher) Option {
	return optFunc(func(t *Template) { t.watch = w })
}

// withDeliveryTimeout sets kafka.producer.delivery-timeout.
func withDeliveryTimeout(d time.Duration) Option {
	return optFunc(func(t *Template) { t.deliveryTimeout = d })
}

// withTelemetry sets the factory's instrumentation.
func withTelemetry(p *telemetry.Producer) Option {
	return optFunc(func(t *Template) { t.tel = p })
}

// Client returns the underlying franz-go client.
func (t *Template) Client() *kgo.Client { return t.cl }

// DefaultTopic returns the default topic ("" if none).
func (t *Template) DefaultTopic() string { return t.defaultTopic }

// SendOption configures one send.
type SendOption interface{ applySend(*sendOptions) }

type sendOptions struct {
	key       any
	hasKey    bool
	partition int32
	hasPart   bool
	headers   []kgo.RecordHeader
	timestamp time.Time
	outcome
}

// outcome is what a send still needs once the record is built: the
// OnComplete callback and when the send began (with metrics on). An
// asynchronous send keeps only this of its options.
type outcome struct {
	onComplete func(Result, error)
	// start is when the send began, with metrics on: nanoseconds since
	// the template's epoch (on the monotonic clock), 0 when not timed.
	start int64
}

type sendFunc func(*sendOptions)

func (f sendFunc) applySend(o *sendOptions) { f(o) }

// Key sets the record key, serialized with the key serializer. A nil key
// means no key.
func Key(k any) SendOption {
	return sendFunc(func(o *sendOptions) { o.key, o.hasKey = k, k != nil })
}

// Partition sends the record to partition p instead of using the
// partitioner (see [Partitioner] for the requirements). A partition that
// does not exist fails the send.
func Partition(p int32) SendOption {
	return sendFunc(func(o *sendOptions) { o.partition, o.hasPart = p, true })
}

// Headers appends record headers.
func Headers(hs ...kgo.RecordHeader) SendOption {
	return sendFunc(func(o *sendOptions) { o.headers = append(o.headers, hs...) })
}

// Header appends one record header.
func Header(key, value string) SendOption {
	return sendFunc(func(o *sendOptions) {
		o.headers = append(o.headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
	})
}

// Timestamp sets the record timestamp (default: the time of the send).
// Kafka stores milliseconds; finer precision is truncated.
func Timestamp(ts time.Time) SendOption {
	return sendFunc(func(o *sendOptions) { o.timestamp = ts })
}

// OnComplete registers a callback run once with the outcome of the send,
// after the listener. For SendAsync it runs on franz-go's promise
// goroutine: it must not block (see the package documentation).
func OnComplete(fn func(Result, error)) SendOption {
	return sendFunc(func(o *sendOptions) { o.onComplete = fn })
}

// Send serializes value, produces it to topic and waits for the broker's
// acknowledgement (or ctx). Sync sends are not delayed by linger. Errors
// have the form `template: send to "topic": cause`.
//
// Send returns by ctx's deadline and by kafka.producer.delivery-timeout.
// If either ends while the record is in flight, franz-go fails the record
// only if that is safe (it was not yet sent, or idempotence is off);
// otherwise Send returns an error wrapping ctx's error (or
// [ErrDeliveryTimeout]) and the last broker error, which says that the
// record may still be delivered; its outcome then goes to the listener.
// To keep the deadline, the produce runs on a goroutine of its own; when
// nothing can end the wait (delivery-timeout 0 and a ctx that is never
// done), Send waits on the caller's goroutine, a little faster.
func (t *Template) Send(ctx context.Context, topic string, value any, opts ...SendOption) (Result, error) {
	so := collect(opts)
	t.started(&so.outcome, false)
	sr := new(sendRecord)
	rec, err := t.build(ctx, &sr.rec, &sr.hdr, topic, value, &so)
	if err != nil {
		return t.complete(rec, topic, err, &so.outcome)
	}
	return t.sendSync(ctx, rec, &so)
}

// sendRecord is the record of one send allocated together with room for
// one header (the type header the default serializers add), saving the
// header slice's allocation.
type sendRecord struct {
	rec kgo.Record
	hdr [1]kgo.RecordHeader
}

// SendDefault is Send to the default topic; it fails with [ErrNoTopic] if
// there is none.
func (t *Template) SendDefault(ctx context.Context, value any, opts ...SendOption) (Result, error) {
	return t.Send(ctx, t.defaultTopic, value, opts...)
}

// SendRecord produces rec as is (no serialization; interceptors, listener
// and logging apply) and waits for the outcome. An empty rec.Topic means
// the default topic. To pin a partition, set rec.Context to
// [ContextWithPartition]. rec is modified by franz-go (partition, offset,
// timestamp) and must not be reused while in flight.
func (t *Template) SendRecord(ctx context.Context, rec *kgo.Record) (Result, error) {
	var so sendOptions
	t.started(&so.outcome, false)
	if rec.Topic == "" {
		rec.Topic = t.defaultTopic
	}
	if rec.Topic == "" {
		return t.complete(rec, "", ErrNoTopic, &so.outcome)
	}
	if err := t.intercept(ctx, rec); err != nil {
		return t.complete(rec, rec.Topic, err, &so.outcome)
	}
	return t.sendSync(ctx, rec, &so)
}

// SendAsync serializes value and hands it to the client without waiting
// for the outcome, which is available from the returned [Future] (and the
// OnComplete option). Serialization and interceptor failures complete the
// future immediately. SendAsync may block while the client's buffer is
// full (kgo.MaxBufferedRecords), until ctx is done.
func (t *Template) SendAsync(ctx context.Context, topic string, value any, opts ...SendOption) *Future {
	// The record and the future are one allocation, which the
	// serializer's output adds to; the send options stay on the stack
	// but for the outcome's part. The promise is the template's, shared
	// by all sends (see asyncOf).
	a := new(asyncSend)
	var rec *kgo.Record
	var err error
	var oc outcome
	if len(opts) == 0 && t.plain {
		// The common case, without the options' bookkeeping.
		t.started(&oc, true)
		rec, err = &a.rec, t.buildPlain(&a.rec, topic, value)
	} else {
		so := collect(opts)
		oc = so.outcome
		t.started(&oc, true)
		rec, err = t.build(ctx, &a.rec, nil, topic, value, &so)
	}
	if oc.onComplete != nil || oc.start != 0 {
		a.f.ext.Store(&futureExt{oc: oc})
	}
	if err != nil {
		_, err = t.complete(rec, topic, err, &oc)
		a.f.complete(err)
		return &a.f
	}
	if cl := txscope.Client(ctx); cl != nil {
		// In a transactional listener's handler: the send joins the
		// listener's transaction (the commit flushes it).
		cl.Produce(ctx, rec, t.promise)
		return &a.f
	}
	if t.expiry != nil {
		t.expiry.add(a)
	}
	t.cl.Produce(ctx, rec, t.promise)
	return &a.f
}

// asyncSend is the state of one SendAsync: its record first (see
// asyncOf), then its future. 184 bytes, in the 192-byte size class of
// Go's allocator, whose objects are 64-byte aligned (192 = 3 x 64): the
// future's fields (state, chunk, ext) share the cache line of the
// record's LeaderEpoch and Offset, which franz-go writes as the record
// completes, so completing a send touches no line of it that the
// record's completion did not already. (The 224-byte class, whose
// objects are not 64-byte aligned, measured slower than 256; 192 is a
// quarter smaller than 256, which the garbage collector feels.)
type asyncSend struct {
	rec kgo.Record
	f   Future
}

// An asyncSend fits the 192-byte size class.
var _ [192 - unsafe.Sizeof(asyncSend{})]struct{}

// The record is at the start of an asyncSend, and the future in the
// record's last cache line.
var (
	_ [0]struct{} = [unsafe.Offsetof(asyncSend{}.rec)]struct{}{}
	_ [1]struct{} = [unsafe.Offsetof(asyncSend{}.f)/64 - unsafe.Offsetof(kgo.Record{}.Offset)/64 + 1]struct{}{}
	_ [1]struct{} = [(unsafe.Offsetof(asyncSend{}.f)+unsafe.Sizeof(Future{})-1)/64 - unsafe.Offsetof(kgo.Record{}.Offset)/64 + 1]struct{}{}
)

// asyncOf returns the asyncSend whose record r is. franz-go calls a
// record's promise with the *kgo.Record it was given to produce, and
// SendAsync gives it &a.rec, the first field of a: so a promise shared
// by every send finds its send without a closure per record (an
// allocation, the second of a send otherwise).
func asyncOf(r *kgo.Record) *asyncSend {
	return (*asyncSend)(unsafe.Pointer(r))
}

// asyncDone is the promise of every record of SendAsync (t.promise).
func (t *Template) asyncDone(r *kgo.Record, err error) {
	a := asyncOf(r)
	a.done()
	ext := a.f.ext.Load()
	if err == nil && t.plain && (ext == nil || ext.oc.onComplete == nil && ext.oc.start == 0) {
		// Nothing to tell but the future: claim and complete it in one
		// step. If the delivery timeout failed it first, there is
		// nobody else to tell either.
		a.f.finish()
		return
	}
	var oc outcome
	if ext != nil {
		oc = ext.oc
	}
	if t.expiry != nil && !a.f.claim() {
		// The future failed at the delivery timeout: the real outcome
		// goes to the listener and the metrics only.
		oc.onComplete = nil
		t.complete(r, r.Topic, err, &oc)
		return
	}
	_, err = t.complete(r, r.Topic, err, &oc)
	a.f.complete(err)
}

// expire fails the future of a send that outlived the delivery timeout,
// unless its outcome arrived meanwhile.
func (t *Template) expire(a *asyncSend) {
	if !a.f.claim() {
		return
	}
	err := t.timeoutError(a.rec.Topic)
	if t.logger != nil {
		t.logger.Warn("kafka send gave up waiting", slog.String("topic", a.rec.Topic), slog.Any("error", err))
	}
	if ext := a.f.ext.Load(); ext != nil && ext.oc.onComplete != nil {
		ext.oc.onComplete(Result{}, err)
	}
	a.f.complete(err)
}

// Flush waits until all buffered records are acknowledged or ctx is done.
func (t *Template) Flush(ctx context.Context) error {
	if err := t.cl.Flush(ctx); err != nil {
		return fmt.Errorf("template: flush: %w", withCause(err, t.watch.LastError()))
	}
	return nil
}

// asyncSampleEvery: with metrics on, the latency of one asynchronous send
// in asyncSampleEvery is recorded (and of every synchronous one): two
// clock reads and a histogram record cost about 250 ns here, as much as a
// tenth of an asynchronous send. The counts of records sent are exact
// (messaging.client.sent.messages, counted as each record completes).
const asyncSampleEvery = 64

// started notes when a send began, for its latency metric.
func (t *Template) started(oc *outcome, async bool) {
	if t.metrics && (!async || t.asyncSends.Add(1)%asyncSampleEvery == 0) {
		oc.start = max(int64(time.Since(t.epoch)), 1)
	}
}

func collect(opts []SendOption) sendOptions {
	if len(opts) == 0 {
		return sendOptions{} // without a heap-allocated accumulator
	}
	var so sendOptions
	for _, o := range opts {
		if o != nil {
			o.applySend(&so)
		}
	}
	return so
}

// build creates the record: headers, key, value, partition marker,
// interceptors. On error the (partial) record is still returned for the
// listener.
func (t *Template) build(ctx context.Context, rec *kgo.Record, hdr *[1]kgo.RecordHeader, topic string, value any, so *sendOptions) (*kgo.Record, error) {
	rec.Topic, rec.Timestamp = topic, so.timestamp
	if len(so.headers) > 0 {
		rec.Headers = slices.Clone(so.headers)
	}
	if topic == "" {
		return rec, ErrNoTopic
	}
	if rec.Headers == nil && !t.plain {
		// Code of the user's sees the record: room of its own for the
		// type header (in hdr when the caller has it). Otherwise the
		// serializer may give the record its type's shared header slice
		// (serde.JSON.Serialize).
		if hdr != nil {
			rec.Headers = hdr[:0]
		} else {
			rec.Headers = make([]kgo.RecordHeader, 0, 1)
		}
	}
	if so.hasKey {
		k, err := t.keySer.Serialize(topic, &rec.Headers, so.key)
		if err != nil {
			return rec, fmt.Errorf("%w: key: %w", ErrSerialization, err)
		}
		rec.Key = k
	}
	v, err := t.serializeValue(topic, &rec.Headers, value)
	if len(rec.Headers) == 0 {
		rec.Headers = nil // as without the preallocated header
	}
	if err != nil {
		return rec, fmt.Errorf("%w: value: %w", ErrSerialization, err)
	}
	rec.Value = v
	if so.hasPart {
		if !t.explicitOK {
			return rec, ErrPartitionerRequired
		}
		rec.Partition = so.partition
		rec.Context = ContextWithPartition(ctx, so.partition)
	}
	if len(t.interceptors) == 0 {
		return rec, nil
	}
	return rec, t.intercept(ctx, rec)
}

// buildPlain is build without send options, interceptors or listener.
func (t *Template) buildPlain(rec *kgo.Record, topic string, value any) error {
	if topic == "" {
		return ErrNoTopic
	}
	rec.Topic = topic
	v, err := t.serializeValue(topic, &rec.Headers, value)
	if err != nil {
		return fmt.Errorf("%w: value: %w", ErrSerialization, err)
	}
	rec.Value = v
	return nil
}

// serializeValue serializes a record value with the value serializer.
func (t *Template) serializeValue(topic string, headers *[]kgo.RecordHeader, value any) ([]byte, error) {
	return t.valueSer.Serialize(topic, headers, value)
}

func (t *Template) intercept(ctx context.Context, rec *kgo.Record) error {
	for _, ic := range t.interceptors {
		if err := ic.OnSend(ctx, rec); err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	return nil
}

// sendSync produces rec and waits for its outcome. It returns by ctx's
// deadline: franz-go keeps a record it may have sent
// until it knows its fate (an idempotent producer cannot forget it), so
// when ctx ends first the error wraps ctx's error and the last connection
// error, and says that the record may still be delivered; the outcome then
// still reaches the listener and the OnComplete callback.
func (t *Template) sendSync(ctx context.Context, rec *kgo.Record, so *sendOptions) (Result, error) {
	parent := ctx
	if d := t.deliveryTimeout; d > 0 {
		// The delivery timeout bounds the send like a deadline: franz-go
		// drops the record at it if it has not sent it yet.
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	w := &syncWait{done: make(chan struct{})}
	finish := func(r *kgo.Record, err error) {
		if err == nil {
			t.topics.LoadOrStore(r.Topic, struct{}{})
		}
		w.err = err
		if w.abandoned.CompareAndSwap(false, true) {
			close(w.done) // the caller still waits: it completes
			return
		}
		t.complete(r, r.Topic, t.dropped(parent, err), &so.outcome) // the caller gave up: complete here
	}
	if cl := txscope.Client(ctx); cl != nil {
		// In a transactional listener's handler: the send joins the
		// listener's transaction.
		r, err := cl.ProduceSync(ctx, rec).First()
		return t.complete(r, rec.Topic, err, &so.outcome)
	}
	_, known := t.topics.Load(rec.Topic)
	if known && ctx.Done() == nil {
		// Nothing can end the wait (no deadline, no cancellation, no
		// delivery timeout): ProduceSync on this goroutine spares the
		// hand-off, about a tenth of a synchronous send's throughput.
		r, err := t.cl.ProduceSync(ctx, rec).First()
		if err == nil {
			t.topics.LoadOrStore(r.Topic, struct{}{})
		}
		return t.complete(rec, rec.Topic, err, &so.outcome)
	}
	if known {
		// ProduceSync, unlike Produce, sends the record's batch at once
		// rather than after the linger; it waits for the outcome
		// whatever ctx does, so it runs on its own goroutine and the
		// caller waits on it or on ctx.
		go func() { finish(t.cl.ProduceSync(ctx, rec).First()) }()
	} else {
		// The client has no partitions of the topic yet, so ProduceSync
		// would leave the record to the linger too: a flush, ended when
		// the record completes, sends it at once.
		fctx, cancel := context.WithCancel(ctx)
		t.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			cancel()
			finish(r, err)
		})
		go t.cl.Flush(fctx)
	}
	select {
	case <-w.done:
		return t.complete(rec, rec.Topic, t.dropped(parent, w.err), &so.outcome)
	case <-ctx.Done():
	}
	if !w.abandoned.CompareAndSwap(false, true) {
		<-w.done // the outcome arrived meanwhile
		return t.complete(rec, rec.Topic, t.dropped(parent, w.err), &so.outcome)
	}
	var err error
	if parent.Err() == nil {
		err = t.timeoutError(rec.Topic)
	} else {
		err = fmt.Errorf("template: send to %q: %w; the record may still be delivered, its outcome goes to the listener", rec.Topic, withCause(ctx.Err(), t.watch.LastError()))
	}
	if t.logger != nil {
		t.logger.Warn("kafka send gave up waiting", slog.String("topic", rec.Topic), slog.Any("error", err))
	}
	return Result{}, err
}

// dropped turns the error of a record franz-go dropped at the delivery
// timeout (the context sendSync gave it, not the caller's, ended) into
// the delivery timeout's.
func (t *Template) dropped(parent context.Context, err error) error {
	if err != nil && t.deliveryTimeout > 0 && errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		return t.deliveryError()
	}
	return err
}

// syncWait is a sync send's rendezvous with its promise: whichever of the
// promise and a caller giving up sets abandoned first decides who
// completes the send.
type syncWait struct {
	done      chan struct{}
	err       error
	abandoned atomic.Bool
}

// withCause wraps err with cause, the last broker-side error, when there
// is one: "context deadline exceeded (last error: dial tcp ...)", both
// reachable with errors.Is and errors.As.
func withCause(err, cause error) error {
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w (last error: %w)", err, cause)
}

// complete wraps err, notifies the listener, logger and callback, and
// returns the outcome.
func (t *Template) complete(rec *kgo.Record, topic string, err error, oc *outcome) (Result, error) {
	if oc.start != 0 {
		t.tel.SendDone(topic, t.epoch.Add(time.Duration(oc.start)), err)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// franz-go gave the record up with its context: say why
			// it had not been sent.
			err = withCause(err, t.watch.LastError())
		}
		err = fmt.Errorf("template: send to %q: %w", topic, err)
		if t.listener != nil {
			t.listener.OnError(rec, err)
		}
		if t.logger != nil {
			t.logger.Error("kafka send failed", slog.String("topic", topic), slog.Any("error", err))
		}
		if oc.onComplete != nil {
			oc.onComplete(Result{}, err)
		}
		return Result{}, err
	}
	res := resultOf(rec)
	if t.listener != nil {
		t.listener.OnSuccess(rec, res)
	}
	if oc.onComplete != nil {
		oc.onComplete(res, nil)
	}
	return res, nil
}

// Future is the pending outcome of [Template.SendAsync].
//
// Its Done channel is created only when asked for: fire-and-forget sends
// and Get calls after completion do not pay for a channel. A Future is
// allocated together with its record, which it keeps reachable.
type Future struct {
	// state is futurePending, futureClaimed (the promise or the delivery
	// timeout is completing it) or futureDone (the outcome can be read).
	state atomic.Int32
	// chunk is the send's delivery-timeout chunk, nil if it is not in
	// one.
	chunk *sendChunk
	// ext holds what most sends do without: a callback or a metric's
	// start (set before the send is handed to the client), an error, a
	// Done channel. nil until one of them is needed.
	ext atomic.Pointer[futureExt]
}

// futureExt is the part of a Future that most sends do without.
type futureExt struct {
	// oc is the send's callback and latency start, set before the send
	// is handed to the client and not changed after.
	oc outcome
	// err is the send's error, written before the state becomes
	// futureDone.
	err error
	// done is nil until Done is called before the outcome is known.
	done atomic.Pointer[doneChan]
}

// extension returns f's extension, adding one if it has none (the
// completion and Done may race to add it: one wins, both use its).
func (f *Future) extension() *futureExt {
	if e := f.ext.Load(); e != nil {
		return e
	}
	e := new(futureExt)
	if !f.ext.CompareAndSwap(nil, e) {
		return f.ext.Load()
	}
	return e
}

// closeDone closes f's Done channel if Done was called before.
func (f *Future) closeDone() {
	if e := f.ext.Load(); e != nil {
		if d := e.done.Load(); d != nil {
			d.close()
		}
	}
}

// Future states.
const (
	futurePending int32 = iota
	futureClaimed
	futureDone
)

// doneChan holds a Future's Done channel, which the completion and Done
// may both close (whichever sees the other's write: see Future.Done).
type doneChan struct {
	c      chan struct{}
	closed atomic.Bool
}

func (d *doneChan) close() {
	if d.closed.CompareAndSwap(false, true) {
		close(d.c)
	}
}

// closedChan is returned by Done after completion. It is closed once, at
// package initialization, and never changes.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// claim reports whether the caller is the one to complete f (the
// promise and the delivery timeout race for it).
func (f *Future) claim() bool {
	return f.state.CompareAndSwap(futurePending, futureClaimed)
}

// finish completes f with success unless something claimed it first:
// claim and complete(nil) in one atomic step.
func (f *Future) finish() {
	if f.state.CompareAndSwap(futurePending, futureDone) {
		f.closeDone()
	}
}

// pending reports whether no outcome has claimed f.
func (f *Future) pending() bool { return f.state.Load() == futurePending }

// complete sets the outcome: err, or, when nil, the Result read from
// the send's record.
func (f *Future) complete(err error) {
	if err != nil {
		f.extension().err = err
	}
	f.state.Store(futureDone)
	f.closeDone()
}

// Done is closed when the outcome is known.
//
// Completion stores the state, then loads the channel; Done stores the
// channel, then loads the state: one of them sees the other's store
// (atomics are sequentially consistent), so the channel is closed, by
// one or both (it is closed once).
func (f *Future) Done() <-chan struct{} {
	var d *doneChan
	if e := f.ext.Load(); e != nil {
		d = e.done.Load()
	}
	if d == nil {
		if f.state.Load() == futureDone {
			return closedChan
		}
		e := f.extension()
		d = &doneChan{c: make(chan struct{})}
		if !e.done.CompareAndSwap(nil, d) {
			d = e.done.Load() // another Done's
		}
	}
	if f.state.Load() == futureDone {
		d.close()
	}
	return d.c
}

// Get waits for the outcome or for ctx to end. A ctx error only means the
// wait ended; the send continues and its outcome is still delivered to the
// listener and callbacks.
func (f *Future) Get(ctx context.Context) (Result, error) {
	if f.state.Load() != futureDone {
		select {
		case <-f.Done():
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	if e := f.ext.Load(); e != nil && e.err != nil {
		return Result{}, e.err
	}
	// A success: the send's record was handed to the client, and
	// franz-go wrote its partition, offset and timestamp before
	// completing it.
	return resultOf(f.record()), nil
}

// record returns the record of the send f belongs to: a Future is made
// only as part of an asyncSend.
func (f *Future) record() *kgo.Record {
	return &(*asyncSend)(unsafe.Add(unsafe.Pointer(f), -int(unsafe.Offsetof(asyncSend{}.f)))).rec
}
