package consumergroup

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestJoinBalanced: 1 to 8 members join one after the other; after each
// join the group converges to a stable, balanced assignment in which every
// partition is owned by exactly one member.
func TestJoinBalanced(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 4, 2: 5, 3: 7}))
	var cs []*client
	for n := 1; n <= 8; n++ {
		c := newClient(fmt.Sprintf("m%d", n), "t1", "t2", "t3")
		cs = append(cs, c)
		resp := e.mustBeat(c)
		if resp.MemberEpoch != e.g.Epoch() || resp.HeartbeatIntervalMillis != 5000 || resp.Assignment == nil {
			t.Fatalf("join response %+v, group epoch %d", resp, e.g.Epoch())
		}
		e.converge(cs...)
		e.checkOwnedOnce(cs)
		if s := spread(loads(cs)); s > 1 {
			t.Fatalf("%d members: loads %v", n, loads(cs))
		}
		if e.g.Epoch() != int32(n) || e.g.AssignmentEpoch() != int32(n) {
			t.Fatalf("%d members: epochs %d/%d", n, e.g.Epoch(), e.g.AssignmentEpoch())
		}
		for _, m := range e.g.Members() {
			if m.Epoch != int32(n) || m.State != MemberStable {
				t.Fatalf("member %+v after %d joins", m, n)
			}
		}
	}
	e.checkReplay()
}

// TestRevokeBeforeAssign: a joining member gets the partitions it takes
// from another only after that one revoked them; meanwhile the owner keeps
// its epoch and the newcomer waits at the new epoch.
func TestRevokeBeforeAssign(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 4}))
	a := newClient("a", "t1")
	e.mustBeat(a)
	a.process()
	if !a.owned.Equal(asg(1, 0, 1, 2, 3)) {
		t.Fatalf("a owns %v", a.owned)
	}
	e.mustBeat(a) // acknowledges: stable at epoch 1

	b := newClient("b", "t1")
	resp := e.mustBeat(b)
	if resp.MemberEpoch != 2 || len(fromResponse(resp.Assignment)) != 0 {
		t.Fatalf("b's join response: epoch %d, assignment %v", resp.MemberEpoch, fromResponse(resp.Assignment))
	}
	mb, _ := e.g.Member("b")
	if mb.State != MemberUnreleasedPartitions || e.g.TargetAssignment("b").Len() != 2 {
		t.Fatalf("b %+v, target %v", mb, e.g.TargetAssignment("b"))
	}

	// a still reports all four: it must revoke two, keeps epoch 1, and the
	// response assigns it only those it keeps.
	resp = e.mustBeat(a)
	keep := e.g.TargetAssignment("a")
	if resp.MemberEpoch != 1 || !fromResponse(resp.Assignment).Equal(keep) {
		t.Fatalf("a's response: epoch %d, assignment %v, want 1, %v", resp.MemberEpoch, fromResponse(resp.Assignment), keep)
	}
	ma, _ := e.g.Member("a")
	if ma.State != MemberUnrevokedPartitions || !ma.PendingRevocation.Equal(e.g.TargetAssignment("b")) {
		t.Fatalf("a %+v", ma)
	}
	// b gets nothing while a has not revoked; heartbeats without a change
	// carry no assignment.
	for range 3 {
		if resp := e.mustBeat(b); resp.Assignment != nil {
			t.Fatalf("b got %v before a revoked", fromResponse(resp.Assignment))
		}
		if resp := e.mustBeat(a); resp.Assignment != nil || resp.MemberEpoch != 1 {
			t.Fatalf("a's response %+v while it has not revoked", resp)
		}
	}

	// a revokes: it moves to epoch 2, the partitions are released.
	a.process()
	resp = e.mustBeat(a)
	if resp.MemberEpoch != 2 {
		t.Fatalf("a at epoch %d after revoking", resp.MemberEpoch)
	}
	if ma, _ := e.g.Member("a"); ma.State != MemberStable || ma.PendingRevocation != nil || ma.PreviousEpoch != 1 {
		t.Fatalf("a after revoking: %+v", ma)
	}
	resp = e.mustBeat(b)
	if !fromResponse(resp.Assignment).Equal(e.g.TargetAssignment("b")) {
		t.Fatalf("b got %v, target %v", fromResponse(resp.Assignment), e.g.TargetAssignment("b"))
	}
	b.process()
	e.mustBeat(b)
	if e.g.State() != GroupStable {
		t.Fatalf("group %v", e.g.State())
	}
	e.checkOwnedOnce([]*client{a, b})
	e.checkReplay()
}

// TestRevokedWithoutReporting: a member that does not report its owned
// partitions is taken to still own them; one that reports it already
// dropped them gets its new epoch at once.
func TestRevokedWithoutReporting(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 2}))
	a, b := newClient("a", "t1"), newClient("b", "t1")
	e.mustBeat(a)
	a.process()
	e.mustBeat(a)
	e.mustBeat(b)

	a.omitOwned = true
	e.mustBeat(a)
	if m, _ := e.g.Member("a"); m.State != MemberUnrevokedPartitions {
		t.Fatalf("a without owned partitions: %+v", m)
	}
	// Owned partitions reported without the revoked one: next epoch.
	a.owned = e.g.TargetAssignment("a")
	e.mustBeat(a)
	if m, _ := e.g.Member("a"); m.State != MemberStable || m.Epoch != 2 {
		t.Fatalf("a after revoking: %+v", m)
	}
	e.converge(a, b)
	e.checkReplay()
}

