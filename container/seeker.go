package container

import (
	"context"
	"time"
)

// Seeker positions a member's partitions as they are assigned: the
// callback Spring gives ConsumerSeekAware.onPartitionsAssigned. Its seeks
// are applied before any record of those partitions is handled (records
// fetched from the committed offsets in between are dropped). A seek on a
// partition not in the assignment is ignored, with a warning.
type Seeker struct {
	m *member
}

// Seek positions a partition at offset.
func (s Seeker) Seek(topic string, partition int32, offset int64) {
	s.add(topic, []int32{partition}, seekOffset, offset)
}

// SeekToBeginning positions partitions of topic (all assigned ones when
// none are given) at their log start.
func (s Seeker) SeekToBeginning(topic string, partitions ...int32) {
	s.add(topic, partitions, seekBeginning, 0)
}

// SeekToEnd positions partitions of topic at their log end.
func (s Seeker) SeekToEnd(topic string, partitions ...int32) {
	s.add(topic, partitions, seekEnd, 0)
}

// SeekToTimestamp positions partitions of topic at the first record at or
// after ts (the log end when there is none).
func (s Seeker) SeekToTimestamp(topic string, ts time.Time, partitions ...int32) {
	s.add(topic, partitions, seekTimestamp, ts.UnixMilli())
}

func (s Seeker) add(topic string, partitions []int32, kind seekKind, offset int64) {
	m := s.m
	if len(partitions) == 0 {
		m.mu.Lock()
		for k := range m.workers {
			if k.topic == topic {
				partitions = append(partitions, k.partition)
			}
		}
		m.mu.Unlock()
	}
	for _, p := range partitions {
		done, ok := m.enqueueSeek(seekReq{k: tp{topic, p}, kind: kind, offset: offset})
		if !ok {
			m.c.log.Warn("kafka listener: seek on assignment ignored: partition not assigned", "member", m.idx, "topic", topic, "partition", p)
			continue
		}
		go func() {
			if err := <-done; err != nil {
				m.c.log.Warn("kafka listener: seek on assignment failed", "member", m.idx, "topic", topic, "partition", p, "err", err)
			}
		}()
	}
}

// WithSeekOnAssign calls fn with each member's newly assigned partitions
// and a Seeker to position them, like Spring's ConsumerSeekAware: to start
// from a time, from the beginning, or from offsets stored elsewhere,
// whatever the group has committed. fn runs on the rebalance's goroutine;
// it must return promptly.
func WithSeekOnAssign(fn func(ctx context.Context, assigned map[string][]int32, s Seeker)) Option {
	return optFunc(func(o *options) { o.seekOnAssign = fn })
}
