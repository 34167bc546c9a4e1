package embeddedbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// replicaRecord is a record as a replica's log holds it.
type replicaRecord struct {
	offset int64
	value  string
	tomb   bool
}

// replicaKeys reads node id's replica of topic-0 and returns its records by
// key, in offset order.
func replicaKeys(t *testing.T, c *embeddedbroker.Cluster, id int32, topic string) map[string][]replicaRecord {
	t.Helper()
	out := map[string][]replicaRecord{}
	err := c.ScanReplica(id, topic, 0, func(b []byte) error {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		if h.Attributes&batch.AttrControl != 0 {
			return nil
		}
		return batch.ForEachRecord(b, func(r batch.Record) bool {
			out[string(r.Key)] = append(out[string(r.Key)], replicaRecord{offset: h.BaseOffset + int64(r.OffsetDelta), value: string(r.Value), tomb: r.Value == nil})
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompaction writes 100 keys x 20 versions, 10 keys ending with a
// tombstone, to a compacted topic at replication factor 3, and waits until
// every replica holds exactly the latest record of each live key, at the
// offset it was written at, and no record of the tombstoned keys once
// delete.retention.ms has passed.
func TestCompaction(t *testing.T) {
	const (
		topic    = "compacted"
		keys     = 100
		versions = 20
	)
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.AdminAddr("127.0.0.1:0"),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{
			"cleanup.policy":            "compact",
			"segment.bytes":             "4096",
			"min.cleanable.dirty.ratio": "0.01",
			"delete.retention.ms":       "500",
			"segment.ms":                "100",
		}}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	latest := map[string]replicaRecord{}
	for v := range versions {
		var rs []*kgo.Record
		for k := range keys {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%03d", k), Value: fmt.Appendf(nil, "v%d", v)}
			if v == versions-1 && k%10 == 0 {
				r.Value = nil // the last version of every tenth key is a tombstone
			}
			rs = append(rs, r)
		}
		res := cl.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			latest[string(r.Record.Key)] = replicaRecord{offset: r.Record.Offset, value: string(r.Record.Value), tomb: r.Record.Value == nil}
		}
	}
	// A record after segment.ms rolls the segment holding the last
	// versions, so that all of them can be cleaned.
	time.Sleep(150 * time.Millisecond) // letting segment.ms pass, not waiting for state
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("roll"), Value: []byte("r")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	want := map[string][]replicaRecord{}
	for k, r := range latest {
		if !r.tomb {
			want[k] = []replicaRecord{r}
		}
	}
	for id := range int32(3) {
		var got map[string][]replicaRecord
		waitFor(t, fmt.Sprintf("node %d compacted", id), 30*time.Second, func() bool {
			got = replicaKeys(t, c, id, topic)
			delete(got, "roll")
			return maps.EqualFunc(got, want, slices.Equal)
		})
	}

	// The admin API shows each replica's cleaning.
	resp, err := http.Get(c.AdminURL() + "/v1/cleaner?topic=" + topic)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep embeddedbroker.CleanerReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != 3 {
		t.Fatalf("cleaner report of %d nodes", len(rep.Nodes))
	}
	for _, n := range rep.Nodes {
		if len(n.Logs) != 1 {
			t.Fatalf("node %d: %d logs", n.Node, len(n.Logs))
		}
		l := n.Logs[0]
		if l.Topic != topic || l.LastRun == nil || l.LastRun.Error != "" || l.LastRun.BytesWritten >= l.LastRun.BytesRead ||
			l.FirstDirtyOffset > l.FirstUncleanableOffset || l.DirtyRatio < 0 || l.DirtyRatio > 1 {
			t.Fatalf("node %d: %+v (last run %+v)", n.Node, l, l.LastRun)
		}
		t.Logf("node %d: dirty ratio %.2f, first dirty %d, uncleanable from %d; last run read %d bytes, wrote %d in %v",
			n.Node, l.DirtyRatio, l.FirstDirtyOffset, l.FirstUncleanableOffset, l.LastRun.BytesRead, l.LastRun.BytesWritten, l.LastRun.Duration)
	}
}

// latestByKey reduces a replica's records to the latest value of each
// key, dropping keys whose latest record is a tombstone.
func latestByKey(recs map[string][]replicaRecord) map[string]string {
	out := map[string]string{}
	for k, rs := range recs {
		if last := rs[len(rs)-1]; !last.tomb {
			out[k] = last.value
		}
	}
	return out
}

// TestCompactionTransactions: committed transactional records survive
// cleaning, aborted ones are removed from every replica, and a
// read_committed consumer reads the same latest value per key before and
// after cleaning.
func TestCompactionTransactions(t *testing.T) {
	const topic = "txn-compacted"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{
			"cleanup.policy": "compact", "segment.bytes": "2048", "segment.ms": "100",
			"min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "300",
		}}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("compactor"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	txn := func(value string, commit bool, keys ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			cl.Produce(ctx, &kgo.Record{Key: []byte(k), Value: []byte(value)}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	for round := range 5 {
		txn(fmt.Sprintf("committed-%d", round), true, all...)
		txn(fmt.Sprintf("aborted-%d", round), false, all...)
	}
	txn("final", true, all[:5]...)
	txn("aborted-final", false, all...)
	time.Sleep(150 * time.Millisecond) // letting segment.ms pass, not waiting for state
	txn("roll", true, "roll")

	readCommitted := func() map[string]string {
		t.Helper()
		rc, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out := map[string]string{}
		for out["roll"] == "" {
			fs := rc.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { out[string(r.Key)] = string(r.Value) })
		}
		return out
	}
	aborted := func() int {
		rc := dialRaw(t, c.Addrs()[c.Leader(topic, 0)])
		req := sessionFetch(0, -1, topic, map[int32]int64{0: 0}, nil, 0)
		req.IsolationLevel = 1
		resp := rc.do(req).(*kmsg.FetchResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
		return len(p.AbortedTransactions)
	}
	before := readCommitted()
	t.Logf("before cleaning, a read_committed fetch lists %d aborted transactions", aborted())

	want := map[string]string{"roll": "roll"}
	for i, k := range all {
		want[k] = "committed-4"
		if i < 5 {
			want[k] = "final"
		}
	}
	if !maps.Equal(before, want) {
		t.Fatalf("read_committed before cleaning: %v, want %v", before, want)
	}
	for id := range int32(3) {
		waitFor(t, fmt.Sprintf("node %d compacted", id), 30*time.Second, func() bool {
			recs := replicaKeys(t, c, id, topic)
			for _, rs := range recs {
				if len(rs) != 1 || strings.HasPrefix(rs[0].value, "aborted") {
					return false
				}
			}
			return maps.Equal(latestByKey(recs), want)
		})
	}
	if after := readCommitted(); !maps.Equal(after, want) {
		t.Fatalf("read_committed after cleaning: %v, want %v", after, want)
	}
	// Once the aborted data is gone, read_committed fetches stop listing
	// those aborted transactions (the cleaner trims the index).
	waitFor(t, "the aborted transactions index trimmed", 30*time.Second, func() bool { return aborted() == 0 })
}

// TestCompactionCrash kills nodes at random points while their cleaners
// run (on disk, with a cleaning every few milliseconds), restarts them, and
// checks that every replica then passes validation (every batch frames and
// has its CRC) and holds the same latest value per key as the others and as
// what was acknowledged.
func TestCompactionCrash(t *testing.T) {
	const topic = "crash-compacted"
	rounds := 3 // KAFKABOOT_COMPACTION_CRASH_ROUNDS=50 for a long run
	if v, err := strconv.Atoi(os.Getenv("KAFKABOOT_COMPACTION_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "5"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{
			"cleanup.policy": "compact", "segment.bytes": "4096", "segment.ms": "50",
			"min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100000",
		}}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(rounds)*15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordRetries(1000), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	acked := map[string]string{}
	seq := 0
	produce := func(n int) {
		t.Helper()
		var rs []*kgo.Record
		for range n {
			seq++
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%02d", seq%37), Value: fmt.Appendf(nil, "v%d", seq)})
		}
		res := cl.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			acked[string(r.Record.Key)] = string(r.Record.Value)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range rounds {
		produce(300)
		time.Sleep(60 * time.Millisecond) // letting segment.ms pass so that segments roll, not waiting for state
		produce(10)
		victim := int32(rng.IntN(3))
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) // a random point in the cleaners' work
		must(t, c.KillNode(ctx, victim))
		produce(50)
		must(t, c.RestartNode(ctx, victim))
		t.Logf("round %d: killed and restarted node %d", round, victim)
	}
	time.Sleep(60 * time.Millisecond) // letting segment.ms pass, not waiting for state
	produce(1)
	for id := range int32(3) {
		waitFor(t, fmt.Sprintf("node %d holds every acknowledged latest value", id), 60*time.Second, func() bool {
			return maps.Equal(latestByKey(replicaKeys(t, c, id, topic)), acked)
		})
		err := c.ScanReplica(id, topic, 0, func(b []byte) error {
			h, err := batch.ParseHeader(b)
			if err != nil {
				return err
			}
			if got := batch.CRC(b); got != h.CRC {
				return fmt.Errorf("batch at %d: CRC %#x, stored %#x", h.BaseOffset, got, h.CRC)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
	}
}

// TestOffsetsTopicCompacted commits offsets for 10 partitions many times
// (20 000, KAFKABOOT_OFFSET_COMMITS for more) to one group and checks
// that the cleaner leaves __consumer_offsets holding about one record per
// partition committed (plus the small active segment), and that the
// group's latest offsets are what a new coordinator would load.
func TestOffsetsTopicCompacted(t *testing.T) {
	commits := 20_000
	if v, err := strconv.Atoi(os.Getenv("KAFKABOOT_OFFSET_COMMITS")); err == nil && v > 0 {
		commits = v
	}
	const parts = 10
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(1),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"),
		embeddedbroker.BrokerConfig("offsets.topic.num.partitions", "1"),
		embeddedbroker.BrokerConfig("offsets.topic.segment.bytes", "4096"),
		embeddedbroker.Topics(parts, "committed"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < commits; i += workers {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation, req.MemberID = "compacted-group", -1, ""
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = "committed"
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset = int32(i%parts), int64(i)
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, cl)
				if err == nil {
					err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	// A last commit per partition, in order, so that the latest offset of
	// each is known (the concurrent ones land in any order).
	final := kadm.Offsets{}
	for p := range int32(parts) {
		final.Add(kadm.Offset{Topic: "committed", Partition: p, At: int64(commits) + int64(p), LeaderEpoch: -1})
	}
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "compacted-group", final); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		if err := c.ScanReplica(0, "__consumer_offsets", 0, func(b []byte) error {
			h, err := batch.ParseHeader(b)
			if err == nil && h.Attributes&batch.AttrControl == 0 {
				n += int(h.NumRecords)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The active segment (4 KiB, a few dozen records) is never cleaned.
	waitFor(t, "__consumer_offsets compacted", 60*time.Second, func() bool { return count() <= parts+100 })
	t.Logf("%d commits in %v; __consumer_offsets-0 holds %d records after cleaning", commits, took.Round(time.Millisecond), count())
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "compacted-group")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		o, _ := offs.Lookup("committed", p)
		if want := int64(commits) + int64(p); o.At != want {
			t.Fatalf("partition %d: committed %d, want %d", p, o.At, want)
		}
	}
}

// TestRetentionOnlyWithDelete: with retention.ms=1000, a compact,delete
// topic loses its old segments to time retention, while a compact-only
// topic keeps the latest value of every key.
func TestRetentionOnlyWithDelete(t *testing.T) {
	cfg := func(policy string) map[string]string {
		return map[string]string{"cleanup.policy": policy, "retention.ms": "1000", "segment.ms": "100", "segment.bytes": "1024"}
	}
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.BrokerConfig("log.retention.check.interval.ms", "50"),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "compact-only", Partitions: 1, Configs: cfg("compact")}),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "compact-delete", Partitions: 1, Configs: cfg("compact,delete")}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]string{}
	for i := range 200 {
		k, v := fmt.Sprintf("k%02d", i%50), fmt.Sprintf("v%d", i)
		want[k] = v
		for _, topic := range []string{"compact-only", "compact-delete"} {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(150 * time.Millisecond) // letting segment.ms pass, not waiting for state
	for _, topic := range []string{"compact-only", "compact-delete"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("roll"), Value: []byte("r")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	want["roll"] = "r"
	// Time retention ran: the compact,delete topic lost every key but the
	// one in its active segment.
	waitFor(t, "retention of compact,delete", 15*time.Second, func() bool {
		return maps.Equal(latestByKey(replicaKeys(t, c, 0, "compact-delete")), map[string]string{"roll": "r"})
	})
	if got := latestByKey(replicaKeys(t, c, 0, "compact-only")); !maps.Equal(got, want) {
		t.Fatalf("compact-only lost keys to retention: %d keys, want %d", len(got), len(want))
	}
}

// TestFollowerCatchesUpThroughCleanedLog stops a follower, writes and
// cleans (on the replicas still up) well past where it stopped, and
// restarts it: it fetches the cleaned range, gaps and all, and ends with
// the same latest value per key, back in the ISR.
func TestFollowerCatchesUpThroughCleanedLog(t *testing.T) {
	const topic = "catch-up"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{
			"cleanup.policy": "compact", "segment.bytes": "2048", "segment.ms": "50", "min.cleanable.dirty.ratio": "0.01",
		}}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]string{}
	// One record a batch, so that cleaning removes whole batches and
	// leaves gaps between the ones it keeps.
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			k, v := fmt.Sprintf("k%02d", i%20), fmt.Sprintf("v%d", i)
			want[k] = v
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 100)
	follower := int32(0)
	if c.Leader(topic, 0) == follower {
		follower = 1
	}
	must(t, c.StopNode(ctx, follower))
	produce(100, 600)
	time.Sleep(60 * time.Millisecond) // letting segment.ms pass, not waiting for state
	produce(600, 601)
	leader := c.Leader(topic, 0)
	waitFor(t, "the leader's log cleaned", 30*time.Second, func() bool {
		n := 0
		for _, rs := range replicaKeys(t, c, leader, topic) {
			n += len(rs)
		}
		return n < 100
	})
	must(t, c.RestartNode(ctx, follower))
	waitFor(t, "the follower back in the ISR with every latest value", 30*time.Second, func() bool {
		return len(c.ISR(topic, 0)) == 3 && maps.Equal(latestByKey(replicaKeys(t, c, follower, topic)), want)
	})
}
