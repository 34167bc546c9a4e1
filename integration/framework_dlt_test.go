package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fwRetryListeners: one handler on the retry topic; what it does with a
// record depends on the record's value (see TestFrameworkRetryThenDLT).
type fwRetryListeners struct {
	Orders func(context.Context, *listener.Record[fwOrder]) error `kafka:"id=retry,topics=retry-orders,group=retry"`
}

// errFwBoom is the failure of the retry tests.
var errFwBoom = errors.New("boom: payment service down")

// TestFrameworkRetryThenDLT: with a back off of 3 retries, a record whose
// handler always fails is delivered 4 times and then lands in
// <topic>.DLT with the kafka_dlt-* headers; one that fails twice is
// delivered 3 times and processed; a NotRetryable failure is delivered
// once and dead-lettered at once; every record is committed.
func TestFrameworkRetryThenDLT(t *testing.T) {
	c := fwCluster(t, fwTopics(3, "retry-orders", "retry-orders.DLT")...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())

	var (
		mu       sync.Mutex
		attempts = map[string]int{}
	)
	ls := &fwRetryListeners{Orders: func(_ context.Context, r *listener.Record[fwOrder]) error {
		mu.Lock()
		attempts[r.Value.ID]++
		n := attempts[r.Value.ID]
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.Value.ID, "always"):
			return fmt.Errorf("order %s: %w", r.Value.ID, errFwBoom)
		case strings.HasPrefix(r.Value.ID, "twice") && n <= 2:
			return fmt.Errorf("order %s attempt %d: %w", r.Value.ID, n, errFwBoom)
		case strings.HasPrefix(r.Value.ID, "fatal"):
			return container.NotRetryable(fmt.Errorf("order %s: invalid card", r.Value.ID))
		}
		return nil
	}}
	app := fwStartApp(t, ctx, fwValues(c.Addrs(), nil),
		kafkaboot.Listeners(func() *fwRetryListeners { return ls }),
		kafkaboot.ContainerOptions(container.WithErrorHandler(&container.ErrorHandler{
			BackOff: container.FixedBackOff{Interval: 20 * time.Millisecond, MaxRetries: 3},
		})))

	orders := []string{"ok-1", "always-1", "twice-1", "fatal-1", "ok-2", "always-2", "fatal-2"}
	sent := map[string]template.Result{}
	for i, id := range orders {
		res, err := app.tmpl.Send(ctx, "retry-orders", fwOrder{ID: id, Qty: i}, template.Key(id),
			template.Partition(int32(i%3)), template.Header("trace", "t-"+id))
		if err != nil {
			t.Fatal(err)
		}
		sent[id] = res
	}
	fwWaitCommitted(t, ctx, adm, "retry", "retry-orders", fwNonEmpty(fwEnds(t, ctx, adm, "retry-orders")))

	dead := fwConsume(t, ctx, c.Addrs(), "retry-orders.DLT", 4)
	if err := app.stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	want := map[string]int{"ok-1": 1, "ok-2": 1, "always-1": 4, "always-2": 4, "twice-1": 3, "fatal-1": 1, "fatal-2": 1}
	if !maps.Equal(attempts, want) {
		t.Errorf("deliveries %v, want %v", attempts, want)
	}
	mu.Unlock()

	got := map[string]bool{}
	for _, r := range dead {
		id := string(r.Key)
		res, ok := sent[id]
		if !ok || got[id] || !(strings.HasPrefix(id, "always") || strings.HasPrefix(id, "fatal")) {
			t.Errorf("unexpected dead letter %q", id)
			continue
		}
		got[id] = true
		fwCheckDeadLetter(t, r, "retry-orders", "retry", res)
		if trace := fwHeader(r, "trace"); trace != "t-"+id {
			t.Errorf("%s: original header trace=%q not kept", id, trace)
		}
		info, _ := container.ParseDeadLetter(r)
		t.Logf("dead letter %s: %s: %s (cause %s)", id, info.ExceptionType, info.ExceptionMessage, info.CauseType)
		var wantMsg string
		if strings.HasPrefix(id, "always") {
			wantMsg = fmt.Sprintf("order %s: %v", id, errFwBoom)
		} else {
			wantMsg = fmt.Sprintf("order %s: invalid card", id)
		}
		if !strings.Contains(info.ExceptionMessage, wantMsg) {
			t.Errorf("%s: exception message %q does not contain %q", id, info.ExceptionMessage, wantMsg)
		}
	}
}

