package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// grpTracked is a franz-go member (range balancer) whose assignment
// callbacks are recorded: what it owns, in which generation it got it, and
// how often it was assigned, revoked or lost partitions. It does not poll;
// group membership runs on its own.
type grpTracked struct {
	cl    *kgo.Client
	topic string

	mu      sync.Mutex
	owned   map[int32]bool
	gen     int32 // generation of the last assignment
	at      time.Time
	assigns int
	revokes int
	losts   int
	history []grpOwned // what it owned after each assignment
}

// grpOwned is what a tracked member owned after an assignment.
type grpOwned struct {
	Gen   int32
	Owned []int32
}

// grpStartTracked starts a tracked member; extra options come last and win.
func grpStartTracked(t *testing.T, addrs []string, group, topic, name string, extra ...kgo.Opt) *grpTracked {
	t.Helper()
	tr := &grpTracked{topic: topic, owned: map[int32]bool{}, gen: -1}
	drop := func(m map[string][]int32) {
		for _, p := range m[topic] {
			delete(tr.owned, p)
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(grpSession),
		kgo.HeartbeatInterval(grpHeartbeat),
		kgo.RebalanceTimeout(grpRebalance),
		kgo.DisableAutoCommit(),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			_, gen := cl.GroupMetadata()
			tr.mu.Lock()
			defer tr.mu.Unlock()
			for _, p := range m[topic] {
				tr.owned[p] = true
			}
			tr.gen, tr.at = gen, time.Now()
			tr.assigns++
			tr.history = append(tr.history, grpOwned{gen, slices.Sorted(maps.Keys(tr.owned))})
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			drop(m)
			tr.revokes++
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			drop(m)
			tr.losts++
		}),
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	tr.cl = cl
	t.Cleanup(tr.close)
	return tr
}

// close closes the member's client (a static member does not leave).
func (tr *grpTracked) close() { tr.cl.Close() }

// grpTrackedState is a snapshot of a grpTracked.
type grpTrackedState struct {
	Owned                   []int32
	Gen                     int32
	At                      time.Time
	Assigns, Revokes, Losts int
}

// state snapshots the member.
func (tr *grpTracked) state() grpTrackedState {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return grpTrackedState{slices.Sorted(maps.Keys(tr.owned)), tr.gen, tr.at, tr.assigns, tr.revokes, tr.losts}
}

