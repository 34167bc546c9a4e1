package template

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionKey is the context key marking a record's explicit partition.
type partitionKey struct{}

// ContextWithPartition returns a context that, used as a record's Context
// (kgo.Record.Context), pins the record to partition p when the producing
// client uses [Partitioner]. The [Partition] send option does this for
// template sends; use it directly for records given to
// [Template.SendRecord] or produced with the client itself.
func ContextWithPartition(ctx context.Context, p int32) context.Context {
	return context.WithValue(ctx, partitionKey{}, p)
}

// explicitPartition returns the partition pinned via ContextWithPartition.
func explicitPartition(r *kgo.Record) (int32, bool) {
	if r.Context == nil {
		return 0, false
	}
	p, ok := r.Context.Value(partitionKey{}).(int32)
	return p, ok
}

// Partitioner returns a franz-go partitioner that sends records pinned with
// [ContextWithPartition] (or the [Partition] send option) to that
// partition, and partitions all other records with fallback. A nil fallback
// means franz-go's default, kgo.UniformBytesPartitioner(64KiB, adaptive,
// keys hashed with murmur2 like the Java client).
//
// Why a marker in the record context instead of kgo.ManualPartitioner: the
// zero value of Record.Partition is a valid partition, so a manual
// partitioner cannot tell "partition 0" from "not set", and would force
// every record (including keyed ones) to be partitioned by hand.
//
// Pinned records require consistency (they are never moved to another
// partition when theirs is unavailable) and fail with an "invalid record
// partitioning choice" error if the partition does not exist. The
// fallback's sticky state may advance when a pinned record starts a new
// batch (franz-go calls OnNewBatch without saying for which record); this
// only affects which partition the next unkeyed record sticks to.
//
// [ProducerFactory] installs this partitioner on the clients it creates;
// [New] detects it on a client and otherwise rejects the Partition option.
func Partitioner(fallback kgo.Partitioner) kgo.Partitioner {
	if fallback == nil {
		fallback = kgo.UniformBytesPartitioner(64<<10, true, true, nil)
	}
	return &explicitPartitioner{fallback: fallback}
}

type explicitPartitioner struct {
	fallback kgo.Partitioner
}

// ForTopic implements kgo.Partitioner.
func (p *explicitPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	fb := p.fallback.ForTopic(topic)
	base := explicitTopicPartitioner{fallback: fb}
	if bp, ok := fb.(kgo.TopicBackupPartitioner); ok {
		return &explicitBackupPartitioner{explicitTopicPartitioner: base, backup: bp}
	}
	return &base
}

// explicitTopicPartitioner implements kgo.TopicPartitioner and
// kgo.TopicPartitionerOnNewBatch (a no-op unless the fallback has it).
type explicitTopicPartitioner struct {
	fallback kgo.TopicPartitioner
}

// RequiresConsistency implements kgo.TopicPartitioner: pinned records
// must not move to another partition.
func (p *explicitTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := explicitPartition(r); ok {
		return true
	}
	return p.fallback.RequiresConsistency(r)
}

// Partition implements kgo.TopicPartitioner.
func (p *explicitTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if part, ok := explicitPartition(r); ok {
		return pinned(part, n)
	}
	return p.fallback.Partition(r, n)
}

// OnNewBatch implements kgo.TopicPartitionerOnNewBatch.
func (p *explicitTopicPartitioner) OnNewBatch() {
	if nb, ok := p.fallback.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

// pinned returns the index for an explicit partition; an out-of-range
// partition returns -1, which franz-go fails the record with.
func pinned(part int32, n int) int {
	if part < 0 || int(part) >= n {
		return -1
	}
	return int(part)
}

// explicitBackupPartitioner additionally implements
// kgo.TopicBackupPartitioner, which franz-go prefers over Partition when
// present, so it must only be exposed when the fallback has it.
type explicitBackupPartitioner struct {
	explicitTopicPartitioner
	backup kgo.TopicBackupPartitioner
}

// PartitionByBackup implements kgo.TopicBackupPartitioner.
func (p *explicitBackupPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if part, ok := explicitPartition(r); ok {
		return pinned(part, n)
	}
	return p.backup.PartitionByBackup(r, n, it)
}
