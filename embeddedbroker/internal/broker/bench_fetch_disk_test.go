//go:build linux

package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkDiskFetch measures fetches of 1 KB records from a partition on
// disk: one node, one partition of fetchBenchBytes written by a franz-go
// producer (uncompressed, in batches of at most 16 KiB, Kafka's default
// batch.size), then fetched from the start, over and over, one Fetch
// request (v16, no session) per op with the partition's max bytes as
// named, the offset moving on with each answer. Nothing of the log is in the broker's own memory: the disk log
// keeps no cache, so every fetch reads the segment file, which the page
// cache holds ("warm"), or, with the "cold" variants, not even that: the
// segment's pages are evicted (fsync and POSIX_FADV_DONTNEED, outside the
// timer) each time the fetches wrap around to the start of the log.
//
// Each case runs twice on the same node: "copy" reads the records into
// memory and copies them into the response, as fetches from disk did
// before zero-copy reads (the copyFetch knob); "zerocopy" is the default,
// which sends the file ranges with sendfile.
//
// Two clients: "kgo" is a franz-go client sending the Fetch as a raw
// request (kgo.Client.Request), which decodes the answer (records left as
// bytes) and allocates a buffer of the answer's size per fetch; "conn"
// encodes the request with franz-go's kmsg and reads the answer into one
// reused buffer before decoding it with kmsg, so that its allocations and
// bytes per op are nearly all the broker's. MB/s is record bytes per
// second; B/op and allocs/op count the whole process (broker and client).
//
//	go test -run '^$' -bench BenchmarkDiskFetch -benchmem -count 3 ./embeddedbroker/internal/broker/
func BenchmarkDiskFetch(b *testing.B) {
	env := newFetchBench(b)
	for _, client := range []string{"conn", "kgo"} {
		for _, cache := range []string{"warm", "cold"} {
			for _, size := range fetchBenchSizes {
				for _, mode := range []string{"copy", "zerocopy"} {
					name := fmt.Sprintf("%s/%s/%dKiB/%s", client, cache, size>>10, mode)
					b.Run(name, func(b *testing.B) {
						env.node.copyFetch.Store(mode == "copy")
						env.run(b, client, cache == "cold", int32(size))
					})
				}
			}
		}
	}
}

// fetchBenchBytes is the size of the benchmark's log.
const fetchBenchBytes = 256 << 20

// fetchBenchSizes are the partition max bytes of the fetches.
var fetchBenchSizes = []int{64 << 10, 256 << 10, 1 << 20, 4 << 20}

// fetchBench is the benchmark's node, with its partition written.
type fetchBench struct {
	node    *Node
	dir     string // the partition's directory
	topicID [16]byte
	end     int64 // the log end offset
}

func newFetchBench(b *testing.B) *fetchBench {
	b.Helper()
	bcfg, err := configs.NewBroker(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctrl, err := controller.NewLocal(controller.LocalConfig{Broker: bcfg,
		SessionTimeout: bcfg.Millis("broker.session.timeout.ms"), HeartbeatInterval: bcfg.Millis("broker.heartbeat.interval.ms")})
	if err != nil {
		b.Fatal(err)
	}
	ctrl.Start()
	b.Cleanup(func() { ctrl.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	data := b.TempDir()
	n, err := New(Config{ID: 0, Listener: ln, Broker: bcfg, Controller: ctrl, DataDir: data, Files: logstore.NewFilePool(0)})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	const topic = "fetch-bench"
	t, err := ctrl.CreateTopic(context.Background(), controller.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 1}, false)
	if err != nil {
		b.Fatal(err)
	}
	waitForB(b, "the partition's leader", func() bool {
		p := n.partition(topic, 0)
		return p != nil && p.leader.Load()
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10),
		kgo.MaxBufferedRecords(1<<14))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 1000)
	for i := range value {
		value[i] = byte(rand.Uint32())
	}
	ctx := context.Background()
	errs := make(chan error, 1)
	for range fetchBenchBytes / 1000 {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	p := n.partition(topic, 0)
	return &fetchBench{node: n, dir: filepath.Join(data, topic+"-0"), topicID: t.ID, end: p.log.EndOffset()}
}

// run fetches b.N times with the given client and partition max bytes.
func (e *fetchBench) run(b *testing.B, client string, cold bool, maxBytes int32) {
	var fetch func(req *kmsg.FetchRequest) *kmsg.FetchResponse
	switch client {
	case "kgo":
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.node.Addr()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		fetch = func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
			resp, err := req.RequestWith(context.Background(), cl)
			if err != nil {
				b.Fatal(err)
			}
			return resp
		}
	case "conn":
		c := dialKmsg(b, e.node.Addr())
		defer c.Close()
		fetch = c.fetch
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(16)
	req.MaxBytes = 64 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = e.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	part := &req.Topics[0].Partitions[0]

	evict := func() {
		if cold {
			b.StopTimer()
			evictPageCacheB(b, e.dir)
			b.StartTimer()
		}
	}
	// A first fetch connects the client (kgo: its metadata too) and
	// sizes the buffers reused afterwards.
	fetch(req)
	var total int64
	evict()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		resp := fetch(req)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			b.Fatalf("answer of %d topics", len(resp.Topics))
		}
		rp := &resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 {
			b.Fatalf("fetch at %d: error %d", part.FetchOffset, rp.ErrorCode)
		}
		total += int64(len(rp.RecordBatches))
		next := fetchedUpTo(rp.RecordBatches)
		if next <= part.FetchOffset {
			b.Fatalf("fetch at %d returned nothing", part.FetchOffset)
		}
		part.FetchOffset = next
		if next >= e.end {
			part.FetchOffset = 0
			evict()
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(total)/float64(b.N), "B/fetch")
}

// kmsgConn is a client connection that encodes requests with kmsg and
// reads each answer into one reused buffer.
type kmsgConn struct {
	b    *testing.B
	nc   net.Conn
	f    *kmsg.RequestFormatter
	corr int32
	out  []byte
	in   []byte
	resp kmsg.FetchResponse
}

func dialKmsg(b *testing.B, addr string) *kmsgConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return &kmsgConn{b: b, nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench"))}
}

func (c *kmsgConn) Close() error { return c.nc.Close() }

// fetch sends req and decodes its answer, whose record bytes alias the
// connection's buffer until the next fetch.
func (c *kmsgConn) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	c.corr++
	c.out = c.f.AppendRequest(c.out[:0], req, c.corr)
	if _, err := c.nc.Write(c.out); err != nil {
		c.b.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.b.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if cap(c.in) < n {
		c.in = make([]byte, n, n+n/4) // answers vary by a batch or so
	}
	c.in = c.in[:n]
	if _, err := io.ReadFull(c.nc, c.in); err != nil {
		c.b.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(c.in)); corr != c.corr {
		c.b.Fatalf("correlation id %d, want %d", corr, c.corr)
	}
	c.resp = kmsg.FetchResponse{Version: req.Version}
	body := c.in[4:]
	if c.resp.IsFlexible() {
		body = body[1:] // the response header's empty tagged fields
	}
	if err := c.resp.ReadFrom(body); err != nil {
		c.b.Fatal(err)
	}
	return &c.resp
}

// evictPageCacheB drops the page cache of the files in dir.
func evictPageCacheB(b *testing.B, dir string) {
	b.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		_ = f.Sync()
		const fadvDontNeed = 4
		_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
		f.Close()
	}
}

// waitForB polls cond until it holds or the deadline passes.
func waitForB(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
