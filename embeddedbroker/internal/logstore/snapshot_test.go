package logstore

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// snapshotOffsets lists the log's stored snapshots.
func snapshotOffsets(t *testing.T, l Log) []int64 {
	t.Helper()
	sl := l.(*segLog)
	sl.snapMu.Lock()
	defer sl.snapMu.Unlock()
	offs, err := sl.snaps.list()
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// loadSnapshot returns the snapshot LoadSnapshot picks, or -1.
func loadSnapshot(t *testing.T, l Log) (int64, []byte) {
	t.Helper()
	var got []byte
	off, ok, err := l.LoadSnapshot(func(_ int64, data []byte) error {
		got = bytes.Clone(data)
		return nil
	})
	if err != nil {
		t.Fatalf("LoadSnapshot: %v", err)
	}
	if !ok {
		return -1, nil
	}
	return off, got
}

func writeSnapshot(t *testing.T, l Log, data string) SnapshotPoint {
	t.Helper()
	p := l.SnapshotPoint()
	if err := l.WriteSnapshot(p, []byte(data)); err != nil {
		t.Fatalf("WriteSnapshot at %d: %v", p.Offset, err)
	}
	return p
}

func TestSnapshots(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 3 * S}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		if off, _ := loadSnapshot(t, l); off != -1 {
			t.Fatalf("snapshot %d in a new log", off)
		}
		f.addN(2, 3, 1000)
		writeSnapshot(t, l, "at 6")
		f.addN(2, 3, 1000)
		writeSnapshot(t, l, "at 12")
		f.addN(2, 3, 1000)
		writeSnapshot(t, l, "at 18")
		if got := snapshotOffsets(t, l); !slices.Equal(got, []int64{12, 18}) {
			t.Fatalf("snapshots %v, want the newest two [12 18]", got)
		}
		if off, data := loadSnapshot(t, l); off != 18 || string(data) != "at 18" {
			t.Fatalf("loaded %d %q", off, data)
		}

		// load refusing the newest falls back to the older one, which
		// then is the only one left.
		off, ok, err := l.LoadSnapshot(func(off int64, _ []byte) error {
			if off == 18 {
				return errors.New("cannot decode")
			}
			return nil
		})
		if err != nil || !ok || off != 12 {
			t.Fatalf("LoadSnapshot: %d %v %v, want 12", off, ok, err)
		}
		if got := snapshotOffsets(t, l); !slices.Equal(got, []int64{12}) {
			t.Fatalf("snapshots %v after a refused one", got)
		}

		// A snapshot below the log start offset goes at the next write.
		if err := l.SetStartOffset(13); err != nil {
			t.Fatal(err)
		}
		p := l.SnapshotPoint()
		if err := l.WriteSnapshot(SnapshotPoint{Offset: 12, gen: p.gen}, nil); !errors.Is(err, ErrSnapshotStale) {
			t.Fatalf("snapshot below the start offset: %v", err)
		}
		writeSnapshot(t, l, "at 18 again")
		if got := snapshotOffsets(t, l); !slices.Equal(got, []int64{18}) {
			t.Fatalf("snapshots %v, want [18]", got)
		}

		if reopen != nil {
			l = reopen(cfg)
			if off, data := loadSnapshot(t, l); off != 18 || string(data) != "at 18 again" {
				t.Fatalf("after reopen: loaded %d %q", off, data)
			}
		}
	})
}

func TestSnapshotsTruncation(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 3 * S})
		f := &fixture{t: t, l: l}
		f.addN(2, 3, 1000)
		writeSnapshot(t, l, "at 6")
		f.addN(2, 3, 1000)
		stale := l.SnapshotPoint() // at 12, written after the truncation below
		writeSnapshot(t, l, "at 12")

		// Truncating to 9 invalidates the snapshot at 12, and the point
		// taken before: data appended again up to 12 is other data.
		if err := l.Truncate(9); err != nil {
			t.Fatal(err)
		}
		if got := snapshotOffsets(t, l); !slices.Equal(got, []int64{6}) {
			t.Fatalf("snapshots %v after truncating to 9, want [6]", got)
		}
		f.rewind(9)
		f.add(3, 2000)
		if err := l.WriteSnapshot(stale, []byte("stale")); !errors.Is(err, ErrSnapshotStale) {
			t.Fatalf("point from before the truncation: %v, want ErrSnapshotStale", err)
		}
		if off, _ := loadSnapshot(t, l); off != 6 {
			t.Fatalf("loaded %d, want 6", off)
		}
		// A truncation above a snapshot keeps it.
		writeSnapshot(t, l, "at 12 again")
		f.add(3, 2000)
		if err := l.Truncate(13); err != nil {
			t.Fatal(err)
		}
		if got := snapshotOffsets(t, l); !slices.Equal(got, []int64{6, 12}) {
			t.Fatalf("snapshots %v after truncating above them", got)
		}
		if err := l.TruncateFully(100); err != nil {
			t.Fatal(err)
		}
		if got := snapshotOffsets(t, l); len(got) != 0 {
			t.Fatalf("snapshots %v after TruncateFully", got)
		}
	})
}

