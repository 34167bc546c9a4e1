package groups

import (
	"context"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPartitionFor: the partition is coordkey's (tested there against
// Java's hashes), under the configured partition count.
func TestPartitionFor(t *testing.T) {
	if p := coordkey.Partition("my-group", 50); p != 12 {
		t.Fatalf("PartitionFor(my-group, 50) = %d, want 12", p)
	}
	c := New(Config{NumPartitions: 7}, nil)
	defer c.Close()
	if p := c.PartitionFor("connect-cluster"); p != 5 {
		t.Fatalf("PartitionFor(connect-cluster) with 7 partitions = %d, want 5", p)
	}
}

// tconsumer is a consumer the way real clients drive the protocol: join
// (with the MEMBER_ID_REQUIRED round trip), the leader assigns ranges of
// the partitions of topic "t", sync, heartbeat until told to rejoin.
type tconsumer struct {
	c     *Coordinator
	group string
	name  string
	parts int32

	mu       sync.Mutex
	memberID string
	gen      int32
	assigned []int32
	stable   bool

	cancel context.CancelFunc
	leave  bool // send LeaveGroup when stopped
	done   chan struct{}
}

func startConsumer(c *Coordinator, group, name string, parts int32) *tconsumer {
	ctx, cancel := context.WithCancel(WithClient(context.Background(), name, "/10.0.0.1"))
	tc := &tconsumer{c: c, group: group, name: name, parts: parts, cancel: cancel, done: make(chan struct{})}
	go tc.run(ctx)
	return tc
}

func (tc *tconsumer) stop(leave bool) {
	tc.mu.Lock()
	tc.leave = leave
	tc.mu.Unlock()
	tc.cancel()
	<-tc.done
}

func (tc *tconsumer) state() (int32, []int32, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.gen, slices.Clone(tc.assigned), tc.stable
}

func (tc *tconsumer) run(ctx context.Context) {
	defer close(tc.done)
	memberID := ""
	for ctx.Err() == nil {
		req := joinRequest(tc.group, joinOpts{memberID: memberID, session: time.Second, rebalance: 3 * time.Second})
		jr := tc.c.Handle(ctx, req).(*kmsg.JoinGroupResponse)
		switch jr.ErrorCode {
		case 0:
		case kerr.MemberIDRequired.Code:
			memberID = jr.MemberID
			continue
		case kerr.UnknownMemberID.Code:
			memberID = ""
			continue
		default:
			continue
		}
		memberID = jr.MemberID
		var assign map[string][]byte
		if jr.LeaderID == memberID {
			assign = rangeAssign(jr.Members, tc.parts)
		}
		sreq := syncRequest(tc.group, memberID, jr.Generation, nil, assign)
		sr := tc.c.Handle(ctx, sreq).(*kmsg.SyncGroupResponse)
		if sr.ErrorCode != 0 {
			if sr.ErrorCode == kerr.UnknownMemberID.Code {
				memberID = ""
			}
			continue
		}
		var a kmsg.ConsumerMemberAssignment
		_ = a.ReadFrom(sr.MemberAssignment)
		var parts []int32
		for _, t := range a.Topics {
			parts = append(parts, t.Partitions...)
		}
		tc.mu.Lock()
		tc.memberID, tc.gen, tc.assigned, tc.stable = memberID, jr.Generation, parts, true
		tc.mu.Unlock()

		tick := time.NewTicker(20 * time.Millisecond)
	heartbeats:
		for {
			select {
			case <-ctx.Done():
				break heartbeats
			case <-tick.C:
			}
			hreq := kmsg.NewPtrHeartbeatRequest()
			hreq.Group, hreq.MemberID, hreq.Generation = tc.group, memberID, jr.Generation
			switch code := tc.c.Handle(ctx, hreq).(*kmsg.HeartbeatResponse).ErrorCode; code {
			case 0:
				continue
			case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
				memberID = ""
			}
			break heartbeats
		}
		tick.Stop()
		tc.mu.Lock()
		tc.stable = false
		tc.mu.Unlock()
	}
	tc.mu.Lock()
	leave := tc.leave
	tc.mu.Unlock()
	if leave && memberID != "" {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = 5
		req.Group = tc.group
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID}}
		tc.c.Handle(context.Background(), req)
	}
}

