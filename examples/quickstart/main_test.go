package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/template"
)

// TestRun runs the example as `go run ./examples/quickstart` does, so that
// go test keeps it working.
func TestRun(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}

// TestBilling tests the service with the test kit: valid orders are
// billed, the invalid one is in the dead-letter topic with the reason.
func TestBilling(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("orders", 3), kafkatest.Set("app.topics.orders", "orders"))
	b := NewBilling()
	kit.Start(Listeners(b)).WaitAssigned("billing")
	for _, o := range []Order{{"o-1", "coffee", 2}, {"o-2", "", 1}, {"o-3", "tea", 1}, {"o-4", "bagel", 6}, {"o-5", "juice", 3}, {"o-6", "muffin", 1}} {
		kit.Send("orders", o, template.Key(o.ID))
	}
	if dl := kit.ExpectDLT("orders.DLT", 1)[0]; string(dl.Record.Key) != "o-2" || !strings.Contains(dl.ExceptionMessage, "Item") {
		t.Fatalf("dead letter %s: %s", dl.Record.Key, dl.ExceptionMessage)
	}
	select {
	case <-b.done: // closed after 5 orders
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of 5 orders billed", b.processed.Load())
	}
}
