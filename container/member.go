package container

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/kgolog"
	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/kafkaboot/kafkaboot/internal/txscope"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// member is one group member of a container: one kgo client, its poll
// loop, its partition workers and its committer.
type member struct {
	c   *Container
	r   *run
	idx int
	// conn is the member's client; a transactional member replaces it
	// when its producer is fenced (replaceConn), on its poll goroutine.
	conn atomic.Pointer[memberConn]
	// opts are the options conn's clients are made with.
	opts []kgo.Opt

	pollCtx    context.Context
	pollCancel context.CancelFunc
	pollDone   chan struct{}
	wakeMu     sync.Mutex
	wake       context.CancelFunc
	ready      chan struct{} // cap 1: resumed, or in-flight records released

	mu       sync.Mutex
	workers  map[tp]*worker
	stopping bool
	seeks    []seekReq

	inflight atomic.Int64 // records dispatched to workers and not finished
	// readCommitted: lag is measured against the last stable offset.
	readCommitted bool

	commitMu   sync.Mutex // serializes "read pending, commit, mark committed"
	commitReqs chan chan error
	commitKick chan struct{}
	count      atomic.Int64 // records processed since the last count commit
	cmStop     chan struct{}
	cmDone     chan struct{}

	// parked are the retry partitions paused until their next record is
	// due, with the timers that resume them.
	parkMu sync.Mutex
	parked map[tp]*time.Timer

	// errDelay is the poll loop's back off on fetch errors.
	errDelay time.Duration
	// txs and txID: the member of a transactional listener; fences counts
	// the fences since its last committed transaction (poll goroutine).
	txs    *txState
	txID   string
	fences int
}

// memberConn is a member's client and what is made from it.
type memberConn struct {
	cl  *kgo.Client
	adm *kadm.Client
	// sess is the transactional session whose client cl is, nil if the
	// listener is not transactional.
	sess *kgo.GroupTransactSession
	// hctx is the base of the handlers' contexts: the run's hard context,
	// carrying the transactional client when transactional.
	hctx context.Context
}

// client returns the member's current client.
func (m *member) client() *kgo.Client { return m.conn.Load().cl }

// admin returns the admin client of the member's current client.
func (m *member) admin() *kadm.Client { return m.conn.Load().adm }

// handlerCtx returns the base of the handlers' contexts.
func (m *member) handlerCtx() context.Context { return m.conn.Load().hctx }

// dial makes a client with the member's options.
func (m *member) dial() (*memberConn, error) {
	if m.txs != nil {
		sess, err := kgo.NewGroupTransactSession(m.opts...)
		if err != nil {
			return nil, err
		}
		cl := sess.Client()
		return &memberConn{cl: cl, adm: kadm.NewClient(cl), sess: sess, hctx: txscope.WithClient(m.r.hardCtx, cl)}, nil
	}
	cl, err := kgo.NewClient(m.opts...)
	if err != nil {
		return nil, err
	}
	return &memberConn{cl: cl, adm: kadm.NewClient(cl), hctx: m.r.hardCtx}, nil
}

