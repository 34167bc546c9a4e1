package quota

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// Port of Kafka's ClientQuotaManagerTest.testQuotaViolation: 500 B/s on the
// default client-id, 11 samples of 1 s.
func TestQuotaViolation(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(t, s, Produce, defaultClient, 500)

	// Under quota for 10 windows: no throttling.
	for i := range 10 {
		if got := m.Record("ANONYMOUS", "unknown", 400); got != 0 {
			t.Fatalf("record %d throttled %v", i, got)
		}
		clk.SleepMs(1000)
	}
	if !m.ThrottledUntil("ANONYMOUS", "unknown").IsZero() {
		t.Fatal("ThrottledUntil set without a throttle")
	}
	// A spike: 400*10 + 2000 + 300 = 6300 over 10.5 s = 600 B/s;
	// (600-500)/500 * 10.5 s = 2100 ms.
	clk.SleepMs(500)
	throttle := m.Record("ANONYMOUS", "unknown", 2300)
	if throttle != 2100*time.Millisecond {
		t.Fatalf("throttle = %v, want 2.1s", throttle)
	}
	if got, want := m.ThrottledUntil("ANONYMOUS", "unknown"), clk.Now().Add(throttle); !got.Equal(want) {
		t.Fatalf("ThrottledUntil = %v, want %v", got, want)
	}
	// Another client-id has its own sensor under the default client-id quota.
	if !m.ThrottledUntil("ANONYMOUS", "other").IsZero() {
		t.Fatal("other client-id muted")
	}
	clk.Sleep(throttle)
	// Delays may continue until the bursty sample rolls over.
	for range 10 {
		m.Record("ANONYMOUS", "unknown", 400)
		clk.SleepMs(1000)
	}
	if got := m.Record("ANONYMOUS", "unknown", 0); got != 0 {
		t.Fatalf("after the spike rolled over: throttle %v, want 0", got)
	}
}

// Port of Kafka's ClientRequestQuotaManagerTest.testRequestPercentageQuotaViolation:
// 1% (10 ms of thread time per second) on <ANONYMOUS, test-client>; the
// throttle is capped at one sample (1 s).
func TestRequestPercentageQuotaViolation(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Request, s, clk.config())
	mustAlter(t, s, userClient("ANONYMOUS", "test-client"), setOp(RequestPercentage, 1))
	rec := func(d time.Duration) time.Duration { return m.Record("ANONYMOUS", "test-client", Percent(d)) }
	msf := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

	for range 10 {
		if got := rec(4 * time.Millisecond); got != 0 {
			t.Fatalf("throttled %v under quota", got)
		}
		clk.SleepMs(1000)
	}
	// 4*10 + 67.1 = 107.1 ms over 10.5 s = 10.2 ms/s; (10.2-10)/10 * 10.5 s = 210 ms.
	clk.SleepMs(500)
	throttle := rec(msf(67.1))
	if throttle != 210*time.Millisecond {
		t.Fatalf("throttle = %v, want 210ms", throttle)
	}
	clk.Sleep(throttle)
	for range 11 {
		rec(4 * time.Millisecond)
		clk.SleepMs(1000)
	}
	if got := rec(0); got != 0 {
		t.Fatalf("after the spike rolled over: %v, want 0", got)
	}
	// A spike needing more than one window is capped at one window.
	if got := rec(500 * time.Millisecond); got != time.Second {
		t.Fatalf("large spike: %v, want 1s (capped)", got)
	}
	for i := range 10 {
		clk.SleepMs(1000)
		if got := rec(0); got != time.Second {
			t.Fatalf("%d s after the large spike: %v, want 1s", i+1, got)
		}
	}
	clk.SleepMs(1000)
	if got := rec(0); got != 0 {
		t.Fatalf("after the large spike rolled over: %v, want 0", got)
	}
}

// noQuota is what Kafka's quota() reports when no quota applies.
const noQuota = math.MaxInt64

