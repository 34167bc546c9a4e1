package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// S is the size of a 3-record test batch.
var S = batchSize(3)

func TestAppendReadAcrossSegments(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, reopen := open(t, Config{SegmentBytes: 1000, IndexIntervalBytes: 100})
		f := &fixture{t: t, l: l}
		for i := range 60 {
			f.add(1+i%3, int64(1000+i))
		}
		check := func(l Log) {
			t.Helper()
			end := l.EndOffset()
			if end != 120 {
				t.Fatalf("EndOffset %d, want 120", end)
			}
			if n := len(bases(l)); n < 10 {
				t.Fatalf("%d segments, want rolls at 1000 bytes", n)
			}
			for off := int64(0); off < end; off++ {
				i := f.index(off)
				if got := mustRead(t, l, off, 1, end); !bytes.Equal(got, f.batches[i]) {
					t.Fatalf("Read(%d, 1) is not batch %d", off, i)
				}
				if got := mustRead(t, l, off, math.MaxInt32, end); !bytes.Equal(got, f.concat(i, len(f.batches))) {
					t.Fatalf("Read(%d, all) is not batches %d..", off, i)
				}
			}
			var scanned [][]byte
			if err := l.Scan(0, func(b []byte) error { scanned = append(scanned, bytes.Clone(b)); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(scanned, f.batches, bytes.Equal) {
				t.Fatalf("Scan(0) returned %d batches, want %d equal", len(scanned), len(f.batches))
			}
			scanned = nil
			_ = l.Scan(50, func(b []byte) error { scanned = append(scanned, b); return nil })
			if i := f.index(50); len(scanned) != len(f.batches)-i || !bytes.Equal(scanned[0], f.batches[i]) {
				t.Fatalf("Scan(50) starts wrong")
			}
			stop := errors.New("stop")
			if err := l.Scan(0, func([]byte) error { return stop }); err != stop {
				t.Fatalf("Scan error %v, want fn's", err)
			}
			if err := l.Scan(end+1, func([]byte) error { return nil }); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("Scan past end: %v", err)
			}
			if size := l.Size(); size != int64(len(f.concat(0, len(f.batches)))) {
				t.Fatalf("Size %d", size)
			}
		}
		check(l)
		if reopen != nil {
			check(reopen(Config{SegmentBytes: 1000, IndexIntervalBytes: 100}))
		}
	})
}

func TestReadSemantics(t *testing.T) {
	// Ten 3-record batches, two per segment: batch i holds offsets [3i, 3i+3).
	tests := []struct {
		name     string
		offset   int64
		maxBytes int64
		upTo     int64
		want     []int // batch indexes; nil means no bytes
		err      error
	}{
		{name: "containing batch", offset: 4, maxBytes: 1 << 20, upTo: 30, want: []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "batch start", offset: 6, maxBytes: 1 << 20, upTo: 30, want: []int{2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "last offset of batch", offset: 8, maxBytes: S, upTo: 30, want: []int{2}},
		{name: "first batch exceeds maxBytes", offset: 0, maxBytes: 1, upTo: 30, want: []int{0}},
		{name: "zero maxBytes", offset: 13, maxBytes: 0, upTo: 30, want: []int{4}},
		{name: "maxBytes exactly two", offset: 0, maxBytes: 2 * S, upTo: 30, want: []int{0, 1}},
		{name: "maxBytes across segments", offset: 3, maxBytes: 3 * S, upTo: 30, want: []int{1, 2, 3}},
		{name: "maxBytes just under two", offset: 0, maxBytes: 2*S - 1, upTo: 30, want: []int{0}},
		{name: "upTo at boundary", offset: 0, maxBytes: 1 << 20, upTo: 9, want: []int{0, 1, 2}},
		{name: "upTo inside batch", offset: 0, maxBytes: 1 << 20, upTo: 10, want: []int{0, 1, 2}},
		{name: "upTo inside first batch", offset: 0, maxBytes: 1 << 20, upTo: 2},
		{name: "upTo beyond end", offset: 27, maxBytes: 1 << 20, upTo: 1000, want: []int{9}},
		{name: "offset at upTo", offset: 9, maxBytes: 1 << 20, upTo: 9},
		{name: "offset beyond upTo", offset: 12, maxBytes: 1 << 20, upTo: 9},
		{name: "offset at end", offset: 30, maxBytes: 1 << 20, upTo: 30},
		{name: "offset beyond end", offset: 31, maxBytes: 1 << 20, upTo: 30, err: ErrOffsetOutOfRange},
		{name: "negative offset", offset: -1, maxBytes: 1 << 20, upTo: 30, err: ErrOffsetOutOfRange},
	}
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 2 * S, IndexIntervalBytes: 1})
		f := &fixture{t: t, l: l}
		f.addN(10, 3, 1000)
		if got := bases(l); !slices.Equal(got, []int64{0, 6, 12, 18, 24}) {
			t.Fatalf("segments %v", got)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.Read(tt.offset, int(tt.maxBytes), tt.upTo)
				if tt.err != nil {
					wantErr(t, err, tt.err)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var want []byte
				for _, i := range tt.want {
					want = append(want, f.batches[i]...)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %d batches, want %v", len(split(t, got)), tt.want)
				}
			})
		}
	})
}

