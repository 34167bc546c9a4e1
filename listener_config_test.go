package kafkaboot_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/listener"
)

// TestListenerConfig: retry, back off, dead-letter topic and concurrency
// of single listeners from kafka.listeners.<id>, over their tags and the
// kafka.listener defaults.
func TestListenerConfig(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("orders", 2), kafkatest.Topic("payments", 2),
		kafkatest.Set("kafka.listener.back-off.max-retries", 5),
		kafkatest.Set("kafka.listeners.orders.concurrency", 2),
		kafkatest.Set("kafka.listeners.orders.back-off.max-retries", 2),
		kafkatest.Set("kafka.listeners.orders.dlt", "orders-failed"),
		kafkatest.Set("kafka.listeners.payments.retry.enabled", true),
		kafkatest.Set("kafka.listeners.payments.retry.attempts", 2),
		kafkatest.Set("kafka.listeners.payments.retry.delay", "100ms"))
	var (
		mu    sync.Mutex
		calls = map[string][]string{}
	)
	fail := func(_ context.Context, r *listener.Record[string]) error {
		mu.Lock()
		calls[r.Value] = append(calls[r.Value], r.Topic)
		mu.Unlock()
		return errors.New("always fails")
	}
	app := kit.Start(
		kafkaboot.Listen("id=orders,topics=orders,group=orders", listener.RecordFunc[string](fail)),
		kafkaboot.Listen("id=payments,topics=payments,group=payments", listener.RecordFunc[string](fail)),
	)
	app.WaitAssigned("orders")
	app.WaitAssigned("payments")
	if n := app.Container("orders").Endpoint().EffectiveConcurrency(); n != 2 {
		t.Errorf("orders concurrency %d, want 2", n)
	}
	kit.Send("orders", "o-1")
	kit.Send("payments", "p-1")
	if dl := kit.ExpectDLT("orders-failed", 1)[0]; dl.OriginalTopic != "orders" {
		t.Errorf("orders-failed: %+v", dl.DeadLetterInfo)
	}
	if dl := kit.ExpectDLT("payments-dlt", 1)[0]; dl.OriginalTopic != "payments" {
		t.Errorf("payments-dlt: %+v", dl.DeadLetterInfo)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := calls["o-1"]; len(got) != 3 {
		t.Errorf("o-1 delivered %d times (%v), want 3: max-retries 2 from kafka.listeners.orders", len(got), got)
	}
	if got := strings.Join(calls["p-1"], " "); got != "payments payments-retry" {
		t.Errorf("p-1 delivered from %q, want the main topic then payments-retry", got)
	}
}

// TestListenerConfigUnknownID: a kafka.listeners entry naming no listener
// fails the start, naming the key and the listeners there are.
func TestListenerConfigUnknownID(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Set("kafka.listeners.ordres.concurrency", 2))
	app := fx.New(fx.NopLogger, kafkaboot.Module, kit.ConfigOptions(),
		kafkaboot.Listen("id=orders,topics=orders", func(context.Context, string) error { return nil }))
	err := app.Err()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = app.Start(ctx)
		defer app.Stop(context.Background())
	}
	want := `config: kafka.listeners.ordres: no listener has the id "ordres" (listeners: orders)`
	if err == nil || kafkaboot.Cause(err).Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestListenerTypeBatch: kafka.listener.type=batch (Spring Boot's
// spring.kafka.listener.type) makes a handler taking a slice a batch
// listener without the batch attribute.
func TestListenerTypeBatch(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("lines", 1), kafkatest.Set("kafka.listener.type", "batch"))
	batches := make(chan []string, 10)
	app := kit.Start(kafkaboot.Listen("id=lines,topics=lines,group=lines", func(_ context.Context, lines []string) error {
		batches <- lines
		return nil
	}))
	if !app.Container("lines").Endpoint().Batch {
		t.Fatal("not a batch listener")
	}
	app.WaitAssigned("lines")
	kit.Send("lines", "a")
	select {
	case b := <-batches:
		if len(b) != 1 || b[0] != "a" {
			t.Fatalf("batch %q", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no batch")
	}
}