// checkQuota is Kafka's ClientQuotaManagerTest.checkQuota: the bound, the max
// value in the quota window, then recording value*samples and whether that
// throttles.
func checkQuota(t *testing.T, m *Manager, user, clientID string, wantBound float64, value float64, wantThrottle bool) {
	t.Helper()
	bound, ok := m.Quota(user, clientID)
	if !ok {
		bound = noQuota
	}
	if bound != wantBound {
		t.Fatalf("Quota(%s, %s) = %v, want %v", user, clientID, bound, wantBound)
	}
	wantMax := math.MaxFloat64
	if wantBound != noQuota {
		wantMax = 1 * 10 * wantBound
	}
	if got := m.MaxValueInQuotaWindow(user, clientID); math.Abs(got-wantMax) > 0.01 {
		t.Fatalf("MaxValueInQuotaWindow(%s, %s) = %v, want %v", user, clientID, got, wantMax)
	}
	throttle := m.Record(user, clientID, value*11)
	if wantThrottle != (throttle > 0) {
		t.Fatalf("Record(%s, %s, %v): throttle %v, want throttled %v", user, clientID, value*11, throttle, wantThrottle)
	}
}

// Port of Kafka's ClientQuotaManagerTest.testQuotaConfigPrecedence (the
// clock never moves).
func TestQuotaConfigPrecedence(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	set := func(e Entity, v float64) { t.Helper(); setQuota(t, s, Produce, e, v) }

	set(defaultUser, 1000)
	set(defaultClient, 2000)
	set(defaultUserClient, 3000)
	set(user("userA"), 4000)
	set(userClient("userA", "client1"), 5000)
	set(user("userB"), 6000)
	set(userClient("userB", "client1"), 7000)
	set(Entity{Named("userB"), Default()}, 8000)
	set(user("userC"), 10000)
	set(client("client1"), 9000)

	checkQuota(t, m, "userA", "client1", 5000, 4500, false) // <user, client> over <user>
	checkQuota(t, m, "userA", "client2", 4000, 4500, true)  // <user> over <client> and defaults
	checkQuota(t, m, "userA", "client3", 4000, 0, true)     // <user> shared across the user's clients
	checkQuota(t, m, "userA", "client1", 5000, 0, false)    // <user, client> exclusive

	checkQuota(t, m, "userB", "client1", 7000, 8000, true)
	checkQuota(t, m, "userB", "client2", 8000, 7000, false) // <user, default client> per client
	checkQuota(t, m, "userB", "client3", 8000, 7000, false)

	checkQuota(t, m, "userD", "client1", 3000, 3500, true) // <default user, default client>
	checkQuota(t, m, "userD", "client2", 3000, 2500, false)
	checkQuota(t, m, "userE", "client1", 3000, 2500, false)

	// Remove <default, default>: back to the <default> user quota.
	set(defaultUserClient, 0)
	checkQuota(t, m, "userD", "client1", 1000, 0, false) // tags changed: a new sensor
	checkQuota(t, m, "userE", "client4", 1000, 1500, true)
	checkQuota(t, m, "userF", "client4", 1000, 800, false) // <default> user shared across the user's clients
	checkQuota(t, m, "userF", "client5", 1000, 800, true)

	// Remove the <default> user: back to the <default> client-id quota.
	set(defaultUser, 0)
	checkQuota(t, m, "userF", "client4", 2000, 0, false) // shared across users per client-id
	checkQuota(t, m, "userF", "client5", 2000, 0, false)
	checkQuota(t, m, "userF", "client5", 2000, 2500, true)
	checkQuota(t, m, "userG", "client5", 2000, 0, true)

	// Updates apply to existing sensors.
	set(user("userA"), 8000)
	set(userClient("userA", "client1"), 10000)
	checkQuota(t, m, "userA", "client2", 8000, 0, false)
	checkQuota(t, m, "userA", "client2", 8000, 4500, true) // sum of new and earlier values
	checkQuota(t, m, "userA", "client1", 10000, 0, false)
	checkQuota(t, m, "userA", "client1", 10000, 6000, true)
	set(userClient("userA", "client1"), 0)
	checkQuota(t, m, "userA", "client6", 8000, 0, true) // shared user quota
	set(userClient("userA", "client6"), 11000)
	checkQuota(t, m, "userA", "client6", 11000, 8500, false)
	set(Entity{Named("userA"), Default()}, 12000)
	set(userClient("userA", "client6"), 0)
	checkQuota(t, m, "userA", "client6", 12000, 4000, true) // sum of new and earlier values
}