func TestReadResultIsStable(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 2 * S})
		f := &fixture{t: t, l: l}
		f.addN(3, 3, 1000)
		got := mustRead(t, l, 6, 1<<20, 9) // a single batch of the active segment
		want := bytes.Clone(got)
		if err := l.Truncate(6); err != nil {
			t.Fatal(err)
		}
		f.rewind(6)
		f.add(3, 2000) // different bytes at the same position
		f.addN(2, 3, 3000)
		if !bytes.Equal(got, want) {
			t.Fatal("bytes returned by Read changed after truncate and append")
		}
	})
}

func TestAppendErrors(t *testing.T) {
	good := encodeBatch(3, 3, 1000, 40)
	badMagic := bytes.Clone(encodeBatch(0, 1, 1000, 40))
	badMagic[16] = 1
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{name: "base offset ahead", b: encodeBatch(4, 1, 1000, 40), want: ErrOffsetMismatch},
		{name: "base offset behind", b: encodeBatch(0, 1, 1000, 40), want: ErrOffsetMismatch},
		{name: "trailing bytes", b: append(encodeBatch(3, 1, 1000, 40), 0)},
		{name: "short", b: good[:len(good)-1]},
		{name: "empty"},
		{name: "magic 1", b: badMagic},
	}
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{})
		f := &fixture{t: t, l: l}
		f.add(3, 1000)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := l.Append(tt.b)
				if err == nil {
					t.Fatal("no error")
				}
				if tt.want != nil {
					wantErr(t, err, tt.want)
				}
				if l.EndOffset() != 3 || l.Size() != S {
					t.Fatalf("failed append changed the log: end %d size %d", l.EndOffset(), l.Size())
				}
			})
		}
		// The caller may reuse the appended bytes.
		b := bytes.Clone(good)
		if err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		clear(b)
		if got := mustRead(t, l, 3, 1<<20, 6); !bytes.Equal(got, good) {
			t.Fatal("append did not copy")
		}
	})
}

