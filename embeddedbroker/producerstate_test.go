package embeddedbroker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProducerStateRestart: idempotent and transactional franz-go
// producers write to a node that is stopped (or killed) and restarted
// under them, on disk and in memory. They go on without an error, and a
// read_committed consumer reads every record once, in order, without the
// aborted ones. Segments are small, so the partition restarts from a
// producer state snapshot (at a roll, or the clean stop's) and the log
// after it; a raw producer checks that the state survived exactly: a
// resent batch is answered as a duplicate, a gap is out of order.
func TestProducerStateRestart(t *testing.T) {
	for _, disk := range []bool{true, false} {
		for _, kill := range []bool{false, true} {
			name := map[bool]string{true: "disk", false: "memory"}[disk] + "/" + map[bool]string{true: "kill", false: "stop"}[kill]
			t.Run(name, func(t *testing.T) { producerStateRestart(t, disk, kill) })
		}
	}
}

func producerStateRestart(t *testing.T, disk, kill bool) {
	const topic = "pstate"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	opts := []embeddedbroker.Option{
		embeddedbroker.Logger(testLogger(t)),
		// Every append fsynced, the coordinators' too: a kill loses
		// nothing acknowledged, so that the producers can go on.
		embeddedbroker.BrokerConfig("log.flush.interval.messages", "1"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, Configs: map[string]string{"segment.bytes": "65536"}}),
	}
	if disk {
		opts = append(opts, embeddedbroker.DataDir(dir))
	}
	c := embeddedbroker.StartForTest(t, opts...)

	newClient := func(extra ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic),
			kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.MetadataMinAge(20 * time.Millisecond)}, extra...)...) // refresh soon after NOT_LEADER
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	idem := newClient()
	txn := newClient(kgo.TransactionalID("pstate-txn"), kgo.TransactionTimeout(30*time.Second))
	value := func(prefix string, i int) []byte { // 1 KiB: the log outgrows a few segments
		return []byte(fmt.Sprintf("%s-%05d-%s", prefix, i, strings.Repeat("v", 1000)))
	}

	// The idempotent producer runs throughout, the restart included, and
	// 500 records past it.
	var (
		idemN     int
		produced  sync.WaitGroup
		errMu     sync.Mutex
		errs      []error
		acked     atomic.Int64
		restarted = make(chan struct{})
	)
	produced.Go(func() {
		var inner sync.WaitGroup
		defer inner.Wait()
		after := -1
		for i := 0; ; i++ {
			if after < 0 {
				select {
				case <-restarted:
					after = 500
				default:
				}
			}
			if after == 0 {
				idemN = i
				return
			}
			if after > 0 {
				after--
			}
			inner.Add(1)
			idem.Produce(ctx, &kgo.Record{Value: value("i", i)}, func(_ *kgo.Record, err error) {
				defer inner.Done()
				acked.Add(1)
				if err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
			})
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})

	var committed []string
	transaction := func(prefix string, n int, commit bool) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			v := value(prefix, i)
			if err := txn.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatalf("transactional produce: %v", err)
			}
			if commit {
				committed = append(committed, string(v))
			}
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("ending transaction %s: %v", prefix, err)
		}
	}
	transaction("t0", 50, true)
	transaction("x0", 20, false)

	// A raw producer whose state the restart must keep.
	tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: topic}
	pid := tc.initProducer()
	tc.mustProduce(pid, 0, 0, false, "r0", "r1")
	lastOff := tc.mustProduce(pid, 0, 2, false, "r2")

	// Past several rolls (roll snapshots) and 1 MiB (a snapshot at the
	// clean stop).
	waitFor(t, "1500 records acknowledged", 30*time.Second, func() bool { return acked.Load() >= 1500 })
	if kill {
		must(t, c.KillNode(ctx, 0))
	} else {
		must(t, c.StopNode(ctx, 0))
	}
	if disk {
		pdir := filepath.Join(dir, "node-0", topic+"-0")
		snaps, _ := filepath.Glob(filepath.Join(pdir, "*.snapshot"))
		_, markerErr := os.Stat(filepath.Join(pdir, "clean-shutdown"))
		if len(snaps) == 0 || (markerErr == nil) == kill {
			t.Fatalf("after the %s: snapshots %v, clean-shutdown marker: %v", map[bool]string{true: "kill", false: "stop"}[kill], snaps, markerErr)
		}
	}
	must(t, c.RestartNode(ctx, 0))
	close(restarted)

	tc.rc = dialRaw(t, c.Addrs()[0])
	waitFor(t, "the partition to lead again", 10*time.Second, func() bool {
		p, _ := tc.fetch(0, 1)
		return p.ErrorCode == 0
	})
	if off, code := tc.produce(pid, 0, 2, false, "r2"); code != 0 || off != lastOff {
		t.Fatalf("resent batch after the restart: offset %d error %v, want the original %d", off, kerr.ErrorForCode(code), lastOff)
	}
	if _, code := tc.produce(pid, 0, 5, false, "gap"); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap after the restart: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	tc.mustProduce(pid, 0, 3, false, "r3")

	transaction("t1", 50, true)
	transaction("x1", 20, false)
	produced.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d produce errors across the restart, the first: %v", len(errs), errs[0])
	}
	tc.sentinel()

	got := consumeAll(t, c.Addrs(), topic, kgo.ReadCommitted())
	var idemGot, txnGot, raw []string
	for _, v := range got {
		switch {
		case strings.HasPrefix(v, "i-"):
			idemGot = append(idemGot, v)
		case strings.HasPrefix(v, "t"):
			txnGot = append(txnGot, v)
		case strings.HasPrefix(v, "r"):
			raw = append(raw, v)
		default:
			t.Fatalf("read %.12q, which was aborted or refused", v)
		}
	}
	if len(idemGot) != idemN {
		t.Fatalf("read %d records of the idempotent producer, want %d once each", len(idemGot), idemN)
	}
	for i, v := range idemGot {
		if v != string(value("i", i)) {
			t.Fatalf("idempotent record %d is %.12q: duplicated, lost or reordered", i, v)
		}
	}
	if !slices.Equal(txnGot, committed) {
		t.Fatalf("read %d committed transactional records, want %d", len(txnGot), len(committed))
	}
	if !slices.Equal(raw, []string{"r0", "r1", "r2", "r3"}) {
		t.Fatalf("raw producer's records %v", raw)
	}
}