// Port of Kafka's ClientQuotaManagerTest.testQuotaParsing with its
// client-id, user and <user, client-id> variants.
func TestQuotaParsing(t *testing.T) {
	type uc struct {
		user, clientID string
		entity         Entity
	}
	for _, tc := range []struct {
		name             string
		client1, client2 uc
		random           uc
		defaultEntity    Entity
	}{
		{"client-id",
			uc{"ANONYMOUS", "p1", client("p1")}, uc{"ANONYMOUS", "p2", client("p2")},
			uc{"ANONYMOUS", "random-client-id", Entity{}}, defaultClient},
		{"user",
			uc{"User1", "p1", user("User1")}, uc{"User2", "p2", user("User2")},
			uc{"RandomUser", "random-client-id", Entity{}}, defaultUser},
		{"user and client-id",
			uc{"User1", "p1", userClient("User1", "p1")}, uc{"User2", "p2", userClient("User2", "p2")},
			uc{"RandomUser", "random-client-id", Entity{}}, defaultUserClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			s := NewStore()
			m := NewManager(Produce, s, clk.config())
			c1 := tc.client1
			setQuota(t, s, Produce, c1.entity, 2000)
			setQuota(t, s, Produce, tc.client2.entity, 4000)
			if _, ok := m.Quota(tc.random.user, tc.random.clientID); ok {
				t.Fatal("random client has a quota")
			}
			if got, _ := m.Quota(c1.user, c1.clientID); got != 2000 {
				t.Fatalf("client1 quota %v", got)
			}
			if got, _ := m.Quota(tc.client2.user, tc.client2.clientID); got != 4000 {
				t.Fatalf("client2 quota %v", got)
			}
			if got := m.Record(c1.user, c1.clientID, 2500*11); got <= 0 {
				t.Fatal("client1 not throttled over its quota")
			}
			// Changed quota applies to the existing sensor.
			setQuota(t, s, Produce, c1.entity, 3000)
			if got := m.Record(c1.user, c1.clientID, 0); got != 0 {
				t.Fatalf("throttled %v under the raised quota", got)
			}
			setQuota(t, s, Produce, c1.entity, 500)
			if got := m.Record(c1.user, c1.clientID, 0); got <= 0 {
				t.Fatal("not throttled under the lowered quota")
			}
			// Remove the override, set a high default.
			setQuota(t, s, Produce, c1.entity, 0)
			setQuota(t, s, Produce, tc.defaultEntity, 4000)
			if got, _ := m.Quota(c1.user, c1.clientID); got != 4000 {
				t.Fatalf("client1 quota %v after removal, want the default 4000", got)
			}
			if got := m.Record(c1.user, c1.clientID, 1000*11); got != 0 {
				t.Fatalf("throttled %v under the default", got)
			}
		})
	}
}

