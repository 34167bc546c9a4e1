//go:build unix

package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/kafkaboot/kafkaboot/internal/benchrun"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkDiskFetch measures consumer fetches of 1 KB records from disk
// on the copying path (records read into memory and copied into the
// answer, as every fetch was before zero-copy reads, and as TLS fetches
// still are; the copyFetch knob) against the zero-copy one (sendfile), in
// the same run: benchrun interleaves the two, in rounds of fetchBenchRound
// bytes each, in an order shuffled from round to round.
//
// One node, one topic of fetchBenchPartitions partitions holding
// fetchBenchBytes in all, written by a franz-go producer (uncompressed,
// batches of at most 16 KiB, Kafka's default batch.size). The records are
// not in the broker's memory: the disk log keeps no cache of its own, so
// every fetch reads the segment files, through the page cache, which holds
// them (as Kafka relies on it to). Each Fetch (v16, no session, MaxBytes
// 50 MiB as franz-go's and librdkafka's fetch.max.bytes) names, from the
// offsets the last answer reached, wrapping at the end:
//
//   - 64KiB: one partition with PartitionMaxBytes 64 KiB;
//   - 1MiB: one partition with 1 MiB, the default max partition bytes of
//     franz-go (FetchMaxPartitionBytes) and librdkafka
//     (max.partition.fetch.bytes);
//   - 8x1MiB: all 8 partitions with 1 MiB each, 8 MiB an answer, as a
//     consumer of a topic of 8 partitions with those defaults.
//
// Two clients: "conn" encodes the request with franz-go's kmsg and reads
// the answer into one reused buffer before decoding it with kmsg, so that
// nearly all the allocations counted are the broker's; "kgo" is a franz-go
// client sending the Fetch as a raw request (kgo.Client.Request), which
// allocates a buffer of the answer's size per fetch and decodes it.
//
// Reported: ratio-zerocopy, the median over rounds of the copying path's
// time over the zero-copy one's (its throughput relative to the copying
// path's); copy-MB/s and zerocopy-MB/s, record bytes a second; and, per
// fetch of each path, copy-allocs/fetch, zerocopy-allocs/fetch,
// copy-B/fetch and zerocopy-B/fetch, the allocations of the whole process
// (broker and client), measured for each path alone (see run). -benchmem's
// figures count a round: both paths, interleaved.
//
//	go test -run '^$' -bench BenchmarkDiskFetch -benchmem -count 6 ./embeddedbroker/internal/broker/
func BenchmarkDiskFetch(b *testing.B) {
	env := newFetchBench(b)
	for _, client := range []string{"conn", "kgo"} {
		for _, shape := range []struct {
			name       string
			partitions int
			maxBytes   int32
		}{
			{"64KiB", 1, 64 << 10},
			{"1MiB", 1, 1 << 20},
			{"8x1MiB", fetchBenchPartitions, 1 << 20},
		} {
			b.Run(fmt.Sprintf("%s/%s", client, shape.name), func(b *testing.B) {
				env.run(b, client, shape.partitions, shape.maxBytes)
			})
		}
	}
}

const (
	// fetchBenchBytes is the size of the benchmark's log, in all.
	fetchBenchBytes = 256 << 20
	// fetchBenchPartitions is the number of partitions it is spread over.
	fetchBenchPartitions = 8
	// fetchBenchRound is the record bytes each path fetches a round.
	fetchBenchRound = 16 << 20
)

// fetchBench is the benchmark's node, with its partitions written.
type fetchBench struct {
	node    *Node
	topicID [16]byte
	end     [fetchBenchPartitions]int64 // the log end offsets
}

