package embeddedbroker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnClient drives the partition side of transactions by hand: it produces
// transactional batches and writes markers as a transaction coordinator
// would, on one partition.
type txnClient struct {
	t     testing.TB
	rc    *rawConn
	topic string
	part  int32
}

// initProducer gets a producer id from InitProducerID (no transactional
// id: the partition side does not care where the id came from).
func (c *txnClient) initProducer() int64 {
	c.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	resp := c.rc.do(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 || resp.ProducerID < 0 {
		c.t.Fatalf("InitProducerID: error %v id %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID)
	}
	return resp.ProducerID
}

// produceBatch sends one batch with acks=all and returns its base offset
// and error code.
func (c *txnClient) produceBatch(b []byte, txnID *string) (int64, int16) {
	c.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	req.TimeoutMillis = 5000
	req.TransactionID = txnID
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: c.topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: c.part, Records: b}}}}
	p := c.rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	return p.BaseOffset, p.ErrorCode
}

// produce sends a batch of values from producer pid at epoch and seq,
// transactional or not, and returns its base offset.
func (c *txnClient) produce(pid int64, epoch int16, seq int32, txn bool, values ...string) (int64, int16) {
	c.t.Helper()
	recs := make([]batch.Record, len(values))
	for i, v := range values {
		recs[i].Value = []byte(v)
	}
	var prod *batch.Producer
	if pid >= 0 {
		prod = &batch.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}
	}
	var id *string
	if txn {
		s := "txn"
		id = &s
	}
	return c.produceBatch(batch.Build(batch.BuildOptions{Producer: prod, Transactional: txn, Timestamp: time.Now().UnixMilli()}, recs...), id)
}

// mustProduce is produce that fails the test on an error.
func (c *txnClient) mustProduce(pid int64, epoch int16, seq int32, txn bool, values ...string) int64 {
	c.t.Helper()
	off, code := c.produce(pid, epoch, seq, txn, values...)
	if code != 0 {
		c.t.Fatalf("producing %v: %v", values, kerr.ErrorForCode(code))
	}
	return off
}

// marker writes one transaction marker and returns its error code.
func (c *txnClient) marker(pid int64, epoch int16, commit bool) int16 {
	c.t.Helper()
	return c.markerTo(c.topic, c.part, pid, epoch, commit, 0)
}

