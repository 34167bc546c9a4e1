package embeddedbroker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/internal/benchrun"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScale measures a 3-node cluster at replication factor 3 with many
// partitions: creation, a record in every partition, a killed and
// restarted node regaining every ISR, a controlled shutdown moving every
// leadership, and the idle cluster's CPU and memory. It reports figures and
// asserts no timing (BENCHMARKS.md has them); it fails only when something
// never completes.
//
//	KAFKABOOT_SCALE=1000,10000,50000 KAFKABOOT_SCALE_DISK=1 go test -run TestScale -v -timeout 30m ./embeddedbroker/
//
// KAFKABOOT_SCALE_CPUPROFILE=file writes a CPU profile of the idle window.
// Without KAFKABOOT_SCALE it runs once with 2000 partitions in memory in
// the normal test run, so the path stays tested.
func TestScale(t *testing.T) {
	sizes := []int{2000}
	if v := os.Getenv("KAFKABOOT_SCALE"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	} else if testing.Short() {
		t.Skip("scale test skipped in -short")
	}
	disk := os.Getenv("KAFKABOOT_SCALE_DISK") != ""
	// The idle window spans several of the fetch sessions' full sweeps
	// (every 10 s) when measuring; the normal test run only passes through.
	idle := 2 * time.Second
	if os.Getenv("KAFKABOOT_SCALE") != "" {
		idle = 30 * time.Second
	}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("partitions=%d", n), func(t *testing.T) { scaleRun(t, n, disk, idle) })
	}
}

func scaleRun(t *testing.T, n int, disk bool, idle time.Duration) {
	opts := []embeddedbroker.Option{embeddedbroker.Nodes(3), embeddedbroker.Logger(testLogger(t))}
	where := "memory"
	if disk {
		opts = append(opts, embeddedbroker.DataDir(t.TempDir()))
		where = "disk"
	}
	c := embeddedbroker.StartForTest(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(n+1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)

	// Topics of at most 10 000 partitions, one CreateTopics each (Kafka's
	// limit per request).
	start := time.Now()
	topics := map[string]int32{}
	for i, left := 0, n; left > 0; i++ {
		p := min(left, 10_000)
		name := fmt.Sprintf("scale-%d", i)
		resp, err := adm.CreateTopic(ctx, int32(p), 3, nil, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatal(err)
		}
		topics[name] = int32(p)
		left -= p
	}
	created := time.Since(start)

	start = time.Now()
	for name, p := range topics {
		for i := range p {
			cl.Produce(ctx, &kgo.Record{Topic: name, Partition: i, Value: []byte("x")}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	produced := time.Since(start)

	fullISR := func() bool {
		for name, p := range topics {
			for i := range p {
				if len(c.ISR(name, i)) != 3 {
					return false
				}
			}
		}
		return true
	}
	waitFor(t, "every ISR full", 5*time.Minute, fullISR)

	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	cpu := idleCPU(t, idle)

	must(t, c.KillNode(ctx, 1))
	waitFor(t, "node 1 out of every ISR", 5*time.Minute, func() bool {
		for name, p := range topics {
			for i := range p {
				if len(c.ISR(name, i)) == 3 {
					return false
				}
			}
		}
		return true
	})
	start = time.Now()
	must(t, c.RestartNode(ctx, 1))
	restarted := time.Since(start)
	waitFor(t, "every ISR full after the restart", 10*time.Minute, fullISR)
	rejoined := time.Since(start)
	t.Logf("node 1 restarted (logs open) in %v, back in every ISR %v after", restarted.Round(time.Millisecond), (rejoined - restarted).Round(time.Millisecond))

	// A controlled shutdown moves every leadership away first, then the
	// node flushes and closes its logs: the first is what clients wait
	// on, the second what the process's exit waits on.
	led := func() bool {
		for name, p := range topics {
			for i := range p {
				if c.Leader(name, i) == 2 {
					return true
				}
			}
		}
		return false
	}
	start = time.Now()
	moved := make(chan time.Duration, 1)
	go func() {
		for led() {
			time.Sleep(5 * time.Millisecond) // polling the metadata, bounded by StopNode below
		}
		moved <- time.Since(start)
	}()
	must(t, c.StopNode(ctx, 2))
	stopped := time.Since(start)
	leadership := <-moved
	if led() {
		t.Fatal("partitions still led by the stopped node")
	}

	// On disk, creating a topic is mostly creating one directory per
	// replica: the file system's floor for that, measured in the same run
	// (one directory per replica, one goroutine per node), says how much of
	// the creation time is the machine's.
	floor := ""
	if disk {
		floor = fmt.Sprintf(" (mkdir floor for %d directories: %v)", 3*n, mkdirFloor(t, n).Round(time.Millisecond))
	}
	heap := float64(ms1.HeapInuse) - float64(ms0.HeapInuse)
	t.Logf("%d partitions, RF 3, 3 nodes, %s: created in %v%s; one record in each in %v; killed node regained full ISR in %v after restart; controlled shutdown moved all leadership in %v, node closed in %v; idle CPU %.2f%% of one core over %v; heap %.0f MiB, %.1f KiB per partition (%.1f KiB per replica)",
		n, where, created.Round(time.Millisecond), floor, produced.Round(time.Millisecond), rejoined.Round(time.Millisecond), leadership.Round(time.Millisecond), stopped.Round(time.Millisecond),
		cpu*100, idle, heap/(1<<20), heap/float64(n)/1024, heap/float64(3*n)/1024)
}

// idleCPU is the process's CPU time (user and system) over d as a fraction
// of one core.
func idleCPU(t *testing.T, d time.Duration) float64 {
	t.Helper()
	if path := os.Getenv("KAFKABOOT_SCALE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	// The runtime returns the memory the busy phases freed to the OS in
	// the background (madvise), for a while after them; a cluster idle for
	// long has done so. Done here, at once, so that the window measures
	// the steady idle state, not the runtime's clean-up.
	debug.FreeOSMemory()
	u0, w0 := benchrun.CPUTime(t), time.Now()
	time.Sleep(d) // measuring an interval of idleness, not waiting for state
	return float64(benchrun.CPUTime(t)-u0) / float64(time.Since(w0))
}

// mkdirFloor is the time 3 goroutines, one per node, take to create n bare
// directories each, each goroutine in a directory of its own.
func mkdirFloor(t *testing.T, n int) time.Duration {
	root := t.TempDir()
	start := time.Now()
	var wg sync.WaitGroup
	for node := range 3 {
		dir := filepath.Join(root, strconv.Itoa(node))
		must(t, os.Mkdir(dir, 0o755))
		wg.Go(func() {
			for i := range n {
				if err := os.Mkdir(filepath.Join(dir, strconv.Itoa(i)), 0o755); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
