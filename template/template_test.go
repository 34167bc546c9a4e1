package template

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/serde"
)

type Order struct {
	ID   int    `json:"id"`
	Item string `json:"item"`
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func loadConfig(t testing.TB, addrs []string, values map[string]any) *config.Config {
	t.Helper()
	m := map[string]any{"kafka.bootstrap-servers": strings.Join(addrs, ",")}
	for k, v := range values {
		m[k] = v
	}
	cfg, err := config.Load(config.WithEnviron(nil), config.WithValues(m))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newFactory(t testing.TB, addrs []string, values map[string]any, opts ...FactoryOption) *ProducerFactory {
	t.Helper()
	f, err := NewProducerFactory(loadConfig(t, addrs, values), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

// consume reads n records from the start of topic (read_committed if
// committed), failing the test if they do not arrive within the deadline.
func consume(t testing.TB, addrs []string, topic string, n int, committed bool) []*kgo.Record {
	t.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s before the deadline", len(out), n, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// endOffsets returns the sum of the end offsets of topic's partitions.
func endOffsets(t testing.TB, cl *kgo.Client, topic string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(cl).ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum
}

type recordingListener struct {
	mu        sync.Mutex
	successes []Result
	errs      []error
}

func (l *recordingListener) OnSuccess(_ *kgo.Record, res Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.successes = append(l.successes, res)
}

func (l *recordingListener) OnError(_ *kgo.Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *recordingListener) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.successes), len(l.errs)
}

func header(r *kgo.Record, key string) string {
	v, _ := serde.HeaderValue(r.Headers, key)
	return v
}

func TestSendSync(t *testing.T) {
	addrs := startBroker(t, "orders")
	f := newFactory(t, addrs, nil, WithClientLogger(slog.New(slog.DiscardHandler)))
	tmpl := f.Template()
	ctx := testCtx(t)
	ts := time.UnixMilli(1_700_000_000_123)

	res, err := tmpl.Send(ctx, "orders", Order{ID: 1, Item: "book"},
		Key("order-1"), Header("trace", "abc"), Timestamp(ts))
	if err != nil {
		t.Fatal(err)
	}
	if res.Topic != "orders" || res.Partition < 0 || res.Partition >= testPartitions || res.Offset != 0 || !res.Timestamp.Equal(ts) {
		t.Fatalf("result = %+v", res)
	}
	res2, err := tmpl.Send(ctx, "orders", Order{ID: 2}, Key("order-1"))
	if err != nil || res2.Partition != res.Partition || res2.Offset != 1 {
		t.Fatalf("same key must go to the same partition at the next offset: %+v, %v", res2, err)
	}

	recs := consume(t, addrs, "orders", 2, false)
	r := recs[0]
	if r.Offset != 0 {
		r = recs[1]
	}
	if string(r.Key) != "order-1" || string(r.Value) != `{"id":1,"item":"book"}` {
		t.Fatalf("key %q value %q", r.Key, r.Value)
	}
	if header(r, "trace") != "abc" || header(r, serde.TypeIDHeader) != "template.Order" || header(r, serde.KeyTypeIDHeader) != "" {
		t.Fatalf("headers = %v", r.Headers)
	}
	if !r.Timestamp.Equal(ts) || r.Partition != res.Partition {
		t.Fatalf("timestamp %v partition %d", r.Timestamp, r.Partition)
	}
	o, err := serde.Value[Order](serde.NewJSON(), r)
	if err != nil || o.Item != "book" {
		t.Fatalf("decode: %+v, %v", o, err)
	}
}

func TestExplicitPartition(t *testing.T) {
	addrs := startBroker(t, "p")
	f := newFactory(t, addrs, nil)
	tmpl := f.Template()
	ctx := testCtx(t)
	want := map[int32]int{}
	for i := range 9 {
		p := int32(i % testPartitions)
		res, err := tmpl.Send(ctx, "p", fmt.Sprint(i), Partition(p), Key("same-key"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Partition != p || res.Offset != int64(want[p]) {
			t.Fatalf("send %d: result %+v, want partition %d offset %d", i, res, p, want[p])
		}
		want[p]++
	}
	got := map[int32]int{}
	for _, r := range consume(t, addrs, "p", 9, false) {
		got[r.Partition]++
		if fmt.Sprint(r.Partition) != fmt.Sprint(mustAtoi(t, string(r.Value))%testPartitions) {
			t.Fatalf("record %q in partition %d", r.Value, r.Partition)
		}
	}
	if len(got) != testPartitions {
		t.Fatalf("partition counts = %v", got)
	}

	// Raw records pinned through the context.
	rec := &kgo.Record{Topic: "p", Value: []byte("raw"), Context: ContextWithPartition(ctx, 1)}
	if res, err := tmpl.SendRecord(ctx, rec); err != nil || res.Partition != 1 {
		t.Fatalf("SendRecord pinned: %+v, %v", res, err)
	}

	// A partition that does not exist fails the send.
	if _, err := tmpl.Send(ctx, "p", "x", Partition(testPartitions)); err == nil || !strings.Contains(err.Error(), `send to "p"`) {
		t.Fatalf("missing partition: %v", err)
	}

	// A client without the partitioner rejects explicit partitions.
	plain, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := New(plain).Send(ctx, "p", "x", Partition(0)); !errors.Is(err, ErrPartitionerRequired) {
		t.Fatalf("plain client: %v", err)
	}
}

func mustAtoi(t testing.TB, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSendIgnoresLinger: a synchronous Send goes out at once, whatever
// kafka.producer.linger says (the async sends wait for it).
func TestSendIgnoresLinger(t *testing.T) {
	addrs := startBroker(t, "sync")
	f := newFactory(t, addrs, map[string]any{"kafka.producer.linger": "1m"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.Template().Send(ctx, "sync", Order{ID: 1}); err != nil {
		t.Fatalf("Send with a 1m linger: %v", err)
	}
}

func TestSendAsyncAndFlush(t *testing.T) {
	addrs := startBroker(t, "async")
	// A long linger proves that Flush (not the timer) delivers.
	f := newFactory(t, addrs, map[string]any{"kafka.producer.linger": "1m"})
	l := &recordingListener{}
	tmpl := f.Template(WithListener(l))
	ctx := testCtx(t)

	const n = 50
	var callbacks atomic.Int32
	futures := make([]*Future, n)
	for i := range n {
		futures[i] = tmpl.SendAsync(ctx, "async", Order{ID: i}, Key(fmt.Sprint(i)),
			OnComplete(func(res Result, err error) {
				if err == nil && res.Topic == "async" {
					callbacks.Add(1)
				}
			}))
	}
	select {
	case <-futures[0].Done():
		t.Fatal("future completed before flush despite 1m linger")
	default:
	}
	if err := tmpl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]bool{}
	for i, fut := range futures {
		select {
		case <-fut.Done():
		default:
			t.Fatalf("future %d not done after Flush", i)
		}
		res, err := fut.Get(ctx)
		if err != nil {
			t.Fatalf("future %d: %v", i, err)
		}
		k := [2]int64{int64(res.Partition), res.Offset}
		if seen[k] {
			t.Fatalf("duplicate position %v", k)
		}
		seen[k] = true
	}
	if callbacks.Load() != n {
		t.Fatalf("callbacks = %d", callbacks.Load())
	}
	if s, e := l.counts(); s != n || e != 0 {
		t.Fatalf("listener successes %d errors %d", s, e)
	}
	if got := len(consume(t, addrs, "async", n, false)); got != n {
		t.Fatalf("consumed %d", got)
	}

	// Get honours its context while the send is pending.
	fut := tmpl.SendAsync(ctx, "async", "late")
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := fut.Get(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with cancelled ctx: %v", err)
	}
	if err := tmpl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fut.Get(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestListenerAndErrors(t *testing.T) {
	addrs := startBroker(t, "small")
	f := newFactory(t, addrs, map[string]any{"kafka.producer.batch-size": "1KB"},
		WithClientOpts(kgo.UnknownTopicRetries(0)))
	l := &recordingListener{}
	var callbackErr atomic.Value
	tmpl := f.Template(WithListener(l))
	ctx := testCtx(t)

	if _, err := tmpl.Send(ctx, "small", "ok"); err != nil {
		t.Fatal(err)
	}
	if s, e := l.counts(); s != 1 || e != 0 {
		t.Fatalf("after success: %d/%d", s, e)
	}

	// Record too large: failed by the client, wraps kerr.MessageTooLarge.
	_, err := tmpl.Send(ctx, "small", strings.Repeat("x", 4096), OnComplete(func(_ Result, err error) { callbackErr.Store(err) }))
	if !errors.Is(err, kerr.MessageTooLarge) || !strings.HasPrefix(err.Error(), `template: send to "small": `) {
		t.Fatalf("too large: %v", err)
	}
	if got, _ := callbackErr.Load().(error); got == nil || !errors.Is(got, kerr.MessageTooLarge) {
		t.Fatalf("OnComplete error = %v", got)
	}

	// Topic that does not exist (auto-creation is off).
	_, err = tmpl.Send(ctx, "missing-topic", "x")
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), `"missing-topic"`) {
		t.Fatalf("unknown topic: %v", err)
	}

	// Asynchronous failures reach the listener and the future.
	fut := tmpl.SendAsync(ctx, "small", strings.Repeat("y", 4096))
	if _, err := fut.Get(ctx); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("async too large: %v", err)
	}
	if s, e := l.counts(); s != 1 || e != 3 {
		t.Fatalf("listener successes %d errors %d", s, e)
	}
}

func TestSerializationError(t *testing.T) {
	addrs := startBroker(t, "ser")
	f := newFactory(t, addrs, nil)
	l := &recordingListener{}
	tmpl := f.Template(WithListener(l))
	ctx := testCtx(t)

	_, err := tmpl.Send(ctx, "ser", make(chan int))
	if !errors.Is(err, ErrSerialization) || !errors.Is(err, serde.ErrUnsupportedType) || !strings.Contains(err.Error(), `send to "ser"`) {
		t.Fatalf("value: %v", err)
	}
	_, err = tmpl.Send(ctx, "ser", "v", Key(func() {}))
	if !errors.Is(err, ErrSerialization) || !strings.Contains(err.Error(), "key") {
		t.Fatalf("key: %v", err)
	}
	fut := tmpl.SendAsync(ctx, "ser", make(chan int))
	if _, err := fut.Get(ctx); !errors.Is(err, ErrSerialization) {
		t.Fatalf("async: %v", err)
	}
	if s, e := l.counts(); s != 0 || e != 3 {
		t.Fatalf("listener %d/%d", s, e)
	}
	if n := endOffsets(t, f.Client(), "ser"); n != 0 {
		t.Fatalf("%d records were produced", n)
	}
}

func TestDefaultTopicAndInterceptors(t *testing.T) {
	addrs := startBroker(t, "dflt")
	f := newFactory(t, addrs, map[string]any{"kafka.template.default-topic": "dflt"})
	ctx := testCtx(t)

	var seen atomic.Int32
	tmpl := f.Template(WithInterceptor(
		InterceptorFunc(func(_ context.Context, r *kgo.Record) error {
			seen.Add(1)
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "intercepted", Value: []byte("yes")})
			return nil
		}),
		InterceptorFunc(func(_ context.Context, r *kgo.Record) error {
			if string(r.Value) == "forbidden" {
				return errors.New("no forbidden values")
			}
			return nil
		}),
	))
	if tmpl.DefaultTopic() != "dflt" {
		t.Fatalf("default topic %q", tmpl.DefaultTopic())
	}
	res, err := tmpl.SendDefault(ctx, "hello")
	if err != nil || res.Topic != "dflt" {
		t.Fatalf("SendDefault: %+v, %v", res, err)
	}
	if _, err := tmpl.SendDefault(ctx, "forbidden"); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no forbidden values") {
		t.Fatalf("rejected: %v", err)
	}
	// SendRecord without a topic uses the default topic.
	if res, err := tmpl.SendRecord(ctx, &kgo.Record{Value: []byte("raw")}); err != nil || res.Topic != "dflt" {
		t.Fatalf("SendRecord: %+v, %v", res, err)
	}
	recs := consume(t, addrs, "dflt", 2, false)
	for _, r := range recs {
		if header(r, "intercepted") != "yes" {
			t.Fatalf("record %q headers %v", r.Value, r.Headers)
		}
	}
	if seen.Load() != 3 {
		t.Fatalf("interceptor ran %d times", seen.Load())
	}

	noDefault := New(f.Client())
	if _, err := noDefault.SendDefault(ctx, "x"); !errors.Is(err, ErrNoTopic) {
		t.Fatalf("no default topic: %v", err)
	}
	if _, err := noDefault.Send(ctx, "", "x"); !errors.Is(err, ErrNoTopic) {
		t.Fatalf("empty topic: %v", err)
	}
	if _, err := noDefault.SendRecord(ctx, &kgo.Record{}); !errors.Is(err, ErrNoTopic) {
		t.Fatalf("record without topic: %v", err)
	}
}

func TestCustomSerializers(t *testing.T) {
	addrs := startBroker(t, "custom")
	f := newFactory(t, addrs, nil)
	ctx := testCtx(t)
	tmpl := f.Template(
		WithSerializer(serde.NewJSON(serde.WithTypeMapping("com.example.Order", Order{}))),
		WithKeySerializer(serde.NewJSON(serde.WithTypeHeader(serde.KeyTypeIDHeader))),
	)
	if _, err := tmpl.Send(ctx, "custom", Order{ID: 5}, Key(Order{ID: 5})); err != nil {
		t.Fatal(err)
	}
	r := consume(t, addrs, "custom", 1, false)[0]
	if string(r.Key) != `{"id":5,"item":""}` || header(r, serde.TypeIDHeader) != "com.example.Order" || header(r, serde.KeyTypeIDHeader) != "template.Order" {
		t.Fatalf("key %q headers %v", r.Key, r.Headers)
	}
}

func TestTransactions(t *testing.T) {
	addrs := startBroker(t, "tx")
	ctx := testCtx(t)

	// Non-transactional templates and factories without a prefix.
	plain := newFactory(t, addrs, nil)
	err := plain.Template().ExecuteInTransaction(ctx, func(context.Context, *Template) error { return nil })
	if !errors.Is(err, ErrNotTransactional) {
		t.Fatalf("non-transactional: %v", err)
	}
	if _, err := plain.NewTransactional("a"); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("no prefix: %v", err)
	}

	f := newFactory(t, addrs, map[string]any{"kafka.producer.transactional-id-prefix": "tx-test-"})
	tmpl, err := f.TransactionalTemplate("1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewTransactional("1"); err == nil {
		t.Fatal("duplicate transactional id accepted")
	}

	// Committed transaction.
	err = tmpl.ExecuteInTransaction(ctx, func(ctx context.Context, tt *Template) error {
		if _, err := tt.Send(ctx, "tx", "committed-1"); err != nil {
			return err
		}
		tt.SendAsync(ctx, "tx", "committed-2") // flushed before the commit
		return nil
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	// Aborted transaction.
	boom := errors.New("boom")
	err = tmpl.ExecuteInTransaction(ctx, func(ctx context.Context, tt *Template) error {
		if _, err := tt.Send(ctx, "tx", "aborted"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "transaction aborted") {
		t.Fatalf("abort: %v", err)
	}
	// A panic aborts and propagates.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic not propagated")
			}
		}()
		_ = tmpl.ExecuteInTransaction(ctx, func(ctx context.Context, tt *Template) error {
			_, _ = tt.Send(ctx, "tx", "panicked")
			panic("boom")
		})
	}()
	// A later committed transaction still works, and read_committed
	// consumers see exactly the committed records.
	err = tmpl.ExecuteInTransaction(ctx, func(ctx context.Context, tt *Template) error {
		_, err := tt.Send(ctx, "tx", "committed-3")
		return err
	})
	if err != nil {
		t.Fatalf("commit after abort: %v", err)
	}
	got := map[string]bool{}
	for _, r := range consume(t, addrs, "tx", 3, true) {
		got[string(r.Value)] = true
	}
	for _, v := range []string{"committed-1", "committed-2", "committed-3"} {
		if !got[v] {
			t.Fatalf("missing %s in %v", v, got)
		}
	}
	if got["aborted"] || got["panicked"] {
		t.Fatalf("aborted records visible: %v", got)
	}
}

func TestFactoryLifecycle(t *testing.T) {
	addrs := startBroker(t)
	cfg := loadConfig(t, addrs, map[string]any{"kafka.producer.transactional-id-prefix": "p-"})
	f, err := NewProducerFactory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f.Client() == nil {
		t.Fatal("no shared client")
	}
	if _, ok := f.Client().OptValue(kgo.RecordPartitioner).(*explicitPartitioner); !ok {
		t.Fatal("shared client lacks the explicit partitioner")
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.NewTransactional("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}

	// Option errors surface at construction.
	bad := loadConfig(t, addrs, map[string]any{
		"kafka.security.protocol":    "SSL",
		"kafka.security.tls.ca-file": "/nonexistent/ca.pem",
	})
	if _, err := NewProducerFactory(bad); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("bad TLS: %v", err)
	}
	if _, err := NewProducerFactory(nil); err == nil {
		t.Fatal("nil config accepted")
	}
}

func TestLogging(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tmpl := New(cl, WithLogger(logger))
	if _, err := tmpl.Send(testCtx(t), "logged", make(chan int)); !errors.Is(err, ErrSerialization) {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "topic=logged") {
		t.Fatalf("log output: %q", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTypeHeaderNotShared: records of a template with no interceptor or
// listener share their type's header slice (serde.JSON.Serialize); with
// an interceptor, which sees the record, each has its own, so writing
// into it changes that record only.
func TestTypeHeaderNotShared(t *testing.T) {
	addrs := startBroker(t, "hdr")
	f := newFactory(t, addrs, nil)
	ctx := testCtx(t)
	var first atomic.Bool
	tmpl := f.Template(WithInterceptor(InterceptorFunc(func(_ context.Context, r *kgo.Record) error {
		if len(r.Headers) > 0 && first.CompareAndSwap(false, true) {
			r.Headers[0].Value = []byte("rewritten")
		}
		return nil
	})))
	for i := range 2 {
		if _, err := tmpl.Send(ctx, "hdr", Order{ID: i}); err != nil {
			t.Fatal(err)
		}
	}
	recs := consume(t, addrs, "hdr", 2, false)
	got := []string{header(recs[0], serde.TypeIDHeader), header(recs[1], serde.TypeIDHeader)}
	if got[0] != "rewritten" || got[1] == "rewritten" || got[1] == "" {
		t.Fatalf("type headers %q: want only the first rewritten", got)
	}
}
