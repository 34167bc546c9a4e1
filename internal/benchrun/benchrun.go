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
	for _, v := range vs {
		v.Run()
	}
	total = make([]time.Duration, len(vs))
	for b.Loop() {
		for j := range vs {
			k := (rounds + j) % len(vs)
			start := time.Now()
			vs[k].Run()
			total[k] += time.Since(start)
		}
		rounds++
	}
	return total, rounds
}

// Ratio is base's total over v's: v's throughput relative to base's.
func Ratio(total []time.Duration, v, base int) float64 {
	return float64(total[base]) / float64(total[v])
}