func TestSetStartOffset(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 2 * S, IndexIntervalBytes: 1}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		f.addN(10, 3, 1000)

		if err := l.SetStartOffset(7); err != nil {
			t.Fatal(err)
		}
		check := func(l Log) {
			t.Helper()
			if l.StartOffset() != 7 || l.EndOffset() != 30 {
				t.Fatalf("offsets [%d, %d], want [7, 30]", l.StartOffset(), l.EndOffset())
			}
			if got := bases(l); !slices.Equal(got, []int64{6, 12, 18, 24}) {
				t.Fatalf("segments %v, want the first deleted", got)
			}
			if l.Size() != 8*S {
				t.Fatalf("Size %d, want %d", l.Size(), 8*S)
			}
			_, err := l.Read(6, 1<<20, 30)
			wantErr(t, err, ErrOffsetOutOfRange)
			if got := mustRead(t, l, 7, 1, 30); !bytes.Equal(got, f.batches[2]) {
				t.Fatal("Read(start) is not the batch holding it")
			}
			var first []byte
			_ = l.Scan(0, func(b []byte) error { first = b; return errors.New("stop") })
			if !bytes.Equal(first, f.batches[2]) {
				t.Fatal("Scan(0) does not start at the start offset's batch")
			}
		}
		check(l)
		if err := l.SetStartOffset(5); err != nil { // behind: no-op
			t.Fatal(err)
		}
		wantErr(t, l.SetStartOffset(31), ErrOffsetOutOfRange)
		check(l)
		if reopen != nil {
			l = reopen(cfg)
			f.l = l
			check(l)
		}

		// Up to the end: everything goes, appends continue.
		if err := l.SetStartOffset(30); err != nil {
			t.Fatal(err)
		}
		checkEmpty := func(l Log) {
			t.Helper()
			if l.StartOffset() != 30 || l.EndOffset() != 30 || l.Size() != 0 {
				t.Fatalf("offsets [%d, %d] size %d, want empty at 30", l.StartOffset(), l.EndOffset(), l.Size())
			}
			if got := bases(l); !slices.Equal(got, []int64{30}) {
				t.Fatalf("segments %v", got)
			}
			if b := mustRead(t, l, 30, 1<<20, 30); len(b) != 0 {
				t.Fatal("read from empty log returned bytes")
			}
		}
		checkEmpty(l)
		if reopen != nil {
			l = reopen(cfg)
			f.l = l
			checkEmpty(l)
		}
		b := f.add(3, 1000)
		if got := mustRead(t, l, 30, 1<<20, 33); !bytes.Equal(got, b) {
			t.Fatal("append after SetStartOffset(end) not readable")
		}
	})
}

func TestTruncate(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 2 * S, IndexIntervalBytes: 1}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		f.addN(10, 3, 1000)

		// At a segment boundary: the segment starting there stays, empty.
		if err := l.Truncate(12); err != nil {
			t.Fatal(err)
		}
		f.rewind(12)
		if l.EndOffset() != 12 || l.Size() != 4*S {
			t.Fatalf("end %d size %d", l.EndOffset(), l.Size())
		}
		if got := bases(l); !slices.Equal(got, []int64{0, 6, 12}) {
			t.Fatalf("segments %v", got)
		}
		if got := mustRead(t, l, 0, 1<<20, 100); !bytes.Equal(got, f.concat(0, 4)) {
			t.Fatal("read after truncate")
		}
		f.add(2, 2000)
		f.add(3, 3000)
		if got := mustRead(t, l, 9, 1<<20, 100); !bytes.Equal(got, f.concat(3, 6)) {
			t.Fatal("read of appends after truncate")
		}

		// Inside a batch: the whole batch goes.
		if err := l.Truncate(7); err != nil {
			t.Fatal(err)
		}
		f.rewind(6)
		if l.EndOffset() != 6 {
			t.Fatalf("end %d after truncating inside batch [6, 9), want 6", l.EndOffset())
		}
		if err := l.Truncate(100); err != nil || l.EndOffset() != 6 { // beyond the end: no-op
			t.Fatalf("Truncate(100): %v, end %d", err, l.EndOffset())
		}
		b, found, err := l.MaxTimestampBatch()
		if err != nil || !found || !bytes.Equal(b, f.batches[0]) {
			t.Fatalf("MaxTimestampBatch after truncate: %v %v", found, err)
		}
		if reopen != nil {
			l = reopen(cfg)
			f.l = l
			if l.EndOffset() != 6 || !bytes.Equal(mustRead(t, l, 0, 1<<20, 6), f.concat(0, 2)) {
				t.Fatal("truncation lost on reopen")
			}
		}
		f.add(1, 5000)
		if l.EndOffset() != 7 {
			t.Fatalf("end %d", l.EndOffset())
		}

		// Below the start offset: truncate fully.
		if err := l.SetStartOffset(4); err != nil {
			t.Fatal(err)
		}
		if err := l.Truncate(2); err != nil {
			t.Fatal(err)
		}
		if l.StartOffset() != 2 || l.EndOffset() != 2 || l.Size() != 0 {
			t.Fatalf("offsets [%d, %d] size %d after truncating below start", l.StartOffset(), l.EndOffset(), l.Size())
		}
	})
}

