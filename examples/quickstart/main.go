// Command quickstart shows kafkaboot end to end: it starts a 3-node
// embedded Kafka cluster, runs an fx application with a template and
// struct-tag listeners, sends orders, shows them processed, shows an invalid
// order landing in the dead-letter topic with the reason in its headers, and
// exits 0.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

// Order is the payload of the orders topic; invalid orders are refused by
// validation before the handler sees them.
type Order struct {
	ID       string `json:"id" validate:"required"`
	Item     string `json:"item" validate:"required"`
	Quantity int    `json:"quantity" validate:"gt=0"`
}

// Billing is the application's service.
type Billing struct {
	processed atomic.Int64
	done      chan struct{}
	dead      chan string
}

// OnOrder bills one order; the record carries the decoded, validated
// Order and the record's metadata.
func (b *Billing) OnOrder(_ context.Context, r *listener.Record[Order]) error {
	o := r.Value
	fmt.Printf("processed order %s: %d x %s (partition %d, offset %d)\n", o.ID, o.Quantity, o.Item, r.Partition, r.Offset)
	if b.processed.Add(1) == 5 {
		close(b.done)
	}
	return nil
}

// OnDeadLetter reports what landed in the dead-letter topic.
func (b *Billing) OnDeadLetter(_ context.Context, r *listener.Record[[]byte]) error {
	reason, _ := r.Header(container.HeaderDLTExceptionMessage)
	topic, _ := r.Header(container.HeaderDLTOriginalTopic)
	b.dead <- fmt.Sprintf("dead letter from %s: %s\n  reason: %s", topic, r.Value, strings.TrimSpace(string(reason)))
	return nil
}

// Listeners are the application's Kafka listeners, each declared once:
// its tag (listener/doc.go documents it) and its handler.
// listener.RecordFunc[T] is the handler form func(context.Context,
// *listener.Record[T]) error as a generic type, which the container calls
// without reflection; a plain method value of that signature works too.
func Listeners(b *Billing) fx.Option {
	return fx.Options(
		kafkaboot.Listen("id=billing,topics=${app.topics.orders},group=billing,concurrency=3", listener.RecordFunc[Order](b.OnOrder)),
		kafkaboot.Listen("id=dlt-monitor,topics=${app.topics.orders}.DLT,group=monitor,dlt=none", listener.RecordFunc[[]byte](b.OnDeadLetter)),
	)
}

// NewBilling returns the service; done is closed after 5 orders.
func NewBilling() *Billing { return &Billing{done: make(chan struct{}), dead: make(chan string, 1)} }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cluster, err := embeddedbroker.Start(ctx, embeddedbroker.Nodes(3))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Printf("embedded Kafka: 3 nodes at %s\n", strings.Join(cluster.Addrs(), ","))

	billing := NewBilling()
	var tmpl *template.Template
	app := fx.New(
		fx.NopLogger,
		kafkaboot.Module,
		kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(map[string]any{
			"kafka.bootstrap-servers":          strings.Join(cluster.Addrs(), ","),
			"kafka.consumer.auto-offset-reset": "earliest",
			"kafka.admin.topics.0.name":        "orders",
			"kafka.admin.topics.0.partitions":  3,
			"kafka.admin.topics.1.name":        "orders.DLT",
			"kafka.admin.topics.1.partitions":  3,
			"app.topics.orders":                "orders",
		})),
		Listeners(billing),
		fx.Populate(&tmpl),
	)
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer app.Stop(context.Background())

	orders := []Order{
		{"o-1", "coffee", 2}, {"o-2", "tea", 1}, {"o-3", "bagel", 6},
		{"o-4", "", 1}, // invalid: no item
		{"o-5", "juice", 3}, {"o-6", "muffin", 1},
	}
	for _, o := range orders {
		res, err := tmpl.Send(ctx, "orders", o, template.Key(o.ID))
		if err != nil {
			return err
		}
		fmt.Printf("sent order %s to partition %d at offset %d\n", o.ID, res.Partition, res.Offset)
	}
	select {
	case <-billing.done:
	case <-ctx.Done():
		return fmt.Errorf("orders not processed: %w", ctx.Err())
	}
	select {
	case msg := <-billing.dead:
		fmt.Println(msg)
	case <-ctx.Done():
		return fmt.Errorf("invalid order not dead-lettered: %w", ctx.Err())
	}
	if err := app.Stop(ctx); err != nil {
		return err
	}
	fmt.Printf("done: %d orders processed, 1 invalid order in orders.DLT\n", billing.processed.Load())
	return nil
}