// rangeAssign is the range assignor over topic "t": members sorted by ID,
// each gets a contiguous range of partitions.
func rangeAssign(members []kmsg.JoinGroupResponseMember, parts int32) map[string][]byte {
	var ids []string
	for _, m := range members {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.ProtocolMetadata) == nil && slices.Contains(meta.Topics, "t") {
			ids = append(ids, m.MemberID)
		}
	}
	sort.Strings(ids)
	out := make(map[string][]byte)
	n := int32(len(ids))
	for i, id := range ids {
		per, extra := parts/n, parts%n
		start := int32(i)*per + min(int32(i), extra)
		count := per
		if int32(i) < extra {
			count++
		}
		var ps []int32
		for p := start; p < start+count; p++ {
			ps = append(ps, p)
		}
		out[id] = assignmentBytes("t", ps...)
	}
	return out
}

// converged reports whether the consumers are all stable in one generation
// with an assignment that covers the partitions exactly once.
func converged(cs []*tconsumer, parts int32) (int32, bool) {
	var gen int32 = -1
	var all []int32
	for _, c := range cs {
		g, a, stable := c.state()
		if !stable || (gen != -1 && g != gen) {
			return 0, false
		}
		gen = g
		all = append(all, a...)
	}
	slices.Sort(all)
	if int32(len(all)) != parts {
		return 0, false
	}
	for i, p := range all {
		if p != int32(i) {
			return 0, false
		}
	}
	return gen, true
}

func TestJoinSyncThreeConsumers(t *testing.T) {
	e := newEnv(t, testConfig())
	const parts = 7
	var cs []*tconsumer
	for _, n := range []string{"c1", "c2", "c3"} {
		cs = append(cs, startConsumer(e.c, "g", n, parts))
	}
	defer func() {
		for _, c := range cs {
			c.stop(false)
		}
	}()
	var gen int32
	eventually(t, "three consumers to converge", 10*time.Second, func() bool {
		var ok bool
		gen, ok = converged(cs, parts)
		return ok && e.describe("g").State == "Stable" && len(e.describe("g").Members) == 3
	})
	d := e.describe("g")
	if d.Protocol != "range" || d.ProtocolType != "consumer" {
		t.Fatalf("describe: protocol %q type %q", d.Protocol, d.ProtocolType)
	}
	for _, m := range d.Members {
		if !strings.HasPrefix(m.MemberID, m.ClientID+"-") || m.ClientHost != "/10.0.0.1" {
			t.Fatalf("member %s: client %q host %q", m.MemberID, m.ClientID, m.ClientHost)
		}
		if len(m.MemberAssignment) == 0 || len(m.ProtocolMetadata) == 0 {
			t.Fatalf("member %s: no assignment or metadata in Stable describe", m.MemberID)
		}
	}

	// One consumer leaves: the other two take over its partitions in a
	// later generation.
	cs[2].stop(true)
	rest := cs[:2]
	eventually(t, "two consumers to converge", 10*time.Second, func() bool {
		g, ok := converged(rest, parts)
		return ok && g > gen
	})
	cs = rest
}

func TestMemberIDRequired(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.join("g", joinOpts{clientID: "cli"})
	wantCode(t, "first join", r.ErrorCode, kerr.MemberIDRequired.Code)
	if !strings.HasPrefix(r.MemberID, "cli-") || len(r.MemberID) != len("cli-")+36 || r.Generation != -1 {
		t.Fatalf("first join: member %q generation %d", r.MemberID, r.Generation)
	}
	if d := e.describe("g"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("pending member shows in describe: %+v", d)
	}
	r2 := e.join("g", joinOpts{clientID: "cli", memberID: r.MemberID})
	wantCode(t, "second join", r2.ErrorCode, 0)
	if r2.MemberID != r.MemberID || r2.LeaderID != r.MemberID || r2.Generation != 1 || len(r2.Members) != 1 ||
		*r2.ProtocolType != "consumer" || *r2.Protocol != "range" {
		t.Fatalf("second join: %+v", r2)
	}

	wantCode(t, "join with unknown member id", e.join("g", joinOpts{memberID: "bogus"}).ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "join unknown group with member id", e.join("nope", joinOpts{memberID: "x"}).ErrorCode, kerr.UnknownMemberID.Code)

	// Before v4 a member is added at once.
	r3 := e.join("g3", joinOpts{version: 3, clientID: "old"})
	wantCode(t, "v3 join", r3.ErrorCode, 0)
	if !strings.HasPrefix(r3.MemberID, "old-") || r3.Generation != 1 {
		t.Fatalf("v3 join: %+v", r3)
	}
	// A static member needs no round trip either; its ID starts with
	// the instance ID.
	inst := "inst-1"
	r4 := e.join("g4", joinOpts{instance: &inst})
	wantCode(t, "static join", r4.ErrorCode, 0)
	if !strings.HasPrefix(r4.MemberID, "inst-1-") {
		t.Fatalf("static member id %q", r4.MemberID)
	}
}

