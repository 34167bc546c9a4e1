package container

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/listener"
)

// TestSeekAndPause covers Seek, SeekToBeginning, SeekToEnd, Pause/Resume
// and PausePartitions/ResumePartitions.
func TestSeekAndPause(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"s": 2})
	var got seen[string]
	c := e.start(ep("s", func(_ context.Context, s string) error { got.add(s); return nil }))
	e.produceValues("s", 0, "a0", "a1", "a2")
	waitFor(t, 10*time.Second, func() bool { return got.len() == 3 }, "first pass")

	if err := c.Seek("s", 0, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return got.len() == 5 }, "redelivery after seek")
	if g := strings.Join(got.all()[3:], ","); g != "a1,a2" {
		t.Errorf("after Seek(1): %s", g)
	}
	if err := c.SeekToBeginning("s"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return got.len() == 8 }, "redelivery after seek to beginning")
	if err := c.Seek("nope", 0, 0); !errors.Is(err, ErrNotAssigned) {
		t.Errorf("seek on unassigned partition: %v", err)
	}

	c.Pause()
	if !c.Paused() {
		t.Fatal("not paused")
	}
	e.produceValues("s", 1, "b0")
	time.Sleep(200 * time.Millisecond) // nothing may arrive while paused
	if n := got.len(); n != 8 {
		t.Fatalf("%d records delivered while paused", n-8)
	}
	c.Resume()
	waitFor(t, 10*time.Second, func() bool { return got.len() == 9 }, "record after resume")

	c.PausePartitions(map[string][]int32{"s": {1}})
	e.produceValues("s", 1, "b1")
	e.produceValues("s", 0, "a3")
	waitFor(t, 10*time.Second, func() bool { return got.len() == 10 }, "unpaused partition")
	time.Sleep(200 * time.Millisecond)
	if g := got.all(); g[9] != "a3" || len(g) != 10 {
		t.Fatalf("paused partition delivered: %v", g)
	}
	if pp := c.PausedPartitions(); len(pp["s"]) != 1 {
		t.Errorf("PausedPartitions = %v", pp)
	}
	c.ResumePartitions(map[string][]int32{"s": {1}})
	waitFor(t, 10*time.Second, func() bool { return got.len() == 11 }, "resumed partition")

	if err := c.SeekToEnd("s", 0); err != nil {
		t.Fatal(err)
	}
	e.produceValues("s", 0, "a4")
	waitFor(t, 10*time.Second, func() bool { return got.len() == 12 }, "record after seek to end")
	if g := got.all(); g[11] != "a4" {
		t.Errorf("after SeekToEnd: %v", g[11:])
	}
}

func TestIdleEventsAndRebalanceCallbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"idle": 2})
	var idle atomic.Int32
	assigned := make(chan map[string][]int32, 4)
	e.start(ep("idle", func(context.Context, string) error { return nil }),
		WithIdleEvents(30*time.Millisecond, func(ev IdleEvent) {
			if ev.ListenerID == "idle" && ev.IdleFor >= 30*time.Millisecond {
				idle.Add(1)
			}
		}),
		WithRebalanceListener(RebalanceListener{Assigned: func(_ context.Context, m map[string][]int32) { assigned <- m }}))
	select {
	case m := <-assigned:
		if len(m["idle"]) != 2 {
			t.Errorf("assigned %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no assignment callback")
	}
	waitFor(t, 10*time.Second, func() bool { return idle.Load() >= 2 }, "idle events")
}