func TestTruncateFully(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 2 * S}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		f.addN(5, 3, 1000)
		for _, off := range []int64{100, 0, 7} {
			if err := l.TruncateFully(off); err != nil {
				t.Fatal(err)
			}
			f.batches = nil
			if l.StartOffset() != off || l.EndOffset() != off || l.Size() != 0 {
				t.Fatalf("offsets [%d, %d] size %d, want empty at %d", l.StartOffset(), l.EndOffset(), l.Size(), off)
			}
			if _, err := l.Read(off-1, 1, off); off > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below: %v", err)
			}
			f.addN(3, 3, 1000)
			if got := mustRead(t, l, off, 1<<20, off+9); !bytes.Equal(got, f.concat(0, 3)) {
				t.Fatal("read after TruncateFully")
			}
		}
		if reopen != nil {
			l = reopen(cfg)
			if l.StartOffset() != 7 || l.EndOffset() != 16 {
				t.Fatalf("reopened at [%d, %d], want [7, 16]", l.StartOffset(), l.EndOffset())
			}
		}
	})
}

func TestFindTimestamp(t *testing.T) {
	// Batch i has timestamp ts[i]; three 1-record batches per segment.
	ts := []int64{1000, 1000, 2000, 1500, 3000, 3000, 4000, -1, 3500}
	tests := []struct {
		ts   int64
		want int // batch index, -1 for none
	}{
		{ts: 0, want: 0},
		{ts: 1000, want: 0},
		{ts: 1001, want: 2},
		{ts: 1500, want: 2},
		{ts: 2000, want: 2},
		{ts: 2001, want: 4},
		{ts: 3000, want: 4},
		{ts: 3001, want: 6},
		{ts: 4000, want: 6},
		{ts: 4001, want: -1},
	}
	for _, interval := range []int{1, 4096} {
		t.Run(fmt.Sprintf("interval=%d", interval), func(t *testing.T) {
			both(t, func(t *testing.T, open opener) {
				cfg := Config{SegmentBytes: 3 * batchSize(1), IndexIntervalBytes: interval}
				l, reopen := open(t, cfg)
				f := &fixture{t: t, l: l}
				for _, ts := range ts {
					f.add(1, ts)
				}
				check := func(l Log) {
					t.Helper()
					for _, tt := range tests {
						b, found, err := l.FindTimestamp(tt.ts)
						if err != nil {
							t.Fatal(err)
						}
						if found != (tt.want >= 0) || (found && !bytes.Equal(b, f.batches[tt.want])) {
							t.Fatalf("FindTimestamp(%d): found %v at %d, want batch %d", tt.ts, found, f.index(base(b)), tt.want)
						}
					}
				}
				check(l)
				if reopen != nil {
					l = reopen(cfg)
					check(l)
				}
				// Batches below the start offset do not count.
				if err := l.SetStartOffset(3); err != nil {
					t.Fatal(err)
				}
				b, found, err := l.FindTimestamp(1000)
				if err != nil || !found || !bytes.Equal(b, f.batches[3]) {
					t.Fatalf("FindTimestamp(1000) after start 3: found %v at %d", found, f.index(base(b)))
				}
			})
		})
	}
}