// All 8 precedence levels, most specific first; each level's removal
// exposes the next. The sensor is named after the level found.
func TestPrecedenceEightLevels(t *testing.T) {
	levels := []struct {
		e       Entity
		tagUser string
		tagClnt string
	}{
		{userClient("alice", "c1"), "alice", "c1"},         // /config/users/alice/clients/c1
		{Entity{Named("alice"), Default()}, "alice", "c1"}, // /config/users/alice/clients/<default>
		{user("alice"), "alice", ""},                       // /config/users/alice
		{Entity{Default(), Named("c1")}, "alice", "c1"},    // /config/users/<default>/clients/c1
		{defaultUserClient, "alice", "c1"},                 // /config/users/<default>/clients/<default>
		{defaultUser, "alice", ""},                         // /config/users/<default>
		{client("c1"), "", "c1"},                           // /config/clients/c1
		{defaultClient, "", "c1"},                          // /config/clients/<default>
	}
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Fetch, s, clk.config())
	for i, l := range levels {
		if got := l.e.level(); got != i+1 {
			t.Fatalf("%s: level %d, want %d", l.e, got, i+1)
		}
		setQuota(t, s, Fetch, l.e, float64((i+1)*1000))
	}
	// With every level set, other connections pick their own levels.
	for _, tc := range []struct {
		user, clientID string
		want           float64
	}{
		{"alice", "c2", 2000}, // alice/<default>
		{"bob", "c1", 4000},   // <default>/c1
		{"bob", "c2", 5000},   // <default>/<default>
	} {
		if got, _ := m.Quota(tc.user, tc.clientID); got != tc.want {
			t.Errorf("Quota(%s, %s) = %v, want %v", tc.user, tc.clientID, got, tc.want)
		}
	}
	for i, l := range levels {
		got, ok := m.Quota("alice", "c1")
		if !ok || got != float64((i+1)*1000) {
			t.Fatalf("with levels %d.. set: Quota = %v %v, want %d (%s)", i+1, got, ok, (i+1)*1000, l.e)
		}
		tu, tc, _, _ := s.resolve(int(Fetch), "alice", "c1")
		if tu != l.tagUser || tc != l.tagClnt {
			t.Fatalf("%s: sensor (%q, %q), want (%q, %q)", l.e, tu, tc, l.tagUser, l.tagClnt)
		}
		setQuota(t, s, Fetch, l.e, 0)
	}
	if got, ok := m.Quota("alice", "c1"); ok {
		t.Fatalf("all removed: Quota = %v", got)
	}
	// Other kinds are independent.
	setQuota(t, s, Produce, user("alice"), 7)
	if _, ok := m.Quota("alice", "c1"); ok {
		t.Fatal("a producer quota applies to fetches")
	}
}

// Kafka's quirk kept: with only a <default>/<default> quota, a connection
// with an empty client-id is tracked under (user, "") and quotaLimit then
// only looks at user-level quotas, so no quota applies; likewise a
// <default> client-id quota does not apply to an empty client-id.
func TestEmptyClientIDQuirk(t *testing.T) {
	s0 := NewStore()
	m0 := NewManager(Produce, s0, newFakeClock().config())
	setQuota(t, s0, Produce, defaultClient, 100)
	if got, ok := m0.Quota("alice", ""); ok {
		t.Fatalf("Quota(alice, \"\") = %v under a <default> client-id quota, want none as in Kafka", got)
	}
	s := NewStore()
	m := NewManager(Produce, s, newFakeClock().config())
	setQuota(t, s, Produce, defaultUserClient, 100)
	if got, ok := m.Quota("alice", ""); ok {
		t.Fatalf("Quota(alice, \"\") = %v, want none as in Kafka", got)
	}
	setQuota(t, s, Produce, defaultUser, 200)
	if got, _ := m.Quota("alice", ""); got != 200 {
		t.Fatalf("Quota(alice, \"\") = %v, want the <default> user quota 200", got)
	}
}

// Sensors follow the entity the quota is defined for: each user under a
// <default> user quota has its own budget; client-ids of a user with a user
// quota share it; the <default> client-id quota is per client-id across
// users.
func TestSensorsPerEntity(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(t, s, Produce, defaultUser, 1000)
	// 10000 B at once is 1000 B/s over the minimum 10 s window: at the bound.
	for _, u := range []string{"alice", "bob"} {
		if got := m.Record(u, "c1", 10000); got != 0 {
			t.Fatalf("%s throttled %v: users share a budget", u, got)
		}
	}
	if got := m.Record("alice", "c2", 1000); got != time.Second {
		t.Fatalf("alice/c2: %v, want 1s: client-ids of a user share its budget", got)
	}
	if !m.ThrottledUntil("alice", "c1").Equal(clk.Now().Add(time.Second)) {
		t.Fatal("alice/c1 not muted with alice/c2: they share a sensor")
	}
	if !m.ThrottledUntil("bob", "c1").IsZero() {
		t.Fatal("bob muted")
	}

	s2 := NewStore()
	m2 := NewManager(Produce, s2, clk.config())
	setQuota(t, s2, Produce, defaultClient, 1000)
	m2.Record("alice", "c1", 10000)
	if got := m2.Record("bob", "c1", 1000); got != time.Second {
		t.Fatalf("bob/c1: %v, want 1s: users of a client-id share the <default> client-id budget", got)
	}
	if got := m2.Record("alice", "c2", 10000); got != 0 {
		t.Fatalf("alice/c2: %v, want 0: each client-id has its own budget", got)
	}
	if n := len(m2.sensors); n != 2 {
		t.Fatalf("%d sensors, want 2 (one per client-id)", n)
	}
}