// TestExplicitPartitions: partitions with initial offsets, no group
// management, commits to the group, resume from the commits.
func TestExplicitPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"x": 3})
	e.produceValues("x", 0, "p0-0", "p0-1", "p0-2")
	e.produceValues("x", 1, "p1-0", "p1-1")
	e.produceValues("x", 2, "p2-0", "p2-1")
	var got seen[string]
	mk := func() *Container {
		reg := listener.NewRegistry()
		type L struct {
			F func(context.Context, string) error `kafka:"id=x,group=xg,partitions=x:0@1;x:1@earliest;x:2@-1,concurrency=2"`
		}
		eps, err := reg.Register(&L{F: func(_ context.Context, s string) error { got.add(s); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(eps[0], e.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := mk()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return got.len() == 5 }, "initial records")
	want := map[string]bool{"p0-1": true, "p0-2": true, "p1-0": true, "p1-1": true, "p2-1": true}
	for _, s := range got.all() {
		if !want[s] {
			t.Errorf("unexpected record %s", s)
		}
	}
	if a := c.Assignment(); len(a["x"]) != 3 {
		t.Errorf("assignment %v", a)
	}
	stop(t, c)
	if cm := e.committed("xg")["x"]; cm[0] != 3 || cm[1] != 2 || cm[2] != 2 {
		t.Errorf("committed %v", cm)
	}
	// The initial offsets apply at every start (as in Spring); only
	// partitions without one resume from the commits.
	ep := &listener.Endpoint{ID: "x2", Group: "xg", Partitions: []listener.TopicPartition{{Topic: "x", Partition: 1}},
		Handler: func(_ context.Context, s string) error { got.add(s); return nil }}
	e.produceValues("x", 1, "p1-2")
	e.start(ep)
	waitFor(t, 10*time.Second, func() bool { return got.len() == 6 }, "resume from commit")
	if g := got.all(); g[5] != "p1-2" {
		t.Errorf("resumed with %v", g[5:])
	}
}

// TestNack: a nacked record is redelivered after the sleep, in order.
func TestNack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"nack": 1})
	e.produceValues("nack", 0, "a", "b", "c")
	var got seen[string]
	var nacked atomic.Bool
	c := e.start(&listener.Endpoint{ID: "nack", Topics: []string{"nack"}, AckMode: listener.AckManual,
		Handler: func(_ context.Context, s string, a listener.Acknowledgment) error {
			got.add(s)
			if s == "b" && nacked.CompareAndSwap(false, true) {
				a.Nack(20 * time.Millisecond)
				return nil
			}
			a.Acknowledge()
			return nil
		}})
	waitFor(t, 10*time.Second, func() bool { return got.len() == 4 }, "records")
	if g := strings.Join(got.all(), ","); g != "a,b,b,c" {
		t.Errorf("got %s", g)
	}
	stop(t, c)
	if got := e.committed("nack")["nack"][0]; got != 3 {
		t.Errorf("committed %d", got)
	}
}

// TestPatternAndProperties: a pattern subscription (anchored) with client
// properties.
func TestPatternAndProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"evt-a": 1, "evt-b": 1, "xevt-a": 1})
	e.produceValues("evt-a", 0, "1")
	e.produceValues("evt-b", 0, "2")
	e.produceValues("xevt-a", 0, "not me")
	var got seen[string]
	e.start(&listener.Endpoint{ID: "pat", Pattern: `evt-.`, ClientIDPrefix: "pat",
		Properties: map[string]string{"fetch.max.wait.ms": "20", "max.poll.records": "10", "auto.offset.reset": "earliest"},
		Handler:    func(_ context.Context, s string) error { got.add(s); return nil }})
	waitFor(t, 10*time.Second, func() bool { return got.len() == 2 }, "pattern topics")
	time.Sleep(100 * time.Millisecond)
	if got.len() != 2 {
		t.Errorf("got %v (the pattern must match whole topic names)", got.all())
	}
}

