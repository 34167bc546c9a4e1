package sharecoord

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memStore is an in-memory partition of __share_group_state.
type memStore struct {
	mu   sync.Mutex
	log  []KV
	fail error
}

func (s *memStore) Append(ctx context.Context, recs []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range recs {
		s.log = append(s.log, KV{Key: slices.Clone(r.Key), Value: slices.Clone(r.Value)})
	}
	return nil
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *memStore) replay(fn func(key, value []byte) error) error {
	s.mu.Lock()
	log := slices.Clone(s.log)
	s.mu.Unlock()
	for _, r := range log {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

// compacted returns the store's log as compaction leaves it: the last
// record of each key, tombstones dropped.
func (s *memStore) compacted() *memStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := map[string]int{}
	for i, r := range s.log {
		last[string(r.Key)] = i
	}
	out := &memStore{}
	for i, r := range s.log {
		if last[string(r.Key)] == i && r.Value != nil {
			out.log = append(out.log, r)
		}
	}
	return out
}

type env struct {
	t      *testing.T
	c      *Coordinator
	stores map[int32]*memStore
	epoch  int32
}

const numPartitions = 3

func newEnv(t *testing.T) *env {
	e := &env{t: t, stores: map[int32]*memStore{}, epoch: 1}
	for p := range int32(numPartitions) {
		e.stores[p] = &memStore{}
	}
	e.start()
	return e
}

func (e *env) start() {
	e.t.Helper()
	e.c = New(Config{NumPartitions: numPartitions}, nil)
	e.t.Cleanup(e.c.Close)
	for p, s := range e.stores {
		if err := e.c.Load(context.Background(), p, e.epoch, s, s.replay); err != nil {
			e.t.Fatalf("load %d: %v", p, err)
		}
	}
}

func (e *env) restart() {
	e.t.Helper()
	e.c.Close()
	e.epoch++
	e.start()
}

var topic = [16]byte{7, 1, 2, 3}

func (e *env) write(group string, p, leaderEpoch int32, st sharegroup.PartitionState) int16 {
	e.t.Helper()
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.Version = 1
	req.GroupID = group
	rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.StateEpoch, rp.StartOffset = p, leaderEpoch, st.StateEpoch, st.StartOffset
	for _, b := range st.Batches {
		rb := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
		rb.FirstOffset, rb.LastOffset, rb.DeliveryState, rb.DeliveryCount = b.FirstOffset, b.LastOffset, int8(b.DeliveryState), b.DeliveryCount
		rp.StateBatches = append(rp.StateBatches, rb)
	}
	rt := kmsg.NewWriteShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.WriteShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.WriteShareGroupStateRequestTopic{rt}
	resp := e.c.Handle(ctx(e.t), req).(*kmsg.WriteShareGroupStateResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (e *env) read(group string, p, leaderEpoch int32) (sharegroup.PartitionState, int16) {
	e.t.Helper()
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.Version = 0
	req.GroupID = group
	rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = p, leaderEpoch
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.ReadShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.ReadShareGroupStateRequestTopic{rt}
	got := e.c.Handle(ctx(e.t), req).(*kmsg.ReadShareGroupStateResponse).Topics[0].Partitions[0]
	st := sharegroup.PartitionState{StateEpoch: got.StateEpoch, StartOffset: got.StartOffset}
	for _, b := range got.StateBatches {
		st.Batches = append(st.Batches, sharegroup.StateBatch{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset,
			DeliveryState: sharegroup.RecordState(b.DeliveryState), DeliveryCount: b.DeliveryCount})
	}
	return st, got.ErrorCode
}

func (e *env) summary(group string, p int32) kmsg.ReadShareGroupStateSummaryResponseTopicPartition {
	e.t.Helper()
	req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	req.Version = 1
	req.GroupID = group
	rp := kmsg.NewReadShareGroupStateSummaryRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = p, -1
	rt := kmsg.NewReadShareGroupStateSummaryRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.ReadShareGroupStateSummaryRequestTopicPartition{rp}
	req.Topics = []kmsg.ReadShareGroupStateSummaryRequestTopic{rt}
	return e.c.Handle(ctx(e.t), req).(*kmsg.ReadShareGroupStateSummaryResponse).Topics[0].Partitions[0]
}

func (e *env) del(group string, p int32) int16 {
	e.t.Helper()
	req := kmsg.NewPtrDeleteShareGroupStateRequest()
	req.GroupID = group
	rp := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
	rp.Partition = p
	rt := kmsg.NewDeleteShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.DeleteShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.DeleteShareGroupStateRequestTopic{rt}
	return e.c.Handle(ctx(e.t), req).(*kmsg.DeleteShareGroupStateResponse).Topics[0].Partitions[0].ErrorCode
}

func (e *env) initialize(group string, p, stateEpoch int32, start int64) int16 {
	e.t.Helper()
	req := kmsg.NewPtrInitializeShareGroupStateRequest()
	req.GroupID = group
	rp := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
	rp.Partition, rp.StateEpoch, rp.StartOffset = p, stateEpoch, start
	rt := kmsg.NewInitializeShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.InitializeShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.InitializeShareGroupStateRequestTopic{rt}
	return e.c.Handle(ctx(e.t), req).(*kmsg.InitializeShareGroupStateResponse).Topics[0].Partitions[0].ErrorCode
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
	}
}

func pstate(start int64, batches ...sharegroup.StateBatch) sharegroup.PartitionState {
	return sharegroup.PartitionState{StartOffset: start, Batches: batches}
}

// TestPersistAndRestart: written states read back, survive a restart (also
// from a compacted log), and a deleted state is gone for good.
func TestPersistAndRestart(t *testing.T) {
	e := newEnv(t)
	if st, code := e.read("g", 0, 0); code != 0 || st.StartOffset != -1 {
		t.Fatalf("read of no state: %+v %v", st, kerr.ErrorForCode(code))
	}
	s1 := pstate(10, sharegroup.StateBatch{FirstOffset: 10, LastOffset: 14, DeliveryState: sharegroup.Available, DeliveryCount: 1},
		sharegroup.StateBatch{FirstOffset: 15, LastOffset: 19, DeliveryState: sharegroup.Acknowledged, DeliveryCount: 1})
	wantCode(t, "write", e.write("g", 0, 0, s1), 0)
	s2 := pstate(15, sharegroup.StateBatch{FirstOffset: 15, LastOffset: 19, DeliveryState: sharegroup.Acknowledged, DeliveryCount: 1},
		sharegroup.StateBatch{FirstOffset: 20, LastOffset: 20, DeliveryState: sharegroup.Archived, DeliveryCount: 5})
	wantCode(t, "write", e.write("g", 0, 0, s2), 0)
	wantCode(t, "write of another partition", e.write("g", 1, 0, pstate(3)), 0)
	wantCode(t, "write of another group", e.write("h", 0, 0, pstate(4)), 0)
	check := func(when string) {
		t.Helper()
		st, code := e.read("g", 0, 0)
		wantCode(t, "read "+when, code, 0)
		if !st.Equal(s2) {
			t.Fatalf("read %s: %+v, want %+v", when, st, s2)
		}
		if st, _ := e.read("g", 1, 0); st.StartOffset != 3 {
			t.Fatalf("read of partition 1 %s: %+v", when, st)
		}
		if st, _ := e.read("h", 0, 0); st.StartOffset != 4 {
			t.Fatalf("read of group h %s: %+v", when, st)
		}
	}
	check("")
	e.restart()
	check("after restart")
	for p, s := range e.stores {
		e.stores[p] = s.compacted()
	}
	e.restart()
	check("after compaction and restart")

	sum := e.summary("g", 0)
	if sum.ErrorCode != 0 || sum.StartOffset != 15 || sum.LeaderEpoch != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	wantCode(t, "delete", e.del("g", 0), 0)
	wantCode(t, "delete of nothing", e.del("g", 2), 0)
	if st, _ := e.read("g", 0, 0); st.StartOffset != -1 {
		t.Fatalf("read of a deleted state: %+v", st)
	}
	e.restart()
	if st, _ := e.read("g", 0, 0); st.StartOffset != -1 {
		t.Fatalf("read of a deleted state after restart: %+v", st)
	}
	for p, s := range e.stores {
		e.stores[p] = s.compacted()
	}
	e.restart()
	if st, _ := e.read("g", 0, 0); st.StartOffset != -1 {
		t.Fatalf("read of a deleted state after compaction: %+v", st)
	}
}

// TestFencing: stale leader and state epochs are fenced, also after a
// restart (the leader epoch of writes is persisted), and a failed append
// changes nothing.
func TestFencing(t *testing.T) {
	e := newEnv(t)
	wantCode(t, "write at leader epoch 3", e.write("g", 0, 3, pstate(5)), 0)
	wantCode(t, "write at leader epoch 2", e.write("g", 0, 2, pstate(6)), kerr.FencedLeaderEpoch.Code)
	_, code := e.read("g", 0, 2)
	wantCode(t, "read at leader epoch 2", code, kerr.FencedLeaderEpoch.Code)
	e.restart()
	wantCode(t, "write at leader epoch 2 after restart", e.write("g", 0, 2, pstate(6)), kerr.FencedLeaderEpoch.Code)
	wantCode(t, "write at leader epoch 4", e.write("g", 0, 4, sharegroup.PartitionState{StateEpoch: 2, StartOffset: 7}), 0)
	wantCode(t, "write at state epoch 1", e.write("g", 0, 4, sharegroup.PartitionState{StateEpoch: 1, StartOffset: 8}), kerr.FencedStateEpoch.Code)
	wantCode(t, "invalid state", e.write("g", 0, 4, sharegroup.PartitionState{StateEpoch: 2, StartOffset: -1}), kerr.InvalidRequest.Code)
	wantCode(t, "initialize at the current state epoch", e.initialize("g", 0, 2, 0), kerr.FencedStateEpoch.Code)

	s := e.stores[e.c.PartitionFor("g", topic, 0)]
	s.setFail(kerr.NotEnoughReplicas)
	if code := e.write("g", 0, 4, sharegroup.PartitionState{StateEpoch: 2, StartOffset: 9}); code == 0 {
		t.Fatal("write with a failing store succeeded")
	}
	s.setFail(nil)
	if st, _ := e.read("g", 0, 4); st.StartOffset != 7 {
		t.Fatalf("a failed write changed the state: %+v", st)
	}
	wantCode(t, "initialize at a new state epoch", e.initialize("g", 0, 3, 100), 0)
	if st, _ := e.read("g", 0, 4); st.StartOffset != 100 || st.StateEpoch != 3 || len(st.Batches) != 0 {
		t.Fatalf("after initialize: %+v", st)
	}
	wantCode(t, "empty group", e.write("", 0, 4, pstate(1)), kerr.InvalidGroupID.Code)
}

// TestNotCoordinator: keys of partitions not loaded answer NOT_COORDINATOR.
func TestNotCoordinator(t *testing.T) {
	e := newEnv(t)
	p := e.c.PartitionFor("g", topic, 0)
	e.c.Unload(p)
	wantCode(t, "write", e.write("g", 0, 0, pstate(1)), kerr.NotCoordinator.Code)
	_, code := e.read("g", 0, 0)
	wantCode(t, "read", code, kerr.NotCoordinator.Code)
	if err := e.c.Load(context.Background(), p, 9, e.stores[p], e.stores[p].replay); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "write after reload", e.write("g", 0, 0, pstate(1)), 0)
}

// TestKey: the coordinator key is Kafka's SharePartitionKey form.
func TestKey(t *testing.T) {
	id := [16]byte{0xfb, 0xff}
	if got, want := Key("grp", id, 3), "grp:-_8AAAAAAAAAAAAAAAAAAA:3"; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
	k := sharegroup.ShareKey{GroupID: "grp", TopicID: id, Partition: 3}
	back, err := parseKey(recordKey(k))
	if err != nil || back != k {
		t.Fatalf("key round trip: %+v %v", back, err)
	}
	for n := range len(recordKey(k)) {
		if _, err := parseKey(recordKey(k)[:n]); err == nil {
			t.Fatalf("key truncated to %d bytes parsed", n)
		}
	}
}
