// Command schemas shows two services sharing a topic through the schema
// registry. The orders service writes Avro records of
// com.example.orders.Order; the billing service reads them. The orders
// service evolves the schema compatibly (v2 adds a currency with a default
// and an optional note) while billing still reads with v1; a billing
// service upgraded to v2 reads the old records with the default currency;
// and an incompatible change (v3: quantity becomes a string) is refused by
// the registry before any record is written.
//
// Everything runs on a 3-node embedded cluster with the embedded schema
// registry, which keeps the schemas in the cluster's _schemas topic. Both
// services select Confluent's Avro serializer by configuration:
//
//	kafka:
//	  schema-registry:
//	    url: http://127.0.0.1:8081
//	  producer:
//	    value-serializer: avro
//	  consumer:
//	    value-deserializer: avro
//
//	go run ./examples/schemas
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/template"
)

// The versions of com.example.orders.Order, as the services would keep
// them in their repositories (and kafkaboot produce --value-schema-file
// reads them).
var (
	//go:embed order-v1.avsc
	orderV1Schema string
	//go:embed order-v2.avsc
	orderV2Schema string
	//go:embed order-v3-incompatible.avsc
	orderV3Schema string
)

// OrderV1 is an order as schema version 1 has it.
type OrderV1 struct {
	ID       string `avro:"id"`
	Item     string `avro:"item"`
	Quantity int    `avro:"quantity"`
}

// OrderV2 adds a currency (default EUR) and an optional note: a backward
// compatible change, as the subject's compatibility level (BACKWARD, the
// registry's default) asks.
type OrderV2 struct {
	ID       string  `avro:"id"`
	Item     string  `avro:"item"`
	Quantity int     `avro:"quantity"`
	Currency string  `avro:"currency"`
	Note     *string `avro:"note"`
}

// OrderV3 makes quantity a string: readers of v2 could not read it, so
// the registry refuses the schema.
type OrderV3 struct {
	ID       string  `avro:"id"`
	Item     string  `avro:"item"`
	Quantity string  `avro:"quantity"`
	Currency string  `avro:"currency"`
	Note     *string `avro:"note"`
}

// Billing is the billing service, reading orders as T.
type Billing[T any] struct{ orders chan T }

// NewBilling returns a billing service that keeps up to 100 orders.
func NewBilling[T any]() *Billing[T] { return &Billing[T]{orders: make(chan T, 100)} }

// OnOrder bills one order.
func (b *Billing[T]) OnOrder(_ context.Context, o T) error {
	b.orders <- o
	return nil
}

// BillingService is the billing service's application: its listener, and
// its schema of Order (the reader's schema records are resolved to).
func BillingService[T any](b *Billing[T], group, schema string) fx.Option {
	return fx.Options(
		kafkaboot.AvroSchema[T](schema),
		kafkaboot.Listen("id=billing,topics=orders,group="+group, b.OnOrder),
	)
}

// OrdersService is the orders service's application at one version of
// Order: its template writes T with schema, registered on first use.
func OrdersService[T any](schema string) fx.Option {
	return kafkaboot.AvroSchema[T](schema)
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "schemas:", err)
		os.Exit(1)
	}
}

// service starts an application on the configuration values.
func service(ctx context.Context, values map[string]any, opts ...fx.Option) (*fx.App, *template.Template, error) {
	var tmpl *template.Template
	app := fx.New(append([]fx.Option{fx.NopLogger, kafkaboot.Module,
		kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(values)),
		fx.Populate(&tmpl)}, opts...)...)
	if err := app.Start(ctx); err != nil {
		return nil, nil, kafkaboot.Cause(err)
	}
	return app, tmpl, nil
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cluster, err := embeddedbroker.Start(ctx, embeddedbroker.Nodes(3),
		embeddedbroker.Topics(3, "orders"), embeddedbroker.SchemaRegistry("127.0.0.1:0"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Fprintf(out, "embedded Kafka: 3 nodes at %s; schema registry at %s\n", strings.Join(cluster.Addrs(), ","), cluster.SchemaRegistryURL())
	values := map[string]any{
		"kafka.bootstrap-servers":           strings.Join(cluster.Addrs(), ","),
		"kafka.consumer.auto-offset-reset":  "earliest",
		"kafka.schema-registry.url":         cluster.SchemaRegistryURL(),
		"kafka.producer.value-serializer":   "avro",
		"kafka.consumer.value-deserializer": "avro",
	}

	// Billing, on schema v1, runs throughout.
	billing := NewBilling[OrderV1]()
	app, _, err := service(ctx, values, BillingService(billing, "billing", orderV1Schema))
	if err != nil {
		return err
	}
	defer app.Stop(context.Background())

	// The orders service at v1, then at v2.
	note := "gift wrap"
	if err := send(ctx, out, values, orderV1Schema, OrderV1{"o-1", "coffee", 2}, OrderV1{"o-2", "tea", 1}); err != nil {
		return err
	}
	if err := send(ctx, out, values, orderV2Schema, OrderV2{"o-3", "bagel", 6, "USD", nil}, OrderV2{"o-4", "juice", 3, "EUR", &note}); err != nil {
		return err
	}
	for range 4 {
		select {
		case o := <-billing.orders:
			fmt.Fprintf(out, "billing (v1) billed %s: %d x %s\n", o.ID, o.Quantity, o.Item)
		case <-ctx.Done():
			return fmt.Errorf("billing (v1): %w", ctx.Err())
		}
	}

	// v3 is refused: nothing is written.
	err = send(ctx, out, values, orderV3Schema, OrderV3{"o-5", "muffin", "one", "EUR", nil})
	if err == nil {
		return fmt.Errorf("the incompatible schema v3 was accepted")
	}
	fmt.Fprintf(out, "orders v3 refused: %v\n", err)

	// Billing upgraded to v2 reads every order again, in a group of its
	// own: v1's orders get the default currency.
	billingV2 := NewBilling[OrderV2]()
	app2, _, err := service(ctx, values, BillingService(billingV2, "billing-v2", orderV2Schema))
	if err != nil {
		return err
	}
	defer app2.Stop(context.Background())
	for range 4 {
		select {
		case o := <-billingV2.orders:
			n := ""
			if o.Note != nil {
				n = " (" + *o.Note + ")"
			}
			fmt.Fprintf(out, "billing (v2) billed %s: %d x %s in %s%s\n", o.ID, o.Quantity, o.Item, o.Currency, n)
		case <-ctx.Done():
			return fmt.Errorf("billing (v2): %w", ctx.Err())
		}
	}

	cl, err := sr.NewClient(sr.URLs(cluster.SchemaRegistryURL()))
	if err != nil {
		return err
	}
	versions, err := cl.SubjectVersions(ctx, "orders-value")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "done: subject orders-value has versions %v\n", versions)
	return nil
}

// send runs the orders service at one schema version for as long as it
// takes to send orders.
func send[T any](ctx context.Context, out io.Writer, values map[string]any, schema string, orders ...T) error {
	app, tmpl, err := service(ctx, values, OrdersService[T](schema))
	if err != nil {
		return err
	}
	defer app.Stop(context.Background())
	for _, o := range orders {
		res, err := tmpl.Send(ctx, "orders", o)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "orders sent %T %s to partition %d at offset %d\n", o, reflect.ValueOf(o).Field(0), res.Partition, res.Offset)
	}
	return nil
}
