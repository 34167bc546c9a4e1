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
// kept in a list in send order (linked through the sends themselves, so a
// completed send leaves it at once and nothing completed is retained),
// which one goroutine, running only while the list is not empty, checks
// every expiryTick.

// expiryTick is how often the pending asynchronous sends are checked:
// they fail between the delivery timeout and the timeout plus a tick.
const expiryTick = 100 * time.Millisecond

// Async send states.
const (
	sendPending int32 = iota
	sendDone
	sendExpired
)

// expiry fails the asynchronous sends that outlive the delivery timeout.
type expiry struct {
	t       *Template
	timeout time.Duration

	mu         sync.Mutex
	head, tail *asyncSend // oldest first
	running    bool
	now        int64 // unix nanos, refreshed every tick while running
}

// add registers a pending send.
func (e *expiry) add(a *asyncSend) {
	e.mu.Lock()
	if !e.running {
		e.running = true
		e.now = time.Now().UnixNano()
		go e.sweep()
	}
	a.born = e.now
	a.prev, a.next = e.tail, nil
	if e.tail != nil {
		e.tail.next = a
	} else {
		e.head = a
	}
	e.tail = a
	a.listed = true
	e.mu.Unlock()
}

// remove unregisters a send; e.mu must be held.
func (e *expiry) remove(a *asyncSend) {
	if !a.listed {
		return
	}
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		e.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		e.tail = a.prev
	}
	a.prev, a.next, a.listed = nil, nil, false
}

// done unregisters a send whose outcome arrived.
func (e *expiry) done(a *asyncSend) {
	e.mu.Lock()
	e.remove(a)
	e.mu.Unlock()
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
		for a := e.head; a != nil && a.born <= limit; a = e.head {
			e.remove(a)
			expired = append(expired, a)
		}
		if e.head == nil && len(expired) == 0 {
			e.running = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		for _, a := range expired {
			a.expire(e.timeout)
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