// TestResponseAssignment: the assignment is in the response when the member
// joins, sends a full request, or its assignment changed; not otherwise.
func TestResponseAssignment(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 3}))
	a := newClient("a", "t1")
	if resp := e.mustBeat(a); resp.Assignment == nil {
		t.Fatal("join response without assignment")
	}
	a.process()
	if resp := e.mustBeat(a); resp.Assignment != nil {
		t.Fatalf("unchanged assignment sent: %v", fromResponse(resp.Assignment))
	}
	a.full = true
	if resp := e.mustBeat(a); resp.Assignment == nil || !fromResponse(resp.Assignment).Equal(asg(1, 0, 1, 2)) {
		t.Fatalf("full request answered with %+v", resp.Assignment)
	}
	// An empty assignment is an empty list, not null.
	b := newClient("b")
	resp := e.mustBeat(b)
	if resp.Assignment == nil || resp.Assignment.Topics == nil || len(resp.Assignment.Topics) != 0 {
		t.Fatalf("empty assignment %+v", resp.Assignment)
	}
}

// TestFencing: epochs other than the member's, or its previous one with
// partitions it does not have, are fenced; unknown members are unknown.
func TestFencing(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 4}))
	a, b := newClient("a", "t1"), newClient("b", "t1")
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	ma, _ := e.g.Member("a") // epoch 2, previous 1
	if ma.Epoch != 2 || ma.PreviousEpoch != 1 {
		t.Fatalf("a %+v", ma)
	}
	hb := func(member string, epoch int32, owned Assignment) *kmsg.ConsumerGroupHeartbeatRequest {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group = testGroup
		req.MemberID = member
		req.MemberEpoch = epoch
		if owned != nil {
			req.Topics = requestTopics(owned)
		}
		return req
	}
	msg := e.refused(hb("a", 3, ma.Assigned), kerr.FencedMemberEpoch)
	if !strings.Contains(msg, "greater member epoch (3)") {
		t.Fatalf("message %q", msg)
	}
	e.refused(hb("a", 0, nil), kerr.InvalidRequest) // epoch 0 without the join fields
	// The previous epoch is accepted with a subset of the assignment (the
	// response that bumped the epoch may have been lost)...
	if resp := e.mustHeartbeat(hb("a", 1, ma.Assigned)); resp.MemberEpoch != 2 {
		t.Fatalf("previous epoch answered %+v", resp)
	}
	if resp := e.mustHeartbeat(hb("a", 1, asg(1, ma.Assigned[tid(1)][0]))); resp.MemberEpoch != 2 {
		t.Fatalf("previous epoch with a subset answered %+v", resp)
	}
	// ...not with partitions the member does not have, nor without owned
	// partitions, nor an older epoch.
	msg = e.refused(hb("a", 1, asg(1, 0, 1, 2, 3)), kerr.FencedMemberEpoch)
	if !strings.Contains(msg, "smaller member epoch (1)") {
		t.Fatalf("message %q", msg)
	}
	e.refused(hb("a", 1, nil), kerr.FencedMemberEpoch)
	e.refused(hb("nobody", 2, nil), kerr.UnknownMemberID)
	e.refused(hb("nobody", -1, nil), kerr.UnknownMemberID)

	// A fenced member rejoins with epoch 0 and its member ID, owning
	// nothing: it gets its assignment back.
	a.drop()
	resp := e.mustBeat(a)
	if resp.MemberEpoch != 2 || !fromResponse(resp.Assignment).Equal(ma.Assigned) {
		t.Fatalf("rejoin after fencing: %+v", resp)
	}
	e.converge(a, b)
	e.checkOwnedOnce([]*client{a, b})

	// An epoch older than the previous one is fenced.
	c := newClient("c", "t1")
	e.mustBeat(c)
	e.converge(a, b, c)
	if ma, _ = e.g.Member("a"); ma.Epoch != 3 || ma.PreviousEpoch != 2 {
		t.Fatalf("a %+v", ma)
	}
	e.refused(hb("a", 1, ma.Assigned), kerr.FencedMemberEpoch)
	e.checkReplay()
}

