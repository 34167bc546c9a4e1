package quota

import "math"

// This file ports Kafka's Rate over a WindowedSum (org.apache.kafka.common.
// metrics.stats.Rate and SampledStat) with the event window left at its
// default of Long.MAX_VALUE, so a sample completes only by time. All times
// are integer milliseconds, as in Kafka.

// window is the part of Kafka's MetricConfig the rate reads: samples
// (quota.window.num) and timeWindowMs (quota.window.size.seconds).
type window struct {
	samples int
	sizeMs  int64
}

// sample is SampledStat.Sample.
type sample struct {
	value  float64
	events int64
	start  int64
	last   int64
}

func (s *sample) reset(now int64) { *s = sample{start: now, last: now} }

// rate is a Rate with a WindowedSum: samples grow lazily up to
// window.samples+1 (one extra for the sample overlapping the start of the
// monitored window) and are then recycled in a ring, exactly as
// SampledStat does, because the set of retained start times decides the
// elapsed window.
type rate struct {
	samples []sample
	current int
}

// currentSample is SampledStat.current.
func (r *rate) currentSample(now int64) *sample {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now, last: now})
	}
	return &r.samples[r.current]
}

// advance is SampledStat.advance.
func (r *rate) advance(w window, now int64) *sample {
	r.current = (r.current + 1) % (w.samples + 1)
	if r.current >= len(r.samples) {
		r.samples = append(r.samples, sample{start: now, last: now})
		return &r.samples[len(r.samples)-1]
	}
	s := &r.samples[r.current]
	s.reset(now)
	return s
}

// record is SampledStat.record with WindowedSum.update.
func (r *rate) record(w window, v float64, now int64) {
	s := r.currentSample(now)
	if now-s.start >= w.sizeMs {
		s = r.advance(w, now)
	}
	s.value += v
	s.events++
	s.last = now
}

// purge is SampledStat.purgeObsoleteSamples: a sample with no event in the
// last samples*sizeMs is reset to start now.
func (r *rate) purge(w window, now int64) {
	expire := int64(w.samples) * w.sizeMs
	for i := range r.samples {
		if now-r.samples[i].last >= expire {
			r.samples[i].reset(now)
		}
	}
}

// windowMs is Rate.windowSize: the time since the oldest retained sample
// started, counted as at least samples-1 full windows plus the elapsed part
// of the current one, and at least 1 ms.
func (r *rate) windowMs(w window, now int64) int64 {
	r.purge(w, now)
	if len(r.samples) == 0 { // SampledStat.oldest adds a sample
		r.samples = append(r.samples, sample{start: now, last: now})
	}
	oldest := r.samples[0].start
	for _, s := range r.samples[1:] {
		if s.start < oldest {
			oldest = s.start
		}
	}
	elapsed := now - oldest
	full := elapsed / w.sizeMs
	if minFull := int64(w.samples - 1); full < minFull {
		elapsed += (minFull - full) * w.sizeMs
	}
	return max(elapsed, 1)
}

// measure is Rate.measure in units per second; it also returns the window
// the rate was computed over, which the throttle time uses (Kafka computes
// it a second time at the same instant, with the same result).
func (r *rate) measure(w window, now int64) (perSec float64, windowMs int64) {
	r.purge(w, now)
	total := 0.0
	for i := range r.samples {
		total += r.samples[i].value
	}
	windowMs = r.windowMs(w, now)
	return total / (float64(windowMs) / 1000.0), windowMs
}

// throttleMs is QuotaUtils.throttleTime: the delay X that brings the observed
// rate O back to the bound T over the window W, O*W/(W+X) = T, so
// X = (O-T)/T*W, rounded as Java's Math.round.
func throttleMs(observed, bound float64, windowMs int64) int64 {
	return javaRound((observed - bound) / bound * float64(windowMs))
}

// javaRound is java.lang.Math.round(double): half up, NaN to 0, saturating.
func javaRound(x float64) int64 {
	switch {
	case math.IsNaN(x):
		return 0
	case x >= math.MaxInt64:
		return math.MaxInt64
	case x <= math.MinInt64:
		return math.MinInt64
	}
	return int64(math.Floor(x + 0.5))
}
