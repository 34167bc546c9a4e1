package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// eventLog records the events a container emits.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// kinds returns the events' type names, in order.
func (l *eventLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.events))
	for i, e := range l.events {
		out[i] = fmt.Sprintf("%T", e)
	}
	return out
}

func (l *eventLog) has(kind string) bool {
	for _, k := range l.kinds() {
		if k == kind {
			return true
		}
	}
	return false
}

// TestLifecycleEvents: a container's listeners hear it start, get its
// partitions, go idle, report a handler stuck longer than the monitor
// interval, and stop; its State follows; a container whose clients
// cannot be created fails to start, emits FailedEvent and reports
// StateFailed with the cause.
func TestLifecycleEvents(t *testing.T) {
	e := newEnv(t, map[string]int32{"events": 2})
	var log eventLog
	release := make(chan struct{})
	handler := func(ctx context.Context, o Order) error {
		if o.ID == "stuck" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}
	c, err := New(ep("events", handler), e.opts(
		WithEventListener(log.add),
		WithIdleEvents(100*time.Millisecond, func(IdleEvent) {}),
		WithMonitorInterval(150*time.Millisecond),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.State(); st != StateStopped {
		t.Fatalf("state before start: %v", st)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return c.State() == StateRunning }, "state running")
	waitFor(t, 5*time.Second, func() bool { return log.has("container.PartitionsAssignedEvent") }, "assigned event")
	waitFor(t, 5*time.Second, func() bool { return log.has("container.IdleEvent") }, "idle event")

	e.produce(&kgo.Record{Topic: "events", Partition: 0, Value: []byte(`{"id":"stuck"}`)})
	waitFor(t, 5*time.Second, func() bool { return log.has("container.NonResponsiveEvent") }, "non-responsive event")
	log.mu.Lock()
	for _, ev := range log.events {
		if nr, ok := ev.(NonResponsiveEvent); ok && (nr.Topic != "events" || nr.Partition != 0 || nr.Offset != 0 || nr.Busy < 150*time.Millisecond) {
			t.Errorf("non-responsive event %+v", nr)
		}
	}
	log.mu.Unlock()
	close(release)

	c.Pause()
	if st := c.State(); st != StatePaused {
		t.Errorf("state after Pause: %v", st)
	}
	c.Resume()
	stop(t, c)
	if st := c.State(); st != StateStopped {
		t.Errorf("state after Stop: %v", st)
	}
	kinds := log.kinds()
	if kinds[0] != "container.StartedEvent" || kinds[len(kinds)-1] != "container.StoppedEvent" || !log.has("container.PartitionsRevokedEvent") {
		t.Errorf("events %v: want StartedEvent first, PartitionsRevokedEvent, StoppedEvent last", kinds)
	}
	for _, ev := range log.events {
		if ev.Listener() != "events" {
			t.Errorf("event %T of listener %q", ev, ev.Listener())
		}
	}

	// A container whose clients cannot be created.
	var flog eventLog
	bad, err := New(ep("events", handler), e.opts(WithEventListener(flog.add),
		WithClientOpts(kgo.RecordDeliveryTimeout(time.Millisecond)))...) // refused by kgo.NewClient
	if err != nil {
		t.Fatal(err)
	}
	serr := bad.Start(context.Background())
	if serr == nil {
		t.Fatal("start with an invalid client option succeeded")
	}
	st := bad.Status()
	if st.State != StateFailed || !errors.Is(st.Err, serr) && st.Err.Error() != serr.Error() {
		t.Errorf("status after a failed start: %v %v", st.State, st.Err)
	}
	if k := flog.kinds(); len(k) != 1 || k[0] != "container.FailedEvent" {
		t.Errorf("events of a failed start: %v", k)
	}
}