func (c *txnClient) markerTo(topic string, part int32, pid int64, epoch int16, commit bool, coordEpoch int32) int16 {
	c.t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: topic, Partitions: []int32{part}}}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
	resp := c.rc.do(req).(*kmsg.WriteTxnMarkersResponse)
	if len(resp.Markers) != 1 || resp.Markers[0].ProducerID != pid || len(resp.Markers[0].Topics) != 1 || len(resp.Markers[0].Topics[0].Partitions) != 1 {
		c.t.Fatalf("WriteTxnMarkers answer shaped %+v", resp)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

func (c *txnClient) mustMarker(pid int64, epoch int16, commit bool) {
	c.t.Helper()
	if code := c.marker(pid, epoch, commit); code != 0 {
		c.t.Fatalf("marker for producer %d (commit %v): %v", pid, commit, kerr.ErrorForCode(code))
	}
}

// fetched is one record (or control record) of a fetch answer.
type fetched struct {
	offset  int64
	value   string
	control bool
}

// fetch reads from offset at an isolation level (0 uncommitted, 1
// committed) without waiting.
func (c *txnClient) fetch(offset int64, isolation int8) (kmsg.FetchResponseTopicPartition, []fetched) {
	c.t.Helper()
	return c.fetchWait(offset, isolation, 0)
}

func (c *txnClient) fetchWait(offset int64, isolation int8, wait time.Duration) (kmsg.FetchResponseTopicPartition, []fetched) {
	c.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(wait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.IsolationLevel = isolation
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = c.part
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = c.topic
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	resp := c.rc.do(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	p := resp.Topics[0].Partitions[0]
	var out []fetched
	for rest := p.RecordBatches; len(rest) > 0; {
		b, r, err := batch.Next(rest)
		if err != nil {
			break
		}
		rest = r
		h, err := batch.ParseHeader(b)
		if err != nil {
			c.t.Fatal(err)
		}
		err = batch.ForEachRecord(b, func(rec batch.Record) bool {
			out = append(out, fetched{h.BaseOffset + int64(rec.OffsetDelta), string(rec.Value), h.Control()})
			return true
		})
		if err != nil {
			c.t.Fatal(err)
		}
	}
	return p, out
}

// latest asks ListOffsets for the latest offset at an isolation level.
func (c *txnClient) latest(isolation int8) int64 {
	c.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.IsolationLevel = isolation
	req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: c.topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: c.part, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
	p := c.rc.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		c.t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// checkOffsets checks the high watermark and last stable offset that a
// fetch and ListOffsets report.
func (c *txnClient) checkOffsets(what string, hw, lso int64) {
	c.t.Helper()
	for _, iso := range []int8{0, 1} {
		p, _ := c.fetch(0, iso)
		if p.ErrorCode != 0 || p.HighWatermark != hw || p.LastStableOffset != lso {
			c.t.Fatalf("%s: fetch (isolation %d) error %v HW %d LSO %d, want HW %d LSO %d", what, iso, kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, p.LastStableOffset, hw, lso)
		}
	}
	if got := c.latest(0); got != hw {
		c.t.Fatalf("%s: ListOffsets latest read_uncommitted %d, want %d", what, got, hw)
	}
	if got := c.latest(1); got != lso {
		c.t.Fatalf("%s: ListOffsets latest read_committed %d, want %d", what, got, lso)
	}
}

func dataValues(recs []fetched) []string {
	var out []string
	for _, r := range recs {
		if !r.control {
			out = append(out, r.value)
		}
	}
	return out
}

func abortedOf(p kmsg.FetchResponseTopicPartition) [][2]int64 {
	var out [][2]int64
	for _, a := range p.AbortedTransactions {
		out = append(out, [2]int64{a.ProducerID, a.FirstOffset})
	}
	return out
}

// sentinel appends a plain record "END" after everything, so that
// consumers know when they have read the whole partition.
func (c *txnClient) sentinel() {
	c.t.Helper()
	c.mustProduce(-1, 0, 0, false, "END")
}

// consumeAll reads the partition from the start with a franz-go consumer at
// an isolation level up to the sentinel record, and returns the values
// before it.
func consumeAll(t testing.TB, addrs []string, topic string, iso kgo.IsolationLevel) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %v; got %v", topic, err, got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consuming %s: %v", topic, err) })
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			if string(r.Value) == "END" {
				done = true
				return
			}
			got = append(got, string(r.Value))
		})
		if done {
			return got
		}
	}
}

