package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/listener"
)

// shareEarliest makes the share group start at the log start
// (share.auto.offset.reset=earliest), as a test that produces before its
// listener starts needs.
func (e *env) shareEarliest(group string) {
	e.t.Helper()
	e.groupConfig(group, "share.auto.offset.reset", "earliest")
}

// TestShareListener: a share listener with more members than partitions
// accepts what its handler handled, releases what failed (the broker
// redelivers it, with a higher delivery count), rejects poison pills and
// sends them to its dead-letter topic with the reason.
func TestShareListener(t *testing.T) {
	e := newEnv(t, map[string]int32{"work": 2, "work.DLT": 1})
	e.shareEarliest("workers")
	var (
		mu       sync.Mutex
		accepted = map[string]int{}
		attempts = map[string]int{}
	)
	handler := func(ctx context.Context, o Order) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[o.ID]++
		if strings.HasPrefix(o.ID, "flaky") && attempts[o.ID] < 3 {
			return fmt.Errorf("flaky %s, attempt %d", o.ID, attempts[o.ID])
		}
		accepted[o.ID]++
		return nil
	}
	var vals []string
	for i := range 60 {
		id := fmt.Sprintf("o-%d", i)
		if i%10 == 0 {
			id = fmt.Sprintf("flaky-%d", i)
		}
		vals = append(vals, jsonValue(Order{ID: id, Amount: i}))
	}
	e.produceValues("work", 0, vals[:30]...)
	e.produceValues("work", 1, vals[30:]...)
	e.produceValues("work", 0, "{not json")
	c := e.start(ep("work", handler, func(ep *listener.Endpoint) {
		ep.Share, ep.Group, ep.Concurrency, ep.DLT = true, "workers", 4, "work.DLT"
	}))
	waitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) == 60
	}, "60 records accepted")
	dlt := e.readAll("work.DLT", 1)
	if string(dlt[0].Value) != "{not json" {
		t.Fatalf("dead letter %q", dlt[0].Value)
	}
	var reason string
	for _, h := range dlt[0].Headers {
		if h.Key == HeaderDLTExceptionMessage {
			reason = string(h.Value)
		}
	}
	if reason == "" {
		t.Errorf("dead letter without the reason: %v", dlt[0].Headers)
	}
	stop(t, c)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
	for id, n := range attempts {
		if strings.HasPrefix(id, "flaky") && n != 3 {
			t.Errorf("%s handled %d times, want 3 (released twice)", id, n)
		}
	}
	t.Logf("60 records accepted once each, 6 flaky ones after 2 releases, 1 poison pill rejected to work.DLT (%s)", reason)
}

// TestShareListenerRefused: what a share listener cannot do fails at
// creation, naming the listener.
func TestShareListenerRefused(t *testing.T) {
	h := func(context.Context, Order) error { return nil }
	for _, tc := range []struct {
		name string
		mod  func(*listener.Endpoint)
		want string
	}{
		{"batch", func(ep *listener.Endpoint) {
			ep.Batch, ep.Handler = true, func(context.Context, []Order) error { return nil }
		}, "batch is not supported"},
		{"partitions", func(ep *listener.Endpoint) {
			ep.Topics, ep.Partitions = nil, []listener.TopicPartition{{Topic: "t", Partition: 0}}
		}, "takes no partitions"},
		{"transactional", func(ep *listener.Endpoint) { ep.Transactional = listener.On }, "cannot be transactional"},
		{"ack count", func(ep *listener.Endpoint) { ep.AckMode = listener.AckCount }, "ack mode count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ep("t", h, func(ep *listener.Endpoint) { ep.Share = true }, tc.mod)
			_, err := New(e)
			if !errors.Is(err, ErrInvalidContainer) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `listener "t"`) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// lockedBuffer is a log sink tests read while the container writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestShareListenerAckRefused: a handler that holds a record past its
// acquisition lock loses it to another member; the broker refuses its late
// acceptance (INVALID_RECORD_STATE: the record is the other member's) and
// the container logs it.
func TestShareListenerAckRefused(t *testing.T) {
	e := newEnv(t, map[string]int32{"slow": 1})
	e.shareEarliest("slowpoke")
	e.groupConfig("slowpoke", "share.record.lock.duration.ms", "1000")
	logs := &lockedBuffer{}
	refused := func() bool {
		s := logs.String()
		return strings.Contains(s, "acknowledgements refused") && strings.Contains(s, "INVALID_RECORD_STATE")
	}
	var (
		mu      sync.Mutex
		handled int
		again   = make(chan struct{})
	)
	handler := func(ctx context.Context, o Order) error {
		mu.Lock()
		handled++
		n := handled
		mu.Unlock()
		switch n {
		case 1:
			// Held past the lock, until the record is delivered again:
			// to the other member, this one is busy.
			select {
			case <-again:
			case <-time.After(20 * time.Second):
			}
		case 2:
			close(again)
			// Held until the first delivery's acceptance is refused
			// (the test fails below if it is not).
			for deadline := time.Now().Add(20 * time.Second); !refused() && time.Now().Before(deadline) && ctx.Err() == nil; {
				time.Sleep(10 * time.Millisecond)
			}
		}
		return nil
	}
	e.produceValues("slow", 0, jsonValue(Order{ID: "slow-1"}))
	e.start(ep("slow", handler, func(ep *listener.Endpoint) {
		ep.Share, ep.Group, ep.Concurrency = true, "slowpoke", 2
	}), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	waitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled >= 2 && refused()
	}, "the record delivered again and the late acceptance refused")
}

// groupConfig sets a config of a group (the GROUP config resource).
func (e *env) groupConfig(group, name, value string) {
	e.t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	res.ResourceName = group
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = name, kmsg.StringPtr(value)
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(context.Background(), e.cl)
	if err != nil {
		e.t.Fatalf("IncrementalAlterConfigs: %v", err)
	}
	if code := resp.Resources[0].ErrorCode; code != 0 {
		e.t.Fatalf("IncrementalAlterConfigs %s of group %s: error %d", name, group, code)
	}
}
