package kafkaboot_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/kafkatest"
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
	kit := kafkatest.New(t, kafkatest.Nodes(3), kafkatest.Topic("orders", 2), kafkatest.Topic("raw", 2),
		kafkatest.Topic("converted", 2), kafkatest.Topic("keyed", 2), kafkatest.Set("kafka.listener.retry.delay", "200ms"))
	var (
		mu      sync.Mutex
		orders  = map[int][]string{} // N -> topics it was handled from
		keyed   = map[int][]int{}    // key -> sequence
		flakies int
	)
	app := kit.Start(
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
		}))
	app.WaitAssigned("kafkaboot_test.features.Orders")
	for n := range 3 {
		kit.Send("orders", event{N: n})
	}
	for n := range 20 {
		kit.Send("raw", event{N: n})
	}
	for n := range 100 {
		kit.Send("keyed", event{N: n}, template.Key(n%5))
	}
	converted := len(kit.Records("converted", 20)) // read_committed
	dead := kit.ExpectDLT("orders-dlt", 1)
	if dead[0].OriginalTopic != "orders" || dead[0].ExceptionMessage == "" {
		t.Errorf("dead letter without Spring's headers: %+v", dead[0].DeadLetterInfo)
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
	t.Logf("retry topics %v; %d converted exactly once under read_committed; %d dead letter; 100 keyed records in key order", want, converted, len(dead))
}
