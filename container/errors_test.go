package container

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
)

var errBoom = errors.New("boom")

// TestRetryThenDeadLetter: a failing record is retried per the back off,
// then published to <topic>.DLT with the original bytes and Spring's
// headers; the partition moves on and everything is committed.
func TestRetryThenDeadLetter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"orders": 3, "orders.DLT": 3})
	var attempts atomic.Int32
	var got seen[string]
	e.start(&listener.Endpoint{ID: "retry", Group: "billing", Topics: []string{"orders"},
		Handler: func(_ context.Context, o Order) error {
			if o.ID == "bad" {
				attempts.Add(1)
				return errBoom
			}
			got.add(o.ID)
			return nil
		}}, WithErrorHandler(&ErrorHandler{BackOff: FixedBackOff{Interval: 10 * time.Millisecond, MaxRetries: 2}}))
	e.produce(
		&kgo.Record{Topic: "orders", Partition: 2, Value: []byte(`{"id":"a"}`)},
		&kgo.Record{Topic: "orders", Partition: 2, Key: []byte("k1"), Value: []byte(`{"id":"bad"}`),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}},
		&kgo.Record{Topic: "orders", Partition: 2, Value: []byte(`{"id":"c"}`)},
	)
	dl := e.readAll("orders.DLT", 1)[0]
	waitFor(t, 10*time.Second, func() bool { return got.len() == 2 }, "records after the failed one")
	if n := attempts.Load(); n != 3 {
		t.Errorf("attempts = %d, want 3 (1 + 2 retries)", n)
	}
	if dl.Partition != 2 || string(dl.Key) != "k1" || string(dl.Value) != `{"id":"bad"}` {
		t.Errorf("dead letter = partition %d key %q value %q", dl.Partition, dl.Key, dl.Value)
	}
	if v, _ := header(dl, "trace"); string(v) != "t-1" {
		t.Errorf("original header lost: %v", dl.Headers)
	}
	info, ok := ParseDeadLetter(dl)
	if !ok || info.OriginalTopic != "orders" || info.OriginalPartition != 2 || info.OriginalOffset != 1 ||
		info.ConsumerGroup != "billing" || info.ExceptionMessage != "boom" || info.ExceptionType != "*errors.errorString" ||
		info.OriginalTimestamp.IsZero() {
		t.Errorf("dead letter info = %+v", info)
	}
	for _, h := range []string{HeaderDLTOriginalTopic, HeaderDLTOriginalPartition, HeaderDLTOriginalOffset,
		HeaderDLTOriginalTimestamp, HeaderDLTExceptionMessage, HeaderDLTExceptionFQCN, HeaderDLTOriginalConsumerGroup} {
		if _, ok := header(dl, h); !ok {
			t.Errorf("missing header %s", h)
		}
	}
	waitFor(t, 10*time.Second, func() bool { return e.committed("billing")["orders"][2] == 3 }, "commit past the dead letter")
}

// TestPoisonPillAndValidation: undeserializable and invalid records skip
// retries and the handler, go to the DLT, and later records of the same
// partition are processed.
func TestPoisonPillAndValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"in": 1, "in.DLT": 1})
	var got seen[string]
	c := e.start(ep("in", func(_ context.Context, o Order) error { got.add(o.ID); return nil }),
		WithErrorHandler(&ErrorHandler{BackOff: FixedBackOff{Interval: time.Hour, MaxRetries: Unlimited}}))
	e.produceValues("in", 0, `{"id":"a"}`, `{not json`, `{"id":"b"}`, `{"amount":5}`, `{"id":"c","amount":-1}`, `{"id":"d"}`)
	dls := e.readAll("in.DLT", 3)
	waitFor(t, 10*time.Second, func() bool { return got.len() == 3 }, "valid records")
	if g := strings.Join(got.all(), ","); g != "a,b,d" {
		t.Errorf("handled %s, want a,b,d", g)
	}
	wantTypes := []string{"*listener.DecodeError", "*listener.ValidationError", "*listener.ValidationError"}
	for i, dl := range dls {
		info, _ := ParseDeadLetter(dl)
		if info.ExceptionType != wantTypes[i] {
			t.Errorf("dead letter %d: type %q (%s), want %s", i, info.ExceptionType, info.ExceptionMessage, wantTypes[i])
		}
	}
	if i, _ := ParseDeadLetter(dls[1]); i.CauseType != "validator.ValidationErrors" {
		t.Errorf("validation cause type = %q", i.CauseType)
	}
	stop(t, c)
	if got := e.committed("in")["in"][0]; got != 6 {
		t.Errorf("committed %d, want 6", got)
	}
}

// failingPublisher fails the first n dead-letter publications.
type failingPublisher struct {
	Publisher
	fails atomic.Int32
}

func (p *failingPublisher) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	if p.fails.Add(-1) >= 0 {
		return kgo.ProduceResults{{Record: rs[0], Err: errors.New("broker says no")}}
	}
	return p.Publisher.ProduceSync(ctx, rs...)
}

