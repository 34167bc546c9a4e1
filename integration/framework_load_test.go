package integration

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kadm"
)

// fwWork is the time a load test handler spends on a record, so that
// stops and rebalances find handlers in flight.
const fwWork = 200 * time.Microsecond

// fwLoadListeners is the listener of the load tests: two members per app.
type fwLoadListeners struct {
	Seq func(context.Context, fwSeq, listener.Metadata) error `kafka:"id=load,topics=${app.topic},group=${app.topic},concurrency=${app.concurrency:2}"`
}

// TestFrameworkGracefulStopUnderLoad: records are produced continuously;
// the app is stopped mid-stream and a second app of the same group takes
// over. Every record is processed at least once, and at most the records
// in flight when the stop began are processed twice (a graceful stop
// finishes and commits them, so normally none is); after the second app
// stops, the group's commits are at the end of every partition.
func TestFrameworkGracefulStopUnderLoad(t *testing.T) {
	const topic = "stop-load"
	c := fwCluster(t, fwTopics(4, topic)...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())
	values := fwValues(c.Addrs(), map[string]any{"app.topic": topic, "kafka.consumer.max-poll-records": 20})

	ledger := newFwLedger()
	var inflight atomic.Int64
	var byApp [2]atomic.Int64
	listeners := func(app int) *fwLoadListeners {
		return &fwLoadListeners{Seq: func(_ context.Context, _ fwSeq, md listener.Metadata) error {
			inflight.Add(1)
			defer inflight.Add(-1)
			ledger.add(md.Partition, md.Offset)
			byApp[app].Add(1)
			time.Sleep(fwWork)
			return nil
		}}
	}
	app1 := fwStartApp(t, ctx, values, kafkaboot.Listeners(func() *fwLoadListeners { return listeners(0) }))
	prod := fwStartProducer(t, ctx, c.Addrs(), topic)

	fwWait(t, ctx, "the first app to process 500 records", func() (bool, string) {
		return byApp[0].Load() >= 500, fmt.Sprint(byApp[0].Load())
	})
	inStop := inflight.Load()
	producedAtStop := prod.produced()
	if err := app1.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if inflight.Load() != 0 {
		t.Errorf("%d handlers still running after a graceful stop", inflight.Load())
	}
	processedBy1 := byApp[0].Load()

	fwStartApp(t, ctx, values, kafkaboot.Listeners(func() *fwLoadListeners { return listeners(1) }))
	fwWait(t, ctx, "the second app to process 500 records", func() (bool, string) {
		return byApp[1].Load() >= 500, fmt.Sprint(byApp[1].Load())
	})
	prod.halt(t)
	ends := fwEnds(t, ctx, adm, topic)
	fwWait(t, ctx, "every record to be processed", func() (bool, string) { return ledger.covers(ends) })
	fwWaitCommitted(t, ctx, adm, topic, topic, fwNonEmpty(ends))

	dupRecs, extra := ledger.dups()
	t.Logf("first app: %d records (%d in flight at stop, %d produced by then); second app: %d; duplicates: %d",
		processedBy1, inStop, producedAtStop, byApp[1].Load(), dupRecs)
	if int64(extra) > inStop {
		t.Errorf("%d records (%d extra deliveries) processed twice, more than the %d in flight at the stop", dupRecs, extra, inStop)
	}
}

// fwRebalanceProbe watches one app of the rebalance test: it numbers the
// ownership periods of its partitions (every assignment and revocation
// starts a new one) and checks that no record is delivered twice in the
// same period.
type fwRebalanceProbe struct {
	name      string
	mu        sync.Mutex
	epoch     map[int32]int
	seen      map[string]bool
	twice     []string
	processed atomic.Int64
	assigned  atomic.Int64
	revoked   atomic.Int64
}

func newFwRebalanceProbe(name string) *fwRebalanceProbe {
	return &fwRebalanceProbe{name: name, epoch: map[int32]int{}, seen: map[string]bool{}}
}

func (p *fwRebalanceProbe) bump(parts map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range parts {
		for _, q := range ps {
			p.epoch[q]++
		}
	}
}

func (p *fwRebalanceProbe) delivered(part int32, off int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := fmt.Sprintf("%d#%d/%d", part, p.epoch[part], off)
	if p.seen[k] {
		p.twice = append(p.twice, k)
	}
	p.seen[k] = true
	p.processed.Add(1)
}

// fwCommitLog checks that the offsets committed by every container of
// every app never go backwards per partition.
type fwCommitLog struct {
	mu        sync.Mutex
	last      map[int32]int64
	n         int
	backwards []string
}

func (l *fwCommitLog) add(who string, e container.CommitEvent) {
	if e.Err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ps := range e.Offsets {
		for p, o := range ps {
			if prev, ok := l.last[p]; ok && o < prev {
				l.backwards = append(l.backwards, fmt.Sprintf("%s member %d committed %d[%d] after %d", who, e.Member, p, o, prev))
			}
			l.last[p] = o
			l.n++
		}
	}
}