// fwHeader returns the value of r's last header named key.
func fwHeader(r *kgo.Record, key string) string {
	v := ""
	for _, h := range r.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}

// fwCheckDeadLetter checks the kafka_dlt-* headers of dead letter r
// against the original record's topic, group and produce result, and that
// it went to the original partition.
func fwCheckDeadLetter(t *testing.T, r *kgo.Record, topic, group string, orig template.Result) {
	t.Helper()
	info, ok := container.ParseDeadLetter(r)
	if !ok {
		t.Errorf("dead letter %s[%d]@%d has no kafka_dlt headers: %v", r.Topic, r.Partition, r.Offset, r.Headers)
		return
	}
	if info.OriginalTopic != topic || info.OriginalPartition != orig.Partition || info.OriginalOffset != orig.Offset ||
		info.ConsumerGroup != group || !info.OriginalTimestamp.Equal(orig.Timestamp) {
		t.Errorf("dead letter of %s[%d]@%d (time %v, group %s) says %+v", topic, orig.Partition, orig.Offset,
			orig.Timestamp, group, info)
	}
	if r.Partition != orig.Partition {
		t.Errorf("dead letter of partition %d went to partition %d", orig.Partition, r.Partition)
	}
	if info.ExceptionMessage == "" || info.ExceptionType == "" {
		t.Errorf("dead letter without exception message or type: %+v", info)
	}
}

// fwStrictOrder is the payload of the poison pill tests; its validate tags
// make the listener validate it.
type fwStrictOrder struct {
	ID  string `json:"id" validate:"required"`
	Qty int    `json:"qty" validate:"gt=0"`
}

type fwPoisonListeners struct {
	Orders func(context.Context, fwStrictOrder, listener.Metadata) error `kafka:"id=poison,topics=poison-orders"`
}

// TestFrameworkPoisonPill: raw garbage produced to a JSON topic by a plain
// client, a truncated JSON document and a payload failing validation go
// to the dead-letter topic with their original bytes, without a handler
// call and without retries (the back off would take seconds), while the
// later records of the same partition are processed in order.
func TestFrameworkPoisonPill(t *testing.T) {
	c := fwCluster(t, fwTopics(2, "poison-orders", "poison-orders.DLT")...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())

	var (
		mu  sync.Mutex
		got []string
	)
	ls := &fwPoisonListeners{Orders: func(_ context.Context, o fwStrictOrder, md listener.Metadata) error {
		mu.Lock()
		got = append(got, fmt.Sprintf("%d/%d:%s", md.Partition, md.Offset, o.ID))
		mu.Unlock()
		return nil
	}}
	start := time.Now()
	fwStartApp(t, ctx, fwValues(c.Addrs(), nil),
		kafkaboot.Listeners(func() *fwPoisonListeners { return ls }),
		kafkaboot.ContainerOptions(container.WithErrorHandler(&container.ErrorHandler{
			BackOff: container.FixedBackOff{Interval: 2 * time.Second, MaxRetries: 5},
		})))

	garbage := []byte{0xff, 0x00, 0xfe, '{', 'x', 0x80}
	truncated := []byte(`{"id":"o-3","qty":`)
	invalid := []byte(`{"id":"","qty":0}`)
	rec := func(v []byte) *kgo.Record {
		return &kgo.Record{Topic: "poison-orders", Partition: 0, Key: []byte("k"), Value: v}
	}
	recs := []*kgo.Record{
		rec([]byte(`{"id":"o-1","qty":1}`)),
		rec(garbage),
		rec([]byte(`{"id":"o-2","qty":2}`)),
		rec(truncated),
		rec(invalid),
		rec([]byte(`{"id":"o-4","qty":4}`)),
	}
	fwProduceRaw(t, ctx, c.Addrs(), recs...)
	fwWaitCommitted(t, ctx, adm, "poison", "poison-orders", map[int32]int64{0: 6})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v: bad records were retried", d)
	}
	mu.Lock()
	if want := []string{"0/0:o-1", "0/2:o-2", "0/5:o-4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("processed %v, want %v", got, want)
	}
	mu.Unlock()

	dead := fwConsume(t, ctx, c.Addrs(), "poison-orders.DLT", 3)
	wantBytes := map[int64][]byte{1: garbage, 3: truncated, 4: invalid}
	for _, r := range dead {
		info, ok := container.ParseDeadLetter(r)
		if !ok {
			t.Fatalf("dead letter without headers: %v", r.Headers)
		}
		t.Logf("dead letter of offset %d: %s: %s", info.OriginalOffset, info.ExceptionType, info.ExceptionMessage)
		want, found := wantBytes[info.OriginalOffset]
		if !found || string(r.Value) != string(want) || string(r.Key) != "k" {
			t.Errorf("dead letter of offset %d holds key %q value %q", info.OriginalOffset, r.Key, r.Value)
		}
		delete(wantBytes, info.OriginalOffset)
		if info.OriginalTopic != "poison-orders" || info.OriginalPartition != 0 || r.Partition != 0 || info.ConsumerGroup != "poison" {
			t.Errorf("dead letter headers %+v (in partition %d)", info, r.Partition)
		}
		kind := "deserializ"
		if info.OriginalOffset == 4 {
			kind = "valid"
		}
		if !strings.Contains(strings.ToLower(info.ExceptionMessage), kind) {
			t.Errorf("dead letter of offset %d: exception %q (%s) does not mention %q", info.OriginalOffset,
				info.ExceptionMessage, info.ExceptionType, kind)
		}
	}
}