// TestTxnPartitionInterleaved: two producers' transactions interleave on
// one partition. An open transaction holds the last stable offset at its
// first offset while the other commits; read_committed fetches and
// ListOffsets stop there; the abort marker lists the transaction in
// AbortedTransactions; a franz-go read_committed consumer returns exactly
// the committed records.
func TestTxnPartitionInterleaved(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "txn"))
	tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "txn"}
	a, b := tc.initProducer(), tc.initProducer()

	if off := tc.mustProduce(-1, 0, 0, false, "plain0"); off != 0 {
		t.Fatalf("plain record at %d", off)
	}
	tc.checkOffsets("no transaction", 1, 1)
	if off := tc.mustProduce(a, 0, 0, true, "a1"); off != 1 {
		t.Fatalf("a1 at %d", off)
	}
	tc.checkOffsets("A open", 2, 1)
	tc.mustProduce(b, 0, 0, true, "b1") // 2
	tc.mustProduce(a, 0, 1, true, "a2") // 3
	tc.checkOffsets("A and B open", 4, 1)

	_, recs := tc.fetch(0, 0)
	if got := dataValues(recs); !slices.Equal(got, []string{"plain0", "a1", "b1", "a2"}) {
		t.Fatalf("read_uncommitted with open transactions: %v", got)
	}
	p, recs := tc.fetch(0, 1)
	if got := dataValues(recs); !slices.Equal(got, []string{"plain0"}) || len(p.AbortedTransactions) != 0 {
		t.Fatalf("read_committed with open transactions: %v aborted %v", got, abortedOf(p))
	}
	if p, recs := tc.fetch(1, 1); len(recs) != 0 || p.ErrorCode != 0 {
		t.Fatalf("read_committed at the LSO: %v, %v", recs, kerr.ErrorForCode(p.ErrorCode))
	}

	// B commits; A's open transaction still holds the LSO.
	tc.mustMarker(b, 0, true) // 4
	tc.checkOffsets("B committed, A open", 5, 1)
	_, recs = tc.fetch(0, 1)
	if got := dataValues(recs); !slices.Equal(got, []string{"plain0"}) {
		t.Fatalf("read_committed with A open: %v", got)
	}

	// A aborts: everything is stable.
	tc.mustMarker(a, 0, false) // 5
	tc.checkOffsets("A aborted", 6, 6)
	p, recs = tc.fetch(0, 1)
	if len(recs) != 6 || !recs[4].control || !recs[5].control {
		t.Fatalf("read_committed after both ended: %v", recs)
	}
	if got := abortedOf(p); !slices.Equal(got, [][2]int64{{a, 1}}) {
		t.Fatalf("aborted transactions from 0: %v, want [[%d 1]]", got, a)
	}
	if p, _ := tc.fetch(0, 0); p.AbortedTransactions != nil {
		t.Fatalf("read_uncommitted lists aborted transactions: %v", abortedOf(p))
	}
	if p, _ := tc.fetch(4, 1); !slices.Equal(abortedOf(p), [][2]int64{{a, 1}}) {
		t.Fatalf("aborted transactions from 4: %v", abortedOf(p))
	}
	if p, recs := tc.fetch(6, 1); len(recs) != 0 || len(p.AbortedTransactions) != 0 {
		t.Fatalf("fetch at the end: %v aborted %v", recs, abortedOf(p))
	}

	// A's next transaction in the same epoch continues its sequences and
	// commits; a marker for a producer with nothing open is appended but
	// changes nothing.
	tc.mustProduce(a, 0, 2, true, "a3", "a4") // 6-7
	tc.checkOffsets("A's second transaction open", 8, 6)
	tc.mustMarker(a, 0, true)  // 8
	tc.mustMarker(b, 0, false) // 9: B has nothing open
	tc.checkOffsets("all ended", 10, 10)
	if p, _ := tc.fetch(0, 1); !slices.Equal(abortedOf(p), [][2]int64{{a, 1}}) {
		t.Fatalf("an abort marker without a transaction changed the index: %v", abortedOf(p))
	}

	tc.sentinel()
	committed := []string{"plain0", "b1", "a3", "a4"}
	if got := consumeAll(t, c.Addrs(), "txn", kgo.ReadCommitted()); !slices.Equal(got, committed) {
		t.Fatalf("franz-go read_committed: %v, want %v", got, committed)
	}
	if got := consumeAll(t, c.Addrs(), "txn", kgo.ReadUncommitted()); !slices.Equal(got, []string{"plain0", "a1", "b1", "a2", "a3", "a4"}) {
		t.Fatalf("franz-go read_uncommitted: %v", got)
	}
}