func newMember(ctx context.Context, c *Container, r *run, idx int) (*member, error) {
	m := &member{
		c: c, r: r, idx: idx,
		pollDone:   make(chan struct{}),
		ready:      make(chan struct{}, 1),
		workers:    make(map[tp]*worker),
		commitReqs: make(chan chan error),
		commitKick: make(chan struct{}, 1),
		cmStop:     make(chan struct{}),
		cmDone:     make(chan struct{}),
		parked:     map[tp]*time.Timer{},
	}
	m.pollCtx, m.pollCancel = context.WithCancel(r.hardCtx)
	ep := c.ep
	opts := slices.Clone(c.o.clientOpts)
	if c.tx {
		m.txID = c.txPrefix + c.id + "-" + strconv.Itoa(idx)
		opts = append(opts, kgo.RecordPartitioner(DeadLetterPartitioner(kgo.StickyKeyPartitioner(nil))))
		opts = append(opts, c.o.txOpts...)
		// Inputs as committed: an aborted upstream transaction is not
		// processed (the listener's properties may still say otherwise).
		opts = append(opts, kgo.TransactionalID(m.txID), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if c.retry != nil {
		// A resumed retry partition is fetched once the fetch in flight
		// returns: keep that short (the listener's properties may still
		// set fetch.max.wait.ms).
		opts = append(opts, kgo.FetchMaxWait(c.retry.fetchWait))
	}
	if ep.ClientIDPrefix != "" {
		opts = append(opts, kgo.ClientID(ep.ClientIDPrefix+"-"+strconv.Itoa(idx)))
	}
	propOpts, _, err := propertyOpts(ep.Properties, idx)
	if err != nil {
		return nil, err
	}
	opts = append(opts, propOpts...)
	opts = append(opts, c.gp.opts()...)
	if c.direct {
		opts = append(opts, kgo.ConsumerGroup(""))
	} else {
		opts = append(opts,
			kgo.ConsumerGroup(c.group),
			kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(m.onAssigned),
			kgo.OnPartitionsRevoked(m.onRevoked),
			kgo.OnPartitionsLost(m.onLost),
		)
		if ep.Pattern != "" {
			opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics("^(?:"+ep.Pattern+")$"))
		} else {
			topics := slices.Clone(ep.Topics)
			if c.retry != nil {
				topics = append(topics, c.retry.topics()...)
			}
			opts = append(opts, kgo.ConsumeTopics(topics...))
		}
	}
	opts = append(opts, kgo.WithHooks(append([]kgo.Hook{r.watch}, c.tel.Hooks()...)...))
	if o := kgolog.Opt(c.log, c.o.clientLog, r.watch.IsDown); o != nil {
		opts = append(opts, o)
	}
	m.opts = opts
	if c.tx {
		m.txs = &txState{failed: map[txRecord]txFailure{}}
	}
	conn, err := m.dial()
	if err != nil {
		return nil, err
	}
	m.conn.Store(conn)
	cl := conn.cl
	m.readCommitted = cl.OptValue(kgo.FetchIsolationLevel) == kgo.ReadCommitted()
	if c.direct {
		offsets, err := m.directOffsets(ctx, c.assign[idx])
		if err != nil {
			cl.Close()
			return nil, err
		}
		for t, ps := range offsets {
			for p := range ps {
				k := tp{t, p}
				m.workers[k] = newWorker(m, k)
			}
		}
		cl.AddConsumePartitions(offsets)
	}
	return m, nil
}

// directOffsets computes the start offsets of explicitly assigned
// partitions, reading the group's committed offsets for "committed" ones.
func (m *member) directOffsets(ctx context.Context, parts []listener.TopicPartition) (map[string]map[int32]kgo.Offset, error) {
	var committed kadm.OffsetResponses
	for _, p := range parts {
		if p.Offset.Kind == listener.OffsetCommitted {
			var err error
			if committed, err = m.admin().FetchOffsets(ctx, m.c.group); err != nil {
				return nil, fmt.Errorf("fetching committed offsets of group %q: %w", m.c.group, err)
			}
			break
		}
	}
	reset, _ := m.client().OptValue(kgo.ConsumeResetOffset).(kgo.Offset)
	out := map[string]map[int32]kgo.Offset{}
	for _, p := range parts {
		var o kgo.Offset
		switch p.Offset.Kind {
		case listener.OffsetCommitted:
			o = reset
			if r, ok := committed.Lookup(p.Topic, p.Partition); ok && r.Err == nil && r.At >= 0 {
				o = kgo.NewOffset().At(r.At).WithEpoch(r.LeaderEpoch)
			}
		case listener.OffsetEarliest:
			o = kgo.NewOffset().AtStart()
		case listener.OffsetLatest:
			o = kgo.NewOffset().AtEnd()
		case listener.OffsetAt:
			o = kgo.NewOffset().At(p.Offset.Value)
		case listener.OffsetFromEnd:
			o = kgo.NewOffset().AtEnd().Relative(-p.Offset.Value)
		}
		if out[p.Topic] == nil {
			out[p.Topic] = map[int32]kgo.Offset{}
		}
		out[p.Topic][p.Partition] = o
	}
	return out, nil
}

func (m *member) start() {
	m.mu.Lock()
	for _, w := range m.workers {
		w.start() // direct partitions; group partitions may already run (onAssigned)
	}
	m.mu.Unlock()
	go m.committer()
	go m.pollLoop()
}

// ---- poll loop ----

func (m *member) pollLoop() {
	if m.txs != nil {
		m.pollLoopTx()
		return
	}
	defer close(m.pollDone)
	defer m.failSeeks()
	for m.waitReady() {
		fs, stop := m.poll()
		if stop {
			return
		}
		if fs.NumRecords() > 0 {
			m.c.lastRecord.Store(time.Now().UnixNano())
			m.dispatch(fs)
		}
	}
}

// poll takes what the client has fetched (see dispatch), reporting fetch
// errors and backing off on repeated errors without records; stop is true
// when polling must end (stop, closed client, authorization failure).
func (m *member) poll() (fs kgo.Fetches, stop bool) {
	ctx, cancel := context.WithCancel(m.pollCtx)
	m.setWake(cancel)
	if m.txs != nil {
		// A transaction covers one poll, and a failure redoes it all:
		// bound it by max.poll.records.
		fs = m.client().PollRecords(ctx, m.c.maxPoll)
	} else {
		fs = m.client().PollFetches(ctx)
	}
	m.setWake(nil)
	cancel()
	if m.pollCtx.Err() != nil || fs.IsClientClosed() {
		return nil, true // records of this poll are dropped: not processed, not committed
	}
	hadErr, fatal := false, false
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) {
			return
		}
		hadErr = true
		if authorizationError(err) {
			fatal = true
			m.c.failFatal(fmt.Errorf("container: listener %q: not authorized on topic %q or group %q: %w", m.c.id, t, m.c.group, err))
			return
		}
		if m.r.watch.IsDown() {
			// The outage was said once; this is its echo.
			m.c.log.Debug("kafka listener: fetch error", "member", m.idx, "topic", t, "partition", p, "err", err)
			return
		}
		m.c.log.Warn("kafka listener: fetch error", "member", m.idx, "topic", t, "partition", p, "err", err)
	})
	if fatal {
		return nil, true
	}
	if fs.NumRecords() > 0 {
		m.errDelay = 0
	} else if hadErr {
		// Back off on repeated errors without records.
		m.errDelay = min(max(2*m.errDelay, 50*time.Millisecond), time.Second)
		t := time.NewTimer(m.errDelay)
		select {
		case <-t.C:
		case <-m.pollCtx.Done():
		}
		t.Stop()
	}
	return fs, false
}