// TestFrameworkRebalanceWhileProcessing: while records are produced and
// processed by an app with two members, a second app joins the group, and
// later leaves it again.
// Every record is processed, no record twice in one ownership period of
// a partition, the offsets committed (seen by the commit listeners and by
// polling the broker) never go backwards, and at the end they are at the
// end of every partition.
func TestFrameworkRebalanceWhileProcessing(t *testing.T) {
	const topic = "rebalance-load"
	c := fwCluster(t, fwTopics(6, topic)...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())
	values := fwValues(c.Addrs(), map[string]any{"app.topic": topic, "kafka.consumer.max-poll-records": 20})

	ledger := newFwLedger()
	commits := &fwCommitLog{last: map[int32]int64{}}
	monitor := fwMonitorCommits(t, ctx, adm, topic, topic)
	start := func(p *fwRebalanceProbe, extra ...any) *fwApp {
		ls := &fwLoadListeners{Seq: func(_ context.Context, _ fwSeq, md listener.Metadata) error {
			ledger.add(md.Partition, md.Offset)
			p.delivered(md.Partition, md.Offset)
			time.Sleep(fwWork)
			return nil
		}}
		v := maps.Clone(values)
		for i := 0; i+1 < len(extra); i += 2 {
			v[extra[i].(string)] = extra[i+1]
		}
		return fwStartApp(t, ctx, v,
			kafkaboot.Listeners(func() *fwLoadListeners { return ls }),
			kafkaboot.ContainerOptions(
				container.WithCommitListener(func(e container.CommitEvent) { commits.add(p.name, e) }),
				container.WithRebalanceListener(container.RebalanceListener{
					Assigned: func(_ context.Context, parts map[string][]int32) { p.assigned.Add(1); p.bump(parts) },
					Revoked:  func(_ context.Context, parts map[string][]int32) { p.revoked.Add(1); p.bump(parts) },
					Lost:     func(_ context.Context, parts map[string][]int32) { p.bump(parts) },
				})))
	}

	// a (two members) starts alone; b (one member) joins mid-stream and
	// takes partitions from a; later b leaves mid-stream and a takes
	// them back; then a stops.
	a, b := newFwRebalanceProbe("a"), newFwRebalanceProbe("b")
	appA := start(a)
	prod := fwStartProducer(t, ctx, c.Addrs(), topic)
	t0 := time.Now()
	waitFor := func(p *fwRebalanceProbe, n int64) {
		t.Helper()
		fwWait(t, ctx, fmt.Sprintf("app %s to process %d records", p.name, n), func() (bool, string) {
			return p.processed.Load() >= n, fmt.Sprint(p.processed.Load())
		})
		t.Logf("%v: app %s processed %d records", time.Since(t0).Round(time.Millisecond), p.name, n)
	}
	waitFor(a, 500)
	revokedBefore := a.revoked.Load()
	appB := start(b, "app.concurrency", 1)
	waitFor(b, 300)
	if a.revoked.Load() == revokedBefore {
		t.Errorf("app a never had partitions revoked")
	}
	waitFor(a, a.processed.Load()+300)
	assignedBefore := a.assigned.Load()
	if err := appB.stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: app b stopped", time.Since(t0).Round(time.Millisecond))
	fwWait(t, ctx, "app a to take the partitions of app b back", func() (bool, string) {
		return a.assigned.Load() > assignedBefore, ""
	})
	t.Logf("%v: app a took the partitions of app b back", time.Since(t0).Round(time.Millisecond))
	waitFor(a, a.processed.Load()+500)
	prod.halt(t)
	ends := fwEnds(t, ctx, adm, topic)
	fwWait(t, ctx, "every record to be processed", func() (bool, string) { return ledger.covers(ends) })
	fwWaitCommitted(t, ctx, adm, topic, topic, fwNonEmpty(ends))
	t.Logf("%v: every record processed and committed", time.Since(t0).Round(time.Millisecond))
	aFinal, bFinal := a.processed.Load(), b.processed.Load()
	for _, app := range []*fwApp{appB, appA} {
		if err := app.stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := fwMustCommitted(t, ctx, adm, topic, topic); !maps.Equal(got, fwNonEmpty(ends)) {
		t.Errorf("committed %v after stop, want the ends %v", got, ends)
	}
	brokerBackwards := monitor()

	dupRecs, extra := ledger.dups()
	t.Logf("app a: %d records, app b: %d; %d commits; %d records processed twice (%d extra deliveries)",
		aFinal, bFinal, commits.n, dupRecs, extra)
	for _, p := range []*fwRebalanceProbe{a, b} {
		p.mu.Lock()
		if len(p.twice) > 0 {
			t.Errorf("app %s processed records twice in one ownership period (partition#period/offset): %v", p.name, p.twice)
		}
		p.mu.Unlock()
	}
	commits.mu.Lock()
	if len(commits.backwards) > 0 {
		t.Errorf("commits went backwards: %v", commits.backwards)
	}
	commits.mu.Unlock()
	if len(brokerBackwards) > 0 {
		t.Errorf("the broker's committed offsets went backwards: %v", brokerBackwards)
	}
}

// fwMonitorCommits polls the committed offsets of group for topic until
// the returned func is called, which returns every time an offset went
// backwards.
func fwMonitorCommits(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) func() []string {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var backwards []string
	go func() {
		defer close(done)
		last := map[int32]int64{}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			got, err := fwCommitted(ctx, adm, group, topic)
			if err != nil {
				continue // the group coordinator may be busy; try again
			}
			for p, o := range got {
				if o < last[p] {
					backwards = append(backwards, fmt.Sprintf("%d: %d after %d", p, o, last[p]))
				}
				last[p] = o
			}
		}
	}()
	var once sync.Once
	stop := func() []string {
		once.Do(func() { cancel(); <-done })
		return backwards
	}
	t.Cleanup(func() { stop() })
	return stop
}

