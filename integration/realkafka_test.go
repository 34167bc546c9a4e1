package integration

// A kafkaboot application end to end against a real Apache Kafka broker
// (Confluent's confluent-local image, KRaft mode) started with
// testcontainers-go. The test skips cleanly and quickly where there is no
// Docker daemon, and under -short.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kgo"
)

// realKafkaImage is the broker image: the one testcontainers' kafka module
// is written for.
const realKafkaImage = "confluentinc/confluent-local:7.5.0"

// realKafkaRequireDocker skips the test unless a Docker daemon answers
// within a few seconds. testcontainers panics or returns errors in various
// ways when there is none (no socket, a CLI without an engine, a
// DOCKER_HOST that refuses connections); all of them skip. Its provider
// lookup takes no context, so it runs on its own goroutine: a daemon that
// accepts connections but never answers skips the test after the timeout
// too (leaving that goroutine blocked).
func realKafkaRequireDocker(t *testing.T) {
	t.Helper()
	const timeout = 5 * time.Second
	res := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				res <- fmt.Errorf("testcontainers panicked: %v", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		provider, err := testcontainers.ProviderDocker.GetProvider()
		if err == nil {
			err = provider.Health(ctx)
		}
		res <- err
	}()
	select {
	case err := <-res:
		if err != nil {
			t.Skipf("Docker not available: %v", err)
		}
	case <-time.After(timeout):
		t.Skipf("Docker not available: no answer within %v", timeout)
	}
}

// realKafkaListeners is the application's listeners: orders, validated,
// and a monitor of the orders' dead-letter topic.
type realKafkaListeners struct {
	Orders func(context.Context, fwStrictOrder, listener.Metadata) error `kafka:"id=rk-orders,topics=rk-orders,group=rk-billing"`
	Dead   func(context.Context, *listener.Record[[]byte]) error         `kafka:"id=rk-dlt,topics=rk-orders.DLT,group=rk-monitor,dlt=none"`
}

// TestRealKafka runs a kafkaboot fx application against a real Kafka
// broker (see realKafkaScenario).
func TestRealKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not starting a Kafka container")
	}
	realKafkaRequireDocker(t)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	kc, err := tckafka.Run(ctx, realKafkaImage, tckafka.WithClusterID("kafkaboot-test"))
	testcontainers.CleanupContainer(t, kc)
	if err != nil {
		t.Fatalf("starting %s: %v", realKafkaImage, err)
	}
	brokers, err := kc.Brokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	realKafkaScenario(t, ctx, brokers)
}

// TestRealKafkaScenarioEmbedded runs the scenario of TestRealKafka on the
// embedded cluster, so that the scenario itself is checked where there is
// no Docker, and the embedded broker is held to what real Kafka does.
func TestRealKafkaScenarioEmbedded(t *testing.T) {
	c := fwCluster(t)
	realKafkaScenario(t, fwCtx(t), c.Addrs())
}

// realKafkaScenario is the application run against brokers: the admin
// creates the topics, the template sends orders, the listener processes
// the valid ones, and the invalid one lands in the dead-letter topic with
// the kafka_dlt-* headers.
func realKafkaScenario(t *testing.T, ctx context.Context, brokers []string) {
	var (
		mu        sync.Mutex
		processed []string
	)
	dead := make(chan *listener.Record[[]byte], 10)
	ls := &realKafkaListeners{
		Orders: func(_ context.Context, o fwStrictOrder, md listener.Metadata) error {
			mu.Lock()
			processed = append(processed, fmt.Sprintf("%s@%d/%d", o.ID, md.Partition, md.Offset))
			mu.Unlock()
			return nil
		},
		Dead: func(_ context.Context, r *listener.Record[[]byte]) error { dead <- r; return nil },
	}
	app := fwStartApp(t, ctx, fwValues(brokers, map[string]any{
		"kafka.admin.topics": []any{
			map[string]any{"name": "rk-orders", "partitions": 3},
			map[string]any{"name": "rk-orders.DLT", "partitions": 3},
		},
	}), kafkaboot.Listeners(func() *realKafkaListeners { return ls }))

	orders := []fwStrictOrder{{"o-1", 1}, {"o-2", 2}, {"o-bad", 0}, {"o-3", 3}}
	sent := map[string]template.Result{}
	for _, o := range orders {
		res, err := app.tmpl.Send(ctx, "rk-orders", o, template.Key(o.ID))
		if err != nil {
			t.Fatal(err)
		}
		sent[o.ID] = res
	}
	fwWait(t, ctx, "the valid orders to be processed", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(processed) == 3, fmt.Sprint(processed)
	})
	select {
	case r := <-dead:
		info, ok := container.ParseDeadLetter(&kgo.Record{Headers: r.Headers})
		if !ok || string(r.Key) != "o-bad" || info.OriginalTopic != "rk-orders" ||
			info.OriginalPartition != sent["o-bad"].Partition || info.OriginalOffset != sent["o-bad"].Offset ||
			!strings.Contains(info.ExceptionMessage, "valid") {
			t.Errorf("dead letter key %q headers %+v; sent o-bad at %+v", r.Key, info, sent["o-bad"])
		}
	case <-ctx.Done():
		t.Fatal("no dead letter")
	}
	mu.Lock()
	for _, p := range processed {
		if strings.HasPrefix(p, "o-bad") {
			t.Errorf("the invalid order was processed: %v", processed)
		}
	}
	mu.Unlock()
	if err := app.stop(ctx); err != nil {
		t.Fatal(err)
	}
}