// waitReady blocks while the container is paused or too many records are
// in flight; false means stop polling.
func (m *member) waitReady() bool {
	for {
		if m.pollCtx.Err() != nil {
			return false
		}
		m.applySeeks()
		if !m.c.paused.Load() && m.inflight.Load() < int64(m.c.maxPoll) {
			return true
		}
		select {
		case <-m.pollCtx.Done():
			return false
		case <-m.ready:
		}
	}
}

func (m *member) signalReady() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *member) setWake(cancel context.CancelFunc) {
	m.wakeMu.Lock()
	m.wake = cancel
	m.wakeMu.Unlock()
}

// wakePoll makes a blocked PollRecords return (records stay buffered in
// the client).
func (m *member) wakePoll() {
	m.wakeMu.Lock()
	if m.wake != nil {
		m.wake()
	}
	m.wakeMu.Unlock()
	m.signalReady()
}

// release accounts for n dispatched records that finished or were dropped.
func (m *member) release(n int) {
	if n <= 0 {
		return
	}
	if m.inflight.Add(int64(-n)) < int64(m.c.maxPoll) {
		m.signalReady()
	}
}

// dispatch hands each partition's records of a poll to the partition's
// worker at once, cut into chunks of at most max.poll.records.
//
// The poll takes everything the client has fetched, not max.poll.records:
// franz-go hands out buffered records partition by partition, so a
// record-bounded poll would give the workers one partition at a time and
// serialize a member's partitions whenever there is a backlog. Memory stays
// bounded: polling waits while max.poll.records or more records are in
// flight, and one poll holds at most what the client fetched (bounded by
// fetch.max.bytes per broker response), which franz-go buffers anyway.
func (m *member) dispatch(fs kgo.Fetches) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		w := m.workers[tp{p.Topic, p.Partition}]
		if w == nil || w.seekPending.Load() {
			return // revoked or lost since the fetch, or fetched before a rewind
		}
		if m.readCommitted {
			w.end.Store(p.LastStableOffset)
		} else {
			w.end.Store(p.HighWatermark)
		}
		m.inflight.Add(int64(len(p.Records)))
		if m.txs != nil {
			m.txs.mu.Lock()
			m.txs.records += int64(len(p.Records))
			m.txs.mu.Unlock()
		}
		w.enqueue(p.Records, m.c.maxPoll, w.seekEpoch.Load())
	})
}