// fwHardStopListeners: one member, so that the stuck record and the
// records of the other partition share the app.
type fwHardStopListeners struct {
	Seq func(context.Context, fwSeq, listener.Metadata) error `kafka:"id=hard,topics=hard-stop,group=hard,concurrency=1"`
}

// TestFrameworkHardStopRedeliversInFlight: a handler is stuck on one
// record when the app is stopped with a short deadline. The stop turns
// hard: the handler's context is cancelled, the record is neither
// committed nor dead-lettered, the records before it are committed (by
// the stop: with ack=batch they were not before), and
// a second app of the group delivers it (and what follows) again: the
// only record processed twice is the one in flight.
func TestFrameworkHardStopRedeliversInFlight(t *testing.T) {
	c := fwCluster(t, fwTopics(2, "hard-stop", "hard-stop.DLT")...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())
	values := fwValues(c.Addrs(), nil)

	const n, stuck = 10, 4 // records per partition; partition 0 is stuck at offset 4
	ledger := newFwLedger()
	var (
		entered  = make(chan struct{})
		released atomic.Bool
		ctxErr   = make(chan error, 1)
	)
	first := &fwHardStopListeners{Seq: func(hctx context.Context, _ fwSeq, md listener.Metadata) error {
		ledger.add(md.Partition, md.Offset)
		if md.Partition == 0 && md.Offset == stuck && !released.Load() {
			close(entered)
			<-hctx.Done() // stuck until the stop turns hard
			ctxErr <- hctx.Err()
			return hctx.Err()
		}
		return nil
	}}
	app1 := fwStartApp(t, ctx, values, kafkaboot.Listeners(func() *fwHardStopListeners { return first }))
	for p := range int32(2) {
		for i := range n {
			if _, err := app1.tmpl.Send(ctx, "hard-stop", fwSeq{N: i}, template.Partition(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the handler never reached the stuck record")
	}
	// ack=batch: partition 0's first records are done, but its poll is
	// not, so only partition 1 is committed while the handler is stuck.
	fwWait(t, ctx, "partition 1 to be committed", func() (bool, string) {
		got, err := fwCommitted(ctx, adm, "hard", "hard-stop")
		return err == nil && got[1] == n, fmt.Sprint(got, err)
	})

	stopCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	err := app1.app.Stop(stopCtx)
	cancel()
	t.Logf("hard stop returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Errorf("a stop whose deadline expired reported no error")
	}
	select {
	case err := <-ctxErr:
		if err == nil {
			t.Errorf("the stuck handler's context ended without an error")
		}
	case <-ctx.Done():
		t.Fatal("the stuck handler's context was never cancelled")
	}
	released.Store(true)
	// The hard stop commits what is done: partition 0 up to the stuck
	// record (fx returns at the deadline; the stop may still be running).
	fwWaitCommitted(t, ctx, adm, "hard", "hard-stop", map[int32]int64{0: stuck, 1: n})

	app2 := fwStartApp(t, ctx, values, kafkaboot.Listeners(func() *fwHardStopListeners {
		return &fwHardStopListeners{Seq: func(_ context.Context, _ fwSeq, md listener.Metadata) error {
			ledger.add(md.Partition, md.Offset)
			return nil
		}}
	}))
	ends := map[int32]int64{0: n, 1: n}
	fwWait(t, ctx, "every record to be processed", func() (bool, string) { return ledger.covers(ends) })
	fwWaitCommitted(t, ctx, adm, "hard", "hard-stop", ends)
	if err := app2.stop(ctx); err != nil {
		t.Fatal(err)
	}
	ledger.mu.Lock()
	for po, k := range ledger.seen {
		want := 1
		if po == (fwPO{0, stuck}) {
			want = 2
		}
		if k != want {
			t.Errorf("record %d/%d delivered %d times, want %d", po.P, po.O, k, want)
		}
	}
	ledger.mu.Unlock()
	if dlt := fwNonEmpty(fwEnds(t, ctx, adm, "hard-stop.DLT")); len(dlt) > 0 {
		t.Errorf("the record in flight at the hard stop was dead-lettered: %v", dlt)
	}
}
