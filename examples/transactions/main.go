// Command transactions shows Kafka transactions with kafkaboot on the
// embedded broker: a transactional template sends payments in transactions,
// one of which fails and is rolled back, and a listener reading with
// isolation level read_committed sees exactly the committed payments.
//
//	go run ./examples/transactions
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

// Payment is the payload of the payments topic.
type Payment struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

// Ledger records the payments its listener sees.
type Ledger struct {
	mu   sync.Mutex
	seen []string
	all  chan struct{} // closed when want payments were seen
	want int
}

// OnPayment records a committed payment.
func (l *Ledger) OnPayment(_ context.Context, r *listener.Record[Payment]) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, r.Value.ID)
	fmt.Printf("listener (read_committed) got payment %s: %d (partition %d, offset %d)\n", r.Value.ID, r.Value.Amount, r.Partition, r.Offset)
	if len(l.seen) == l.want {
		close(l.all)
	}
	return nil
}

// NewLedger returns a ledger whose All channel is closed once it has seen
// want payments.
func NewLedger(want int) *Ledger { return &Ledger{all: make(chan struct{}), want: want} }

// All is closed once the ledger has seen the payments it wants.
func (l *Ledger) All() <-chan struct{} { return l.all }

// Seen returns the ids of the payments seen, in the order seen.
func (l *Ledger) Seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

// Listeners are the application's Kafka listeners, each declared once:
// its tag (listener/doc.go documents it) and its handler. The ledger's
// listener reads with the isolation level of kafka.consumer.isolation-level
// (read_committed here).
func Listeners(l *Ledger) fx.Option {
	return kafkaboot.Listen("id=ledger,topics=payments,group=ledger", listener.RecordFunc[Payment](l.OnPayment))
}

var errDeclined = errors.New("card declined")

// Pay sends a batch of payments in one transaction of tx, the n-th: all
// of them are committed, or none when one is declined (a negative
// amount), and the error wraps errDeclined.
func Pay(ctx context.Context, tx *template.Template, n int, batch []Payment) error {
	return tx.ExecuteInTransaction(ctx, func(ctx context.Context, t *template.Template) error {
		for _, p := range batch {
			if p.Amount < 0 {
				return fmt.Errorf("payment %s: %w", p.ID, errDeclined)
			}
			res, err := t.Send(ctx, "payments", p, template.Key(p.ID))
			if err != nil {
				return err
			}
			fmt.Printf("transaction %d: sent payment %s to partition %d at offset %d\n", n, p.ID, res.Partition, res.Offset)
		}
		return nil
	})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "transactions:", err)
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

	ledger := NewLedger(4)
	var factory *template.ProducerFactory
	app := fx.New(
		fx.NopLogger,
		kafkaboot.Module,
		kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(map[string]any{
			"kafka.bootstrap-servers":                          strings.Join(cluster.Addrs(), ","),
			"kafka.producer.transactional-id-prefix":           "payments-",
			"kafka.consumer.auto-offset-reset":                 "earliest",
			"kafka.consumer.isolation-level":                   "read_committed",
			"kafka.admin.topics.0.name":                        "payments",
			"kafka.admin.topics.0.partitions":                  3,
			"kafka.admin.topics.0.replication-factor":          3,
			"kafka.admin.topics.0.configs.min.insync.replicas": "2",
		})),
		Listeners(ledger),
		fx.Populate(&factory),
	)
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer app.Stop(context.Background())

	tx, err := factory.TransactionalTemplate("1")
	if err != nil {
		return err
	}
	batches := [][]Payment{
		{{"p-1", 10}, {"p-2", 20}},
		{{"p-3", 30}, {"p-4", -1}}, // p-4 fails: the whole batch rolls back
		{{"p-5", 50}, {"p-6", 60}},
	}
	for i, batch := range batches {
		err := Pay(ctx, tx, i+1, batch)
		switch {
		case errors.Is(err, errDeclined):
			fmt.Printf("transaction %d rolled back: %v\n", i+1, err)
		case err != nil:
			return err
		default:
			fmt.Printf("transaction %d committed\n", i+1)
		}
	}

	select {
	case <-ledger.All():
	case <-ctx.Done():
		return fmt.Errorf("committed payments not seen: %w", ctx.Err())
	}
	if err := app.Stop(ctx); err != nil {
		return err
	}
	seen := ledger.Seen()
	if slices.Contains(seen, "p-3") {
		return errors.New("the listener saw p-3, which was rolled back")
	}
	fmt.Printf("done: the listener saw %d committed payments %v; p-3, sent in the rolled-back transaction, was never visible\n", len(seen), seen)
	return nil
}
