package kafkatest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

type Order struct {
	ID  string `json:"id" validate:"required"`
	Qty int    `json:"qty" validate:"gt=0"`
}

type Invoice struct {
	Order string `json:"order"`
	Total int    `json:"total"`
}

// Billing turns orders into invoices.
type Billing struct{ tmpl *template.Template }

func (b *Billing) OnOrder(ctx context.Context, o Order) error {
	if o.Qty > 100 {
		return errors.New("quantity over the limit")
	}
	_, err := b.tmpl.Send(ctx, "invoices", Invoice{Order: o.ID, Total: 3 * o.Qty}, template.Key(o.ID))
	return err
}

// TestKit is the package documentation's walk-through as a test.
func TestKit(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("orders", 3), kafkatest.Topic("invoices", 3))
	app := kit.Start(
		fx.Provide(func(t *template.Template) *Billing { return &Billing{tmpl: t} }),
		kafkaboot.Listen("id=billing,topics=orders,group=billing", func(b *Billing) listener.Func[Order] { return b.OnOrder }),
	)
	app.WaitAssigned("billing")

	kit.Send("orders", Order{ID: "o-1", Qty: 2}, template.Key("o-1"))
	kit.Send("orders", Order{ID: "o-2"}, template.Key("o-2"))           // invalid: no quantity
	kit.Send("orders", Order{ID: "o-3", Qty: 500}, template.Key("o-3")) // refused by the handler

	if got := kafkatest.Consume[Invoice](kit, "invoices", 1); got[0] != (Invoice{Order: "o-1", Total: 6}) {
		t.Fatalf("invoice %+v", got[0])
	}
	reasons := map[string]string{}
	for _, dl := range kit.ExpectDLT("orders.DLT", 2) {
		reasons[string(dl.Record.Key)] = dl.ExceptionMessage
		if dl.OriginalTopic != "orders" {
			t.Errorf("dead letter from %q", dl.OriginalTopic)
		}
	}
	if !strings.Contains(reasons["o-2"], "Qty") || !strings.Contains(reasons["o-3"], "over the limit") {
		t.Fatalf("dead-letter reasons: %q", reasons)
	}
}

// TestFailover: a service built with the fx module keeps processing while
// the leader of its input partition is killed and restarted, and loses
// nothing: every record acknowledged to the producer is handled, each
// key's records in order (at least once: a record may come twice after
// the failover, never before a record sent earlier with the same key).
func TestFailover(t *testing.T) {
	const keys, per = 10, 150
	kit := kafkatest.New(t, kafkatest.Nodes(3), kafkatest.Topic("payments", 2),
		kafkatest.Set("kafka.listener.ack-mode", "record"))
	var (
		mu      sync.Mutex
		handled = map[string][]int{} // key -> sequence numbers, as handled
		total   int
	)
	app := kit.Start(kafkaboot.Listen("id=ledger,topics=payments,group=ledger", func(_ context.Context, r *listener.Record[string]) error {
		var seq int
		fmt.Sscan(r.Value, &seq)
		mu.Lock()
		handled[string(r.Key)] = append(handled[string(r.Key)], seq)
		total++
		mu.Unlock()
		return nil
	}))
	app.WaitAssigned("ledger")
	count := func() int { mu.Lock(); defer mu.Unlock(); return total }

	// The producer sends each key's records in order, one at a time per
	// key, while the failover happens.
	produced := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for s := range per {
			var rs []*kgo.Record
			for k := range keys {
				rs = append(rs, &kgo.Record{Topic: "payments", Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Append(nil, s)})
			}
			if err := kit.Client().ProduceSync(ctx, rs...).FirstErr(); err != nil {
				produced <- fmt.Errorf("sequence %d: %w", s, err)
				return
			}
			time.Sleep(2 * time.Millisecond) // a steady stream, not a wait for state
		}
		produced <- nil
	}()

	waitFor(t, func() bool { return count() >= keys*per/4 }, "a quarter handled before the failover")
	node := kit.KillLeader("payments", 0)
	atKill := count()
	kit.Restart(node)
	t.Logf("killed node %d (leader of payments[0]) at %d records handled; it is back in the ISRs", node, atKill)
	if err := <-produced; err != nil {
		t.Fatalf("producing: %v", err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for k := range keys {
			seqs := handled[fmt.Sprintf("k%d", k)]
			if len(seqs) == 0 || seqs[len(seqs)-1] != per-1 {
				return false
			}
		}
		return true
	}, "every key's last record handled")

	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for k, seqs := range handled {
		next := 0 // the first sequence number not yet handled
		for _, s := range seqs {
			switch {
			case s == next:
				next++
			case s < next:
				dups++ // again, after the failover
			default:
				t.Fatalf("key %s: %d handled before %d: %v", k, s, next, seqs)
			}
		}
		if next != per {
			t.Fatalf("key %s: handled up to %d of %d", k, next, per)
		}
	}
	t.Logf("%d records produced, all handled in key order across the failover (%d handled twice)", keys*per, dups)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
