package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
)

// followerState is what a leader knows of one follower.
type followerState struct {
	leo          int64     // the follower's log end offset, -1 until it fetches
	lastCaughtUp time.Time // when the follower last had everything the leader had
	// part is the partition in the follower's fetch session, when it
	// fetches in one: each of the session's fetches leaves out the
	// partitions whose position did not change, so while the follower
	// fetches and its position is this log's end, it is caught up as of
	// its session's last fetch (caughtUp), without re-reading the
	// partition.
	part *sessionPart
}

// caughtUp is when the follower last had everything the leader had,
// counting its session's fetches that left the partition out. p.mu must be
// held.
func (p *partition) caughtUp(f *followerState) time.Time {
	t := f.lastCaughtUp
	if sp := f.part; sp != nil && !sp.gone.Load() && f.leo >= p.log.EndOffset() {
		if seen := time.Unix(0, sp.s.seen.Load()); seen.After(t) {
			t = seen
		}
	}
	return t
}

// setState applies the controller's view of the partition: leadership,
// epoch, replicas and ISR.
func (p *partition) setState(st *controller.Partition, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasLeader, oldEpoch := p.leader.Load(), p.leaderEpoch.Load()
	p.leaderID = st.Leader
	p.replicas = slices.Clone(st.Replicas)
	p.isr = slices.Clone(st.ISR)
	p.partEpoch = st.Epoch
	p.isrSize.Store(int32(len(st.ISR)))
	p.leaderEpoch.Store(st.LeaderEpoch)
	lead := st.Leader == p.self
	p.leader.Store(lead)
	if !lead || oldEpoch != st.LeaderEpoch {
		p.recent.Store(nil)
	}
	if lead && (!wasLeader || oldEpoch != st.LeaderEpoch) {
		// A new leadership: forget what followers had, give them a
		// full lag period to catch up, and open an epoch in the cache.
		p.followers = map[int32]*followerState{}
		for _, r := range st.Replicas {
			if r != p.self {
				p.followers[r] = &followerState{leo: -1, lastCaughtUp: now}
			}
		}
		if n := len(p.epochs); n == 0 || p.epochs[n-1].Epoch < st.LeaderEpoch {
			p.assignEpoch(st.LeaderEpoch, p.log.EndOffset())
		}
	}
	if lead {
		p.advanceHighWatermark()
	}
	p.notify()
}

// isrProposal is an ISR change a leader asked the controller for, with
// the leader and partition epochs it was decided at: the controller refuses
// it if the partition changed since.
type isrProposal struct {
	isr            []int32
	leaderEpoch    int32
	partitionEpoch int32
}

// propose records an ISR change to ask for. p.mu must be held.
func (p *partition) propose(isr []int32) {
	p.isrPending = true
	p.proposal = isrProposal{isr: isr, leaderEpoch: p.leaderEpoch.Load(), partitionEpoch: p.partEpoch}
}

// divergence compares a follower's fetch position with this leader's log
// (KIP-320): the follower's last fetched epoch must end, here, at or after
// its fetch offset. When it does not, the follower must truncate to the
// returned epoch's end offset before its fetch offset means anything.
func (p *partition) divergence(lastFetchedEpoch int32, fetchOffset int64) (epoch int32, end int64, diverged bool) {
	if lastFetchedEpoch < 0 {
		return 0, 0, false
	}
	epoch, end = p.endOffsetForEpoch(lastFetchedEpoch)
	return epoch, end, epoch != lastFetchedEpoch || end < fetchOffset
}