// grpRawJoin joins group as a raw member through kmsg requests on a
// franz-go client, which sends them to the group coordinator: JoinGroup
// (again with the member ID handed out by MEMBER_ID_REQUIRED, KIP-394) and
// SyncGroup, subscribing to topic with the range protocol and the session
// and rebalance timeouts. It returns the member ID, the generation and the
// partitions assigned. If it is elected leader it must be alone, and
// assigns itself every partition. It never heartbeats afterwards.
func grpRawJoin(t *testing.T, ctx context.Context, cl *kgo.Client, group, topic string, session, rebalance time.Duration) (string, int32, []int32) {
	t.Helper()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = "range"
	proto.Metadata = meta.AppendTo(nil)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = int32(session.Milliseconds())
	join.RebalanceTimeoutMillis = int32(rebalance.Milliseconds())
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	var jresp *kmsg.JoinGroupResponse
	for range 2 {
		var err error
		if jresp, err = join.RequestWith(ctx, cl); err != nil {
			t.Fatalf("raw JoinGroup: %v", err)
		}
		if jresp.ErrorCode != kerr.MemberIDRequired.Code {
			break
		}
		join.MemberID = jresp.MemberID
	}
	if err := kerr.ErrorForCode(jresp.ErrorCode); err != nil {
		t.Fatalf("raw JoinGroup: %v", err)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	if jresp.LeaderID == jresp.MemberID {
		if len(jresp.Members) != 1 {
			t.Fatalf("raw member %s leads %d members; it only assigns when alone", jresp.MemberID, len(jresp.Members))
		}
		var a kmsg.ConsumerMemberAssignment
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic = topic
		for p := range int32(grpPartitions) {
			at.Partitions = append(at.Partitions, p)
		}
		a.Topics = append(a.Topics, at)
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID = jresp.MemberID
		ga.MemberAssignment = a.AppendTo(nil)
		sync.GroupAssignment = append(sync.GroupAssignment, ga)
	}
	sync.Group = group
	sync.Generation = jresp.Generation
	sync.MemberID = jresp.MemberID
	sync.ProtocolType = kmsg.StringPtr("consumer")
	sync.Protocol = jresp.Protocol
	sresp, err := sync.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(sresp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("raw SyncGroup: %v", err)
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(sresp.MemberAssignment); err != nil {
		t.Fatalf("raw SyncGroup: assignment: %v", err)
	}
	var ps []int32
	for _, at := range a.Topics {
		if at.Topic == topic {
			ps = append(ps, at.Partitions...)
		}
	}
	slices.Sort(ps)
	return jresp.MemberID, jresp.Generation, ps
}

// TestGroupSessionTimeout has a raw kmsg member join a group next to a
// franz-go member, get half of the partitions through SyncGroup, and then
// never heartbeat. After its 1s session timeout the coordinator removes it
// and rebalances: the franz-go member owns every partition again, in a
// newer generation, no sooner than the session timeout after the raw
// member's SyncGroup; the raw member's heartbeat and offset commit then
// answer UNKNOWN_MEMBER_ID.
func TestGroupSessionTimeout(t *testing.T) {
	const group, topic = "session", "orders"
	const session = time.Second
	c := grpCluster(t, topic)
	ctx := grpCtx(t)
	adm := grpAdmin(t, c.Addrs())
	all := []int32{0, 1, 2, 3, 4, 5}

	f := grpStartTracked(t, c.Addrs(), group, topic, "franz")
	grpWait(t, ctx, "the franz-go member owning every partition", func() (bool, string) {
		s := f.state()
		return slices.Equal(s.Owned, all), fmt.Sprintf("%+v", s)
	})
	genAlone := f.state().Gen

	raw, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ClientID("raw-member"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rawID, rawGen, rawParts := grpRawJoin(t, ctx, raw, group, topic, session, grpRebalance)
	synced := time.Now()
	if len(rawParts) != 3 {
		t.Fatalf("raw member got partitions %v in generation %d, want 3 of the 6", rawParts, rawGen)
	}
	grpWait(t, ctx, "the franz-go member owning every partition after the raw member's session timeout", func() (bool, string) {
		s := f.state()
		return s.Gen > rawGen && slices.Equal(s.Owned, all), fmt.Sprintf("%+v", s)
	})
	s := f.state()
	f.mu.Lock()
	history := slices.Clone(f.history)
	f.mu.Unlock()
	other := slices.DeleteFunc(slices.Clone(all), func(p int32) bool { return slices.Contains(rawParts, p) })
	if !slices.ContainsFunc(history, func(o grpOwned) bool { return o.Gen == rawGen && slices.Equal(o.Owned, other) }) {
		t.Errorf("the franz-go member never owned %v in generation %d next to the raw member: assignments %+v", other, rawGen, history)
	}
	if took := s.At.Sub(synced); took < session-100*time.Millisecond || took > session+3*time.Second {
		t.Errorf("partitions reassigned %v after the raw member's SyncGroup, want about the session timeout %v", took, session)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = group, rawID, rawGen
	hresp, err := hb.RequestWith(ctx, raw)
	if err != nil {
		t.Fatalf("raw Heartbeat: %v", err)
	}
	if err := kerr.ErrorForCode(hresp.ErrorCode); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("raw member's Heartbeat after its session timeout: %v, want UNKNOWN_MEMBER_ID", err)
	}
	// Nor may it commit any more: a zombie's commit is rejected.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = group, rawID, rawGen
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = topic
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = rawParts[0], 1
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	cresp, err := commit.RequestWith(ctx, raw)
	if err != nil {
		t.Fatalf("raw OffsetCommit: %v", err)
	}
	if len(cresp.Topics) != 1 || len(cresp.Topics[0].Partitions) != 1 {
		t.Fatalf("raw OffsetCommit: response %+v", cresp)
	}
	if err := kerr.ErrorForCode(cresp.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("raw member's OffsetCommit after its session timeout: %v, want UNKNOWN_MEMBER_ID", err)
	}
	d := grpWaitStable(t, ctx, adm, group, topic, 1)
	if d.Members[0].ClientID != "franz" {
		t.Errorf("after the session timeout the member is %s (%s), want the franz-go member", d.Members[0].MemberID, d.Members[0].ClientID)
	}
	t.Logf("franz-go assignments %+v: alone in generation %d, raw member got %v in generation %d, franz-go alone again in %d after %v; raw heartbeat: %v",
		history, genAlone, rawParts, rawGen, s.Gen, s.At.Sub(synced).Round(time.Millisecond), kerr.ErrorForCode(hresp.ErrorCode))
}

// TestGroupStaticMember checks static membership (KIP-345) with franz-go's
// InstanceID. A static member that closes does not leave the group; when
// it comes back within its session timeout under the same instance ID it
// gets its old assignment in the same generation, without a rebalance: the
// other member sees no revoke or assign and stays in its generation, the
// old member ID is fenced (FENCED_INSTANCE_ID), and nothing happens either once the old session timeout (1s) has passed. A static
// member that does not come back is removed after its session timeout and
// its partitions go to the other member.
func TestGroupStaticMember(t *testing.T) {
	const group, topic = "static", "orders"
	const session = time.Second
	short := kgo.SessionTimeout(session)
	c := grpCluster(t, topic)
	ctx := grpCtx(t)
	adm := grpAdmin(t, c.Addrs())
	all := []int32{0, 1, 2, 3, 4, 5}

	s := grpStartTracked(t, c.Addrs(), group, topic, "static", kgo.InstanceID("static-s"), short)
	grpWait(t, ctx, "the static member owning every partition", func() (bool, string) {
		st := s.state()
		return slices.Equal(st.Owned, all), fmt.Sprintf("%+v", st)
	})
	o := grpStartTracked(t, c.Addrs(), group, topic, "other", short)
	grpWaitStable(t, ctx, adm, group, topic, 2)
	d1, err := grpDescribe(ctx, adm, group)
	if err != nil {
		t.Fatal(err)
	}
	grpWait(t, ctx, "both members assigned in the new generation", func() (bool, string) {
		ss, os := s.state(), o.state()
		return len(ss.Owned) == 3 && len(os.Owned) == 3 && ss.Gen == os.Gen, fmt.Sprintf("static %+v, other %+v", ss, os)
	})
	sBefore, oBefore := s.state(), o.state()
	oldID := grpStaticMemberID(t, d1, "static-s")

	s.close()
	closed := time.Now()
	d2, err := grpDescribe(ctx, adm, group)
	if err != nil || d2.State != "Stable" || len(d2.Members) != 2 {
		t.Fatalf("after the static member closed: group %s with %d members (%v), want it still Stable with 2", d2.State, len(d2.Members), err)
	}

	s2 := grpStartTracked(t, c.Addrs(), group, topic, "static", kgo.InstanceID("static-s"), short)
	grpWait(t, ctx, "the static member back with an assignment", func() (bool, string) {
		st := s2.state()
		return st.Assigns > 0, fmt.Sprintf("%+v", st)
	})
	back := s2.state()
	if took := back.At.Sub(closed); took >= session {
		t.Fatalf("the static member took %v to come back, longer than its session timeout %v", took, session)
	}
	if back.Gen != sBefore.Gen || !slices.Equal(back.Owned, sBefore.Owned) {
		t.Errorf("static member back in generation %d with %v, want generation %d with %v", back.Gen, back.Owned, sBefore.Gen, sBefore.Owned)
	}
	if _, gen := o.cl.GroupMetadata(); gen != oBefore.Gen {
		t.Errorf("other member in generation %d, was %d", gen, oBefore.Gen)
	}
	grpWaitStable(t, ctx, adm, group, topic, 2)
	d3, err := grpDescribe(ctx, adm, group)
	if err != nil {
		t.Fatal(err)
	}
	newID := grpStaticMemberID(t, d3, "static-s")
	if newID == oldID {
		t.Errorf("static member kept its member ID %s; a rejoin with an unknown member ID gets a new one", oldID)
	}
	// The old member ID is fenced.
	raw, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ClientID("raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = group, oldID, sBefore.Gen, kmsg.StringPtr("static-s")
	hresp, err := hb.RequestWith(ctx, raw)
	if err != nil {
		t.Fatalf("Heartbeat as the old static member: %v", err)
	}
	if err := kerr.ErrorForCode(hresp.ErrorCode); !errors.Is(err, kerr.FencedInstanceID) {
		t.Errorf("Heartbeat as the replaced static member: %v, want FENCED_INSTANCE_ID", err)
	}
	for _, m := range d3.Members {
		if m.InstanceID != nil && *m.InstanceID == "static-s" && !slices.Equal(grpAssignment(m, topic), sBefore.Owned) {
			t.Errorf("DescribeGroups shows the static member with %v, want its old assignment %v", grpAssignment(m, topic), sBefore.Owned)
		}
	}

	// Past the old member's session timeout nothing happens: its timer
	// went with its member ID.
	quiet, cancel := context.WithDeadline(ctx, closed.Add(session+500*time.Millisecond))
	defer cancel()
	for quiet.Err() == nil {
		if os := o.state(); os.Assigns != oBefore.Assigns || os.Revokes != oBefore.Revokes || os.Losts != oBefore.Losts {
			t.Fatalf("the other member saw a rebalance: %+v, was %+v", os, oBefore)
		}
		select {
		case <-quiet.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, gen := o.cl.GroupMetadata(); gen != oBefore.Gen {
		t.Errorf("other member in generation %d after the old session timeout, was %d", gen, oBefore.Gen)
	}
	t.Logf("static member %s replaced by %s in generation %d with %v; other member kept %v, assigns %d revokes %d",
		oldID, newID, back.Gen, back.Owned, oBefore.Owned, oBefore.Assigns, oBefore.Revokes)

	// Gone for good: removed after the session timeout.
	s2.close()
	gone := time.Now()
	grpWait(t, ctx, "the other member owning every partition after the static member's session timeout", func() (bool, string) {
		os := o.state()
		return slices.Equal(os.Owned, all) && os.Gen > oBefore.Gen, fmt.Sprintf("%+v", os)
	})
	if took := o.state().At.Sub(gone); took < session-100*time.Millisecond {
		t.Errorf("the static member's partitions moved %v after it closed, before its session timeout %v", took, session)
	}
	grpWaitStable(t, ctx, adm, group, topic, 1)
}

// grpStaticMemberID returns the member ID of the described member with the
// instance ID.
func grpStaticMemberID(t *testing.T, d kadm.DescribedGroup, instance string) string {
	t.Helper()
	for _, m := range d.Members {
		if m.InstanceID != nil && *m.InstanceID == instance {
			return m.MemberID
		}
	}
	t.Fatalf("no member with instance ID %s in %+v", instance, d.Members)
	return ""
}