// TestLeave: a member leaving gives its partitions up at once: the group
// epoch moves and the others take them.
func TestLeave(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 6}))
	cs := []*client{newClient("a", "t1"), newClient("b", "t1"), newClient("c", "t1")}
	for _, c := range cs {
		e.mustBeat(c)
	}
	e.converge(cs...)
	epoch := e.g.Epoch()
	req := cs[0].request(1)
	req.MemberEpoch = LeaveEpoch
	resp := e.mustHeartbeat(req)
	if resp.MemberEpoch != LeaveEpoch || *resp.MemberID != "a" || resp.Assignment != nil {
		t.Fatalf("leave response %+v", resp)
	}
	if _, ok := e.g.Member("a"); ok || e.g.Epoch() != epoch+1 || e.g.TargetAssignment("a") != nil {
		t.Fatalf("a still in the group, or epoch %d", e.g.Epoch())
	}
	e.refused(req, kerr.UnknownMemberID)
	cs = cs[1:]
	e.converge(cs...)
	e.checkOwnedOnce(cs)
	if l := loads(cs); l[0] != 3 || l[1] != 3 {
		t.Fatalf("loads %v", l)
	}
	// The last member leaving empties the group, whose assignment epoch
	// follows.
	for _, c := range cs {
		req := c.request(1)
		req.MemberEpoch = LeaveEpoch
		e.mustHeartbeat(req)
	}
	if e.g.State() != GroupEmpty || e.g.Epoch() != e.g.AssignmentEpoch() || len(e.g.SubscriptionMetadata()) != 0 {
		t.Fatalf("empty group: %v, epochs %d/%d, metadata %v", e.g.State(), e.g.Epoch(), e.g.AssignmentEpoch(), e.g.SubscriptionMetadata())
	}
	e.checkReplay()
	if len(checkDescribe(t, e.g, e.topics).Members) != 0 {
		t.Fatal("members in an empty group")
	}
}

// TestInvalidRequests: Kafka's validations, with its messages.
func TestInvalidRequests(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 1}))
	join := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatRequest {
		req := newClient("m", "t1").request(1)
		mod(req)
		return req
	}
	for _, tc := range []struct {
		name string
		req  *kmsg.ConsumerGroupHeartbeatRequest
		err  *kerr.Error
		msg  string
	}{
		{"v1 without member id", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }), kerr.InvalidRequest, "MemberId can't be empty."},
		{"blank member id", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = " "; r.MemberEpoch = 3 }), kerr.InvalidRequest, "MemberId can't be empty."},
		{"empty group", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }), kerr.InvalidRequest, "GroupId can't be empty."},
		{"other group", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "h" }), kerr.InvalidRequest, "GroupId h is not the group g."},
		{"empty instance", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = kmsg.StringPtr("") }), kerr.InvalidRequest, "InstanceId can't be empty."},
		{"empty rack", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RackID = kmsg.StringPtr(" ") }), kerr.InvalidRequest, "RackId can't be empty."},
		{"join without rebalance timeout", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }), kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."},
		{"join with null partitions", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = nil }), kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."},
		{"join with partitions", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = requestTopics(asg(1, 0)) }), kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."},
		{"join without subscription", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, nil }), kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."},
		{"v0 join with only a regex", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Version = 0
			r.SubscribedTopicNames = nil
			r.SubscribedTopicRegex = kmsg.StringPtr("t.*")
		}), kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."},
		{"static leave without instance", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }), kerr.InvalidRequest, "InstanceId can't be null."},
		{"epoch -3", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }), kerr.InvalidRequest, "MemberEpoch is invalid."},
		{"negative rebalance timeout", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -5 }), kerr.InvalidRequest, "RebalanceTimeoutMs can't be negative."},
		{"unknown assignor", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }), kerr.UnsupportedAssignor, "ServerAssignor sticky is not supported. Supported assignors: uniform, range."},
		{"bad regex", join(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("t(") }), kerr.InvalidRegularExpression, "SubscribedTopicRegex is not a valid regular expression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			msg := e.refused(tc.req, tc.err)
			if !strings.HasPrefix(msg, tc.msg) {
				t.Fatalf("message %q, want %q", msg, tc.msg)
			}
		})
	}
	e.t = t
	if e.g.Len() != 0 || e.g.Epoch() != 0 || len(e.records) != 0 {
		t.Fatalf("refusals changed the group: %d members, epoch %d, %d records", e.g.Len(), e.g.Epoch(), len(e.records))
	}
}

// TestMemberIDs: from v1 (KIP-1082) the member ID is the client's; a v0
// join without one gets one from the group.
func TestMemberIDs(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 2}))
	e.version = 0
	c := newClient("", "t1")
	resp := e.mustBeat(c)
	if *resp.MemberID != "gen-1" || c.id != "gen-1" {
		t.Fatalf("v0 join got member ID %q", *resp.MemberID)
	}
	e.version = 1
	d := newClient("client-made-uuid", "t1")
	if resp := e.mustBeat(d); *resp.MemberID != "client-made-uuid" {
		t.Fatalf("v1 join got member ID %q", *resp.MemberID)
	}
	e.converge(c, d)

	// The default generator makes Kafka-style base64 UUIDs.
	g, err := New("x", Config{})
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := g.cfg.NewMemberID(), g.cfg.NewMemberID()
	if len(id1) != 22 || id1 == id2 {
		t.Fatalf("generated member IDs %q, %q", id1, id2)
	}
}

