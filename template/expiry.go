package template

import (
	"fmt"
	"sync"
	"sync/atomic"
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
// kept in chunks, in send order, which one goroutine, running only while
// there are chunks, checks every expiryTick. A send takes the next slot
// of the current chunk (two atomic additions on a line only senders
// write, and a plain store); its promise counts it done in its chunk (a
// plain addition: franz-go calls a client's promises serially), and the
// promise that completes a sealed chunk drops the chunk's sends at once.
// A chunk takes the sends of one tick at most: the sweeper seals the
// current chunk at each tick (or a sender when it is full), and a chunk's
// sends count their age from the tick it was made at. At each tick the
// sweeper fails the sends still pending in chunks older than the timeout
// and drops those chunks; in the other sealed chunks a promise has not
// dropped (one still waits for an outcome, or its last outcome came
// before it was sealed) it drops the sends already done, and the chunk
// once they all are, so that a slow partition keeps only its own sends.

// expiryTick is how often the pending asynchronous sends are checked:
// they fail between the delivery timeout and the timeout plus a tick.
const expiryTick = 100 * time.Millisecond

// chunkSlots is the number of sends a chunk holds.
const chunkSlots = 512

// expiry fails the asynchronous sends that outlive the delivery timeout.
type expiry struct {
	t       *Template
	timeout time.Duration
	// cur is the chunk sends go to; nil when sealed (the next send makes
	// a new one).
	cur atomic.Pointer[sendChunk]

	mu      sync.Mutex
	chunks  []*sendChunk // oldest first, the current one last
	running bool
	now     int64 // unix nanos, refreshed every tick while running
}

// sendChunk holds the asynchronous sends of one tick (at most).
type sendChunk struct {
	// n counts the slots taken, beyond chunkSlots once full or sealed;
	// stored counts the sends stored in theirs: written by senders.
	n, stored atomic.Int64
	_         [48]byte
	// done counts the sends whose promise ran: only promises read and
	// write it, and franz-go calls them serially (documented on
	// kgo.Client.Produce).
	done int64
	// claimed is the number of slots taken once sealed (chunkSlots+1
	// before).
	claimed atomic.Int64
	_       [48]byte
	// sends are the chunk's sends, nil once dropped: written by their
	// senders before stored counts them, read and emptied by the
	// sweeper once they are all stored.
	sends  atomic.Pointer[[chunkSlots]*asyncSend]
	born   int64 // unix nanos, coarse (expiry.now at its making)
	sealed bool  // expiry.mu
}

// add registers a pending send.
func (e *expiry) add(a *asyncSend) {
	for {
		if c := e.cur.Load(); c != nil {
			if i := c.n.Add(1) - 1; i < chunkSlots {
				// Not sealed when i was taken, so not dropped before
				// this send's promise runs.
				c.sends.Load()[i] = a
				a.f.chunk = c
				c.stored.Add(1)
				return
			}
		}
		e.grow()
	}
}

// grow makes a new current chunk, sealing the full one, and starts the
// sweeper if it is not running.
func (e *expiry) grow() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running {
		e.running = true
		e.now = time.Now().UnixNano()
		go e.sweep()
	}
	c := e.cur.Load()
	if c != nil && c.n.Load() < chunkSlots {
		return // another sender made it
	}
	if c != nil {
		e.seal(c)
	}
	c = &sendChunk{born: e.now}
	c.claimed.Store(chunkSlots + 1)
	c.sends.Store(new([chunkSlots]*asyncSend))
	e.chunks = append(e.chunks, c)
	e.cur.Store(c)
}

// seal ends c's taking of slots: a sender that took one before still
// stores its send (stored catches up with claimed). e.mu must be held.
func (e *expiry) seal(c *sendChunk) {
	if c.sealed {
		return
	}
	c.sealed = true
	claimed := min(c.n.Add(chunkSlots)-chunkSlots, chunkSlots)
	c.claimed.Store(claimed)
	if e.cur.Load() == c {
		e.cur.Store(nil)
	}
}

// done counts a send whose outcome is known in its chunk; the last of a
// sealed chunk drops the chunk's sends.
func (a *asyncSend) done() {
	if c := a.f.chunk; c != nil {
		c.done++
		if c.done == c.claimed.Load() {
			c.sends.Store(nil)
		}
	}
}

// sweep fails expired sends every tick, and drops chunks, until there are
// none.
func (e *expiry) sweep() {
	tk := time.NewTicker(expiryTick)
	defer tk.Stop()
	for now := range tk.C {
		e.mu.Lock()
		e.now = now.UnixNano()
		limit := e.now - e.timeout.Nanoseconds()
		if c := e.cur.Load(); c != nil && c.born < e.now {
			e.seal(c) // a chunk takes the sends of one tick
		}
		var expired []*asyncSend
		kept := e.chunks[:0]
		for _, c := range e.chunks {
			sends := c.sends.Load()
			switch {
			case sends == nil:
				continue // all done
			case !c.sealed || c.stored.Load() < c.claimed.Load():
				kept = append(kept, c) // still taking sends, or storing them
				continue
			case c.born <= limit:
				for _, a := range sends[:c.claimed.Load()] {
					if a != nil && a.f.pending() {
						expired = append(expired, a)
					}
				}
				c.sends.Store(nil)
				continue
			}
			// Sealed, and not dropped by a promise: let the sends
			// already done go, and the chunk if they all are (its last
			// outcome came before it was sealed).
			left := 0
			for i, a := range sends[:c.claimed.Load()] {
				switch {
				case a == nil:
				case a.f.pending():
					left++
				default:
					sends[i] = nil
				}
			}
			if left == 0 {
				c.sends.Store(nil)
				continue
			}
			kept = append(kept, c)
		}
		clear(e.chunks[len(kept):])
		e.chunks = kept
		if len(e.chunks) == 0 && len(expired) == 0 {
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
