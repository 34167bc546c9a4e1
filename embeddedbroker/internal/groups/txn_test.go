package groups

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type txnOpts struct {
	version  int16 // 0 means v4
	pid      int64
	epoch    int16
	memberID string
	gen      int32
	instance *string
	meta     *string
}

func txnRequest(group string, o txnOpts, offsets map[tp]int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = o.version
	if req.Version == 0 {
		req.Version = 4
	}
	req.TransactionalID = "tx"
	req.Group = group
	req.ProducerID = o.pid
	req.ProducerEpoch = o.epoch
	req.MemberID = o.memberID
	req.Generation = o.gen
	req.InstanceID = o.instance
	ts := make([]tp, 0, len(offsets))
	for t := range offsets {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b tp) int {
		if n := strings.Compare(a.topic, b.topic); n != 0 {
			return n
		}
		return int(a.partition - b.partition)
	})
	for _, t := range ts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != t.topic {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = t.topic
			req.Topics = append(req.Topics, rt)
		}
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition = t.partition
		p.Offset = offsets[t]
		p.Metadata = o.meta
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, p)
	}
	return req
}

func txnCodes(resp *kmsg.TxnOffsetCommitResponse) map[tp]int16 {
	out := make(map[tp]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tp{t.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

// txnCommit sends a TxnOffsetCommit without member or generation (gen -1
// unless o says otherwise).
func (e *env) txnCommit(group string, o txnOpts, offsets map[tp]int64) map[tp]int16 {
	e.t.Helper()
	resp := e.c.Handle(timeoutCtx(e.t, "producer"), txnRequest(group, o, offsets)).(*kmsg.TxnOffsetCommitResponse)
	return txnCodes(resp)
}

func noMember(pid int64) txnOpts { return txnOpts{pid: pid, epoch: 3, gen: -1} }

// endTxn appends the producer's marker to the group's partition and tells
// the coordinator, as the broker does for WriteTxnMarkers.
func (e *env) endTxn(group string, pid int64, commit bool) {
	e.t.Helper()
	e.store(group).marker(pid, commit)
	e.c.CompleteTxn(e.c.PartitionFor(group), pid, commit)
}

func wantOffsets(t *testing.T, what string, got map[tp]fetched, want map[tp]int64) {
	t.Helper()
	for k, off := range want {
		f := got[k]
		if f.code != 0 || f.offset != off {
			t.Fatalf("%s: %s/%d: got offset %d (%s), want %d; all: %+v", what, k.topic, k.partition, f.offset, errName(f.code), off, got)
		}
	}
}

func wantUnstable(t *testing.T, e *env, group string, want map[tp]bool) {
	t.Helper()
	topics := make(map[string][]int32)
	for k := range want {
		topics[k.topic] = append(topics[k.topic], k.partition)
	}
	_, f := e.fetch(group, true, topics)
	for k, unstable := range want {
		code := int16(0)
		if unstable {
			code = kerr.UnstableOffsetCommit.Code
		}
		wantCode(t, "require stable "+group+" "+k.topic, f[k].code, code)
	}
}

func TestTxnOffsetCommitThenCommit(t *testing.T) {
	e := newEnv(t, testConfig())
	e.commit("g", simple(), map[tp]int64{{"t", 0}: 1})
	codes := e.txnCommit("g", txnOpts{pid: 7, epoch: 2, gen: -1, meta: kmsg.StringPtr("m")}, map[tp]int64{{"t", 0}: 5, {"t", 1}: 6})
	wantCode(t, "txn commit t0", codes[tp{"t", 0}], 0)
	wantCode(t, "txn commit t1", codes[tp{"t", 1}], 0)

	if got := e.store("g").txnAppends(); len(got) != 1 || got[0] != (txnAppend{producerID: 7, epoch: 2, recs: 2}) {
		t.Fatalf("AppendTxn calls: %+v", got)
	}
	// The records are OffsetCommit's.
	recs := e.store("g").records()
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	last := recs[len(recs)-1]
	if k.ReadFrom(last.Key) != nil || v.ReadFrom(last.Value) != nil || k.Group != "g" || k.Topic != "t" || v.Offset != 6 || v.Metadata != "m" {
		t.Fatalf("txn offset record: %+v %+v", k, v)
	}

	// Pending: invisible, and unstable.
	_, f := e.fetch("g", false, map[string][]int32{"t": {0, 1}})
	wantOffsets(t, "before marker", f, map[tp]int64{{"t", 0}: 1, {"t", 1}: -1})
	wantUnstable(t, e, "g", map[tp]bool{{"t", 0}: true, {"t", 1}: true, {"t", 2}: false})
	if _, f := e.fetch("g", false, nil); len(f) != 1 {
		t.Fatalf("fetch all lists pending offsets: %+v", f)
	}

	// Markers of other producers or partitions change nothing.
	e.c.CompleteTxn(e.c.PartitionFor("g"), 8, true)
	e.c.CompleteTxn(e.c.PartitionFor("g")+1, 7, true)
	wantUnstable(t, e, "g", map[tp]bool{{"t", 0}: true})

	e.endTxn("g", 7, true)
	_, f = e.fetch("g", true, map[string][]int32{"t": {0, 1}})
	wantOffsets(t, "after commit", f, map[tp]int64{{"t", 0}: 5, {"t", 1}: 6})
	if f[tp{"t", 0}].meta != "m" {
		t.Fatalf("metadata: %+v", f)
	}

	// The same after a reload from the log.
	e.restart()
	_, f = e.fetch("g", true, map[string][]int32{"t": {0, 1}})
	wantOffsets(t, "reloaded", f, map[tp]int64{{"t", 0}: 5, {"t", 1}: 6})
}

func TestTxnOffsetCommitAbort(t *testing.T) {
	e := newEnv(t, testConfig())
	e.commit("g", simple(), map[tp]int64{{"t", 0}: 1})
	wantCode(t, "txn commit", e.txnCommit("g", noMember(7), map[tp]int64{{"t", 0}: 5})[tp{"t", 0}], 0)
	e.endTxn("g", 7, false)
	_, f := e.fetch("g", true, map[string][]int32{"t": {0}})
	wantOffsets(t, "after abort", f, map[tp]int64{{"t", 0}: 1})

	// A group that only ever had the aborted transaction goes away.
	wantCode(t, "txn commit new group", e.txnCommit("only-txn", noMember(9), map[tp]int64{{"t", 0}: 5})[tp{"t", 0}], 0)
	if st := e.listGroups()["only-txn"]; st != "Empty" {
		t.Fatalf("group created by TxnOffsetCommit: %q", st)
	}
	e.endTxn("only-txn", 9, false)
	if _, ok := e.listGroups()["only-txn"]; ok {
		t.Fatal("group of an aborted transaction still listed")
	}

	e.restart()
	_, f = e.fetch("g", true, map[string][]int32{"t": {0}})
	wantOffsets(t, "reloaded", f, map[tp]int64{{"t", 0}: 1})
	if _, ok := e.listGroups()["only-txn"]; ok {
		t.Fatal("group of an aborted transaction came back")
	}
}

// TestTxnOffsetCommitLaterCommitWins checks Kafka's rule that a committed
// transaction does not replace an offset committed later in the log.
func TestTxnOffsetCommitLaterCommitWins(t *testing.T) {
	e := newEnv(t, testConfig())
	e.txnCommit("g", noMember(7), map[tp]int64{{"t", 0}: 5, {"t", 1}: 5})
	e.commit("g", simple(), map[tp]int64{{"t", 0}: 9})
	e.endTxn("g", 7, true)
	_, f := e.fetch("g", true, map[string][]int32{"t": {0, 1}})
	wantOffsets(t, "live", f, map[tp]int64{{"t", 0}: 9, {"t", 1}: 5})
	e.restart()
	_, f = e.fetch("g", true, map[string][]int32{"t": {0, 1}})
	wantOffsets(t, "reloaded", f, map[tp]int64{{"t", 0}: 9, {"t", 1}: 5})
}

func TestTxnOffsetCommitValidation(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	cfg.MaxMetadataSize = 4
	e := newEnv(t, cfg)
	inst := "inst"
	ids, gen := e.joinStableOpts("g", []joinOpts{{clientID: "a", instance: &inst}, {clientID: "b"}})
	member := func(id string, g int32, instance *string) txnOpts {
		return txnOpts{pid: 1, epoch: 0, memberID: id, gen: g, instance: instance}
	}
	one := map[tp]int64{{"t", 0}: 1}
	for _, tc := range []struct {
		name string
		o    txnOpts
		want int16
	}{
		{"member and generation", member(ids[1], gen, nil), 0},
		{"static member", member(ids[0], gen, &inst), 0},
		{"illegal generation", member(ids[1], gen+1, nil), kerr.IllegalGeneration.Code},
		{"unknown member", member("nope", gen, nil), kerr.UnknownMemberID.Code},
		{"fenced instance", member(ids[1], gen, &inst), kerr.FencedInstanceID.Code},
		{"unknown instance", member(ids[1], gen, kmsg.StringPtr("other")), kerr.UnknownMemberID.Code},
		// Without member and generation, even a group with members takes
		// the commit (unlike OffsetCommit).
		{"no member", txnOpts{pid: 1, gen: -1}, 0},
		// Before v3 the fields do not exist: whatever they hold is ignored.
		{"v2 ignores member fields", txnOpts{version: 2, pid: 1, memberID: "nope", gen: 99}, 0},
	} {
		wantCode(t, tc.name, e.txnCommit("g", tc.o, one)[tp{"t", 0}], tc.want)
	}

	// Unknown topics and partitions, too large metadata: per partition.
	codes := e.txnCommit("g", noMember(1), map[tp]int64{{"t", 0}: 1, {"t", 99}: 1, {"nope", 0}: 1})
	wantCode(t, "known", codes[tp{"t", 0}], 0)
	wantCode(t, "unknown partition", codes[tp{"t", 99}], kerr.UnknownTopicOrPartition.Code)
	wantCode(t, "unknown topic", codes[tp{"nope", 0}], kerr.UnknownTopicOrPartition.Code)
	o := noMember(1)
	o.meta = kmsg.StringPtr("too long")
	wantCode(t, "metadata too large", e.txnCommit("g", o, one)[tp{"t", 0}], kerr.OffsetMetadataTooLarge.Code)
	wantCode(t, "empty group id", e.txnCommit("", noMember(1), one)[tp{"t", 0}], kerr.InvalidGroupID.Code)

	// A rebalance in progress does not refuse transactional commits of
	// the current generation (Kafka checks that for OffsetCommit only).
	r1 := e.join("c", joinOpts{clientID: "a"})
	r := e.join("c", joinOpts{clientID: "a", memberID: r1.MemberID})
	if d := e.describe("c"); d.State != "CompletingRebalance" {
		t.Fatalf("state: %s", d.State)
	}
	wantCode(t, "completing rebalance", e.txnCommit("c", member(r.MemberID, r.Generation, nil), one)[tp{"t", 0}], 0)

	// A group being deleted is Dead: COORDINATOR_NOT_AVAILABLE.
	e.commit("d", simple(), one)
	block := make(chan struct{})
	e.store("d").setBlock(block)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"d"}
	delDone := make(chan *kmsg.DeleteGroupsResponse, 1)
	go func() { delDone <- e.c.Handle(context.Background(), del).(*kmsg.DeleteGroupsResponse) }()
	eventually(t, "the group to be deleted", 5*time.Second, func() bool { return e.describe("d").State == "Dead" })
	wantCode(t, "dead group", e.txnCommit("d", noMember(1), one)[tp{"t", 0}], kerr.CoordinatorNotAvailable.Code)
	close(block)
	wantCode(t, "delete", recv(t, "delete", delDone).Groups[0].ErrorCode, 0)

	// Partitions not loaded.
	e.c.Unload(e.c.PartitionFor("g"))
	wantCode(t, "not coordinator", e.txnCommit("g", noMember(1), one)[tp{"t", 0}], kerr.NotCoordinator.Code)
}

func TestTxnOffsetCommitStoreFailures(t *testing.T) {
	e := newEnv(t, testConfig())
	one := map[tp]int64{{"t", 0}: 1}
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{kerr.InvalidProducerEpoch, kerr.InvalidProducerEpoch.Code},
		{kerr.ProducerFenced, kerr.ProducerFenced.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{errors.New("disk on fire"), kerr.CoordinatorNotAvailable.Code},
	} {
		e.store("g").setFail(tc.err)
		wantCode(t, tc.err.Error(), e.txnCommit("g", noMember(1), one)[tp{"t", 0}], tc.want)
		// A failed write leaves nothing pending.
		wantUnstable(t, e, "g", map[tp]bool{{"t", 0}: false})
	}
	e.store("g").setFail(nil)
	e.endTxn("g", 1, true)
	if _, f := e.fetch("g", false, nil); len(f) != 0 {
		t.Fatalf("failed transactional commit applied: %+v", f)
	}
}

// TestTxnMarkerDuringWrite: a marker that comes while the producer's
// TxnOffsetCommit is still being written (appended, not yet replicated)
// resolves it too, as in Kafka, since its record precedes the marker in the
// log: an abort drops it for good (a later commit of the same producer
// must not resurrect it), a commit applies it.
func TestTxnMarkerDuringWrite(t *testing.T) {
	for _, commit := range []bool{false, true} {
		e := newEnv(t, testConfig())
		block := make(chan struct{})
		e.store("g").setBlock(block)
		done := make(chan map[tp]int16, 1)
		go func() { done <- e.txnCommit("g", noMember(1), map[tp]int64{{"t", 0}: 5}) }()
		eventually(t, "the commit to be pending", 5*time.Second, func() bool {
			_, f := e.fetch("g", true, map[string][]int32{"t": {0}})
			return f[tp{"t", 0}].code == kerr.UnstableOffsetCommit.Code
		})
		e.c.CompleteTxn(e.c.PartitionFor("g"), 1, commit)
		e.store("g").setBlock(nil)
		close(block)
		wantCode(t, "txn commit", recv(t, "txn commit", done)[tp{"t", 0}], 0)
		wantUnstable(t, e, "g", map[tp]bool{{"t", 0}: false})
		want := int64(-1)
		if commit {
			want = 5
		}
		_, f := e.fetch("g", true, map[string][]int32{"t": {0}})
		wantOffsets(t, "after the marker", f, map[tp]int64{{"t", 0}: want})
		// The producer's next transaction commits something else.
		e.txnCommit("g", noMember(1), map[tp]int64{{"t", 1}: 7})
		e.endTxn("g", 1, true)
		_, f = e.fetch("g", true, map[string][]int32{"t": {0, 1}})
		wantOffsets(t, "after the next transaction", f, map[tp]int64{{"t", 0}: want, {"t", 1}: 7})
	}
}

// TestTxnOffsetCommitReplay loads logs with transactional offsets followed
// by a commit marker, an abort marker and no marker, and checks that the
// reloaded state is what the live coordinator had.
func TestTxnOffsetCommitReplay(t *testing.T) {
	e := newEnv(t, testConfig())
	ids, gen := e.joinStable("g", []string{"a"}, joinOpts{})
	m := func(pid int64) txnOpts { return txnOpts{pid: pid, epoch: 1, memberID: ids[0], gen: gen} }
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 1}: 15})
	e.txnCommit("g", m(1), map[tp]int64{{"t", 0}: 10}) // committed
	e.txnCommit("g", m(2), map[tp]int64{{"t", 1}: 20}) // aborted
	e.txnCommit("g", m(3), map[tp]int64{{"t", 2}: 30}) // no marker yet
	e.txnCommit("s", noMember(4), map[tp]int64{{"u", 0}: 40})
	e.endTxn("g", 1, true)
	e.endTxn("g", 2, false)

	check := func(what string) {
		t.Helper()
		_, f := e.fetch("g", false, map[string][]int32{"t": {0, 1, 2}})
		wantOffsets(t, what, f, map[tp]int64{{"t", 0}: 10, {"t", 1}: 15, {"t", 2}: -1})
		wantUnstable(t, e, "g", map[tp]bool{{"t", 0}: false, {"t", 1}: false, {"t", 2}: true})
		wantUnstable(t, e, "s", map[tp]bool{{"u", 0}: true})
		if st := e.listGroups()["s"]; st != "Empty" {
			t.Fatalf("%s: group with pending offsets only: %q", what, st)
		}
	}
	check("live")
	e.restart()
	check("reloaded")

	// The pending ones complete when their markers come.
	e.endTxn("g", 3, true)
	e.endTxn("s", 4, false)
	_, f := e.fetch("g", true, map[string][]int32{"t": {2}})
	wantOffsets(t, "pending committed after load", f, map[tp]int64{{"t", 2}: 30})
	if _, ok := e.listGroups()["s"]; ok {
		t.Fatal("group of an aborted transaction still listed")
	}
	e.restart()
	_, f = e.fetch("g", true, map[string][]int32{"t": {0, 1, 2}})
	wantOffsets(t, "reloaded again", f, map[tp]int64{{"t", 0}: 10, {"t", 1}: 15, {"t", 2}: 30})
}

