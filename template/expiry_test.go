package template

import (
	"testing"
	"time"
)

// TestExpiryListReleasesCompleted checks that the delivery-timeout list
// does not keep completed sends: while sending, the sender's compactions
// bound it; once the sends are done, the sweeper's next tick empties it
// and the sweeper stops.
func TestExpiryListReleasesCompleted(t *testing.T) {
	ctx := testCtx(t)
	f := newFactory(t, startBroker(t, "expiry"), nil)
	tmpl := f.Template()
	if tmpl.expiry == nil {
		t.Fatal("factory template without delivery timeout")
	}
	const n = 20 * minCompact
	maxLen := 0
	for i := range n {
		tmpl.SendAsync(ctx, "expiry", Order{ID: i})
		if i%minCompact == 0 {
			if err := tmpl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tmpl.expiry.mu.Lock()
		maxLen = max(maxLen, len(tmpl.expiry.pending))
		tmpl.expiry.mu.Unlock()
	}
	if err := tmpl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Completed sends are dropped by compactions, so the list stays
	// near the number in flight (at most minCompact between flushes
	// here), far below n.
	if maxLen > 4*minCompact {
		t.Errorf("list grew to %d entries for %d sends", maxLen, n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tmpl.expiry.mu.Lock()
		left, running := len(tmpl.expiry.pending), tmpl.expiry.running
		tmpl.expiry.mu.Unlock()
		if left == 0 && !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the sends completed: %d entries left, sweeper running %v", left, running)
		}
		time.Sleep(expiryTick / 2)
	}
}