func newFetchBench(b *testing.B) *fetchBench {
	b.Helper()
	const topic = "fetch-bench"
	n, topicID := newDiskNode(b, nil, topic, fetchBenchPartitions, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
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
	var failed atomic.Pointer[error]
	for range fetchBenchBytes / len(value) {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	e := &fetchBench{node: n, topicID: topicID}
	for i := range e.end {
		e.end[i] = n.partition(topic, int32(i)).log.EndOffset()
	}
	return e
}

// fetchClient fetches one shape of the benchmark with one client, from where
// its last fetch ended.
type fetchClient struct {
	e     *fetchBench
	fetch func(req *kmsg.FetchRequest) *kmsg.FetchResponse
	req   *kmsg.FetchRequest
}

func (e *fetchBench) newFetcher(b *testing.B, client string, partitions int, maxBytes int32) *fetchClient {
	f := &fetchClient{e: e}
	switch client {
	case "kgo":
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.node.Addr()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		f.fetch = func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
			resp, err := req.RequestWith(context.Background(), cl)
			if err != nil {
				b.Fatal(err)
			}
			return resp
		}
	case "conn":
		nc, err := net.Dial("tcp", e.node.Addr())
		if err != nil {
			b.Fatal(err)
		}
		c := newKmsgConn(b, nc)
		// Sized for the largest answer, so that the client allocates
		// nothing per fetch.
		c.in = make([]byte, 0, partitions*int(maxBytes)+64<<10)
		f.fetch = c.fetch
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(16)
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = e.topicID
	for p := range partitions {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = int32(p), maxBytes
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	f.req = req
	return f
}

// fetchN fetches until n record bytes came back, and returns the bytes and
// the fetches.
func (f *fetchClient) fetchN(b *testing.B, n int64) (total int64, fetches int) {
	parts := f.req.Topics[0].Partitions
	for total < n {
		resp := f.fetch(f.req)
		fetches++
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(parts) {
			b.Fatalf("answer of %d topics", len(resp.Topics))
		}
		for i := range resp.Topics[0].Partitions {
			rp := &resp.Topics[0].Partitions[i]
			part := &parts[i]
			if rp.ErrorCode != 0 || rp.Partition != part.Partition {
				b.Fatalf("fetch of partition %d at %d: partition %d, error %d", part.Partition, part.FetchOffset, rp.Partition, rp.ErrorCode)
			}
			total += int64(len(rp.RecordBatches))
			next := fetchedUpTo(rp.RecordBatches)
			if next <= part.FetchOffset {
				b.Fatalf("fetch of partition %d at %d returned nothing", part.Partition, part.FetchOffset)
			}
			part.FetchOffset = next
			if next >= f.e.end[part.Partition] {
				part.FetchOffset = 0
			}
		}
	}
	return total, fetches
}

// run measures the two paths for one client and shape: their throughput
// interleaved, then their allocations per fetch, each path alone (after a
// collection and a first fetch), since interleaved each would pay for the
// other's garbage: the collections the copying path's buffers cause empty
// the connections' pools of buffers, which the zero-copy path then
// refills.
func (e *fetchBench) run(b *testing.B, client string, partitions int, maxBytes int32) {
	type path struct {
		f     *fetchClient
		copy  bool
		warm  bool // benchrun's untimed first run is done
		bytes int64
	}
	paths := []*path{
		{f: e.newFetcher(b, client, partitions, maxBytes), copy: true},
		{f: e.newFetcher(b, client, partitions, maxBytes)},
	}
	variant := func(p *path) func() {
		return func() {
			e.node.copyFetch.Store(p.copy)
			n, _ := p.f.fetchN(b, fetchBenchRound)
			if p.warm {
				p.bytes += n
			}
			p.warm = true
		}
	}
	vs := []benchrun.Variant{{Name: "copy", Run: variant(paths[0])}, {Name: "zerocopy", Run: variant(paths[1])}}
	b.ReportAllocs()
	ranges := e.node.fileRanges.Load()
	s := benchrun.Run(b, vs)
	b.StopTimer()
	if e.node.fileRanges.Load() == ranges {
		b.Fatal("nothing was sent from files")
	}
	b.ReportMetric(s.MedianRatio([]int{1}, []int{0}), "ratio-zerocopy")
	var ms runtime.MemStats
	for k, p := range paths {
		b.ReportMetric(float64(p.bytes)/s.Total(k).Seconds()/1e6, vs[k].Name+"-MB/s")
		e.node.copyFetch.Store(p.copy)
		runtime.GC()
		runtime.GC() // the pools' victim caches too
		p.f.fetchN(b, 1)
		runtime.ReadMemStats(&ms)
		mallocs, allocBytes := ms.Mallocs, ms.TotalAlloc
		_, fetches := p.f.fetchN(b, 4*fetchBenchRound)
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(fetches), vs[k].Name+"-allocs/fetch")
		b.ReportMetric(float64(ms.TotalAlloc-allocBytes)/float64(fetches), vs[k].Name+"-B/fetch")
	}
}
