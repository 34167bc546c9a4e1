package groups

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// goneLog records the members Config.ShareMembersGone reports.
type goneLog struct {
	mu   sync.Mutex
	gone map[string][]string // group -> members, in report order
}

func (l *goneLog) add(group string, ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gone[group] = append(l.gone[group], ids...)
}

func (l *goneLog) of(group string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.gone[group])
}

func shareEnv(t *testing.T) (*env, *goneLog) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	cfg.Share = sharegroup.Config{SessionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}
	gone := &goneLog{gone: map[string][]string{}}
	cfg.ShareMembersGone = gone.add
	return newEnv(t, cfg), gone
}

// sgHeartbeat sends a ShareGroupHeartbeat v1 of member id at epoch,
// subscribing to topics (nil: unchanged).
func (e *env) sgHeartbeat(group, id string, epoch int32, topics []string) *kmsg.ShareGroupHeartbeatResponse {
	e.t.Helper()
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.MemberEpoch = group, id, epoch
	req.SubscribedTopicNames = topics
	return e.c.Handle(timeoutCtx(e.t, "client-"+id), req).(*kmsg.ShareGroupHeartbeatResponse)
}

func sgAssigned(resp *kmsg.ShareGroupHeartbeatResponse) []int32 {
	if resp.Assignment == nil {
		return nil
	}
	var out []int32
	for _, t := range resp.Assignment.TopicPartitions {
		out = append(out, t.Partitions...)
	}
	slices.Sort(out)
	return out
}

func (e *env) sgDescribe(group string) kmsg.ShareGroupDescribeResponseGroup {
	e.t.Helper()
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.Version = 1
	req.GroupIDs = []string{group}
	req.IncludeAuthorizedOperations = true
	return e.c.Handle(timeoutCtx(e.t, "admin"), req).(*kmsg.ShareGroupDescribeResponse).Groups[0]
}

