package benchrun

import (
	"testing"
	"time"
)

func TestRatios(t *testing.T) {
	ms := time.Millisecond
	s := &Samples{
		Wall: [][]time.Duration{
			{10 * ms, 10 * ms, 10 * ms, 10 * ms},  // base
			{20 * ms, 20 * ms, 20 * ms, 100 * ms}, // half as fast, one disturbed round
			{10 * ms, 10 * ms, 10 * ms, 10 * ms},
		},
	}
	s.CPU = s.Wall
	if got := s.Rounds(); got != 4 {
		t.Errorf("Rounds = %d, want 4", got)
	}
	if got := s.Total(0, 2); got != 80*ms {
		t.Errorf("Total(0, 2) = %v, want 80ms", got)
	}
	if got := s.Ratio([]int{1}, []int{0}); got != 40.0/160 {
		t.Errorf("Ratio = %v, want %v", got, 40.0/160)
	}
	// The disturbed round does not move the median.
	if got := s.MedianRatio([]int{1}, []int{0}); got != 0.5 {
		t.Errorf("MedianRatio = %v, want 0.5", got)
	}
	if got := s.MedianCPURatio([]int{1, 2}, []int{0, 2}); got != 20.0/30 {
		t.Errorf("MedianCPURatio of pairs = %v, want %v", got, 20.0/30)
	}
}
