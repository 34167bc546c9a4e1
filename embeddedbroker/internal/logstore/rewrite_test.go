package logstore

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// keepOdd is a rewrite that drops the batches whose base offset is a
// multiple of 6 (every other 3-record batch).
func keepOdd(b []byte) ([]byte, error) {
	if base(b)%6 == 0 {
		return nil, nil
	}
	return b, nil
}

// kept returns the fixture's batches a rewrite with keep leaves below end.
func kept(f *fixture, end int64, keep func([]byte) ([]byte, error)) [][]byte {
	var out [][]byte
	for _, b := range f.batches {
		if base(b) >= end {
			out = append(out, b)
			continue
		}
		if nb, _ := keep(b); nb != nil {
			out = append(out, nb)
		}
	}
	return out
}

// readAll returns every batch of l, from its start offset.
func readAll(t *testing.T, l Log) [][]byte {
	t.Helper()
	var out [][]byte
	if err := l.Scan(0, func(b []byte) error { out = append(out, bytes.Clone(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkGaps checks that a read at every offset of the log returns the
// first batch of want ending after it, as a fetch in a compacted log does.
func checkGaps(t *testing.T, l Log, want [][]byte) {
	t.Helper()
	end := l.EndOffset()
	for off := l.StartOffset(); off < end; off++ {
		var first []byte
		for _, b := range want {
			h := mustHeader(t, b)
			if h.NextOffset() > off {
				first = b
				break
			}
		}
		if got := mustRead(t, l, off, 1, end); !bytes.Equal(got, first) {
			t.Fatalf("Read(%d) = batch at %d, want the batch at %d", off, base(got), base(first))
		}
	}
}

func TestRewrite(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, reopen := open(t, Config{SegmentBytes: 4 * S, IndexIntervalBytes: 1})
		f := &fixture{t: t, l: l}
		f.addN(20, 3, 1000) // 5 sealed segments of 4 batches, and an active one
		segs := l.Segments()
		if len(segs) != 4 || segs[0].Base != 0 || segs[3].Next != 48 {
			t.Fatalf("segments %+v, want 4 sealed of 12 offsets", segs)
		}
		sizeBefore := l.Size()
		st, err := l.Rewrite(0, math.MaxInt64, keepOdd)
		if err != nil {
			t.Fatal(err)
		}
		// Groups are made by the segments' sizes before the rewrite, as
		// Kafka makes them: each full segment is a group of its own.
		if st.Segments != 4 || st.Groups != 4 || st.BatchesRead != 16 || st.BatchesWritten != 8 {
			t.Fatalf("stats %+v, want 4 segments in 4 groups, 16 batches read, 8 written", st)
		}
		// The next rewrite merges the halved segments two by two.
		identity := func(b []byte) ([]byte, error) { return b, nil }
		if st, err = l.Rewrite(0, math.MaxInt64, identity); err != nil || st.Segments != 4 || st.Groups != 2 || st.BatchesWritten != 8 {
			t.Fatalf("second rewrite: %+v, %v; want 4 segments in 2 groups, 8 batches", st, err)
		}
		want := kept(f, 48, keepOdd)
		check := func(l Log) {
			t.Helper()
			if got := readAll(t, l); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("after the rewrite: %d batches, want %d equal", len(got), len(want))
			}
			checkGaps(t, l, want)
			if got, wantSize := l.Size(), sizeBefore-8*S; got != wantSize {
				t.Fatalf("Size %d, want %d", got, wantSize)
			}
			if segs := l.Segments(); len(segs) < 2 || segs[0].Base != 0 || segs[1].Base != 24 || segs[1].Next != 48 {
				t.Fatalf("segments %+v, want [0, 24) and [24, 48) first", segs)
			}
			lastH := mustHeader(t, want[len(want)-1])
			if wantEnd := lastH.NextOffset(); l.StartOffset() != 0 || l.EndOffset() != wantEnd {
				t.Fatalf("start %d end %d, want 0 and %d", l.StartOffset(), l.EndOffset(), wantEnd)
			}
		}
		check(l)
		f.add(3, 1000) // appends go on at the end
		want = append(want, f.batches[len(f.batches)-1])
		sizeBefore += S
		if reopen != nil {
			check(reopen(Config{SegmentBytes: 4 * S, IndexIntervalBytes: 1}))
		}
	})
}

// TestRewriteConcurrentAppends appends from inside the rewrite's function:
// appends run while a rewrite writes its segments.
func TestRewriteConcurrentAppends(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 4 * S})
		f := &fixture{t: t, l: l}
		f.addN(12, 3, 1000)
		st, err := l.Rewrite(0, math.MaxInt64, func(b []byte) ([]byte, error) {
			f.add(3, 2000)
			return keepOdd(b)
		})
		if err != nil {
			t.Fatal(err)
		}
		if st.BatchesRead != 8 {
			t.Fatalf("read %d batches, want the 8 of the 2 sealed segments", st.BatchesRead)
		}
		want := kept(f, 24, keepOdd)
		if got := readAll(t, l); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("%d batches, want %d equal", len(got), len(want))
		}
	})
}

// TestRewriteAborted truncates the log into the segments being rewritten:
// the rewrite is abandoned, the log is the truncated one, and no file of
// the rewrite is left.
func TestRewriteAborted(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 4 * S})
		f := &fixture{t: t, l: l}
		f.addN(12, 3, 1000)
		_, err := l.Rewrite(0, math.MaxInt64, func(b []byte) ([]byte, error) {
			if base(b) == 3 {
				if err := l.Truncate(6); err != nil {
					return nil, err
				}
			}
			return b, nil
		})
		wantErr(t, err, ErrRewriteAborted)
		f.rewind(6)
		if got := readAll(t, l); !slices.EqualFunc(got, f.batches, bytes.Equal) {
			t.Fatalf("%d batches, want the %d left by the truncation", len(got), len(f.batches))
		}
		if sl := l.(*segLog); sl.be.durable() {
			assertNoRewriteFiles(t, sl.be.(*diskBackend).dir)
		}
	})
}

