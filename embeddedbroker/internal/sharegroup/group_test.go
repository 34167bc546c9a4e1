package sharegroup

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func tid(b byte) consumergroup.TopicID {
	var id consumergroup.TopicID
	id[0], id[15] = 0x93, b
	return id
}

// topics returns metadata of topics t<b> with the given partition counts.
func topics(counts map[byte]int32) consumergroup.TopicMetadata {
	md := make(consumergroup.TopicMetadata)
	for b, n := range counts {
		name := fmt.Sprintf("t%d", b)
		md[name] = consumergroup.Topic{ID: tid(b), Name: name, Partitions: n}
	}
	return md
}

// genv drives a group, keeping its records.
type genv struct {
	t       *testing.T
	g       *Group
	cfg     Config
	now     time.Time
	md      consumergroup.TopicMetadata
	records []Record
}

func newGenv(t *testing.T, cfg Config, md consumergroup.TopicMetadata) *genv {
	g, err := New("g", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &genv{t: t, g: g, cfg: cfg, now: t0, md: md}
}

func hb(member string, epoch int32, subs ...string) *kmsg.ShareGroupHeartbeatRequest {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.MemberEpoch = "g", member, epoch
	req.SubscribedTopicNames = subs
	return req
}

func (e *genv) heartbeat(req *kmsg.ShareGroupHeartbeatRequest) (*kmsg.ShareGroupHeartbeatResponse, error) {
	e.t.Helper()
	resp, rs, err := e.g.Heartbeat(e.now, Client{ID: "c-" + req.MemberID, Host: "/127.0.0.1"}, req, e.md)
	if err != nil {
		if rs != nil || resp.ErrorCode == 0 || resp.ErrorMessage == nil {
			e.t.Fatalf("refusal %v with records %v or without error in %+v", err, rs, resp)
		}
		return resp, err
	}
	e.records = append(e.records, rs...)
	return resp, nil
}

func (e *genv) ok(req *kmsg.ShareGroupHeartbeatRequest) *kmsg.ShareGroupHeartbeatResponse {
	e.t.Helper()
	resp, err := e.heartbeat(req)
	if err != nil {
		e.t.Fatalf("heartbeat %s@%d: %v", req.MemberID, req.MemberEpoch, err)
	}
	return resp
}

func (e *genv) refused(req *kmsg.ShareGroupHeartbeatRequest, want *kerr.Error) string {
	e.t.Helper()
	before := e.g.Snapshot()
	resp, err := e.heartbeat(req)
	if !errors.Is(err, want) || resp.ErrorCode != want.Code {
		e.t.Fatalf("heartbeat %s@%d: got %v, want %v", req.MemberID, req.MemberEpoch, err, want)
	}
	if !reflect.DeepEqual(before, e.g.Snapshot()) {
		e.t.Fatal("refused heartbeat changed the group")
	}
	return *resp.ErrorMessage
}

// checkReplay checks that the records and the snapshot rebuild the group.
func (e *genv) checkReplay() {
	e.t.Helper()
	for name, rs := range map[string][]Record{"log": e.records, "snapshot": e.g.Snapshot()} {
		g, _ := New("g", e.cfg)
		for _, r := range rs {
			if err := g.Replay(r); err != nil {
				e.t.Fatalf("replay %s: %v", name, err)
			}
		}
		if !reflect.DeepEqual(g.Snapshot(), e.g.Snapshot()) || !reflect.DeepEqual(g.nameCount, e.g.nameCount) {
			e.t.Fatalf("replay of the %s differs:\n%+v\n%+v", name, g.Snapshot(), e.g.Snapshot())
		}
	}
}

func assigned(resp *kmsg.ShareGroupHeartbeatResponse) consumergroup.Assignment {
	if resp.Assignment == nil {
		return nil
	}
	a := make(consumergroup.Assignment)
	for _, tp := range resp.Assignment.TopicPartitions {
		a[tp.TopicID] = append(a[tp.TopicID], tp.Partitions...)
	}
	return a.Clone()
}

func TestHeartbeatShares(t *testing.T) {
	e := newGenv(t, Config{}, topics(map[byte]int32{1: 2}))
	r := e.ok(hb("a", 0, "t1"))
	if r.MemberEpoch != 1 || !assigned(r).Equal(consumergroup.Assignment{tid(1): {0, 1}}) {
		t.Fatalf("first member: epoch %d, assignment %v", r.MemberEpoch, assigned(r))
	}
	if r.HeartbeatIntervalMillis != 5000 || *r.MemberID != "a" {
		t.Fatalf("response %+v", r)
	}
	rb := e.ok(hb("b", 0, "t1"))
	rc := e.ok(hb("c", 0, "t1"))
	if rc.MemberEpoch != 3 {
		t.Fatalf("third member epoch %d", rc.MemberEpoch)
	}
	// a, b, c share 2 partitions: each partition goes to 2 members, each
	// member gets 1 or 2 partitions, a keeps what it had where it can.
	ra := e.ok(hb("a", 1))
	rb = e.ok(hb("b", rb.MemberEpoch))
	if ra.MemberEpoch != 3 || rb.MemberEpoch != 3 {
		t.Fatalf("epochs %d %d", ra.MemberEpoch, rb.MemberEpoch)
	}
	count := map[int32]int{}
	total := 0
	for _, id := range []string{"a", "b", "c"} {
		m, _ := e.g.Member(id)
		for _, p := range m.Assigned[tid(1)] {
			count[p]++
			total++
		}
		if n := m.Assigned.Len(); n < 1 || n > 2 {
			t.Fatalf("member %s has %d partitions", id, n)
		}
	}
	if count[0] != 2 || count[1] != 2 || total != 4 {
		t.Fatalf("partition sharing %v", count)
	}
	// An unchanged heartbeat carries no assignment.
	if r := e.ok(hb("a", 3)); r.Assignment != nil {
		t.Fatalf("unchanged assignment sent: %+v", r.Assignment)
	}
	if e.g.State() != GroupStable {
		t.Fatal(e.g.State())
	}
	e.checkReplay()
}

func TestHeartbeatRefusals(t *testing.T) {
	e := newGenv(t, Config{MaxSize: 2}, topics(map[byte]int32{1: 1}))
	e.ok(hb("a", 0, "t1"))
	e.ok(hb("b", 0, "t1"))
	empty := ""
	for _, c := range []struct {
		name string
		req  *kmsg.ShareGroupHeartbeatRequest
		want *kerr.Error
		msg  string
	}{
		{"no member ID", hb(" ", 0, "t1"), kerr.InvalidRequest, "MemberId can't be empty."},
		{"no subscription", hb("x", 0), kerr.InvalidRequest, "SubscribedTopicNames must be set in first request."},
		{"bad epoch", hb("a", -2), kerr.InvalidRequest, "MemberEpoch is invalid."},
		{"rack", func() *kmsg.ShareGroupHeartbeatRequest { r := hb("a", 2); r.RackID = &empty; return r }(), kerr.InvalidRequest, "RackId can't be empty."},
		{"unknown", hb("x", 3), kerr.UnknownMemberID, "Member x is not a member of group g."},
		{"unknown leave", hb("x", -1), kerr.UnknownMemberID, "Member x is not a member of group g."},
		{"full", hb("x", 0, "t1"), kerr.GroupMaxSizeReached, "The share group has reached its maximum capacity of 2 members."},
		{"ahead", hb("a", 7), kerr.FencedMemberEpoch, ""},
		{"behind", hb("b", 0+1), kerr.FencedMemberEpoch, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			msg := e.refused(c.req, c.want)
			if c.msg != "" && msg != c.msg {
				t.Fatalf("message %q, want %q", msg, c.msg)
			}
		})
	}
	e.t = t
	// a joined at epoch 1, b at 2: a moves to 2 and may still send 1,
	// its previous epoch (the response that bumped it may have been
	// lost).
	if r := e.ok(hb("a", 1)); r.MemberEpoch != 2 {
		t.Fatalf("a at epoch %d", r.MemberEpoch)
	}
	e.ok(hb("a", 1))
	e.ok(hb("b", 2))
	// A known member may rejoin with epoch 0.
	if r := e.ok(hb("a", 0, "t1")); r.Assignment == nil {
		t.Fatal("rejoin without assignment")
	}
	e.checkReplay()
}

