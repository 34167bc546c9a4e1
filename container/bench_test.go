// BenchmarkContainer compares a listener container with a plain franz-go
// consumer loop doing the same work, on the same embedded broker (3 nodes)
// and the same pre-filled topic (20,000 JSON records over 4 partitions):
//
//   - container: a container with a func(ctx, benchOrder) error handler
//     (the plain func form of a tagged listener field), with the
//     container's defaults: the Auto serde decoding each value into
//     benchOrder, ack=batch commits, graceful Stop.
//   - container-typed: the same with the handler declared as
//     listener.Typed[benchOrder], which the invoker calls without
//     reflection.
//   - franz-go: a group consumer with the same client options
//     (env.clientOpts plus ConsumerGroup, ConsumeTopics and
//     DisableAutoCommit, exactly what the container adds) running a
//     PollFetches loop that json.Unmarshals every value into benchOrder,
//     handles it like the container's handler, and commits what it
//     processed after every poll (CommitUncommittedOffsets), then Close,
//     which leaves the group.
//
// Each iteration consumes the whole topic with a fresh group: client
// creation, group join, consuming, committing and leaving are all timed,
// for both. The container handlers count with atomics because the
// container runs partitions in parallel; completion is signalled by the
// handler that sees the last record (no polling). ns/record is the time
// per record; the logged ratio is franz-go time over container time
// (throughput relative to franz-go).
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
	ns := map[string]float64{}

	runContainer := func(b *testing.B, typed bool) {
		var sum atomic.Int64
		for b.Loop() {
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
			if typed {
				h = listener.Typed[benchOrder](handle)
			}
			c, err := New(&listener.Endpoint{ID: "bench", Group: nextGroup(), Topics: []string{"bench"}, Handler: h},
				e.opts(WithLogger(testLogger()))...)
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
		v := float64(b.Elapsed().Nanoseconds()) / float64(b.N*records)
		ns[b.Name()] = v
		b.ReportMetric(v, "ns/record")
	}
	b.Run("container", func(b *testing.B) { runContainer(b, false) })
	b.Run("container-typed", func(b *testing.B) { runContainer(b, true) })

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
		v := float64(b.Elapsed().Nanoseconds()) / float64(b.N*records)
		ns[b.Name()] = v
		b.ReportMetric(v, "ns/record")
	})
	plain := ns[b.Name()+"/franz-go"]
	for _, name := range []string{"container", "container-typed"} {
		if c := ns[b.Name()+"/"+name]; c > 0 && plain > 0 {
			b.Logf("%s: %.0f ns/record, franz-go %.0f ns/record, ratio (throughput relative to franz-go) %.2f",
				name, c, plain, plain/c)
		}
	}
}

// benchOrder has no validate tags: both sides only decode JSON.
type benchOrder struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}