// followerFetched records a follower's fetch at offset: its log end
// offset. It reports whether it proposed an ISR expansion, for the node to
// send (changeISR): when the follower is out of the ISR and has caught up
// (to the high watermark and into the current leader epoch).
//
// sp is the partition in the follower's live fetch session (nil: it
// fetches without one).
func (p *partition) followerFetched(replica int32, offset int64, now time.Time, sp *sessionPart) (expand bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.followers[replica]
	if f == nil || !p.leader.Load() || offset > p.log.EndOffset() {
		return false // an offset beyond this log is out of range, not progress
	}
	f.leo, f.part = offset, sp
	if offset >= p.log.EndOffset() {
		f.lastCaughtUp = now
	}
	p.advanceHW(true)
	if slices.Contains(p.isr, replica) || p.isrPending {
		return false
	}
	epochStart := int64(0)
	if n := len(p.epochs); n > 0 {
		epochStart = p.epochs[n-1].Start
	}
	if offset >= p.hwm.Load() && offset >= epochStart {
		isr := append(slices.Clone(p.isr), replica)
		slices.Sort(isr)
		p.propose(isr)
		return true
	}
	return false
}

// laggingISR proposes the ISR without the followers that have not caught
// up within lag, and reports whether it did.
func (p *partition) laggingISR(now time.Time, lag time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leader.Load() || p.isrPending || len(p.isr) <= 1 {
		return false
	}
	lagging := func(r int32) bool {
		f := p.followers[r]
		return r != p.self && f != nil && now.Sub(p.caughtUp(f)) > lag
	}
	if !slices.ContainsFunc(p.isr, lagging) {
		return false // the common case, without allocating
	}
	p.propose(slices.DeleteFunc(slices.Clone(p.isr), lagging))
	return true
}

// changeISR queues p's proposed ISR change (see propose); isrSender sends
// what is queued to the controller in one AlterPartitions call, as Kafka's
// AlterPartitionManager batches them, so that a restarted follower
// rejoining thousands of ISRs costs a handful of metadata changes, not one
// each. It never blocks.
func (n *Node) changeISR(p *partition) {
	n.isrMu.Lock()
	n.isrQueue = append(n.isrQueue, p)
	n.isrMu.Unlock()
	select {
	case n.isrWake <- struct{}{}:
	default:
	}
}

// isrSender sends queued ISR changes until the node stops. Changes queued
// while a call is in flight go together in the next one.
func (n *Node) isrSender() {
	defer n.wg.Done()
	ctx := context.Background()
	for {
		select {
		case <-n.stop:
			return
		case <-n.isrWake:
		}
		n.isrMu.Lock()
		queue := n.isrQueue
		n.isrQueue = nil
		n.isrMu.Unlock()
		if len(queue) > 0 {
			n.sendISRChanges(ctx, queue)
		}
	}
}

// sendISRChanges sends one batch of ISR changes. It holds no lock while the
// controller works: the controller publishes the change to every node,
// this one included, before it answers, so when a proposal is cleared its
// outcome is already applied.
func (n *Node) sendISRChanges(ctx context.Context, queue []*partition) {
	done := func(p *partition) {
		p.mu.Lock()
		p.isrPending = false
		p.proposal = isrProposal{}
		p.mu.Unlock()
	}
	if n.isolated.Load() {
		for _, p := range queue {
			done(p) // the controller is out of reach
		}
		return
	}
	changes := make([]controller.ISRChange, len(queue))
	for i, p := range queue {
		p.mu.Lock()
		pr := p.proposal
		p.mu.Unlock()
		changes[i] = controller.ISRChange{Topic: p.topicID, Partition: p.id, LeaderEpoch: pr.leaderEpoch, PartitionEpoch: pr.partitionEpoch, ISR: pr.isr}
	}
	errs, err := n.ctrl.AlterPartitions(ctx, n.cfg.ID, changes)
	changed := 0
	for i, p := range queue {
		done(p)
		switch {
		case err != nil:
		case errs[i] != nil:
			n.log.Debug("ISR change refused", "topic", p.topic, "partition", p.id, "isr", changes[i].ISR, "err", errs[i])
		default:
			changed++
			n.log.Debug("ISR changed", "topic", p.topic, "partition", p.id, "isr", changes[i].ISR)
		}
	}
	if err != nil {
		n.log.Warn("ISR changes failed", "partitions", len(queue), "err", err)
		return
	}
	n.log.Info("ISRs changed", "partitions", changed, "refused", len(queue)-changed)
}

