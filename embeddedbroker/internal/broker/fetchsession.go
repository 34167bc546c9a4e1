package broker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Fetch sessions (KIP-227), as Kafka's FetchSession.scala keeps them.
//
// A fetch with session epoch 0 is a full fetch: it names every partition,
// and when the node's session cache has room (max.incremental.fetch.session.
// cache.slots) its answer carries a new session id. The client's next
// fetches are incremental: they carry that id and the epoch (1, then 2, ...)
// and name only the partitions whose fetch position, leader epoch or limits
// changed, plus ForgottenTopics for those to drop; their answers carry only
// the partitions with something new: records, a moved high watermark, last
// stable offset or log start offset, an error, or a diverging epoch. A
// full fetch that names a session id closes that session; epoch -1 closes
// it and opens none (fetch versions below 7 are always sessionless).
// Session errors are Kafka's: FETCH_SESSION_ID_NOT_FOUND for an unknown (or
// evicted) id, INVALID_FETCH_SESSION_EPOCH for an epoch other than the one
// expected (a duplicate or lost request), FETCH_SESSION_TOPIC_ID_ERROR for
// a fetch version on the other side of topic ids (v13) from the one that
// created the session. Each answers with session id 0 and no partitions;
// clients then send a full fetch.
//
// What makes sessions cheap here, beyond what Kafka does: a cached session
// registers each of its partitions as a waiter once, when the partition
// joins it, and a partition's change (append, high watermark, leadership,
// truncation) marks that partition pending in the session. An incremental
// fetch reads only the partitions it names, the pending ones and the
// "sticky" ones (those with an error, with records left at the cached
// position, or, for a follower, not yet in the ISR), and its long poll
// waits on the session alone; so an idle fetch and each wake-up cost what
// changed, not the session's size. Kafka instead reads every partition of
// the session on every fetch. Two things still need the whole session,
// rarely: every sessionSweepEvery a fetch re-reads every partition, as a
// safety net for a change that woke no waiter. An idle follower needs no
// re-read to stay in the ISR: a partition its session's fetch leaves out
// is at the position the follower last fetched from, so when that is the
// log's end the follower is caught up as of that fetch (caughtUp).
//
// Where it deviates from Kafka, deliberately:
//   - The cache slot is taken when the full fetch arrives, not when it is
//     answered.
//   - An incremental fetch must come from the replica (or consumer: -1)
//     that opened the session; otherwise it is answered
//     FETCH_SESSION_ID_NOT_FOUND.
//   - Memory is bounded: besides the slots, the partitions cached over all
//     sessions are bounded by maxSessionPartitions. A full fetch that would
//     pass it gets no session (it is answered, with session id 0), and an
//     incremental fetch that would pass it closes its session with
//     FETCH_SESSION_ID_NOT_FOUND, so that the client falls back to full
//     fetches. Sessions unused for sessionEvictionAge are dropped whenever
//     a session is created, not only when the cache is full, and a
//     follower's new session replaces the one that follower had (a node
//     has one replica fetcher per leader), so that the sessions of
//     followers that restarted, or whose full fetch was cut short before
//     they learned its session id, do not linger.
//   - Eviction when the cache is full is Kafka's rule: a stale session
//     first; otherwise a follower's new session evicts the smallest
//     consumer session (or follower session older than sessionEvictionAge),
//     and a consumer's new session evicts the smallest consumer session
//     older than sessionEvictionAge, if it is smaller than the new one.
//
// Sessions belong to the node, not to a connection, as in Kafka: a client
// may carry on with its session over a new connection (Kafka's clients and
// franz-go start a full fetch after a connection error anyway).
const (
	// sessionEvictionAge is Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS:
	// a session unused this long is stale, and a session younger than this
	// is only evicted by a follower's.
	sessionEvictionAge = 120 * time.Second
	// maxSessionPartitions bounds the partitions cached over all sessions of
	// a node (a few hundred bytes each).
	maxSessionPartitions = 1 << 20
	// sessionSweepEvery is how often an incremental fetch re-reads every
	// partition of its session.
	sessionSweepEvery = 30 * time.Second
)