// TestTxnPartitionRefusals: what the partition leader refuses of
// transactional writes and markers, with Kafka's error codes, appending
// nothing.
func TestTxnPartitionRefusals(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "txnref"))
	tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "txnref"}
	a := tc.initProducer()
	txn := "txn"

	expect := func(what string, code int16, want *kerr.Error) {
		t.Helper()
		if code != want.Code {
			t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(code), want)
		}
	}
	ctrl := batch.Build(batch.BuildOptions{Producer: &batch.Producer{ID: a, Epoch: 0, BaseSequence: -1}, Transactional: true, Control: true},
		batch.Record{Key: (&kmsg.ControlRecordKey{Type: kmsg.ControlRecordKeyTypeCommit}).AppendTo(nil), Value: (&kmsg.EndTxnMarker{}).AppendTo(nil)})
	_, code := tc.produceBatch(ctrl, &txn)
	expect("control batch from a client", code, kerr.InvalidRecord)
	_, code = tc.produceBatch(batch.Build(batch.BuildOptions{Transactional: true}, batch.Record{Value: []byte("x")}), &txn)
	expect("transactional batch without a producer id", code, kerr.InvalidRecord)
	_, code = tc.produceBatch(batch.Build(batch.BuildOptions{Producer: &batch.Producer{ID: a}, Transactional: true}, batch.Record{Value: []byte("x")}), nil)
	expect("transactional batch without a transactional id", code, kerr.TransactionalIDAuthorizationFailed)
	tc.checkOffsets("after refusals", 0, 0)

	tc.mustProduce(a, 0, 0, true, "a1") // 0
	_, code = tc.produce(a, 0, 1, false, "plain")
	expect("non-transactional batch during a transaction", code, kerr.InvalidTxnState)
	tc.checkOffsets("A open", 1, 0)

	// A marker with a newer epoch ends the transaction and fences the
	// old epoch; the new epoch's sequences start at 0.
	tc.mustMarker(a, 1, false) // 1
	tc.checkOffsets("aborted at epoch 1", 2, 2)
	expect("marker from an older producer epoch", tc.marker(a, 0, true), kerr.InvalidProducerEpoch)
	_, code = tc.produce(a, 0, 1, true, "old")
	expect("data from the fenced epoch", code, kerr.InvalidProducerEpoch)
	_, code = tc.produce(a, 1, 5, true, "gap")
	expect("new epoch's data not at sequence 0", code, kerr.OutOfOrderSequenceNumber)
	if off := tc.mustProduce(a, 1, 0, true, "a2"); off != 2 {
		t.Fatalf("a2 at %d", off)
	}
	if code := tc.markerTo("txnref", 0, a, 1, true, 3); code != 0 { // 3
		t.Fatalf("commit from coordinator epoch 3: %v", kerr.ErrorForCode(code))
	}
	expect("marker from an older coordinator epoch", tc.markerTo("txnref", 0, a, 1, true, 2), kerr.TransactionCoordinatorFenced)
	expect("marker for an unknown topic", tc.markerTo("nope", 0, a, 1, true, 0), kerr.UnknownTopicOrPartition)
	expect("marker for an unknown partition", tc.markerTo("txnref", 7, a, 1, true, 0), kerr.UnknownTopicOrPartition)
	tc.checkOffsets("end", 4, 4)
	_, recs := tc.fetch(0, 1)
	if got := dataValues(recs); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("log holds %v", got)
	}
}

// TestTxnPartitionLongPoll: a read_committed fetch long-polling at the last
// stable offset is answered when a commit marker moves it, not at the end of
// its wait.
func TestTxnPartitionLongPoll(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "txnpoll"))
	tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "txnpoll"}
	a := tc.initProducer()
	tc.mustProduce(a, 0, 0, true, "a1", "a2")
	type answer struct {
		p    kmsg.FetchResponseTopicPartition
		recs []fetched
		took time.Duration
	}
	got := make(chan answer, 1)
	poller := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "txnpoll"}
	go func() {
		start := time.Now()
		p, recs := poller.fetchWait(0, 1, 20*time.Second)
		got <- answer{p, recs, time.Since(start)}
	}()
	tc.mustMarker(a, 0, true)
	select {
	case ans := <-got:
		if v := dataValues(ans.recs); !slices.Equal(v, []string{"a1", "a2"}) || ans.p.LastStableOffset != 3 {
			t.Fatalf("long poll answered %v LSO %d after %v", v, ans.p.LastStableOffset, ans.took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll was not woken by the commit")
	}
}

// TestTxnPartitionRestart: the transaction state is rebuilt from the log
// when a node restarts, on disk and in memory: an open transaction still
// holds the last stable offset, the aborted index still lists the aborted
// one, producer epochs still fence, and a commit after the restart ends the
// open transaction.
func TestTxnPartitionRestart(t *testing.T) {
	for _, disk := range []bool{false, true} {
		name := "memory"
		if disk {
			name = "disk"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			opts := []embeddedbroker.Option{embeddedbroker.Topics(1, "txnrs")}
			if disk {
				opts = append(opts, embeddedbroker.DataDir(dir))
			}
			c := embeddedbroker.StartForTest(t, opts...)
			tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(0)), topic: "txnrs"}
			a, b := tc.initProducer(), tc.initProducer()
			tc.mustProduce(b, 0, 0, true, "b1") // 0
			tc.mustProduce(a, 0, 0, true, "a1") // 1
			tc.mustMarker(b, 0, false)          // 2
			tc.mustMarker(a, 1, true)           // 3: commits a1 at epoch 1
			tc.mustProduce(a, 1, 0, true, "a2") // 4
			tc.checkOffsets("before the restart", 5, 4)

			if disk {
				must(t, c.Close())
				c = embeddedbroker.StartForTest(t, embeddedbroker.DataDir(dir))
			} else {
				must(t, c.StopNode(ctx, 0))
				must(t, c.RestartNode(ctx, 0))
			}
			tc.rc = dialRaw(t, c.InterBrokerAddr(0))
			waitFor(t, "the partition to lead again", 10*time.Second, func() bool {
				p, _ := tc.fetch(0, 1)
				return p.ErrorCode == 0
			})
			tc.checkOffsets("after the restart", 5, 4)
			p, recs := tc.fetch(0, 1)
			if got := dataValues(recs); !slices.Equal(got, []string{"b1", "a1"}) || !slices.Equal(abortedOf(p), [][2]int64{{b, 0}}) {
				t.Fatalf("read_committed after the restart: %v aborted %v", got, abortedOf(p))
			}
			if code := tc.marker(a, 0, true); code != kerr.InvalidProducerEpoch.Code {
				t.Fatalf("marker from the old epoch after the restart: %v", kerr.ErrorForCode(code))
			}
			tc.mustMarker(a, 1, true) // 5
			tc.checkOffsets("committed after the restart", 6, 6)
			tc.sentinel()
			if got := consumeAll(t, c.Addrs(), "txnrs", kgo.ReadCommitted()); !slices.Equal(got, []string{"a1", "a2"}) {
				t.Fatalf("franz-go read_committed after the restart: %v", got)
			}
		})
	}
}

