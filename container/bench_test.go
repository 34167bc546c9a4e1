// BenchmarkContainer compares a listener container with a plain franz-go
// consumer loop doing the same work, on the same embedded broker (3 nodes)
// and the same pre-filled topic (20,000 JSON records over 4 partitions):
//
//   - franz-go: a group consumer with the same client options
//     (env.clientOpts plus ConsumerGroup, ConsumeTopics and
//     DisableAutoCommit, exactly what the container adds) running a
//     PollFetches loop that json.Unmarshals every value into benchOrder,
//     handles it like the containers' handlers, and commits what it
//     processed after every poll (CommitUncommittedOffsets), then Close,
//     which leaves the group.
//   - container-func: a container with a listener.Func[benchOrder] handler
//     (the recommended field type of a tagged listener), with the
//     container's defaults: the Auto serde decoding each value into
//     benchOrder, ack=batch commits, graceful Stop.
//   - container-plain: the same with a plain func(ctx, benchOrder) error
//     handler, which the invoker calls with reflect.Value.Call.
//
// Each variant consumes the whole topic with a fresh group: client
// creation, group join, consuming, committing and leaving are all timed.
// Every benchmark iteration runs each variant once, in an order rotated
// from one iteration to the next, so that drift on a shared machine (other
// processes, GC of earlier rounds) spreads evenly over the variants
// instead of favouring whichever ran first. The container handlers count
// with atomics because the container runs partitions in parallel;
// completion is signalled by the handler that sees the last record (no
// polling).
//
//   - container-func-metrics: container-func recording OpenTelemetry
//     metrics (SDK meter provider with a manual reader; tracing off).
//
// Reported metrics: <variant>-ns/record, the time per record, and
// ratio-<variant>, franz-go's total time over the variant's total time
// (throughput relative to franz-go; the goal is 0.9 or better), except for
// container-func-metrics, whose ratio is against container-func (the goal:
// within 5%, 0.95 or more); for it, cpu-ratio-container-func-metrics is
// the same ratio of the process's CPU time (the embedded broker's
// included), which the machine's other load disturbs less than wall
// time. ns/op is the time of one iteration of all the
// variants and means little.
package container

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/benchrun"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

func BenchmarkContainer(b *testing.B) {
	const (
		parts   = 4
		records = 20000
	)
	e := newEnv(b, map[string]int32{"bench": parts})
	var rs []*kgo.Record
	for i := 0; i < records; i++ {
		v, _ := json.Marshal(benchOrder{ID: "order-" + strconv.Itoa(i), Amount: i})
		rs = append(rs, &kgo.Record{Topic: "bench", Partition: int32(i % parts), Value: v})
	}
	e.produce(rs...)
	var group atomic.Int64
	nextGroup := func() string { return "bench-" + strconv.FormatInt(group.Add(1), 10) }
	var sum atomic.Int64

	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	runContainer := func(generic, metrics bool) {
		var n atomic.Int64
		all := make(chan struct{})
		handle := func(_ context.Context, o benchOrder) error {
			sum.Add(int64(o.Amount))
			if n.Add(1) == records {
				close(all)
			}
			return nil
		}
		var h any = handle
		if generic {
			h = listener.Func[benchOrder](handle)
		}
		opts := e.opts(WithLogger(testLogger()))
		if metrics {
			opts = append(opts, WithMeterProvider(mp))
		}
		c, err := New(&listener.Endpoint{ID: "bench", Group: nextGroup(), Topics: []string{"bench"}, Handler: h}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		select {
		case <-all:
		case <-time.After(time.Minute):
			b.Fatalf("consumed %d of %d records", n.Load(), records)
		}
		if err := c.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	runFranz := func() {
		cl, err := kgo.NewClient(append(e.clientOpts(), kgo.ConsumerGroup(nextGroup()), kgo.ConsumeTopics("bench"),
			kgo.DisableAutoCommit())...)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < records {
			fs := cl.PollFetches(context.Background())
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				var o benchOrder
				if err := json.Unmarshal(r.Value, &o); err != nil {
					b.Fatal(err)
				}
				sum.Add(int64(o.Amount))
				n++
			})
			if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		cl.Close()
	}
	variants := []benchrun.Variant{
		{Name: "franz-go", Run: runFranz},
		{Name: "container-func", Run: func() { runContainer(true, false) }},
		{Name: "container-plain", Run: func() { runContainer(false, false) }},
		{Name: "container-func-metrics", Run: func() { runContainer(true, true) }},
	}
	total, cpu, rounds := benchrun.InterleavedCPU(b, variants)
	perRecord := func(k int) float64 { return float64(total[k].Nanoseconds()) / float64(rounds*records) }
	for k, v := range variants {
		b.ReportMetric(perRecord(k), v.Name+"-ns/record")
		// The metered container's baseline is the same container
		// without metrics.
		base := 0
		if v.Name == "container-func-metrics" {
			base = 1
		}
		if k > 0 {
			ratio := benchrun.Ratio(total, k, base)
			b.ReportMetric(ratio, "ratio-"+v.Name)
			b.Logf("%s: %.0f ns/record, %s %.0f ns/record, ratio (throughput relative to it) %.2f",
				v.Name, perRecord(k), variants[base].Name, perRecord(base), ratio)
		}
		if v.Name == "container-func-metrics" {
			// CPU time, the broker's included: what metrics cost,
			// less drowned by the machine's other load.
			cr := benchrun.Ratio(cpu, k, base)
			b.ReportMetric(cr, "cpu-ratio-"+v.Name)
			b.Logf("%s: CPU time ratio to %s %.3f", v.Name, variants[base].Name, cr)
		}
	}
}

// benchOrder has no validate tags: both sides only decode JSON.
type benchOrder struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}
