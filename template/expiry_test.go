package template

import (
	"testing"
	"time"
)

// TestExpiryReleasesCompleted checks that the delivery-timeout chunks do
// not keep completed sends: after each flush no slot holds a send; once
// the sends are done, the sweeper drops the chunks within a tick or two
// and stops.
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
		e.mu.Lock()
		held := 0
		for _, c := range e.chunks {
			for j := range min(c.n.Load(), chunkSlots) {
				if c.slots[j].Load() != nil {
					held++
				}
			}
		}
		maxChunks = max(maxChunks, len(e.chunks))
		e.mu.Unlock()
		if held > 0 {
			t.Fatalf("after %d sends flushed, %d completed sends still held", i+1, held)
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