// TestRewriteRefusesBadBatches: a replacement out of order or out of the
// group fails the rewrite and changes nothing.
func TestRewriteRefusesBadBatches(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 4 * S})
		f := &fixture{t: t, l: l}
		f.addN(9, 3, 1000)
		for name, fn := range map[string]func([]byte) ([]byte, error){
			"moved back":   func(b []byte) ([]byte, error) { return encodeBatch(base(b)-1, 3, 1000, 40), nil },
			"past the end": func(b []byte) ([]byte, error) { return encodeBatch(base(b), 20, 1000, 40), nil },
			"not a batch":  func(b []byte) ([]byte, error) { return b[:20], nil },
		} {
			if _, err := l.Rewrite(0, math.MaxInt64, fn); err == nil {
				t.Fatalf("%s: rewrite accepted it", name)
			}
			if got := readAll(t, l); !slices.EqualFunc(got, f.batches, bytes.Equal) {
				t.Fatalf("%s: the log changed", name)
			}
		}
	})
}

// TestRewriteEmptiesSegments drops every batch of the sealed segments: the
// segments stay, empty, and reads skip to the active segment.
func TestRewriteEmptiesSegments(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, reopen := open(t, Config{SegmentBytes: 4 * S})
		f := &fixture{t: t, l: l}
		f.addN(10, 3, 1000)
		if _, err := l.Rewrite(0, math.MaxInt64, func([]byte) ([]byte, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		want := f.batches[8:]
		check := func(l Log) {
			t.Helper()
			if got := readAll(t, l); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("%d batches, want the %d of the active segment", len(got), len(want))
			}
			checkGaps(t, l, want)
			if l.StartOffset() != 0 || l.Size() != 2*S {
				t.Fatalf("start %d size %d, want 0 and %d", l.StartOffset(), l.Size(), 2*S)
			}
		}
		check(l)
		if reopen != nil {
			check(reopen(Config{SegmentBytes: 4 * S}))
		}
	})
}

// TestRewriteCrash stops a disk rewrite at each step of its swap, as a
// crash would, and reopens the directory: before the commit the log is
// the old one, after it the new one, and no file of the rewrite is left.
func TestRewriteCrash(t *testing.T) {
	for _, step := range []string{"written", "committed", "removed", "half-renamed", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{SegmentBytes: 4 * S, IndexIntervalBytes: 1}
			pool := NewFilePool(0)
			l := openDiskIn(t, dir, cfg, nil, pool)
			f := &fixture{t: t, l: l}
			f.addN(14, 3, 1000)
			crash := errors.New("crash")
			sl := l.(*segLog)
			sl.rewriteHook = func(s string) error {
				switch {
				case s == step:
					return crash
				case step == "half-renamed" && s == "removed":
					// The index files are renamed, not the .log.
					for _, ext := range []string{indexExt, timeIndexExt} {
						if err := os.Rename(sl.be.(*diskBackend).cleanedPath(0, ext), sl.be.(*diskBackend).path(0, ext)); err != nil {
							t.Fatal(err)
						}
					}
					return crash
				}
				return nil
			}
			if _, err := l.Rewrite(0, 24, keepOdd); !errors.Is(err, crash) {
				t.Fatalf("rewrite: %v, want the crash", err)
			}
			// The process dies: the log is abandoned as it is, and the
			// directory opened again.
			l2, err := OpenDisk(dir, cfg, nil, WithFilePool(NewFilePool(0)))
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			want := f.batches
			if step != "written" {
				want = kept(f, 12, keepOdd) // the first group, [0, 12), was swapped
			}
			if got := readAll(t, l2); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("after a crash at %s: %d batches, want %d equal", step, len(got), len(want))
			}
			checkGaps(t, l2, want)
			assertNoRewriteFiles(t, dir)
			// And it cleans again after the recovery.
			if _, err := l2.Rewrite(0, math.MaxInt64, keepOdd); err != nil {
				t.Fatal(err)
			}
			want = kept(f, 36, keepOdd) // [36, 42) is the active segment
			if got := readAll(t, l2); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("rewrite after recovery: %d batches, want %d", len(got), len(want))
			}
		})
	}
}

func assertNoRewriteFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), cleanedExt) || e.Name() == SwapFile {
			t.Errorf("%s left in the directory", e.Name())
		}
	}
}

func mustHeader(t *testing.T, b []byte) batch.Header {
	t.Helper()
	h, err := batch.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestAppendReplicaGap: a follower's append may start past the log end
// (offsets its leader's cleaner removed), never before it; reads and a
// reopen see the gap as in a cleaned segment.
func TestAppendReplicaGap(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, reopen := open(t, Config{})
		f := &fixture{t: t, l: l}
		f.add(3, 1000)
		wantErr(t, l.Append(encodeBatch(10, 3, 1000, 40)), ErrOffsetMismatch)
		wantErr(t, l.AppendReplica(encodeBatch(2, 3, 1000, 40)), ErrOffsetMismatch)
		b := encodeBatch(10, 3, 1000, 40)
		if err := l.AppendReplica(b); err != nil {
			t.Fatal(err)
		}
		f.batches = append(f.batches, b)
		check := func(l Log) {
			t.Helper()
			if l.EndOffset() != 13 {
				t.Fatalf("EndOffset %d, want 13", l.EndOffset())
			}
			checkGaps(t, l, f.batches)
		}
		check(l)
		if reopen != nil {
			check(reopen(Config{}))
		}
	})
}