func (m *member) stopPolling() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	m.pollCancel()
	m.unparkAll()
}

// stopWorkers asks every worker to stop after its current record and
// returns their done channels.
func (m *member) stopWorkers() []<-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []<-chan struct{}
	for _, w := range m.workers {
		w.stop()
		out = append(out, w.done)
	}
	return out
}

// ---- seeks ----

// enqueueSeek queues a seek for the poll loop if m owns the partition and
// returns the channel its result is sent on.
func (m *member) enqueueSeek(s seekReq) (<-chan error, bool) {
	m.mu.Lock()
	_, owned := m.workers[s.k]
	if owned && !m.stopping {
		s.done = make(chan error, 1)
		m.seeks = append(m.seeks, s)
	}
	m.mu.Unlock()
	if !owned {
		return nil, false
	}
	if s.done == nil {
		ch := make(chan error, 1)
		ch <- ErrNotRunning
		return ch, true
	}
	m.wakePoll()
	return s.done, true
}

func (m *member) failSeeks() {
	m.mu.Lock()
	reqs := m.seeks
	m.seeks = nil
	m.mu.Unlock()
	for _, s := range reqs {
		s.done <- ErrNotRunning
	}
}

// applySeeks runs on the poll goroutine between polls, as kgo recommends
// for SetOffsets.
func (m *member) applySeeks() {
	m.mu.Lock()
	reqs := m.seeks
	m.seeks = nil
	m.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	var starts, ends kadm.ListedOffsets
	var topics []string
	for _, s := range reqs {
		if (s.kind == seekBeginning || s.kind == seekEnd) && !slices.Contains(topics, s.k.topic) {
			topics = append(topics, s.k.topic)
		}
	}
	// Timestamps are looked up one request at a time: each has its own.
	byTime := make([]kadm.ListedOffset, len(reqs))
	for i, s := range reqs {
		if s.kind != seekTimestamp {
			continue
		}
		los, err := m.admin().ListOffsetsAfterMilli(m.pollCtx, s.offset, s.k.topic)
		if err == nil {
			lo, ok := los.Lookup(s.k.topic, s.k.partition)
			if !ok {
				lo.Err = fmt.Errorf("no offset listed")
			}
			byTime[i] = lo
		} else {
			byTime[i] = kadm.ListedOffset{Err: err}
		}
	}
	if len(topics) > 0 {
		var err1, err2 error
		starts, err1 = m.admin().ListStartOffsets(m.pollCtx, topics...)
		ends, err2 = m.admin().ListEndOffsets(m.pollCtx, topics...)
		if err := errors.Join(err1, err2); err != nil {
			for _, s := range reqs {
				s.done <- fmt.Errorf("container: seek: listing offsets: %w", err)
			}
			return
		}
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	var applied []seekReq
	m.mu.Lock()
	for i, s := range reqs {
		w := m.workers[s.k]
		if w == nil {
			s.done <- fmt.Errorf("%w: %s[%d]", ErrNotAssigned, s.k.topic, s.k.partition)
			continue
		}
		off := s.offset
		var (
			lo kadm.ListedOffset
			ok bool
		)
		switch s.kind {
		case seekBeginning:
			lo, ok = starts.Lookup(s.k.topic, s.k.partition)
		case seekEnd:
			lo, ok = ends.Lookup(s.k.topic, s.k.partition)
		case seekTimestamp:
			lo, ok = byTime[i], true
		}
		if s.kind != seekOffset {
			if !ok || lo.Err != nil {
				s.done <- fmt.Errorf("container: seek: no offset for %s[%d]: %v", s.k.topic, s.k.partition, lo.Err)
				continue
			}
			off = lo.Offset
		}
		w.seekEpoch.Add(1)
		w.pos.Store(off)
		if !s.internal {
			w.interruptWaits()
		}
		if set[s.k.topic] == nil {
			set[s.k.topic] = map[int32]kgo.EpochOffset{}
		}
		set[s.k.topic][s.k.partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
		applied = append(applied, s)
	}
	m.mu.Unlock()
	m.client().SetOffsets(set)
	m.mu.Lock()
	for _, s := range applied {
		if w := m.workers[s.k]; w != nil && s.internal {
			w.seekPending.Store(false)
		}
	}
	m.mu.Unlock()
	for _, s := range applied {
		s.done <- nil
	}
}

// ---- retry topics: parked partitions ----

// park pauses the retry partition of w until due, rewinding it to offset
// (the first record not due): records of the partition fetched or queued
// are dropped, nothing of it is held in memory while it waits, and the
// timer resumes fetching shortly before due (by the fetch wait, so that
// the record arrives about when it is due), as Spring's
// KafkaBackoffAwareMessageListenerAdapter pauses a partition and seeks.
func (m *member) park(w *worker, offset int64, due time.Time) {
	parts := map[string][]int32{w.k.topic: {w.k.partition}}
	m.client().PauseFetchPartitions(parts)
	m.mu.Lock()
	if m.workers[w.k] != w || m.stopping {
		m.mu.Unlock()
		m.resumeFetch(w.k)
		return
	}
	w.seekEpoch.Add(1)
	w.seekPending.Store(true)
	w.pos.Store(offset)
	m.seeks = append(m.seeks, seekReq{internal: true, k: w.k, kind: seekOffset, offset: offset, done: make(chan error, 1)})
	m.mu.Unlock()
	wait := max(time.Until(due)-m.c.retry.fetchWait, 0)
	m.parkMu.Lock()
	if t := m.parked[w.k]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		m.parkMu.Lock()
		mine := m.parked[w.k] == t
		if mine {
			delete(m.parked, w.k)
		}
		m.parkMu.Unlock()
		if mine {
			m.resumeFetch(w.k)
		}
	})
	m.parked[w.k] = t
	m.parkMu.Unlock()
	m.c.log.Debug("kafka listener: retry partition paused until its next record is due", "topic", w.k.topic,
		"partition", w.k.partition, "offset", offset, "due", due)
	m.wakePoll()
}

