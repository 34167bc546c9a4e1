package kafkaboot_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

type features struct {
	// Retry topics from the tag, their back off from kafka.listener.retry.
	Orders func(context.Context, *listener.Record[event]) error `kafka:"topics=orders,group=g-orders,retry=attempts:3"`
	// Exactly-once: what the handler sends commits with its offsets.
	Convert func(context.Context, event) error `kafka:"topics=raw,group=g-convert,transactional"`
	// Per-key parallelism.
	Keyed func(context.Context, event) error `kafka:"topics=keyed,group=g-keyed,ordering=key,workers=4"`
}

// TestListenerFeaturesUnderFx: retry topics, a transactional listener and
// per-key ordering declared with struct tags and configured with
// kafka.listener.* keys run under the fx module.
func TestListenerFeaturesUnderFx(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.Topics(2, "orders", "raw", "converted", "keyed"))
	var (
		mu      sync.Mutex
		orders  = map[int][]string{} // N -> topics it was handled from
		keyed   = map[int][]int{}    // key -> sequence
		flakies int
	)
	var tmpl *template.Template
	app := fx.New(fx.NopLogger, kafkaboot.Module,
		appConfig(c.Addrs(), map[string]any{"kafka.listener.retry.delay": "200ms"}),
		kafkaboot.Listeners(func(tm *template.Template) *features {
			return &features{
				Orders: func(_ context.Context, r *listener.Record[event]) error {
					mu.Lock()
					defer mu.Unlock()
					e := r.Value
					orders[e.N] = append(orders[e.N], r.Topic)
					switch {
					case e.N == 1 && len(orders[1]) < 3:
						flakies++
						return errors.New("flaky")
					case e.N == 2:
						return errors.New("always fails")
					}
					return nil
				},
				Convert: func(ctx context.Context, e event) error {
					_, err := tm.Send(ctx, "converted", event{N: e.N * 10})
					return err
				},
				Keyed: func(_ context.Context, e event) error {
					mu.Lock()
					keyed[e.N%5] = append(keyed[e.N%5], e.N)
					mu.Unlock()
					return nil
				},
			}
		}),
		fx.Populate(&tmpl))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(context.Background())
	for n := range 3 {
		if _, err := tmpl.Send(ctx, "orders", event{N: n}); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 20 {
		if _, err := tmpl.Send(ctx, "raw", event{N: n}); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 100 {
		if _, err := tmpl.Send(ctx, "keyed", event{N: n}, template.Key(n%5)); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("converted", "orders-dlt"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	converted, dead := 0, 0
	for converted < 20 || dead < 1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("converted %d of 20, %d dead letters", converted, dead)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == "converted" {
				converted++
				return
			}
			dead++
			if info, ok := container.ParseDeadLetter(r); !ok || info.OriginalTopic != "orders" || info.ExceptionMessage == "" {
				t.Errorf("dead letter without Spring's headers: %+v", info)
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		done := len(orders[1]) == 3 && len(orders[2]) == 3 && len(keyed[0])+len(keyed[1])+len(keyed[2])+len(keyed[3])+len(keyed[4]) == 100
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders %v, keyed %d keys", orders, len(keyed))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"orders", "orders-retry", "orders-retry"}
	for _, n := range []int{1, 2} {
		if len(orders[n]) != 3 || orders[n][0] != want[0] || orders[n][1] != want[1] || orders[n][2] != want[2] {
			t.Errorf("order %d handled from %v, want %v", n, orders[n], want)
		}
	}
	for k, seq := range keyed {
		for i := 1; i < len(seq); i++ {
			if seq[i] < seq[i-1] {
				t.Errorf("key %d out of order: %v", k, seq)
				break
			}
		}
	}
	t.Logf("retry topics %v; %d converted exactly once under read_committed; %d dead letter; 100 keyed records in key order", want, converted, dead)
}