// TestTxnPartitionFailover: at replication factor 3, followers track the
// transaction state from what they replicate: when the leader dies with a
// transaction open, the new leader holds the last stable offset at the
// transaction's first offset, lists the earlier aborted transaction, and a
// commit marker written to it ends the transaction.
func TestTxnPartitionFailover(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Logger(testLogger(t)), embeddedbroker.Topic(embeddedbroker.TopicSpec{
		Name: "txnfo", Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{"min.insync.replicas": "2"},
	}))
	ctx := context.Background()
	waitFor(t, "full ISR", 10*time.Second, func() bool { return len(c.ISR("txnfo", 0)) == 3 })
	old := c.Leader("txnfo", 0)
	tc := &txnClient{t: t, rc: dialRaw(t, c.InterBrokerAddr(old)), topic: "txnfo"}
	a, b := tc.initProducer(), tc.initProducer()
	tc.mustProduce(b, 0, 0, true, "b1")       // 0
	tc.mustMarker(b, 0, false)                // 1
	tc.mustProduce(-1, 0, 0, false, "plain2") // 2
	tc.mustProduce(a, 0, 0, true, "a3", "a4") // 3-4
	tc.checkOffsets("before the failover", 5, 3)
	// Every follower has everything (acks=all) before the kill; the
	// leader's high watermark reached 5 when they did.

	must(t, c.KillNode(ctx, old))
	waitFor(t, "a new leader", 10*time.Second, func() bool { l := c.Leader("txnfo", 0); return l >= 0 && l != old })
	leader := c.Leader("txnfo", 0)
	tc.rc = dialRaw(t, c.InterBrokerAddr(leader))
	// The new leader's high watermark reaches its log end once the other
	// follower fetches from it.
	waitFor(t, "the new leader's high watermark", 10*time.Second, func() bool {
		p, _ := tc.fetch(0, 1)
		return p.ErrorCode == 0 && p.HighWatermark == 5
	})
	tc.checkOffsets("after the failover", 5, 3)
	p, recs := tc.fetch(0, 1)
	if got := dataValues(recs); !slices.Equal(got, []string{"b1", "plain2"}) || !slices.Equal(abortedOf(p), [][2]int64{{b, 0}}) {
		t.Fatalf("read_committed on the new leader: %v aborted %v", got, abortedOf(p))
	}
	if code := tc.marker(a, 0, true); code != 0 {
		t.Fatalf("commit on the new leader: %v", kerr.ErrorForCode(code))
	}
	tc.checkOffsets("committed on the new leader", 6, 6)
	tc.sentinel()
	if got := consumeAll(t, c.Addrs(), "txnfo", kgo.ReadCommitted()); !slices.Equal(got, []string{"plain2", "a3", "a4"}) {
		t.Fatalf("franz-go read_committed after the failover: %v", got)
	}
}
