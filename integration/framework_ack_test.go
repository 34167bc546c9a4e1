package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

// fwAckListeners has one listener per ack mode, each on its own topic and
// group (the listener id). ack-count is 5 and ack-time one hour (see
// TestFrameworkAckModes), so that time-based commits never happen while
// the test runs.
type fwAckListeners struct {
	Record          func(context.Context, *listener.Record[fwSeq]) error                          `kafka:"id=ack-record,topics=ack-record,ack=record"`
	Batch           func(context.Context, *listener.Record[fwSeq]) error                          `kafka:"id=ack-batch,topics=ack-batch,ack=batch"`
	Time            func(context.Context, *listener.Record[fwSeq]) error                          `kafka:"id=ack-time,topics=ack-time,ack=time"`
	Count           func(context.Context, *listener.Record[fwSeq]) error                          `kafka:"id=ack-count,topics=ack-count,ack=count"`
	CountTime       func(context.Context, *listener.Record[fwSeq]) error                          `kafka:"id=ack-count-time,topics=ack-count-time,ack=count-time"`
	Manual          func(context.Context, *listener.Record[fwSeq], listener.Acknowledgment) error `kafka:"id=ack-manual,topics=ack-manual,ack=manual"`
	ManualImmediate func(context.Context, *listener.Record[fwSeq], listener.Acknowledgment) error `kafka:"id=ack-manual-immediate,topics=ack-manual-immediate,ack=manual-immediate"`
}

// TestFrameworkAckModes: for each ack mode, the offsets committed while
// the app runs follow the mode, and after app.Stop the committed offsets
// are exactly what was processed (or, for the manual modes, the
// contiguous acknowledged prefix: one record left unacknowledged holds its
// partition's commit back).
func TestFrameworkAckModes(t *testing.T) {
	// count and count-time count records per member, across partitions:
	// one partition keeps their commit points deterministic; so does one
	// partition for record, whose commits are checked one by one.
	c := fwCluster(t, append(fwTopics(1, "ack-record", "ack-count", "ack-count-time"),
		fwTopics(2, "ack-batch", "ack-time", "ack-manual", "ack-manual-immediate")...)...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())

	const n = 12   // records per partition
	const hold = 3 // manual modes leave offset 3 of partition 0 unacknowledged
	var (
		mu        sync.Mutex
		processed = map[string]int{}
		commits   = map[string][]map[string]map[int32]int64{}
		held      []listener.Acknowledgment
	)
	done := func(id string) {
		mu.Lock()
		processed[id]++
		mu.Unlock()
	}
	plain := func(id string) func(context.Context, *listener.Record[fwSeq]) error {
		return func(context.Context, *listener.Record[fwSeq]) error { done(id); return nil }
	}
	manual := func(id string) func(context.Context, *listener.Record[fwSeq], listener.Acknowledgment) error {
		return func(_ context.Context, r *listener.Record[fwSeq], ack listener.Acknowledgment) error {
			if r.Partition == 0 && r.Offset == hold {
				mu.Lock()
				held = append(held, ack)
				mu.Unlock()
			} else {
				ack.Acknowledge()
			}
			done(id)
			return nil
		}
	}
	ls := &fwAckListeners{
		Record: plain("ack-record"), Batch: plain("ack-batch"), Time: plain("ack-time"),
		Count: plain("ack-count"), CountTime: plain("ack-count-time"),
		Manual: manual("ack-manual"), ManualImmediate: manual("ack-manual-immediate"),
	}
	app := fwStartApp(t, ctx, fwValues(c.Addrs(), map[string]any{
		"kafka.listener.ack-count": 5,
		"kafka.listener.ack-time":  "1h",
	}),
		kafkaboot.Listeners(func() *fwAckListeners { return ls }),
		kafkaboot.ContainerOptions(container.WithCommitListener(func(e container.CommitEvent) {
			if e.Err != nil {
				return
			}
			mu.Lock()
			commits[e.ListenerID] = append(commits[e.ListenerID], e.Offsets)
			mu.Unlock()
		})),
	)

	type mode struct {
		id    string
		parts int32
		// running is the committed offsets once every record was
		// processed, while the app runs (nil: nothing committed).
		running map[int32]int64
		// exact: running must hold at the moment the handler saw the
		// last record, without waiting (commits made synchronously before
		// that: count commits before the next record, manual-immediate
		// ones in Acknowledge).
		exact bool
		// stopped is the committed offsets after app.Stop.
		stopped map[int32]int64
	}
	all1 := map[int32]int64{0: n}
	all2 := map[int32]int64{0: n, 1: n}
	held2 := map[int32]int64{0: hold, 1: n}
	modes := []mode{
		{id: "ack-record", parts: 1, running: all1, stopped: all1},
		{id: "ack-batch", parts: 2, running: all2, stopped: all2},
		{id: "ack-time", parts: 2, running: nil, stopped: all2},
		{id: "ack-count", parts: 1, running: map[int32]int64{0: 10}, exact: true, stopped: all1},
		{id: "ack-count-time", parts: 1, running: map[int32]int64{0: 10}, exact: true, stopped: all1},
		{id: "ack-manual", parts: 2, running: held2, stopped: held2},
		{id: "ack-manual-immediate", parts: 2, running: held2, exact: true, stopped: held2},
	}
	for _, m := range modes {
		for p := range m.parts {
			for i := range n {
				if _, err := app.tmpl.Send(ctx, m.id, fwSeq{N: i}, template.Partition(p)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, m := range modes {
		want := n * int(m.parts)
		fwWait(t, ctx, m.id+" to process every record", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return processed[m.id] == want, fmt.Sprintf("%d of %d", processed[m.id], want)
		})
	}

	// While running.
	for _, m := range modes {
		want := m.running
		if want == nil {
			want = map[int32]int64{}
		}
		if m.exact || m.running == nil {
			if got := fwMustCommitted(t, ctx, adm, m.id, m.id); !maps.Equal(got, want) {
				t.Errorf("%s: committed %v once the records were processed, want %v", m.id, got, want)
			}
			continue
		}
		fwWaitCommitted(t, ctx, adm, m.id, m.id, want)
	}
	mu.Lock()
	var seq []int64
	for _, o := range commits["ack-record"] {
		seq = append(seq, o["ack-record"][0])
	}
	var countSeq []int64
	for _, o := range commits["ack-count"] {
		countSeq = append(countSeq, o["ack-count"][0])
	}
	nTime := len(commits["ack-time"])
	mu.Unlock()
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; !slices.Equal(seq, want) {
		t.Errorf("ack=record committed %v, want one commit per record %v", seq, want)
	}
	if want := []int64{5, 10}; !slices.Equal(countSeq, want) {
		t.Errorf("ack=count committed %v, want %v", countSeq, want)
	}
	if nTime != 0 {
		t.Errorf("ack=time committed %d times before its ack time", nTime)
	}

	if err := app.stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Acknowledging after the stop changes nothing.
	mu.Lock()
	for _, a := range held {
		a.Acknowledge()
	}
	if len(held) != 2 {
		t.Errorf("%d records held unacknowledged, want 2", len(held))
	}
	mu.Unlock()
	for _, m := range modes {
		if got := fwMustCommitted(t, ctx, adm, m.id, m.id); !maps.Equal(got, m.stopped) {
			t.Errorf("%s: committed %v after stop, want %v", m.id, got, m.stopped)
		}
	}
}
