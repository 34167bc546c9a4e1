package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lagTimeWait bounds how long groups describe waits for the records that
// date its LAG-TIME column; a partition that gave no record by then shows
// "-".
const lagTimeWait = 5 * time.Second

// lagTimeFetchBytes is the per-partition fetch size of the LAG-TIME
// lookup. Only the first record at an offset is needed, and a broker
// answers at least the whole batch holding the fetch offset whatever this
// says (KIP-74), so it is kept small to not read megabytes of a backlog.
const lagTimeFetchBytes = 1 << 10

// lagTimeFetchWait is how long a broker may hold a fetch of the LAG-TIME
// lookup that finds no records.
const lagTimeFetchWait = 250 * time.Millisecond

// topicPartition is one partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

// partitionOffset is one offset of one partition.
type partitionOffset struct {
	topic     string
	partition int32
	offset    int64
}

// lagAges returns, for every partition of lags with a committed offset and
// a lag above zero, how long the first record the group has not consumed
// has been waiting: the time since the timestamp of the record at the
// committed offset, or, when that record is gone (retention, compaction),
// of the first record after it. Ages are never negative: a timestamp in
// the future counts as now. The age is 0 when only transaction markers,
// which no consumer receives, lie between the committed offset and the
// log end offset. A partition missing from the result gave no record
// within lagTimeWait (or ctx).
//
// One client reads the first record of every such partition at once,
// read_uncommitted, starting at the exact committed offsets. Groups that
// committed different offsets on the same partition need one client per
// distinct offset; those clients read concurrently.
func lagAges(ctx context.Context, opts []kgo.Opt, lags ...kadm.GroupLag) (map[partitionOffset]time.Duration, error) {
	offsets := make(map[topicPartition][]int64) // distinct committed offsets
	ends := make(map[topicPartition]int64)      // log end offsets
	for _, l := range lags {
		for _, ml := range l.Sorted() {
			if ml.Commit.At < 0 || ml.Err != nil || ml.Lag <= 0 {
				continue
			}
			tp := topicPartition{ml.Topic, ml.Partition}
			if !slices.Contains(offsets[tp], ml.Commit.At) {
				offsets[tp] = append(offsets[tp], ml.Commit.At)
			}
			ends[tp] = ml.End.Offset
		}
	}
	if len(offsets) == 0 {
		return nil, nil
	}
	// Round i reads the i-th distinct offset of every partition that has
	// one; with a single group, or groups that agree, there is one round.
	var rounds []map[partitionOffset]int64 // wanted offset -> log end offset
	for i := 0; ; i++ {
		round := make(map[partitionOffset]int64)
		for tp, offs := range offsets {
			if i < len(offs) {
				round[partitionOffset{tp.topic, tp.partition, offs[i]}] = ends[tp]
			}
		}
		if len(round) == 0 {
			break
		}
		rounds = append(rounds, round)
	}

	ctx, cancel := context.WithTimeout(ctx, lagTimeWait)
	defer cancel()
	var (
		mu   sync.Mutex
		ages = make(map[partitionOffset]time.Duration)
		errs []error
		wg   sync.WaitGroup
	)
	for _, round := range rounds {
		wg.Go(func() {
			got, err := firstRecordAges(ctx, opts, round)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			for po, age := range got {
				ages[po] = age
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reading the records behind the committed offsets: %w", err)
	}
	return ages, nil
}

// firstRecordAges consumes every partition of want, which holds at most one
// offset per partition and maps it to the partition's log end offset, from
// that offset until its first data record, and returns the age of each
// such record. It stops when every partition has answered or ctx is done.
func firstRecordAges(ctx context.Context, opts []kgo.Opt, want map[partitionOffset]int64) (map[partitionOffset]time.Duration, error) {
	start := make(map[string]map[int32]kgo.Offset)
	byPartition := make(map[topicPartition]partitionOffset, len(want))
	for po := range want {
		if start[po.topic] == nil {
			start[po.topic] = make(map[int32]kgo.Offset)
		}
		start[po.topic][po.partition] = kgo.NewOffset().At(po.offset)
		byPartition[topicPartition{po.topic, po.partition}] = po
	}
	cl, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(start),
		// An offset below the log start (records deleted by retention)
		// resumes at the log start: the first record after it.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Markers are seen, so that a partition with only markers left
		// before its end is known at once instead of at the deadline.
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(lagTimeFetchBytes),
		// A broker holds a fetch until some partition has records or the
		// wait ends, and the client sends the next fetch to that broker
		// only then: a partition with nothing to give (its records
		// deleted since the lag was listed, say) must not keep one that
		// was just reset to the log start from being read until the
		// deadline.
		kgo.FetchMaxWait(lagTimeFetchWait),
	)...)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	defer cl.Close()

	ages := make(map[partitionOffset]time.Duration, len(want))
	for len(ages) < len(want) && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		if fetches.IsClientClosed() {
			break
		}
		answered := make(map[string][]int32)
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			po, ok := byPartition[topicPartition{p.Topic, p.Partition}]
			if _, seen := ages[po]; !ok || seen {
				return
			}
			for _, r := range p.Records {
				switch {
				case r.Offset < po.offset:
					continue
				case r.Attrs.IsControl() && r.Offset+1 < want[po]:
					continue // a marker; records may follow before the end
				case r.Attrs.IsControl():
					ages[po] = 0 // only markers were left
				default:
					ages[po] = max(time.Since(r.Timestamp), 0)
				}
				answered[p.Topic] = append(answered[p.Topic], p.Partition)
				return
			}
		})
		if len(answered) > 0 {
			cl.PauseFetchPartitions(answered) // read no more of them
		}
	}
	return ages, nil
}

// formatLagTime prints an age to the second from one second up ("1m23s")
// and to the millisecond below ("850ms").
func formatLagTime(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return max(d, 0).Round(time.Millisecond).String()
}
