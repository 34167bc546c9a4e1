// Package benchrun runs benchmark variants interleaved, for benchmarks that
// report one variant's throughput relative to another's measured in the
// same run.
//
// Timing variants one after the other (sub-benchmarks) lets drift on a
// shared machine, or garbage left by an earlier variant, favour whichever
// ran first; on the 2-core CI machines that moved ratios by up to ±10%.
// Interleaving every variant in each iteration, in an order rotated from
// one iteration to the next, spreads such effects over all of them.
package benchrun

import (
	"syscall"
	"testing"
	"time"
)

// Variant is one way of doing a benchmark's unit of work.
type Variant struct {
	Name string
	Run  func()
}

// Interleaved runs every variant once untimed (to warm up connections,
// metadata and caches), then, for each b.Loop iteration, every variant
// once, starting one variant further each iteration. It returns each
// variant's total time, in the order of vs, and the number of iterations.
func Interleaved(b *testing.B, vs []Variant) (total []time.Duration, rounds int) {
	b.Helper()
	total, _, rounds = InterleavedCPU(b, vs)
	return total, rounds
}

// InterleavedCPU is Interleaved that also returns each variant's total
// CPU time: the process's user and system time while it ran, the
// embedded broker's included. CPU time counts the work a variant causes
// rather than the wall time it waits, which other processes on a shared
// machine stretch: it resolves small differences in cost (instrumentation,
// say) that wall time drowns.
func InterleavedCPU(b *testing.B, vs []Variant) (wall, cpu []time.Duration, rounds int) {
	b.Helper()
	for _, v := range vs {
		v.Run()
	}
	wall = make([]time.Duration, len(vs))
	cpu = make([]time.Duration, len(vs))
	for b.Loop() {
		for j := range vs {
			k := (rounds + j) % len(vs)
			c0 := CPUTime(b)
			start := time.Now()
			vs[k].Run()
			wall[k] += time.Since(start)
			cpu[k] += CPUTime(b) - c0
		}
		rounds++
	}
	return wall, cpu, rounds
}

// CPUTime is the process's user plus system CPU time so far.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Ratio is base's total over v's: v's throughput relative to base's.
func Ratio(total []time.Duration, v, base int) float64 {
	return float64(total[base]) / float64(total[v])
}
