package groups

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func consumerEnv(t *testing.T) *env {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	cfg.Consumer = consumergroup.Config{SessionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}
	return newEnv(t, cfg)
}

// cgHeartbeat sends a ConsumerGroupHeartbeat v1 of member id at epoch,
// subscribing to topics (nil: unchanged) and owning owned of topic "t".
func (e *env) cgHeartbeat(group, id string, epoch int32, topics []string, owned ...int32) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = group, id, epoch
	req.SubscribedTopicNames = topics
	if epoch == 0 {
		req.RebalanceTimeoutMillis = 5000
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if owned != nil {
		rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		rt.TopicID, rt.Partitions = [16]byte{1}, owned
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{rt}
	}
	return e.c.Handle(timeoutCtx(e.t, "client-"+id), req).(*kmsg.ConsumerGroupHeartbeatResponse)
}

func cgAssigned(resp *kmsg.ConsumerGroupHeartbeatResponse) []int32 {
	if resp.Assignment == nil {
		return nil
	}
	var out []int32
	for _, t := range resp.Assignment.Topics {
		out = append(out, t.Partitions...)
	}
	slices.Sort(out)
	return out
}

func (e *env) cgDescribe(group string) kmsg.ConsumerGroupDescribeResponseGroup {
	e.t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = []string{group}
	return e.c.Handle(timeoutCtx(e.t, "admin"), req).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
}

// cgStable heartbeats members a and b of topic "t" until each owns what
// it was given and the group is Stable.
func (e *env) cgStable(group string, ids ...string) map[string]int32 {
	e.t.Helper()
	epochs := map[string]int32{}
	owned := map[string][]int32{}
	for _, id := range ids {
		r := e.cgHeartbeat(group, id, 0, []string{"t"})
		if r.ErrorCode != 0 {
			e.t.Fatalf("join of %s: %v", id, kerr.ErrorForCode(r.ErrorCode))
		}
		epochs[id], owned[id] = r.MemberEpoch, cgAssigned(r)
	}
	for range 20 {
		for _, id := range ids {
			r := e.cgHeartbeat(group, id, epochs[id], nil, append([]int32{}, owned[id]...)...)
			if r.ErrorCode != 0 {
				e.t.Fatalf("heartbeat of %s: %v", id, kerr.ErrorForCode(r.ErrorCode))
			}
			epochs[id] = r.MemberEpoch
			if r.Assignment != nil {
				owned[id] = cgAssigned(r)
			}
		}
		if d := e.cgDescribe(group); d.State == "Stable" {
			return epochs
		}
	}
	e.t.Fatalf("group %s not Stable: %+v", group, e.cgDescribe(group))
	return nil
}

