package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Follower fetch settings.
const (
	replicaFetchWait      = 500 * time.Millisecond
	replicaFetchMaxBytes  = 16 << 20
	replicaPartitionBytes = 1 << 20
	replicaBackoff        = 50 * time.Millisecond
)

// fetchers runs this node's replica fetchers: one per leader node it
// follows partitions from, each fetching over the Kafka protocol with the
// node's replica id, as Kafka's ReplicaFetcherThread does.
type fetchers struct {
	n *Node
	// sessions is the node's fetch session cache: the leader side of
	// fetch sessions, kept here, beside the follower side, because both
	// live as long as the node.
	sessions *sessionCache

	mu       sync.Mutex
	byLeader map[int32]*fetcher
	follows  map[*partition]int32

	// trace, when set (by tests), is told of each answered fetch.
	trace atomic.Pointer[func(fetchTrace)]
}

// fetchTrace describes one answered replica fetch: how many partitions it
// named and forgot, and how many its answer carried.
type fetchTrace struct {
	leader                     int32
	full                       bool
	named, forgotten, answered int
}

func newFetchers(n *Node) *fetchers {
	return &fetchers{
		n:        n,
		sessions: newSessionCache(func() int { return int(n.cfg.Broker.Int("max.incremental.fetch.session.cache.slots")) }),
		byLeader: map[int32]*fetcher{},
		follows:  map[*partition]int32{},
	}
}

// follow makes p fetch from leader, or from nobody when this node leads it
// or it has no leader. It never blocks.
func (fs *fetchers) follow(p *partition, leader int32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if leader == fs.n.cfg.ID {
		leader = -1
	}
	if cur, ok := fs.follows[p]; ok {
		if cur == leader {
			// New metadata (an epoch, an ISR): whatever error held the
			// partition back may be gone.
			fs.byLeader[cur].undelay(p)
			return
		}
		fs.byLeader[cur].remove(p)
		delete(fs.follows, p)
	}
	if leader < 0 {
		return
	}
	f := fs.byLeader[leader]
	if f == nil {
		f = newFetcher(fs, leader)
		fs.byLeader[leader] = f
		go f.run()
	}
	f.add(p)
	fs.follows[p] = leader
}

// stop ends every fetcher and waits for them.
func (fs *fetchers) stop() {
	fs.mu.Lock()
	all := fs.byLeader
	fs.byLeader = map[int32]*fetcher{}
	fs.follows = map[*partition]int32{}
	fs.mu.Unlock()
	for _, f := range all {
		close(f.stop)
		f.interrupt()
	}
	for _, f := range all {
		<-f.done
	}
}

