package template

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestPartitionerWrapping(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		fallback   kgo.Partitioner
		wantBackup bool
	}{
		{"default", nil, true},
		{"sticky-key", kgo.StickyKeyPartitioner(nil), false},
		{"round-robin", kgo.RoundRobinPartitioner(), false},
		{"least-backup", kgo.LeastBackupPartitioner(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := Partitioner(tt.fallback).ForTopic("t")
			bp, isBackup := tp.(kgo.TopicBackupPartitioner)
			if isBackup != tt.wantBackup {
				t.Fatalf("backup partitioner = %v, want %v", isBackup, tt.wantBackup)
			}
			if _, ok := tp.(kgo.TopicPartitionerOnNewBatch); !ok {
				t.Fatal("OnNewBatch missing")
			}
			pick := func(r *kgo.Record, n int) int {
				if isBackup {
					return bp.PartitionByBackup(r, n, &fakeIter{n: n})
				}
				return tp.Partition(r, n)
			}
			for _, p := range []int32{0, 1, 4} {
				r := &kgo.Record{Context: ContextWithPartition(ctx, p)}
				if !tp.RequiresConsistency(r) {
					t.Fatal("pinned records must require consistency")
				}
				if got := pick(r, 5); got != int(p) {
					t.Fatalf("pinned %d: got %d", p, got)
				}
			}
			for _, p := range []int32{-1, 5} {
				if got := pick(&kgo.Record{Context: ContextWithPartition(ctx, p)}, 5); got != -1 {
					t.Fatalf("out of range %d: got %d", p, got)
				}
			}
			// Unpinned records are partitioned by the fallback.
			for range 20 {
				if got := pick(&kgo.Record{Key: []byte("k")}, 5); got < 0 || got >= 5 {
					t.Fatalf("fallback pick %d", got)
				}
				if got := pick(&kgo.Record{Context: ctx}, 5); got < 0 || got >= 5 {
					t.Fatalf("fallback pick %d", got)
				}
			}
			tp.(kgo.TopicPartitionerOnNewBatch).OnNewBatch()
		})
	}
}

type fakeIter struct{ i, n int }

func (f *fakeIter) Next() (int, int64) { f.i++; return f.i - 1, int64(f.i) }
func (f *fakeIter) Rem() int           { return f.n - f.i }
