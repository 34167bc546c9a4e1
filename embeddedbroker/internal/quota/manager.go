package quota

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is the quota a Manager enforces: Kafka's QuotaType PRODUCE, FETCH and
// REQUEST.
type Kind uint8

// The enforced quota kinds. controller_mutation_rate has no Kind: it is
// stored and described but not enforced.
const (
	Produce Kind = iota // producer_byte_rate: bytes of produce requests
	Fetch               // consumer_byte_rate: bytes of fetch responses
	Request             // request_percentage: request handling time, see Percent
)

// Key returns the quota configuration key the kind enforces.
func (k Kind) Key() string { return keyNames[k] }

// String returns Kafka's QuotaType name: Produce, Fetch or Request.
func (k Kind) String() string {
	switch k {
	case Produce:
		return "Produce"
	case Fetch:
		return "Fetch"
	case Request:
		return "Request"
	}
	return "Kind(?)"
}

// Percent converts request handling time into the unit Request quotas are
// recorded in: percent of one thread for one second, so that the measured
// rate is the percentage request_percentage bounds (Kafka's
// ClientRequestQuotaManager.nanosToPercentage).
func Percent(d time.Duration) float64 {
	return float64(d.Nanoseconds()) * (100.0 / float64(time.Second))
}

// Kafka's constants for sensors: a quota sensor is removed after an hour
// without records (ClientQuotaManager.InactiveSensorExpirationTimeSeconds),
// checked every 30 s (Metrics.ExpireSensorTask).
const (
	inactiveSensorMs = 3600 * 1000
	sweepEveryMs     = 30 * 1000
)

// Config configures a Manager. Zero fields take Kafka's defaults.
type Config struct {
	// Now is the clock; nil is time.Now. Managers only ever read it, never
	// sleep or start goroutines.
	Now func() time.Time
	// Samples is quota.window.num: the number of samples kept (default 11).
	Samples int
	// SampleSize is quota.window.size.seconds: the span of one sample
	// (default 1s), used at millisecond resolution.
	SampleSize time.Duration
}

// Manager measures one kind of quota for every client connection and
// computes the throttle time Kafka would return, as Kafka's
// ClientQuotaManager (Produce, Fetch) and ClientRequestQuotaManager
// (Request). It is safe for concurrent use.
type Manager struct {
	kind  Kind
	store *Store
	now   func() time.Time
	base  time.Time // times are milliseconds since base
	win   window
	// maxThrottleMs caps throttle times: one sample for Request, as
	// ClientRequestQuotaManager; uncapped (0) for the byte rates.
	maxThrottleMs int64

	mu        sync.RWMutex
	sensors   map[sensorKey]*sensor
	nextSweep atomic.Int64
}

// sensorKey is Kafka's quota metric tags (user, client-id): the group of
// connections that share one measured rate.
type sensorKey struct{ user, clientID string }

type sensor struct {
	mu         sync.Mutex
	rate       rate
	last       int64 // last record, for expiry
	muted      bool  // a throttle was returned; mutedUntil is set
	mutedUntil int64 // end of the latest throttle
	dead       bool  // expired and removed from the map
}

