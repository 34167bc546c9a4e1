package container

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTracker(t *testing.T) {
	tests := []struct {
		name    string
		offsets []int64 // delivered, in order
		done    []int64 // done marks, in this order
		want    int64   // committable offset, -1 none
	}{
		{"none done", []int64{0, 1, 2}, nil, -1},
		{"in order", []int64{0, 1, 2}, []int64{0, 1, 2}, 3},
		{"prefix only", []int64{0, 1, 2, 3}, []int64{0, 1, 3}, 2},
		{"out of order fills gap", []int64{0, 1, 2, 3}, []int64{3, 2, 0, 1}, 4},
		{"head missing", []int64{5, 6, 7}, []int64{6, 7}, -1},
		{"offset gaps", []int64{10, 12, 15}, []int64{10, 12}, 13},
		{"unknown and duplicate marks", []int64{0, 1}, []int64{9, 0, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			for _, o := range tt.offsets {
				tr.begin(&kgo.Record{Offset: o, LeaderEpoch: 2})
			}
			for _, o := range tt.done {
				tr.done(o)
			}
			got, ok := tr.pending()
			if tt.want < 0 {
				if ok {
					t.Fatalf("pending = %v, want none", got)
				}
				return
			}
			if !ok || got.Offset != tt.want || got.Epoch != 2 {
				t.Fatalf("pending = %v %v, want %d", got, ok, tt.want)
			}
			tr.markCommitted(got.Offset)
			if _, ok := tr.pending(); ok {
				t.Fatal("still pending after commit")
			}
		})
	}
}

func TestTrackerCompaction(t *testing.T) {
	tr := newTracker(0)
	for i := int64(0); i < 1000; i++ {
		tr.begin(&kgo.Record{Offset: i})
	}
	tr.begin(&kgo.Record{Offset: 1000})
	for i := int64(0); i < 1000; i++ {
		tr.done(i)
	}
	if n := tr.outstanding(); n != 1 {
		t.Fatalf("outstanding = %d", n)
	}
	if p, _ := tr.pending(); p.Offset != 1000 {
		t.Fatalf("pending = %v", p)
	}
}

// TestTrackerFinish covers the in-order fast path of the automatic ack
// modes: finish moves the committable offset, except behind a record that
// began and never finished (an aborted delivery).
func TestTrackerFinish(t *testing.T) {
	tr := newTracker(0)
	tr.finish(&kgo.Record{Offset: 4, LeaderEpoch: 1})
	tr.finish(&kgo.Record{Offset: 6, LeaderEpoch: 1})
	if p, ok := tr.pending(); !ok || p.Offset != 7 || p.Epoch != 1 {
		t.Fatalf("pending = %v %v, want 7", p, ok)
	}
	tr.begin(&kgo.Record{Offset: 7}) // aborted: never done
	tr.finish(&kgo.Record{Offset: 8})
	if p, _ := tr.pending(); p.Offset != 7 {
		t.Fatalf("pending = %v, want 7 (held at the unfinished record)", p)
	}
	if n := tr.outstanding(); n != 2 {
		t.Fatalf("outstanding = %d, want 2", n)
	}
}
