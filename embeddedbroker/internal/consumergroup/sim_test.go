package consumergroup

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// simClient is a consumer process of the simulation.
type simClient struct {
	*client
	base     string // the member ID is base, or base-rN after N restarts
	restarts int
	crashed  bool // stopped without leaving: owns nothing, sends nothing
	slow     bool // takes long to process its assignments (revocations)
}

// sim drives a group with random sequences of joins, heartbeats (some
// without owned partitions, some whose responses are lost), processing of
// assignments, subscription changes, leaves, temporary leaves of static
// members, crashes and restarts, topic changes and time passing.
type sim struct {
	t       *testing.T
	e       *env
	r       *rand.Rand
	seed    uint64
	step    int
	action  string
	clients []*simClient
	nextTop byte
	stats   *simStats
}

// simStats counts what the sequences exercised.
type simStats struct {
	heartbeats, previousEpoch, unrevoked, unreleased, replaced int
	refused                                                    map[string]int
	expired                                                    map[DeadlineKind]int
}

var simSubscriptions = []struct {
	names []string
	regex string
}{
	{names: []string{"t1"}},
	{names: []string{"t1", "t2"}},
	{names: []string{"t1", "t2", "t3"}},
	{names: []string{"t2", "t3", "nope"}},
	{regex: "t.*"},
	{regex: "t[12]"},
	{names: []string{"t3"}, regex: "t1"},
}

func newSim(t *testing.T, seed uint64, stats *simStats) *sim {
	r := rand.New(rand.NewPCG(seed, 0x848))
	topics := TopicMetadata{}
	for i := byte(1); i <= 3; i++ {
		name := fmt.Sprintf("t%d", i)
		topics[name] = Topic{ID: tid(i), Name: name, Partitions: int32(1 + r.IntN(6))}
	}
	cfg := Config{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second, RegexRefreshInterval: 3 * time.Second}
	s := &sim{t: t, e: newEnv(t, cfg, topics), r: r, seed: seed, nextTop: 4, stats: stats}
	homogeneous := r.IntN(2) == 0
	assignor := ""
	switch r.IntN(4) {
	case 0:
		assignor = RangeAssignorName
	case 1:
		assignor = UniformAssignorName
	}
	sub := simSubscriptions[r.IntN(len(simSubscriptions))]
	for i := range 2 + r.IntN(5) {
		c := &simClient{client: newClient(fmt.Sprintf("c%d", i)), base: fmt.Sprintf("c%d", i)}
		if !homogeneous {
			sub = simSubscriptions[r.IntN(len(simSubscriptions))]
		}
		c.names, c.regex = sub.names, sub.regex
		c.assignor = assignor
		c.timeout = int32(2000 + r.IntN(4000))
		if r.IntN(3) == 0 {
			c.instance = fmt.Sprintf("instance-%d", i)
		}
		c.slow = r.IntN(4) == 0
		s.clients = append(s.clients, c)
	}
	return s
}

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d, step %d (%s): %s", s.seed, s.step, s.action, fmt.Sprintf(format, args...))
}

// beat heartbeats for a client; lost drops the response.
func (s *sim) beat(c *simClient, lost bool) {
	s.t.Helper()
	req := c.request(1)
	before, wasMember := s.e.g.Member(c.id)
	replacing := false
	if req.InstanceID != nil {
		holder, held := s.e.g.StaticMember(*req.InstanceID)
		replacing = held && holder != c.id
	}
	resp, err := s.e.heartbeat(req)
	s.stats.heartbeats++
	if err != nil {
		s.stats.refused[kerr.ErrorForCode(resp.ErrorCode).(*kerr.Error).Message]++
	} else {
		if wasMember && req.MemberEpoch > 0 && req.MemberEpoch < before.Epoch {
			s.stats.previousEpoch++
		}
		after, _ := s.e.g.Member(c.id)
		if after.State != before.State || !wasMember {
			switch after.State {
			case MemberUnrevokedPartitions:
				s.stats.unrevoked++
			case MemberUnreleasedPartitions:
				s.stats.unreleased++
			}
		}
		if replacing {
			s.stats.replaced++
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, kerr.FencedMemberEpoch), errors.Is(err, kerr.UnknownMemberID):
		case errors.Is(err, kerr.UnreleasedInstanceID) && !c.joined:
		default:
			s.fail("heartbeat of %s: %v", c.id, err)
		}
	}
	if lost && err == nil {
		c.lost()
		return
	}
	c.handle(resp, err)
}