func TestJoinValidation(t *testing.T) {
	cfg := testConfig()
	cfg.MinSessionTimeout = time.Second
	cfg.MaxSessionTimeout = time.Minute
	cfg.MaxGroupSize = 2
	e := newEnv(t, cfg)
	e.joinStable("g", []string{"a"}, joinOpts{protos: []proto{{"range", []string{"t"}}, {"roundrobin", []string{"t"}}}})
	e.joinStable("full", []string{"a", "b"}, joinOpts{})
	e.join("g1", joinOpts{}) // leaves a pending member in g1

	for _, tc := range []struct {
		name  string
		group string
		o     joinOpts
		want  int16
	}{
		{"empty group id", "", joinOpts{}, kerr.InvalidGroupID.Code},
		{"session too short", "g1", joinOpts{session: 999 * time.Millisecond}, kerr.InvalidSessionTimeout.Code},
		{"session too long", "g1", joinOpts{session: 61 * time.Second}, kerr.InvalidSessionTimeout.Code},
		{"other protocol type", "g", joinOpts{typ: "connect"}, kerr.InconsistentGroupProtocol.Code},
		{"no common protocol", "g", joinOpts{protos: []proto{{"sticky", nil}}}, kerr.InconsistentGroupProtocol.Code},
		{"no protocols on a new group", "new", joinOpts{protos: []proto{}}, 0},
		{"group full", "full", joinOpts{protos: []proto{{"range", []string{"t"}}}}, kerr.GroupMaxSizeReached.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := joinRequest(tc.group, tc.o)
			if tc.name == "no protocols on a new group" {
				req.Protocols = nil
				tc.want = kerr.InconsistentGroupProtocol.Code
			}
			r := e.c.Handle(timeoutCtx(t, "x"), req).(*kmsg.JoinGroupResponse)
			wantCode(t, tc.name, r.ErrorCode, tc.want)
			if r.Generation != -1 {
				t.Fatalf("error response with generation %d", r.Generation)
			}
		})
	}
	// The failed join on a new group left nothing behind.
	if _, ok := e.listGroups()["new"]; ok {
		t.Fatal("failed join left group \"new\" listed")
	}
}

func TestProtocolSelection(t *testing.T) {
	e := newEnv(t, testConfig())
	both := []proto{{"range", []string{"t"}}, {"roundrobin", []string{"t"}}}
	rrFirst := []proto{{"roundrobin", []string{"t"}}, {"range", []string{"t"}}}
	// Two of three prefer range: range wins.
	e.joinStableOpts("g", []joinOpts{{clientID: "a", protos: both}, {clientID: "b", protos: rrFirst}, {clientID: "c", protos: both}})
	if d := e.describe("g"); d.Protocol != "range" {
		t.Fatalf("selected %q, want range", d.Protocol)
	}
	// Everyone supports roundrobin, not everyone range: roundrobin.
	e.joinStableOpts("h", []joinOpts{{clientID: "a", protos: both}, {clientID: "b", protos: []proto{{"roundrobin", []string{"t"}}}}})
	if d := e.describe("h"); d.Protocol != "roundrobin" {
		t.Fatalf("selected %q, want roundrobin", d.Protocol)
	}
}

