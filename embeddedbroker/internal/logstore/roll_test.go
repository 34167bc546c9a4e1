package logstore

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRollWhenIndexFull checks segment.index.bytes (IndexBytes) as Kafka
// applies it: the active segment rolls when its offset index holds
// IndexBytes/8 entries or its time index IndexBytes/12-1.
func TestRollWhenIndexFull(t *testing.T) {
	tests := []struct {
		name       string
		indexBytes int
		increasing bool    // batch timestamps increase (time index entries) or are absent
		bases      []int64 // segments after ten batches of three records
	}{
		// 3 offset entries; no timestamps, so no time entries: a segment
		// takes four batches (the first makes no entry).
		{"offset index", 24, false, []int64{0, 12, 24}},
		// 4 offset entries, 3 time entries of which one is kept for the
		// seal: two entries, three batches.
		{"time index", 36, true, []int64{0, 9, 18, 27}},
		// Without timestamps the same size holds five batches.
		{"time index unused", 36, false, []int64{0, 15}},
		// Below one time index entry every batch gets a segment (Kafka's
		// time index is always full then).
		{"tiny", 4, true, []int64{0, 3, 6, 9, 12, 15, 18, 21, 24, 27}},
		{"default", 0, true, []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			both(t, func(t *testing.T, open opener) {
				cfg := Config{IndexIntervalBytes: 1, IndexBytes: tt.indexBytes}
				l, reopen := open(t, cfg)
				f := &fixture{t: t, l: l}
				ts := func(i int) int64 {
					if tt.increasing {
						return 1000 + int64(i)
					}
					return -1
				}
				for i := range 10 {
					f.add(3, ts(i))
				}
				if got := bases(l); !slices.Equal(got, tt.bases) {
					t.Fatalf("segments %v, want %v", got, tt.bases)
				}
				if reopen == nil {
					return
				}
				// The rule holds over a restart, which rebuilds the active
				// segment's indexes: the eleventh batch goes where it goes
				// in a log that was never closed.
				ref := NewMemory(cfg)
				defer ref.Close()
				rf := &fixture{t: t, l: ref}
				for i := range 11 {
					rf.add(3, ts(i))
				}
				l = reopen(cfg)
				f.l = l
				f.add(3, ts(10))
				if got, want := bases(l), bases(ref); !slices.Equal(got, want) {
					t.Fatalf("after reopen: segments %v, want %v", got, want)
				}
			})
		})
	}
}

// seqRand is a deterministic Rand that records what it was asked.
type seqRand struct {
	mu   sync.Mutex
	vals []int64
	asks []int64
}

func (r *seqRand) Int64N(n int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asks = append(r.asks, n)
	v := r.vals[0] % n
	r.vals = append(r.vals[1:], r.vals[0])
	return v
}

// TestRollJitter checks segment.jitter.ms (SegmentJitter): each segment
// rolls by time early by its own draw in [0, min(jitter, segment.ms)).
func TestRollJitter(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		clock := newFakeClock()
		t0 := clock.Now()
		ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
		r := &seqRand{vals: []int64{(20 * time.Minute).Milliseconds(), (5 * time.Minute).Milliseconds()}}
		l, _ := open(t, Config{SegmentMs: time.Hour, SegmentJitter: 30 * time.Minute, Rand: r.Int64N, Clock: clock.Now})
		f := &fixture{t: t, l: l}
		steps := []struct {
			ts    int64
			bases []int64
		}{
			{ms(0), []int64{0}},
			{ms(40 * time.Minute), []int64{0}},                           // 40m is not past 60m-20m
			{ms(40*time.Minute + time.Millisecond), []int64{0, 6}},       // it is now
			{ms(95*time.Minute + time.Millisecond), []int64{0, 6}},       // 55m into the second segment, jitter 5m
			{ms(95*time.Minute + 2*time.Millisecond), []int64{0, 6, 12}}, // past 55m
		}
		for i, st := range steps {
			f.add(1, st.ts)
			f.add(2, st.ts) // a second batch per step: the same segment
			if got := bases(l); !slices.Equal(got, st.bases) {
				t.Fatalf("step %d: segments %v, want %v", i, got, st.bases)
			}
		}
		r.mu.Lock()
		asks := slices.Clone(r.asks)
		r.mu.Unlock()
		half := (30 * time.Minute).Milliseconds()
		if !slices.Equal(asks, []int64{half, half, half}) {
			t.Fatalf("Rand asked for %v, want one draw below %d per segment", asks, half)
		}

		// The jitter is capped by segment.ms; none draws nothing.
		r.asks = nil
		l.Reconfigure(Config{SegmentMs: time.Hour, SegmentJitter: 5 * time.Hour, Rand: r.Int64N, Clock: clock.Now})
		f.add(1, ms(200*time.Minute))
		l.Reconfigure(Config{SegmentMs: time.Hour, Rand: r.Int64N, Clock: clock.Now})
		f.add(1, ms(300*time.Minute))
		f.add(1, ms(301*time.Minute))
		if !slices.Equal(r.asks, []int64{time.Hour.Milliseconds()}) {
			t.Fatalf("Rand asked for %v, want one draw below an hour", r.asks)
		}
	})
}

// TestFlushMessages checks flush.messages (FlushMessages): an append that
// leaves that many records unsynced fsyncs, and a crash keeps what it
// covered.
func TestFlushMessages(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{FlushMessages: 5}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		for i, want := range []int64{0, 6, 6, 12, 12, 18} { // three records a batch
			f.add(3, 1000)
			if got := syncedUpTo(l); got != want {
				t.Fatalf("batch %d: synced up to %d, want %d", i, got, want)
			}
		}
		f.add(3, 1000)
		l = crashAndReopen(t, l, reopen, cfg)
		f.l = l
		checkContents(t, l, f, 6)
	})
}

// TestRetainNothing checks retention.ms=0 and retention.bytes=0: every
// sealed segment goes, the active one stays.
func TestRetainNothing(t *testing.T) {
	for _, cfg := range []Config{
		{SegmentBytes: S, RetentionMs: RetainNothing},
		{SegmentBytes: S, RetentionMs: -1, RetentionBytes: RetainNothing},
	} {
		both(t, func(t *testing.T, open opener) {
			clock := newFakeClock()
			cfg.Clock = clock.Now
			l, _ := open(t, cfg)
			f := &fixture{t: t, l: l}
			f.addN(4, 3, clock.Now().Add(-time.Millisecond).UnixMilli())
			n, err := l.ApplyRetention(clock.Now())
			if err != nil || n != 3 || l.StartOffset() != 9 {
				t.Fatalf("%+v: deleted %d, start %d, err %v; want 3, 9", cfg, n, l.StartOffset(), err)
			}
		})
	}
	// A segment whose newest timestamp is now is not older than 0 ms.
	both(t, func(t *testing.T, open opener) {
		clock := newFakeClock()
		l, _ := open(t, Config{SegmentBytes: S, RetentionMs: RetainNothing, Clock: clock.Now})
		f := &fixture{t: t, l: l}
		f.addN(2, 3, clock.Now().UnixMilli())
		if n, err := l.ApplyRetention(clock.Now()); err != nil || n != 0 {
			t.Fatalf("deleted %d, err %v; want 0", n, err)
		}
	})
}
