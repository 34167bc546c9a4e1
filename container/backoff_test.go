package container

import (
	"math"
	"testing"
	"time"
)

// TestBackOffs: each back off's delays and limits, and the one meaning of
// MaxRetries they share (0: no retries; Unlimited: no limit).
func TestBackOffs(t *testing.T) {
	type step struct {
		failures int
		elapsed  time.Duration
		delay    time.Duration
		retry    bool
	}
	for _, tc := range []struct {
		name  string
		b     BackOff
		steps []step
	}{
		{"fixed zero value: no retries", FixedBackOff{}, []step{{1, 0, 0, false}}},
		{"fixed 2 retries", FixedBackOff{Interval: time.Second, MaxRetries: 2},
			[]step{{1, 0, time.Second, true}, {2, time.Second, time.Second, true}, {3, 2 * time.Second, 0, false}}},
		{"fixed unlimited", FixedBackOff{Interval: time.Millisecond, MaxRetries: Unlimited},
			[]step{{1, 0, time.Millisecond, true}, {1000, time.Second, time.Millisecond, true}}},
		{"default: 9 retries, no delay", DefaultBackOff(), []step{{9, 0, 0, true}, {10, 0, 0, false}}},
		{"exponential zero value: no retries", ExponentialBackOff{Initial: time.Second}, []step{{1, 0, 0, false}}},
		{"exponential 3 retries", ExponentialBackOff{Initial: 100 * time.Millisecond, Multiplier: 3, MaxRetries: 3},
			[]step{{1, 0, 100 * time.Millisecond, true}, {2, 0, 300 * time.Millisecond, true}, {3, 0, 900 * time.Millisecond, true}, {4, 0, 0, false}}},
		{"exponential multiplier <= 1 means 2", ExponentialBackOff{Initial: time.Second, MaxRetries: 5},
			[]step{{3, 0, 4 * time.Second, true}}},
		{"exponential capped", ExponentialBackOff{Initial: time.Second, MaxInterval: 5 * time.Second, MaxRetries: Unlimited},
			[]step{{3, 0, 4 * time.Second, true}, {4, 0, 5 * time.Second, true}, {60, 0, 5 * time.Second, true}}},
		{"exponential max elapsed", ExponentialBackOff{Initial: time.Second, MaxRetries: Unlimited, MaxElapsed: 10 * time.Second},
			[]step{{1, 0, time.Second, true}, {3, 6 * time.Second, 4 * time.Second, true}, {4, 7 * time.Second, 0, false}}},
		{"exponential overflow stays positive", ExponentialBackOff{Initial: time.Hour, MaxRetries: Unlimited},
			[]step{{200, 0, time.Duration(float64(math.MaxInt64 / 2)), true}}},
	} {
		for _, s := range tc.steps {
			d, ok := tc.b.Next(s.failures, s.elapsed)
			if d != s.delay || ok != s.retry {
				t.Errorf("%s: Next(%d, %v) = %v, %v; want %v, %v", tc.name, s.failures, s.elapsed, d, ok, s.delay, s.retry)
			}
		}
	}
}
