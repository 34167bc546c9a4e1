package container

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chunk is the records of one partition from one poll, tagged with the
// partition's seek epoch at dispatch time.
type chunk struct {
	recs  []*kgo.Record
	epoch uint64
}

// worker processes the records of one partition, strictly in order, on its
// own goroutine.
type worker struct {
	m   *member
	c   *Container
	k   tp
	inv *listener.Invoker
	// retry: the partition is a retry topic's; its records wait for
	// their due time.
	retry bool
	// seekPending: a rewind (park) is queued for the poll loop; records
	// fetched before it is applied are dropped.
	seekPending atomic.Bool

	mu        sync.Mutex
	queue     []chunk
	signal    chan struct{} // cap 1: queue grew
	stopCh    chan struct{}
	stopOnce  sync.Once
	startOnce sync.Once
	done      chan struct{}
	interrupt chan struct{} // cap 1: a seek happened; abort waits

	seekEpoch atomic.Uint64
	tr        atomic.Pointer[tracker]

	// Progress, for lag and the non-responsive check: end is the
	// partition's end as of the last fetch (high watermark, or last stable
	// offset for read_committed), -1 unknown; pos the offset after the
	// last record processed, -1 none yet; cur the record (first record of
	// the batch) last started; calling the number of the handler call in
	// progress (calls so far, counting it), 0 between calls: the
	// non-responsive check sees a call still running at two of its ticks
	// without reading the clock at every call.
	end, pos atomic.Int64
	cur      atomic.Pointer[kgo.Record]
	calling  atomic.Uint64

	// stats are the worker goroutine's; a listener with ordering=key or
	// none gives each of its lanes stats of its own.
	stats laneStats
}

// laneStats are counted by the goroutine calling the handler: records
// finished with success since the last flush, handler calls so far, and
// whether every call's duration is recorded (handlers slower than
// timeAllFrom) or one in sampleEvery.
type laneStats struct {
	succeeded int
	calls     uint64
	timeAll   bool
}

// A handler call's duration is recorded for every call when calls take
// timeAllFrom or more, else for one call in sampleEvery and every retry:
// with a fast handler, reading the clock and recording with the
// OpenTelemetry SDK (about 250 ns here) would cost more than the handler.
// The counts are exact either way (kafkaboot.listener.records and
// .retries).
const (
	timeAllFrom = 20 * time.Microsecond
	sampleEvery = 64
)

func newWorker(m *member, k tp) *worker {
	w := &worker{
		m: m, c: m.c, k: k, inv: m.c.inv,
		retry:     m.c.retry != nil && m.c.retry.isRetryTopic(k.topic),
		signal:    make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		interrupt: make(chan struct{}, 1),
	}
	w.end.Store(-1)
	w.pos.Store(-1)
	return w
}

