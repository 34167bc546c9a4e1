package consumergroup

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testGroup = "g"

var epoch0 = time.Date(2025, 3, 18, 12, 0, 0, 0, time.UTC)

// tid is a topic ID whose last byte is b.
func tid(b byte) TopicID {
	var id TopicID
	id[0] = 0xab
	id[15] = b
	return id
}

// topicsOf builds metadata of topics named t<b> with ID tid(b).
func topicsOf(counts map[byte]int32) TopicMetadata {
	md := make(TopicMetadata)
	for b, n := range counts {
		name := fmt.Sprintf("t%d", b)
		md[name] = Topic{ID: tid(b), Name: name, Partitions: n}
	}
	return md
}

// asg builds an assignment: asg(1, 0, 1, 2) is partitions 0-2 of tid(1);
// several topics with tp(...) pairs via union.
func asg(topic byte, ps ...int32) Assignment {
	return Assignment{tid(topic): ps}.Clone()
}

func asgs(as ...Assignment) Assignment {
	var out Assignment
	for _, a := range as {
		out = union(out, a)
	}
	return out
}

// env drives a group in tests, keeping every record it returned.
type env struct {
	t       testing.TB
	g       *Group
	cfg     Config
	now     time.Time
	topics  TopicMetadata
	records []Record
	version int16
}

func newEnv(t testing.TB, cfg Config, topics TopicMetadata) *env {
	t.Helper()
	n := 0
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = func() string { n++; return fmt.Sprintf("gen-%d", n) }
	}
	g, err := New(testGroup, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, g: g, cfg: cfg, now: epoch0, topics: topics, version: 1}
}

func (e *env) heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	e.t.Helper()
	resp, rs, err := e.g.Heartbeat(e.now, Client{ID: "client-" + req.MemberID, Host: "/10.0.0.1"}, req, e.topics)
	if err != nil {
		if rs != nil {
			e.t.Fatalf("refused heartbeat returned records %v", rs)
		}
		if resp.ErrorCode == 0 || resp.ErrorMessage == nil {
			e.t.Fatalf("refused heartbeat (%v) without an error in the response %+v", err, resp)
		}
		if errors.Is(err, kerr.UnknownServerError) {
			e.t.Fatalf("internal error: %v", err)
		}
	} else if resp.ErrorCode != 0 {
		e.t.Fatalf("heartbeat with error code %d but no error", resp.ErrorCode)
	}
	e.records = append(e.records, rs...)
	return resp, err
}

// mustHeartbeat heartbeats and fails the test on refusal.
func (e *env) mustHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	resp, err := e.heartbeat(req)
	if err != nil {
		e.t.Fatalf("heartbeat %+v: %v", req, err)
	}
	return resp
}

// refused heartbeats and checks the refusal's error.
func (e *env) refused(req *kmsg.ConsumerGroupHeartbeatRequest, want *kerr.Error) string {
	e.t.Helper()
	before := stateOf(e.g)
	resp, err := e.heartbeat(req)
	if !errors.Is(err, want) || resp.ErrorCode != want.Code {
		e.t.Fatalf("heartbeat %+v: got %v (code %d), want %v", req, err, resp.ErrorCode, want)
	}
	if after := stateOf(e.g); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("refused heartbeat changed the group:\nbefore %+v\nafter  %+v", before, after)
	}
	return *resp.ErrorMessage
}

