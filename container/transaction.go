package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/txscope"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTransactionalIDPrefix is the transactional id prefix of
// transactional listeners when none is configured.
const DefaultTransactionalIDPrefix = "kafkaboot-"

// Transactional listeners
//
// A member of a transactional container consumes and produces with one
// client (franz-go's GroupTransactSession, Kafka's KIP-447 fencing by
// group generation): for each poll it begins a transaction, hands the
// records to the partition workers, waits until every record is done,
// and ends the transaction, which commits the records' offsets together
// with everything the handlers sent through the handler context (the
// template, dead letters, replies). If anything goes wrong before the end
// (a rebalance, a stop cut short, a handler failure) the transaction is
// aborted: its records are delivered again, and what the aborted attempt
// sent is never seen by read_committed consumers.
//
// A failed handler call aborts the transaction, like Spring's container
// with a KafkaTransactionManager and its DefaultAfterRollbackProcessor:
// the member remembers the record's failures, waits the back off, and the
// poll's records come again in a new transaction; once the back off is
// exhausted (or at once for an error that is not retryable) the record
// goes to the recoverer (the dead-letter topic) inside the transaction
// that commits its offset.

// txPublisher sends through the transaction of the handler context when
// there is one, else through base.
type txPublisher struct{ base Publisher }

// ProduceSync implements Publisher.
func (p *txPublisher) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	if cl := txscope.Client(ctx); cl != nil {
		return cl.ProduceSync(ctx, rs...)
	}
	if p.base == nil {
		out := make(kgo.ProduceResults, len(rs))
		for i, r := range rs {
			out[i] = kgo.ProduceResult{Record: r, Err: errors.New("container: no publisher outside a transaction")}
		}
		return out
	}
	return p.base.ProduceSync(ctx, rs...)
}

// txRecord identifies a record across transactions.
type txRecord struct {
	topic     string
	partition int32
	offset    int64
}

// txFailure is what a member remembers of a record whose handler failed
// in an aborted transaction.
type txFailure struct {
	failures int
	first    time.Time
	err      error
	recover  bool // retries are over: recover it when it comes again
}

// txState is a transactional member's state across its transactions.
type txState struct {
	mu       sync.Mutex
	failed   map[txRecord]txFailure
	doomed   bool          // the current transaction must abort
	backOff  time.Duration // wait before the records come again
	records  int64         // records dispatched in this transaction
	finished int64         // records finished in this transaction
}

// failure returns what is remembered of r.
func (s *txState) failure(r *kgo.Record) (txFailure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failed[txRecord{r.Topic, r.Partition, r.Offset}]
	return f, ok
}

// forget drops what is remembered of r (handled or recovered).
func (s *txState) forget(r *kgo.Record) {
	s.mu.Lock()
	delete(s.failed, txRecord{r.Topic, r.Partition, r.Offset})
	s.mu.Unlock()
}

// doom records r's failure and makes the current transaction abort; the
// records come again after backOff.
func (s *txState) doom(r *kgo.Record, f txFailure, backOff time.Duration) {
	s.mu.Lock()
	s.failed[txRecord{r.Topic, r.Partition, r.Offset}] = f
	s.doomed = true
	s.backOff = max(s.backOff, backOff)
	s.mu.Unlock()
}

func (s *txState) isDoomed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doomed
}

// dropPartitions forgets the failures of partitions the member lost.
func (s *txState) dropPartitions(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.failed {
		for _, p := range parts[k.topic] {
			if p == k.partition {
				delete(s.failed, k)
			}
		}
	}
}

// pollLoopTx is the poll loop of a transactional member: one transaction
// per poll.
func (m *member) pollLoopTx() {
	defer close(m.pollDone)
	defer m.failSeeks()
	for m.waitReady() {
		fs, stop := m.poll()
		if stop {
			return
		}
		if fs.NumRecords() == 0 {
			continue
		}
		m.c.lastRecord.Store(time.Now().UnixNano())
		if began, goOn := m.begin(""); !began {
			if goOn {
				continue // the poll's records come again to the new client
			}
			return
		}
		m.dispatch(fs)
		// Every record of the poll is finished or dropped; workers are
		// not stopped while this loop runs, so a graceful stop finishes
		// the poll and commits it.
		for m.inflight.Load() > 0 {
			select {
			case <-m.ready:
			case <-m.r.hardCtx.Done():
				// Hard stop: the workers give up; wait for them to
				// release what they hold.
				for m.inflight.Load() > 0 {
					<-m.ready
				}
			}
		}
		if !m.endTx() {
			return
		}
	}
}

// maxFences is how many times in a row, without a committed transaction
// in between, a member replaces its fenced client before it stops the
// container: a producer fenced again at once is most likely fenced by
// another instance with the same transactional id.
const maxFences = 3

