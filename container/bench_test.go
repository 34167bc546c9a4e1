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
// Every benchmark iteration runs each variant once, in an order shuffled
// from one iteration to the next, so that drift on a shared machine (other
// processes, GC of earlier rounds) spreads evenly over the variants
// instead of favouring whichever ran first. The container handlers count
// with atomics because the container runs partitions in parallel;
// completion is signalled by the handler that sees the last record (no
// polling).
//
//   - container-func-metrics: container-func recording OpenTelemetry
//     metrics (SDK meter provider with a manual reader; tracing off).
//     It and container-func run twice per iteration, and the metrics
//     ratio compares the two pairs; aa-ratio-container-func, one run of
//     container-func over the other, shows what the benchmark cannot
//     tell from noise (1 when exact).
//
// Reported metrics: <variant>-ns/record, the time per record, and
// ratio-<variant>, franz-go's total time over the variant's total time
// (throughput relative to franz-go; the goal is 0.9 or better), except for
// container-func-metrics, whose ratio is against container-func (the goal:
// within 5%, 0.95 or more), the median of the iterations' ratios; for it,
// cpu-ratio-container-func-metrics is the same of the process's CPU time
// (the embedded broker's included), which the machine's other load
// disturbs less than wall time, and sum-ratio-… the ratio of the summed
// times. ns/op is the time of one iteration of all the
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
		// Second runs of the last two, so that the metrics ratio
		// compares two runs with two in each round, and a ratio of
		// two runs without metrics shows what noise alone does.
		{Name: "container-func-2", Run: func() { runContainer(true, false) }},
		{Name: "container-func-metrics-2", Run: func() { runContainer(true, true) }},
	}
	s := benchrun.Run(b, variants)
	perRecord := func(vs ...int) float64 {
		return float64(s.Total(vs...).Nanoseconds()) / float64(len(vs)*s.Rounds()*records)
	}
	for k, v := range variants[:3] {
		b.ReportMetric(perRecord(k), v.Name+"-ns/record")
		if k == 0 {
			continue
		}
		ratio := s.Ratio([]int{k}, []int{0})
		b.ReportMetric(ratio, "ratio-"+v.Name)
		b.Logf("%s: %.0f ns/record, franz-go %.0f ns/record, ratio (throughput relative to it) %.2f",
			v.Name, perRecord(k), perRecord(0), ratio)
	}
	// The metered container's baseline is the same container without
	// metrics: medians of the rounds' ratios, in wall time and in CPU
	// time (the broker's included), which the machine's other load
	// disturbs less.
	metered, plain := []int{3, 5}, []int{1, 4}
	ratio, cpu := s.MedianRatio(metered, plain), s.MedianCPURatio(metered, plain)
	aa := s.MedianRatio([]int{4}, []int{1})
	b.ReportMetric(perRecord(metered...), "container-func-metrics-ns/record")
	b.ReportMetric(ratio, "ratio-container-func-metrics")
	b.ReportMetric(cpu, "cpu-ratio-container-func-metrics")
	b.ReportMetric(s.Ratio(metered, plain), "sum-ratio-container-func-metrics")
	b.ReportMetric(aa, "aa-ratio-container-func")
	b.Logf("container-func-metrics: %.0f ns/record, container-func %.0f ns/record, median ratio %.3f, CPU time %.3f (two runs without: %.3f)",
		perRecord(metered...), perRecord(plain...), ratio, cpu, aa)
}

// benchOrder has no validate tags: both sides only decode JSON.
type benchOrder struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}
