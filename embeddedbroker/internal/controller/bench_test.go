package controller

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// BenchmarkChange measures the controller's work for one small metadata
// change (an ISR change of one partition, a topic of one partition
// created) in clusters of 1 000 to 50 000 partitions at replication factor
// 3: the decision, the new image and the delta, with one subscriber. It
// should not grow with the cluster (images are persistent trees, so a
// change copies O(log n) nodes), where rewriting the whole metadata made
// it linear. With KAFKABOOT_BENCH_DISK=1 the metadata log is on disk too,
// which adds one small frame and an fsync per change, the same at every
// size.
//
//	go test -run '^$' -bench BenchmarkChange -benchmem ./embeddedbroker/internal/controller/
func BenchmarkChange(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("alter-isr/partitions=%d", n), func(b *testing.B) {
			l := benchCluster(b, n)
			t, _ := l.Image().Topic("t0")
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				_, st, _ := l.Image().Partition("t0", 0)
				isr := []int32{0, 1, 2}
				if i%2 == 0 {
					isr = []int32{st.Leader}
				}
				errs, err := l.AlterPartitions(ctx, st.Leader, []ISRChange{{Topic: t.ID, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: isr}})
				if err != nil || errs[0] != nil {
					b.Fatal(err, errs)
				}
			}
		})
		b.Run(fmt.Sprintf("create-topic/partitions=%d", n), func(b *testing.B) {
			l := benchCluster(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if _, err := l.CreateTopic(ctx, TopicSpec{Name: fmt.Sprintf("new-%d", i), Partitions: 1, ReplicationFactor: 3}, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchCluster returns an in-memory controller with 3 brokers, n
// partitions at replication factor 3 in topics of at most 10 000
// partitions, and one subscriber that reads each delta.
func benchCluster(b *testing.B, n int) *Local {
	b.Helper()
	dir := ""
	if os.Getenv("KAFKABOOT_BENCH_DISK") != "" {
		dir = b.TempDir()
	}
	l := newLocal(b, dir, 3, nil)
	for i := 0; n > 0; i++ {
		p := min(n, MaxPartitionsPerRequest)
		if _, err := l.CreateTopic(context.Background(), TopicSpec{Name: fmt.Sprintf("t%d", i), Partitions: int32(p), ReplicationFactor: 3}, false); err != nil {
			b.Fatal(err)
		}
		n -= p
	}
	var seen int
	l.Subscribe(func(_ *Image, d *Delta) {
		for _, t := range d.Topics {
			seen += len(t.Partitions)
		}
	})
	b.Cleanup(func() { l.Close() })
	return l
}