// TestProducerWithoutStateKIP360: a producer whose batches DeleteRecords
// removed, or whose state expired (producer.id.expiration.ms), goes on at
// its next sequence and is accepted, as Kafka does since KIP-360; once it
// wrote again the partition checks its sequences again.
func TestProducerWithoutStateKIP360(t *testing.T) {
	t.Run("DeleteRecords and a crash", func(t *testing.T) {
		ctx := context.Background()
		c := embeddedbroker.StartForTest(t, embeddedbroker.DataDir(t.TempDir()), embeddedbroker.Topics(1, "kip360"))
		tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "kip360"}
		pid := tc.initProducer()
		tc.mustProduce(pid, 0, 0, false, "a", "b", "c")
		end := tc.mustProduce(pid, 0, 3, false, "d") + 1

		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 5000
		req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "kip360", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: end}}}}
		if p := tc.rc.do(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LowWatermark != end {
			t.Fatalf("DeleteRecords: %v, low watermark %d", kerr.ErrorForCode(p.ErrorCode), p.LowWatermark)
		}
		// A crash: no snapshot at the stop, the state is rebuilt from the
		// log, which no longer holds the producer's batches.
		must(t, c.KillNode(ctx, 0))
		must(t, c.RestartNode(ctx, 0))
		tc.rc = dialRaw(t, c.Addrs()[0])
		waitFor(t, "the partition to lead again", 10*time.Second, func() bool {
			p, _ := tc.fetch(end, 1)
			return p.ErrorCode == 0
		})
		if off, code := tc.produce(pid, 0, 4, false, "e"); code != 0 || off != end {
			t.Fatalf("next sequence of a producer the partition forgot: offset %d error %v, want %d", off, kerr.ErrorForCode(code), end)
		}
		if _, code := tc.produce(pid, 0, 9, false, "gap"); code != kerr.OutOfOrderSequenceNumber.Code {
			t.Fatalf("gap once known again: %v", kerr.ErrorForCode(code))
		}
		tc.mustProduce(pid, 0, 5, false, "f")
	})

	t.Run("expiration", func(t *testing.T) {
		c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "kip360e"), embeddedbroker.BrokerConfigs(map[string]string{
			"producer.id.expiration.ms":                "200",
			"producer.id.expiration.check.interval.ms": "20",
		}))
		tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "kip360e"}
		pid := tc.initProducer()
		open := tc.initProducer()
		tc.mustProduce(pid, 0, 0, false, "a", "b")
		tc.mustProduce(open, 0, 0, true, "txn") // an open transaction never expires
		producers := func() []int64 {
			req := kmsg.NewPtrDescribeProducersRequest()
			req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "kip360e", Partitions: []int32{0}}}
			var ids []int64
			for _, ap := range tc.rc.do(req).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ActiveProducers {
				ids = append(ids, ap.ProducerID)
			}
			return ids
		}
		waitFor(t, "the idle producer to expire", 10*time.Second, func() bool { return !slices.Contains(producers(), pid) })
		if !slices.Contains(producers(), open) {
			t.Fatalf("producer %d with an open transaction expired", open)
		}
		if _, code := tc.produce(pid, 0, 2, false, "c"); code != 0 {
			t.Fatalf("next sequence of an expired producer: %v", kerr.ErrorForCode(code))
		}
		if _, code := tc.produce(pid, 0, 9, false, "gap"); code != kerr.OutOfOrderSequenceNumber.Code {
			t.Fatalf("gap once known again: %v", kerr.ErrorForCode(code))
		}
		tc.mustMarker(open, 0, true)
	})
}
