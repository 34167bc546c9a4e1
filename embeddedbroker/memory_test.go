package embeddedbroker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestMemoryPerConnection measures what an open, idle client connection
// costs a node: the live heap and goroutines after n connections each
// made an ApiVersions and a Metadata request, against the same node
// before. KAFKABOOT_MEMORY_CONNS sets n (default 200). The client side of
// each connection is a bare net.Conn, a few hundred bytes of the
// measured heap.
func TestMemoryPerConnection(t *testing.T) {
	n := 200
	if s := os.Getenv("KAFKABOOT_MEMORY_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "orders"))
	addr := c.Addrs()[0]
	// One connection first, so that what every connection shares (the
	// metadata image, pools) is there before the baseline.
	conns := []net.Conn{dialAndAsk(t, addr)}
	heap0, stack0, g0 := liveHeap(), stackInUse(), runtime.NumGoroutine()
	for range n {
		conns = append(conns, dialAndAsk(t, addr))
	}
	heap1, stack1, g1 := liveHeap(), stackInUse(), runtime.NumGoroutine()
	per := (float64(heap1) - float64(heap0)) / float64(n)
	t.Logf("%d idle connections: %.1f KiB of heap, %.1f KiB of goroutine stacks and %.1f goroutines each", n, per/1024,
		(float64(stack1)-float64(stack0))/float64(n)/1024, float64(g1-g0)/float64(n))
	for _, nc := range conns {
		nc.Close()
	}
	// A bound far above today's figure, so that a leak per connection
	// (a buffer kept at its largest, a goroutine per request) fails here.
	if per > 256<<10 {
		t.Fatalf("%.0f KiB of heap per idle connection", per/1024)
	}
}

// stackInUse is the memory of the goroutines' stacks.
func stackInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

// dialAndAsk opens a connection to addr and makes an ApiVersions and a
// Metadata request on it, leaving it open.
func dialAndAsk(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("mem"))
	versions := kmsg.NewPtrApiVersionsRequest()
	versions.ClientSoftwareName, versions.ClientSoftwareVersion = "mem", "1"
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 12
	for i, req := range []kmsg.Request{versions, meta} {
		if _, err := nc.Write(f.AppendRequest(nil, req, int32(i))); err != nil {
			t.Fatal(err)
		}
		var sz [4]byte
		if _, err := io.ReadFull(nc, sz[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(sz[:]))); err != nil {
			t.Fatal(err)
		}
	}
	nc.SetDeadline(time.Time{})
	return nc
}

// TestMemoryLongRun produces and consumes KAFKABOOT_MEMORY_RECORDS records
// of 100 bytes (skipped without it; 10000000 for BENCHMARKS.md) through a
// 3-node cluster on disk at replication factor 3, the consumer reading
// while the producer writes, and reports the process's resident set size,
// the live heap and the goroutines at every tenth of the run: the
// broker's memory must not grow with the records it has served (they are
// on disk, not in memory).
func TestMemoryLongRun(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("KAFKABOOT_MEMORY_RECORDS"))
	if total <= 0 {
		t.Skip("set KAFKABOOT_MEMORY_RECORDS, for example 10000000")
	}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "events", Partitions: 6, ReplicationFactor: 3}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("events"),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50_000))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	var consumed atomic.Int64
	done := make(chan error, 1)
	go func() {
		for consumed.Load() < int64(total) {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				done <- err
				return
			}
			consumed.Add(int64(fs.NumRecords()))
		}
		done <- nil
	}()

	var (
		failed atomic.Int64
		rows   []string
		start  = time.Now()
		value  = []byte(strings.Repeat("v", 100))
	)
	sample := func(produced int) {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		rows = append(rows, fmt.Sprintf("| %d | %d | %.0f | %.0f | %d | %.1f s |", produced, consumed.Load(),
			float64(rss())/(1<<20), float64(ms.HeapAlloc)/(1<<20), runtime.NumGoroutine(), time.Since(start).Seconds()))
	}
	sample(0)
	for i := range total {
		prod.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 1000)), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
		if (i+1)%(total/10) == 0 {
			sample(i + 1)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sample(total)
	if failed.Load() != 0 || consumed.Load() != int64(total) {
		t.Fatalf("%d produce failures; %d of %d consumed", failed.Load(), consumed.Load(), total)
	}
	t.Logf("\n| produced | consumed | RSS MiB | live heap MiB | goroutines | elapsed |\n|---|---|---|---|---|---|\n%s", strings.Join(rows, "\n"))
}

// rss is the process's resident set size in bytes (Linux), 0 elsewhere.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