// TestDeadLetterFailureBlocksCommit: while the DLT cannot be written the
// record is not committed and the partition does not move on; once it can,
// the record is dead-lettered and processing continues.
func TestDeadLetterFailureBlocksCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"p": 1, "p.DLT": 1})
	pub := &failingPublisher{Publisher: e.cl}
	pub.fails.Store(1 << 30)
	var got seen[string]
	var cm commits
	e.start(ep("p", func(_ context.Context, s string) error {
		if s == "bad" {
			return NotRetryable(errBoom)
		}
		got.add(s)
		return nil
	}), WithPublisher(pub), cm.listener(), WithAckMode(listener.AckRecord),
		WithErrorHandler(&ErrorHandler{RecoveryRetryInterval: 5 * time.Millisecond}))
	e.produceValues("p", 0, "a", "bad", "c")
	waitFor(t, 10*time.Second, func() bool { return pub.fails.Load() < 1<<30-5 }, "failed recoveries")
	if g := got.all(); len(g) != 1 {
		t.Fatalf("partition moved on past an unrecovered record: %v", g)
	}
	if o := cm.offsets("p", 0); len(o) != 1 || o[0] != 1 {
		t.Fatalf("commits %v, want [1]", o)
	}
	pub.fails.Store(0)
	waitFor(t, 10*time.Second, func() bool { return got.len() == 2 }, "record after the dead letter")
	if dl := e.readAll("p.DLT", 1)[0]; string(dl.Value) != "bad" {
		t.Errorf("dead letter %q", dl.Value)
	}
	waitFor(t, 10*time.Second, func() bool { return e.committed("p")["p"][0] == 3 }, "commit")
}

// TestNotRetryableAndPanic: NotRetryable errors, configured errors and
// panics; panics are retried (they are errors) and their stack reaches the
// dead letter.
func TestNotRetryableAndPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"n": 1, "n.DLT": 1})
	errFatal := errors.New("fatal")
	var mu sync.Mutex
	attempts := map[string]int{}
	e.start(ep("n", func(_ context.Context, s string) error {
		mu.Lock()
		attempts[s]++
		mu.Unlock()
		switch s {
		case "wrapped":
			return NotRetryable(errBoom)
		case "listed":
			return errors.Join(errors.New("ctx"), errFatal)
		case "panic":
			panic("handler bug")
		}
		return nil
	}), WithErrorHandler(&ErrorHandler{BackOff: FixedBackOff{MaxRetries: 2}, NotRetryableErrors: []error{errFatal}}))
	e.produceValues("n", 0, "wrapped", "listed", "panic", "ok")
	dls := e.readAll("n.DLT", 3)
	waitFor(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return attempts["ok"] == 1 }, "ok record")
	mu.Lock()
	defer mu.Unlock()
	if attempts["wrapped"] != 1 || attempts["listed"] != 1 || attempts["panic"] != 3 {
		t.Errorf("attempts = %v, want wrapped:1 listed:1 panic:3", attempts)
	}
	info, _ := ParseDeadLetter(dls[2])
	if info.ExceptionType != "*listener.PanicError" || !strings.Contains(info.Stacktrace, "TestNotRetryableAndPanic") {
		t.Errorf("panic dead letter = %+v", info)
	}
}

// TestBatchErrors: a BatchListenerFailedError commits the records before
// the index, retries from the failing record, dead-letters it alone and
// continues; a poison pill inside a batch splits the batch around it; any
// other error fails (and finally dead-letters) the whole batch.
func TestBatchErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"b": 1, "b.DLT": 1})
	var mu sync.Mutex
	var calls [][]string
	e.produceValues("b", 0, `{"id":"a"}`, `{"id":"fail-at"}`, `{"id":"c"}`, `garbage`, `{"id":"d"}`, `{"id":"whole"}`)
	c := e.start(&listener.Endpoint{ID: "b", Topics: []string{"b"}, Batch: true,
		Handler: func(_ context.Context, os []Order) error {
			var ids []string
			for _, o := range os {
				ids = append(ids, o.ID)
			}
			mu.Lock()
			calls = append(calls, ids)
			mu.Unlock()
			for i, o := range os {
				if o.ID == "fail-at" {
					return BatchFailed(i, errBoom)
				}
				if o.ID == "whole" {
					return errBoom
				}
			}
			return nil
		}}, WithErrorHandler(&ErrorHandler{BackOff: FixedBackOff{MaxRetries: 1}}))
	dls := e.readAll("b.DLT", 4)
	var dlv []string
	for _, d := range dls {
		dlv = append(dlv, string(d.Value))
	}
	if want := `{"id":"fail-at"}|garbage|{"id":"d"}|{"id":"whole"}`; strings.Join(dlv, "|") != want {
		t.Errorf("dead letters %s, want %s", strings.Join(dlv, "|"), want)
	}
	stop(t, c)
	if got := e.committed("b")["b"][0]; got != 6 {
		t.Errorf("committed %d, want 6", got)
	}
	mu.Lock()
	defer mu.Unlock()
	// All six records come in one poll: batch [a fail-at c] (the poison
	// pill splits it), then [d whole] after the pill was dead-lettered.
	count := map[string]int{}
	for _, call := range calls {
		for _, id := range call {
			count[id]++
		}
	}
	if count["fail-at"] != 2 || count["whole"] != 2 || count["a"] != 1 || count["c"] < 1 || count["d"] != 2 {
		t.Errorf("calls %v", calls)
	}
}