func TestSnapshotsRollHook(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{SegmentBytes: 3 * S})
		var points []SnapshotPoint
		l.OnRoll(func(p SnapshotPoint) {
			points = append(points, p)
		})
		f := &fixture{t: t, l: l}
		f.addN(7, 3, 1000) // segments [0] [9] [18]
		var offs []int64
		for _, p := range points {
			offs = append(offs, p.Offset)
		}
		if !slices.Equal(offs, []int64{9, 18}) {
			t.Fatalf("roll hook called at %v, want [9 18]", offs)
		}
		for _, p := range points {
			if err := l.WriteSnapshot(p, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		l.OnRoll(nil)
		f.addN(3, 3, 1000)
		if len(points) != 2 {
			t.Fatal("hook called after it was removed")
		}
	})
}

// TestSnapshotsCrash checks that a snapshot above what survives a crash
// is never loaded, and that the next one at that offset describes the new
// data.
func TestSnapshotsCrash(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 3 * S}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		f.addN(3, 3, 1000)
		writeSnapshot(t, l, "at 9")
		f.addN(2, 3, 1000)           // [0: b0 b1 b2] synced by the roll, [9: b3 b4] not
		writeSnapshot(t, l, "at 15") // durable, above the durable data
		l = crashAndReopen(t, l, reopen, cfg)
		if l.EndOffset() != 9 {
			t.Fatalf("end %d after the crash, want 9", l.EndOffset())
		}
		if got := snapshotOffsets(t, l); !slices.Equal(got, []int64{9}) {
			t.Fatalf("snapshots %v after the crash, want [9]", got)
		}
		f.l = l
		f.addN(2, 3, 3000)
		if off, data := loadSnapshot(t, l); off != 9 || string(data) != "at 9" {
			t.Fatalf("loaded %d %q", off, data)
		}
	})
}

func TestSnapshotsClosed(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{})
		p := l.SnapshotPoint()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.WriteSnapshot(p, nil); !errors.Is(err, ErrSnapshotStale) {
			t.Fatalf("WriteSnapshot after Close: %v", err)
		}
		if _, _, err := l.LoadSnapshot(func(int64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Fatalf("LoadSnapshot after Close: %v", err)
		}
	})
}

func TestSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 3 * S}
	l := openDiskIn(t, dir, cfg, nil)
	f := &fixture{t: t, l: l}
	f.addN(2, 3, 1000)
	writeSnapshot(t, l, "at 6")
	f.addN(2, 3, 1000)
	writeSnapshot(t, l, "at 12")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	name := func(off int64) string { return segPath(dir, off, snapshotExt) }
	b, err := os.ReadFile(name(12))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != snapshotHeaderSize+len("at 12") || !bytes.HasSuffix(b, []byte("at 12")) {
		t.Fatalf("snapshot file %x", b)
	}

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T)
	}{
		{"flipped byte", func(t *testing.T) { flipByte(t, name(12), int64(len(b)-1)) }},
		{"cut short", func(t *testing.T) { mustTruncate(t, name(12), 10) }},
		{"renamed", func(t *testing.T) {
			if err := os.Rename(name(6), name(12)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name(6), b, 0o644); err != nil { // holds 12, named 6
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(name(12), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name(6), encodeSnapshotFile(6, []byte("at 6")), 0o644); err != nil {
				t.Fatal(err)
			}
			tc.damage(t)
			var logs logBuffer
			l := openDiskIn(t, dir, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			off, data := loadSnapshot(t, l)
			switch tc.name {
			case "renamed": // neither holds what its name says
				if off != -1 {
					t.Fatalf("loaded %d %q, want none", off, data)
				}
			default:
				if off != 6 || string(data) != "at 6" {
					t.Fatalf("loaded %d %q, want the older one at 6", off, data)
				}
			}
			if !strings.Contains(logs.String(), "unusable state snapshot") {
				t.Fatalf("nothing logged:\n%s", logs.String())
			}
			if _, err := os.Stat(name(12)); !os.IsNotExist(err) {
				t.Fatalf("corrupt snapshot left: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCleanShutdownMarker checks that an open after Close takes the
// active segment from the marker without reading it, and that anything
// that changed the files since, or a crash, makes it recover instead.
func TestCleanShutdownMarker(t *testing.T) {
	cfg := Config{SegmentBytes: 4 * S, IndexIntervalBytes: 1}
	marker := func(dir string) string { return filepath.Join(dir, CleanShutdownFile) }
	// setup writes [0: b0..b3] [12: b4 b5 b6] and closes the log.
	setup := func(t *testing.T) (string, *fixture) {
		dir := t.TempDir()
		l := openDiskIn(t, dir, cfg, nil)
		f := &fixture{t: t, l: l}
		f.addN(7, 3, 1000)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(marker(dir)); err != nil {
			t.Fatalf("no marker after Close: %v", err)
		}
		return dir, f
	}
	trusted := func(l Log) bool { return l.(*segLog).be.(*diskBackend).trustedActive }

	t.Run("trusted", func(t *testing.T) {
		dir, f := setup(t)
		// A flipped byte in the first batch of the active segment: an
		// open that reads the segment would cut it there.
		flipByte(t, segPath(dir, 12, logExt), 70)
		var logs logBuffer
		l := openDiskIn(t, dir, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if !trusted(l) || l.EndOffset() != 21 || logs.String() != "" {
			t.Fatalf("trusted %v, end %d, log:\n%s", trusted(l), l.EndOffset(), logs.String())
		}
		// The segment's state is what a rebuild gives.
		sl := l.(*segLog)
		s := sl.active()
		idx, tidx, maxTs, maxTsOff, firstTs, since := s.index, s.tindex, s.maxTs, s.maxTsOff, s.firstTs, s.sinceIndex
		if err := s.rebuild(s.size, false, cfg.IndexIntervalBytes); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(idx, s.index) || !slices.Equal(tidx, s.tindex) || maxTs != s.maxTs || maxTsOff != s.maxTsOff || firstTs != s.firstTs || since != s.sinceIndex {
			t.Fatal("segment state from the marker differs from a rebuild")
		}
		// The marker stays until the files change.
		if _, err := os.Stat(marker(dir)); err != nil {
			t.Fatalf("marker removed before any change: %v", err)
		}
		f.l = l
		f.batches[4] = mustRead(t, l, 12, 1, math.MaxInt64) // as it is now
		f.add(3, 2000)
		if _, err := os.Stat(marker(dir)); !os.IsNotExist(err) {
			t.Fatalf("marker left after an append: %v", err)
		}
		if got := mustRead(t, l, 0, math.MaxInt32, math.MaxInt64); !bytes.Equal(got, f.concat(0, 8)) {
			t.Fatal("reads differ")
		}
	})

	t.Run("crash after a change", func(t *testing.T) {
		dir, f := setup(t)
		l := openDiskIn(t, dir, cfg, nil)
		f.l = l
		f.add(3, 2000)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := l.Crash(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(marker(dir)); !os.IsNotExist(err) {
			t.Fatalf("marker after a crash: %v", err)
		}
		l = openDiskIn(t, dir, cfg, nil)
		f.l = l
		if trusted(l) {
			t.Fatal("the open after a crash trusted the active segment")
		}
		checkContents(t, l, f, 8)
	})

	t.Run("crash without a change", func(t *testing.T) {
		dir, f := setup(t)
		l := openDiskIn(t, dir, cfg, nil)
		if err := l.Crash(); err != nil {
			t.Fatal(err)
		}
		l = openDiskIn(t, dir, cfg, nil)
		f.l = l
		if !trusted(l) {
			t.Fatal("files unchanged since a clean open, yet not trusted")
		}
		checkContents(t, l, f, 7)
	})

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		end    int64
	}{
		{"segment grew", func(t *testing.T, dir string) {
			appendBytes(t, segPath(dir, 12, logExt), make([]byte, 10))
		}, 21},
		{"segment cut", func(t *testing.T, dir string) {
			mustTruncate(t, segPath(dir, 12, logExt), 3*S-1)
		}, 18},
		{"last batch corrupt", func(t *testing.T, dir string) {
			flipByte(t, segPath(dir, 12, logExt), 3*S-1)
		}, 18},
		{"index changed", func(t *testing.T, dir string) {
			appendBytes(t, segPath(dir, 12, indexExt), make([]byte, offsetEntrySize))
		}, 21},
		{"time index missing", func(t *testing.T, dir string) {
			mustRemove(t, segPath(dir, 12, timeIndexExt))
		}, 21},
		{"marker corrupt", func(t *testing.T, dir string) {
			flipByte(t, marker(dir), 5)
		}, 21},
		{"new segment", func(t *testing.T, dir string) {
			if err := os.WriteFile(segPath(dir, 21, logExt), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, f := setup(t)
			tc.damage(t, dir)
			var logs logBuffer
			l := openDiskIn(t, dir, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if trusted(l) {
				t.Fatal("trusted files that changed after Close")
			}
			if !strings.Contains(logs.String(), "clean-shutdown marker does not match") {
				t.Fatalf("mismatch not logged:\n%s", logs.String())
			}
			if _, err := os.Stat(marker(dir)); !os.IsNotExist(err) {
				t.Fatalf("marker left: %v", err)
			}
			f.l = l
			f.rewind(tc.end)
			checkContents(t, l, f, len(f.batches))
		})
	}

	t.Run("empty active segment", func(t *testing.T) {
		dir := t.TempDir()
		l := openDiskIn(t, dir, cfg, nil)
		f := &fixture{t: t, l: l}
		f.addN(4, 3, 1000)
		if err := l.SetStartOffset(12); err != nil { // every segment goes; an empty one at 12
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openDiskIn(t, dir, cfg, nil)
		if !trusted(l) || l.StartOffset() != 12 || l.EndOffset() != 12 {
			t.Fatalf("trusted %v, log [%d, %d]", trusted(l), l.StartOffset(), l.EndOffset())
		}
	})
}
