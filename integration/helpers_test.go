// Package integration holds kafkaboot's end-to-end tests against the
// embedded broker with real Kafka clients.
//
// The interop tests (interop_*_test.go, admin_test.go, and this file) check
// the bytes: franz-go, IBM/sarama, segmentio/kafka-go and, where it is
// installed, kcat on librdkafka produce to and consume from a 3-node
// embedded cluster, and each reads back exactly what was written: per
// partition, in order, offsets contiguous from 0, keys, values and headers
// intact, whatever the compression codec and whichever client wrote it.
// They consume by partition assignment from offset 0, never as a group;
// the group tests are in groups_*_test.go.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// numPartitions is the partition count of every interop topic.
const numPartitions = 3

// numRecords is how many records each produce step writes.
const numRecords = 300

// testTimeout bounds each subtest's client calls.
const testTimeout = 45 * time.Second

// codecs are the compression codecs every client is exercised with.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// codecIDs are the record batch attribute values of codecs.
var codecIDs = map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// hdr is a record header.
type hdr struct {
	Key   string
	Value []byte
}

// rec is a record as a test writes it and expects to read it back.
type rec struct {
	Partition  int32
	Key, Value []byte
	Headers    []hdr
}

// got is a record as a consumer read it.
type got struct {
	rec
	Offset int64
}

// startCluster starts the 3-node cluster the interop tests share.
func startCluster(t *testing.T) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3))
}

// testCtx is a context for one (sub)test, bounded by testTimeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// valueSizes are the value sizes makeRecords cycles through: empty, tiny,
// typical and a few large enough to span compression blocks.
var valueSizes = []int{0, 1, 17, 100, 700, 1500, 4096, 9000, 20000}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-_"