func (e *env) deleteGroups(group string) int16 {
	e.t.Helper()
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{group}
	return e.c.Handle(timeoutCtx(e.t, "admin"), req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
}

// sgJoin joins the members to topic "t" and heartbeats them until each
// is at the group's assignment epoch; it returns their epochs.
func (e *env) sgJoin(group string, ids ...string) map[string]int32 {
	e.t.Helper()
	epochs := map[string]int32{}
	for _, id := range ids {
		r := e.sgHeartbeat(group, id, 0, []string{"t"})
		if r.ErrorCode != 0 {
			e.t.Fatalf("join of %s: %v", id, kerr.ErrorForCode(r.ErrorCode))
		}
		epochs[id] = r.MemberEpoch
	}
	for _, id := range ids {
		r := e.sgHeartbeat(group, id, epochs[id], nil)
		if r.ErrorCode != 0 {
			e.t.Fatalf("heartbeat of %s: %v", id, kerr.ErrorForCode(r.ErrorCode))
		}
		epochs[id] = r.MemberEpoch
	}
	return epochs
}

// TestShareGroupHeartbeat: members join a share group, every partition of
// the subscribed topic is assigned, ListGroups and ShareGroupDescribe show
// the group, and the state survives a restart: the members heartbeat on at
// their epochs.
func TestShareGroupHeartbeat(t *testing.T) {
	e, _ := shareEnv(t)
	if r := e.sgHeartbeat("", "a", 0, []string{"t"}); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty group ID: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := e.sgHeartbeat("g", "a", 3, nil); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat at epoch 3 of an unknown group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if _, ok := e.listGroupTypes()["g"]; ok {
		t.Fatal("a refused heartbeat left the group behind")
	}
	epochs := e.sgJoin("g", "a", "b")
	covered := map[int32]bool{}
	d := e.sgDescribe("g")
	if d.ErrorCode != 0 || len(d.Members) != 2 || d.GroupState != "Stable" || d.GroupEpoch != 2 || d.AssignmentEpoch != 2 ||
		d.AuthorizedOperations != allGroupOperations {
		t.Fatalf("described %+v", d)
	}
	for _, m := range d.Members {
		if m.MemberEpoch != epochs[m.MemberID] || m.ClientID != "client-"+m.MemberID {
			t.Fatalf("member %+v, epochs %v", m, epochs)
		}
		for _, tp := range m.Assignment.TopicPartitions {
			if tp.Topic != "t" {
				t.Fatalf("assigned %+v", tp)
			}
			for _, p := range tp.Partitions {
				covered[p] = true
			}
		}
	}
	if len(covered) != 8 {
		t.Fatalf("partitions assigned: %v", covered)
	}
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	req.TypesFilter = []string{"share"}
	lg := e.c.Handle(timeoutCtx(t, "admin"), req).(*kmsg.ListGroupsResponse).Groups
	if len(lg) != 1 || lg[0].Group != "g" || lg[0].GroupType != "share" || lg[0].ProtocolType != "share" || lg[0].GroupState != "Stable" {
		t.Fatalf("ListGroups: %+v", lg)
	}

	e.restart()
	after := e.sgDescribe("g")
	if !reflect.DeepEqual(after, d) {
		t.Fatalf("after restart:\n%+v\nbefore:\n%+v", after, d)
	}
	for id, ep := range epochs {
		if r := e.sgHeartbeat("g", id, ep, nil); r.ErrorCode != 0 || r.MemberEpoch != ep {
			t.Fatalf("heartbeat of %s after restart: %v epoch %d", id, kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
		}
	}
}

// TestShareGroupSessionExpiry: a member that stops heartbeating is removed
// after its session timeout, also after a restart (the loaded members get
// fresh sessions), and members that expire or leave are reported to
// ShareMembersGone.
func TestShareGroupSessionExpiry(t *testing.T) {
	e, gone := shareEnv(t)
	epochs := e.sgJoin("g", "a", "b")
	eventually(t, "b expired", 10*time.Second, func() bool {
		r := e.sgHeartbeat("g", "a", epochs["a"], nil)
		if r.ErrorCode != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		epochs["a"] = r.MemberEpoch
		return len(e.sgDescribe("g").Members) == 1
	})
	if r := e.sgHeartbeat("g", "b", epochs["b"], nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the expired member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	eventually(t, "b reported gone", 10*time.Second, func() bool { return slices.Equal(gone.of("g"), []string{"b"}) })

	e.restart()
	eventually(t, "a expired after the restart", 10*time.Second, func() bool { return len(e.sgDescribe("g").Members) == 0 })
	if d := e.sgDescribe("g"); d.GroupState != "Empty" {
		t.Fatalf("after expiry: %+v", d)
	}

	epochs = e.sgJoin("g", "c")
	if r := e.sgHeartbeat("g", "c", -1, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	eventually(t, "c reported gone", 10*time.Second, func() bool { return slices.Contains(gone.of("g"), "c") })
}

// TestShareGroupTypes: a group of one type refuses the requests of the
// others, with Kafka's error codes.
func TestShareGroupTypes(t *testing.T) {
	e, _ := shareEnv(t)
	ids, gen := e.joinStable("classic", []string{"c1"}, joinOpts{})
	if r := e.sgHeartbeat("classic", "a", 0, []string{"t"}); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("share join of a classic group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	e.commit("classic", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 1})
	e.leave("classic", kmsg.LeaveGroupRequestMember{MemberID: ids[0]})
	if r := e.sgHeartbeat("classic", "a", 0, []string{"t"}); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("share join of an empty classic group with offsets: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := e.sgDescribe("classic"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ShareGroupDescribe of a classic group: %+v", d)
	}

	e.sgJoin("s", "a")
	if j := e.join("s", joinOpts{}); j.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a share group: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	if r := e.cgHeartbeat("s", "x", 0, []string{"t"}); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer join of a share group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if codes := e.commit("s", simple(), map[tp]int64{{"t", 0}: 1}); codes[tp{"t", 0}] != kerr.GroupIDNotFound.Code {
		t.Fatalf("commit to a share group: %v", codes)
	}
	if code, _ := e.fetch("s", false, map[string][]int32{"t": {0}}); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("offset fetch of a share group: %v", kerr.ErrorForCode(code))
	}
	if d := e.describe("s"); d.State != "Dead" {
		t.Fatalf("DescribeGroups of a share group: %+v", d)
	}
	if d := e.cgDescribe("s"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a share group: %+v", d)
	}
	if got := e.listGroupTypes(); got["s"] != "share" || got["classic"] != "classic" {
		t.Fatalf("ListGroups types: %v", got)
	}
}

// TestShareGroupDelete: DeleteGroups refuses a share group with members
// and deletes an empty one for good.
func TestShareGroupDelete(t *testing.T) {
	e, _ := shareEnv(t)
	epochs := e.sgJoin("g", "a")
	if code := e.deleteGroups("g"); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with a member: %v", kerr.ErrorForCode(code))
	}
	if r := e.sgHeartbeat("g", "a", -1, nil); r.ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	_ = epochs
	if code := e.deleteGroups("g"); code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	if d := e.sgDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group: %+v", d)
	}
	e.restart()
	if d := e.sgDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after restart: %+v", d)
	}
	if _, ok := e.listGroupTypes()["g"]; ok {
		t.Fatal("deleted group is listed")
	}
	// The ID is free for a group of any type.
	if ids, _ := e.joinStable("g", []string{"c1"}, joinOpts{}); len(ids) != 1 {
		t.Fatalf("classic join after the share group was deleted: %v", ids)
	}
}