// TestTxnMarkerWhileLoading: a marker heard while the partition loads is
// applied once the load completes.
func TestTxnMarkerWhileLoading(t *testing.T) {
	e := newEnv(t, testConfig())
	e.txnCommit("g", noMember(1), map[tp]int64{{"t", 0}: 5})
	p := e.c.PartitionFor("g")
	e.c.Unload(p)
	store := e.store("g")
	store.marker(1, true) // appended after the replay has read the log
	release := make(chan struct{})
	loadErr := make(chan error, 1)
	go func() {
		loadErr <- e.c.Load(context.Background(), p, store, func(fn func(LogRecord) error) error {
			<-release
			for _, r := range store.records() { // the log as it was: without the marker
				if err := fn(LogRecord{Key: r.Key, Value: r.Value, ProducerID: 1, Transactional: true}); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	eventually(t, "loading", 5*time.Second, func() bool {
		code, _ := e.fetch("g", false, nil)
		return code == kerr.CoordinatorLoadInProgress.Code
	})
	e.c.CompleteTxn(p, 1, true)
	close(release)
	if err := recv(t, "load", loadErr); err != nil {
		t.Fatal(err)
	}
	_, f := e.fetch("g", true, map[string][]int32{"t": {0}})
	wantOffsets(t, "after load", f, map[tp]int64{{"t", 0}: 5})
}

func TestTxnOffsetCommitDeleteAndExpire(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	cfg := testConfig()
	cfg.Now = clock.Now
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Hour // expiration is run by hand
	e := newEnv(t, cfg)

	// Pending offsets are never expired, nor is their group removed.
	e.commit("s", simple(), map[tp]int64{{"t", 0}: 1})
	e.txnCommit("s", noMember(1), map[tp]int64{{"t", 0}: 2})
	e.txnCommit("p", noMember(2), map[tp]int64{{"t", 0}: 3})
	clock.Advance(2 * time.Hour)
	e.c.expireOffsets()
	_, f := e.fetch("s", false, nil)
	wantOffsets(t, "not expired while pending", f, map[tp]int64{{"t", 0}: 1})
	if st := e.listGroups()["p"]; st != "Empty" {
		t.Fatalf("group with pending offsets removed: %q", st)
	}

	// Pending offsets do not make a group non-empty: DeleteGroups deletes
	// it, and the transaction's commit does not bring its offsets back,
	// live or reloaded.
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"p"}
	wantCode(t, "delete", e.c.Handle(context.Background(), del).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, 0)
	e.endTxn("p", 2, true)
	if _, ok := e.listGroups()["p"]; ok {
		t.Fatal("deleted group came back")
	}
	e.restart()
	if _, ok := e.listGroups()["p"]; ok {
		t.Fatal("deleted group came back after reload")
	}

	// Once committed, the offset expires as any other.
	e.endTxn("s", 1, true)
	_, f = e.fetch("s", true, nil)
	wantOffsets(t, "committed", f, map[tp]int64{{"t", 0}: 2})
	clock.Advance(2 * time.Hour)
	e.c.expireOffsets()
	if _, ok := e.listGroups()["s"]; ok {
		t.Fatal("expired group still listed")
	}
}

func TestTxnOffsetCommitOffsetDelete(t *testing.T) {
	e := newEnv(t, testConfig())
	e.commit("s", simple(), map[tp]int64{{"t", 0}: 1, {"t", 1}: 1})
	e.txnCommit("s", noMember(1), map[tp]int64{{"t", 0}: 2, {"t", 1}: 2})
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "s"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	wantCode(t, "offset delete", e.c.Handle(context.Background(), req).(*kmsg.OffsetDeleteResponse).Topics[0].Partitions[0].ErrorCode, 0)
	// As Kafka's removeOffsets: the pending offset of the deleted
	// partition goes too.
	wantUnstable(t, e, "s", map[tp]bool{{"t", 0}: false, {"t", 1}: true})
	e.endTxn("s", 1, true)
	check := func(what string) {
		t.Helper()
		_, f := e.fetch("s", true, map[string][]int32{"t": {0, 1}})
		wantOffsets(t, what, f, map[tp]int64{{"t", 0}: -1, {"t", 1}: 2})
	}
	check("live")
	e.restart()
	check("reloaded")
}

// TestTxnOffsetCommitAllVersions sends every version kmsg knows and checks
// that the responses encode and decode at their version.
func TestTxnOffsetCommitAllVersions(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	e := newEnv(t, cfg)
	for v := int16(0); v <= (&kmsg.TxnOffsetCommitRequest{}).MaxVersion(); v++ {
		req := txnRequest("vers", txnOpts{version: v, pid: int64(v) + 1, gen: -1}, map[tp]int64{{"t", 1}: int64(v) + 100})
		if v == 0 {
			req.Version = 0
		}
		if req.Version >= 6 {
			req.Topics[0].Topic, req.Topics[0].TopicID = "", [16]byte{1}
			unknown := kmsg.NewTxnOffsetCommitRequestTopic()
			unknown.TopicID = [16]byte{9}
			unknown.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{kmsg.NewTxnOffsetCommitRequestTopicPartition()}
			req.Topics = append(req.Topics, unknown)
		}
		// Through the wire encoding, as a broker receives it.
		wireReq := kmsg.NewPtrTxnOffsetCommitRequest()
		wireReq.Version = req.Version
		if err := wireReq.ReadFrom(req.AppendTo(nil)); err != nil {
			t.Fatalf("v%d request: %v", v, err)
		}
		resp := e.c.Handle(ctxFor("v"), wireReq).(*kmsg.TxnOffsetCommitResponse)
		fresh := kmsg.NewPtrTxnOffsetCommitResponse()
		fresh.Version = v
		if err := fresh.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatalf("v%d response does not decode: %v", v, err)
		}
		wantCode(t, "commit", fresh.Topics[0].Partitions[0].ErrorCode, 0)
		if v >= 6 {
			if fresh.Topics[0].TopicID != [16]byte{1} {
				t.Fatalf("v%d topic ID: %v", v, fresh.Topics[0].TopicID)
			}
			wantCode(t, "unknown topic ID", fresh.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicID.Code)
		}
		e.endTxn("vers", int64(v)+1, true)
		_, f := e.fetch("vers", true, map[string][]int32{"t": {1}})
		wantOffsets(t, "committed", f, map[tp]int64{{"t", 1}: int64(v) + 100})
	}
	if !Handles(kmsg.TxnOffsetCommit.Int16()) {
		t.Fatal("Handles(TxnOffsetCommit) is false")
	}
}