// TestConsumerGroupHeartbeat: members join, the coordinator assigns the
// partitions of "t" between them, the records survive a restart, and
// offset commits and fetches check member epochs as Kafka does.
func TestConsumerGroupHeartbeat(t *testing.T) {
	e := consumerEnv(t)
	epochs := e.cgStable("g", "a", "b")
	before := e.cgDescribe("g")
	if len(before.Members) != 2 || before.Epoch != 2 || before.AssignmentEpoch != 2 {
		t.Fatalf("described %+v", before)
	}
	total := 0
	for _, m := range before.Members {
		for _, tp := range m.Assignment.TopicPartitions {
			total += len(tp.Partitions)
		}
	}
	if total != 8 {
		t.Fatalf("%d partitions assigned, want 8: %+v", total, before.Members)
	}
	if got := e.listGroups(); got["g"] != "Stable" {
		t.Fatalf("ListGroups: %v", got)
	}

	// Commits: the member's epoch, OffsetCommit v9+; an older epoch for
	// a partition the member has had since (KIP-1251), not for one it
	// got later or never had.
	var mine, others int32 = -1, -1
	for _, m := range before.Members {
		for _, tp := range m.Assignment.TopicPartitions {
			if m.MemberID == "a" {
				mine = tp.Partitions[0]
			} else {
				others = tp.Partitions[0]
			}
		}
	}
	if epochs["a"] != 2 {
		t.Fatalf("member a at epoch %d, want 2 (1 when it joined alone)", epochs["a"])
	}
	ok := e.commit("g", commitOpts{memberID: "a", gen: epochs["a"], epoch: -1}, map[tp]int64{{"t", mine}: 5})
	older := e.commit("g", commitOpts{memberID: "a", gen: epochs["a"] - 1, epoch: -1}, map[tp]int64{{"t", mine}: 5})
	stale := e.commit("g", commitOpts{memberID: "a", gen: epochs["a"] - 1, epoch: -1}, map[tp]int64{{"t", others}: 6})
	newer := e.commit("g", commitOpts{memberID: "a", gen: epochs["a"] + 1, epoch: -1}, map[tp]int64{{"t", mine}: 6})
	unknown := e.commit("g", commitOpts{memberID: "zz", gen: 1, epoch: -1}, map[tp]int64{{"t", mine}: 6})
	old := e.commit("g", commitOpts{version: 8, memberID: "a", gen: epochs["a"], epoch: -1}, map[tp]int64{{"t", mine}: 6})
	admin := e.commit("g", simple(), map[tp]int64{{"t", mine}: 6})
	for name, got := range map[string][2]int16{
		"current epoch":                     {ok[tp{"t", mine}], 0},
		"older epoch, partition kept since": {older[tp{"t", mine}], 0},
		"older epoch, another's partition":  {stale[tp{"t", others}], kerr.StaleMemberEpoch.Code},
		"newer epoch":                       {newer[tp{"t", mine}], kerr.StaleMemberEpoch.Code},
		"unknown member":                    {unknown[tp{"t", mine}], kerr.UnknownMemberID.Code},
		"OffsetCommit v8":                   {old[tp{"t", mine}], kerr.UnsupportedVersion.Code},
		"no member, group busy":             {admin[tp{"t", mine}], kerr.UnknownMemberID.Code},
	} {
		if got[0] != got[1] {
			t.Errorf("commit with %s: %v, want %v", name, kerr.ErrorForCode(got[0]), kerr.ErrorForCode(got[1]))
		}
	}
	fetch := func(member string, epoch int32) int16 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g", kmsg.StringPtr(member), epoch
		req.Groups = append(req.Groups, rg)
		return e.c.Handle(timeoutCtx(t, "c"), req).(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode
	}
	if code := fetch("a", epochs["a"]); code != 0 {
		t.Errorf("fetch at the member's epoch: %v", kerr.ErrorForCode(code))
	}
	if code := fetch("a", epochs["a"]+1); code != kerr.StaleMemberEpoch.Code {
		t.Errorf("fetch at another epoch: %v", kerr.ErrorForCode(code))
	}

	// DescribeGroups describes classic groups only.
	if d := e.describe("g"); d.State != "Dead" || len(d.Members) != 0 {
		t.Errorf("DescribeGroups of a consumer group: %+v", d)
	}

	e.restart()
	after := e.cgDescribe("g")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after a restart the group is\n%+v\nwas\n%+v", after, before)
	}
	_, offs := e.fetch("g", false, map[string][]int32{"t": {mine}})
	if offs[tp{"t", mine}].offset != 5 {
		t.Fatalf("committed offset after restart: %+v", offs)
	}
	// Members heartbeat on after the restart with their epochs.
	if r := e.cgHeartbeat("g", "a", epochs["a"], nil); r.ErrorCode != 0 {
		t.Fatalf("heartbeat after restart: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestConsumerGroupSessionExpiry: a member that stops heartbeating is
// removed after its session timeout and its partitions go to the others.
func TestConsumerGroupSessionExpiry(t *testing.T) {
	e := consumerEnv(t)
	epochs := e.cgStable("g", "a", "b")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.cgHeartbeat("g", "a", epochs["a"], nil)
		if r.ErrorCode != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		epochs["a"] = r.MemberEpoch
		if d := e.cgDescribe("g"); len(d.Members) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b was not expired: %+v", e.cgDescribe("g"))
		}
		time.Sleep(20 * time.Millisecond) // a's heartbeat interval
	}
	if r := e.cgHeartbeat("g", "b", epochs["b"], nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the expired member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// Only a is left, and after a restart still.
	e.restart()
	if d := e.cgDescribe("g"); len(d.Members) != 1 || d.Members[0].MemberID != "a" {
		t.Fatalf("after restart: %+v", d)
	}
}

// TestConsumerGroupConversion: a group changes protocol offline only.
func TestConsumerGroupConversion(t *testing.T) {
	e := consumerEnv(t)
	ids, gen := e.joinStable("g", []string{"c1"}, joinOpts{})
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 1}: 7})
	e.leave("g", kmsg.LeaveGroupRequestMember{MemberID: ids[0]})
	r := e.cgHeartbeat("g", "a", 0, []string{"t"})
	if r.ErrorCode != 0 || len(cgAssigned(r)) != 8 {
		t.Fatalf("848 join of the empty classic group: %v, %v", kerr.ErrorForCode(r.ErrorCode), cgAssigned(r))
	}
	if got := e.listGroupTypes(); got["g"] != "consumer" {
		t.Fatalf("ListGroups types: %v", got)
	}
	// A classic member may join it (classic_members.go): its first
	// JoinGroup is handed a member ID, and without a second it is not a
	// member.
	if j := e.join("g", joinOpts{}); j.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join of a consumer group with members: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	e.restart() // the classic metadata was tombstoned: it loads as a consumer group
	if d := e.cgDescribe("g"); d.ErrorCode != 0 || len(d.Members) != 1 {
		t.Fatalf("after restart: %+v", d)
	}
	if r := e.cgHeartbeat("g", "a", r.MemberEpoch, nil); r.ErrorCode != 0 {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := e.cgHeartbeat("g", "a", -1, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	ids, _ = e.joinStable("g", []string{"c1"}, joinOpts{})
	if len(ids) != 1 {
		t.Fatalf("classic join of the empty consumer group: %v", ids)
	}
	if got := e.listGroupTypes(); got["g"] != "classic" {
		t.Fatalf("ListGroups types: %v", got)
	}
	e.restart()
	if got := e.listGroupTypes(); got["g"] != "classic" {
		t.Fatalf("ListGroups types after restart: %v", got)
	}
	if d := e.cgDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %+v", d)
	}
	_, offs := e.fetch("g", false, map[string][]int32{"t": {1}})
	if offs[tp{"t", 1}].offset != 7 {
		t.Fatalf("offsets did not survive two conversions: %+v", offs)
	}
}