// isFenced reports whether err says the member's producer is fenced: a
// newer producer initialized its transactional id, or the coordinator
// aborted its transaction and bumped its epoch (a transaction that
// outlived transaction.timeout.ms, or franz-go's recovery from an
// EndTxn whose outcome it did not learn, which re-initializes its
// producer while the transaction is still open).
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// recoverFence replaces the member's client if err is a fence it may
// recover from (see WithStopContainerWhenFenced), reporting whether it did; the
// caller stops the container otherwise.
func (m *member) recoverFence(err error) bool {
	if !isFenced(err) || m.c.o.stopContainerWhenFenced || m.pollCtx.Err() != nil {
		return false
	}
	m.fences++
	if m.fences > maxFences {
		m.c.log.Error("kafka listener: producer fenced again without committing in between; is another instance using the same transactional id?",
			"member", m.idx, "transactional_id", m.txID, "fences", m.fences-1)
		return false
	}
	m.c.log.Warn("kafka listener: producer fenced; going on with a new client, the records of its transaction come again",
		"member", m.idx, "transactional_id", m.txID, "err", err)
	if rerr := m.replaceConn(); rerr != nil {
		m.c.log.Error("kafka listener: replacing the fenced client failed", "member", m.idx, "err", rerr)
		return false
	}
	return true
}

// replaceConn replaces the member's transactional client with a new one
// of the same transactional id, as Spring's container makes a new
// producer when its producer is fenced: the old client leaves the group
// (its partitions are revoked: their workers stop and what they did not
// commit comes again), the new one initializes the transactional id
// (bumping its epoch, which aborts anything the old one left open) and
// joins. It runs on the poll goroutine between transactions, so no
// handler is running.
func (m *member) replaceConn() error {
	m.conn.Load().sess.Close()
	conn, err := m.dial()
	if err != nil {
		return err
	}
	// Under pmu, as PausePartitions applies the set to the clients.
	m.c.pmu.Lock()
	if paused := m.c.pausedLocked(); len(paused) > 0 {
		conn.cl.PauseFetchPartitions(paused)
	}
	m.conn.Store(conn)
	m.c.pmu.Unlock()
	return nil
}

// begin begins a transaction (beginTx). If that fails with a fence the
// member recovers from, it reports goOn with a new client and no
// transaction; on any other failure it stops the container, what (if not
// empty) saying when it happened.
func (m *member) begin(what string) (began, goOn bool) {
	err := m.beginTx()
	switch {
	case err == nil:
		return true, true
	case m.recoverFence(err):
		return false, true
	}
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	m.c.failFatal(fmt.Errorf("container: listener %q: %w", m.c.id, err))
	return false, false
}

// rewind makes the workers drop what they hold of their partitions'
// records, which come again from the offsets the client now has.
func (m *member) rewind() {
	m.mu.Lock()
	for _, w := range m.workers {
		w.seekEpoch.Add(1)
	}
	m.mu.Unlock()
}

// beginTx begins a transaction; a transaction left open by an end that
// failed is aborted first.
func (m *member) beginTx() error {
	m.txs.mu.Lock()
	m.txs.doomed, m.txs.backOff, m.txs.records, m.txs.finished = false, 0, 0, 0
	m.txs.mu.Unlock()
	sess := m.conn.Load().sess
	err := sess.Begin()
	if err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, aerr := sess.End(ctx, kgo.TryAbort); aerr != nil {
		return fmt.Errorf("beginning a transaction: %w (aborting the previous one: %w)", err, aerr)
	}
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	return nil
}

// endTx ends the poll's transaction: a commit if every record finished and
// nothing doomed it, else an abort (the session then rewinds to the
// committed offsets). false means stop polling.
func (m *member) endTx() bool {
	m.txs.mu.Lock()
	commit := !m.txs.doomed && m.txs.finished == m.txs.records && m.r.hardCtx.Err() == nil
	backOff := m.txs.backOff
	records := m.txs.records
	m.txs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	committed, err := m.conn.Load().sess.End(ctx, kgo.TransactionEndTry(commit))
	m.c.tel.Commit(err)
	if err != nil {
		if m.recoverFence(err) {
			return true
		}
		if isFenced(err) || authorizationError(err) {
			m.c.failFatal(fmt.Errorf("container: listener %q: transaction: %w (a transaction that outlived the producer's transaction timeout, which the coordinator aborts and fences, or another producer with transactional id %q: the prefix must be unique per instance)",
				m.c.id, err, m.txID))
			return false
		}
		m.c.log.Warn("kafka listener: ending the transaction failed; learning its outcome from the coordinator", "member", m.idx, "records", records, "err", err)
		return m.settle()
	}
	if committed {
		m.fences = 0
		return true
	}
	if commit && err == nil {
		m.c.log.Info("kafka listener: transaction aborted by a rebalance; its records come again", "member", m.idx, "records", records)
	}
	// The records come again from the committed offsets: their trackers
	// start afresh.
	m.rewind()
	if backOff > 0 {
		t := time.NewTimer(backOff)
		defer t.Stop()
		select {
		case <-t.C:
		case <-m.pollCtx.Done():
		}
	}
	return true
}

