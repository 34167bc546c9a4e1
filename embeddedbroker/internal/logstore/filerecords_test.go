package logstore

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// readFileBytes calls ReadFile and returns the bytes it stands for, the
// range's bytes read back when it returned one, and the range.
func readFileBytes(t *testing.T, l Log, off int64, maxBytes int, upTo int64, minFile int) ([]byte, *FileRecords) {
	t.Helper()
	b, fr, err := l.ReadFile(off, maxBytes, upTo, minFile)
	if err != nil {
		t.Fatalf("ReadFile(%d, %d, %d, %d): %v", off, maxBytes, upTo, minFile, err)
	}
	if fr == nil {
		return b, nil
	}
	t.Cleanup(func() { fr.Close() })
	if b != nil {
		t.Fatalf("ReadFile(%d, %d, %d) returned bytes and a range", off, maxBytes, upTo)
	}
	got := make([]byte, fr.Len())
	if n, err := fr.ReadAt(got, 0); err != nil || n != len(got) {
		t.Fatalf("reading the range back: %d bytes, %v", n, err)
	}
	return got, fr
}

// TestReadFileMatchesRead compares ReadFile with Read over a log of
// batches of varied sizes, a small index interval (so that ReadFile jumps
// through the sparse index), several segments, and segments a rewrite
// left with gaps: for every start offset and a spread of budgets and
// upper bounds, ReadFile's ranges hold what Read returns (in more than one
// segment file when Read crosses a segment's end), its NextOffset ends the
// last batch, and below minFile (or on the memory log) ReadFile returns
// Read's bytes.
func TestReadFileMatchesRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		open opener
	}{{"disk", openDisk}, {"disk-pool2", openDiskTinyPool}, {"memory", openMemory}} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := tc.open(t, Config{SegmentBytes: 24 << 10, IndexIntervalBytes: 300})
			f := &fixture{t: t, l: l}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 120 {
				f.add(1+rng.IntN(40), 1000)
			}
			// Compaction: every other batch of the sealed segments goes.
			keep := true
			if _, err := l.Rewrite(0, math.MaxInt64, func(b []byte) ([]byte, error) {
				keep = !keep
				if keep {
					return b, nil
				}
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			for range 40 {
				f.add(1+rng.IntN(40), 1000)
			}
			segBases := bases(l)
			if len(segBases) < 4 {
				t.Fatalf("%d segments, want several", len(segBases))
			}
			end := l.EndOffset()
			sizes := []int{1, 100, 1000, 3000, 10_000, 50_000, 1 << 30}
			files, spanning := 0, 0
			for off := l.StartOffset(); off <= end; off += 1 + rng.Int64N(6) {
				for _, maxBytes := range sizes {
					for _, upTo := range []int64{end, off + 7, off + 100, off, math.MaxInt64} {
						want, err := l.Read(off, maxBytes, upTo)
						if err != nil {
							t.Fatalf("Read(%d, %d, %d): %v", off, maxBytes, upTo, err)
						}
						got, fr := readFileBytes(t, l, off, maxBytes, upTo, 0)
						if fr == nil {
							if tc.name != "memory" && len(want) > 0 {
								t.Fatalf("ReadFile(%d, %d, %d): bytes where a range was due", off, maxBytes, upTo)
							}
							if !bytes.Equal(got, want) {
								t.Fatalf("ReadFile(%d, %d, %d) = %d bytes, Read %d", off, maxBytes, upTo, len(got), len(want))
							}
							continue
						}
						files++
						if fr.Parts() > 1 {
							spanning++
						}
						if !bytes.Equal(got, want) {
							t.Fatalf("ReadFile(%d, %d, %d): ranges of %d bytes, Read has %d", off, maxBytes, upTo, len(got), len(want))
						}
						bs := split(t, got)
						h, _ := batch.ParseHeader(bs[len(bs)-1])
						if fr.NextOffset() != h.NextOffset() {
							t.Fatalf("ReadFile(%d, %d, %d): NextOffset %d, the last batch ends at %d", off, maxBytes, upTo, fr.NextOffset(), h.NextOffset())
						}
						if err := fr.Check(); err != nil {
							t.Fatal(err)
						}
						fr.Close()
						// Below minFile: Read's bytes.
						if b, fr2, err := l.ReadFile(off, maxBytes, upTo, len(got)+1); err != nil || fr2 != nil {
							t.Fatalf("ReadFile below minFile: range %v, err %v", fr2 != nil, err)
						} else if w, _ := l.Read(off, maxBytes, upTo); !bytes.Equal(b, w) {
							t.Fatalf("ReadFile(%d, %d, %d) below minFile differs from Read", off, maxBytes, upTo)
						}
					}
				}
			}
			if tc.name == "memory" {
				if files > 0 {
					t.Fatalf("the memory log returned %d ranges", files)
				}
			} else if !canDupFiles {
				t.Skip("no ranges on this platform")
			} else if files == 0 || spanning == 0 {
				t.Fatalf("%d reads returned ranges, %d across segments", files, spanning)
			}
			// Out of range, as Read.
			if _, _, err := l.ReadFile(end+1, 100, math.MaxInt64, 0); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("ReadFile past the end: %v", err)
			}
		})
	}
}

