package template

import (
	"testing"
	"time"
)

// TestExpiryReleasesCompleted checks that the delivery-timeout chunks do
// not keep completed sends: after each flush no sealed chunk holds any
// within a tick (the current one keeps its sends until it is sealed);
// once the sends are done, the sweeper drops the chunks within a tick or
// two and stops.
func TestExpiryReleasesCompleted(t *testing.T) {
	ctx := testCtx(t)
	f := newFactory(t, startBroker(t, "expiry"), nil)
	tmpl := f.Template()
	if tmpl.expiry == nil {
		t.Fatal("factory template without delivery timeout")
	}
	e := tmpl.expiry
	const n = 20 * chunkSlots
	maxChunks := 0
	for i := range n {
		tmpl.SendAsync(ctx, "expiry", Order{ID: i})
		if i%chunkSlots != chunkSlots-1 {
			continue
		}
		if err := tmpl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// Every send is done: the sealed chunks (all but the current
		// one) dropped theirs when their last promise ran, or, if it
		// ran before the chunk was sealed, at the sweeper's next tick.
		deadline := time.Now().Add(5 * time.Second)
		for {
			e.mu.Lock()
			held := 0
			for _, c := range e.chunks {
				if sends := c.sends.Load(); sends != nil && c.sealed {
					held += int(c.claimed.Load())
				}
			}
			maxChunks = max(maxChunks, len(e.chunks))
			e.mu.Unlock()
			if held == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %d sends flushed, sealed chunks still hold %d completed sends", i+1, held)
			}
			time.Sleep(expiryTick / 4)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		left, running := len(e.chunks), e.running
		e.mu.Unlock()
		if left == 0 && !running {
			t.Logf("%d sends; at most %d chunks", n, maxChunks)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the sends completed: %d chunks left, sweeper running %v", left, running)
		}
		time.Sleep(expiryTick / 2)
	}
}

// TestExpiryDropsDoneSendsOfSlowChunks: a chunk with a send still pending
// keeps only that one once sealed (a slow partition does not keep the
// sends around it reachable), and drops the chunk when its last outcome
// comes.
func TestExpiryDropsDoneSendsOfSlowChunks(t *testing.T) {
	e := &expiry{timeout: time.Hour}
	var sends []*asyncSend
	for range 10 {
		a := new(asyncSend)
		e.add(a)
		sends = append(sends, a)
	}
	for _, a := range sends[1:] {
		a.f.finish()
		a.done()
	}
	held := func() (chunks, held int, running bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, c := range e.chunks {
			if s := c.sends.Load(); s != nil && c.sealed {
				for _, a := range s[:c.claimed.Load()] {
					if a != nil {
						held++
					}
				}
			}
		}
		return len(e.chunks), held, e.running
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if chunks, n, _ := held(); chunks == 1 && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			chunks, n, _ := held()
			t.Fatalf("%d chunks holding %d sends, want 1 holding the pending one", chunks, n)
		}
		time.Sleep(expiryTick / 4)
	}
	sends[0].f.finish()
	sends[0].done()
	for {
		if chunks, _, running := held(); chunks == 0 && !running {
			return
		}
		if time.Now().After(deadline) {
			chunks, n, running := held()
			t.Fatalf("after the last outcome: %d chunks holding %d sends, sweeper running %v", chunks, n, running)
		}
		time.Sleep(expiryTick / 4)
	}
}
