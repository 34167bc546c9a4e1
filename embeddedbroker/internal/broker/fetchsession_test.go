package broker

import (
	"context"
	"fmt"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
)

func TestNextEpoch(t *testing.T) {
	for _, tc := range []struct{ in, want int32 }{
		{finalEpoch, finalEpoch}, {initialEpoch, 1}, {1, 2}, {math.MaxInt32, 1},
	} {
		if got := nextEpoch(tc.in); got != tc.want {
			t.Errorf("nextEpoch(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestSessionCacheEviction checks Kafka's eviction rule when the cache is
// full, and that stale sessions are dropped at any creation.
func TestSessionCacheEviction(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	young := t0.Add(time.Second)
	old := t0.Add(sessionEvictionAge + time.Second)
	const consumer, follower = -1, 1
	type existing struct {
		replica int32
		size    int32
	}
	for _, tc := range []struct {
		name     string
		slots    int
		have     []existing
		now      time.Time // of the new session's creation; the others were created at t0
		stale    bool      // the others were last used at t0 (otherwise a second before now)
		replica  int32
		size     int
		wantNew  bool
		wantGone int // index into have of the evicted session, -1 none
	}{
		{"no slots", 0, nil, young, false, follower, 10, false, -1},
		{"room", 2, []existing{{consumer, 5}}, young, false, consumer, 1, true, -1},
		{"consumer cannot evict a young consumer", 1, []existing{{consumer, 5}}, young, false, consumer, 50, false, -1},
		{"follower evicts the smallest young consumer", 2, []existing{{consumer, 5}, {consumer, 3}}, young, false, follower, 1, true, 1},
		{"follower cannot evict another young follower", 1, []existing{{2, 5}}, young, false, follower, 50, false, -1},
		{"follower evicts another smaller old follower", 1, []existing{{2, 5}}, old, false, follower, 6, true, 0},
		{"consumer evicts a smaller old consumer", 1, []existing{{consumer, 5}}, old, false, consumer, 6, true, 0},
		{"consumer does not evict an old consumer as large", 1, []existing{{consumer, 5}}, old, false, consumer, 5, false, -1},
		{"consumer cannot evict an old follower", 1, []existing{{follower, 1}}, old, false, consumer, 9, false, -1},
		{"a stale session goes even with room", 5, []existing{{follower, 5}}, old, true, consumer, 1, true, 0},
		{"a follower's new session replaces its old one", 5, []existing{{consumer, 5}, {follower, 5}, {2, 5}}, young, false, follower, 1, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSessionCache(func() int { return tc.slots })
			var have []*fetchSession
			for _, e := range tc.have {
				s := newFetchSession(int32(len(have)+1), e.replica, false, t0)
				s.cache = c
				s.size.Store(e.size)
				if !tc.stale {
					s.lastUsed.Store(tc.now.Add(-time.Second).UnixNano())
				}
				c.sessions[s.id] = s
				have = append(have, s)
			}
			s := c.create(tc.replica, false, tc.size, tc.now)
			if (s != nil) != tc.wantNew {
				t.Fatalf("new session: %v, want %v", s != nil, tc.wantNew)
			}
			for i, h := range have {
				gone := c.get(h.id) == nil
				if gone != (i == tc.wantGone) {
					t.Errorf("session %d (replica %d, size %d) evicted: %v", i, h.replica, h.size.Load(), gone)
				}
				if gone && !h.closed {
					t.Errorf("session %d evicted but not closed", i)
				}
			}
		})
	}
}

// TestSessionCacheBound checks that the partitions cached over all
// sessions stay under maxSessionPartitions, and are given back when
// sessions forget partitions or close.
func TestSessionCacheBound(t *testing.T) {
	c := newSessionCache(func() int { return 10 })
	s := c.create(-1, false, 3, time.Now())
	s.mu.Lock()
	for i := range 3 {
		s.add(partKey{topic: "t", partition: int32(i)}, 0, 1, -1, -1)
	}
	if !s.count(3) {
		t.Fatal("3 partitions refused")
	}
	if s.count(maxSessionPartitions) {
		t.Fatal("counted past maxSessionPartitions")
	}
	s.forget(partKey{topic: "t", partition: 0})
	s.mu.Unlock()
	if got := c.parts.Load(); got != 2 {
		t.Fatalf("cached partitions %d, want 2", got)
	}
	if !c.reserve(maxSessionPartitions - 2) {
		t.Fatal("the rest of the bound refused")
	}
	if c.reserve(1) {
		t.Fatal("reserved past the bound")
	}
	c.parts.Add(-(maxSessionPartitions - 2))
	c.removeSession(s)
	if got := c.parts.Load(); got != 0 || c.len() != 0 {
		t.Fatalf("after close: %d partitions, %d sessions", got, c.len())
	}
}

// TestSessionPending checks the pending marks: a partition changed twice
// is pending once, and a change after its read marks it again.
func TestSessionPending(t *testing.T) {
	s := newFetchSession(1, -1, false, time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	a, _ := s.add(partKey{topic: "t", partition: 0}, 0, 1, -1, -1)
	b, _ := s.add(partKey{topic: "t", partition: 1}, 0, 1, -1, -1)
	a.wake()
	a.wake()
	b.wake()
	b.clean() // read before the pending list was taken
	if got := s.takePending(); len(got) != 1 || got[0] != a {
		t.Fatalf("pending %v, want a alone", got)
	}
	if got := s.takePending(); len(got) != 0 {
		t.Fatalf("pending again: %d", len(got))
	}
	a.wake()
	if got := s.takePending(); len(got) != 1 {
		t.Fatalf("after another change: %d pending, want 1", len(got))
	}
}

// testCluster starts n nodes in memory on one controller.
func testCluster(t *testing.T, n int) (*controller.Local, []*Node) {
	t.Helper()
	return testClusterWith(t, n, nil)
}

// testClusterWith is testCluster with the nodes sharing peers (nil: each
// follower dials its leaders).
func testClusterWith(t *testing.T, n int, peers *Peers) (*controller.Local, []*Node) {
	t.Helper()
	bcfg, ctrl := testController(t, nil)
	var nodes []*Node
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		node, err := New(Config{ID: int32(i), Listener: ln, Broker: bcfg, Controller: ctrl, Peers: peers})
		if err != nil {
			t.Fatal(err)
		}
		if err := node.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, node)
	}
	return ctrl, nodes
}

// testController starts a controller with the given broker configs until
// the test ends.
func testController(tb testing.TB, brokerConfigs map[string]string) (*configs.Broker, *controller.Local) {
	tb.Helper()
	bcfg, err := configs.NewBroker(brokerConfigs)
	if err != nil {
		tb.Fatal(err)
	}
	ctrl, err := controller.NewLocal(controller.LocalConfig{Broker: bcfg,
		SessionTimeout: bcfg.Millis("broker.session.timeout.ms"), HeartbeatInterval: bcfg.Millis("broker.heartbeat.interval.ms")})
	if err != nil {
		tb.Fatal(err)
	}
	ctrl.Start()
	tb.Cleanup(func() { ctrl.Close() })
	return bcfg, ctrl
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplicaFetcherSession checks the replica fetchers' sessions on three
// nodes: once in sync, every fetcher's fetch is incremental, names no
// partition and is answered with none; each leader holds one session per
// follower with the partitions it follows; and a write to one partition is
// answered to its followers as that partition alone, whose next fetches
// name it alone (the new position), after which the high watermark moves.
func TestReplicaFetcherSession(t *testing.T) {
	const topic, parts = "replicated", 30
	ctrl, nodes := testCluster(t, 3)
	if _, err := ctrl.CreateTopic(context.Background(), controller.TopicSpec{Name: topic, Partitions: parts, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "full ISRs", func() bool {
		for p := range int32(parts) {
			if _, st, ok := ctrl.Image().Partition(topic, p); !ok || len(st.ISR) != 3 {
				return false
			}
		}
		return true
	})

	type pair struct{ node, leader int32 }
	var mu sync.Mutex
	var traces []fetchTrace
	var by []pair
	for _, n := range nodes {
		tr := func(ft fetchTrace) {
			mu.Lock()
			traces = append(traces, ft)
			by = append(by, pair{n.ID(), ft.leader})
			mu.Unlock()
		}
		n.fetchers.trace.Store(&tr)
	}
	// since returns the traces from index i on, with who fetched.
	since := func(i int) ([]fetchTrace, []pair) {
		mu.Lock()
		defer mu.Unlock()
		return append([]fetchTrace(nil), traces[i:]...), append([]pair(nil), by[i:]...)
	}
	idleSeen := func(from int) bool {
		ts, ps := since(from)
		idle := map[pair]bool{}
		for i, ft := range ts {
			if !ft.full && ft.named == 0 && ft.forgotten == 0 && ft.answered == 0 {
				idle[ps[i]] = true
			}
		}
		return len(idle) == 6 // every node fetches from the two others
	}
	waitFor(t, "an idle incremental fetch on every fetcher", func() bool { return idleSeen(0) })

	for _, n := range nodes {
		c := n.fetchSessions()
		if got, want := c.len(), 2; got != want {
			t.Errorf("node %d holds %d sessions, want %d (one per follower)", n.ID(), got, want)
		}
		if got, want := c.parts.Load(), int64(2*parts/3); got != want {
			t.Errorf("node %d's sessions hold %d partitions, want %d", n.ID(), got, want)
		}
	}

	// A write to partition 7.
	_, st, _ := ctrl.Image().Partition(topic, 7)
	leader := nodes[st.Leader]
	mu.Lock()
	from := len(traces)
	mu.Unlock()
	res, err := leader.partition(topic, 7).appendRecords(batch.Build(batch.BuildOptions{Timestamp: time.Now().UnixMilli()}, batch.Record{Value: []byte("v")}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the high watermark to pass the write", func() bool { return leader.partition(topic, 7).hwm.Load() > res.lastOffset })
	for _, r := range st.Replicas {
		if r == st.Leader {
			continue
		}
		waitFor(t, fmt.Sprintf("node %d to name partition 7 alone", r), func() bool {
			ts, ps := since(from)
			answeredAlone, namedAlone := false, false
			for i, ft := range ts {
				if ps[i] != (pair{r, st.Leader}) {
					continue
				}
				if ft.full || ft.forgotten != 0 || ft.named > 1 || ft.answered > 1 {
					t.Fatalf("node %d's fetch after one write: %+v", r, ft)
				}
				answeredAlone = answeredAlone || ft.answered == 1
				namedAlone = namedAlone || (answeredAlone && ft.named == 1)
			}
			return namedAlone
		})
		if got := nodes[r].partition(topic, 7).log.EndOffset(); got != res.lastOffset+1 {
			t.Errorf("node %d's replica ends at %d, want %d", r, got, res.lastOffset+1)
		}
	}
	mu.Lock()
	from = len(traces)
	mu.Unlock()
	waitFor(t, "idle again", func() bool { return idleSeen(from) })
}
