package template

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Delivery timeouts.
//
// franz-go's own delivery timeout (kgo.RecordDeliveryTimeout) counts from
// the record's timestamp, and fails a record only where that cannot break
// an idempotent producer's sequence numbers: not one that may have been
// written to a connection that then died, which it keeps until it learns
// its fate, for as long as the brokers stay away. Kafka's own producer
// fails such a batch at delivery.timeout.ms. So the template enforces
// kafka.producer.delivery-timeout itself: a send's result (Send's return,
// the Future, OnComplete) is an error wrapping ErrDeliveryTimeout (and so
// kgo.ErrRecordTimeout) once the timeout has passed; the record's real
// outcome, when franz-go learns it, still goes to the ProducerListener
// and the metrics.
//
// A synchronous send gets the timeout as its context's deadline (franz-go
// then drops the record if it has not sent it yet). Asynchronous sends are
// kept in a list in send order, which one goroutine, running only while
// the list is not empty, checks every expiryTick. The promise of a send
// does not touch the list (it only claims the send's future, which the
// expiry would otherwise claim): sends whose outcome is known are dropped
// from it by a compaction, which the sender runs when the list has doubled
// since the last one, and the goroutine at every tick. So a completed send
// stays referenced by the list until then: at most about minCompact sends,
// or twice those pending, or a tick's worth once sending stops.

// expiryTick is how often the pending asynchronous sends are checked:
// they fail between the delivery timeout and the timeout plus a tick.
const expiryTick = 100 * time.Millisecond

// minCompact is the length of the list below which a send does not
// compact it.
const minCompact = 1024

// expiry fails the asynchronous sends that outlive the delivery timeout.
type expiry struct {
	t       *Template
	timeout time.Duration

	mu        sync.Mutex
	pending   []pendingSend // oldest first
	compactAt int           // len(pending) at which add compacts
	running   bool
	now       int64 // unix nanos, refreshed every tick while running
}

// pendingSend is a send in the expiry list and when it was added.
type pendingSend struct {
	a    *asyncSend
	born int64 // unix nanos, coarse (e.now)
}

// add registers a pending send.
func (e *expiry) add(a *asyncSend) {
	e.mu.Lock()
	if !e.running {
		e.running = true
		e.now = time.Now().UnixNano()
		go e.sweep()
	}
	if len(e.pending) >= e.compactAt {
		e.compact()
	}
	e.pending = append(e.pending, pendingSend{a: a, born: e.now})
	e.mu.Unlock()
}

// compact drops the sends whose outcome is known, keeping the order; e.mu
// must be held.
func (e *expiry) compact() {
	kept := e.pending[:0]
	for _, p := range e.pending {
		if p.a.f.pending() {
			kept = append(kept, p)
		}
	}
	clear(e.pending[len(kept):])
	e.pending = kept
	if c := cap(kept); c > 4*minCompact && c > 4*len(kept) {
		// Give back the room of a burst.
		e.pending = append(make([]pendingSend, 0, 2*len(kept)), kept...)
	}
	e.compactAt = max(2*len(kept), minCompact)
}

// sweep fails expired sends every tick until the list is empty.
func (e *expiry) sweep() {
	tk := time.NewTicker(expiryTick)
	defer tk.Stop()
	for now := range tk.C {
		e.mu.Lock()
		e.now = now.UnixNano()
		limit := e.now - e.timeout.Nanoseconds()
		var expired []*asyncSend
		n := 0
		for ; n < len(e.pending) && e.pending[n].born <= limit; n++ {
			if a := e.pending[n].a; a.f.pending() {
				expired = append(expired, a)
			}
		}
		if n > 0 {
			rest := copy(e.pending, e.pending[n:])
			clear(e.pending[rest:])
			e.pending = e.pending[:rest]
		}
		e.compact()
		if len(e.pending) == 0 && len(expired) == 0 {
			e.running = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		for _, a := range expired {
			e.t.expire(a)
		}
	}
}

// ErrDeliveryTimeout is wrapped by the result of a send that had no
// outcome within kafka.producer.delivery-timeout. It also matches
// kgo.ErrRecordTimeout, franz-go's error for records it failed at that
// timeout itself.
var ErrDeliveryTimeout error = deliveryTimeoutError{}

type deliveryTimeoutError struct{}

func (deliveryTimeoutError) Error() string { return "delivery timeout" }

func (deliveryTimeoutError) Is(target error) bool { return target == kgo.ErrRecordTimeout }

// deliveryError says that a send had no outcome within the delivery
// timeout, and the last broker-side error.
func (t *Template) deliveryError() error {
	return withCause(fmt.Errorf("%w: no outcome after %v (kafka.producer.delivery-timeout)", ErrDeliveryTimeout, t.deliveryTimeout), t.watch.LastError())
}

// timeoutError is the result of a send that outlived the delivery
// timeout, whose record may still be delivered.
func (t *Template) timeoutError(topic string) error {
	return fmt.Errorf("template: send to %q: %w; the record may still be delivered, its outcome goes to the listener", topic, t.deliveryError())
}