// TestMaxSize: a full group refuses new members, not its own.
func TestMaxSize(t *testing.T) {
	e := newEnv(t, Config{MaxSize: 2}, topicsOf(map[byte]int32{1: 2}))
	a, b := newClient("a", "t1"), newClient("b", "t1")
	e.mustBeat(a)
	e.mustBeat(b)
	msg := e.refused(newClient("c", "t1").request(1), kerr.GroupMaxSizeReached)
	if msg != "The consumer group has reached its maximum capacity of 2 members." {
		t.Fatalf("message %q", msg)
	}
	e.converge(a, b)
	a.drop() // rejoining members are members
	e.mustBeat(a)

	// A static member taking over a departed one does not grow the group.
	e = newEnv(t, Config{MaxSize: 2}, topicsOf(map[byte]int32{1: 2}))
	a, b = newClient("a1", "t1"), newClient("b", "t1")
	a.instance = "ia"
	e.mustBeat(a)
	e.mustBeat(b)
	req := a.request(1)
	req.MemberEpoch = StaticLeaveEpoch
	e.mustHeartbeat(req)
	a.drop()
	a.id = "a2"
	e.mustBeat(a)
	e.converge(a, b)
	e.checkReplay()
}

// TestJoinSticky: with the uniform assignor, a member joining a stable
// group takes only its share; the others keep theirs.
func TestJoinSticky(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 10, 2: 10}))
	var cs []*client
	for i := range 4 {
		c := newClient(fmt.Sprintf("m%d", i), "t1", "t2")
		cs = append(cs, c)
		e.mustBeat(c)
	}
	e.converge(cs...)
	before := map[string]Assignment{}
	for _, c := range cs {
		before[c.id] = c.owned
	}
	c := newClient("m4", "t1", "t2")
	cs = append(cs, c)
	e.mustBeat(c)
	e.converge(cs...)
	after := map[string]Assignment{}
	for _, c := range cs {
		after[c.id] = c.owned
		if b := before[c.id]; b != nil && !subset(c.owned, b) {
			t.Fatalf("%s got new partitions: %v, had %v", c.id, c.owned, b)
		}
	}
	if m := moves(before, after); m != 4 || c.owned.Len() != 4 {
		t.Fatalf("%d partitions moved, newcomer owns %v", m, c.owned)
	}
	e.checkReplay()
}

// TestSubscriptionChange: a member changing its subscription bumps the
// group epoch; the new topic's partitions are assigned, the dropped
// topic's revoked.
func TestSubscriptionChange(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 2, 2: 2}))
	a, b := newClient("a", "t1"), newClient("b", "t1")
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	epoch := e.g.Epoch()

	// Other fields change the member record but not the epoch.
	a.assignor = RangeAssignorName
	a.sendNames = true
	n := len(e.records)
	e.mustBeat(a)
	if e.g.Epoch() != epoch || len(e.records) != n+1 {
		t.Fatalf("assignor change: epoch %d (was %d), records %v", e.g.Epoch(), epoch, e.records[n:])
	}
	if e.g.AssignorName() != RangeAssignorName {
		t.Fatalf("assignor %s", e.g.AssignorName())
	}
	a.names = []string{"t2"}
	a.sendNames = true
	e.mustBeat(a)
	if e.g.Epoch() != epoch+1 {
		t.Fatalf("epoch %d after a subscription change", e.g.Epoch())
	}
	e.converge(a, b)
	if !a.owned.Equal(asg(2, 0, 1)) || !b.owned.Equal(asg(1, 0, 1)) {
		t.Fatalf("a owns %v, b owns %v", a.owned, b.owned)
	}
	e.checkReplay()
}

// TestTopicMetadataChange: partitions added to a subscribed topic, a
// subscribed topic created or deleted, all bump the group epoch.
func TestTopicMetadataChange(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 2}))
	a, b := newClient("a", "t1", "t2"), newClient("b", "t1", "t2")
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	if len(e.g.SubscriptionMetadata()) != 1 {
		t.Fatalf("metadata %v", e.g.SubscriptionMetadata())
	}
	for i, topics := range []TopicMetadata{
		topicsOf(map[byte]int32{1: 4}),
		topicsOf(map[byte]int32{1: 4, 2: 3}),
		topicsOf(map[byte]int32{2: 3}),
	} {
		epoch := e.g.Epoch()
		e.topics = topics
		e.converge(a, b)
		if e.g.Epoch() != epoch+1 {
			t.Fatalf("change %d: epoch %d, was %d", i, e.g.Epoch(), epoch)
		}
		e.checkOwnedOnce([]*client{a, b})
		if s := spread(loads([]*client{a, b})); s > 1 {
			t.Fatalf("change %d: loads %v", i, loads([]*client{a, b}))
		}
	}
	// Unrelated topics do not matter.
	epoch := e.g.Epoch()
	e.topics = topicsOf(map[byte]int32{2: 3, 9: 100})
	e.converge(a, b)
	if e.g.Epoch() != epoch {
		t.Fatalf("unrelated topic bumped the epoch to %d", e.g.Epoch())
	}
	e.checkReplay()
}