func (e *env) listGroupTypes() map[string]string {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	out := map[string]string{}
	for _, g := range e.c.Handle(timeoutCtx(e.t, "admin"), req).(*kmsg.ListGroupsResponse).Groups {
		out[g.Group] = g.GroupType
	}
	return out
}

// TestConsumerGroupWriteFailure: a heartbeat whose records cannot be
// written is answered with an error, and the group is rebuilt from what
// the log has: memory never runs ahead of the log.
func TestConsumerGroupWriteFailure(t *testing.T) {
	e := consumerEnv(t)
	epochs := e.cgStable("g", "a")
	s := e.store("g")
	s.setFail(kerr.NotEnoughReplicas)
	if r := e.cgHeartbeat("g", "b", 0, []string{"t"}); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join while writes fail: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	s.setFail(nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.cgHeartbeat("g", "a", epochs["a"], nil)
		if r.ErrorCode == 0 {
			break
		}
		if r.ErrorCode != kerr.CoordinatorNotAvailable.Code || time.Now().After(deadline) {
			t.Fatalf("heartbeat after the failure: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := e.cgDescribe("g"); len(d.Members) != 1 {
		t.Fatalf("the failed join is in memory: %+v", d)
	}
	epochs = e.cgStable("g", "a", "b")
	if len(epochs) != 2 {
		t.Fatal(epochs)
	}
}

// TestConsumerGroupDelete: DeleteGroups refuses a group with members and
// deletes an empty one with its offsets, for good.
func TestConsumerGroupDelete(t *testing.T) {
	e := consumerEnv(t)
	epochs := e.cgStable("g", "a")
	e.commit("g", commitOpts{memberID: "a", gen: epochs["a"], epoch: -1}, map[tp]int64{{"t", 0}: 1})
	del := func() int16 {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = 2
		req.Groups = []string{"g"}
		return e.c.Handle(timeoutCtx(t, "admin"), req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
	}
	if code := del(); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with a member: %v", kerr.ErrorForCode(code))
	}
	e.cgHeartbeat("g", "a", -1, nil)
	if code := del(); code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	e.restart()
	if d := e.cgDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after restart: %+v", d)
	}
	if _, ok := e.listGroupTypes()["g"]; ok {
		t.Fatal("deleted group is listed")
	}
}

// TestConsumerRecordsRoundTrip: every record the state machine writes
// decodes to itself, and corrupt values are errors, not panics.
func TestConsumerRecordsRoundTrip(t *testing.T) {
	a := consumergroup.Assignment{{1}: {0, 3, 5}, {2}: {1}}
	recs := []consumergroup.Record{
		consumergroup.GroupEpochRecord{Epoch: 7},
		consumergroup.GroupEpochRecord{Tombstone: true},
		consumergroup.SubscriptionMetadataRecord{Topics: []consumergroup.Topic{{ID: [16]byte{1}, Name: "t", Partitions: 8}}},
		consumergroup.RegexRecord{Regex: "t.*", Topics: []string{"t", "tt"}},
		consumergroup.RegexRecord{Regex: "t.*", Tombstone: true},
		consumergroup.MemberSubscriptionRecord{MemberID: "m", InstanceID: "i", RackID: "r", ClientID: "c", ClientHost: "/h",
			SubscribedTopicNames: []string{"t"}, SubscribedTopicRegex: "x", RebalanceTimeoutMs: 5, ServerAssignor: "range"},
		consumergroup.TargetAssignmentMemberRecord{MemberID: "m", Partitions: a},
		consumergroup.TargetAssignmentMetadataRecord{AssignmentEpoch: 3},
		consumergroup.CurrentAssignmentRecord{MemberID: "m", MemberEpoch: 3, PreviousMemberEpoch: 2,
			State: consumergroup.MemberUnrevokedPartitions, AssignedPartitions: a, PartitionsPendingRevocation: consumergroup.Assignment{{3}: {9}},
			AssignedEpochs: map[consumergroup.TopicID]map[int32]int32{{1}: {0: 1, 3: 2, 5: 3}, {2}: {1: 3}}},
		consumergroup.CurrentAssignmentRecord{MemberID: "m", Tombstone: true},
	}
	for _, r := range recs {
		kv := consumerRecord("grp", r)
		group, got, err := parseConsumerRecord(kv.Key, kv.Value)
		if err != nil || group != "grp" || !reflect.DeepEqual(got, r) {
			t.Errorf("%T: got %q %#v, %v; want %#v", r, group, got, err, r)
		}
		for n := range len(kv.Value) {
			if _, _, err := parseConsumerRecord(kv.Key, kv.Value[:n]); err == nil && n > 0 {
				t.Errorf("%T truncated to %d bytes decoded", r, n)
			}
		}
		if _, _, err := parseConsumerRecord(kv.Key, append(kv.Value, 0)); err == nil && kv.Value != nil {
			t.Errorf("%T with a trailing byte decoded", r)
		}
	}
	if _, _, err := parseConsumerRecord(consumerKey(cgMemberKey, "g"), nil); err == nil || errors.Is(err, nil) {
		t.Errorf("member key without a member ID: %v", err)
	}
}
