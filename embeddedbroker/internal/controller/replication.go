package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Replication errors returned by AlterISR.
var (
	// ErrStaleLeader means the caller is not the partition's leader at the
	// epoch it named (FENCED_LEADER_EPOCH).
	ErrStaleLeader = errors.New("controller: not the current leader and epoch")
	// ErrStalePartitionEpoch means the partition changed since the caller
	// read it; it must read the new state and decide again.
	ErrStalePartitionEpoch = errors.New("controller: stale partition epoch")
	// ErrIneligibleReplica means an ISR expansion named a replica that is
	// fenced or not a replica of the partition (INELIGIBLE_REPLICA).
	ErrIneligibleReplica = errors.New("controller: ineligible replica")
)

// Start starts the liveness loop that fences brokers whose heartbeats
// stopped. Close stops it.
func (l *Local) Start() {
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.livenessLoop()
}

// Close stops the liveness loop.
func (l *Local) Close() {
	if l.stop == nil {
		return
	}
	close(l.stop)
	<-l.done
	l.stop = nil
}

func (l *Local) livenessLoop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.checkLiveness()
		}
	}
}

// checkLiveness fences brokers whose session expired, returns leadership to
// preferred replicas, and publishes what changed.
func (l *Local) checkLiveness() {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	now := l.cfg.Now()
	img := cur.clone()
	changed := false
	for i := range img.Brokers {
		b := &img.Brokers[i]
		if !b.Fenced && now.Sub(l.lastSeen[b.ID]) > l.cfg.SessionTimeout {
			b.Fenced = true
			changed = true
			l.cfg.Logger.Warn("fencing broker: session expired", "broker", b.ID, "timeout", l.cfg.SessionTimeout)
		}
	}
	if changed {
		l.fixControllerID(img)
	}
	if l.reconcile(img) || changed {
		if err := l.commit(img); err != nil {
			l.cfg.Logger.Error("publishing metadata", "err", err)
		}
	}
}

func (l *Local) fixControllerID(img *Image) {
	if b, ok := img.Broker(img.ControllerID); ok && !b.Fenced {
		return
	}
	img.ControllerID = -1
	for _, b := range img.Brokers {
		if !b.Fenced {
			img.ControllerID = b.ID
			return
		}
	}
}

// Heartbeat records that a broker is alive; a fenced broker that
// heartbeats again is unfenced (its replicas rejoin ISRs as they catch up).
func (l *Local) Heartbeat(_ context.Context, id int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	img := l.img.Load()
	b, ok := img.Broker(id)
	if !ok {
		return fmt.Errorf("%w: broker %d is not registered", ErrBrokerNotAvailable, id)
	}
	l.lastSeen[id] = l.cfg.Now()
	if !b.Fenced {
		return nil
	}
	n := img.clone()
	i, _ := slices.BinarySearchFunc(n.Brokers, id, func(x Broker, id int32) int { return int(x.ID - id) })
	n.Brokers[i].Fenced = false
	l.fixControllerID(n)
	l.reconcile(n)
	return l.commit(n)
}

// AlterISR changes a partition's in-sync replicas at the request of its
// leader (Kafka's AlterPartition). The leader names its epoch and the
// partition epoch it read; a stale one is refused, so two leaders can never
// both change the ISR. An expansion may only add live replicas.
func (l *Local) AlterISR(_ context.Context, topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	t, st, ok := cur.Partition(topic, partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrUnknownTopic, topic, partition)
	}
	if st.Leader != leader || st.LeaderEpoch != leaderEpoch {
		return fmt.Errorf("%w: %s-%d is led by %d at epoch %d", ErrStaleLeader, topic, partition, st.Leader, st.LeaderEpoch)
	}
	if st.Epoch != partitionEpoch {
		return fmt.Errorf("%w: %s-%d is at partition epoch %d, not %d", ErrStalePartitionEpoch, topic, partition, st.Epoch, partitionEpoch)
	}
	if !slices.Contains(isr, leader) {
		return fmt.Errorf("%w: the ISR must contain the leader", ErrIneligibleReplica)
	}
	for _, r := range isr {
		b, ok := cur.Broker(r)
		if !slices.Contains(st.Replicas, r) || (!slices.Contains(st.ISR, r) && (!ok || b.Fenced)) {
			return fmt.Errorf("%w: %d", ErrIneligibleReplica, r)
		}
	}
	img := cur.clone()
	nt := t.clone()
	np := &nt.Partitions[partition]
	np.ISR = slices.Clone(isr)
	slices.Sort(np.ISR)
	np.Epoch++
	img.Topics[topic] = nt
	img.ByID[nt.ID] = nt
	return l.commit(img)
}

