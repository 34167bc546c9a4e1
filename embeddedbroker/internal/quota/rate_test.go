package quota

import (
	"fmt"
	"math"
	"testing"
)

// Port of Kafka's RateTest.testRateWithNoPriorAvailableSamples: with fewer
// than samples-1 full windows retained, the rate assumes N-1 prior empty
// samples.
func TestRateWithNoPriorAvailableSamples(t *testing.T) {
	for _, tc := range []struct{ samples, windowSec int }{{1, 1}, {1, 11}, {11, 1}, {11, 11}} {
		t.Run(fmt.Sprintf("%d,%d", tc.samples, tc.windowSec), func(t *testing.T) {
			w := window{samples: tc.samples, sizeMs: int64(tc.windowSec) * 1000}
			var r rate
			now := int64(1_700_000_000_000)
			r.record(w, 50, now)
			measureAt := int64(tc.windowSec)*1000 - 1
			got, _ := r.measure(w, now+measureAt)
			windowSec := float64(measureAt)/1000 + float64((tc.samples-1)*tc.windowSec)
			if want := 50 / windowSec; math.Abs(got-want) > 1e-6 {
				t.Fatalf("rate = %v, want %v", got, want)
			}
		})
	}
}

// Port of Kafka's RateTest.testRateIsConsistentAfterTheFirstWindow: events
// every ~100 ms measure 10-11/s from the second window on, also when a
// sample overlaps the start of the monitored window, and measuring is
// repeatable.
func TestRateIsConsistentAfterTheFirstWindow(t *testing.T) {
	w := window{samples: 2, sizeMs: 1000}
	steps := []int64{0, 99, 100, 100, 100, 100, 100, 100, 100, 100, 100}
	var r rate
	now := int64(1_700_000_000_000)
	for _, s := range steps {
		now += s
		r.record(w, 1, now)
	}
	now += 101
	for _, s := range steps {
		now += s
		r.record(w, 1, now)
		got, _ := r.measure(w, now)
		if got < 10 || got > 11 {
			t.Fatalf("at +%d ms rate = %v, want 10..11", now, got)
		}
		if again, _ := r.measure(w, now); again != got {
			t.Fatalf("measure not repeatable: %v then %v", got, again)
		}
	}
}

// The window is at least samples-1 full windows plus the elapsed part of
// the current one, never less than 1 ms, and grows up to the oldest
// retained sample; obsolete samples are purged.
func TestRateWindow(t *testing.T) {
	w := window{samples: 11, sizeMs: 1000}
	var r rate
	r.record(w, 100, 0)
	for _, tc := range []struct {
		at, wantWindow int64
		wantRate       float64
	}{
		{0, 10000, 10}, // 100 over the assumed 10 empty windows
		{500, 10500, 100 / 10.5},
		{10000, 10000, 10}, // 10 full windows elapsed, no padding
		{10999, 10999, 100 / 10.999},
		{11000, 10000, 0}, // sample purged: expired samples*size after its last event
	} {
		got, win := r.measure(w, tc.at)
		if win != tc.wantWindow || math.Abs(got-tc.wantRate) > 1e-9 {
			t.Errorf("at %d: rate %v over %d ms, want %v over %d ms", tc.at, got, win, tc.wantRate, tc.wantWindow)
		}
	}
	// One sample of one window, measured at its start: window 1 ms.
	var one rate
	w1 := window{samples: 1, sizeMs: 1000}
	one.record(w1, 5, 0)
	if got, win := one.measure(w1, 0); win != 1 || got != 5000 {
		t.Errorf("samples=1 at start: rate %v over %d ms, want 5000 over 1", got, win)
	}
	// The ring holds samples+1 entries and recycles the oldest.
	var ring rate
	for i := range int64(30) {
		ring.record(w, 1, i*1000)
	}
	if len(ring.samples) != w.samples+1 {
		t.Errorf("ring holds %d samples, want %d", len(ring.samples), w.samples+1)
	}
	if got, win := ring.measure(w, 29000); win != 10000 || math.Abs(got-1.1) > 1e-9 {
		t.Errorf("steady 1/s: rate %v over %d ms, want 1.1 over 10000 (11 retained samples, the oldest purged)", got, win)
	}
}

// QuotaUtils.throttleTime: X = (O-T)/T*W rounded half up, as Math.round.
func TestThrottleFormula(t *testing.T) {
	for _, tc := range []struct {
		observed, bound float64
		windowMs        int64
		want            int64
	}{
		{600, 500, 10500, 2100},
		{1000, 500, 10000, 10000},
		{500.0001, 500, 10000, 0},
		{10.2, 10, 10500, 210},
		{1.5, 1, 1, 1},   // 0.5 rounds up
		{1.25, 1, 2, 1},  // 0.5 rounds up
		{1.125, 1, 4, 1}, // 0.5
		{1.1, 1, 4, 0},   // 0.4
		{1e30, 1, 1, math.MaxInt64},
	} {
		if got := throttleMs(tc.observed, tc.bound, tc.windowMs); got != tc.want {
			t.Errorf("throttleMs(%v, %v, %d) = %d, want %d", tc.observed, tc.bound, tc.windowMs, got, tc.want)
		}
	}
	if got := javaRound(math.NaN()); got != 0 {
		t.Errorf("javaRound(NaN) = %d", got)
	}
	if got := javaRound(-2.5); got != -2 {
		t.Errorf("javaRound(-2.5) = %d, want -2 (half up)", got)
	}
}