// TestStaticMembership: a static member leaving with epoch -2 keeps its
// partitions (no one else gets them); its instance rejoining with a new
// member ID takes them over without a rebalance; while the instance is
// held, another member ID cannot take it.
func TestStaticMembership(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 6}))
	a, b := newClient("a1", "t1"), newClient("b", "t1")
	a.instance = "ia"
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	owned := a.owned
	epoch := e.g.Epoch()

	// Another process with the same instance ID while a is active.
	intruder := newClient("a2", "t1")
	intruder.instance = "ia"
	msg := e.refused(intruder.request(1), kerr.UnreleasedInstanceID)
	if !strings.Contains(msg, "owned by a1") {
		t.Fatalf("message %q", msg)
	}
	req := intruder.request(1)
	req.MemberEpoch = 2
	req.Topics = requestTopics(nil)
	e.refused(req, kerr.FencedInstanceID)
	unknown := newClient("z", "t1")
	unknown.instance = "iz"
	req = unknown.request(1)
	req.MemberEpoch = 2
	e.refused(req, kerr.UnknownMemberID)

	// a leaves temporarily.
	req = a.request(1)
	req.MemberEpoch = StaticLeaveEpoch
	resp := e.mustHeartbeat(req)
	if resp.MemberEpoch != StaticLeaveEpoch || *resp.MemberID != "a1" {
		t.Fatalf("static leave response %+v", resp)
	}
	a.drop()
	if m, ok := e.g.Member("a1"); !ok || m.Epoch != StaticLeaveEpoch || !m.Assigned.Equal(owned) {
		t.Fatalf("departed static member %+v", m)
	}
	if e.g.Epoch() != epoch {
		t.Fatalf("static leave bumped the epoch to %d", e.g.Epoch())
	}
	e.converge(b)
	if b.owned.Len() != 3 {
		t.Fatalf("b took the departed member's partitions: %v", b.owned)
	}

	// The instance comes back with a new member ID: it gets the same
	// partitions at once, the group epoch does not move.
	a.id = "a2"
	resp = e.mustBeat(a)
	if !fromResponse(resp.Assignment).Equal(owned) || resp.MemberEpoch != epoch {
		t.Fatalf("rejoin response %+v", resp)
	}
	if _, ok := e.g.Member("a1"); ok {
		t.Fatal("replaced member still there")
	}
	if id, _ := e.g.StaticMember("ia"); id != "a2" || e.g.Epoch() != epoch {
		t.Fatalf("instance held by %s, epoch %d", id, e.g.Epoch())
	}
	if !e.g.TargetAssignment("a2").Equal(owned) {
		t.Fatalf("target %v", e.g.TargetAssignment("a2"))
	}
	e.converge(a, b)

	// The same member ID rejoining with epoch 0 while holding the
	// instance is the same consumer (KIP-1082).
	a.drop()
	if resp := e.mustBeat(a); resp.MemberEpoch != epoch || !fromResponse(resp.Assignment).Equal(owned) {
		t.Fatalf("same member rejoin %+v", resp)
	}
	e.converge(a, b)

	// Leaving with -1 removes the member for good.
	req = a.request(1)
	req.MemberEpoch = LeaveEpoch
	e.mustHeartbeat(req)
	if _, ok := e.g.StaticMember("ia"); ok || e.g.Epoch() != epoch+1 {
		t.Fatalf("instance still held, epoch %d", e.g.Epoch())
	}
	e.converge(b)
	e.checkOwnedOnce([]*client{b})
	e.checkReplay()
}

// TestStaticMemberExpires: a departed static member that does not come
// back loses its partitions when its session expires.
func TestStaticMemberExpires(t *testing.T) {
	e := newEnv(t, Config{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second}, topicsOf(map[byte]int32{1: 4}))
	a, b := newClient("a1", "t1"), newClient("b", "t1")
	a.instance = "ia"
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	req := a.request(1)
	req.MemberEpoch = StaticLeaveEpoch
	e.mustHeartbeat(req)
	a.drop()
	for range 9 {
		e.now = e.now.Add(time.Second)
		e.converge(b)
		if rs := e.expire(); len(rs) != 0 {
			t.Fatalf("expired early at %v: %v", e.now.Sub(epoch0), rs)
		}
	}
	e.now = e.now.Add(2 * time.Second)
	e.mustBeat(b)
	if rs := e.expire(); len(rs) == 0 {
		t.Fatal("departed static member did not expire")
	}
	e.converge(b)
	if b.owned.Len() != 4 {
		t.Fatalf("b owns %v", b.owned)
	}
	// The instance may now join with any member ID.
	a.id = "a3"
	e.mustBeat(a)
	e.converge(a, b)
	e.checkOwnedOnce([]*client{a, b})
	e.checkReplay()
}

