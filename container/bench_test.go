package container

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkContainer compares a container running a JSON handler with a
// plain franz-go PollFetches loop decoding the same JSON, on the same
// broker and the same pre-filled topic. Each iteration consumes the whole
// topic with a fresh group (join, consume, commit, leave); the ns/record
// metrics and the logged ratio compare the two.
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
	var nsContainer, nsPlain float64

	b.Run("container", func(b *testing.B) {
		var sum atomic.Int64
		for b.Loop() {
			var n atomic.Int64
			c, err := New(&listener.Endpoint{ID: "bench", Group: nextGroup(), Topics: []string{"bench"},
				Handler: func(_ context.Context, o benchOrder) error {
					sum.Add(int64(o.Amount))
					n.Add(1)
					return nil
				}}, e.opts(WithLogger(testLogger()))...)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			for n.Load() < records {
				time.Sleep(time.Millisecond)
			}
			if err := c.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		nsContainer = float64(b.Elapsed().Nanoseconds()) / float64(b.N*records)
		b.ReportMetric(nsContainer, "ns/record")
	})

	b.Run("franz-go", func(b *testing.B) {
		var sum int64
		for b.Loop() {
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
					sum += int64(o.Amount)
					n++
				})
				if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			cl.Close()
		}
		nsPlain = float64(b.Elapsed().Nanoseconds()) / float64(b.N*records)
		b.ReportMetric(nsPlain, "ns/record")
	})
	if nsPlain > 0 && nsContainer > 0 {
		b.Logf("container/franz-go time per record: %.2f (container %.0f ns/record, franz-go %.0f ns/record)",
			nsContainer/nsPlain, nsContainer, nsPlain)
	}
}

// benchOrder has no validate tags: both sides only decode JSON.
type benchOrder struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}