// NewManager returns a Manager enforcing kind with the quotas in store. It
// panics on a kind other than Produce, Fetch and Request.
func NewManager(kind Kind, store *Store, cfg Config) *Manager {
	if kind > Request {
		panic(fmt.Sprintf("quota: invalid kind %d", kind))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Samples <= 0 {
		cfg.Samples = 11
	}
	if cfg.SampleSize <= 0 {
		cfg.SampleSize = time.Second
	}
	m := &Manager{
		kind:    kind,
		store:   store,
		now:     cfg.Now,
		base:    cfg.Now(),
		win:     window{samples: cfg.Samples, sizeMs: max(1, cfg.SampleSize.Milliseconds())},
		sensors: make(map[sensorKey]*sensor),
	}
	if kind == Request {
		m.maxThrottleMs = m.win.sizeMs
	}
	m.nextSweep.Store(sweepEveryMs)
	return m
}

func (m *Manager) nowMs() int64 { return m.now().Sub(m.base).Milliseconds() }

// Enabled reports whether a quota of the Manager's kind has ever been
// configured in its Store (Kafka's quotasEnabled). Until then nothing is
// recorded and nothing is throttled.
func (m *Manager) Enabled() bool { return m.store.enabled[m.kind].Load() != 0 }

// Record records value for a connection of user (the principal name, e.g.
// "ANONYMOUS" for an unauthenticated connection) and clientID at the
// Manager's clock, and returns the throttle time Kafka would return: 0
// within quota, else the time that brings the measured rate back to the
// bound if nothing more were recorded, (rate-bound)/bound*window, with the
// window as Kafka's Rate measures it; capped at one sample for Request.
// value is bytes for Produce (request size) and Fetch (response size), and
// Percent(handling time) for Request.
//
// The caller must put the result in the response's throttle_time_ms, send
// the response at once, and not read the connection's next request before
// the throttle time has passed (see the package documentation). A positive
// result also extends ThrottledUntil.
func (m *Manager) Record(user, clientID string, value float64) time.Duration {
	return time.Duration(m.record(user, clientID, value, true)) * time.Millisecond
}

// RecordNoThrottle records value without checking the quota, as Kafka's
// recordNoThrottle (used for a request's network-thread time, which counts
// towards the next request's throttle). A negative value takes back a
// recorded one, as Kafka's unrecordQuotaSensor does for a fetch answered
// empty because it was throttled.
func (m *Manager) RecordNoThrottle(user, clientID string, value float64) {
	m.record(user, clientID, value, false)
}

func (m *Manager) record(user, clientID string, value float64, check bool) int64 {
	if !m.Enabled() {
		return 0
	}
	now := m.nowMs()
	m.maybeExpire(now)
	tu, tc, bound, limited := m.store.resolve(int(m.kind), user, clientID)
	key := sensorKey{tu, tc}
	for {
		s := m.sensor(key, now)
		s.mu.Lock()
		if s.dead { // expired between lookup and lock
			s.mu.Unlock()
			continue
		}
		s.rate.record(m.win, value, now)
		s.last = now
		var ms int64
		if check && limited {
			if r, w := s.rate.measure(m.win, now); !(r <= bound) {
				ms = throttleMs(r, bound, w)
				if m.maxThrottleMs > 0 {
					ms = min(ms, m.maxThrottleMs)
				}
				ms = min(max(ms, 0), math.MaxInt32)
				if ms > 0 && (!s.muted || now+ms > s.mutedUntil) {
					s.muted, s.mutedUntil = true, now+ms
				}
			}
		}
		s.mu.Unlock()
		return ms
	}
}

// sensor returns the sensor for key, creating it.
func (m *Manager) sensor(key sensorKey, now int64) *sensor {
	m.mu.RLock()
	s := m.sensors[key]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.sensors[key]; s == nil {
		s = &sensor{last: now}
		s.rate.samples = make([]sample, 0, m.win.samples+1)
		m.sensors[key] = s
	}
	return s
}

// maybeExpire removes sensors without a record for an hour, at most once
// every 30 s of the Manager's clock.
func (m *Manager) maybeExpire(now int64) {
	next := m.nextSweep.Load()
	if now < next || !m.nextSweep.CompareAndSwap(next, now+sweepEveryMs) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.sensors {
		s.mu.Lock()
		if now-s.last > inactiveSensorMs {
			s.dead = true
			delete(m.sensors, k)
		}
		s.mu.Unlock()
	}
}

// Quota returns the bound that applies to a connection of user and clientID
// (bytes/s, or percent for Request), per Kafka's precedence, and false when
// none does (Kafka reports Long.MAX_VALUE).
func (m *Manager) Quota(user, clientID string) (float64, bool) {
	_, _, bound, ok := m.store.resolve(int(m.kind), user, clientID)
	return bound, ok
}

// MaxValueInQuotaWindow returns the most that can be recorded at once
// without being throttled even on an idle sensor,
// bound*(Samples-1)*SampleSize, or math.MaxFloat64 when no quota applies
// (Kafka's getMaxValueInQuotaWindow, used to cap a consumer fetch's max
// bytes).
func (m *Manager) MaxValueInQuotaWindow(user, clientID string) float64 {
	if !m.Enabled() {
		return math.MaxFloat64
	}
	bound, ok := m.Quota(user, clientID)
	if !ok {
		return math.MaxFloat64
	}
	return bound * float64(m.win.samples-1) * (float64(m.win.sizeMs) / 1000)
}

// ThrottledUntil returns the end of the latest throttle Record has returned
// for the sensor that user and clientID are measured under, or the zero
// Time if there is none. The sensor is shared by every connection of the
// quota entity group (e.g. all client-ids of a user with a user quota);
// Kafka mutes only the connection that received the throttled response, so
// a caller that keeps a deadline per connection should use that instead.
func (m *Manager) ThrottledUntil(user, clientID string) time.Time {
	if !m.Enabled() {
		return time.Time{}
	}
	tu, tc, _, _ := m.store.resolve(int(m.kind), user, clientID)
	m.mu.RLock()
	s := m.sensors[sensorKey{tu, tc}]
	m.mu.RUnlock()
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	muted, until := s.muted, s.mutedUntil
	s.mu.Unlock()
	if !muted {
		return time.Time{}
	}
	return m.base.Add(time.Duration(until) * time.Millisecond)
}
