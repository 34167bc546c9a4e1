package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/endpoint"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/tlsconf"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// zeroCopyNode is a node on disk with a topic of three partitions in
// segments of 64 KiB: partitions 0 and 1 hold plain records of 1 KB,
// partition 2 transactions, every third one aborted, between plain records.
type zeroCopyNode struct {
	n       *Node
	topicID [16]byte
	// values are the records a read_committed consumer sees, by
	// partition, in order; all those a read_uncommitted one sees.
	committed, all [3][]string
}

const zeroCopyTopic = "zero-copy"

// checkNoLeakedFiles fails the test unless, once the answers are written,
// every range of segment files a fetch read (logstore.FileRecords) is
// closed. (The descriptors' own finalizers would close them eventually:
// counting open descriptors would miss a leak.)
func checkNoLeakedFiles(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := logstore.OpenFileRecords(); n != 0; n = logstore.OpenFileRecords() {
		if time.Now().After(deadline) {
			t.Fatalf("%d ranges of segment files left open", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newDiskNode starts one node storing its logs on disk (a pool of 8 open
// segment files), on a controller of its own, with the given broker
// configs and changes to its Config, and creates topic with the given
// partitions and topic configs.
func newDiskNode(tb testing.TB, brokerConfigs map[string]string, topic string, partitions int32, topicConfigs map[string]string, opts ...func(*Config)) (*Node, [16]byte) {
	tb.Helper()
	bcfg, ctrl := testController(tb, brokerConfigs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{ID: 0, Listener: ln, Broker: bcfg, Controller: ctrl, DataDir: tb.TempDir(), Files: logstore.NewFilePool(8)}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Close() })
	t, err := ctrl.CreateTopic(context.Background(), controller.TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 1, Configs: topicConfigs}, false)
	if err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, "the partitions' leader", func() bool {
		for i := range partitions {
			if p := n.partition(topic, i); p == nil || !p.leader.Load() {
				return false
			}
		}
		return true
	})
	return n, t.ID
}

func newZeroCopyNode(t *testing.T, opts ...func(*Config)) *zeroCopyNode {
	t.Helper()
	n, topicID := newDiskNode(t, map[string]string{
		"offsets.topic.num.partitions":         "1",
		"transaction.state.log.num.partitions": "1",
	}, zeroCopyTopic, 3, map[string]string{"segment.bytes": strconv.Itoa(64 << 10)}, opts...)
	z := &zeroCopyNode{n: n, topicID: topicID}
	ctx := context.Background()
	value := func(p, i int) string {
		return fmt.Sprintf("%d-%06d-%s", p, i, bytes.Repeat([]byte{byte('a' + i%26)}, 1000))
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic(zeroCopyTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(20<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	produce := func(cl *kgo.Client, p, i int) {
		t.Helper()
		v := value(p, i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(p), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for p := range 2 {
		var rs []*kgo.Record
		for i := range 600 {
			v := value(p, i)
			rs = append(rs, &kgo.Record{Partition: int32(p), Value: []byte(v)})
			z.committed[p] = append(z.committed[p], v)
		}
		if err := plain.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	z.all[0], z.all[1] = z.committed[0], z.committed[1]
	txn, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic(zeroCopyTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.TransactionalID("zero-copy"), kgo.ProducerBatchMaxBytes(20<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	i := 0
	for round := range 12 {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		abort := round%3 == 1
		for range 40 {
			produce(txn, 2, i)
			z.all[2] = append(z.all[2], value(2, i))
			if !abort {
				z.committed[2] = append(z.committed[2], value(2, i))
			}
			i++
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(!abort)); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			produce(plain, 2, i)
			z.all[2] = append(z.all[2], value(2, i))
			z.committed[2] = append(z.committed[2], value(2, i))
			i++
		}
	}
	return z
}

// fetchRequest builds a sessionless fetch of every partition from offsets.
func (z *zeroCopyNode) fetchRequest(version int16, isolation int8, offsets []int64, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.MaxBytes = 1 << 20
	req.IsolationLevel = isolation
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = zeroCopyTopic, z.topicID
	for p, off := range offsets {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), off, partMax
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// readAll fetches every partition from the start to the end over the
// connection with the given client (raw Fetch requests), and returns
// what came back: the records' bytes, the aborted transactions and the
// offsets each answer reported, by partition.
type fetched struct {
	records [3][]byte
	aborted [3][]string
	offsets [3][]string
}

func (z *zeroCopyNode) readAll(t *testing.T, cl *kgo.Client, version int16, isolation int8, partMax int32) *fetched {
	t.Helper()
	var got fetched
	offsets := []int64{0, 0, 0}
	for range 10_000 {
		ends := 0
		for p, off := range offsets {
			if off >= z.n.partition(zeroCopyTopic, int32(p)).log.EndOffset() {
				ends++
			}
		}
		if ends == len(offsets) {
			return &got
		}
		resp, err := z.fetchRequest(version, isolation, offsets, partMax).RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
			t.Fatalf("answer: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
		}
		for _, rp := range resp.Topics[0].Partitions {
			p := rp.Partition
			if rp.ErrorCode != 0 {
				t.Fatalf("partition %d at %d: %v", p, offsets[p], kerr.ErrorForCode(rp.ErrorCode))
			}
			got.records[p] = append(got.records[p], rp.RecordBatches...)
			for _, a := range rp.AbortedTransactions {
				got.aborted[p] = append(got.aborted[p], fmt.Sprintf("%d@%d", a.ProducerID, a.FirstOffset))
			}
			got.offsets[p] = append(got.offsets[p], fmt.Sprintf("hwm %d lso %d start %d", rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset))
			if next := fetchedUpTo(rp.RecordBatches); next > offsets[p] {
				offsets[p] = next
			}
		}
	}
	t.Fatal("the fetches did not reach the end")
	return nil
}

// TestZeroCopyFetchMatchesCopy reads the whole log with raw fetches, on
// the zero-copy path and on the copying one, for fetch versions on both
// sides of the flexible versions (v12) and of topic ids (v13), both
// isolation levels and two partition limits (one below minFileRecords and
// the batches' size, which copies small batches and sends large first
// batches whole; the other crossing segments' ends, which sends ranges of
// two files): every answer's records, aborted transactions and offsets
// are the same.
func TestZeroCopyFetchMatchesCopy(t *testing.T) {
	z := newZeroCopyNode(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(z.n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, version := range []int16{4, 11, 12, 16} {
		for _, isolation := range []int8{0, 1} {
			for _, partMax := range []int32{8 << 10, 48 << 10} {
				t.Run(fmt.Sprintf("v%d/isolation=%d/%dKiB", version, isolation, partMax>>10), func(t *testing.T) {
					z.n.copyFetch.Store(true)
					before := z.n.fileRanges.Load()
					want := z.readAll(t, cl, version, isolation, partMax)
					if z.n.fileRanges.Load() != before {
						t.Fatal("the copying knob answered from files")
					}
					z.n.copyFetch.Store(false)
					got := z.readAll(t, cl, version, isolation, partMax)
					if files := z.n.fileRanges.Load() - before; files == 0 && canSendFiles() && partMax >= minFileRecords {
						t.Fatal("no range answered from files")
					}
					for p := range 3 {
						if !bytes.Equal(got.records[p], want.records[p]) {
							t.Errorf("partition %d: %d bytes of records, %d copying", p, len(got.records[p]), len(want.records[p]))
						}
						if !slices.Equal(got.aborted[p], want.aborted[p]) {
							t.Errorf("partition %d: aborted transactions %v, copying %v", p, got.aborted[p], want.aborted[p])
						}
						if !slices.Equal(got.offsets[p], want.offsets[p]) {
							t.Errorf("partition %d: offsets %v, copying %v", p, got.offsets[p], want.offsets[p])
						}
					}
					if isolation == 1 && len(want.aborted[2]) == 0 {
						t.Error("no aborted transaction answered")
					}
				})
			}
		}
	}
}

// TestZeroCopyFetchAnswer checks the answer a fetch builds on the
// zero-copy path, in the process: a fileFetch for records on disk (not
// for a follower, nor on the copying knob), whose spliced encoding is
// byte for byte kmsg's encoding of the same answer with the records in,
// for every Fetch version the node serves, with and without tagged
// fields, and after a topic is added to the answer (as authorization
// does); and whose quota counts the records on disk.
func TestZeroCopyFetchAnswer(t *testing.T) {
	z := newZeroCopyNode(t)
	ctx := context.Background()
	lo, hi, _ := versions(kmsg.Fetch.Int16())
	for v := lo; v <= hi; v++ {
		for _, tags := range []bool{false, true} {
			if tags && v < 12 {
				continue
			}
			t.Run(fmt.Sprintf("v%d/tags=%v", v, tags), func(t *testing.T) {
				req := z.fetchRequest(v, 1, []int64{0, 0, 0}, 60<<10)
				resp := z.n.handleFetch(ctx, req, true)()
				ff, ok := resp.(*fileFetch)
				if !ok {
					t.Fatalf("answer is a %T, want a fileFetch", resp)
				}
				if len(ff.files) != 3 {
					t.Fatalf("%d partitions on disk, want 3", len(ff.files))
				}
				records := 0
				for _, fs := range ff.files {
					records += int(fs.records.Len())
				}
				if got := ff.recordBytes(); got != records || records < 3*16<<10 {
					t.Fatalf("quota counts %d bytes, the records are %d", got, records)
				}
				if tags {
					for i := range ff.Topics {
						ff.Topics[i].UnknownTags.Set(9, []byte("topic tag"))
						for j := range ff.Topics[i].Partitions {
							p := &ff.Topics[i].Partitions[j]
							p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 0, 1
							p.UnknownTags.Set(10, []byte("partition tag"))
						}
					}
					b := kmsg.NewFetchResponseBroker()
					b.NodeID, b.Host, b.Port = 0, "localhost", 9092
					ff.Brokers = append(ff.Brokers, b)
				}
				// As authorization answers a denied topic, after the others.
				denied := kmsg.NewFetchResponseTopic()
				denied.Topic = "denied"
				dp := kmsg.NewFetchResponseTopicPartition()
				dp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				denied.Partitions = append(denied.Partitions, dp)
				ff.Topics = append(ff.Topics, denied)

				splices := ff.Splices(nil)
				defer func() {
					for _, s := range splices {
						s.Section.Close()
					}
				}()
				if len(splices) != 3 {
					t.Fatalf("%d splices, want 3", len(splices))
				}
				full := *ff.FetchResponse
				full.Topics = nil
				for _, rt := range ff.Topics {
					rt.Partitions = slices.Clone(rt.Partitions)
					full.Topics = append(full.Topics, rt)
				}
				for k, s := range splices {
					fr := s.Section.(*logstore.FileRecords)
					b := make([]byte, fr.Len())
					if _, err := fr.ReadAt(b, 0); err != nil {
						t.Fatal(err)
					}
					if err := checkBatchesCRC(b); err != nil {
						t.Fatalf("splice %d: %v", k, err)
					}
					set := false
					for ti := range ff.Topics {
						for pi := range ff.Topics[ti].Partitions {
							if &ff.Topics[ti].Partitions[pi].RecordBatches == s.Field {
								full.Topics[ti].Partitions[pi].RecordBatches = b
								set = true
							}
						}
					}
					if !set {
						t.Fatalf("splice %d's field is not in the answer", k)
					}
				}
				want := wire.AppendResponse(nil, 77, &full)
				frame, cuts, err := wire.AppendSpliced(nil, 77, ff, splices, nil)
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				prev := 0
				for k, at := range cuts {
					got = append(got, frame[prev:at]...)
					b := make([]byte, splices[k].Section.Len())
					if _, err := splices[k].Section.(*logstore.FileRecords).ReadAt(b, 0); err != nil {
						t.Fatal(err)
					}
					got = append(got, b...)
					prev = at
				}
				got = append(got, frame[prev:]...)
				if !bytes.Equal(got, want) {
					t.Fatalf("spliced answer of %d bytes differs from kmsg's encoding of %d", len(got), len(want))
				}
			})
		}
	}

	// Not from disk files: on the knob, on a connection that cannot send
	// files, or for a follower.
	z.n.copyFetch.Store(true)
	if resp := z.n.handleFetch(ctx, z.fetchRequest(16, 0, []int64{0, 0, 0}, 40<<10), true)(); fmt.Sprintf("%T", resp) != "*kmsg.FetchResponse" {
		t.Errorf("copyFetch answers a %T", resp)
	}
	z.n.copyFetch.Store(false)
	if resp := z.n.handleFetch(ctx, z.fetchRequest(16, 0, []int64{0, 0, 0}, 40<<10), false)(); fmt.Sprintf("%T", resp) != "*kmsg.FetchResponse" {
		t.Errorf("a connection without sendfile gets a %T", resp)
	}
	follower := z.fetchRequest(16, 0, []int64{0, 0, 0}, 40<<10)
	follower.ReplicaState.ID = 1
	resp := z.n.handleFetch(context.WithValue(ctx, interBrokerKey{}, true), follower, true)()
	if fr, ok := resp.(*kmsg.FetchResponse); !ok {
		t.Errorf("a follower gets a %T", resp)
	} else if fetchBytes(fr) == 0 {
		t.Errorf("a follower's fetch got no records: %+v", fr.Topics)
	}
}

// checkBatchesCRC checks that b is whole batches with good CRCs.
func checkBatchesCRC(b []byte) error {
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		if batch.CRC(b[:h.Size()]) != h.CRC {
			return fmt.Errorf("batch at %d: bad CRC", h.BaseOffset)
		}
		b = b[h.Size():]
	}
	return nil
}

// TestZeroCopyConsumer consumes the topic with franz-go's consumer (fetch
// sessions, incremental fetches, its own limits) on the zero-copy path,
// read_committed and read_uncommitted: every record arrives once, in
// order, aborted ones only when reading uncommitted.
func TestZeroCopyConsumer(t *testing.T) {
	z := newZeroCopyNode(t)
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("read_committed=%v", committed), func(t *testing.T) {
			iso := kgo.ReadUncommitted()
			want := z.all
			if committed {
				iso, want = kgo.ReadCommitted(), z.committed
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(z.n.Addr()), kgo.ConsumeTopics(zeroCopyTopic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
				kgo.FetchMaxPartitionBytes(100<<10))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var got [3][]string
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			before := z.n.fileRanges.Load()
			for len(got[0])+len(got[1])+len(got[2]) < len(want[0])+len(want[1])+len(want[2]) {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
			}
			for p := range 3 {
				if !slices.Equal(got[p], want[p]) {
					t.Errorf("partition %d: %d records, want %d", p, len(got[p]), len(want[p]))
				}
			}
			if z.n.fileRanges.Load() == before && canSendFiles() {
				t.Error("nothing was sent from files")
			}
			cl.Close()
			checkNoLeakedFiles(t)
		})
	}
}

// canSendFiles says whether this platform sends records from files.
func canSendFiles() bool { return runtime.GOOS == "linux" }

// TestZeroCopyFetchWhileSegmentsChange fetches on the zero-copy path from
// two clients while the partition's segments change under the sends: new
// records roll segments, rewrites (as the cleaner's) replace the sealed
// ones with files of other contents, and DeleteRecords deletes the oldest.
// Every answer holds whole batches with good CRCs, from the offset asked
// for on, or OFFSET_OUT_OF_RANGE for an offset deleted meanwhile.
func TestZeroCopyFetchWhileSegmentsChange(t *testing.T) {
	z := newZeroCopyNode(t)
	p := z.n.partition(zeroCopyTopic, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	errs := make(chan error, 3)
	go func() { // the changes
		cl, err := kgo.NewClient(kgo.SeedBrokers(z.n.Addr()), kgo.DefaultProduceTopic(zeroCopyTopic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			errs <- err
			return
		}
		defer cl.Close()
		value := bytes.Repeat([]byte("v"), 1000)
		drop := false
		for round := 0; ctx.Err() == nil; round++ {
			var rs []*kgo.Record
			for range 30 {
				rs = append(rs, &kgo.Record{Partition: 0, Value: value})
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil && ctx.Err() == nil {
				errs <- err
				return
			}
			if _, err := p.log.Rewrite(0, 1<<62, func(b []byte) ([]byte, error) {
				drop = !drop
				if drop && round%2 == 1 {
					return nil, nil
				}
				return b, nil
			}); err != nil && !errors.Is(err, logstore.ErrRewriteAborted) {
				errs <- err
				return
			}
			if round%4 == 3 {
				if err := p.log.SetStartOffset(p.log.StartOffset() + 40); err != nil {
					errs <- err
					return
				}
			}
		}
		errs <- nil
	}()
	fetch := func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(z.n.Addr()))
		if err != nil {
			errs <- err
			return
		}
		defer cl.Close()
		for ctx.Err() == nil {
			start, _ := p.lastStable()
			lo, hi := p.log.StartOffset(), start
			off := lo + rand.Int64N(max(hi-lo, 1))
			req := z.fetchRequest(16, 0, []int64{off}, 48<<10)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				errs <- err
				return
			}
			rp := resp.Topics[0].Partitions[0]
			if rp.ErrorCode == kerr.OffsetOutOfRange.Code {
				continue
			}
			if rp.ErrorCode != 0 {
				errs <- fmt.Errorf("fetch at %d: %v", off, kerr.ErrorForCode(rp.ErrorCode))
				return
			}
			if err := checkBatchesCRC(rp.RecordBatches); err != nil {
				errs <- fmt.Errorf("fetch at %d: %w", off, err)
				return
			}
			if len(rp.RecordBatches) > 0 && fetchedUpTo(rp.RecordBatches) <= off {
				errs <- fmt.Errorf("fetch at %d: batches end at %d", off, fetchedUpTo(rp.RecordBatches))
				return
			}
		}
		errs <- nil
	}
	before := z.n.fileRanges.Load()
	go fetch()
	go fetch()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if z.n.fileRanges.Load() == before && canSendFiles() {
		t.Fatal("nothing was sent from files")
	}
	checkNoLeakedFiles(t)
	t.Logf("%d ranges sent from files; log now [%d, %d) in %d bytes", z.n.fileRanges.Load()-before, p.log.StartOffset(), p.log.EndOffset(), p.log.Size())
}

// TestZeroCopyFetchListeners sends the same fetches (read_committed, every
// partition, 1 MiB a partition, v11 and v16) on a PLAINTEXT, an SSL, a
// SASL_PLAINTEXT and a SASL_SSL listener: the answers are the same bytes,
// sent from the segment files with sendfile on the plaintext listeners
// (SASL authenticates, then leaves the bytes alone) and copied through
// memory on the TLS ones.
func TestZeroCopyFetchListeners(t *testing.T) {
	bundle, err := tlsconf.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(bundle.ServerCert, bundle.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	clientTLS := bundle.ClientConfig()
	clientTLS.ServerName = "127.0.0.1"
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ls := []Listener{
		{Name: "PLAINTEXT", Protocol: endpoint.Plaintext, Net: listen()},
		{Name: "SSL", Protocol: endpoint.SSL, Net: listen(), TLS: serverTLS},
		{Name: "SASL_PLAINTEXT", Protocol: endpoint.SASLPlaintext, Net: listen(), Mechanisms: []string{"PLAIN"}},
		{Name: "SASL_SSL", Protocol: endpoint.SASLSSL, Net: listen(), TLS: serverTLS, Mechanisms: []string{"PLAIN"}},
	}
	z := newZeroCopyNode(t, func(cfg *Config) {
		cfg.Listeners = append([]Listener{{Name: "CLIENT", Protocol: endpoint.Plaintext, Net: cfg.Listener}}, ls...)
		cfg.PlainUsers = map[string]string{"bob": "bob-secret"}
	})
	for _, version := range []int16{11, 16} {
		var want []byte
		for _, l := range ls {
			nc, err := net.Dial("tcp", l.Net.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if l.Protocol.TLS() {
				nc = tls.Client(nc, clientTLS)
			}
			c := newKmsgConn(t, nc)
			if l.Protocol.SASL() {
				hs := kmsg.NewPtrSASLHandshakeRequest()
				hs.SetVersion(1)
				hs.Mechanism = "PLAIN"
				if code := c.do(hs).(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
					t.Fatalf("%s: handshake: %v", l.Name, kerr.ErrorForCode(code))
				}
				auth := kmsg.NewPtrSASLAuthenticateRequest()
				auth.SetVersion(2)
				auth.SASLAuthBytes = []byte("\x00bob\x00bob-secret")
				if code := c.do(auth).(*kmsg.SASLAuthenticateResponse).ErrorCode; code != 0 {
					t.Fatalf("%s: authenticate: %v", l.Name, kerr.ErrorForCode(code))
				}
			}
			before := z.n.fileRanges.Load()
			req := z.fetchRequest(version, 1, []int64{0, 0, 0}, 1<<20)
			req.MaxBytes = 4 << 20
			c.corr = 1000 // the same correlation id on every listener
			got := bytes.Clone(c.roundTrip(req))
			files := z.n.fileRanges.Load() - before
			switch {
			case l.Protocol.TLS() && files != 0:
				t.Errorf("v%d %s: %d ranges sent from files through TLS", version, l.Name, files)
			case !l.Protocol.TLS() && files == 0 && canSendFiles():
				t.Errorf("v%d %s: nothing sent from files", version, l.Name)
			}
			if want == nil {
				want = got
				resp := kmsg.NewPtrFetchResponse()
				resp.SetVersion(version)
				decode(t, resp, got)
				records := 0
				for _, rp := range resp.Topics[0].Partitions {
					if err := checkBatchesCRC(rp.RecordBatches); err != nil {
						t.Fatal(err)
					}
					records += len(rp.RecordBatches)
				}
				if records < 3*minFileRecords {
					t.Fatalf("v%d: answer of %d bytes of records", version, records)
				}
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("v%d %s: answer of %d bytes differs from PLAINTEXT's %d (first difference at %d)", version, l.Name, len(got), len(want), firstDifference(got, want))
			}
		}
	}
}

// kmsgConn is a client connection that encodes requests with kmsg and
// reads each answer into one reused buffer, so that it allocates little:
// the benchmarks count the broker's allocations with it.
type kmsgConn struct {
	tb   testing.TB
	nc   net.Conn
	f    *kmsg.RequestFormatter
	corr int32
	out  []byte
	in   []byte
	resp kmsg.FetchResponse
}

func newKmsgConn(tb testing.TB, nc net.Conn) *kmsgConn {
	tb.Cleanup(func() { nc.Close() })
	return &kmsgConn{tb: tb, nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
}

// roundTrip sends req and returns its answer's frame, size included,
// valid until the next round trip.
func (c *kmsgConn) roundTrip(req kmsg.Request) []byte {
	c.tb.Helper()
	c.corr++
	c.out = c.f.AppendRequest(c.out[:0], req, c.corr)
	if _, err := c.nc.Write(c.out); err != nil {
		c.tb.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.tb.Fatal(err)
	}
	n := 4 + int(binary.BigEndian.Uint32(size[:]))
	if cap(c.in) < n {
		c.in = make([]byte, n, n+n/4) // answers vary by a batch or so
	}
	c.in = c.in[:n]
	copy(c.in, size[:])
	if _, err := io.ReadFull(c.nc, c.in[4:]); err != nil {
		c.tb.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(c.in[4:])); corr != c.corr {
		c.tb.Fatalf("correlation id %d, want %d", corr, c.corr)
	}
	return c.in
}

// do sends req and decodes its answer.
func (c *kmsgConn) do(req kmsg.Request) kmsg.Response {
	c.tb.Helper()
	resp := req.ResponseKind()
	decode(c.tb, resp, c.roundTrip(req))
	return resp
}

// fetch sends req and decodes its answer, whose record bytes alias the
// connection's buffer until the next round trip.
func (c *kmsgConn) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	c.tb.Helper()
	frame := c.roundTrip(req)
	c.resp = kmsg.FetchResponse{Version: req.Version}
	decode(c.tb, &c.resp, frame)
	return &c.resp
}

// decode decodes an answer's frame (size included) into resp, whose
// version is set.
func decode(tb testing.TB, resp kmsg.Response, frame []byte) {
	tb.Helper()
	body := frame[8:]
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // the response header's empty tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		tb.Fatal(err)
	}
}

// firstDifference is the first index at which a and b differ.
func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestZeroCopyFetchQuota checks that the records an answer leaves on disk
// count against the client's fetch quota (consumer_byte_rate) as records
// in memory do: a client limited to 10 KB/s is throttled by a fetch of
// 180 KB sent from files.
func TestZeroCopyFetchQuota(t *testing.T) {
	z := newZeroCopyNode(t)
	ctx := context.Background()
	admin, err := kgo.NewClient(kgo.SeedBrokers(z.n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res, err := kadm.NewClient(admin).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("limited")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 10_000}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %v", err, res)
	}
	waitFor(t, "the quota applied", func() bool { return z.n.quotas.fetch.Enabled() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(z.n.Addr()), kgo.ClientID("limited"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	before := z.n.fileRanges.Load()
	resp, err := z.fetchRequest(16, 0, []int64{0, 0, 0}, 1<<20).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if z.n.fileRanges.Load() == before && canSendFiles() {
		t.Fatal("nothing was sent from files")
	}
	if resp.ThrottleMillis <= 0 {
		t.Fatalf("a fetch of %d bytes at 10 KB/s was not throttled", fetchBytes(resp))
	}
}