// reconcile brings every partition in line with broker liveness, as
// Kafka's controller does: fenced brokers leave ISRs (unless they are the
// last member, whose data is the only copy: the ISR keeps it and the
// partition goes offline), partitions without a live leader elect one from
// the ISR in replica order (any live replica when unclean election is
// enabled), and leadership returns to the preferred (first) replica when it
// is live and in sync and auto.leader.rebalance.enable is set. Topics it
// changes are copied. It reports whether anything changed.
func (l *Local) reconcile(img *Image) bool {
	alive := func(id int32) bool {
		b, ok := img.Broker(id)
		return ok && !b.Fenced
	}
	rebalance := l.cfg.Broker.Bool("auto.leader.rebalance.enable")
	changed := false
	for name, t := range img.Topics {
		var nt *Topic
		unclean := l.cfg.Broker.Topic(t.Configs, "unclean.leader.election.enable").Value == "true"
		for i := range t.Partitions {
			p := t.Partitions[i]
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !alive(r) })
			if len(isr) == 0 {
				isr = slices.Clone(p.ISR)
			}
			leader := p.Leader
			if leader < 0 || !alive(leader) || !slices.Contains(isr, leader) {
				leader = -1
				for _, r := range p.Replicas {
					if alive(r) && slices.Contains(isr, r) {
						leader = r
						break
					}
				}
				if leader < 0 && unclean {
					for _, r := range p.Replicas {
						if alive(r) {
							leader, isr = r, []int32{r}
							l.cfg.Logger.Warn("unclean leader election", "topic", name, "partition", i, "leader", r)
							break
						}
					}
				}
			} else if rebalance && len(p.Replicas) > 0 {
				if pref := p.Replicas[0]; pref != leader && alive(pref) && slices.Contains(isr, pref) {
					leader = pref
				}
			}
			if leader == p.Leader && slices.Equal(isr, p.ISR) {
				continue
			}
			if nt == nil {
				nt = t.clone()
			}
			np := &nt.Partitions[i]
			if leader != p.Leader {
				np.LeaderEpoch++
			}
			np.Leader, np.ISR = leader, isr
			np.Epoch++
			changed = true
		}
		if nt != nil {
			img.Topics[name] = nt
			if img.ByID != nil {
				img.ByID[nt.ID] = nt
			}
		}
	}
	return changed
}

// Election types of ElectLeaders (KIP-460).
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// Election outcomes of ElectLeaders, per partition.
var (
	// ErrElectionNotNeeded: the preferred replica already leads, or (for
	// an unclean election) the partition has a live leader.
	ErrElectionNotNeeded = errors.New("controller: election not needed")
	// ErrPreferredLeaderNotAvailable: the preferred replica is fenced or
	// not in the ISR.
	ErrPreferredLeaderNotAvailable = errors.New("controller: preferred leader not available")
	// ErrEligibleLeadersNotAvailable: no live replica can lead.
	ErrEligibleLeadersNotAvailable = errors.New("controller: no eligible leader available")
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectLeaders runs a preferred or unclean leader election on the given
// partitions (nil: every partition) and returns each one's outcome.
func (l *Local) ElectLeaders(_ context.Context, typ int8, parts []TopicPartition) (map[TopicPartition]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	if parts == nil {
		for name, t := range cur.Topics {
			for i := range t.Partitions {
				parts = append(parts, TopicPartition{name, int32(i)})
			}
		}
	}
	alive := func(id int32) bool { b, ok := cur.Broker(id); return ok && !b.Fenced }
	img := cur.clone()
	out := make(map[TopicPartition]error, len(parts))
	changed := false
	for _, tp := range parts {
		t, st, ok := img.Partition(tp.Topic, tp.Partition)
		if !ok {
			out[tp] = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, tp.Topic, tp.Partition)
			continue
		}
		leader, isr := st.Leader, st.ISR
		switch typ {
		case ElectPreferred:
			pref := st.Replicas[0]
			switch {
			case st.Leader == pref:
				out[tp] = ErrElectionNotNeeded
				continue
			case !alive(pref) || !slices.Contains(st.ISR, pref):
				out[tp] = ErrPreferredLeaderNotAvailable
				continue
			}
			leader = pref
		case ElectUnclean:
			if st.Leader >= 0 && alive(st.Leader) {
				out[tp] = ErrElectionNotNeeded
				continue
			}
			leader = -1
			for _, r := range st.Replicas {
				if alive(r) && slices.Contains(st.ISR, r) {
					leader = r
					break
				}
			}
			if leader < 0 {
				for _, r := range st.Replicas {
					if alive(r) {
						leader, isr = r, []int32{r}
						break
					}
				}
			}
			if leader < 0 {
				out[tp] = ErrEligibleLeadersNotAvailable
				continue
			}
		default:
			return nil, fmt.Errorf("%w: election type %d", ErrInvalidConfig, typ)
		}
		nt := t.clone()
		np := &nt.Partitions[tp.Partition]
		np.Leader, np.ISR = leader, slices.Clone(isr)
		np.LeaderEpoch++
		np.Epoch++
		img.Topics[tp.Topic] = nt
		img.ByID[nt.ID] = nt
		out[tp] = nil
		changed = true
	}
	if changed {
		if err := l.commit(img); err != nil {
			return nil, err
		}
	}
	return out, nil
}