// Session epochs (Kafka's FetchMetadata).
const (
	initialEpoch = 0  // a full fetch that opens a session
	finalEpoch   = -1 // a full fetch that opens none (and closes the one named)
)

// nextEpoch is Kafka's FetchMetadata.nextEpoch.
func nextEpoch(e int32) int32 {
	switch {
	case e < 0:
		return finalEpoch
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

// sessionCache holds a node's fetch sessions.
type sessionCache struct {
	// slots returns max.incremental.fetch.session.cache.slots, read at
	// each session's creation so that a change applies to new sessions.
	slots func() int

	mu       sync.Mutex
	sessions map[int32]*fetchSession

	// parts counts the partitions cached over all sessions.
	parts atomic.Int64
}

func newSessionCache(slots func() int) *sessionCache {
	return &sessionCache{slots: slots, sessions: map[int32]*fetchSession{}}
}

// get returns the session with the given id, or nil.
func (c *sessionCache) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}

// len returns the number of sessions.
func (c *sessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// remove closes the session with the given id, if any.
func (c *sessionCache) remove(id int32) {
	c.mu.Lock()
	s := c.sessions[id]
	delete(c.sessions, id)
	c.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// removeSession closes s, if it is still cached.
func (c *sessionCache) removeSession(s *fetchSession) {
	c.mu.Lock()
	if c.sessions[s.id] == s {
		delete(c.sessions, s.id)
	}
	c.mu.Unlock()
	s.close()
}

// reserve counts k more cached partitions unless that passes
// maxSessionPartitions; it reports whether it did.
func (c *sessionCache) reserve(k int) bool {
	for {
		cur := c.parts.Load()
		if cur+int64(k) > maxSessionPartitions {
			return false
		}
		if c.parts.CompareAndSwap(cur, cur+int64(k)) {
			return true
		}
	}
}

// create makes room for and caches a new session of size partitions for
// replica (-1: a consumer), or returns nil when the cache has no room for
// it. A follower's new session replaces any it had. The caller adds the partitions and then counts them (count), which
// may still refuse them.
func (c *sessionCache) create(replica int32, usesIDs bool, size int, now time.Time) *fetchSession {
	slots := c.slots()
	if slots <= 0 {
		return nil
	}
	privileged := replica >= 0
	var evicted []*fetchSession
	c.mu.Lock()
	for id, s := range c.sessions {
		if now.Sub(s.lastUsedTime()) > sessionEvictionAge || (privileged && s.replica == replica) {
			delete(c.sessions, id)
			evicted = append(evicted, s)
		}
	}
	ok := true
	for len(c.sessions) >= slots && ok {
		var v *fetchSession
		if v, ok = c.evictable(privileged, size, now); ok {
			delete(c.sessions, v.id)
			evicted = append(evicted, v)
		}
	}
	var s *fetchSession
	if ok {
		id := rand.Int32N(math.MaxInt32) + 1
		for c.sessions[id] != nil {
			id = rand.Int32N(math.MaxInt32) + 1
		}
		s = newFetchSession(id, replica, usesIDs, now)
		s.epoch = nextEpoch(initialEpoch)
		s.cache = c
		c.sessions[id] = s
	}
	c.mu.Unlock()
	for _, e := range evicted {
		e.close()
	}
	return s
}

// evictable picks the session a new one (privileged: a follower's) of size
// partitions may evict, by Kafka's rule (FetchSessionCacheShard.tryEvict,
// stale sessions aside): the least valuable among those it may evict,
// ordered by (privileged, size, id), if the new one is worth more. c.mu
// must be held.
func (c *sessionCache) evictable(privileged bool, size int, now time.Time) (*fetchSession, bool) {
	var best *fetchSession
	for _, s := range c.sessions {
		old := now.Sub(s.created) > sessionEvictionAge
		if !old && (!privileged || s.privileged()) {
			continue
		}
		if best == nil || s.lessValuable(best) {
			best = s
		}
	}
	if best == nil {
		return nil, false
	}
	bp, bs := best.privileged(), int(best.size.Load())
	switch {
	case privileged != bp:
		return best, privileged
	case size > bs:
		return best, true
	}
	return nil, false // equal sizes: the new one's id (0) orders first
}

// fetchSession is one fetch session: the partitions a client fetches, with
// the position it last gave for each and what the last answer carrying
// each said.
type fetchSession struct {
	id      int32
	replica int32 // the follower that opened it, -1 for a consumer
	usesIDs bool  // opened with fetch v13+: partitions are known by topic id
	created time.Time
	// cache is the cache holding the session; nil for a session that
	// serves one sessionless fetch.
	cache *sessionCache

	lastUsed atomic.Int64 // unix nanoseconds
	// seen is when the follower that opened the session last fetched in
	// it, by the node's clock (Config.Now), in unix nanoseconds: an idle
	// partition it left out of that fetch was caught up then (caughtUp).
	seen atomic.Int64
	size atomic.Int32 // len(parts), for eviction without mu

	// mu guards what follows; a fetch holds it while it reads the
	// session's partitions, never while it waits.
	mu sync.Mutex
	// epoch is the epoch the next incremental fetch must carry; a fetch
	// in progress whose epoch (expect) is no longer the session's has
	// been superseded by a newer one.
	epoch   int32
	closed  bool
	counted int // parts counted in cache.parts
	parts   map[partKey]*sessionPart
	// sticky holds the partitions an incremental fetch reads whether or
	// not they changed: those with an error, with records left at the
	// cached position, or whose follower is out of the ISR.
	sticky    map[*sessionPart]struct{}
	lastSweep time.Time

	// pendMu guards the pending list and the parts' dirty flags; it is
	// taken inside partitions' locks (by wake), so nothing may be called
	// with it held.
	pendMu  sync.Mutex
	pending []*sessionPart
	wakeCh  chan struct{}
	// taken is the list takePending last returned, whose array the next
	// pending list reuses (under mu, by then read).
	taken []*sessionPart
}

func newFetchSession(id, replica int32, usesIDs bool, now time.Time) *fetchSession {
	s := &fetchSession{id: id, replica: replica, usesIDs: usesIDs, created: now, lastSweep: now,
		parts: map[partKey]*sessionPart{}, wakeCh: make(chan struct{}, 1)}
	s.lastUsed.Store(now.UnixNano())
	return s
}

func (s *fetchSession) privileged() bool { return s.replica >= 0 }

func (s *fetchSession) lastUsedTime() time.Time { return time.Unix(0, s.lastUsed.Load()) }

// lessValuable orders sessions for eviction as Kafka's EvictableKey does.
func (s *fetchSession) lessValuable(o *fetchSession) bool {
	if s.privileged() != o.privileged() {
		return !s.privileged()
	}
	if a, b := s.size.Load(), o.size.Load(); a != b {
		return a < b
	}
	return s.id < o.id
}

// partKey names a partition in a session: by topic id in a session using
// ids (topic empty), by topic name otherwise (id zero).
type partKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessionPart is one partition of a session (Kafka's CachedPartition).
type sessionPart struct {
	s   *fetchSession
	key partKey
	// topic is the partition's topic name once resolved; p is the replica
	// it resolved to, and watched says sp is registered as a waiter on p.
	topic   string
	p       *partition
	watched bool

	// The fetch parameters the client last sent for it.
	fetchOffset      int64
	maxBytes         int32
	leaderEpoch      int32
	lastFetchedEpoch int32

	// What the last answer carrying it said; hwm is -1 after an error,
	// so that the partition is answered again once the error is gone.
	hwm, lso, logStart int64

	dirty   bool // under s.pendMu: in s.pending
	removed bool // under s.mu: forgotten, or its session closed
	// gone is removed, readable without s.mu: the leader's ISR check
	// (caughtUp) reads it under the partition's lock.
	gone atomic.Bool
}

// wake marks the partition pending in its session and wakes the
// session's fetch, if one waits (waiter).
func (sp *sessionPart) wake() {
	s := sp.s
	s.pendMu.Lock()
	was := sp.dirty
	if !was {
		sp.dirty = true
		s.pending = append(s.pending, sp)
	}
	s.pendMu.Unlock()
	if !was {
		select {
		case s.wakeCh <- struct{}{}:
		default:
		}
	}
}

// clean clears the partition's pending mark, before it is read: a change
// after this marks it again.
func (sp *sessionPart) clean() {
	sp.s.pendMu.Lock()
	sp.dirty = false
	sp.s.pendMu.Unlock()
}

// takePending returns the partitions marked pending, and clears their
// marks. s.mu must be held, and the list is good only while it is: the
// next call reuses its array.
func (s *fetchSession) takePending() []*sessionPart {
	s.pendMu.Lock()
	list := s.pending
	clear(s.taken) // no stale pointers kept alive
	s.pending, s.taken = s.taken[:0], list
	out := list[:0]
	for _, sp := range list {
		if sp.dirty {
			sp.dirty = false
			out = append(out, sp)
		}
	}
	s.pendMu.Unlock()
	return out
}

// newPart returns a part of s for key with the given fetch parameters; it
// is not added to the session (add does that).
func (s *fetchSession) newPart(key partKey, fetchOffset int64, maxBytes, leaderEpoch, lastFetchedEpoch int32) *sessionPart {
	return &sessionPart{s: s, key: key, fetchOffset: fetchOffset, maxBytes: maxBytes, leaderEpoch: leaderEpoch,
		lastFetchedEpoch: lastFetchedEpoch, hwm: -1, lso: -1, logStart: -1}
}

// add adds a partition to the session, or updates its fetch parameters;
// it returns the part and whether it is new. s.mu must be held.
func (s *fetchSession) add(key partKey, fetchOffset int64, maxBytes, leaderEpoch, lastFetchedEpoch int32) (*sessionPart, bool) {
	sp, ok := s.parts[key]
	if !ok {
		sp = s.newPart(key, fetchOffset, maxBytes, leaderEpoch, lastFetchedEpoch)
		s.parts[key] = sp
		s.size.Store(int32(len(s.parts)))
		return sp, true
	}
	sp.fetchOffset, sp.maxBytes, sp.leaderEpoch, sp.lastFetchedEpoch = fetchOffset, maxBytes, leaderEpoch, lastFetchedEpoch
	return sp, false
}

// count counts k more of the session's partitions in its cache, unless
// that passes maxSessionPartitions; it reports whether it did. s.mu must
// be held.
func (s *fetchSession) count(k int) bool {
	if s.cache == nil || k == 0 {
		return true
	}
	if !s.cache.reserve(k) {
		return false
	}
	s.counted += k
	return true
}

// forget removes a partition from the session, reporting whether it was
// there. s.mu must be held.
func (s *fetchSession) forget(key partKey) bool {
	sp, ok := s.parts[key]
	if !ok {
		return false
	}
	delete(s.parts, key)
	if s.cache != nil && s.counted > 0 {
		s.counted--
		s.cache.parts.Add(-1)
	}
	delete(s.sticky, sp)
	s.size.Store(int32(len(s.parts)))
	sp.removed = true
	sp.gone.Store(true)
	sp.unwatch()
	return true
}

// live reports whether the session is cached and open: its partitions are
// watched for its whole life. s.mu must be held.
func (s *fetchSession) live() bool { return s.cache != nil && !s.closed }

// watch registers sp as a waiter on its partition, if it has one. The
// session's mu must be held.
func (sp *sessionPart) watch() {
	if !sp.watched && sp.p != nil {
		sp.p.watch(sp)
		sp.watched = true
	}
}

// unwatch removes sp's waiter registration. The session's mu must be held.
func (sp *sessionPart) unwatch() {
	if sp.watched {
		sp.p.unwatch(sp)
		sp.watched = false
	}
}

// close ends the session: its partitions stop being watched and are no
// longer counted in its cache, and a fetch waiting on it wakes to find it
// closed (a full fetch then carries on without a session, which is why the
// parts stay). It does not remove it from the cache (removeSession does).
func (s *fetchSession) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, sp := range s.parts {
		sp.unwatch()
		sp.removed = true
		sp.gone.Store(true)
	}
	if s.cache != nil {
		s.cache.parts.Add(-int64(s.counted))
		s.counted = 0
	}
	s.sticky = nil
	s.size.Store(0)
	s.mu.Unlock()
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}