// TestRegexSubscription: members subscribe by regular expression (whole
// topic names); topics created later are picked up by the next refresh.
func TestRegexSubscription(t *testing.T) {
	e := newEnv(t, Config{}, TopicMetadata{
		"orders-eu": {ID: tid(1), Name: "orders-eu", Partitions: 2},
		"orders-us": {ID: tid(2), Name: "orders-us", Partitions: 2},
		"xorders-x": {ID: tid(3), Name: "xorders-x", Partitions: 2},
		"payments":  {ID: tid(4), Name: "payments", Partitions: 2},
	})
	a, b := newClient("a"), newClient("b")
	a.regex, b.regex = `orders-.*`, `orders-.*`
	b.names = []string{"payments"} // names and a regex: both
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	if ts, ok := e.g.ResolvedRegex(`orders-.*`); !ok || !slices.Equal(ts, []string{"orders-eu", "orders-us"}) {
		t.Fatalf("resolved %v %v", ts, ok)
	}
	e.checkOwnedOnce([]*client{a, b})
	if a.owned.Len()+b.owned.Len() != 6 || a.owned[tid(4)] != nil {
		t.Fatalf("a owns %v, b owns %v", a.owned, b.owned)
	}

	// A new matching topic: nothing until the refresh interval passed.
	e.topics["orders-asia"] = Topic{ID: tid(5), Name: "orders-asia", Partitions: 2}
	epoch := e.g.Epoch()
	e.now = e.now.Add(5 * time.Second)
	e.converge(a, b)
	if e.g.Epoch() != epoch {
		t.Fatal("refreshed before the interval")
	}
	e.now = e.now.Add(5 * time.Second)
	e.converge(a, b)
	if e.g.Epoch() != epoch+1 {
		t.Fatalf("epoch %d after the refresh", e.g.Epoch())
	}
	e.checkOwnedOnce([]*client{a, b})
	if a.owned.Len()+b.owned.Len() != 8 {
		t.Fatalf("a owns %v, b owns %v", a.owned, b.owned)
	}

	// A new regex is resolved at once; the one no one uses any more is
	// deleted.
	a.regex = `(payments|xorders-x)`
	a.sendNames = true
	b.regex = `(payments|xorders-x)`
	b.sendNames = true
	e.converge(a, b)
	if _, ok := e.g.ResolvedRegex(`orders-.*`); ok {
		t.Fatal("unused regex still resolved")
	}
	if ts, _ := e.g.ResolvedRegex(`(payments|xorders-x)`); !slices.Equal(ts, []string{"payments", "xorders-x"}) {
		t.Fatalf("resolved %v", ts)
	}
	e.checkOwnedOnce([]*client{a, b})
	if a.owned.Len()+b.owned.Len() != 4 {
		t.Fatalf("a owns %v, b owns %v", a.owned, b.owned)
	}

	// Leaving members take their regex with them.
	for _, c := range []*client{a, b} {
		req := c.request(1)
		req.MemberEpoch = LeaveEpoch
		e.mustHeartbeat(req)
	}
	if _, ok := e.g.ResolvedRegex(`(payments|xorders-x)`); ok {
		t.Fatal("regex of members gone still resolved")
	}
	e.checkReplay()
}

// TestExpire: members that stop heartbeating expire after the session
// timeout; members that do not revoke within their rebalance timeout are
// removed; deadlines are data the caller reads.
func TestExpire(t *testing.T) {
	e := newEnv(t, Config{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second}, topicsOf(map[byte]int32{1: 4}))
	a, b := newClient("a", "t1"), newClient("b", "t1")
	a.timeout = 3000
	e.mustBeat(a)
	a.process()
	e.mustBeat(a)
	if ds := e.g.Deadlines(); len(ds) != 1 || ds[0] != (Deadline{MemberID: "a", Kind: SessionDeadline, At: epoch0.Add(10 * time.Second)}) {
		t.Fatalf("deadlines %+v", ds)
	}

	// b joins; a must revoke: it gets a rebalance deadline.
	e.now = e.now.Add(time.Second)
	e.mustBeat(b)
	e.mustBeat(a)
	want := []Deadline{
		{MemberID: "a", Kind: RebalanceDeadline, At: e.now.Add(3 * time.Second)},
		{MemberID: "a", Kind: SessionDeadline, At: e.now.Add(10 * time.Second)},
		{MemberID: "b", Kind: SessionDeadline, At: e.now.Add(10 * time.Second)},
	}
	if ds := e.g.Deadlines(); !reflect.DeepEqual(ds, want) {
		t.Fatalf("deadlines %+v, want %+v", ds, want)
	}
	if next, ok := e.g.NextDeadline(); !ok || !next.Equal(want[0].At) {
		t.Fatalf("next deadline %v", next)
	}

	// a keeps heartbeating without revoking: removed at the deadline.
	e.now = e.now.Add(2 * time.Second)
	e.mustBeat(a)
	e.mustBeat(b)
	if rs := e.expire(); len(rs) != 0 {
		t.Fatalf("expired before the deadline: %v", rs)
	}
	e.now = e.now.Add(time.Second)
	epoch := e.g.Epoch()
	rs := e.expire()
	if _, ok := e.g.Member("a"); ok || e.g.Epoch() != epoch+1 {
		t.Fatalf("a not removed at its rebalance deadline: %v", rs)
	}
	wantKinds := []string{"current:a", "target:a", "member:a", "metadata"}
	var kinds []string
	for _, r := range rs {
		kinds = append(kinds, r.Key())
	}
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("expiry records %v, want %v", kinds, wantKinds)
	}
	a.drop()
	if _, err := e.beat(a); err != nil {
		t.Fatal(err) // rejoins
	}
	e.converge(a, b)

	// A member that revokes in time loses its rebalance deadline.
	c := newClient("c", "t1")
	e.mustBeat(c)
	e.mustBeat(a)
	e.mustBeat(b)
	for _, d := range e.g.Deadlines() {
		if d.Kind == RebalanceDeadline {
			e.converge(a, b, c)
			break
		}
	}
	for _, d := range e.g.Deadlines() {
		if d.Kind == RebalanceDeadline {
			t.Fatalf("rebalance deadline left after revoking: %+v", d)
		}
	}

	// Session expiry: c stops heartbeating.
	start := e.now
	for e.now.Sub(start) < 10*time.Second {
		e.now = e.now.Add(time.Second)
		e.converge(a, b)
		e.expire()
	}
	if _, ok := e.g.Member("c"); ok {
		t.Fatal("c did not expire")
	}
	e.converge(a, b)
	e.checkOwnedOnce([]*client{a, b})
	e.checkReplay()

	// A replayed group has no deadlines until ResetTimers.
	g, _ := New(testGroup, e.cfg)
	for _, r := range e.records {
		if err := g.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := g.NextDeadline(); ok {
		t.Fatal("replayed group has deadlines")
	}
	g.ResetTimers(e.now)
	if ds := g.Deadlines(); len(ds) != 2 || !ds[0].At.Equal(e.now.Add(10*time.Second)) {
		t.Fatalf("deadlines after ResetTimers %+v", ds)
	}
}