// TestShareGroupWriteFailure: a heartbeat whose records cannot be written
// is answered with an error, and the group is rebuilt from the log.
func TestShareGroupWriteFailure(t *testing.T) {
	e, _ := shareEnv(t)
	epochs := e.sgJoin("g", "a")
	s := e.store("g")
	s.setFail(kerr.NotEnoughReplicas)
	if r := e.sgHeartbeat("g", "b", 0, []string{"t"}); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join while writes fail: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	s.setFail(nil)
	eventually(t, "the group reloaded", 10*time.Second, func() bool {
		r := e.sgHeartbeat("g", "a", epochs["a"], nil)
		if r.ErrorCode != 0 && r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("heartbeat after the failure: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		return r.ErrorCode == 0
	})
	if d := e.sgDescribe("g"); len(d.Members) != 1 {
		t.Fatalf("the failed join is in memory: %+v", d)
	}
	if epochs := e.sgJoin("g", "b"); len(epochs) != 1 {
		t.Fatal(epochs)
	}
	if d := e.sgDescribe("g"); len(d.Members) != 2 {
		t.Fatalf("after b joined: %+v", d)
	}
}

// TestShareRecordsRoundTrip: every record the state machine writes
// decodes to itself, and corrupt values are errors, not panics.
func TestShareRecordsRoundTrip(t *testing.T) {
	a := consumergroup.Assignment{{1}: {0, 3, 5}, {2}: {1}}
	recs := []sharegroup.Record{
		sharegroup.GroupEpochRecord{Epoch: 7},
		sharegroup.GroupEpochRecord{Tombstone: true},
		sharegroup.SubscriptionMetadataRecord{Topics: []consumergroup.Topic{{ID: [16]byte{1}, Name: "t", Partitions: 8}}},
		sharegroup.SubscriptionMetadataRecord{Tombstone: true},
		sharegroup.MemberSubscriptionRecord{MemberID: "m", RackID: "r", ClientID: "c", ClientHost: "/h", SubscribedTopicNames: []string{"t", "u"}},
		sharegroup.MemberSubscriptionRecord{MemberID: "m", Tombstone: true},
		sharegroup.TargetAssignmentMemberRecord{MemberID: "m", Partitions: a},
		sharegroup.TargetAssignmentMemberRecord{MemberID: "m", Tombstone: true},
		sharegroup.TargetAssignmentMetadataRecord{AssignmentEpoch: 3},
		sharegroup.CurrentAssignmentRecord{MemberID: "m", MemberEpoch: 3, PreviousMemberEpoch: 2, AssignedPartitions: a},
		sharegroup.CurrentAssignmentRecord{MemberID: "m", Tombstone: true},
	}
	for _, r := range recs {
		kv := shareRecord("grp", r)
		if v := keyVersion(kv.Key); !isShareKey(v) || isConsumerKey(v) {
			t.Errorf("%T: key version %d", r, v)
		}
		group, got, err := parseShareRecord(kv.Key, kv.Value)
		if err != nil || group != "grp" || !reflect.DeepEqual(got, r) {
			t.Errorf("%T: got %q %#v, %v; want %#v", r, group, got, err, r)
		}
		for n := range len(kv.Value) {
			if _, _, err := parseShareRecord(kv.Key, kv.Value[:n]); err == nil && n > 0 {
				t.Errorf("%T truncated to %d bytes decoded", r, n)
			}
		}
		if _, _, err := parseShareRecord(kv.Key, append(kv.Value, 0)); err == nil && kv.Value != nil {
			t.Errorf("%T with a trailing byte decoded", r)
		}
	}
	if _, _, err := parseShareRecord(consumerKey(sgMemberKey, "g"), nil); err == nil {
		t.Error("member key without a member ID decoded")
	}
}

// fakePersister is an in-memory share coordinator for the offset admin
// APIs.
type fakePersister struct {
	mu     sync.Mutex
	states map[string]fakeState // by group/topic/partition
}

type fakeState struct {
	epoch int32
	start int64
}

func persistKey(group string, topic [16]byte, p int32) string {
	return group + "/" + string(topic[:]) + "/" + string(rune(p))
}

func (f *fakePersister) Summary(_ context.Context, group string, topic [16]byte, p int32) (int32, int64, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[persistKey(group, topic, p)]
	if !ok {
		return 0, -1, -1, nil
	}
	return st.epoch, st.start, 0, nil
}

func (f *fakePersister) Initialize(_ context.Context, group string, topic [16]byte, p, epoch int32, start int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := persistKey(group, topic, p)
	if st, ok := f.states[k]; ok && epoch <= st.epoch {
		return kerr.FencedStateEpoch
	}
	f.states[k] = fakeState{epoch, start}
	return nil
}

func (f *fakePersister) Delete(_ context.Context, group string, topic [16]byte, p int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.states, persistKey(group, topic, p))
	return nil
}