// enqueue queues the records of one partition from one poll, cut into
// chunks of at most max records (the unit of batch handler calls and of
// ack=batch commits), and wakes the worker once.
func (w *worker) enqueue(recs []*kgo.Record, max int, epoch uint64) {
	w.mu.Lock()
	for len(recs) > 0 {
		n := min(len(recs), max)
		w.queue = append(w.queue, chunk{recs: recs[:n:n], epoch: epoch})
		recs = recs[n:]
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// stop asks the worker to exit after the record (batch) in progress.
func (w *worker) stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

// abandoned reports whether the records of seek epoch epoch are given up:
// the worker stops, a seek replaced them, or their transaction is doomed.
func (w *worker) abandoned(epoch uint64) bool {
	return w.stopped() || w.seekEpoch.Load() != epoch || (w.m.txs != nil && w.m.txs.isDoomed())
}

func (w *worker) stopped() bool {
	select {
	case <-w.stopCh:
		return true
	default:
		return false
	}
}

func (w *worker) interruptWaits() {
	select {
	case w.interrupt <- struct{}{}:
	default:
	}
}

func (w *worker) start() { w.startOnce.Do(func() { go w.run() }) }

func (w *worker) run() {
	defer close(w.done)
	defer w.discard()
	for {
		ch, ok := w.next()
		if !ok {
			return
		}
		w.process(ch)
	}
}

func (w *worker) next() (chunk, bool) {
	for {
		if w.stopped() {
			return chunk{}, false
		}
		w.mu.Lock()
		if len(w.queue) > 0 {
			ch := w.queue[0]
			w.queue[0] = chunk{}
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return ch, true
		}
		w.mu.Unlock()
		select {
		case <-w.signal:
		case <-w.stopCh:
			return chunk{}, false
		}
	}
}

// discard drops queued records (they are not committed and will be
// delivered again to whoever owns the partition next).
func (w *worker) discard() {
	w.mu.Lock()
	n := 0
	for _, ch := range w.queue {
		n += len(ch.recs)
	}
	w.queue = nil
	w.mu.Unlock()
	w.m.release(n)
}

// sleep waits d; false if the wait was aborted (stop, seek, hard stop).
func (w *worker) sleep(d time.Duration) bool {
	select {
	case <-w.interrupt:
		return false
	default:
	}
	if d <= 0 {
		return !w.stopped() && w.m.r.hardCtx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stopCh:
	case <-w.interrupt:
	case <-w.m.r.hardCtx.Done():
	}
	return false
}

func (w *worker) process(ch chunk) {
	cur := w.seekEpoch.Load()
	if ch.epoch != cur {
		w.m.release(len(ch.recs))
		return
	}
	w.ensureTracker(cur)
	recs := ch.recs
	for len(recs) > 0 {
		seg, rest := recs, []*kgo.Record(nil)
		var due time.Time
		if w.retry {
			// A retry topic's records wait for their due time; the
			// records before the first one not due are handled now.
			if i, d := firstNotDue(recs, time.Now()); i >= 0 {
				seg, rest, due = recs[:i], recs[i:], d
			}
		}
		if len(seg) > 0 && !w.processSegment(seg, cur) {
			w.m.release(len(rest))
			w.flushSucceeded()
			return
		}
		if len(rest) == 0 {
			break
		}
		if w.stopped() || w.seekEpoch.Load() != cur || w.m.r.hardCtx.Err() != nil {
			w.m.release(len(rest))
			w.flushSucceeded()
			return
		}
		if wait := time.Until(due); wait <= w.c.retry.shortWait {
			// Due within about one fetch: wait here. A false return
			// with the worker still current was a stale interrupt.
			w.sleep(wait)
			recs = rest
			continue
		}
		// Not due for a while: pause the partition and rewind to the
		// record, so that nothing of it is held while it waits.
		w.m.release(len(rest))
		w.m.park(w, rest[0].Offset, due)
		break
	}
	w.flushSucceeded()
	switch w.c.ackMode {
	case listener.AckBatch, listener.AckManual:
		w.m.kickCommit()
	}
}

// processSegment handles recs, records of one chunk, releasing them to
// the poll loop; false if it stopped early (stop, seek, hard stop).
func (w *worker) processSegment(recs []*kgo.Record, cur uint64) bool {
	if w.inv.Batch() {
		w.processBatch(recs, cur)
		w.m.release(len(recs))
		return true
	}
	if w.c.lanes > 1 {
		w.processLanes(recs, cur)
		w.m.release(len(recs))
		return true
	}
	// Finished records are released to the poll loop in groups: the
	// in-flight count is shared by all workers of the member.
	const releaseEvery = 64
	released := 0
	for i, r := range recs {
		if w.abandoned(cur) {
			w.m.release(len(recs) - released)
			return false
		}
		w.processRecord(r)
		if i+1-released >= releaseEvery {
			w.m.release(i + 1 - released)
			released = i + 1
		}
	}
	w.m.release(len(recs) - released)
	return true
}

// firstNotDue returns the index of the first record of a retry topic not
// due at now and its due time, or -1.
func firstNotDue(recs []*kgo.Record, now time.Time) (int, time.Time) {
	for i, r := range recs {
		if due, ok := retryDue(r); ok && due.After(now) {
			return i, due
		}
	}
	return -1, time.Time{}
}

// flushSucceeded counts the records finished with success since the last
// flush into the metrics: once per chunk rather than per record.
func (w *worker) flushSucceeded() {
	if w.stats.succeeded > 0 {
		w.c.tel.Records(w.k.topic, telemetry.OutcomeSuccess, w.stats.succeeded)
		w.stats.succeeded = 0
	}
}

// ensureTracker makes sure the tracker belongs to the current seek epoch;
// after a seek, progress of the previous position is committed first.
func (w *worker) ensureTracker(epoch uint64) {
	tr := w.tr.Load()
	if tr != nil && tr.epoch == epoch {
		return
	}
	if tr != nil {
		if err := w.m.commitSync(); err != nil {
			w.c.log.Warn("kafka listener: commit before seek failed", "topic", w.k.topic, "partition", w.k.partition, "err", err)
		}
	}
	w.tr.Store(newTracker(epoch))
}

// processed runs the ack mode's commit trigger after n records are done.
func (w *worker) processed(n int) {
	if s := w.m.txs; s != nil {
		// Transactional: the transaction commits; count what finished.
		s.mu.Lock()
		s.finished += int64(n)
		s.mu.Unlock()
		return
	}
	switch w.c.ackMode {
	case listener.AckRecord:
		if err := w.m.commitSync(); err != nil && !errors.Is(err, ErrNotRunning) {
			w.c.log.Warn("kafka listener: record commit failed", "topic", w.k.topic, "partition", w.k.partition, "err", err)
		}
	case listener.AckCount, listener.AckCountTime:
		if w.m.count.Add(int64(n)) >= int64(w.c.ackCount) {
			w.m.count.Store(0)
			if err := w.m.commitSync(); err != nil && !errors.Is(err, ErrNotRunning) {
				w.c.log.Warn("kafka listener: count commit failed", "topic", w.k.topic, "partition", w.k.partition, "err", err)
			}
		}
	}
}

type outcome uint8

const (
	outcomeAborted outcome = iota // not finished; not committed
	outcomeDone                   // processed or recovered: committable
	outcomeHandled                // handled, committable once acknowledged
)

func (w *worker) processRecord(r *kgo.Record) {
	tr := w.tr.Load()
	w.cur.Store(r)
	if w.c.ackMode.Manual() {
		// Acknowledgments may come later and out of order: track the
		// record from the start.
		tr.begin(r)
		switch w.deliver(r, tr, &w.stats) {
		case outcomeDone:
			tr.done(r.Offset)
			w.pos.Store(r.Offset + 1)
			w.processed(1)
		case outcomeHandled:
			w.pos.Store(r.Offset + 1)
			w.processed(1)
		}
		return
	}
	// Automatic ack modes finish records in order on this goroutine, so
	// the record is registered only once its outcome is known.
	switch w.deliver(r, tr, &w.stats) {
	case outcomeDone:
		tr.finish(r)
		w.pos.Store(r.Offset + 1)
		w.processed(1)
	case outcomeHandled: // manual modes only
	default:
		tr.begin(r) // never done: nothing after it is committed in this epoch
	}
}

// processLanes handles a chunk of a listener with ordering=key or none:
// every record is registered with the tracker in offset order (with manual
// acks, an acknowledgment marks its record done, in any order), then the
// records go to c.lanes goroutines, by key (ordering=key: one key's
// records on one lane, in order) or in turn (ordering=none), and each lane
// handles its records in order. A record done is marked in the tracker,
// which commits only the contiguous prefix of done records; a lane whose
// delivery is aborted (stop, seek, hard stop) stops there, and its
// remaining records stay unfinished, so nothing after them is committed.
// The chunk is finished when every lane is.
func (w *worker) processLanes(recs []*kgo.Record, epoch uint64) {
	tr := w.tr.Load()
	for _, r := range recs {
		tr.begin(r)
	}
	lanes := make([][]*kgo.Record, w.c.lanes)
	for i, r := range recs {
		k := i % len(lanes)
		if w.c.ordering == listener.OrderKey {
			h := fnv.New32a()
			h.Write(r.Key)
			k = int(h.Sum32() % uint32(len(lanes)))
		}
		lanes[k] = append(lanes[k], r)
	}
	var (
		wg    sync.WaitGroup
		stats = make([]laneStats, len(lanes))
		done  atomic.Int64
	)
	for i, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls := &stats[i]
			ls.timeAll = w.stats.timeAll
			for _, r := range lane {
				if w.abandoned(epoch) {
					return
				}
				w.cur.Store(r)
				switch w.deliver(r, tr, ls) {
				case outcomeDone:
					tr.done(r.Offset)
					done.Add(1)
				case outcomeHandled:
					// Manual acks: its acknowledgment marks it done.
				default:
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, ls := range stats {
		w.stats.succeeded += ls.succeeded
		w.stats.calls += ls.calls
	}
	if next := tr.committable(); next >= 0 {
		w.pos.Store(next)
	}
	if n := done.Load(); n > 0 {
		w.processed(int(n))
	}
}

type nackError struct{ sleep time.Duration }

func (e *nackError) Error() string { return "nack" }

// deliver runs the record through the handler with retries and recovery.
func (w *worker) deliver(r *kgo.Record, tr *tracker, ls *laneStats) outcome {
	if w.m.txs != nil {
		return w.deliverTx(r, tr, ls)
	}
	var (
		failures int
		first    time.Time
		eh       = w.c.eh
	)
	for {
		ctx, err := w.attempt(r, tr, failures+1, ls)
		if err == nil {
			ls.succeeded++
			if w.c.ackMode.Manual() {
				return outcomeHandled
			}
			return outcomeDone
		}
		var nack *nackError
		if errors.As(err, &nack) {
			if !w.sleep(nack.sleep) {
				return outcomeAborted
			}
			continue
		}
		if w.m.r.hardCtx.Err() != nil {
			return outcomeAborted
		}
		if errors.Is(err, serde.ErrRegistryUnavailable) {
			// Not the record's fault and not a failure of its handler:
			// wait for the schema registry as long as it takes.
			w.c.log.Warn("kafka listener: schema registry unavailable; the record waits", "topic", w.k.topic,
				"partition", w.k.partition, "offset", r.Offset, "err", err)
			if !w.sleep(eh.recoveryInterval()) {
				return outcomeAborted
			}
			continue
		}
		failures++
		if first.IsZero() {
			first = time.Now()
		}
		retryable := eh.Retryable(err)
		attempt := failures
		if w.c.retry != nil {
			attempt += retryAttempt(r) - 1 // deliveries before this one, through retry topics
		}
		w.logFailure([]*kgo.Record{r}, err, attempt, retryable)
		if retryable {
			if d, ok := eh.backOff().Next(failures, time.Since(first)); ok {
				if !w.sleep(d) {
					return outcomeAborted
				}
				w.c.tel.Retry(r.Topic)
				continue
			}
		}
		if !w.recover(ctx, []*kgo.Record{r}, err, failures, first) {
			return outcomeAborted
		}
		return outcomeDone
	}
}

// attempt is one handler call for r (the attempt-th), in its own span
// when tracing; it returns the call's context, which a dead letter of r
// continues the trace from.
func (w *worker) attempt(r *kgo.Record, tr *tracker, attempt int, ls *laneStats) (context.Context, error) {
	// The span covers decoding too: a record that cannot be decoded or
	// validated fails its processing, and its dead letter continues the
	// trace.
	ls.calls++
	// Retries are always timed: they are few, and slow by nature.
	measure := w.c.tel.MetricsEnabled() && (ls.timeAll || attempt > 1 || ls.calls%sampleEvery == 0)
	var start time.Time
	if measure {
		start = time.Now()
	}
	ctx, span := w.c.tel.ProcessAt(w.m.handlerCtx(), r, attempt, start, measure)
	end := func(err error) {
		if d := span.End(err); d > 0 { // measured
			ls.timeAll = d >= timeAllFrom
		}
	}
	p, err := w.inv.Decode(w.c.deser, r)
	if err != nil {
		end(err)
		return ctx, err
	}
	var (
		a    *ack
		ackI listener.Acknowledgment
	)
	if w.c.ackMode.Manual() {
		a = &ack{w: w, tr: tr, offsets: []int64{r.Offset}}
		ackI = a
	}
	w.calling.Store(ls.calls)
	reply, err := w.inv.Invoke(ctx, r, p, ackI)
	w.calling.Store(0)
	if a != nil {
		if d, nacked := a.finish(); nacked {
			end(nil)
			return ctx, &nackError{d}
		}
	}
	if err == nil && reply != nil {
		err = w.c.sendReply(ctx, r, reply)
	}
	end(err)
	return ctx, err
}

// recover hands records to the recoverer until it succeeds; false if
// aborted (stop, seek, hard stop) first. ctx is the last handler call's
// (its trace goes on in the dead letter).
func (w *worker) recover(ctx context.Context, recs []*kgo.Record, err error, failures int, first time.Time) bool {
	f := &Failure{ListenerID: w.c.id, Group: w.c.group, DLT: w.c.ep.DLT, Records: recs, Err: err,
		Attempts: failures, FirstFailure: first}
	for {
		rerr := w.c.recoverer.Recover(ctx, f)
		if rerr == nil {
			outcome := telemetry.OutcomeRecovered
			if _, dl := w.c.recoverer.(*DeadLetterRecoverer); dl && f.DLT != listener.DLTNone {
				outcome = telemetry.OutcomeDeadLettered
			}
			if f.outcome != "" {
				outcome = f.outcome
			}
			w.c.tel.Records(w.k.topic, outcome, len(recs))
			return true
		}
		w.c.log.Error("kafka listener: recovering failed records failed; the records stay uncommitted and recovery is retried",
			"topic", w.k.topic, "partition", w.k.partition, "offset", recs[0].Offset, "records", len(recs), "err", rerr)
		if !w.sleep(w.c.eh.recoveryInterval()) {
			return false
		}
	}
}

func (w *worker) logFailure(recs []*kgo.Record, err error, failures int, retryable bool) {
	args := []any{"topic", w.k.topic, "partition", w.k.partition, "offset", recs[0].Offset,
		"records", len(recs), "attempt", failures, "retryable", retryable, "err", err}
	var pe *listener.PanicError
	if errors.As(err, &pe) && failures == 1 {
		args = append(args, "stack", string(pe.Stack))
	}
	w.c.log.Warn("kafka listener: delivery failed", args...)
}

// ---- batches ----

func (w *worker) processBatch(recs []*kgo.Record, epoch uint64) {
	tr := w.tr.Load()
	if len(recs) > 0 {
		w.cur.Store(recs[0])
	}
	for _, r := range recs {
		tr.begin(r)
	}
	rest := recs
	for len(rest) > 0 {
		if w.stopped() || w.seekEpoch.Load() != epoch {
			return
		}
		ps := make([]listener.Payload, 0, len(rest))
		bad, badErr := -1, error(nil)
		for i, r := range rest {
			p, err := w.inv.Decode(w.c.deser, r)
			if err != nil {
				bad, badErr = i, err
				break
			}
			ps = append(ps, p)
		}
		if bad == 0 && errors.Is(badErr, serde.ErrRegistryUnavailable) {
			// Not the record's fault: wait for the schema registry and
			// decode again.
			w.logFailure(rest[:1], badErr, 1, true)
			if !w.sleep(w.c.eh.recoveryInterval()) {
				return
			}
			continue
		}
		if bad == 0 {
			// A record that cannot be decoded or validated never reaches
			// the handler: straight to the recoverer.
			w.logFailure(rest[:1], badErr, 1, false)
			if !w.recover(w.m.handlerCtx(), rest[:1], badErr, 1, time.Now()) {
				return
			}
			w.markDone(tr, rest[:1])
			rest = rest[1:]
			continue
		}
		n := len(rest)
		if bad > 0 {
			n = bad
		}
		if !w.deliverBatch(rest[:n], ps[:n], tr) {
			return
		}
		rest = rest[n:]
	}
}

func (w *worker) markDone(tr *tracker, recs []*kgo.Record) {
	for _, r := range recs {
		tr.done(r.Offset)
	}
	if len(recs) > 0 {
		w.pos.Store(recs[len(recs)-1].Offset + 1)
	}
	w.processed(len(recs))
}

// deliverBatch runs a batch through the handler with retries and recovery;
// false if aborted.
func (w *worker) deliverBatch(sub []*kgo.Record, ps []listener.Payload, tr *tracker) bool {
	var (
		failures int
		first    time.Time
		failing  int64 = -1 // offset of the record a BatchListenerFailedError points at
		eh             = w.c.eh
	)
	for len(sub) > 0 {
		var (
			a    *ack
			ackI listener.Acknowledgment
		)
		if w.c.ackMode.Manual() {
			offs := make([]int64, len(sub))
			for i, r := range sub {
				offs[i] = r.Offset
			}
			a = &ack{w: w, tr: tr, offsets: offs}
			ackI = a
		}
		ctx, span := w.c.tel.ProcessBatch(w.m.handlerCtx(), sub, failures+1)
		w.stats.calls++
		w.calling.Store(w.stats.calls)
		err := w.inv.InvokeBatch(ctx, sub, ps, ackI)
		w.calling.Store(0)
		span.End(err)
		if a != nil {
			if d, nacked := a.finish(); nacked {
				if !w.sleep(d) {
					return false
				}
				continue
			}
		}
		if err == nil {
			w.c.tel.Records(w.k.topic, telemetry.OutcomeSuccess, len(sub))
			if a == nil {
				w.markDone(tr, sub)
			} else {
				w.pos.Store(sub[len(sub)-1].Offset + 1)
				w.processed(len(sub))
			}
			return true
		}
		if w.m.r.hardCtx.Err() != nil {
			return false
		}
		var bf *BatchListenerFailedError
		if errors.As(err, &bf) && bf.Index >= 0 && bf.Index < len(sub) {
			if bf.Index > 0 {
				w.c.tel.Records(w.k.topic, telemetry.OutcomeSuccess, bf.Index)
				w.markDone(tr, sub[:bf.Index])
				sub, ps = sub[bf.Index:], ps[bf.Index:]
			}
			if sub[0].Offset != failing {
				failing, failures, first = sub[0].Offset, 0, time.Time{}
			}
			cause := bf.Err
			if cause == nil {
				cause = err
			}
			failures++
			if first.IsZero() {
				first = time.Now()
			}
			retryable := eh.Retryable(cause)
			w.logFailure(sub[:1], cause, failures, retryable)
			if retryable {
				if d, ok := eh.backOff().Next(failures, time.Since(first)); ok {
					if !w.sleep(d) {
						return false
					}
					w.c.tel.Retry(w.k.topic)
					continue
				}
			}
			if !w.recover(ctx, sub[:1], cause, failures, first) {
				return false
			}
			w.markDone(tr, sub[:1])
			sub, ps = sub[1:], ps[1:]
			failing, failures, first = -1, 0, time.Time{}
			continue
		}
		failures++
		if first.IsZero() {
			first = time.Now()
		}
		retryable := eh.Retryable(err)
		w.logFailure(sub, err, failures, retryable)
		if retryable {
			if d, ok := eh.backOff().Next(failures, time.Since(first)); ok {
				if !w.sleep(d) {
					return false
				}
				w.c.tel.Retry(w.k.topic)
				continue
			}
		}
		if !w.recover(ctx, sub, err, failures, first) {
			return false
		}
		w.markDone(tr, sub)
		return true
	}
	return true
}

// ---- manual acknowledgment ----

// ack implements listener.Acknowledgment for one record or batch.
type ack struct {
	w       *worker
	tr      *tracker
	offsets []int64

	mu       sync.Mutex
	returned bool
	acked    bool
	nacked   bool
	sleep    time.Duration
}

func (a *ack) Acknowledge() {
	a.mu.Lock()
	if a.acked || a.nacked {
		a.mu.Unlock()
		return
	}
	a.acked = true
	returned := a.returned
	a.mu.Unlock()
	for _, o := range a.offsets {
		a.tr.done(o)
	}
	switch {
	case a.w.c.ackMode == listener.AckManualImmediate:
		if err := a.w.m.commitSync(); err != nil && !errors.Is(err, ErrNotRunning) {
			a.w.c.log.Warn("kafka listener: immediate commit failed", "topic", a.w.k.topic, "partition", a.w.k.partition, "err", err)
		}
	case returned:
		a.w.m.kickCommit()
	}
}

func (a *ack) Nack(sleep time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acked || a.returned {
		a.w.c.log.Warn("kafka listener: Nack ignored: record already acknowledged or handler returned",
			"topic", a.w.k.topic, "partition", a.w.k.partition, "offset", a.offsets[0])
		return
	}
	a.nacked, a.sleep = true, sleep
}

func (a *ack) finish() (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.returned = true
	return a.sleep, a.nacked
}
