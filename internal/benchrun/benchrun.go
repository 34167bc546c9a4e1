// Package benchrun runs benchmark variants interleaved, for benchmarks that
// report one variant's throughput relative to another's measured in the
// same run.
//
// Timing variants one after the other (sub-benchmarks) lets drift on a
// shared machine, or garbage left by an earlier variant, favour whichever
// ran first; on the 2-core CI machines that moved ratios by up to ±10%.
// Running every variant in each round, in an order shuffled from one round
// to the next, spreads such effects over all of them, and keeping each
// round's times lets a benchmark report the median of the per-round
// ratios, which a round disturbed by the machine's other load cannot move.
package benchrun

import (
	"context"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Variant is one way of doing a benchmark's unit of work.
type Variant struct {
	Name string
	Run  func()
}

// Samples are the times of every variant in every round of a Run.
type Samples struct {
	// Wall and CPU are indexed by variant (in the order given to Run),
	// then by round. CPU is the process's user and system time while the
	// variant ran, the embedded broker's included: it counts the work a
	// variant causes rather than the time it waits, which other processes
	// on a shared machine stretch.
	Wall, CPU [][]time.Duration
}

// Run runs every variant once untimed (to warm up connections, metadata
// and caches), then, for each b.Loop iteration (a round), every variant
// once, in an order shuffled anew each round. The shuffle is seeded, so
// a run is repeatable; it keeps any variant from always following the
// same other one (whose garbage, or whose work left to the broker, would
// then always land on it). Each timed run carries the pprof label
// variant=<name>, which the goroutines it starts inherit, so that a CPU
// profile (-cpuprofile) can be split by variant with pprof's -tagfocus.
func Run(b *testing.B, vs []Variant) *Samples {
	b.Helper()
	for _, v := range vs {
		v.Run()
	}
	s := &Samples{Wall: make([][]time.Duration, len(vs)), CPU: make([][]time.Duration, len(vs))}
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]int, len(vs))
	for k := range order {
		order[k] = k
	}
	for b.Loop() {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			c0 := CPUTime(b)
			start := time.Now()
			pprof.Do(context.Background(), pprof.Labels("variant", vs[k].Name), func(context.Context) { vs[k].Run() })
			s.Wall[k] = append(s.Wall[k], time.Since(start))
			s.CPU[k] = append(s.CPU[k], CPUTime(b)-c0)
		}
	}
	return s
}

// Rounds is the number of timed rounds.
func (s *Samples) Rounds() int {
	if len(s.Wall) == 0 {
		return 0
	}
	return len(s.Wall[0])
}

// Total is the summed wall time of the variants vs over all rounds.
func (s *Samples) Total(vs ...int) time.Duration {
	return sum(s.Wall, vs)
}

// Ratio is the summed wall time of base over that of v: v's throughput
// relative to base's. v and base may each name several variants (ways of
// doing the same work), whose times are added.
func (s *Samples) Ratio(v, base []int) float64 {
	return float64(sum(s.Wall, base)) / float64(sum(s.Wall, v))
}

// MedianRatio is the median over rounds of each round's ratio of base's
// wall time over v's (variants added as in Ratio).
func (s *Samples) MedianRatio(v, base []int) float64 {
	return medianRatio(s.Wall, v, base)
}

// MedianCPURatio is MedianRatio of CPU time.
func (s *Samples) MedianCPURatio(v, base []int) float64 {
	return medianRatio(s.CPU, v, base)
}

func sum(t [][]time.Duration, vs []int) time.Duration {
	var d time.Duration
	for _, k := range vs {
		for _, x := range t[k] {
			d += x
		}
	}
	return d
}

func medianRatio(t [][]time.Duration, v, base []int) float64 {
	if len(t) == 0 {
		return 0
	}
	rs := make([]float64, 0, len(t[0]))
	for r := range t[0] {
		var num, den time.Duration
		for _, k := range base {
			num += t[k][r]
		}
		for _, k := range v {
			den += t[k][r]
		}
		if den > 0 {
			rs = append(rs, float64(num)/float64(den))
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if n := len(rs); n%2 == 0 {
		return (rs[n/2-1] + rs[n/2]) / 2
	}
	return rs[len(rs)/2]
}

// CPUTime is the process's user plus system CPU time so far.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