// makeRecords builds n deterministic records from src (the producing
// client's name, which also seeds the generator): keys unique per record,
// values of varied sizes, partitions spread pseudo-randomly, and headers
// part (the target partition), seq, src and, unless textOnly, a binary
// header. textOnly records have only printable text without '|', ',', '=',
// ':' or newlines, so that kcat can write and print them.
func makeRecords(src string, n int, textOnly bool) []rec {
	var seed uint64
	for _, c := range []byte(src) {
		seed = seed*31 + uint64(c)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	out := make([]rec, n)
	for i := range out {
		size := valueSizes[i%len(valueSizes)]
		if size > 1 {
			size += rng.IntN(size / 2)
		}
		v := make([]byte, size)
		// Runs of one letter keep the values compressible, random letters
		// keep the compressors honest.
		for j := 0; j < size; {
			c := alphabet[rng.IntN(len(alphabet))]
			run := min(1+rng.IntN(8), size-j)
			for k := range run {
				v[j+k] = c
			}
			j += run
		}
		p := int32(rng.IntN(numPartitions))
		r := rec{
			Partition: p,
			Key:       fmt.Appendf(nil, "%s-key-%04d", src, i),
			Value:     v,
			Headers: []hdr{
				{"part", []byte(strconv.Itoa(int(p)))},
				{"seq", []byte(strconv.Itoa(i))},
				{"src", []byte(src)},
			},
		}
		if !textOnly {
			r.Headers = append(r.Headers, hdr{"bin", []byte{0, 1, 0xfe, 0xff, byte(i)}})
		}
		out[i] = r
	}
	return out
}

// partitionOf reads the part header makeRecords sets.
func partitionOf(hs []hdr) int {
	for _, h := range hs {
		if h.Key == "part" {
			p, _ := strconv.Atoi(string(h.Value))
			return p
		}
	}
	return -1
}

// counts is how many records each partition should hold.
func counts(recs []rec) map[int32]int {
	m := map[int32]int{}
	for p := range int32(numPartitions) {
		m[p] = 0
	}
	for _, r := range recs {
		m[r.Partition]++
	}
	return m
}

// verify checks that each partition returned exactly the records written
// to it, in order, with offsets contiguous from 0.
func verify(t *testing.T, want []rec, gotBy map[int32][]got) {
	t.Helper()
	byPart := map[int32][]rec{}
	for _, r := range want {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	for p := range int32(numPartitions) {
		w, g := byPart[p], gotBy[p]
		if len(w) != len(g) {
			t.Errorf("partition %d: read %d records, wrote %d", p, len(g), len(w))
		}
		bad := 0
		for i := range min(len(w), len(g)) {
			if err := diff(int64(i), w[i], g[i]); err != "" {
				t.Errorf("partition %d, record %d: %s", p, i, err)
				if bad++; bad >= 5 {
					t.Errorf("partition %d: more mismatches not shown", p)
					break
				}
			}
		}
	}
	for p := range gotBy {
		if p < 0 || p >= numPartitions {
			t.Errorf("records read from unexpected partition %d", p)
		}
	}
}

// diff describes how g differs from w at offset off, or is empty.
func diff(off int64, w rec, g got) string {
	switch {
	case g.Offset != off:
		return fmt.Sprintf("offset %d, want %d", g.Offset, off)
	case g.Partition != w.Partition:
		return fmt.Sprintf("partition %d, want %d", g.Partition, w.Partition)
	case !bytes.Equal(g.Key, w.Key):
		return fmt.Sprintf("key %q, want %q", trunc(g.Key), trunc(w.Key))
	case !bytes.Equal(g.Value, w.Value):
		return fmt.Sprintf("value of %d bytes %q, want %d bytes %q", len(g.Value), trunc(g.Value), len(w.Value), trunc(w.Value))
	case !headersEqual(g.Headers, w.Headers):
		return fmt.Sprintf("headers %q, want %q", g.Headers, w.Headers)
	}
	return ""
}

// headersEqual compares headers in order; a nil and an empty value are
// equal (clients differ in how they return an empty header value).
func headersEqual(a, b []hdr) bool {
	return slices.EqualFunc(a, b, func(x, y hdr) bool { return x.Key == y.Key && bytes.Equal(x.Value, y.Value) })
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// franzAdmin returns a kadm client on the cluster, closed at test end.
func franzAdmin(t *testing.T, addrs []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// checkOffsets checks with kadm that each partition starts at 0 and ends
// right after the records written: nothing more was appended than read.
func checkOffsets(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int) {
	t.Helper()
	adm := franzAdmin(t, addrs)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("ListStartOffsets: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	for p, n := range want {
		s, _ := starts.Lookup(topic, p)
		e, _ := ends.Lookup(topic, p)
		if s.Offset != 0 || e.Offset != int64(n) {
			t.Errorf("partition %d: offsets [%d, %d), want [0, %d)", p, s.Offset, e.Offset, n)
		}
	}
}

// codecHook records the compression codec of every batch franz-go reads.
type codecHook struct {
	mu   sync.Mutex
	seen map[uint8]int
}

func (h *codecHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[m.CompressionType]++
}

// checkCodec reads the topic's batches with franz-go and checks that they
// are stored with the codec the producer was asked for. A producer may send
// a batch uncompressed when compressing does not make it smaller (franz-go
// and librdkafka do), so uncompressed batches are allowed, but at least one
// batch must carry the codec and none another codec.
func checkCodec(t *testing.T, ctx context.Context, addrs []string, topic string, codec string, want map[int32]int) {
	t.Helper()
	h := &codecHook{seen: map[uint8]int{}}
	franzConsumeWith(t, ctx, addrs, topic, want, kgo.WithHooks(h))
	h.mu.Lock()
	defer h.mu.Unlock()
	id := codecIDs[codec]
	for c, n := range h.seen {
		if c != 0 && c != id {
			t.Errorf("%d batches compressed with codec %d, want %s (%d)", n, c, codec, id)
		}
	}
	if id != 0 && h.seen[id] == 0 {
		t.Errorf("no batch compressed with %s: batches by codec %v", codec, h.seen)
	}
}

// eachPartition runs read for every partition of want concurrently (a
// partition consumer often waits out a fetch's max wait at close) and
// gathers what they read; their errors fail the test.
func eachPartition(t *testing.T, want map[int32]int, read func(p int32, n int) ([]got, error)) map[int32][]got {
	t.Helper()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		out  = map[int32][]got{}
		errs []error
	)
	for p, n := range want {
		if n == 0 {
			continue
		}
		wg.Go(func() {
			gs, err := read(p, n)
			mu.Lock()
			defer mu.Unlock()
			out[p] = gs
			if err != nil {
				errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return out
}

// producer writes recs to topic with the given codec and acks=all.
type producer func(t *testing.T, ctx context.Context, addrs []string, topic, codec string, recs []rec)

// consumer reads each partition of topic from offset 0 by partition
// assignment until it has want[p] records.
type consumer func(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int) map[int32][]got

// roundTrip produces recs with prod, reads them back with cons and checks
// them, the offsets and the batches' codec.
func roundTrip(t *testing.T, ctx context.Context, addrs []string, topic, codec string, recs []rec, prod producer, cons consumer) {
	t.Helper()
	prod(t, ctx, addrs, topic, codec, recs)
	want := counts(recs)
	verify(t, recs, cons(t, ctx, addrs, topic, want))
	checkOffsets(t, ctx, addrs, topic, want)
	checkCodec(t, ctx, addrs, topic, codec, want)
}