// A producer limited to 1 MiB/s sending as fast as the throttle allows (the
// clock advances by each throttle time). Kafka's Rate lets a fresh sensor
// burst (Samples-1)*SampleSize worth of quota at once, so the first 10 MiB
// go in no time; after that the throughput is the quota. Single 10 MiB
// stretches vary (8 to 15 s with 1 MiB chunks: the throttle assumes the
// window grows by the delay, but early on it is padded to 10 s and later
// old samples drop out), so the bound is checked over 100 MiB: 10 MiB take
// 9 to 11 s on average.
func TestSimulatedProducer(t *testing.T) {
	const mib = 1 << 20
	for _, chunk := range []int{mib, mib / 4, mib / 16} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			clk := newFakeClock()
			s := NewStore()
			m := NewManager(Produce, s, clk.config())
			setQuota(t, s, Produce, user("alice"), mib)
			send := func(bytes int) time.Duration {
				start := clk.Now()
				for range bytes / chunk {
					clk.Sleep(m.Record("alice", "producer-1", float64(chunk)))
				}
				return clk.Now().Sub(start)
			}
			if d := send(10 * mib); d != 0 {
				t.Fatalf("first 10 MiB took %v, want 0 (burst of the full window)", d)
			}
			if got := m.MaxValueInQuotaWindow("alice", "producer-1"); got != 10*mib {
				t.Fatalf("MaxValueInQuotaWindow = %v, want 10 MiB", got)
			}
			if d := send(100 * mib); d < 90*time.Second || d > 110*time.Second {
				t.Fatalf("100 MiB after the burst took %v, want 90..110s (10 MiB in 9..11s)", d)
			}
		})
	}
}

// Nothing is recorded until a quota of the kind has been configured, and
// from then on even with no quota left (Kafka's sticky quotasEnabled).
func TestEnabled(t *testing.T) {
	s := NewStore()
	m := NewManager(Produce, s, newFakeClock().config())
	if m.Enabled() {
		t.Fatal("enabled with no quota")
	}
	if got := m.Record("u", "c", 1e12); got != 0 || len(m.sensors) != 0 {
		t.Fatalf("disabled manager recorded: %v, %d sensors", got, len(m.sensors))
	}
	if got := m.MaxValueInQuotaWindow("u", "c"); got != math.MaxFloat64 {
		t.Fatalf("MaxValueInQuotaWindow = %v", got)
	}
	setQuota(t, s, Fetch, user("u"), 10) // another kind
	if m.Enabled() {
		t.Fatal("enabled by a fetch quota")
	}
	setQuota(t, s, Produce, user("u"), 10)
	setQuota(t, s, Produce, user("u"), 0)
	if !m.Enabled() {
		t.Fatal("disabled after the quota was removed")
	}
	m.Record("u", "c", 1000)
	if len(m.sensors) != 1 {
		t.Fatalf("%d sensors, want 1 (recorded without a quota once enabled)", len(m.sensors))
	}
	// Recorded usage counts once a quota is set again.
	setQuota(t, s, Produce, user("u"), 10)
	if got := m.Record("u", "c", 0); got <= 0 {
		t.Fatal("earlier usage forgotten")
	}
}

// Port of Kafka's testGetMaxValueInQuotaWindowWithNonDefaultQuotaWindow.
func TestMaxValueInQuotaWindow(t *testing.T) {
	s := NewStore()
	m := NewManager(Fetch, s, Config{Now: newFakeClock().Now, Samples: 4})
	if got := m.MaxValueInQuotaWindow("userA", "client1"); got != math.MaxFloat64 {
		t.Fatalf("no quota: %v", got)
	}
	setQuota(t, s, Fetch, defaultUser, 10)
	if got := m.MaxValueInQuotaWindow("userA", "client1"); got != 30 {
		t.Fatalf("got %v, want 10*3", got)
	}
	m2 := NewManager(Fetch, s, Config{Now: newFakeClock().Now, SampleSize: 2 * time.Second})
	if got := m2.MaxValueInQuotaWindow("userA", "client1"); got != 200 {
		t.Fatalf("got %v, want 10*10*2", got)
	}
}

