package embeddedbroker_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/internal/benchrun"
)

// BenchmarkIdleCPU measures what an idle replicated cluster costs: it
// starts 3 in-memory nodes, creates one topic of N partitions at
// replication factor 3, waits until every partition's ISR holds all three
// replicas, lets the cluster settle for a second, and then measures the
// CPU time of the whole process (getrusage: user + system) over a window
// of idleness in which nothing is produced or consumed. What it measures is
// the cluster's own background work: replica fetchers long-polling their
// leaders, heartbeats, the controller's liveness checks and the leaders'
// ISR checks.
//
//	go test -run '^$' -bench IdleCPU -benchtime 1x ./embeddedbroker/
//	EMBEDDEDBROKER_IDLE_PARTITIONS=1000,3000 EMBEDDEDBROKER_IDLE_WINDOW=10s go test -run '^$' -bench IdleCPU -benchtime 1x ./embeddedbroker/
//
// Metrics: cpu-%-of-core (CPU time over the window divided by the window,
// in percent of one core), cpu-%-per-1k-partitions (the same divided by
// N/1000) and heap-bytes-per-partition (live heap after a GC, over N; it
// includes the three nodes and the controller, so it is the cluster's
// memory per partition, not one node's). EMBEDDEDBROKER_IDLE_CPUPROFILE=file
// writes a CPU profile of the idle window alone. The partition counts default to
// 1000 and 3000, the window to 5 s; both can be set in the environment. The
// benchmark measures one window per run whatever b.N is.
func BenchmarkIdleCPU(b *testing.B) {
	sizes := []int32{1000, 3000}
	if v := os.Getenv("EMBEDDEDBROKER_IDLE_PARTITIONS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("EMBEDDEDBROKER_IDLE_PARTITIONS: %q is not a partition count", f)
			}
			sizes = append(sizes, int32(n))
		}
	}
	window := 5 * time.Second
	if v := os.Getenv("EMBEDDEDBROKER_IDLE_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("EMBEDDEDBROKER_IDLE_WINDOW: %v", err)
		}
		window = d
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("partitions-%d", n), func(b *testing.B) {
			cpu, heap := measureIdle(b, n, window)
			pct := 100 * cpu.Seconds() / window.Seconds()
			b.ReportMetric(pct, "cpu-%-of-core")
			b.ReportMetric(pct/(float64(n)/1000), "cpu-%-per-1k-partitions")
			b.ReportMetric(float64(heap)/float64(n), "heap-bytes-per-partition")
		})
	}
}

// measureIdle runs one measurement: the process's CPU time over window once the
// cluster is idle, and the live heap then.
func measureIdle(b *testing.B, partitions int32, window time.Duration) (time.Duration, uint64) {
	const topic = "idle"
	start := time.Now()
	c := embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 3}))
	created := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	insync := waitFullISRs(ctx, b, c, topic, partitions, start)
	// Let the last ISR changes and the fetchers' first fetches pass; if
	// ISRs shrank meanwhile (a node fenced while the topic was created),
	// wait until they are full again.
	time.Sleep(2 * time.Second)
	if again := waitFullISRs(ctx, b, c, topic, partitions, start); again > insync+2*time.Second+100*time.Millisecond {
		b.Logf("%d partitions: ISRs shrank after creation; full again after %v", partitions, again.Round(time.Millisecond))
		insync = again
		time.Sleep(time.Second)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if path := os.Getenv("EMBEDDEDBROKER_IDLE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	before := benchrun.CPUTime(b)
	time.Sleep(window)
	used := benchrun.CPUTime(b) - before
	b.StopTimer()
	b.Logf("%d partitions: created in %v, all ISRs full after %v; idle CPU %v over %v (%.2f%% of a core), heap %d MiB",
		partitions, created.Round(time.Millisecond), insync.Round(time.Millisecond), used.Round(time.Millisecond), window,
		100*used.Seconds()/window.Seconds(), ms.HeapAlloc>>20)
	return used, ms.HeapAlloc
}

// waitFullISRs waits until every partition's ISR holds its three replicas,
// and returns the time since start.
func waitFullISRs(ctx context.Context, b *testing.B, c *embeddedbroker.Cluster, topic string, partitions int32, start time.Time) time.Duration {
	for p := int32(0); p < partitions; {
		if len(c.ISR(topic, p)) == 3 {
			p++
			continue
		}
		select {
		case <-ctx.Done():
			b.Fatalf("partition %d: ISR %v after %v", p, c.ISR(topic, p), time.Since(start))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(start)
}