type fwBatchRetryListeners struct {
	Orders func(context.Context, []*listener.Record[fwOrder]) error `kafka:"id=batch-retry,topics=batch-retry,batch"`
}

// TestFrameworkBatchRetryThenDLT: a batch handler reports its failing
// record with container.BatchFailed. The records before it are committed
// and not delivered again, the failing record is retried at the head of
// the batch (1 + 3 deliveries) and then dead-lettered alone, and the
// records after it are processed once.
func TestFrameworkBatchRetryThenDLT(t *testing.T) {
	c := fwCluster(t, fwTopics(1, "batch-retry", "batch-retry.DLT")...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())

	var (
		mu        sync.Mutex
		processed = map[string]int{}
		heads     = map[string]int{} // failing record at the head of a batch
		calls     int
	)
	ls := &fwBatchRetryListeners{Orders: func(_ context.Context, rs []*listener.Record[fwOrder]) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		for i, r := range rs {
			if r.Value.ID == "bad" {
				if i == 0 {
					heads["bad"]++
				}
				return container.BatchFailed(i, fmt.Errorf("order %s: %w", r.Value.ID, errFwBoom))
			}
			processed[r.Value.ID]++
		}
		return nil
	}}
	app := fwStartApp(t, ctx, fwValues(c.Addrs(), nil),
		kafkaboot.Listeners(func() *fwBatchRetryListeners { return ls }),
		kafkaboot.ContainerOptions(container.WithErrorHandler(&container.ErrorHandler{
			BackOff: container.FixedBackOff{Interval: 20 * time.Millisecond, MaxRetries: 3},
		})))
	// Send everything before the listener sees any of it, asynchronously,
	// so that most of it arrives in one poll: one batch.
	ids := []string{"a", "b", "c", "bad", "d", "e"}
	var futures []*template.Future
	for _, id := range ids {
		futures = append(futures, app.tmpl.SendAsync(ctx, "batch-retry", fwOrder{ID: id}, template.Key(id)))
	}
	sent := map[string]template.Result{}
	for i, f := range futures {
		res, err := f.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sent[ids[i]] = res
	}
	fwWaitCommitted(t, ctx, adm, "batch-retry", "batch-retry", map[int32]int64{0: int64(len(ids))})
	dead := fwConsume(t, ctx, c.Addrs(), "batch-retry.DLT", 1)
	if err := app.stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}; !maps.Equal(processed, want) {
		t.Errorf("processed %v, want %v", processed, want)
	}
	// The first delivery of "bad" may be in the middle of a batch.
	if heads["bad"] < 3 || heads["bad"] > 4 {
		t.Errorf("the failing record headed %d batches, want 3 retries (4 with the first delivery)", heads["bad"])
	}
	t.Logf("%d handler calls", calls)
	if string(dead[0].Key) != "bad" {
		t.Fatalf("dead letter %q, want bad", dead[0].Key)
	}
	fwCheckDeadLetter(t, dead[0], "batch-retry", "batch-retry", sent["bad"])
}