// unpark resumes partition k now if it is parked (revoked, lost, stopped).
func (m *member) unpark(k tp) {
	m.parkMu.Lock()
	t := m.parked[k]
	delete(m.parked, k)
	m.parkMu.Unlock()
	if t != nil {
		t.Stop()
		m.resumeFetch(k)
	}
}

// unparkAll resumes every parked partition (the member stops).
func (m *member) unparkAll() {
	m.parkMu.Lock()
	ks := make([]tp, 0, len(m.parked))
	for k, t := range m.parked {
		t.Stop()
		ks = append(ks, k)
	}
	clear(m.parked)
	m.parkMu.Unlock()
	for _, k := range ks {
		m.resumeFetch(k)
	}
}

// resumeFetch resumes fetching k unless the user paused it
// (PausePartitions).
func (m *member) resumeFetch(k tp) {
	m.c.pmu.Lock()
	userPaused := m.c.pausedParts[k.topic][k.partition]
	m.c.pmu.Unlock()
	if !userPaused {
		m.client().ResumeFetchPartitions(map[string][]int32{k.topic: {k.partition}})
	}
}

// ---- rebalance callbacks (run on kgo's group goroutine) ----

func (m *member) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	m.mu.Lock()
	if !m.stopping {
		for t, ps := range assigned {
			for _, p := range ps {
				k := tp{t, p}
				if m.workers[k] == nil {
					w := newWorker(m, k)
					m.workers[k] = w
					w.start()
				}
			}
		}
	}
	m.mu.Unlock()
	m.c.log.Debug("kafka listener: partitions assigned", "member", m.idx, "partitions", assigned)
	m.c.state.CompareAndSwap(int32(StateStarting), int32(StateRunning))
	if len(assigned) > 0 {
		m.c.tel.Rebalance(telemetry.RebalanceAssigned, countParts(assigned))
	}
	if fn := m.c.o.seekOnAssign; fn != nil && len(assigned) > 0 {
		fn(ctx, assigned, Seeker{m})
	}
	if fn := m.c.o.rebalance.Assigned; fn != nil {
		fn(ctx, assigned)
	}
	if len(assigned) > 0 {
		m.c.emit(PartitionsAssignedEvent{ListenerID: m.c.id, Member: m.idx, Partitions: assigned})
	}
}

