package container

import (
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tracker tracks the records of one partition whose processing started, in
// offset order, and computes the committable offset: one past the last
// record of the contiguous prefix of done records. Offsets need not be
// contiguous (compaction, transaction markers): only the order of delivery
// matters. Done marks may arrive in any order and from any goroutine
// (manual acknowledgments).
//
// A tracker belongs to one "seek epoch" of a partition: a seek replaces it.
type tracker struct {
	epoch uint64

	mu        sync.Mutex
	entries   []trEntry
	head      int
	next      kgo.EpochOffset // committable; Offset -1: nothing
	committed int64           // last committed offset, -1: none
}

type trEntry struct {
	offset int64
	epoch  int32
	done   bool
}

func newTracker(epoch uint64) *tracker {
	return &tracker{epoch: epoch, next: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: -1}
}

// begin registers r as started; records must begin in offset order.
func (t *tracker) begin(r *kgo.Record) {
	t.mu.Lock()
	t.entries = append(t.entries, trEntry{offset: r.Offset, epoch: r.LeaderEpoch})
	t.mu.Unlock()
}

// finish registers r as started and done at once: the fast path of the
// automatic ack modes, where a worker finishes records strictly in order.
// With nothing outstanding it just moves the committable offset; behind an
// unfinished record (an aborted delivery) it queues r as done, so the
// committable offset stays at the unfinished record.
func (t *tracker) finish(r *kgo.Record) {
	t.mu.Lock()
	if t.head == len(t.entries) {
		t.next = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
	} else {
		t.entries = append(t.entries, trEntry{offset: r.Offset, epoch: r.LeaderEpoch, done: true})
	}
	t.mu.Unlock()
}

// done marks the record at offset as processed and reports whether the
// committable offset advanced. Unknown offsets are ignored.
func (t *tracker) done(offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.entries[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset {
		return false
	}
	live[i].done = true
	advanced := false
	for t.head < len(t.entries) && t.entries[t.head].done {
		e := t.entries[t.head]
		t.next = kgo.EpochOffset{Epoch: e.epoch, Offset: e.offset + 1}
		t.head++
		advanced = true
	}
	if t.head == len(t.entries) {
		t.entries, t.head = t.entries[:0], 0
	} else if t.head > 64 && t.head > len(t.entries)/2 {
		n := copy(t.entries, t.entries[t.head:])
		t.entries, t.head = t.entries[:n], 0
	}
	return advanced
}

// pending returns the committable offset if it is ahead of the last commit.
func (t *tracker) pending() (kgo.EpochOffset, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next.Offset > t.committed {
		return t.next, true
	}
	return kgo.EpochOffset{}, false
}

// markCommitted records a successful commit of offset.
func (t *tracker) markCommitted(offset int64) {
	t.mu.Lock()
	if offset > t.committed {
		t.committed = offset
	}
	t.mu.Unlock()
}

// outstanding returns how many started records are not done.
func (t *tracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) - t.head
}

// committable returns the offset after the contiguous done prefix (-1:
// nothing done yet).
func (t *tracker) committable() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next.Offset
}
