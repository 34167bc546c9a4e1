package container

import (
	"context"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
)

// TestAckModes checks, per ack mode, the sequence of commits made while
// running and the committed offset after Stop (read back from the broker).
func TestAckModes(t *testing.T) {
	t.Parallel()
	const n = 10
	type tc struct {
		name    string
		mode    listener.AckMode
		opts    []Option
		handler func(e *env, group string, held *heldAcks) any
		// wantRun is the exact sequence of commits before Stop, or nil to
		// check only that commits are increasing.
		wantRun   []int64
		anyRun    bool // commits before stop are expected but their exact points depend on polling
		wantFinal int64
	}
	plain := func(_ *env, _ string, held *heldAcks) any {
		return func(context.Context, string) error { held.handled.Add(1); return nil }
	}
	tests := []tc{
		{name: "record", mode: listener.AckRecord, handler: plain,
			wantRun: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, wantFinal: 10},
		{name: "batch", mode: listener.AckBatch, handler: plain, anyRun: true, wantFinal: 10},
		{name: "count", mode: listener.AckCount, opts: []Option{WithAckCount(3)}, handler: plain,
			wantRun: []int64{3, 6, 9}, wantFinal: 10},
		{name: "time", mode: listener.AckTime, opts: []Option{WithAckTime(time.Hour)}, handler: plain,
			wantRun: []int64{}, wantFinal: 10},
		{name: "count-time", mode: listener.AckCountTime, opts: []Option{WithAckCount(4), WithAckTime(time.Hour)}, handler: plain,
			wantRun: []int64{4, 8}, wantFinal: 10},
		{name: "manual", mode: listener.AckManual, handler: func(_ *env, _ string, held *heldAcks) any {
			// Offsets 2 and 3 are acknowledged late and out of order, 7 never:
			// only the contiguous acknowledged prefix (up to 7) may be committed.
			return func(_ context.Context, s string, a listener.Acknowledgment) error {
				switch s {
				case "2", "3":
					held.hold(s, a)
				case "7":
				default:
					a.Acknowledge()
				}
				return nil
			}
		}, anyRun: true, wantFinal: 7},
		{name: "manual-immediate", mode: listener.AckManualImmediate, handler: func(e *env, group string, _ *heldAcks) any {
			return func(_ context.Context, s string, a listener.Acknowledgment) error {
				a.Acknowledge()
				off, _ := strconv.ParseInt(s, 10, 64)
				if got := e.committed(group)["t"][0]; got != off+1 {
					return NotRetryable(errorf("offset %d: committed %d right after Acknowledge, want %d", off, got, off+1))
				}
				return nil
			}
		}, wantRun: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, wantFinal: 10},
	}
	e := newEnv(t, map[string]int32{"t": 1})
	var vals []string
	for i := 0; i < n; i++ {
		vals = append(vals, strconv.Itoa(i))
	}
	e.produceValues("t", 0, vals...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := "g-" + tt.name
			var (
				cm   commits
				held heldAcks
				errs seen[string]
			)
			endpoint := &listener.Endpoint{ID: tt.name, Group: group, Topics: []string{"t"}, AckMode: tt.mode,
				Handler: tt.handler(e, group, &held)}
			opts := append([]Option{cm.listener(), WithErrorHandler(&ErrorHandler{
				Recoverer: RecovererFunc(func(_ context.Context, f *Failure) error { errs.add(f.Err.Error()); return nil }),
			})}, tt.opts...)
			c, err := New(endpoint, e.opts(opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tt.mode == listener.AckManual {
				waitFor(t, 10*time.Second, func() bool { return held.len() == 2 }, "held acks")
				// Let the container reach its commit point with 2 unacknowledged.
				waitFor(t, 10*time.Second, func() bool {
					o := cm.offsets("t", 0)
					return len(o) > 0 && o[len(o)-1] == 2
				}, "commit of the prefix before offset 2")
				held.ack("3")
				held.ack("2")
				waitFor(t, 10*time.Second, func() bool {
					o := cm.offsets("t", 0)
					return len(o) > 0 && o[len(o)-1] == 7
				}, "commit up to the never-acknowledged offset 7")
			} else {
				waitFor(t, 10*time.Second, func() bool {
					if tt.wantRun != nil {
						return len(cm.offsets("t", 0)) >= len(tt.wantRun)
					}
					o := cm.offsets("t", 0)
					return len(o) > 0 && o[len(o)-1] == n
				}, "commits while running")
				// Stop drops records not yet started (they are redelivered), so
				// the final commit covers all n only once all n were handled.
				waitFor(t, 10*time.Second, func() bool {
					return tt.mode == listener.AckManualImmediate || held.handled.Load() == n
				}, "all records handled")
				if tt.mode == listener.AckTime {
					// Nothing may be committed; give the container time to misbehave.
					time.Sleep(200 * time.Millisecond)
				}
			}
			running := cm.offsets("t", 0)
			stop(t, c)
			if tt.wantRun != nil && !reflect.DeepEqual(running, tt.wantRun) && !(len(running) == 0 && len(tt.wantRun) == 0) {
				t.Errorf("commits while running = %v, want %v", running, tt.wantRun)
			}
			for i := 1; i < len(running); i++ {
				if running[i] < running[i-1] {
					t.Errorf("commits went backwards: %v", running)
				}
			}
			if got := e.committed(group)["t"][0]; got != tt.wantFinal {
				t.Errorf("committed after stop = %d, want %d", got, tt.wantFinal)
			}
			if es := errs.all(); len(es) > 0 {
				t.Errorf("handler errors: %v", es)
			}
		})
	}
}

type heldAcks struct {
	mu      sync.Mutex
	acks    map[string]listener.Acknowledgment
	handled atomic.Int64 // records the plain handler has seen
}

func (h *heldAcks) hold(k string, a listener.Acknowledgment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.acks == nil {
		h.acks = map[string]listener.Acknowledgment{}
	}
	h.acks[k] = a
}

func (h *heldAcks) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acks)
}

func (h *heldAcks) ack(k string) {
	h.mu.Lock()
	a := h.acks[k]
	h.mu.Unlock()
	a.Acknowledge()
}

type strError string

func (e strError) Error() string { return string(e) }

func errorf(format string, args ...any) error { return strError(sprintf(format, args...)) }
