package container

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
)

// TestPollChunks: a poll may return more than max.poll.records records of a
// partition (everything the client fetched); workers get them in chunks of
// at most max.poll.records, which bounds batch sizes, in order, and
// everything is committed. A listener.Func handler runs the same way.
func TestPollChunks(t *testing.T) {
	t.Parallel()
	const n = 95
	e := newEnv(t, map[string]int32{"chunks": 1, "typed": 1})
	var vals []string
	for i := range n {
		vals = append(vals, strconv.Itoa(i))
	}
	e.produceValues("chunks", 0, vals...)
	e.produceValues("typed", 0, vals...)
	var sizes seen[int]
	var got seen[string]
	var cm commits
	e.start(ep("chunks", func(_ context.Context, b []string) error {
		sizes.add(len(b))
		for _, s := range b {
			got.add(s)
		}
		return nil
	}, func(ep *listener.Endpoint) { ep.Batch = true }), WithMaxPollRecords(10), cm.listener())
	var typed seen[string]
	e.start(ep("typed", listener.Func[string](func(_ context.Context, s string) error { typed.add(s); return nil })),
		WithMaxPollRecords(10))
	waitFor(t, 10*time.Second, func() bool { return got.len() == n && typed.len() == n }, "all records")
	for i, s := range got.all() {
		if s != strconv.Itoa(i) {
			t.Fatalf("record %d = %s: out of order", i, s)
		}
	}
	for i, s := range typed.all() {
		if s != strconv.Itoa(i) {
			t.Fatalf("typed record %d = %s: out of order", i, s)
		}
	}
	for _, sz := range sizes.all() {
		if sz > 10 {
			t.Fatalf("batch of %d records, max.poll.records is 10", sz)
		}
	}
	waitFor(t, 10*time.Second, func() bool {
		offs := cm.offsets("chunks", 0)
		return len(offs) > 0 && offs[len(offs)-1] == n
	}, "commit of all records")
}