// restart makes a new process of the client: a new member ID.
func (s *sim) restart(c *simClient) {
	c.restarts++
	c.id = fmt.Sprintf("%s-r%d", c.base, c.restarts)
	c.crashed = false
	c.drop()
}

func (s *sim) pick() *simClient { return s.clients[s.r.IntN(len(s.clients))] }

func (s *sim) live() *simClient {
	for range 10 {
		if c := s.pick(); !c.crashed {
			return c
		}
	}
	return nil
}

func (s *sim) act() {
	r := s.r
	s.e.now = s.e.now.Add(time.Duration(100+r.IntN(400)) * time.Millisecond)
	switch w := r.IntN(100); {
	case w < 45:
		s.action = "heartbeat"
		if c := s.live(); c != nil {
			s.beat(c, false)
		}
	case w < 70:
		s.action = "process"
		if c := s.live(); c != nil && (!c.slow || r.IntN(6) == 0) {
			c.process()
		}
	case w < 74:
		s.action = "subscription change"
		if c := s.live(); c != nil {
			sub := simSubscriptions[r.IntN(len(simSubscriptions))]
			c.names, c.regex, c.sendNames = sub.names, sub.regex, true
		}
	case w < 77:
		s.action = "leave"
		if c := s.live(); c != nil && c.joined {
			req := c.request(1)
			req.MemberEpoch = LeaveEpoch
			temporary := c.instance != "" && r.IntN(3) > 0
			if temporary {
				req.MemberEpoch = StaticLeaveEpoch
			}
			if _, err := s.e.heartbeat(req); err != nil {
				s.fail("leave of %s: %v", c.id, err)
			}
			c.drop()
			if temporary {
				s.restart(c) // comes back as a new process
			}
		}
	case w < 80:
		s.action = "crash"
		if c := s.live(); c != nil {
			c.drop()
			c.crashed = true
		}
	case w < 84:
		s.action = "restart"
		if c := s.pick(); c.crashed {
			s.restart(c)
		}
	case w < 88:
		s.action = "lost response"
		if c := s.live(); c != nil {
			s.beat(c, true)
		}
	case w < 91:
		s.action = "heartbeat without owned partitions"
		if c := s.live(); c != nil {
			c.omitOwned = true
			s.beat(c, false)
		}
	case w < 93:
		s.action = "topic change"
		if r.IntN(2) == 0 {
			name := fmt.Sprintf("t%d", 1+r.IntN(3))
			t := s.e.topics[name]
			t.Partitions += int32(1 + r.IntN(3))
			s.e.topics[name] = t
		} else if s.nextTop < 8 {
			name := fmt.Sprintf("t%d", s.nextTop)
			if r.IntN(3) == 0 {
				name = fmt.Sprintf("x%d", s.nextTop)
			}
			s.e.topics[name] = Topic{ID: tid(s.nextTop), Name: name, Partitions: int32(1 + r.IntN(4))}
			s.nextTop++
		}
	case w < 95:
		s.action = "time jump"
		s.e.now = s.e.now.Add(time.Duration(3+r.IntN(10)) * time.Second)
	default:
		s.action = "heartbeat"
		if c := s.live(); c != nil {
			s.beat(c, false)
		}
	}
	s.expire()
	s.check()
}

// expire expires what is due; the clients of removed members learn it
// (a zombie would be fenced by the broker on commit) and drop everything.
func (s *sim) expire() {
	if next, ok := s.e.g.NextDeadline(); !ok || s.e.now.Before(next) {
		return
	}
	due := map[string]DeadlineKind{}
	for _, d := range s.e.g.Deadlines() {
		if _, ok := due[d.MemberID]; !ok && !s.e.now.Before(d.At) {
			due[d.MemberID] = d.Kind
		}
	}
	s.e.expire()
	for id, kind := range due {
		if _, ok := s.e.g.Member(id); !ok {
			s.stats.expired[kind]++
		}
	}
	for _, c := range s.clients {
		if _, ok := s.e.g.Member(c.id); !ok && c.joined {
			c.drop()
		}
	}
}

