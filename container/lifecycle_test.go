package container

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceSeq produces n records per partition whose values are
// "<partition>:<seq>".
func (e *env) produceSeq(topic string, partitions int32, n int) {
	e.t.Helper()
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		for p := int32(0); p < partitions; p++ {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(int(p)) + ":" + strconv.Itoa(i))})
		}
	}
	e.produce(rs...)
}

// counter counts deliveries per record.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
	c.mu.Unlock()
}

func (c *counter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}

func (c *counter) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := 0
	for _, v := range c.n {
		d += v - 1
	}
	return d
}

// TestGracefulStopUnderLoad: stop a container mid-stream, start another in
// the same group: every record is processed, and nothing processed by the
// first is processed again (the graceful stop finished and committed the
// in-flight records).
func TestGracefulStopUnderLoad(t *testing.T) {
	t.Parallel()
	const parts, per = 4, 300
	e := newEnv(t, map[string]int32{"load": parts})
	e.produceSeq("load", parts, per)
	var cnt counter
	var inFlight, maxInFlight atomic.Int32
	handler := func(_ context.Context, r *listener.Record[string]) error {
		n := inFlight.Add(1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		time.Sleep(200 * time.Microsecond)
		cnt.add(r.Value)
		inFlight.Add(-1)
		return nil
	}
	newEp := func() *listener.Endpoint {
		return &listener.Endpoint{ID: "load", Topics: []string{"load"}, Concurrency: 2, Handler: handler}
	}
	c1, err := New(newEp(), e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return cnt.distinct() >= parts*per/4 }, "first quarter")
	stop(t, c1)
	firstRun := cnt.distinct()
	if firstRun == parts*per {
		t.Log("first container finished everything before stop; test is weaker")
	}
	committed := e.committed("load")["load"]
	var sum int64
	for _, o := range committed {
		sum += o
	}
	if sum != int64(firstRun) {
		t.Errorf("after graceful stop: committed %d records, processed %d", sum, firstRun)
	}
	e.start(newEp())
	waitFor(t, 30*time.Second, func() bool { return cnt.distinct() == parts*per }, "all records (%d/%d)", cnt.distinct(), parts*per)
	if d := cnt.duplicates(); d != 0 {
		t.Errorf("%d duplicates after a graceful stop (in-flight window %d)", d, maxInFlight.Load())
	}
}

// TestRebalanceWhileProcessing: a second container joins the group while
// the first is busy; no record is lost, revoked partitions are committed
// before they move (no duplicates), and commits never go backwards.
func TestRebalanceWhileProcessing(t *testing.T) {
	t.Parallel()
	const parts, per = 6, 200
	e := newEnv(t, map[string]int32{"reb": parts})
	e.produceSeq("reb", parts, per)
	var cnt counter
	var cm commits
	var revoked atomic.Int32
	mk := func(name string) *Container {
		c, err := New(&listener.Endpoint{ID: "reb", Topics: []string{"reb"}, Handler: func(_ context.Context, r *listener.Record[string]) error {
			time.Sleep(300 * time.Microsecond)
			cnt.add(r.Value)
			return nil
		}}, e.opts(cm.listener(), WithAckMode(listener.AckTime), WithAckTime(time.Hour),
			WithRebalanceListener(RebalanceListener{Revoked: func(context.Context, map[string][]int32) { revoked.Add(1) }}))...)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Stop(context.Background()) })
		return c
	}
	c1 := mk("c1")
	waitFor(t, 20*time.Second, func() bool { return cnt.distinct() >= parts*per/5 }, "progress before the join")
	c2 := mk("c2")
	waitFor(t, 20*time.Second, func() bool { return len(c2.Assignment()["reb"]) > 0 }, "second member assigned")
	if revoked.Load() == 0 {
		t.Error("no partitions were revoked from the first member")
	}
	waitFor(t, 30*time.Second, func() bool { return cnt.distinct() == parts*per }, "all records")
	stop(t, c1)
	stop(t, c2)
	if d := cnt.duplicates(); d != 0 {
		t.Errorf("%d duplicates across the rebalance", d)
	}
	for p := int32(0); p < parts; p++ {
		o := cm.offsets("reb", p)
		for i := 1; i < len(o); i++ {
			if o[i] < o[i-1] {
				t.Errorf("partition %d: commits went backwards: %v", p, o)
			}
		}
		if got := e.committed("reb")["reb"][p]; got != per {
			t.Errorf("partition %d committed %d, want %d", p, got, per)
		}
	}
}