func (e *env) expire() []Record {
	e.t.Helper()
	rs, err := e.g.Expire(e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	e.records = append(e.records, rs...)
	return rs
}

// checkReplay checks that replaying the records, whole, compacted and as
// a snapshot, rebuilds the group's state.
func (e *env) checkReplay() {
	e.t.Helper()
	want := stateOf(e.g)
	for name, rs := range map[string][]Record{
		"log":       e.records,
		"compacted": compact(e.records),
		"snapshot":  e.g.Snapshot(),
	} {
		g, err := New(testGroup, e.cfg)
		if err != nil {
			e.t.Fatal(err)
		}
		for i, r := range rs {
			if err := g.Replay(r); err != nil {
				e.t.Fatalf("replay of the %s: record %d %#v: %v", name, i, r, err)
			}
		}
		if got := stateOf(g); !reflect.DeepEqual(got, want) {
			e.t.Fatalf("replay of the %s (%d records) differs:\ngot  %+v\nwant %+v", name, len(rs), got, want)
		}
	}
}

// compact keeps the last record of each key, in log order, as log
// compaction does (tombstones included).
func compact(rs []Record) []Record {
	last := make(map[string]int, len(rs))
	for i, r := range rs {
		last[r.Key()] = i
	}
	var out []Record
	for i, r := range rs {
		if last[r.Key()] == i {
			out = append(out, r)
		}
	}
	return out
}

// groupState is everything of a group but its configuration and
// volatile state, comparable with reflect.DeepEqual.
type groupState struct {
	Epoch, AssignmentEpoch int32
	SubMeta                map[string]Topic
	Regexes                map[string][]string
	Members                map[string]Member
	Target                 map[string]Assignment
	Static                 map[string]string
	Owners                 map[TopicID]map[int32]string
	NameCount              map[string]int
	RegexCount             map[string]int
	AssignorCount          map[string]int
	State                  GroupState
}

func stateOf(g *Group) groupState {
	s := groupState{
		Epoch:           g.epoch,
		AssignmentEpoch: g.assignmentEpoch,
		SubMeta:         copyMap(g.subMeta),
		Regexes:         make(map[string][]string),
		Members:         make(map[string]Member),
		Target:          make(map[string]Assignment),
		Static:          copyMap(g.static),
		Owners:          make(map[TopicID]map[int32]string),
		NameCount:       copyMap(g.nameCount),
		RegexCount:      copyMap(g.regexCount),
		AssignorCount:   copyMap(g.assignorCount),
		State:           g.State(),
	}
	for re, ts := range g.regexes {
		s.Regexes[re] = slices.Clone(ts)
	}
	for id, m := range g.members {
		s.Members[id] = m.clone()
	}
	for id, a := range g.target {
		s.Target[id] = a.Clone()
	}
	for t, os := range g.owners {
		s.Owners[t] = copyMap(os)
	}
	return s
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// checkInvariants checks what must hold of a group after any call.
func checkInvariants(g *Group) error {
	// No partition held by two members, nor twice by one; the owners
	// index is exactly the members' partitions.
	owners := make(map[TopicID]map[int32]string)
	nameCount, regexCount, assignorCount := map[string]int{}, map[string]int{}, map[string]int{}
	static := map[string]string{}
	for id, m := range g.members {
		if m.ID != id {
			return fmt.Errorf("member %s stored as %s", m.ID, id)
		}
		if overlaps(m.Assigned, m.PendingRevocation) {
			return fmt.Errorf("member %s has %v both assigned and pending revocation", id, intersect(m.Assigned, m.PendingRevocation))
		}
		for _, a := range []Assignment{m.Assigned, m.PendingRevocation} {
			if !a.Equal(a.Clone()) {
				return fmt.Errorf("member %s has an unnormalized assignment %v", id, a)
			}
			for t, ps := range a {
				for _, p := range ps {
					if other, ok := owners[t][p]; ok {
						return fmt.Errorf("partition %x-%d held by %s and %s", t[15], p, other, id)
					}
					if owners[t] == nil {
						owners[t] = map[int32]string{}
					}
					owners[t][p] = id
				}
			}
		}
		if len(m.PendingRevocation) > 0 && m.State != MemberUnrevokedPartitions && m.Epoch != StaticLeaveEpoch {
			return fmt.Errorf("member %s in %v with partitions pending revocation", id, m.State)
		}
		if m.Epoch > g.epoch || (m.Epoch > g.assignmentEpoch && m.State != MemberUnrevokedPartitions) {
			return fmt.Errorf("member %s at epoch %d, group at %d/%d", id, m.Epoch, g.epoch, g.assignmentEpoch)
		}
		for _, n := range m.SubscribedTopicNames {
			nameCount[n]++
		}
		if m.SubscribedTopicRegex != "" {
			regexCount[m.SubscribedTopicRegex]++
		}
		if m.ServerAssignor != "" {
			assignorCount[m.ServerAssignor]++
		}
		if m.InstanceID != "" {
			if other, ok := static[m.InstanceID]; ok {
				return fmt.Errorf("instance %s held by %s and %s", m.InstanceID, other, id)
			}
			static[m.InstanceID] = id
		}
	}
	if !reflect.DeepEqual(owners, g.owners) {
		return fmt.Errorf("owners index %v, members hold %v", g.owners, owners)
	}
	for name, pair := range map[string][2]map[string]int{
		"names": {nameCount, g.nameCount}, "regexes": {regexCount, g.regexCount}, "assignors": {assignorCount, g.assignorCount},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			return fmt.Errorf("%s index %v, members have %v", name, pair[1], pair[0])
		}
	}
	if !reflect.DeepEqual(static, g.static) {
		return fmt.Errorf("static index %v, members have %v", g.static, static)
	}
	// Targets: only of members, disjoint, within the subscription.
	seen := map[TopicID]map[int32]string{}
	for id, a := range g.target {
		m := g.members[id]
		if m == nil {
			return fmt.Errorf("target assignment of %s, not a member", id)
		}
		subscribed := map[TopicID]bool{}
		for _, n := range g.effectiveTopics(m) {
			if t, ok := g.subMeta[n]; ok {
				subscribed[t.ID] = true
			}
		}
		for t, ps := range a {
			for _, p := range ps {
				if other, ok := seen[t][p]; ok {
					return fmt.Errorf("partition %x-%d in the targets of %s and %s", t[15], p, other, id)
				}
				if seen[t] == nil {
					seen[t] = map[int32]string{}
				}
				seen[t][p] = id
			}
			if g.epoch == g.assignmentEpoch && !subscribed[t] {
				return fmt.Errorf("target of %s has topic %x it does not subscribe to", id, t[15])
			}
		}
	}
	if g.assignmentEpoch > g.epoch {
		return fmt.Errorf("assignment epoch %d past group epoch %d", g.assignmentEpoch, g.epoch)
	}
	return nil
}

// client is a consumer as the tests drive it: it heartbeats, keeps the
// assignment the last response gave it until it processes it (revoking
// and taking partitions at once), and reports what it owns.
type client struct {
	id       string
	instance string // "" for a dynamic member
	names    []string
	regex    string
	assignor string
	timeout  int32 // rebalance timeout, ms

	joined     bool
	epoch      int32
	owned      Assignment
	pending    Assignment
	hasPending bool
	full       bool // the next heartbeat is a full request
	sendNames  bool // the subscription changed since the last heartbeat
	omitOwned  bool // the next heartbeat does not report owned partitions
}

func newClient(id string, names ...string) *client {
	return &client{id: id, names: names, timeout: 5000}
}

func (c *client) request(version int16) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = version
	req.Group = testGroup
	req.MemberID = c.id
	if c.instance != "" {
		req.InstanceID = kmsg.StringPtr(c.instance)
	}
	subscription := func() {
		// Both, so that switching between names and a regular
		// expression clears the other ("" is no regular expression).
		req.SubscribedTopicRegex = kmsg.StringPtr(c.regex)
		req.SubscribedTopicNames = append([]string{}, c.names...)
		if c.assignor != "" {
			req.ServerAssignor = kmsg.StringPtr(c.assignor)
		}
	}
	if !c.joined {
		req.MemberEpoch = 0
		req.RebalanceTimeoutMillis = c.timeout
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		subscription()
		return req
	}
	req.MemberEpoch = c.epoch
	if c.full || c.sendNames {
		subscription()
	}
	if c.full {
		req.RebalanceTimeoutMillis = c.timeout
	}
	if !c.omitOwned || c.full {
		req.Topics = requestTopics(c.owned)
	}
	return req
}