// check checks the group's invariants and the clients': no partition is
// owned by two clients, and what a client owns or is about to take is its
// member's.
func (s *sim) check() {
	s.t.Helper()
	if err := checkInvariants(s.e.g); err != nil {
		s.fail("%v", err)
	}
	owner := map[partition]string{}
	for _, c := range s.clients {
		m, isMember := s.e.g.Member(c.id)
		if len(c.owned) > 0 && (!isMember || !subset(c.owned, union(m.Assigned, m.PendingRevocation))) {
			s.fail("client %s owns %v, its member %v has %v and %v pending", c.id, c.owned, isMember, m.Assigned, m.PendingRevocation)
		}
		if c.hasPending && len(c.pending) > 0 && (!isMember || !subset(c.pending, m.Assigned)) {
			s.fail("client %s is to take %v, its member has %v", c.id, c.pending, m.Assigned)
		}
		for t, ps := range c.owned {
			for _, p := range ps {
				if other, ok := owner[partition{t, p}]; ok {
					s.fail("partition %x-%d owned by clients %s and %s", t[15], p, other, c.id)
				}
				owner[partition{t, p}] = c.id
			}
		}
	}
}

// converge lets every client run normally until the group is stable.
func (s *sim) converge() {
	s.t.Helper()
	s.action = "converge"
	for _, c := range s.clients {
		if c.crashed {
			s.restart(c)
		}
		c.slow = false
	}
	for round := range 150 {
		s.step++
		s.e.now = s.e.now.Add(time.Second)
		s.expire()
		for _, c := range s.clients {
			c.process()
			s.beat(c, false)
			c.process()
			s.check()
		}
		if round > 0 && s.e.g.State() == GroupStable && s.e.g.Len() == len(s.clients) && s.settled() {
			return
		}
	}
	s.fail("no convergence: group %v, %d members, clients %d", s.e.g.State(), s.e.g.Len(), len(s.clients))
}

func (s *sim) settled() bool {
	for _, c := range s.clients {
		m, ok := s.e.g.Member(c.id)
		if !ok || !c.joined || c.hasPending || !m.Assigned.Equal(c.owned) {
			return false
		}
	}
	return true
}

// TestRandomSequences: over many random sequences, no partition is ever
// owned by two members (nor two clients), the group's derived state stays
// consistent, and once the clients run normally the group converges to
// stable with every subscribed partition owned exactly once (balanced, for
// the uniform assignor and identical subscriptions); replaying the records
// of the sequence (whole, compacted by key, or as a snapshot) rebuilds the
// live state.
func TestRandomSequences(t *testing.T) {
	sequences, steps := 300, 150
	if testing.Short() {
		sequences = 50
	}
	stats := &simStats{refused: map[string]int{}, expired: map[DeadlineKind]int{}}
	for seed := range uint64(sequences) {
		s := newSim(t, seed, stats)
		for s.step = 0; s.step < steps; s.step++ {
			s.act()
			if s.step%50 == 49 {
				s.e.checkReplay()
			}
		}
		s.converge()
		clients := make([]*client, len(s.clients))
		for i, c := range s.clients {
			clients[i] = c.client
		}
		s.e.checkOwnedOnce(clients)
		if s.e.g.AssignorName() == UniformAssignorName && homogeneous(s.e.g) {
			if ls := loads(clients); spread(ls) > 1 {
				s.fail("unbalanced: loads %v", ls)
			}
		}
		s.e.checkReplay()
	}
	t.Logf("%d heartbeats, %d with the previous epoch, %d to unrevoked partitions, %d to unreleased partitions, %d static replacements; refused %v; expired %v",
		stats.heartbeats, stats.previousEpoch, stats.unrevoked, stats.unreleased, stats.replaced, stats.refused, stats.expired)
}

// homogeneous reports whether every member subscribes to the same topics.
func homogeneous(g *Group) bool {
	var first []string
	for i, m := range g.Members() {
		ts := g.effectiveTopics(&m)
		var existing []string
		for _, n := range ts {
			if _, ok := g.subMeta[n]; ok {
				existing = append(existing, n)
			}
		}
		if i == 0 {
			first = existing
		} else if !slices.Equal(first, existing) {
			return false
		}
	}
	return true
}