func TestMaxTimestampBatch(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 2 * batchSize(1), IndexIntervalBytes: 1}
		l, reopen := open(t, cfg)
		if _, found, err := l.MaxTimestampBatch(); found || err != nil {
			t.Fatalf("empty log: found %v err %v", found, err)
		}
		f := &fixture{t: t, l: l}
		f.add(1, -1)
		if _, found, err := l.MaxTimestampBatch(); found || err != nil {
			t.Fatalf("log without timestamps: found %v err %v", found, err)
		}
		for _, ts := range []int64{100, 300, 200, 300, 250} {
			f.add(1, ts)
		}
		want := func(l Log, i int) {
			t.Helper()
			b, found, err := l.MaxTimestampBatch()
			if err != nil || !found || !bytes.Equal(b, f.batches[i]) {
				t.Fatalf("MaxTimestampBatch: found %v err %v at batch %d, want %d", found, err, f.index(base(b)), i)
			}
		}
		want(l, 2) // the first of the two at 300
		if reopen != nil {
			l = reopen(cfg)
			want(l, 2)
		}
		if err := l.SetStartOffset(3); err != nil { // same segment as batch 2, past it
			t.Fatal(err)
		}
		want(l, 4)
		if err := l.SetStartOffset(5); err != nil {
			t.Fatal(err)
		}
		want(l, 5)
	})
}

func TestRetentionBySize(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 2 * S})
		f := &fixture{t: t, l: l}
		f.addN(10, 3, time.Now().UnixMilli())
		tests := []struct {
			retention int64
			deleted   int
			start     int64
		}{
			{retention: -1, deleted: 0, start: 0},
			{retention: 10 * S, deleted: 0, start: 0},
			{retention: 8 * S, deleted: 1, start: 6},  // keeps at least 8S
			{retention: 5 * S, deleted: 1, start: 12}, // 6S left, 4S would be below 5S
			{retention: 1, deleted: 2, start: 24},     // the active segment stays
			{retention: 1, deleted: 0, start: 24},     //
			{retention: math.MaxInt64, deleted: 0, start: 24},
		}
		for _, tt := range tests {
			l.Reconfigure(Config{SegmentBytes: 2 * S, RetentionBytes: tt.retention, RetentionMs: -1})
			n, err := l.ApplyRetention(time.Now())
			if err != nil || n != tt.deleted || l.StartOffset() != tt.start {
				t.Fatalf("retention %d: deleted %d, err %v, start %d; want %d, start %d", tt.retention, n, err, l.StartOffset(), tt.deleted, tt.start)
			}
		}
		if l.Size() != 2*S || l.EndOffset() != 30 {
			t.Fatalf("size %d end %d", l.Size(), l.EndOffset())
		}
		if got := mustRead(t, l, 24, 1<<20, 30); !bytes.Equal(got, f.concat(8, 10)) {
			t.Fatal("read after retention")
		}
	})
}

func TestRetentionByTime(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		clock := newFakeClock()
		t0 := clock.Now()
		// One batch per segment.
		l, _ := open(t, Config{SegmentBytes: S, RetentionMs: time.Hour, Clock: clock.Now})
		f := &fixture{t: t, l: l}
		f.add(3, t0.UnixMilli())
		f.add(3, t0.Add(10*time.Minute).UnixMilli())
		clock.Advance(30 * time.Minute)
		f.add(3, -1) // no timestamp: the append time (t0+30m) counts
		f.add(3, t0.Add(2*time.Hour).UnixMilli())
		f.add(3, t0.Add(3*time.Hour).UnixMilli()) // active
		tests := []struct {
			now     time.Duration
			deleted int
			start   int64
		}{
			{now: time.Hour, deleted: 0, start: 0},
			{now: 70 * time.Minute, deleted: 1, start: 3},
			{now: 70 * time.Minute, deleted: 0, start: 3},
			{now: 91 * time.Minute, deleted: 2, start: 9},
			{now: 100 * time.Hour, deleted: 1, start: 12}, // never the active segment
		}
		for _, tt := range tests {
			n, err := l.ApplyRetention(t0.Add(tt.now))
			if err != nil || n != tt.deleted || l.StartOffset() != tt.start {
				t.Fatalf("now+%v: deleted %d, err %v, start %d; want %d, start %d", tt.now, n, err, l.StartOffset(), tt.deleted, tt.start)
			}
		}
		// Unlimited.
		l.Reconfigure(Config{SegmentBytes: S, RetentionMs: -1, Clock: clock.Now})
		f.add(3, 0)
		if n, _ := l.ApplyRetention(t0.Add(1000 * time.Hour)); n != 0 {
			t.Fatalf("unlimited retention deleted %d", n)
		}
	})
}