func requestTopics(a Assignment) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	ts := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, t := range a.topics() {
		rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		rt.TopicID = t
		rt.Partitions = slices.Clone(a[t])
		ts = append(ts, rt)
	}
	return ts
}

func fromResponse(ra *kmsg.ConsumerGroupHeartbeatResponseAssignment) Assignment {
	a := Assignment{}
	for _, t := range ra.Topics {
		a[t.TopicID] = append(a[t.TopicID], t.Partitions...)
	}
	return a.Clone()
}

// handle takes a heartbeat's outcome.
func (c *client) handle(resp *kmsg.ConsumerGroupHeartbeatResponse, err error) {
	c.omitOwned = false
	if err != nil {
		if errors.Is(err, kerr.FencedMemberEpoch) || errors.Is(err, kerr.UnknownMemberID) {
			c.drop()
		}
		return
	}
	c.joined = true
	c.epoch = resp.MemberEpoch
	c.full, c.sendNames = false, false
	if resp.Assignment != nil {
		c.pending, c.hasPending = fromResponse(resp.Assignment), true
	}
}

// lost is a heartbeat whose response did not arrive: the client gives up
// the assignment it has not processed yet (it may be stale) and sends a
// full request next.
func (c *client) lost() {
	c.pending, c.hasPending = nil, false
	c.full = true
}