// settle follows an end whose outcome the member did not learn (its
// EndTxn failed: the answer lost, the coordinator moved, the deadline
// passed). franz-go rewinds the member to the offsets it last knew to be
// committed, but the coordinator may have committed the transaction, and
// its records must not be processed again. settle makes franz-go
// re-initialize the producer, which it does at the next begin
// (InitProducerID with its epoch: a transaction the coordinator still has
// open is aborted, fencing the producer, and the member replaces its
// client; a finished one stays as it ended), then reads the group's
// committed offsets with RequireStable, which waits while a transaction's
// offsets are pending, and goes on from them. false means stop polling.
func (m *member) settle() bool {
	if began, goOn := m.begin("after a failed transaction end"); !began {
		return goOn
	}
	ctx, cancel := context.WithTimeout(m.pollCtx, 30*time.Second)
	defer cancel()
	sess := m.conn.Load().sess
	if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
		m.c.log.Warn("kafka listener: ending an empty transaction failed", "member", m.idx, "err", err)
	}
	m.mu.Lock()
	owned := map[string][]int32{}
	for k := range m.workers {
		owned[k.topic] = append(owned[k.topic], k.partition)
	}
	m.mu.Unlock()
	offsets, err := m.stableCommitted(ctx, owned)
	if err != nil {
		// Not expected while the coordinator answers: the records since
		// the offsets franz-go knows come again (at least once).
		m.c.log.Error("kafka listener: reading the committed offsets after a failed transaction end failed; going on from the last offsets known here",
			"member", m.idx, "err", err)
	}
	m.client().SetOffsets(offsets)
	m.rewind()
	return true
}

// stableCommitted reads the group's committed offsets of the owned
// partitions with RequireStable, retrying while any is unstable (its
// transaction not finished) or fails, until ctx ends. Partitions without
// a committed offset are left out.
func (m *member) stableCommitted(ctx context.Context, owned map[string][]int32) (map[string]map[int32]kgo.EpochOffset, error) {
	backoff := 20 * time.Millisecond
	for {
		offs, err := m.admin().FetchOffsets(kadm.RequireStable(ctx), m.c.group)
		if err == nil {
			out := map[string]map[int32]kgo.EpochOffset{}
			for t, ps := range owned {
				for _, p := range ps {
					o, ok := offs.Lookup(t, p)
					if ok && o.Err != nil {
						err = fmt.Errorf("%s[%d]: %w", t, p, o.Err)
						break
					}
					if !ok || o.At < 0 {
						continue
					}
					if out[t] == nil {
						out[t] = map[int32]kgo.EpochOffset{}
					}
					out[t][p] = kgo.EpochOffset{Epoch: o.LeaderEpoch, Offset: o.At}
				}
			}
			if err == nil {
				return out, nil
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		m.c.log.Debug("kafka listener: committed offsets not readable yet", "member", m.idx, "err", err)
		backoff = min(2*backoff, time.Second)
	}
}

// deliverTx is deliver for transactional listeners: a record that failed
// before is recovered now if its retries are over; a failure dooms the
// transaction, to be retried after the back off in a new one.
func (w *worker) deliverTx(r *kgo.Record, tr *tracker, ls *laneStats) outcome {
	s := w.m.txs
	prev, failedBefore := s.failure(r)
	if failedBefore && prev.recover {
		ctx := w.m.handlerCtx()
		if !w.recover(ctx, []*kgo.Record{r}, prev.err, prev.failures, prev.first) {
			return outcomeAborted
		}
		s.forget(r)
		return outcomeDone
	}
	_, err := w.attempt(r, tr, prev.failures+1, ls)
	if err == nil {
		if failedBefore {
			s.forget(r)
		}
		ls.succeeded++
		return outcomeDone
	}
	if w.m.r.hardCtx.Err() != nil {
		return outcomeAborted
	}
	if errors.Is(err, serde.ErrRegistryUnavailable) {
		// Not a failure of the record: abort and come again once the
		// registry answers.
		s.doom(r, prev, w.c.eh.recoveryInterval())
		return outcomeAborted
	}
	f := prev
	f.failures++
	f.err = err
	if f.first.IsZero() {
		f.first = time.Now()
	}
	eh := w.c.eh
	retryable := eh.Retryable(err)
	w.logFailure([]*kgo.Record{r}, err, f.failures, retryable)
	var wait time.Duration
	if d, ok := eh.backOff().Next(f.failures, time.Since(f.first)); retryable && ok {
		wait = d
		w.c.tel.Retry(r.Topic)
	} else {
		f.recover = true
	}
	s.doom(r, f, wait)
	return outcomeAborted
}