// fetcher fetches the partitions a node follows from one leader, in a
// fetch session (KIP-227) as Kafka's replica fetcher does: the first fetch
// names every partition; the following ones name only the partitions
// whose fetch position, leader epoch or last fetched epoch changed, and
// forget those the node stopped following (or holds back after an error),
// so an idle fetch names none. What changed is tracked, not searched for:
// each followed partition is a waiter that marks itself changed when its
// replica changes (new leadership, truncation), and the fetcher marks what
// its answers touched; every fetcherResync the whole set is compared
// anyway, as a safety net. A session error (the leader restarted, evicted
// the session, or lost a request) and any failed request fall back to a
// full fetch; a leader without room for a session answers every full fetch
// without one, and the fetcher keeps sending full fetches.
type fetcher struct {
	n      *Node
	fs     *fetchers
	leader int32

	mu    sync.Mutex
	parts map[*partition]*followed
	// delayed holds partitions whose last answer was an error (not
	// leader, fenced or unknown epoch: metadata not yet agreed) until the
	// time given, as Kafka's replica fetcher delays failed partitions by
	// replica.fetch.backoff.ms. Without it, a partition erroring next to
	// healthy ones would make every fetch return at once, in a busy loop,
	// until the metadata converged. A delayed partition leaves the
	// session until it is fetched again.
	delayed map[*partition]time.Time
	// changed holds the partitions whose fetch parameters may differ
	// from what the session holds: added, removed, delayed or undelayed,
	// touched by the last answer, or changed on this node.
	changed map[*partition]struct{}

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	link replicaLink
	// inflight is the link of the fetch in progress, which a change of
	// the partition set interrupts so that a partition this node just
	// began following (after a failover) is not left waiting out another
	// partition's long poll.
	inflightMu  sync.Mutex
	inflight    replicaLink
	interrupted atomic.Bool
	// added is set when a partition joins the set, and cleared by the
	// build of a fetch. A fetch checks it after publishing inflight, and
	// add sets it before looking at inflight (inflight under inflightMu,
	// added sequentially consistent): either the fetch sees the new
	// partition and is not sent, or add sees the fetch and interrupts it.
	// Without it, a partition added between the build and the fetch's
	// start waited out the whole long poll (500 ms), holding the
	// partition's high watermark, and every acks=all and group write to
	// it, that long.
	added atomic.Bool
	// lastAdd is when a partition last joined the set (unix nanoseconds).
	lastAdd atomic.Int64

	// The session, owned by run: its id and the epoch of the next fetch
	// (0: a full fetch, which closes session id if it is not 0), what the
	// leader's session holds, and when the whole set was last compared.
	sessionID    int32
	sessionEpoch int32
	sent         map[partKey]sentPart
	lastResync   time.Time

	// Scratch space of fetchOnce, reused from fetch to fetch: the
	// candidates, the partitions an incremental fetch names, and the
	// request's topics by name.
	cand       []candidate
	named      map[partKey]sentPart
	topicIndex map[string]int
}

// fetcherResync is how often a fetcher compares every partition it
// follows with what its session holds, whatever was marked changed.
const fetcherResync = 30 * time.Second

// sentPart is what a fetcher's session holds for a partition: the fetch
// parameters last sent for it.
type sentPart struct {
	p                *partition
	fetchOffset      int64
	logStart         int64
	leaderEpoch      int32
	lastFetchedEpoch int32
}

// followed is a partition a fetcher follows; as a waiter on it, it marks
// the partition changed.
type followed struct {
	f *fetcher
	p *partition
}

func (w *followed) wake() { w.f.markChanged(w.p) }