func TestNewErrors(t *testing.T) {
	h := func(context.Context, string) error { return nil }
	reply := func(context.Context, string) (string, error) { return "", nil }
	tests := []struct {
		name string
		ep   *listener.Endpoint
		opts []Option
		want string
	}{
		{"unknown property", &listener.Endpoint{ID: "a", Topics: []string{"t"}, Properties: map[string]string{"bogus": "1"}, Handler: h},
			nil, `unknown property "bogus"`},
		{"bad property", &listener.Endpoint{ID: "a", Topics: []string{"t"}, Properties: map[string]string{"fetch.max.wait.ms": "x"}, Handler: h},
			nil, "fetch.max.wait.ms: want milliseconds"},
		{"unknown error handler", &listener.Endpoint{ID: "a", Topics: []string{"t"}, ErrorHandler: "eh", Handler: h},
			[]Option{WithErrorHandlers(map[string]*ErrorHandler{"other": {}})}, `unknown error handler "eh"`},
		{"reply without publisher", &listener.Endpoint{ID: "a", Topics: []string{"t"}, SendTo: "r", Handler: reply},
			nil, "no publisher"},
		{"invalid endpoint", &listener.Endpoint{ID: "a", Handler: h}, nil, "missing topics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.ep, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
}

// TestRegistry starts auto-startup containers only and stops them all.
func TestRegistry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"r1": 1, "r2": 1})
	type L struct {
		A func(context.Context, string) error `kafka:"topics=r1,id=r1"`
		B func(context.Context, string) error `kafka:"topics=r2,id=r2,autostartup=false"`
	}
	lr := listener.NewRegistry()
	h := func(context.Context, string) error { return nil }
	if _, err := lr.Register(&L{A: h, B: h}); err != nil {
		t.Fatal(err)
	}
	reg, err := FromListeners(lr, e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reg.Container("r1").Running() || reg.Container("r2").Running() {
		t.Errorf("running: r1 %v r2 %v", reg.Container("r1").Running(), reg.Container("r2").Running())
	}
	if err := reg.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if reg.Container("r1").Running() {
		t.Error("r1 still running")
	}
}

// TestSeekToTimestamp: a seek to a time redelivers from the first record
// at or after it; a time past every record seeks to the end.
func TestSeekToTimestamp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"ts": 1})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var rs []*kgo.Record
	for i := range 4 {
		rs = append(rs, &kgo.Record{Topic: "ts", Partition: 0, Value: []byte(fmt.Sprintf("t%d", i)), Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	e.produce(rs...)
	var got seen[string]
	c := e.start(ep("ts", func(_ context.Context, s string) error { got.add(s); return nil }))
	waitFor(t, 10*time.Second, func() bool { return got.len() == 4 }, "first pass")
	if err := c.SeekToTimestamp("ts", base.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return got.len() == 6 }, "redelivery after the seek")
	if g := strings.Join(got.all()[4:], ","); g != "t2,t3" {
		t.Errorf("after SeekToTimestamp(base+90s): %s, want t2,t3", g)
	}
	if err := c.SeekToTimestamp("ts", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.produceValues("ts", 0, "late")
	waitFor(t, 10*time.Second, func() bool { return got.len() == 7 }, "a record after a seek past the end")
	if g := got.all()[6]; g != "late" {
		t.Errorf("after a seek past every record: %s", g)
	}
}

// TestSeekOnAssign: partitions positioned by WithSeekOnAssign are read
// from there, whatever the group committed: here from offset 2 on one
// partition and from a time on the other.
func TestSeekOnAssign(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"sa": 2})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 4 {
			rs = append(rs, &kgo.Record{Topic: "sa", Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i)), Timestamp: base.Add(time.Duration(i) * time.Minute)})
		}
	}
	e.produce(rs...)
	var got seen[string]
	e.start(ep("sa", func(_ context.Context, s string) error { got.add(s); return nil }),
		WithSeekOnAssign(func(_ context.Context, assigned map[string][]int32, s Seeker) {
			for _, p := range assigned["sa"] {
				if p == 0 {
					s.Seek("sa", 0, 2)
				} else {
					s.SeekToTimestamp("sa", base.Add(150*time.Second), p)
				}
			}
		}))
	waitFor(t, 10*time.Second, func() bool { return got.len() >= 3 }, "records after the seeks")
	// A last record on each partition: once both are handled, everything
	// before them on their partitions was handled or skipped.
	e.produceValues("sa", 0, "p0-end")
	e.produceValues("sa", 1, "p1-end")
	waitFor(t, 10*time.Second, func() bool {
		g := got.all()
		return slices.Contains(g, "p0-end") && slices.Contains(g, "p1-end")
	}, "the last records")
	g := got.all()
	slices.Sort(g)
	if strings.Join(g, ",") != "p0-2,p0-3,p0-end,p1-3,p1-end" {
		t.Fatalf("handled %v, want p0-2,p0-3,p0-end,p1-3,p1-end", g)
	}
}