func TestLeaveAndExpire(t *testing.T) {
	e := newGenv(t, Config{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second}, topics(map[byte]int32{1: 4, 2: 1}))
	e.ok(hb("a", 0, "t1", "t2"))
	e.ok(hb("b", 0, "t1"))
	e.now = e.now.Add(5 * time.Second)
	r := e.ok(hb("a", 1))
	if at, _ := e.g.NextDeadline(); !at.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("next deadline %v", at)
	}
	// b expires; a does not.
	e.now = t0.Add(10 * time.Second)
	rs, expired, err := e.g.Expire(e.now)
	if err != nil || !reflect.DeepEqual(expired, []string{"b"}) {
		t.Fatalf("expire: %v %v", expired, err)
	}
	e.records = append(e.records, rs...)
	r = e.ok(hb("a", r.MemberEpoch))
	if want := (consumergroup.Assignment{tid(1): {0, 1, 2, 3}, tid(2): {0}}); !assigned(r).Equal(want) {
		t.Fatalf("a after b expired: %v", assigned(r))
	}
	// a leaves: the group is empty, its assignment epoch follows.
	r = e.ok(hb("a", r.MemberEpoch, "t1"))
	lr := e.ok(hb("a", -1))
	if lr.MemberEpoch != -1 || e.g.State() != GroupEmpty || e.g.Epoch() != e.g.AssignmentEpoch() || len(e.g.SubscriptionMetadata()) != 0 {
		t.Fatalf("after leave: %+v state %v epochs %d/%d", lr, e.g.State(), e.g.Epoch(), e.g.AssignmentEpoch())
	}
	e.checkReplay()
	rs, err = e.g.Delete()
	if err != nil || len(rs) != 3 || e.g.Snapshot() != nil {
		t.Fatalf("delete: %v %v", rs, err)
	}
}