// TestServerAssignor: the assignor most members chose computes the target.
func TestServerAssignor(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 3, 2: 3}))
	a, b := newClient("a", "t1", "t2"), newClient("b", "t1", "t2")
	a.assignor, b.assignor = RangeAssignorName, RangeAssignorName
	e.mustBeat(a)
	e.mustBeat(b)
	e.converge(a, b)
	// Range, co-partitioned: a gets 0-1 of both, b gets 2 of both.
	if !a.owned.Equal(asgs(asg(1, 0, 1), asg(2, 0, 1))) || !b.owned.Equal(asgs(asg(1, 2), asg(2, 2))) {
		t.Fatalf("a owns %v, b owns %v", a.owned, b.owned)
	}
	d := checkDescribe(t, e.g, e.topics)
	if d.AssignorName != RangeAssignorName {
		t.Fatalf("described assignor %s", d.AssignorName)
	}
}

// TestDescribe: ConsumerGroupDescribe's view of the group.
func TestDescribe(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 2, 2: 1}))
	a, b := newClient("a", "t1", "t2"), newClient("b")
	a.instance = "ia"
	b.regex = "t1"
	if d := e.g.Describe(e.topics); d.State != "Empty" || d.Epoch != 0 || d.AssignorName != UniformAssignorName {
		t.Fatalf("empty group %+v", d)
	}
	e.mustBeat(a)
	d := checkDescribe(t, e.g, e.topics)
	if d.State != "Reconciling" && d.State != "Stable" {
		t.Fatalf("state %s", d.State)
	}
	e.mustBeat(b)
	d = checkDescribe(t, e.g, e.topics)
	if d.State != "Reconciling" || d.Epoch != 2 || d.AssignmentEpoch != 2 || len(d.Members) != 2 {
		t.Fatalf("described %+v", d)
	}
	e.converge(a, b)
	d = checkDescribe(t, e.g, e.topics)
	if d.State != "Stable" {
		t.Fatalf("state %s", d.State)
	}
	ma := d.Members[0]
	if ma.MemberID != "a" || *ma.InstanceID != "ia" || ma.RackID != nil || ma.ClientID != "client-a" || ma.ClientHost != "/10.0.0.1" ||
		!slices.Equal(ma.SubscribedTopics, []string{"t1", "t2"}) || ma.SubscribedTopicRegex != nil || ma.MemberEpoch != 2 || ma.MemberType != 1 {
		t.Fatalf("member a %+v", ma)
	}
	mb := d.Members[1]
	if *mb.SubscribedTopicRegex != "t1" || len(mb.SubscribedTopics) != 0 || mb.SubscribedTopics == nil {
		t.Fatalf("member b %+v", mb)
	}
	total := 0
	for _, m := range d.Members {
		for _, tp := range m.Assignment.TopicPartitions {
			if tp.Topic != fmt.Sprintf("t%d", tp.TopicID[15]) {
				t.Fatalf("topic %q for %x", tp.Topic, tp.TopicID)
			}
			total += len(tp.Partitions)
		}
		if !reflect.DeepEqual(m.Assignment, m.TargetAssignment) {
			t.Fatalf("stable member's assignment %+v differs from its target %+v", m.Assignment, m.TargetAssignment)
		}
	}
	if total != 3 {
		t.Fatalf("described %d partitions", total)
	}
	// The describe response serializes.
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = 1
	resp.Groups = append(resp.Groups, d)
	var back kmsg.ConsumerGroupDescribeResponse
	back.Version = 1
	if err := back.ReadFrom(resp.AppendTo(nil)); err != nil || !reflect.DeepEqual(back.Groups[0].Members[0].Assignment, d.Members[0].Assignment) {
		t.Fatalf("round trip: %v", err)
	}
}

// checkDescribe describes the group and checks it against the group.
func checkDescribe(t *testing.T, g *Group, topics TopicMetadata) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	d := g.Describe(topics)
	if d.Group != g.ID() || d.State != g.State().String() || d.Epoch != g.Epoch() || d.AssignmentEpoch != g.AssignmentEpoch() || len(d.Members) != g.Len() {
		t.Fatalf("described %+v", d)
	}
	return d
}