// checkISRs shrinks the ISR of the partitions this node leads by the
// followers that fell behind by more than replica.lag.time.max.ms.
func (n *Node) checkISRs(ctx context.Context) {
	lag := n.cfg.Broker.Millis("replica.lag.time.max.ms")
	now := n.cfg.Now()
	for _, p := range n.allPartitions() {
		if p.laggingISR(now, lag) {
			n.changeISR(p)
		}
	}
}

// lastFetchedEpoch is the epoch of the last batch in the log, which a
// follower sends so that the leader can find where the logs diverge.
func (p *partition) lastFetchedEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	end := p.log.EndOffset()
	for i := len(p.epochs) - 1; i >= 0; i-- {
		if p.epochs[i].Start < end {
			return p.epochs[i].Epoch
		}
	}
	return -1
}

// errStaleFetch refuses applying a fetch answer to a replica whose
// leadership changed since the fetch was sent.
var errStaleFetch = errors.New("fetch answer from an earlier leader epoch")

// checkFetchEpoch checks, under p.mu, that a fetch answer sent at leader
// epoch epoch may still change this replica: it follows, at that epoch.
// An answer that crossed a leadership change (this replica became leader,
// or follows another leader now) must not append nor truncate: a leader
// that truncated itself on a stale divergence would drop what it
// acknowledged.
func (p *partition) checkFetchEpoch(epoch int32) error {
	if p.leader.Load() {
		return errNotLeader
	}
	if cur := p.leaderEpoch.Load(); cur != epoch {
		return fmt.Errorf("%w: sent at %d, now %d", errStaleFetch, epoch, cur)
	}
	return nil
}

// appendReplica appends batches fetched from the leader at leader epoch
// epoch, as they are (the leader assigned their offsets and epochs), and
// moves the follower's high watermark and log start offset up to the
// leader's.
func (p *partition) appendReplica(data []byte, leaderHWM, leaderStart int64, epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFetchEpoch(epoch); err != nil {
		return err
	}
	for rest := data; len(rest) > 0; {
		b, r, err := batch.Next(rest)
		if err != nil {
			break // a partial batch at the end of a fetch is normal
		}
		rest = r
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		end := p.log.EndOffset()
		if h.NextOffset() <= end {
			continue // already have it
		}
		if h.BaseOffset < end {
			return fmt.Errorf("replica of %s-%d: batch at %d, log ends at %d", p.topic, p.id, h.BaseOffset, end)
		}
		// (A batch beyond the end follows offsets the leader's cleaner
		// removed.)
		if err := p.log.AppendReplica(b); err != nil {
			return err
		}
		p.observe(b, &h)
	}
	if leaderStart > p.log.StartOffset() && leaderStart <= p.log.EndOffset() {
		if err := p.log.SetStartOffset(leaderStart); err != nil {
			return err
		}
	}
	p.txns.dropBelow(p.log.StartOffset())
	if p.setHWM(min(leaderHWM, p.log.EndOffset())) {
		p.notify()
	}
	return nil
}

// truncateTo removes the log from off on (a divergence found through the
// leader epochs, KIP-101/KIP-279, in a fetch answer sent at leader epoch
// epoch) and rebuilds the state derived from it.
func (p *partition) truncateTo(off int64, fully bool, epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFetchEpoch(epoch); err != nil {
		return err
	}
	var err error
	if fully {
		err = p.log.TruncateFully(off)
	} else if off < p.log.EndOffset() {
		err = p.log.Truncate(off)
	}
	if err != nil {
		return err
	}
	p.recent.Store(nil)
	end := p.log.EndOffset()
	p.epochs = slices.DeleteFunc(p.epochs, func(e epochEntry) bool { return e.Start >= end })
	// Producer and transaction state are rebuilt from the newest snapshot
	// at or below the new end and the log after it: truncations are
	// rare, and a rescan is right by construction.
	err = p.rescan(false)
	p.setHWM(min(p.hwm.Load(), end))
	p.notify()
	return err
}