func newFetcher(fs *fetchers, leader int32) *fetcher {
	return &fetcher{n: fs.n, fs: fs, leader: leader, parts: map[*partition]*followed{}, delayed: map[*partition]time.Time{},
		changed: map[*partition]struct{}{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// errSetChanged aborts a fetch built from a partition set that has since
// grown; the fetcher refetches at once.
var errSetChanged = errors.New("partition set changed")

// errSessionReset aborts a fetch whose session the leader refused; the
// fetcher refetches at once with a full fetch.
var errSessionReset = errors.New("fetch session reset")

// interrupt cuts short the fetch in progress, if any.
func (f *fetcher) interrupt() {
	f.inflightMu.Lock()
	defer f.inflightMu.Unlock()
	if f.inflight != nil {
		f.interrupted.Store(true)
		f.inflight.interrupt()
	}
}

// setInflight publishes (or, with nil, withdraws) the link of the fetch in
// progress.
func (f *fetcher) setInflight(l replicaLink) {
	f.inflightMu.Lock()
	f.inflight = l
	f.inflightMu.Unlock()
}

// add makes f follow p; the caller serializes add, remove and undelay
// (fetchers.mu).
func (f *fetcher) add(p *partition) {
	w := &followed{f: f, p: p}
	f.mu.Lock()
	f.parts[p] = w
	delete(f.delayed, p)
	f.changed[p] = struct{}{}
	f.mu.Unlock()
	p.watch(w) // outside f.mu: wake takes f.mu inside the partition's locks
	f.lastAdd.Store(time.Now().UnixNano())
	f.added.Store(true)
	f.poke()
	f.interrupt()
}

func (f *fetcher) remove(p *partition) {
	f.mu.Lock()
	w := f.parts[p]
	delete(f.parts, p)
	delete(f.delayed, p)
	f.changed[p] = struct{}{}
	f.mu.Unlock()
	if w != nil {
		p.unwatch(w)
	}
	f.poke()
}

// markChanged notes that p's fetch parameters may have changed.
func (f *fetcher) markChanged(p *partition) {
	f.mu.Lock()
	f.changed[p] = struct{}{}
	f.mu.Unlock()
}

// delay holds p out of fetches for replicaBackoff.
func (f *fetcher) delay(p *partition) {
	f.mu.Lock()
	f.delayed[p] = time.Now().Add(replicaBackoff)
	f.changed[p] = struct{}{}
	f.mu.Unlock()
}

// undelay lets p be fetched again at once.
func (f *fetcher) undelay(p *partition) {
	f.mu.Lock()
	_, was := f.delayed[p]
	if was {
		delete(f.delayed, p)
		f.changed[p] = struct{}{}
	}
	f.mu.Unlock()
	if was {
		f.poke()
	}
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// candidate is a partition whose part in the session must be looked at
// for the next fetch, and whether it is to be fetched (not removed nor
// delayed).
type candidate struct {
	p     *partition
	fetch bool
}

// candidates returns the partitions whose part in the session must be
// looked at for the next fetch, and clears the changed marks; all of them
// when all is set. It also returns how many partitions are to be fetched,
// and how long until the first delayed one may be fetched again (0: none is
// delayed). It holds f.mu briefly: add waits on it, inside the node's
// metadata apply.
func (f *fetcher) candidates(all bool) (cand []candidate, active int, next time.Duration) {
	cand = f.cand[:0]
	f.mu.Lock()
	f.added.Store(false)
	now := time.Now()
	for p, until := range f.delayed {
		if d := until.Sub(now); d > 0 {
			if next == 0 || d < next {
				next = d
			}
			continue
		}
		delete(f.delayed, p)
		f.changed[p] = struct{}{}
	}
	active = len(f.parts) - len(f.delayed)
	changed := f.changed
	if all {
		for p := range f.parts {
			_, held := f.delayed[p]
			cand = append(cand, candidate{p, !held})
		}
		for p := range changed {
			if _, ok := f.parts[p]; !ok {
				cand = append(cand, candidate{p, false})
			}
		}
	} else {
		for p := range changed {
			_, following := f.parts[p]
			_, held := f.delayed[p]
			cand = append(cand, candidate{p, following && !held})
		}
	}
	clear(changed)
	f.mu.Unlock()
	f.cand = cand
	return cand, active, next
}

// settle waits until no partition has been added for addQuiet, so that a
// fetch is not rebuilt for each of the many partitions one metadata change
// adds (a topic's creation, a failover); it reports false on stop.
func (f *fetcher) settle() bool {
	for {
		d := addQuiet - time.Since(time.Unix(0, f.lastAdd.Load()))
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-f.stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// addQuiet is how long a fetcher waits after a partition joins its set
// before it rebuilds its fetch.
const addQuiet = 2 * time.Millisecond

// sleep waits for d, a wake-up or the stop; it reports false on stop.
func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.stop:
		return false
	case <-f.wake:
		return true
	case <-t.C:
		return true
	}
}

// resetSession makes the next fetch a full one, which closes the current
// session on the leader.
func (f *fetcher) resetSession() {
	f.sessionEpoch = 0
	f.sent = nil
}

func (f *fetcher) run() {
	defer close(f.done)
	defer func() {
		if f.link != nil {
			f.link.close()
		}
	}()
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		err := f.fetchOnce()
		switch {
		case err == nil:
			continue
		case errors.Is(err, errSetChanged):
			// Nothing was sent: the connection is still good.
			if !f.settle() {
				return
			}
			continue
		case errors.Is(err, errIdle):
			wait := time.Second
			if next := err.(idleError).next; next > 0 && next < wait && !f.n.isolated.Load() {
				wait = next
			}
			if !f.sleep(wait) {
				return
			}
			continue
		case errors.Is(err, errSessionReset):
			f.n.log.Debug("replica fetch session reset", "leader", f.leader, "err", err)
			continue // a full fetch, at once, on the same connection
		}
		f.resetSession()
		if f.link != nil {
			f.link.close()
			f.link = nil
		}
		if f.interrupted.Swap(false) {
			// Refetch with the new partition set, once the
			// additions settle.
			if !f.settle() {
				return
			}
			continue
		}
		f.n.log.Debug("replica fetch", "leader", f.leader, "err", err)
		if !f.sleep(replicaBackoff) {
			return
		}
	}
}

// errIdle says there is nothing to fetch now (idleError says until when).
var errIdle = errors.New("nothing to fetch")

type idleError struct{ next time.Duration }

func (idleError) Error() string        { return errIdle.Error() }
func (idleError) Is(target error) bool { return target == errIdle }

// fetchOnce builds and sends one fetch and applies its answer.
func (f *fetcher) fetchOnce() error {
	full := f.sessionEpoch == 0
	now := time.Now()
	resync := !full && now.Sub(f.lastResync) >= fetcherResync
	cand, active, next := f.candidates(full || resync)
	if full || resync {
		f.lastResync = now
	}
	if f.n.isolated.Load() {
		if !full {
			f.remark(cand) // for when it heals
		}
		return idleError{next}
	}
	if active == 0 {
		f.closeSession()
		return idleError{next}
	}
	if f.link == nil {
		b, ok := f.n.ctrl.Image().Broker(f.leader)
		if !ok || b.Fenced {
			return fmt.Errorf("leader %d is not available", f.leader)
		}
		if peer := f.n.localPeer(f.leader); peer != nil {
			f.link = &localLink{leader: peer}
		} else {
			c, err := f.n.dialPeer(interBrokerAddr(b))
			if err != nil {
				return err
			}
			f.link = c
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = f.n.cfg.ID
	// An idle fetch must come back within the lag, or the leader's ISR
	// check sees an idle follower as lagging (Kafka requires
	// replica.fetch.wait.max.ms below replica.lag.time.max.ms).
	req.MaxWaitMillis = int32(min(replicaFetchWait, f.n.cfg.Broker.Millis("replica.lag.time.max.ms")/3) / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = replicaFetchMaxBytes
	req.SessionID = f.sessionID
	req.SessionEpoch = f.sessionEpoch
	// named: the partitions this fetch names (added or changed), by key;
	// a full fetch's becomes the session's (f.sent), an incremental
	// fetch's is scratch.
	named := f.named
	if full || named == nil {
		named = map[partKey]sentPart{}
	} else {
		clear(named)
	}
	if !full {
		f.named = named
	}
	if f.topicIndex == nil {
		f.topicIndex = map[string]int{}
	}
	byTopic := f.topicIndex
	clear(byTopic)
	for _, c := range cand {
		if !c.fetch {
			continue
		}
		p := c.p
		key := partKey{topic: p.topic, partition: p.id}
		sp := sentPart{p: p, fetchOffset: p.log.EndOffset(), logStart: p.log.StartOffset(), leaderEpoch: p.leaderEpoch.Load(), lastFetchedEpoch: p.lastFetchedEpoch()}
		if !full {
			if old, ok := f.sent[key]; ok && old == sp {
				continue // the session has it as it is
			}
		}
		named[key] = sp
		i, ok := byTopic[p.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.id
		rp.CurrentLeaderEpoch = sp.leaderEpoch
		rp.FetchOffset = sp.fetchOffset
		rp.LastFetchedEpoch = sp.lastFetchedEpoch
		rp.LogStartOffset = sp.logStart
		rp.PartitionMaxBytes = replicaPartitionBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	// forgotten: the session's partitions no longer fetched (a partition
	// named anew under the same name, a re-created topic, is not).
	var forgotten []partKey
	if !full {
		forget := func(key partKey) {
			if _, ok := named[key]; ok {
				return
			}
			forgotten = append(forgotten, key)
		}
		if resync {
			fetched := make(map[*partition]bool, len(cand))
			for _, c := range cand {
				fetched[c.p] = c.fetch
			}
			for key, sp := range f.sent {
				if !fetched[sp.p] {
					forget(key)
				}
			}
		} else {
			for _, c := range cand {
				key := partKey{topic: c.p.topic, partition: c.p.id}
				if old, ok := f.sent[key]; !c.fetch && ok && old.p == c.p {
					forget(key)
				}
			}
		}
		byForgotten := map[string]int{}
		for _, key := range forgotten {
			i, ok := byForgotten[key.topic]
			if !ok {
				i = len(req.ForgottenTopics)
				byForgotten[key.topic] = i
				t := kmsg.NewFetchRequestForgottenTopic()
				t.Topic = key.topic
				req.ForgottenTopics = append(req.ForgottenTopics, t)
			}
			req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, key.partition)
		}
	}
	// The deadline is set before inflight is published, so that an
	// interrupt's earlier deadline is never overwritten.
	f.link.arm(time.Now().Add(replicaFetchWait + 5*time.Second))
	f.setInflight(f.link)
	if f.added.Load() {
		f.setInflight(nil)
		f.interrupted.Store(false)
		if !full {
			f.remark(cand)
		}
		return errSetChanged
	}
	r, err := f.link.do(req)
	f.setInflight(nil)
	if err != nil {
		return err
	}
	// An interrupt that came during a call to a leader in this process
	// cut its long poll short but left its answer good.
	f.interrupted.Store(false)
	resp := r.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		err := kerr.ErrorForCode(resp.ErrorCode)
		f.resetSession()
		if !full {
			return fmt.Errorf("%w: %w", errSessionReset, err)
		}
		return err
	}
	if tr := f.fs.trace.Load(); tr != nil {
		ans := 0
		for _, t := range resp.Topics {
			ans += len(t.Partitions)
		}
		(*tr)(fetchTrace{leader: f.leader, full: full, named: len(named), forgotten: len(forgotten), answered: ans})
	}
	// The session now holds what this fetch named, less what it forgot.
	switch {
	case resp.SessionID == 0:
		// No session (the leader had no room, or closed it): the next
		// fetch is a full one again.
		f.sessionID = 0
		f.resetSession()
	case full || resp.SessionID != f.sessionID:
		f.sessionID, f.sessionEpoch, f.sent = resp.SessionID, nextEpoch(initialEpoch), named
		f.named = nil // the session's now, no longer scratch
	default:
		f.sessionEpoch = nextEpoch(f.sessionEpoch)
		for key, sp := range named {
			f.sent[key] = sp
		}
		for _, key := range forgotten {
			delete(f.sent, key)
		}
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			key := partKey{topic: t.Topic, partition: rp.Partition}
			sp, ok := named[key]
			if !ok {
				sp, ok = f.sent[key]
			}
			if !ok {
				continue
			}
			f.apply(sp.p, &rp, sp.leaderEpoch)
		}
	}
	return nil
}

// remark marks the partitions of a fetch that was not sent changed again.
func (f *fetcher) remark(cand []candidate) {
	f.mu.Lock()
	for _, c := range cand {
		f.changed[c.p] = struct{}{}
	}
	f.mu.Unlock()
}

// apply applies one partition's answer: records to append, a truncation
// (divergence, or an offset out of range) or an error that holds the
// partition back for a while. The partition's fetch parameters may have
// changed: it is marked so.
//
// epoch is the leader epoch the partition was fetched at: an answer that
// crossed a leadership change is dropped (errStaleFetch), and the new
// metadata decides what this replica does next.
func (f *fetcher) apply(p *partition, rp *kmsg.FetchResponseTopicPartition, epoch int32) {
	var err error
	switch {
	case rp.ErrorCode == kerr.OffsetOutOfRange.Code:
		end := p.log.EndOffset()
		switch {
		case rp.LogStartOffset > end:
			err = p.truncateTo(rp.LogStartOffset, true, epoch)
		case rp.HighWatermark >= 0 && end > rp.HighWatermark:
			err = p.truncateTo(rp.HighWatermark, false, epoch)
		default:
			f.delay(p) // nothing to repair here yet
		}
	case rp.ErrorCode != 0:
		// Not leader, fenced or unknown epoch: the metadata that fixes
		// it is on its way; until then (or the backoff) the partition
		// sits out.
		f.delay(p)
		return
	case rp.DivergingEpoch.EndOffset >= 0:
		_, mine := p.endOffsetForEpoch(rp.DivergingEpoch.Epoch)
		target := rp.DivergingEpoch.EndOffset
		if mine >= 0 {
			target = min(target, mine)
		}
		f.n.log.Info("truncating diverged replica", "topic", p.topic, "partition", p.id, "to", target, "epoch", rp.DivergingEpoch.Epoch)
		err = p.truncateTo(target, false, epoch)
	default:
		err = p.appendReplica(rp.RecordBatches, rp.HighWatermark, rp.LogStartOffset, epoch)
	}
	f.markChanged(p)
	if err == nil && (rp.ErrorCode == kerr.OffsetOutOfRange.Code || rp.DivergingEpoch.EndOffset >= 0) {
		// A truncation: what is fetched again from there is dirty.
		f.n.cleaner.truncated(p, p.log.EndOffset())
	}
	switch {
	case err == nil:
	case errors.Is(err, errNotLeader), errors.Is(err, errStaleFetch):
		f.n.log.Debug("replica answer dropped", "topic", p.topic, "partition", p.id, "err", err)
	default:
		f.n.log.Warn("replica append", "topic", p.topic, "partition", p.id, "err", err)
	}
}

// closeSession closes the session on the leader, when there is one and
// nothing is left to fetch, so that the leader does not keep it: a full
// fetch naming it with the final epoch and no partitions, answered at
// once.
func (f *fetcher) closeSession() {
	if f.sessionID == 0 || f.link == nil {
		f.sessionID = 0
		f.resetSession()
		return
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = f.n.cfg.ID
	req.MaxBytes = replicaFetchMaxBytes
	req.SessionID = f.sessionID
	req.SessionEpoch = finalEpoch
	f.sessionID = 0
	f.resetSession()
	f.link.arm(time.Now().Add(5 * time.Second))
	if _, err := f.link.do(req); err != nil {
		f.link.close()
		f.link = nil
	}
}

// replicaConn is a follower's connection to a leader: one request at a
// time, encoded and decoded with kmsg.
type replicaConn struct {
	nc   net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
	buf  []byte
}

// do sends req and reads its response, within the deadline the caller set
// on the connection.
func (c *replicaConn) do(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.buf = c.f.AppendRequest(c.buf[:0], req, c.corr)
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, err
	}
	var sz [4]byte
	if _, err := io.ReadFull(c.r, sz[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n > 1<<30 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	if len(b) < 4 || int32(binary.BigEndian.Uint32(b)) != c.corr {
		return nil, fmt.Errorf("bad correlation id")
	}
	resp := req.ResponseKind()
	body := b[4:]
	if resp.IsFlexible() {
		if len(body) == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *replicaConn) close() { c.nc.Close() }

func (c *replicaConn) arm(deadline time.Time) { c.nc.SetDeadline(deadline) }

func (c *replicaConn) interrupt() { c.nc.SetReadDeadline(time.Now()) }