// TestDelete: only an empty group is deleted; its tombstones reset it.
func TestDelete(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 2}))
	a := newClient("a")
	a.regex = "t.*"
	e.mustBeat(a)
	if _, err := e.g.Delete(); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("deleting a group with members: %v", err)
	}
	req := a.request(1)
	req.MemberEpoch = LeaveEpoch
	e.mustHeartbeat(req)
	rs, err := e.g.Delete()
	if err != nil {
		t.Fatal(err)
	}
	e.records = append(e.records, rs...)
	if e.g.Epoch() != 0 || e.g.State() != GroupEmpty {
		t.Fatalf("deleted group at epoch %d", e.g.Epoch())
	}
	e.checkReplay()
	if len(e.g.Snapshot()) != 0 {
		t.Fatalf("snapshot of a deleted group %v", e.g.Snapshot())
	}
	// It can be used again.
	e.mustBeat(newClient("b", "t1"))
	if e.g.Epoch() != 1 {
		t.Fatalf("epoch %d", e.g.Epoch())
	}
	e.checkReplay()
}

// TestReplayRefusesConflicts: Replay refuses a current assignment giving a
// member a partition another holds, and changes nothing then.
func TestReplayRefusesConflicts(t *testing.T) {
	g, _ := New(testGroup, Config{})
	for _, r := range []Record{
		GroupEpochRecord{Epoch: 1},
		MemberSubscriptionRecord{MemberID: "a", SubscribedTopicNames: []string{"t1"}},
		MemberSubscriptionRecord{MemberID: "b", SubscribedTopicNames: []string{"t1"}},
		CurrentAssignmentRecord{MemberID: "a", MemberEpoch: 1, AssignedPartitions: asg(1, 0, 1)},
	} {
		if err := g.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	before := stateOf(g)
	for _, r := range []Record{
		CurrentAssignmentRecord{MemberID: "b", MemberEpoch: 1, PartitionsPendingRevocation: asg(1, 1)},
		CurrentAssignmentRecord{MemberID: "a", MemberEpoch: 1, AssignedPartitions: asg(1, 0), PartitionsPendingRevocation: asg(1, 0)},
		CurrentAssignmentRecord{MemberID: "a", State: 9},
		MemberSubscriptionRecord{},
		nil,
	} {
		if err := g.Replay(r); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("replay of %#v: %v", r, err)
		}
	}
	if !reflect.DeepEqual(before, stateOf(g)) {
		t.Fatal("refused records changed the group")
	}
}

// TestConfig: invalid configurations are refused.
func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{HeartbeatInterval: time.Minute},
		{SessionTimeout: -1},
		{MaxSize: -1},
		{Assignors: []Assignor{UniformAssignor{}, UniformAssignor{}}},
	} {
		if _, err := New(testGroup, cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
	if _, err := New("", Config{}); err == nil {
		t.Error("New accepted an empty group ID")
	}
}

// TestCheckCommit: KIP-1251's assignment epochs. A member keeps the epoch
// at which it got each partition through later epochs, so a commit at an
// older epoch is its own for the partitions it has had since then, and
// the epochs survive a replay of the records.
func TestCheckCommit(t *testing.T) {
	e := newEnv(t, Config{}, topicsOf(map[byte]int32{1: 4}))
	a, b := newClient("a", "t1"), newClient("b", "t1")
	e.mustBeat(a) // alone: all 4 partitions at epoch 1
	e.converge(a)
	e.mustBeat(b)
	e.converge(a, b)
	ma, _ := e.g.Member("a")
	mb, _ := e.g.Member("b")
	if ma.Epoch != 2 || mb.Epoch != 2 || ma.Assigned.Len() != 2 || mb.Assigned.Len() != 2 {
		t.Fatalf("a %+v, b %+v", ma, mb)
	}
	kept, moved := ma.Assigned, mb.Assigned
	for topic, ps := range kept {
		for _, p := range ps {
			if got := ma.AssignedEpochs[topic][p]; got != 1 {
				t.Errorf("a's partition %d: assignment epoch %d, want 1 (kept since it joined)", p, got)
			}
		}
	}
	for topic, ps := range moved {
		for _, p := range ps {
			if got := mb.AssignedEpochs[topic][p]; got != 2 {
				t.Errorf("b's partition %d: assignment epoch %d, want 2", p, got)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		member string
		epoch  int32
		parts  Assignment
		want   *kerr.Error
	}{
		{"a at its epoch", "a", 2, moved, nil},
		{"a at epoch 1, the partitions it kept", "a", 1, kept, nil},
		{"a at epoch 1, b's partitions", "a", 1, moved, kerr.StaleMemberEpoch},
		{"b at epoch 1, before it had them", "b", 1, moved, kerr.StaleMemberEpoch},
		{"a at a newer epoch", "a", 3, kept, kerr.StaleMemberEpoch},
		{"unknown member", "zz", 2, kept, kerr.UnknownMemberID},
	} {
		err := e.g.CheckCommit(tc.member, tc.epoch, tc.parts)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	e.checkReplay()
}