func TestRollByTime(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		clock := newFakeClock()
		t0 := clock.Now()
		l, _ := open(t, Config{SegmentMs: time.Hour, Clock: clock.Now})
		f := &fixture{t: t, l: l}
		steps := []struct {
			advance time.Duration // of the clock, before appending
			ts      int64         // batch timestamp, -1 for none
			bases   []int64       // segments after appending
		}{
			{ts: t0.UnixMilli(), bases: []int64{0}},
			{ts: t0.Add(30 * time.Minute).UnixMilli(), bases: []int64{0}},
			{ts: t0.Add(60 * time.Minute).UnixMilli(), bases: []int64{0}},
			// Timestamps of the batch and of the segment's first batch compared.
			{ts: t0.Add(61 * time.Minute).UnixMilli(), bases: []int64{0, 3}},
			// Without a timestamp: the clock since the segment's first append (t0).
			{ts: -1, bases: []int64{0, 3}},
			{ts: -1, advance: 59 * time.Minute, bases: []int64{0, 3}},
			{ts: -1, advance: 2 * time.Minute, bases: []int64{0, 3, 6}},
			{ts: -1, advance: 30 * time.Minute, bases: []int64{0, 3, 6}},
			{ts: -1, advance: 31 * time.Minute, bases: []int64{0, 3, 6, 8}},
		}
		for i, st := range steps {
			clock.Advance(st.advance)
			f.add(1, st.ts)
			if got := bases(l); !slices.Equal(got, st.bases) {
				t.Fatalf("step %d: segments %v, want %v", i, got, st.bases)
			}
		}
	})
}

func TestReconfigure(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{})
		f := &fixture{t: t, l: l}
		f.addN(4, 3, 1000)
		if got := bases(l); !slices.Equal(got, []int64{0}) {
			t.Fatalf("segments %v", got)
		}
		l.Reconfigure(Config{SegmentBytes: S, RetentionBytes: 2 * S, RetentionMs: -1})
		f.addN(3, 3, 1000)
		if got := bases(l); !slices.Equal(got, []int64{0, 12, 15, 18}) {
			t.Fatalf("segments %v after lowering SegmentBytes", got)
		}
		n, err := l.ApplyRetention(time.Now())
		if err != nil || n != 2 || l.StartOffset() != 15 {
			t.Fatalf("retention: %d %v start %d", n, err, l.StartOffset())
		}
		if got := mustRead(t, l, 15, 1<<20, 21); !bytes.Equal(got, f.concat(5, 7)) {
			t.Fatal("read after reconfigure")
		}
	})
}

func TestClosed(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{})
		f := &fixture{t: t, l: l}
		f.add(3, 1000)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_, err := l.Read(0, 1, 3)
		wantErr(t, err, ErrClosed)
		wantErr(t, l.Append(encodeBatch(3, 1, 0, 1)), ErrClosed)
		wantErr(t, l.SetStartOffset(1), ErrClosed)
		wantErr(t, l.Truncate(0), ErrClosed)
		wantErr(t, l.TruncateFully(0), ErrClosed)
		wantErr(t, l.Sync(), ErrClosed)
		_, _, err = l.FindTimestamp(0)
		wantErr(t, err, ErrClosed)
		_, _, err = l.MaxTimestampBatch()
		wantErr(t, err, ErrClosed)
		_, err = l.ApplyRetention(time.Now())
		wantErr(t, err, ErrClosed)
		wantErr(t, l.Scan(0, func([]byte) error { return nil }), ErrClosed)
		l.Reconfigure(Config{Fsync: FsyncInterval(time.Millisecond)}) // no-op, starts nothing
		if l.EndOffset() != 3 {
			t.Fatalf("EndOffset after Close %d", l.EndOffset())
		}
	})
}

