package groups

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// syncedPartitions decodes the partitions of topic t a SyncGroup gave.
func syncedPartitions(t *testing.T, resp *kmsg.SyncGroupResponse) []int32 {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(resp.MemberAssignment); err != nil {
		t.Fatalf("sync assignment: %v", err)
	}
	var out []int32
	for _, tp := range a.Topics {
		if tp.Topic == "t" {
			out = append(out, tp.Partitions...)
		}
	}
	slices.Sort(out)
	return out
}

// TestClassicMemberInConsumerGroup: a classic member joins a consumer
// group with a consumer-protocol member, gets its share of the partitions
// once the other member released them (told by REBALANCE_IN_PROGRESS to
// rejoin), commits with its generation, and leaves.
func TestClassicMemberInConsumerGroup(t *testing.T) {
	e := consumerEnv(t)
	a := e.cgHeartbeat("g", "a", 0, []string{"t"})
	if a.ErrorCode != 0 || len(cgAssigned(a)) != 8 {
		t.Fatalf("848 member: %v %v", kerr.ErrorForCode(a.ErrorCode), cgAssigned(a))
	}
	j := e.join("g", joinOpts{})
	if j.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	id := j.MemberID
	j = e.join("g", joinOpts{memberID: id})
	if j.ErrorCode != 0 || j.LeaderID == id || len(j.Members) != 0 || j.Protocol == nil || *j.Protocol != "range" {
		t.Fatalf("join: %v leader %q members %d protocol %v", kerr.ErrorForCode(j.ErrorCode), j.LeaderID, len(j.Members), j.Protocol)
	}
	gen := j.Generation
	if got := syncedPartitions(t, e.sync("g", id, gen, nil, nil)); len(got) != 0 {
		t.Fatalf("partitions before a released any: %v", got)
	}
	// Its first heartbeat may find it at a newer epoch (the target the
	// join computed): it rejoins into it, still without partitions.
	switch code := e.heartbeat("g", id, gen, nil); code {
	case 0:
	case kerr.RebalanceInProgress.Code:
		if j = e.join("g", joinOpts{memberID: id}); j.ErrorCode != 0 {
			t.Fatalf("rejoin: %v", kerr.ErrorForCode(j.ErrorCode))
		}
		gen = j.Generation
		if got := syncedPartitions(t, e.sync("g", id, gen, nil, nil)); len(got) != 0 {
			t.Fatalf("partitions before a released any: %v", got)
		}
		if code := e.heartbeat("g", id, gen, nil); code != 0 {
			t.Fatalf("heartbeat while waiting: %v", kerr.ErrorForCode(code))
		}
	default:
		t.Fatalf("heartbeat while waiting: %v", kerr.ErrorForCode(code))
	}
	// a revokes half of its partitions.
	r := e.cgHeartbeat("g", "a", a.MemberEpoch, nil, 0, 1, 2, 3, 4, 5, 6, 7)
	kept := cgAssigned(r)
	if r.ErrorCode != 0 || len(kept) != 4 {
		t.Fatalf("848 member revoking: %v %v", kerr.ErrorForCode(r.ErrorCode), kept)
	}
	r = e.cgHeartbeat("g", "a", r.MemberEpoch, nil, kept...)
	if r.ErrorCode != 0 {
		t.Fatalf("848 member revoked: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if code := e.heartbeat("g", id, gen, nil); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat once partitions are free: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	j = e.join("g", joinOpts{memberID: id})
	if j.ErrorCode != 0 {
		t.Fatalf("rejoin: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	gen = j.Generation
	got := syncedPartitions(t, e.sync("g", id, gen, nil, nil))
	if len(got) != 4 || slices.ContainsFunc(got, func(p int32) bool { return slices.Contains(kept, p) }) {
		t.Fatalf("classic member's partitions %v, 848 member's %v", got, kept)
	}
	if code := e.heartbeat("g", id, gen, nil); code != 0 {
		t.Fatalf("heartbeat when stable: %v", kerr.ErrorForCode(code))
	}
	if code := e.heartbeat("g", id, gen-1, nil); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat of an old generation: %v", kerr.ErrorForCode(code))
	}
	codes := e.commit("g", commitOpts{version: 8, memberID: id, gen: gen}, map[tp]int64{{"t", got[0]}: 5})
	for p, code := range codes {
		if code != 0 {
			t.Fatalf("commit of %v: %v", p, kerr.ErrorForCode(code))
		}
	}
	codes = e.commit("g", commitOpts{version: 8, memberID: id, gen: gen + 5}, map[tp]int64{{"t", got[0]}: 6})
	for p, code := range codes {
		if code != kerr.IllegalGeneration.Code && code != kerr.StaleMemberEpoch.Code {
			t.Fatalf("commit of %v at a future generation: %v", p, kerr.ErrorForCode(code))
		}
	}
	if d := e.cgDescribe("g"); d.ErrorCode != 0 || len(d.Members) != 2 {
		t.Fatalf("describe: %v, %d members", kerr.ErrorForCode(d.ErrorCode), len(d.Members))
	}
	if l := e.leave("g", kmsg.LeaveGroupRequestMember{MemberID: id}); l.ErrorCode != 0 || l.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", l)
	}
	if d := e.cgDescribe("g"); len(d.Members) != 1 {
		t.Fatalf("after leave: %d members", len(d.Members))
	}
	if code := e.heartbeat("g", id, gen, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after leave: %v", kerr.ErrorForCode(code))
	}
}

// TestClassicGroupUpgrade: a consumer-protocol member joining a Stable
// classic group with members converts it (Kafka's convertToConsumerGroup):
// the classic members keep their partitions and generation, then take part
// in the consumer group's reconciliation by rejoining; the group survives
// a coordinator restart.
func TestClassicGroupUpgrade(t *testing.T) {
	e := consumerEnv(t)
	ids, gen := e.joinStable("g", []string{"c1", "c2"}, joinOpts{})
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 3})
	r := e.cgHeartbeat("g", "a", 0, []string{"t"})
	if r.ErrorCode != 0 || r.MemberEpoch <= gen {
		t.Fatalf("848 join of a classic group with members: %v, epoch %d (generation %d)", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch, gen)
	}
	if got := e.listGroupTypes(); got["g"] != "consumer" {
		t.Fatalf("ListGroups types: %v", got)
	}
	if d := e.cgDescribe("g"); d.ErrorCode != 0 || len(d.Members) != 3 {
		t.Fatalf("describe: %v, %d members", kerr.ErrorForCode(d.ErrorCode), len(d.Members))
	}
	// The classic members' commits at their generation are still theirs.
	for p, code := range e.commit("g", commitOpts{version: 8, memberID: ids[0], gen: gen}, map[tp]int64{{"t", 0}: 4}) {
		if code != 0 {
			t.Fatalf("classic member's commit of %v after the upgrade: %v", p, kerr.ErrorForCode(code))
		}
	}
	e.restart()
	if d := e.cgDescribe("g"); d.ErrorCode != 0 || len(d.Members) != 3 {
		t.Fatalf("after restart: %v, %d members", kerr.ErrorForCode(d.ErrorCode), len(d.Members))
	}
	// Every member ends with its share of the 8 partitions: the classic
	// ones rejoin until their heartbeats pass.
	owned := map[string][]int32{"a": cgAssigned(r)}
	epoch := r.MemberEpoch
	gens := map[string]int32{ids[0]: gen, ids[1]: gen}
	for round := 0; round < 20; round++ {
		r = e.cgHeartbeat("g", "a", epoch, nil, owned["a"]...)
		if r.ErrorCode != 0 {
			t.Fatalf("848 member: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		epoch = r.MemberEpoch
		if r.Assignment != nil { // nil: unchanged
			owned["a"] = cgAssigned(r)
		}
		settled := len(owned["a"]) > 0
		for _, id := range ids {
			switch code := e.heartbeat("g", id, gens[id], nil); code {
			case 0:
			case kerr.RebalanceInProgress.Code:
				settled = false
				j := e.join("g", joinOpts{memberID: id})
				if j.ErrorCode != 0 {
					t.Fatalf("rejoin of %s: %v", id, kerr.ErrorForCode(j.ErrorCode))
				}
				gens[id] = j.Generation
				owned[id] = syncedPartitions(t, e.sync("g", id, j.Generation, nil, nil))
			default:
				t.Fatalf("heartbeat of %s: %v", id, kerr.ErrorForCode(code))
			}
		}
		if settled {
			break
		}
	}
	total := 0
	seen := map[int32]string{}
	for m, ps := range owned {
		total += len(ps)
		for _, p := range ps {
			if o, dup := seen[p]; dup {
				t.Fatalf("partition %d owned by %s and %s", p, o, m)
			}
			seen[p] = m
		}
	}
	if total != 8 || len(owned[ids[0]]) == 0 || len(owned[ids[1]]) == 0 {
		t.Fatalf("assignments after the upgrade: %v", owned)
	}
}
