package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/template"
)

// TestRun runs the example as `go run ./examples/transactions` does, so that
// go test keeps it working.
func TestRun(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}

// TestLedger tests the service with the test kit: payments are sent in
// transactions with the application's transactional template, the second
// transaction is rolled back, and the ledger's listener, reading
// read_committed, sees exactly the committed payments and none of the
// rolled-back one.
func TestLedger(t *testing.T) {
	// One partition keeps the records in the order sent: when the ledger
	// has seen its 4 payments, it has been given every record sent before
	// the last of them, p-3 among them, which would be one of the 4 if
	// the listener saw it.
	kit := kafkatest.New(t, kafkatest.Topic("payments", 1),
		kafkatest.Set("kafka.producer.transactional-id-prefix", "payments-"),
		kafkatest.Set("kafka.consumer.isolation-level", "read_committed"))
	ledger := NewLedger(4)
	var tx *template.Template
	kit.Start(Listeners(ledger), fx.Populate(fx.Annotate(&tx, fx.ParamTags(`name:"transactional"`)))).WaitAssigned("ledger")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Pay(ctx, tx, 1, []Payment{{"p-1", 10}, {"p-2", 20}}); err != nil {
		t.Fatalf("transaction 1: %v", err)
	}
	if err := Pay(ctx, tx, 2, []Payment{{"p-3", 30}, {"p-4", -1}}); !errors.Is(err, errDeclined) {
		t.Fatalf("transaction 2 (p-4 declined): %v, want %v", err, errDeclined)
	}
	if err := Pay(ctx, tx, 3, []Payment{{"p-5", 50}, {"p-6", 60}}); err != nil {
		t.Fatalf("transaction 3: %v", err)
	}

	select {
	case <-ledger.All():
	case <-time.After(30 * time.Second):
		t.Fatalf("the ledger saw %v, not 4 payments", ledger.Seen())
	}
	committed := []string{"p-1", "p-2", "p-5", "p-6"}
	if got := ledger.Seen(); !slices.Equal(got, committed) {
		t.Fatalf("the ledger saw %v, want the committed payments %v", got, committed)
	}
	// The topic holds the same committed payments for any read_committed
	// consumer.
	var ids []string
	for _, p := range kafkatest.Consume[Payment](kit, "payments", 4) {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, committed) {
		t.Fatalf("committed payments in the topic: %v, want %v", ids, committed)
	}
}