func TestMetadataChangeBumpsEpoch(t *testing.T) {
	e := newGenv(t, Config{}, topics(map[byte]int32{1: 1}))
	r := e.ok(hb("a", 0, "t1", "t2"))
	if r.MemberEpoch != 1 {
		t.Fatal(r.MemberEpoch)
	}
	e.md = topics(map[byte]int32{1: 1, 2: 2})
	r = e.ok(hb("a", 1))
	if r.MemberEpoch != 2 || !assigned(r).Equal(consumergroup.Assignment{tid(1): {0}, tid(2): {0, 1}}) {
		t.Fatalf("after topic creation: %d %v", r.MemberEpoch, assigned(r))
	}
	e.checkReplay()
}

func TestDescribe(t *testing.T) {
	e := newGenv(t, Config{}, topics(map[byte]int32{1: 1}))
	rack := "r1"
	req := hb("a", 0, "t1")
	req.RackID = &rack
	e.ok(req)
	d := e.g.Describe(e.md)
	if d.GroupID != "g" || d.GroupState != "Stable" || d.GroupEpoch != 1 || d.AssignmentEpoch != 1 || d.Assignor != "simple" || len(d.Members) != 1 {
		t.Fatalf("%+v", d)
	}
	m := d.Members[0]
	if m.MemberID != "a" || *m.RackID != "r1" || m.ClientID != "c-a" || m.ClientHost != "/127.0.0.1" || len(m.Assignment.TopicPartitions) != 1 || m.Assignment.TopicPartitions[0].Topic != "t1" {
		t.Fatalf("%+v", m)
	}
}

func TestSimpleAssignor(t *testing.T) {
	spec := func(n int, parts int32, topicsOf func(i int) []consumergroup.TopicID) consumergroup.GroupSpec {
		s := consumergroup.GroupSpec{Members: map[string]consumergroup.MemberSpec{}, Topics: map[consumergroup.TopicID]int32{tid(1): parts, tid(2): parts}}
		for i := range n {
			s.Members[fmt.Sprintf("m%02d", i)] = consumergroup.MemberSpec{Topics: topicsOf(i)}
		}
		return s
	}
	both := func(int) []consumergroup.TopicID { return []consumergroup.TopicID{tid(1), tid(2)} }
	for _, c := range []struct {
		members int
		parts   int32
		topics  func(int) []consumergroup.TopicID
	}{
		{1, 3, both}, {2, 3, both}, {3, 1, both}, {7, 2, both}, {5, 5, both},
		{4, 3, func(i int) []consumergroup.TopicID { return []consumergroup.TopicID{tid(byte(1 + i%2))} }},
		{5, 2, func(i int) []consumergroup.TopicID {
			if i == 0 {
				return both(i)
			}
			return []consumergroup.TopicID{tid(1)}
		}},
	} {
		s := spec(c.members, c.parts, c.topics)
		out := SimpleAssignor{}.Assign(s)
		// Every subscribed partition has a member; shares are balanced
		// (for a homogeneous group, counts differ by at most one).
		holders := map[tp]int{}
		minN, maxN := 1<<30, 0
		for id, m := range s.Members {
			a := out[id]
			for t, ps := range a {
				for _, p := range ps {
					holders[tp{t, p}]++
				}
			}
			minN, maxN = min(minN, a.Len()), max(maxN, a.Len())
			_ = m
		}
		for id, m := range s.Members {
			for _, topic := range m.Topics {
				for p := range c.parts {
					if holders[tp{topic, p}] == 0 {
						t.Fatalf("%d members, %d partitions: %x-%d unassigned (%s)", c.members, c.parts, topic[15], p, id)
					}
				}
			}
		}
		if s.Homogeneous() && maxN-minN > 1 {
			t.Fatalf("%d members, %d partitions: unbalanced %d..%d: %v", c.members, c.parts, minN, maxN, out)
		}
		// Sticky: the result fed back is the result.
		for id, m := range s.Members {
			m.Assignment = out[id]
			s.Members[id] = m
		}
		if again := (SimpleAssignor{}).Assign(s); !reflect.DeepEqual(again, out) {
			t.Fatalf("not sticky:\n%v\n%v", out, again)
		}
	}
}