func TestHeartbeatDuringRebalance(t *testing.T) {
	e := newEnv(t, testConfig())
	ids, gen := e.joinStable("g", []string{"a", "b"}, joinOpts{})
	a, b := ids[0], ids[1]
	wantCode(t, "heartbeat a", e.heartbeat("g", a, gen, nil), 0)

	r := e.join("g", joinOpts{clientID: "c"})
	wantCode(t, "c first join", r.ErrorCode, kerr.MemberIDRequired.Code)
	wantCode(t, "heartbeat with pending member", e.heartbeat("g", a, gen, nil), 0)
	cCh := e.joinAsync("g", joinOpts{clientID: "c", memberID: r.MemberID})
	eventually(t, "a to see the rebalance", 5*time.Second, func() bool {
		return e.heartbeat("g", a, gen, nil) == kerr.RebalanceInProgress.Code
	})
	if !blocked(cCh) {
		t.Fatal("c's join completed before a and b rejoined")
	}
	for _, tc := range []struct {
		name     string
		group    string
		member   string
		gen      int32
		instance *string
		want     int16
	}{
		{"b during rebalance", "g", b, gen, nil, kerr.RebalanceInProgress.Code},
		{"old generation", "g", a, gen - 1, nil, kerr.IllegalGeneration.Code},
		{"unknown member", "g", "who", gen, nil, kerr.UnknownMemberID.Code},
		{"unknown group", "nope", a, gen, nil, kerr.UnknownMemberID.Code},
		{"empty group id", "", a, gen, nil, kerr.InvalidGroupID.Code},
		{"unknown instance", "g", a, gen, kmsg.StringPtr("i"), kerr.UnknownMemberID.Code},
	} {
		wantCode(t, tc.name, e.heartbeat(tc.group, tc.member, tc.gen, tc.instance), tc.want)
	}
	wantCode(t, "sync during PreparingRebalance", e.sync("g", a, gen, nil, nil).ErrorCode, kerr.RebalanceInProgress.Code)
	// Commits still go through while preparing: the member learns of the
	// rebalance from its heartbeat.
	wantCode(t, "commit during PreparingRebalance", e.commit("g", commitOpts{memberID: a, gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 5})[tp{"t", 0}], 0)

	aCh := e.joinAsync("g", joinOpts{clientID: "a", memberID: a})
	bCh := e.joinAsync("g", joinOpts{clientID: "b", memberID: b})
	ra, rb, rc := recv(t, "a join", aCh), recv(t, "b join", bCh), recv(t, "c join", cCh)
	for _, r := range []*kmsg.JoinGroupResponse{ra, rb, rc} {
		wantCode(t, "rejoin", r.ErrorCode, 0)
		if r.Generation != gen+1 || r.LeaderID != a {
			t.Fatalf("rejoin: generation %d leader %s, want %d %s", r.Generation, r.LeaderID, gen+1, a)
		}
	}
	if len(ra.Members) != 3 || len(rb.Members) != 0 || len(rc.Members) != 0 {
		t.Fatalf("members in join responses: leader %d, followers %d %d", len(ra.Members), len(rb.Members), len(rc.Members))
	}
	// CompletingRebalance: heartbeats are fine, commits are not yet.
	wantCode(t, "heartbeat while completing", e.heartbeat("g", b, gen+1, nil), 0)
	wantCode(t, "commit while completing", e.commit("g", commitOpts{memberID: a, gen: gen + 1, epoch: -1}, map[tp]int64{{"t", 0}: 6})[tp{"t", 0}], kerr.RebalanceInProgress.Code)
	if d := e.describe("g"); d.State != "CompletingRebalance" || d.Protocol != "" || len(d.Members[0].MemberAssignment) != 0 {
		t.Fatalf("describe while completing: %+v", d)
	}
	// A follower that lost its join response gets it again.
	rb2 := e.join("g", joinOpts{clientID: "b", memberID: b})
	wantCode(t, "repeated join", rb2.ErrorCode, 0)
	if rb2.Generation != gen+1 {
		t.Fatalf("repeated join: generation %d", rb2.Generation)
	}

	// Followers wait for the leader's sync.
	bSync := e.syncAsync("g", b, gen+1, nil, nil)
	cSync := e.syncAsync("g", rc.MemberID, gen+1, nil, nil)
	if !blocked(bSync) {
		t.Fatal("follower sync returned before the leader's")
	}
	wantCode(t, "sync with wrong generation", e.sync("g", b, gen, nil, nil).ErrorCode, kerr.IllegalGeneration.Code)
	bad := syncRequest("g", b, gen+1, nil, nil)
	bad.Protocol = kmsg.StringPtr("roundrobin")
	wantCode(t, "sync with other protocol", e.c.Handle(context.Background(), bad).(*kmsg.SyncGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	assign := map[string][]byte{a: assignmentBytes("t", 0), b: assignmentBytes("t", 1)} // c is left out
	ras := e.sync("g", a, gen+1, nil, assign)
	wantCode(t, "leader sync", ras.ErrorCode, 0)
	if *ras.Protocol != "range" || *ras.ProtocolType != "consumer" || string(ras.MemberAssignment) != string(assign[a]) {
		t.Fatalf("leader sync: %+v", ras)
	}
	rbs, rcs := recv(t, "b sync", bSync), recv(t, "c sync", cSync)
	if rbs.ErrorCode != 0 || string(rbs.MemberAssignment) != string(assign[b]) {
		t.Fatalf("b sync: %+v", rbs)
	}
	// The leader left c out: it gets an empty consumer assignment.
	var ca kmsg.ConsumerMemberAssignment
	if rcs.ErrorCode != 0 || ca.ReadFrom(rcs.MemberAssignment) != nil || len(ca.Topics) != 0 {
		t.Fatalf("c sync: %+v", rcs)
	}
	if d := e.describe("g"); d.State != "Stable" || d.Protocol != "range" {
		t.Fatalf("describe after sync: %+v", d)
	}
	wantCode(t, "heartbeat when stable", e.heartbeat("g", a, gen+1, nil), 0)
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, testConfig())
	ids, gen := e.joinStable("g", []string{"a", "b"}, joinOpts{session: 300 * time.Millisecond})
	a, b := ids[0], ids[1]
	// Only a heartbeats: b's session expires, which starts a rebalance.
	eventually(t, "a to see the rebalance", 5*time.Second, func() bool {
		return e.heartbeat("g", a, gen, nil) == kerr.RebalanceInProgress.Code
	})
	d := e.describe("g")
	if d.State != "PreparingRebalance" || len(d.Members) != 1 || d.Members[0].MemberID != a {
		t.Fatalf("after expiry: %+v", d)
	}
	r := e.join("g", joinOpts{clientID: "a", memberID: a, session: 300 * time.Millisecond})
	wantCode(t, "rejoin", r.ErrorCode, 0)
	if r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
	wantCode(t, "expired member's heartbeat", e.heartbeat("g", b, gen, nil), kerr.UnknownMemberID.Code)
}

func TestRebalanceTimeoutRemovesMembersThatDoNotRejoin(t *testing.T) {
	e := newEnv(t, testConfig())
	o := joinOpts{rebalance: 200 * time.Millisecond}
	ids, gen := e.joinStable("g", []string{"a", "b"}, o)
	// a rejoins, b never does (and its session is long): after the
	// rebalance timeout the generation completes without b.
	start := time.Now()
	o.memberID, o.clientID = ids[0], "a"
	r := e.join("g", o)
	wantCode(t, "rejoin", r.ErrorCode, 0)
	if r.Generation != gen+1 || len(r.Members) != 1 || r.Members[0].MemberID != ids[0] {
		t.Fatalf("rejoin: %+v", r)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("rebalance completed after %v, before the rebalance timeout", el)
	}
	wantCode(t, "b's heartbeat", e.heartbeat("g", ids[1], gen, nil), kerr.UnknownMemberID.Code)

	// A member that joins but never syncs is removed after the rebalance
	// timeout too, and the group rebalances (to Empty here).
	eventually(t, "group to drop the member that did not sync", 5*time.Second, func() bool {
		return e.describe("g").State == "Empty"
	})
}

func TestStaticMembership(t *testing.T) {
	e := newEnv(t, testConfig())
	instA := "inst-a"
	ids, gen := e.joinStableOpts("g", []joinOpts{{clientID: "a", instance: &instA}, {clientID: "b"}})
	oldA, b := ids[0], ids[1]
	oldAssign := e.sync("g", oldA, gen, &instA, nil).MemberAssignment
	if len(oldAssign) == 0 {
		t.Fatal("no assignment for a")
	}

	// a restarts: same instance ID, no member ID, same protocols. No
	// rebalance: the generation stays and a keeps its assignment.
	r := e.join("g", joinOpts{clientID: "a", instance: &instA})
	wantCode(t, "static rejoin", r.ErrorCode, 0)
	newA := r.MemberID
	if newA == oldA || !strings.HasPrefix(newA, "inst-a-") || r.Generation != gen {
		t.Fatalf("static rejoin: member %s generation %d (old %s gen %d)", newA, r.Generation, oldA, gen)
	}
	// a was the leader: v9 tells it so, but to skip the assignment.
	if r.LeaderID != newA || !r.SkipAssignment || len(r.Members) != 2 {
		t.Fatalf("static leader rejoin v9: leader %s skip %v members %d", r.LeaderID, r.SkipAssignment, len(r.Members))
	}
	s := e.sync("g", newA, gen, &instA, nil)
	wantCode(t, "sync after static rejoin", s.ErrorCode, 0)
	if string(s.MemberAssignment) != string(oldAssign) {
		t.Fatal("static member lost its assignment")
	}
	wantCode(t, "b's heartbeat", e.heartbeat("g", b, gen, nil), 0)
	if d := e.describe("g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}

	// The old instance is fenced everywhere.
	wantCode(t, "old heartbeat", e.heartbeat("g", oldA, gen, &instA), kerr.FencedInstanceID.Code)
	wantCode(t, "old commit", e.commit("g", commitOpts{memberID: oldA, gen: gen, instance: &instA, epoch: -1}, map[tp]int64{{"t", 0}: 1})[tp{"t", 0}], kerr.FencedInstanceID.Code)
	wantCode(t, "old sync", e.sync("g", oldA, gen, &instA, nil).ErrorCode, kerr.FencedInstanceID.Code)
	wantCode(t, "old join", e.join("g", joinOpts{memberID: oldA, instance: &instA}).ErrorCode, kerr.FencedInstanceID.Code)
	wantCode(t, "new heartbeat", e.heartbeat("g", newA, gen, &instA), 0)

	// Before v9 the rejoining leader is told the old leader ID, so that
	// it does not run the assignment.
	r = e.join("g", joinOpts{version: 5, clientID: "a", instance: &instA})
	wantCode(t, "v5 static rejoin", r.ErrorCode, 0)
	if r.LeaderID != newA || r.MemberID == newA || r.SkipAssignment || len(r.Members) != 0 || r.Generation != gen {
		t.Fatalf("v5 static rejoin: %+v", r)
	}
	wantCode(t, "previous id fenced", e.heartbeat("g", newA, gen, &instA), kerr.FencedInstanceID.Code)

	// The replaced member ID was persisted: it survives a restart.
	e.restart()
	d := e.describe("g")
	var found bool
	for _, m := range d.Members {
		found = found || (m.MemberID == r.MemberID && m.InstanceID != nil && *m.InstanceID == instA)
	}
	if !found || d.State != "Stable" {
		t.Fatalf("replaced static member not persisted: %+v", d)
	}
}

func TestStaticMemberFencedWhileWaiting(t *testing.T) {
	e := newEnv(t, testConfig())
	inst := "i"
	ids, gen := e.joinStableOpts("g", []joinOpts{{clientID: "a"}, {clientID: "s", instance: &inst}})
	// The static member rejoins with a new subscription, which starts a
	// rebalance; its old incarnation waits in JoinGroup when its new
	// incarnation arrives.
	oldCh := e.joinAsync("g", joinOpts{memberID: ids[1], instance: &inst, protos: []proto{{"range", []string{"t", "u"}}}})
	eventually(t, "rebalance", 5*time.Second, func() bool {
		return e.heartbeat("g", ids[0], gen, nil) == kerr.RebalanceInProgress.Code
	})
	newCh := e.joinAsync("g", joinOpts{instance: &inst})
	wantCode(t, "old incarnation", recv(t, "old join", oldCh).ErrorCode, kerr.FencedInstanceID.Code)
	aCh := e.joinAsync("g", joinOpts{memberID: ids[0]})
	rn, ra := recv(t, "new join", newCh), recv(t, "a join", aCh)
	wantCode(t, "new incarnation", rn.ErrorCode, 0)
	wantCode(t, "a", ra.ErrorCode, 0)
	if rn.Generation != gen+1 || rn.MemberID == ids[1] {
		t.Fatalf("new incarnation: %+v", rn)
	}
}

func TestLeaveGroup(t *testing.T) {
	e := newEnv(t, testConfig())
	i1, i2 := "i1", "i2"
	ids, gen := e.joinStableOpts("g", []joinOpts{{clientID: "d"}, {clientID: "s1", instance: &i1}, {clientID: "s2", instance: &i2}})
	d, s2 := ids[0], ids[2]
	resp := e.leave("g",
		kmsg.LeaveGroupRequestMember{MemberID: d},
		kmsg.LeaveGroupRequestMember{InstanceID: &i1}, // administrative removal by instance ID
		kmsg.LeaveGroupRequestMember{MemberID: "nope"},
		kmsg.LeaveGroupRequestMember{MemberID: "x", InstanceID: &i2},
		kmsg.LeaveGroupRequestMember{MemberID: s2, InstanceID: kmsg.StringPtr("i3")},
	)
	wantCode(t, "top-level", resp.ErrorCode, 0)
	want := []int16{0, 0, kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code, kerr.UnknownMemberID.Code}
	for i, m := range resp.Members {
		wantCode(t, "member "+m.MemberID, m.ErrorCode, want[i])
	}
	if len(resp.Members) != len(want) {
		t.Fatalf("%d member results", len(resp.Members))
	}
	wantCode(t, "s2 heartbeat", e.heartbeat("g", s2, gen, &i2), kerr.RebalanceInProgress.Code)
	r := e.join("g", joinOpts{memberID: s2, instance: &i2})
	wantCode(t, "s2 rejoin", r.ErrorCode, 0)
	if r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("s2 rejoin: %+v", r)
	}
	wantCode(t, "s2 sync", e.sync("g", s2, gen+1, &i2, map[string][]byte{s2: assignmentBytes("t", 0)}).ErrorCode, 0)

	// The last member leaves (v0): the group becomes Empty, a new
	// generation, and that is persisted.
	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version = 0
	old.Group, old.MemberID = "g", s2
	wantCode(t, "v0 leave", e.c.Handle(context.Background(), old).(*kmsg.LeaveGroupResponse).ErrorCode, 0)
	if dg := e.describe("g"); dg.State != "Empty" || len(dg.Members) != 0 {
		t.Fatalf("after last leave: %+v", dg)
	}
	eventually(t, "empty group to be persisted", 5*time.Second, func() bool {
		recs := e.store("g").records()
		last := recs[len(recs)-1]
		var v kmsg.GroupMetadataValue
		return v.ReadFrom(last.Value) == nil && len(v.Members) == 0 && v.Generation == gen+2 && v.ProtocolType == "consumer"
	})

	// Unknown groups: per member UNKNOWN_MEMBER_ID (v3+), top-level before.
	resp = e.leave("nope", kmsg.LeaveGroupRequestMember{MemberID: "m"})
	if resp.ErrorCode != 0 || resp.Members[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave unknown group: %+v", resp)
	}
	old.Group = "nope"
	wantCode(t, "v0 leave unknown group", e.c.Handle(context.Background(), old).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestPendingMemberLeaves(t *testing.T) {
	e := newEnv(t, testConfig())
	ids, gen := e.joinStable("g", []string{"a"}, joinOpts{})
	r := e.join("g", joinOpts{clientID: "b"})
	wantCode(t, "b first join", r.ErrorCode, kerr.MemberIDRequired.Code)
	// a rejoins: the rebalance waits for the pending b ...
	aCh := e.joinAsync("g", joinOpts{memberID: ids[0]})
	if !blocked(aCh) {
		t.Fatal("rebalance completed with a member pending")
	}
	// ... until b leaves instead.
	resp := e.leave("g", kmsg.LeaveGroupRequestMember{MemberID: r.MemberID})
	wantCode(t, "pending leave", resp.Members[0].ErrorCode, 0)
	ra := recv(t, "a join", aCh)
	if ra.ErrorCode != 0 || ra.Generation != gen+1 {
		t.Fatalf("a join: %+v", ra)
	}
}

func TestGroupMaxSizeDuringRebalance(t *testing.T) {
	cfg := testConfig()
	cfg.MaxGroupSize = 1
	e := newEnv(t, cfg)
	e.joinStable("g", []string{"a"}, joinOpts{})
	wantCode(t, "second member", e.join("g", joinOpts{version: 3}).ErrorCode, kerr.GroupMaxSizeReached.Code)
}
