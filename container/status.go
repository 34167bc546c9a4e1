package container

import (
	"slices"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/connwatch"
	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// State is where a container is in its lifecycle.
type State int32

// States of a container.
const (
	// StateStopped: never started, or stopped.
	StateStopped State = iota
	// StateStarting: started, and no member has been given partitions yet
	// (the group is forming, or the topics do not exist yet).
	StateStarting
	// StateRunning: consuming.
	StateRunning
	// StatePaused: running, and paused with Pause.
	StatePaused
	// StateFailed: the last Start failed (Status.Err says why).
	StateFailed
)

// String returns the state's name: "stopped", "starting", "running",
// "paused" or "failed".
func (s State) String() string {
	switch s {
	case StateStopped:
		return "stopped"
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StatePaused:
		return "paused"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// Status is a snapshot of a container for health checks and operators.
type Status struct {
	ListenerID string
	Group      string
	State      State
	// Err is why the container failed (StateFailed).
	Err error
	// BrokersReachable is false while the container's clients cannot
	// connect to any broker they try; BrokerError is the last connection
	// error then.
	BrokersReachable bool
	BrokerError      error
	// Partitions are the partitions the members own, sorted.
	Partitions []PartitionStatus
}

// PartitionStatus is one owned partition's progress.
type PartitionStatus struct {
	Topic     string
	Partition int32
	// Lag is the records between the next record to process and the end
	// of the partition as of the last fetch (the high watermark, or the
	// last stable offset for read_committed consumers); -1 while unknown
	// (nothing fetched yet). For read_committed consumers of transactional
	// topics, a final transaction marker counts as one.
	Lag int64
	// LagTime is the age of the oldest record fetched and not yet
	// processed (its timestamp to now); 0 when none is waiting.
	LagTime time.Duration
	// Paused is true for partitions paused with PausePartitions.
	Paused bool
}

// MaxLag returns the largest known lag and lag time over the partitions.
func (s Status) MaxLag() (records int64, age time.Duration) {
	for _, p := range s.Partitions {
		records, age = max(records, p.Lag), max(age, p.LagTime)
	}
	return records, age
}

// State returns the container's state.
func (c *Container) State() State {
	st := State(c.state.Load())
	if st == StateRunning && c.paused.Load() {
		return StatePaused
	}
	return st
}

// Status returns a snapshot of the container: state, broker connectivity
// and each owned partition's lag.
func (c *Container) Status() Status {
	s := Status{ListenerID: c.id, Group: c.group, State: c.State(), BrokersReachable: true}
	if p := c.failure.Load(); p != nil && s.State == StateFailed {
		s.Err = *p
	}
	r := c.cur.Load()
	if r == nil {
		return s
	}
	if down, _ := r.watch.Down(); down {
		s.BrokersReachable, s.BrokerError = false, r.watch.LastError()
	}
	now := time.Now()
	c.pmu.Lock()
	paused := c.pausedLocked()
	c.pmu.Unlock()
	for _, m := range r.members {
		for _, w := range m.workerList() {
			lag, age := w.lag(now)
			s.Partitions = append(s.Partitions, PartitionStatus{Topic: w.k.topic, Partition: w.k.partition,
				Lag: lag, LagTime: age, Paused: slices.Contains(paused[w.k.topic], w.k.partition)})
		}
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionStatus) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return s
}

// lag returns the worker's lag in records (-1 unknown) and the age of the
// oldest record waiting.
func (w *worker) lag(now time.Time) (int64, time.Duration) {
	end, next := w.end.Load(), w.pos.Load()
	if end < 0 {
		return -1, 0
	}
	head := w.oldest(next)
	if next < 0 {
		if head == nil {
			return -1, 0
		}
		next = head.Offset
	}
	lag := max(0, end-next)
	if lag == 0 || head == nil {
		return lag, 0
	}
	return lag, max(0, now.Sub(head.Timestamp))
}

// oldest returns the oldest record the worker has not finished: the one
// in progress, or the first queued.
func (w *worker) oldest(next int64) *kgo.Record {
	if r := w.cur.Load(); r != nil && r.Offset >= next {
		return r
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.queue {
		if len(ch.recs) > 0 {
			return ch.recs[0]
		}
	}
	return nil
}

// partitionLags is the lag gauges' callback.
func (c *Container) partitionLags() []telemetry.PartitionLag {
	st := c.Status()
	out := make([]telemetry.PartitionLag, 0, len(st.Partitions))
	for _, p := range st.Partitions {
		if p.Lag >= 0 {
			out = append(out, telemetry.PartitionLag{Topic: p.Topic, Partition: p.Partition, Lag: p.Lag, LagTime: p.LagTime})
		}
	}
	return out
}

// pausedCount is the paused partitions gauge's callback.
func (c *Container) pausedCount() int {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	n := 0
	for _, ps := range c.pausedParts {
		n += len(ps)
	}
	return n
}

// newWatch returns the connection watcher of a container run: one per
// container, shared by its members, so an outage is logged once per
// container.
func (c *Container) newWatch() *connwatch.Watcher {
	return connwatch.New("listener "+c.id, c.log)
}