// TestFileRecordsOutliveSegments checks that a range keeps its bytes, and
// passes its check, while its segment is deleted (retention, DeleteRecords),
// replaced (a rewrite) or closed with the log, and that it holds no slot of
// the FilePool: ranges of more segments than the pool holds stay open
// while the log carries on.
func TestFileRecordsOutliveSegments(t *testing.T) {
	if !canDupFiles {
		t.Skip("no ranges on this platform")
	}
	pool := NewFilePool(2)
	l, _ := openDiskPool(t, Config{SegmentBytes: 8 << 10, RetentionBytes: RetainNothing}, pool)
	f := &fixture{t: t, l: l}
	f.addN(60, 10, 1000)
	type held struct {
		fr   *FileRecords
		want []byte
	}
	var ranges []held
	for off := int64(0); off < l.EndOffset(); off += 40 {
		want := mustRead(t, l, off, 4000, math.MaxInt64)
		got, fr := readFileBytes(t, l, off, 4000, math.MaxInt64, 0)
		if fr == nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadFile at %d: range %v", off, fr != nil)
		}
		ranges = append(ranges, held{fr, want})
	}
	if len(ranges) < 5 {
		t.Fatalf("%d ranges", len(ranges))
	}
	check := func(when string) {
		t.Helper()
		for i, r := range ranges {
			got := make([]byte, r.fr.Len())
			if _, err := r.fr.ReadAt(got, 0); err != nil || !bytes.Equal(got, r.want) {
				t.Fatalf("%s: range %d changed (%v)", when, i, err)
			}
			if err := r.fr.Check(); err != nil {
				t.Fatalf("%s: range %d: %v", when, i, err)
			}
		}
	}
	check("held")
	f.addN(20, 10, 1000) // appends, rolls, reads through the pool of 2
	mustRead(t, l, 0, 1<<20, math.MaxInt64)
	check("after appends")
	if _, err := l.Rewrite(0, math.MaxInt64, func(b []byte) ([]byte, error) { return b, nil }); err != nil {
		t.Fatal(err)
	}
	check("after a rewrite")
	if err := l.SetStartOffset(200); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyRetention(time.Now()); err != nil {
		t.Fatal(err)
	}
	check("after the segments were deleted")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close")
	if st := pool.Stats(); st.Peak > 2 {
		t.Fatalf("the pool of 2 had %d files open", st.Peak)
	}
	for _, r := range ranges {
		if err := r.fr.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.fr.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
	}
}

// TestFileRecordsTruncated checks that a truncation of the range's segment
// (Truncate, Crash) fails its check, even when the bytes cut are past the
// range, since later appends may rewrite them; and that reading past the
// range is refused.
func TestFileRecordsTruncated(t *testing.T) {
	if !canDupFiles {
		t.Skip("no ranges on this platform")
	}
	l, _ := openDisk(t, Config{})
	f := &fixture{t: t, l: l}
	f.addN(30, 10, 1000)
	_, before := readFileBytes(t, l, 0, 2000, math.MaxInt64, 0)
	_, cut := readFileBytes(t, l, 20, 1<<20, math.MaxInt64, 0)
	if err := before.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := cut.ReadAt(make([]byte, 10), cut.Len()+1); err == nil {
		t.Fatal("ReadAt past the range succeeded")
	}
	if n, err := cut.ReadAt(make([]byte, 10), cut.Len()-5); n != 5 || err != io.EOF {
		t.Fatalf("ReadAt across the range's end: %d, %v", n, err)
	}
	if err := l.Truncate(100); err != nil {
		t.Fatal(err)
	}
	f.rewind(100)
	f.addN(5, 3, 2000)
	for _, fr := range []*FileRecords{before, cut} {
		if err := fr.Check(); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Check after a truncation: %v", err)
		}
	}
	// A range read after the truncation is good again.
	_, after := readFileBytes(t, l, 0, 1<<20, math.MaxInt64, 0)
	if err := after.Check(); err != nil {
		t.Fatal(err)
	}
}