// process revokes and takes partitions as the last assignment says.
func (c *client) process() {
	if c.hasPending {
		c.owned, c.pending, c.hasPending = c.pending, nil, false
	}
}

// drop abandons all partitions: the member must rejoin.
func (c *client) drop() {
	c.joined = false
	c.owned, c.pending, c.hasPending = nil, nil, false
	c.full, c.sendNames = false, false
}

// beat heartbeats for the client.
func (e *env) beat(c *client) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	e.t.Helper()
	resp, err := e.heartbeat(c.request(e.version))
	c.handle(resp, err)
	if err == nil && resp.MemberID != nil {
		c.id = *resp.MemberID
	}
	return resp, err
}

func (e *env) mustBeat(c *client) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	resp, err := e.beat(c)
	if err != nil {
		e.t.Fatalf("heartbeat of %s: %v", c.id, err)
	}
	return resp
}

// converge processes and heartbeats every client, round after round, until
// the clients' members are reconciled with the target assignment and every
// client has what the group says it has. (The group is stable unless it
// has members that are not among the clients, such as departed static
// members.)
func (e *env) converge(cs ...*client) int {
	e.t.Helper()
	for round := 1; round <= 50; round++ {
		for _, c := range cs {
			c.process()
			e.mustBeat(c)
			c.process()
		}
		if err := checkInvariants(e.g); err != nil {
			e.t.Fatal(err)
		}
		if e.g.Epoch() == e.g.AssignmentEpoch() && e.settled(cs) {
			return round
		}
	}
	e.t.Fatalf("group did not converge: %v, members %+v", e.g.State(), e.g.Members())
	return 0
}

// settled reports whether every client owns what its member is assigned.
func (e *env) settled(cs []*client) bool {
	for _, c := range cs {
		m, ok := e.g.Member(c.id)
		if !ok || !m.reconciledTo(e.g.AssignmentEpoch()) || !m.Assigned.Equal(c.owned) || c.hasPending {
			return false
		}
	}
	return true
}

// checkOwnedOnce checks that every partition of the subscribed topics is
// owned by exactly one of the clients, one that subscribes to its topic.
func (e *env) checkOwnedOnce(cs []*client) {
	e.t.Helper()
	owner := map[partition]string{}
	for _, c := range cs {
		m, ok := e.g.Member(c.id)
		if !ok {
			e.t.Fatalf("client %s is not a member", c.id)
		}
		subscribed := map[TopicID]bool{}
		for _, n := range e.g.effectiveTopics(&m) {
			if t, ok := e.topics[n]; ok {
				subscribed[t.ID] = true
			}
		}
		for t, ps := range c.owned {
			if !subscribed[t] {
				e.t.Fatalf("client %s owns partitions of topic %x it does not subscribe to", c.id, t[15])
			}
			for _, p := range ps {
				if other, ok := owner[partition{t, p}]; ok {
					e.t.Fatalf("partition %x-%d owned by %s and %s", t[15], p, other, c.id)
				}
				owner[partition{t, p}] = c.id
			}
		}
	}
	for _, m := range e.g.Members() {
		for _, n := range e.g.effectiveTopics(&m) {
			t, ok := e.topics[n]
			if !ok {
				continue
			}
			for p := range t.Partitions {
				if _, ok := owner[partition{t.ID, p}]; !ok {
					e.t.Fatalf("partition %s-%d is subscribed to but owned by no one", n, p)
				}
			}
		}
	}
}

// loads returns the number of partitions each client owns.
func loads(cs []*client) []int {
	var ls []int
	for _, c := range cs {
		ls = append(ls, c.owned.Len())
	}
	return ls
}

func spread(ls []int) int {
	if len(ls) == 0 {
		return 0
	}
	return slices.Max(ls) - slices.Min(ls)
}