// TestOrderingWithConcurrency: concurrency 3 over 6 partitions: 3 members
// with 2 partitions each, partitions processed in parallel, each strictly
// in order.
func TestOrderingWithConcurrency(t *testing.T) {
	t.Parallel()
	const parts, per = 6, 100
	e := newEnv(t, map[string]int32{"ord": parts})
	e.produceSeq("ord", parts, per)
	var (
		mu         sync.Mutex
		last       = map[int32]int{}
		violations []string
		done       atomic.Int32
		active     atomic.Int32
		maxActive  atomic.Int32
	)
	c := e.start(&listener.Endpoint{ID: "ord", Topics: []string{"ord"}, Concurrency: 3,
		Handler: func(_ context.Context, s string, m listener.Metadata) error {
			n := active.Add(1)
			for x := maxActive.Load(); n > x && !maxActive.CompareAndSwap(x, n); x = maxActive.Load() {
			}
			time.Sleep(time.Millisecond)
			active.Add(-1)
			seq, _ := strconv.Atoi(s[len(strconv.Itoa(int(m.Partition)))+1:])
			mu.Lock()
			if prev, ok := last[m.Partition]; (ok && seq != prev+1) || (!ok && seq != 0) {
				violations = append(violations, s)
			}
			last[m.Partition] = seq
			mu.Unlock()
			done.Add(1)
			return nil
		}})
	waitFor(t, 30*time.Second, func() bool { return done.Load() == parts*per }, "all records")
	mu.Lock()
	if len(violations) > 0 {
		t.Errorf("out of order: %v", violations)
	}
	mu.Unlock()
	if m := maxActive.Load(); m < 2 {
		t.Errorf("max parallel handlers %d, want partitions processed in parallel", m)
	}
	// The members join one after another; on a loaded machine the last
	// one may join after the others have processed everything, so the
	// balanced assignment is awaited, not sampled.
	r := c.cur.Load()
	owned := func() []int {
		var ns []int
		for _, m := range r.members {
			m.mu.Lock()
			ns = append(ns, len(m.workers))
			m.mu.Unlock()
		}
		return ns
	}
	waitFor(t, 30*time.Second, func() bool { return slices.Equal(owned(), []int{2, 2, 2}) }, "2 partitions per member")
}

// TestHardStop: when Stop's context ends before a handler returns, the
// handler context is cancelled and the record is not committed.
func TestHardStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"hard": 1})
	e.produceValues("hard", 0, "a", "block")
	started := make(chan struct{})
	var cancelled atomic.Bool
	c, err := New(ep("hard", func(ctx context.Context, s string) error {
		if s == "block" {
			close(started)
			<-ctx.Done()
			cancelled.Store(true)
			return ctx.Err()
		}
		return nil
	}), e.opts(WithAckMode(listener.AckRecord))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want deadline exceeded", err)
	}
	if !cancelled.Load() {
		t.Error("handler context not cancelled")
	}
	if got := e.committed("hard")["hard"][0]; got != 1 {
		t.Errorf("committed %d, want 1 (the blocked record must not be committed)", got)
	}
}

// TestRestart: a container can be started again after Stop and resumes
// from its commits.
func TestRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"rs": 1})
	var got seen[string]
	c := e.start(ep("rs", func(_ context.Context, s string) error { got.add(s); return nil }))
	e.produceValues("rs", 0, "a", "b")
	waitFor(t, 10*time.Second, func() bool { return got.len() == 2 }, "first run")
	stop(t, c)
	if c.Running() {
		t.Fatal("running after stop")
	}
	e.produceValues("rs", 0, "c")
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return got.len() == 3 }, "second run")
	if g := got.all(); g[2] != "c" {
		t.Errorf("got %v", g)
	}
}

// TestHardStopStuckHandler: a handler that ignores its context does not
// keep Stop from returning shortly after its context ends.
func TestHardStopStuckHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"stuck": 1})
	e.produceValues("stuck", 0, "x")
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	c, err := New(ep("stuck", func(context.Context, string) error {
		close(started)
		<-release
		return nil
	}), e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := c.Stop(ctx); err == nil {
		t.Error("Stop succeeded with a stuck handler")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if got := e.committed("stuck")["stuck"]; got[0] != 0 {
		t.Errorf("committed %v", got)
	}
}