// onRevoked blocks the rebalance until the revoked partitions' in-flight
// records finished and what is done was committed.
func (m *member) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	ws := m.detach(revoked)
	for _, w := range ws {
		w.stop()
	}
	for _, w := range ws {
		<-w.done
	}
	if len(ws) > 0 {
		m.commitMu.Lock()
		if err := m.commitWorkers(ctx, ws); err != nil {
			m.c.log.Warn("kafka listener: commit on revoke failed", "member", m.idx, "err", err)
		}
		m.commitMu.Unlock()
		m.c.log.Debug("kafka listener: partitions revoked", "member", m.idx, "partitions", revoked)
	}
	if fn := m.c.o.rebalance.Revoked; fn != nil && len(revoked) > 0 {
		fn(ctx, revoked)
	}
	if len(revoked) > 0 {
		m.c.tel.Rebalance(telemetry.RebalanceRevoked, countParts(revoked))
		m.c.emit(PartitionsRevokedEvent{ListenerID: m.c.id, Member: m.idx, Partitions: revoked})
	}
}

func (m *member) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	ws := m.detach(lost)
	for _, w := range ws {
		w.stop()
	}
	for _, w := range ws {
		<-w.done
	}
	if len(lost) > 0 {
		m.c.log.Warn("kafka listener: partitions lost", "member", m.idx, "partitions", lost)
	}
	if fn := m.c.o.rebalance.Lost; fn != nil && len(lost) > 0 {
		fn(ctx, lost)
	}
	if len(lost) > 0 {
		m.c.tel.Rebalance(telemetry.RebalanceLost, countParts(lost))
		m.c.emit(PartitionsLostEvent{ListenerID: m.c.id, Member: m.idx, Partitions: lost})
	}
}

// countParts counts the partitions of a rebalance callback.
func countParts(parts map[string][]int32) int {
	n := 0
	for _, ps := range parts {
		n += len(ps)
	}
	return n
}

