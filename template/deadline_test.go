package template

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestSendWithoutBroker: with no broker reachable, the factory's client
// logs one WARN naming the dial error within a few seconds; a Send with a
// 2 s context returns within 2.5 s with an error that matches
// context.DeadlineExceeded and names the cause; its outcome still reaches
// the OnComplete callback later; Close with a 3 s context returns within
// 3.5 s, also naming the cause.
func TestSendWithoutBroker(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f, err := NewProducerFactory(loadConfig(t, []string{"127.0.0.1:1"}, nil), WithClientLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := f.Template(WithLogger(logger))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	completed := make(chan error, 1)
	_, err = tmpl.Send(ctx, "orders", "o-1", OnComplete(func(_ Result, err error) { completed <- err }))
	took := time.Since(start)
	if took > 2500*time.Millisecond {
		t.Errorf("Send with a 2 s context returned after %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), `send to "orders"`) {
		t.Errorf("Send error %q: want context.DeadlineExceeded naming the topic and the dial error", err)
	}
	t.Logf("Send returned after %v: %v", took.Round(time.Millisecond), err)

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, `level=WARN msg="kafka brokers unreachable"`) || !strings.Contains(out, "connection refused") {
		t.Errorf("no WARN naming the dial error within %v; log: %s", took, out)
	}
	if n := strings.Count(out, "kafka brokers unreachable"); n != 1 {
		t.Errorf("%d WARNs of the outage in %v, want 1 (a bounded rate)", n, took)
	}

	// The send's context ended before franz-go sent the record, so
	// franz-go failed it: the callback hears of it.
	select {
	case err := <-completed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the abandoned send completed with %v, want its context's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the abandoned send's outcome never reached OnComplete")
	}

	// A send without a deadline stays buffered; Close bounds the flush by
	// its own context, names the cause, and fails what is left.
	fut := tmpl.SendAsync(context.Background(), "orders", "o-2")
	err = closeWithin3s(t, f)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Close error %q: want context.DeadlineExceeded naming the dial error", err)
	}
	t.Logf("Close returned: %v", err)
	gctx, gcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer gcancel()
	if _, err := fut.Get(gctx); err == nil || errors.Is(err, context.DeadlineExceeded) && gctx.Err() != nil {
		t.Errorf("the buffered send after Close: %v, want it failed by the close", err)
	}
}

// TestSendAfterBrokerGone: a template whose broker goes away mid-run
// returns from a Send with a 2 s context within 2.5 s, with an error that
// matches context.DeadlineExceeded and names the broker-side cause, and
// logs the outage once.
func TestSendAfterBrokerGone(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "orders"))
	f := newFactory(t, c.Addrs(), nil, WithClientLogger(logger))
	tmpl := f.Template()
	if _, err := tmpl.Send(testCtx(t), "orders", "before"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := tmpl.Send(ctx, "orders", "after")
	took := time.Since(start)
	if took > 2500*time.Millisecond {
		t.Errorf("Send with a 2 s context returned after %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Errorf("Send error %q: want context.DeadlineExceeded naming the last broker error", err)
	}
	t.Logf("Send returned after %v: %v", took.Round(time.Millisecond), err)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "kafka brokers unreachable"); n != 1 {
		t.Errorf("%d WARNs of the outage, want 1; log: %s", n, out)
	}
	// The record may have been sent before the broker went: an
	// idempotent producer keeps it, so Close's flush is bounded by its
	// context, and names the cause.
	err = closeWithin3s(t, f)
	t.Logf("Close returned: %v", err)
}

// closeWithin3s closes f with a 3 s context, checks that Close returns
// within 3.5 s, and returns its error.
func closeWithin3s(t *testing.T, f *ProducerFactory) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err := f.Close(ctx)
	if took := time.Since(start); took > 3500*time.Millisecond {
		t.Errorf("Close with a 3 s context returned after %v", took)
	}
	return err
}

// TestDeliveryTimeout: kafka.producer.delivery-timeout is honoured: with
// the broker gone, an asynchronous send without a deadline completes with
// ErrDeliveryTimeout (kgo.ErrRecordTimeout) once the delivery timeout has
// passed, instead of staying pending, and so does a synchronous one.
func TestDeliveryTimeout(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "orders"))
	f := newFactory(t, c.Addrs(), map[string]any{"kafka.producer.delivery-timeout": "2s"})
	tmpl := f.Template()
	if _, err := tmpl.Send(testCtx(t), "orders", "before"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fut := tmpl.SendAsync(context.Background(), "orders", "after")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := fut.Get(ctx)
	took := time.Since(start)
	if !errors.Is(err, kgo.ErrRecordTimeout) {
		t.Fatalf("async send after %v: %v, want kgo.ErrRecordTimeout", took, err)
	}
	t.Logf("async send failed after %v: %v", took.Round(time.Millisecond), err)

	// A synchronous send without a deadline returns by the delivery
	// timeout too.
	start = time.Now()
	_, err = tmpl.Send(context.Background(), "orders", "sync")
	took = time.Since(start)
	if !errors.Is(err, ErrDeliveryTimeout) || !errors.Is(err, kgo.ErrRecordTimeout) || took > 10*time.Second {
		t.Fatalf("sync send after %v: %v, want ErrDeliveryTimeout", took, err)
	}
	t.Logf("sync send failed after %v: %v", took.Round(time.Millisecond), err)
}