func (e *env) alterShareOffsets(group string, offsets map[int32]int64) *kmsg.AlterShareGroupOffsetsResponse {
	e.t.Helper()
	req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	req.GroupID = group
	rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
	rt.Topic = "t"
	for p, o := range offsets {
		rp := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
		rp.Partition, rp.StartOffset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return e.c.Handle(timeoutCtx(e.t, "admin"), req).(*kmsg.AlterShareGroupOffsetsResponse)
}

// describeShareOffsets returns the start offsets of topic "t" DescribeShareGroupOffsets
// reports for all topics (topics nil) or the partitions given.
func (e *env) describeShareOffsets(group string, partitions []int32) (int16, map[int32]int64) {
	e.t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	req.Version = 1
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	if partitions != nil {
		rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
		rt.Topic, rt.Partitions = "t", partitions
		rg.Topics = append(rg.Topics, rt)
	}
	req.Groups = append(req.Groups, rg)
	g := e.c.Handle(timeoutCtx(e.t, "admin"), req).(*kmsg.DescribeShareGroupOffsetsResponse).Groups[0]
	out := map[int32]int64{}
	for _, t := range g.Topics {
		for _, p := range t.Partitions {
			if t.Topic == "t" && p.ErrorCode == 0 {
				out[p.Partition] = p.StartOffset
			}
		}
	}
	return g.ErrorCode, out
}

// TestShareGroupOffsetsAdmin: AlterShareGroupOffsets creates an empty
// share group and sets start offsets under new state epochs, refuses a
// group with members or of another type; DescribeShareGroupOffsets
// reports the altered partitions, also for "all topics" and after a
// restart; DeleteShareGroupOffsets deletes them.
func TestShareGroupOffsetsAdmin(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	cfg.Share = sharegroup.Config{SessionTimeout: 30 * time.Second, HeartbeatInterval: 50 * time.Millisecond}
	p := &fakePersister{states: map[string]fakeState{}}
	cfg.SharePersister = p
	e := newEnv(t, cfg)

	resp := e.alterShareOffsets("g", map[int32]int64{0: 8, 3: 2})
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].TopicID != [16]byte{1} {
		t.Fatalf("alter: %+v", resp)
	}
	for _, rp := range resp.Topics[0].Partitions {
		wantCode(t, "alter partition", rp.ErrorCode, 0)
	}
	if got := e.listGroupTypes(); got["g"] != "share" {
		t.Fatalf("ListGroups after alter: %v", got)
	}
	want := map[int32]int64{0: 8, 3: 2}
	check := func(when string) {
		t.Helper()
		code, got := e.describeShareOffsets("g", nil)
		if code != 0 || !maps.Equal(got, want) {
			t.Fatalf("%s: describe all: %v %v, want %v", when, kerr.ErrorForCode(code), got, want)
		}
		code, got = e.describeShareOffsets("g", []int32{0, 1})
		if code != 0 || got[0] != want[0] || got[1] != -1 {
			t.Fatalf("%s: describe 0 and 1: %v %v", when, kerr.ErrorForCode(code), got)
		}
	}
	check("after alter")
	e.restart()
	check("after restart")

	// Altered again: a new state epoch.
	if resp := e.alterShareOffsets("g", map[int32]int64{0: 9}); resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("second alter: %+v", resp)
	}
	want[0] = 9
	check("after the second alter")
	if st := p.states[persistKey("g", [16]byte{1}, 0)]; st.epoch != 2 {
		t.Fatalf("state epoch after two alters: %d", st.epoch)
	}

	e.sgJoin("g", "a")
	if resp := e.alterShareOffsets("g", map[int32]int64{0: 1}); resp.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("alter of a group with a member: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	e.sgHeartbeat("g", "a", -1, nil)
	e.joinStable("classic", []string{"c1"}, joinOpts{})
	if resp := e.alterShareOffsets("classic", map[int32]int64{0: 1}); resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("alter of a classic group: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if code, _ := e.describeShareOffsets("nope", nil); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe of an unknown group: %v", kerr.ErrorForCode(code))
	}

	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "g"
	dt := kmsg.NewDeleteShareGroupOffsetsRequestTopic()
	dt.Topic = "t"
	del.Topics = append(del.Topics, dt)
	dresp := e.c.Handle(timeoutCtx(t, "admin"), del).(*kmsg.DeleteShareGroupOffsetsResponse)
	if dresp.ErrorCode != 0 || dresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %+v", dresp)
	}
	if _, got := e.describeShareOffsets("g", nil); len(got) != 0 {
		t.Fatalf("describe all after delete: %v", got)
	}
	e.restart()
	if _, got := e.describeShareOffsets("g", nil); len(got) != 0 {
		t.Fatalf("describe all after delete and restart: %v", got)
	}
}

// TestShareGroupInitializedPartitions: the partitions a share group
// assigns are recorded as initialized (DescribeShareGroupOffsets reports
// them for "all topics" also once nobody subscribes), and DeleteGroups
// deletes their share states.
func TestShareGroupInitializedPartitions(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	cfg.Share = sharegroup.Config{SessionTimeout: 30 * time.Second, HeartbeatInterval: 50 * time.Millisecond}
	p := &fakePersister{states: map[string]fakeState{}}
	cfg.SharePersister = p
	e := newEnv(t, cfg)
	e.sgJoin("g", "a")
	e.sgHeartbeat("g", "a", -1, nil)
	e.restart()
	if _, got := e.describeShareOffsets("g", nil); len(got) != 8 {
		t.Fatalf("describe all of a group that assigned 8 partitions: %v", got)
	}
	for part := range int32(8) {
		if err := p.Initialize(context.Background(), "g", [16]byte{1}, part, 1, 5); err != nil {
			t.Fatal(err)
		}
	}
	if code := e.deleteGroups("g"); code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	eventually(t, "share states deleted", 10*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.states) == 0
	})
}