func (m *member) detach(parts map[string][]int32) []*worker {
	if m.txs != nil {
		m.txs.dropPartitions(parts)
	}
	if m.c.retry != nil {
		// A parked partition that comes back must be fetched.
		for t, ps := range parts {
			for _, p := range ps {
				m.unpark(tp{t, p})
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var ws []*worker
	for t, ps := range parts {
		for _, p := range ps {
			k := tp{t, p}
			if w := m.workers[k]; w != nil {
				delete(m.workers, k)
				ws = append(ws, w)
			}
		}
	}
	return ws
}

// ---- commits ----

// committer coalesces commit requests: while a commit is in flight new
// requests queue up and are served by one following commit.
func (m *member) committer() {
	defer close(m.cmDone)
	var tick <-chan time.Time
	if m.c.ackMode == listener.AckTime || m.c.ackMode == listener.AckCountTime {
		t := time.NewTicker(m.c.ackTime)
		defer t.Stop()
		tick = t.C
	}
	for {
		var waiters []chan error
		select {
		case ch := <-m.commitReqs:
			waiters = append(waiters, ch)
		case <-m.commitKick:
		case <-tick:
		case <-m.cmStop:
			return
		}
	drain:
		for {
			select {
			case ch := <-m.commitReqs:
				waiters = append(waiters, ch)
			case <-m.commitKick:
			default:
				break drain
			}
		}
		err := m.commitAll(m.r.hardCtx)
		for _, ch := range waiters {
			ch <- err
		}
	}
}

func (m *member) stopCommitter() {
	close(m.cmStop)
	<-m.cmDone
}

// commitSync commits everything pending and waits for the result.
func (m *member) commitSync() error {
	ch := make(chan error, 1)
	select {
	case m.commitReqs <- ch:
	case <-m.cmDone:
		return ErrNotRunning
	}
	select {
	case err := <-ch:
		return err
	case <-m.cmDone:
		return ErrNotRunning
	}
}

// kickCommit asks for an asynchronous commit.
func (m *member) kickCommit() {
	select {
	case m.commitKick <- struct{}{}:
	default:
	}
}

// commitAll commits the pending offsets of every current worker.
func (m *member) commitAll(ctx context.Context) error {
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	return m.commitWorkers(ctx, m.workerList())
}

// workerList returns the member's current workers.
func (m *member) workerList() []*worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	ws := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	return ws
}

// commitWorkers commits the pending offsets of ws; m.commitMu must be held.
// A transactional member commits with its transactions instead.
func (m *member) commitWorkers(ctx context.Context, ws []*worker) error {
	if m.txs != nil {
		return nil
	}
	type item struct {
		tr *tracker
		k  tp
		eo kgo.EpochOffset
	}
	var items []item
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, w := range ws {
		tr := w.tr.Load()
		if tr == nil {
			continue
		}
		if eo, ok := tr.pending(); ok {
			items = append(items, item{tr, w.k, eo})
			if offsets[w.k.topic] == nil {
				offsets[w.k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[w.k.topic][w.k.partition] = eo
		}
	}
	if len(items) == 0 {
		return nil
	}
	failed := map[tp]error{}
	var err error
	if m.c.direct {
		os := kadm.Offsets{}
		for _, it := range items {
			os.Add(kadm.Offset{Topic: it.k.topic, Partition: it.k.partition, At: it.eo.Offset, LeaderEpoch: it.eo.Epoch})
		}
		var resps kadm.OffsetResponses
		if resps, err = m.admin().CommitOffsets(ctx, m.c.group, os); err == nil {
			resps.EachError(func(r kadm.OffsetResponse) { failed[tp{r.Topic, r.Partition}] = r.Err })
		}
	} else {
		m.client().CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, e error) {
			if e != nil {
				err = e
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if pe := kerr.ErrorForCode(p.ErrorCode); pe != nil {
						failed[tp{t.Topic, p.Partition}] = pe
					}
				}
			}
		})
	}
	committed := map[string]map[int32]int64{}
	for _, it := range items {
		if err != nil {
			break
		}
		if pe, bad := failed[it.k]; bad {
			err = fmt.Errorf("%s[%d]: %w", it.k.topic, it.k.partition, pe)
			continue
		}
		it.tr.markCommitted(it.eo.Offset)
		if committed[it.k.topic] == nil {
			committed[it.k.topic] = map[int32]int64{}
		}
		committed[it.k.topic][it.k.partition] = it.eo.Offset
	}
	if err == nil {
		for k, pe := range failed {
			err = fmt.Errorf("%s[%d]: %w", k.topic, k.partition, pe)
			break
		}
	}
	if err != nil {
		m.c.log.Warn("kafka listener: offset commit failed", "member", m.idx, "err", err)
	}
	m.c.tel.Commit(err)
	if fn := m.c.o.onCommit; fn != nil {
		fn(CommitEvent{ListenerID: m.c.id, Member: m.idx, Offsets: committed, Err: err})
	}
	return err
}