// A fetch answered empty because it was throttled takes its bytes back.
func TestUnrecord(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Fetch, s, clk.config())
	setQuota(t, s, Fetch, client("c"), 1000)
	if got := m.Record("u", "c", 11000); got != time.Second {
		t.Fatalf("throttle %v, want 1s", got)
	}
	m.RecordNoThrottle("u", "c", -11000)
	if got := m.Record("u", "c", 10000); got != 0 {
		t.Fatalf("throttle %v after unrecord, want 0", got)
	}
	// RecordNoThrottle never throttles but counts.
	m.RecordNoThrottle("u", "c", 5000)
	if got := m.Record("u", "c", 0); got != 5*time.Second {
		t.Fatalf("throttle %v, want 5s", got)
	}
}

// Sensors without a record for an hour are dropped.
func TestSensorExpiry(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(t, s, Produce, defaultClient, 1000)
	m.Record("u", "old", 1)
	clk.Sleep(30 * time.Minute)
	m.Record("u", "new", 1)
	clk.Sleep(30*time.Minute + time.Second)
	m.Record("u", "new", 1)
	if _, ok := m.sensors[sensorKey{"", "old"}]; ok {
		t.Fatal("inactive sensor kept")
	}
	if _, ok := m.sensors[sensorKey{"", "new"}]; !ok {
		t.Fatal("active sensor dropped")
	}
	// A sensor found again starts afresh.
	if got := m.Record("u", "old", 10000); got != 0 {
		t.Fatalf("recreated sensor throttled %v", got)
	}
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		k         Kind
		key, name string
	}{{Produce, ProducerByteRate, "Produce"}, {Fetch, ConsumerByteRate, "Fetch"}, {Request, RequestPercentage, "Request"}} {
		if tc.k.Key() != tc.key || tc.k.String() != tc.name {
			t.Errorf("%d: %s %s", tc.k, tc.k.Key(), tc.k)
		}
	}
	if got := Percent(10 * time.Millisecond); math.Abs(got-1) > 1e-12 {
		t.Errorf("Percent(10ms) = %v, want 1", got)
	}
}

// Concurrent records, quota changes and sweeps (for the race detector); no
// record is lost.
func TestConcurrent(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(t, s, Produce, defaultUser, 1e12)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				m.Record(fmt.Sprintf("u%d", g%2), "c", 1)
				if i%100 == 0 {
					m.ThrottledUntil("u0", "c")
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 100 {
			setQuota(t, s, Produce, user("u0"), float64(1e12+i))
			s.Snapshot()
		}
	})
	wg.Wait()
	for _, u := range []string{"u0", "u1"} {
		sen := m.sensors[sensorKey{u, ""}]
		total := 0.0
		for _, x := range sen.rate.samples {
			total += x.value
		}
		if total != 1000 {
			t.Errorf("%s: recorded %v, want 1000", u, total)
		}
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(t, s, Produce, defaultUser, 1e6)
	setQuota(t, s, Produce, client("other"), 1e6)
	m.Record("alice", "c1", 1)
	if n := testing.AllocsPerRun(1000, func() {
		clk.SleepMs(1)
		m.Record("alice", "c1", 100)
	}); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(b, s, Produce, defaultUser, 1e6)
	setQuota(b, s, Produce, client("other"), 1e6)
	b.ReportAllocs()
	for b.Loop() {
		clk.SleepMs(1)
		m.Record("alice", "c1", 100)
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	clk := newFakeClock()
	s := NewStore()
	m := NewManager(Produce, s, clk.config())
	setQuota(b, s, Produce, defaultUser, 1e6)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Record("alice", "c1", 100)
		}
	})
}