// TestConcurrent runs reads, retention and DeleteRecords against appends;
// run it with -race.
func TestConcurrent(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 4 * S, RetentionBytes: 8 * S, RetentionMs: -1, IndexIntervalBytes: 200})
		f := &fixture{t: t, l: l}
		const batches = 200
		done := make(chan struct{})
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		for r := range 3 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
						runtime.Gosched() // leave the appender its share of two cores
					}
					start, end := l.StartOffset(), l.EndOffset()
					if end == start {
						continue
					}
					off := start + int64(i*7+r)%(end-start)
					b, err := l.Read(off, 4*int(S), end)
					if errors.Is(err, ErrOffsetOutOfRange) {
						continue // retention moved the start offset
					}
					if err != nil {
						errc <- err
						return
					}
					if h := base(b); h > off || h+3 <= off {
						errc <- fmt.Errorf("read at %d returned batch %d first", off, h)
						return
					}
					if err := checkBatches(b); err != nil {
						errc <- err
						return
					}
					if _, _, err := l.FindTimestamp(int64(i % 500)); err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
						errc <- err
						return
					}
				}
			})
		}
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					runtime.Gosched()
				}
				if _, err := l.ApplyRetention(time.Now()); err != nil {
					errc <- err
					return
				}
				if _, _, err := l.MaxTimestampBatch(); err != nil {
					errc <- err
					return
				}
			}
		})
		for i := range batches {
			f.add(3, int64(i))
			if i%50 == 49 {
				if err := l.SetStartOffset(l.EndOffset() - 10); err != nil {
					t.Fatal(err)
				}
			}
		}
		close(done)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if l.EndOffset() != 3*batches {
			t.Fatalf("end %d", l.EndOffset())
		}
	})
}

// TestReadRecentBatches reads from the start of each of the last batches
// appended, which a segment places without reading headers (recentAt),
// after appends, truncations that remove some of them and appends of
// batches of other sizes at the same offsets, with byte and upTo limits:
// every read must be what the batches say.
func TestReadRecentBatches(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 1 << 20, IndexIntervalBytes: 4096})
		f := &fixture{t: t, l: l}
		check := func(step string) {
			t.Helper()
			end := l.EndOffset()
			for i, b := range f.batches {
				off := base(b)
				for _, upTo := range []int64{end, off + 1, off + 4} {
					j := i
					for j < len(f.batches) {
						if j+1 < len(f.batches) && base(f.batches[j+1]) > upTo || j+1 == len(f.batches) && end > upTo {
							break
						}
						j++
					}
					if got := mustRead(t, l, off, 1, upTo); j > i && !bytes.Equal(got, f.batches[i]) {
						t.Fatalf("%s: read at %d, 1 byte, upTo %d: %d bytes, want the batch (%d)", step, off, upTo, len(got), len(f.batches[i]))
					}
					if got, want := mustRead(t, l, off, 1<<20, upTo), f.concat(i, j); !bytes.Equal(got, want) {
						t.Fatalf("%s: read at %d upTo %d: %d bytes, want %d", step, off, upTo, len(got), len(want))
					}
				}
			}
		}
		for i := range 40 {
			f.add(1+i%3, 1000)
		}
		check("appended")
		if err := l.Truncate(base(f.batches[35])); err != nil {
			t.Fatal(err)
		}
		f.rewind(base(f.batches[35]))
		check("truncated")
		for i := range 6 {
			f.add(4+i%2, 2000) // other sizes at the offsets truncated away
		}
		check("appended again")
	})
}
