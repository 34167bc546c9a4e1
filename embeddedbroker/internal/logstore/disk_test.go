package logstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func segPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

func TestDiskLayoutAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 2 * S, IndexIntervalBytes: 1}
	l := openDiskIn(t, dir, cfg, nil)
	f := &fixture{t: t, l: l}
	for i := range 9 {
		f.add(3, int64(1000*(i%4)))
	}
	if err := l.SetStartOffset(7); err != nil {
		t.Fatal(err)
	}
	want := mustRead(t, l, 7, 1<<20, 27)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	wantNames := []string{StartOffsetFile, CleanShutdownFile}
	for _, b := range []int64{6, 12, 18, 24} {
		for _, ext := range []string{logExt, indexExt, timeIndexExt} {
			if b == 24 && ext != logExt {
				continue // one batch: empty indexes, which Close does not write
			}
			wantNames = append(wantNames, fmt.Sprintf("%020d%s", b, ext))
		}
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("files %v, want %v", names, wantNames)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, StartOffsetFile)); string(b) != "7\n" {
		t.Fatalf("%s holds %q", StartOffsetFile, b)
	}

	l = openDiskIn(t, dir, cfg, nil)
	if !l.(*segLog).be.(*diskBackend).trustedActive {
		t.Fatal("the open after Close did not trust the clean-shutdown marker")
	}
	if l.StartOffset() != 7 || l.EndOffset() != 27 || l.Size() != 7*S {
		t.Fatalf("reopened [%d, %d] size %d", l.StartOffset(), l.EndOffset(), l.Size())
	}
	if got := mustRead(t, l, 7, 1<<20, 27); !bytes.Equal(got, want) {
		t.Fatal("reopened log reads differently")
	}
	// Loaded index files equal what rebuilding the segments gives.
	for _, s := range l.(*segLog).segs {
		idx, tidx, maxTs, maxTsOff := s.index, s.tindex, s.maxTs, s.maxTsOff
		size := s.size
		if err := s.rebuild(size, true, cfg.IndexIntervalBytes); err != nil {
			t.Fatal(err)
		}
		if s != l.(*segLog).active() {
			s.seal()
		}
		if !slices.Equal(idx, s.index) || !slices.Equal(tidx, s.tindex) || maxTs != s.maxTs || maxTsOff != s.maxTsOff {
			t.Fatalf("segment %d: loaded index %v %v (max %d@%d), rebuilt %v %v (max %d@%d)",
				s.base, idx, tidx, maxTs, maxTsOff, s.index, s.tindex, s.maxTs, s.maxTsOff)
		}
	}
	f.l = l
	f.add(1, 5000)
	if l.EndOffset() != 28 {
		t.Fatalf("end %d", l.EndOffset())
	}
}

// closeAndDamage writes nine 3-record batches, two per segment, closes the
// log and lets damage change the files.
func closeAndDamage(t *testing.T, dir string, damage func()) *fixture {
	t.Helper()
	l := openDiskIn(t, dir, Config{SegmentBytes: 2 * S}, nil)
	f := &fixture{t: t, l: l}
	f.addN(9, 3, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	damage()
	return f
}

func TestDiskCrashRecovery(t *testing.T) {
	// Segments: [0: b0 b1] [6: b2 b3] [12: b4 b5] [18: b6 b7] [24: b8].
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		end     int64 // recovered log end offset
		dropped int64 // bytes dropped
		bases   []int64
	}{
		{
			name: "log cut inside the last batch",
			damage: func(t *testing.T, dir string) {
				mustTruncate(t, segPath(dir, 24, logExt), S-10)
			},
			end: 24, dropped: S - 10, bases: []int64{0, 6, 12, 18, 24},
		},
		{
			name: "log cut inside the last batch's header",
			damage: func(t *testing.T, dir string) {
				mustTruncate(t, segPath(dir, 18, logExt), S+20)
				mustRemove(t, segPath(dir, 24, logExt))
			},
			end: 21, dropped: 20, bases: []int64{0, 6, 12, 18},
		},
		{
			name: "corrupt record bytes in the last batch",
			damage: func(t *testing.T, dir string) {
				flipByte(t, segPath(dir, 24, logExt), S-5)
			},
			end: 24, dropped: S, bases: []int64{0, 6, 12, 18, 24},
		},
		{
			name: "corrupt first of two batches",
			damage: func(t *testing.T, dir string) {
				mustRemove(t, segPath(dir, 24, logExt))
				flipByte(t, segPath(dir, 18, logExt), 70) // past the CRC field: caught by the CRC
			},
			end: 18, dropped: 2 * S, bases: []int64{0, 6, 12, 18},
		},
		{
			name: "bad magic",
			damage: func(t *testing.T, dir string) {
				mustRemove(t, segPath(dir, 24, logExt))
				flipByte(t, segPath(dir, 18, logExt), S+16)
			},
			end: 21, dropped: S, bases: []int64{0, 6, 12, 18},
		},
		{
			name: "bad length",
			damage: func(t *testing.T, dir string) {
				flipByte(t, segPath(dir, 24, logExt), 8) // the length's top byte: negative
			},
			end: 24, dropped: S, bases: []int64{0, 6, 12, 18, 24},
		},
		{
			name: "trailing zeros",
			damage: func(t *testing.T, dir string) {
				appendBytes(t, segPath(dir, 24, logExt), make([]byte, 100))
			},
			end: 27, dropped: 100, bases: []int64{0, 6, 12, 18, 24},
		},
		{
			name: "sealed segment lost its tail",
			damage: func(t *testing.T, dir string) {
				mustTruncate(t, segPath(dir, 12, logExt), S+7)
				mustRemove(t, segPath(dir, 12, indexExt)) // the index must be rebuilt to notice
			},
			end: 15, dropped: 7, bases: []int64{0, 6, 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := closeAndDamage(t, dir, func() { tt.damage(t, dir) })
			var logs logBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			l := openDiskIn(t, dir, Config{SegmentBytes: 2 * S}, logger)
			if l.EndOffset() != tt.end {
				t.Fatalf("recovered end %d, want %d", l.EndOffset(), tt.end)
			}
			if got := bases(l); !slices.Equal(got, tt.bases) {
				t.Fatalf("segments %v, want %v", got, tt.bases)
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, fmt.Sprintf("droppedBytes=%d", tt.dropped)) {
				t.Fatalf("warning missing or wrong, log:\n%s", out)
			}
			f.l = l
			f.rewind(tt.end)
			if got := mustRead(t, l, 0, 1<<20, tt.end); !bytes.Equal(got, f.concat(0, len(f.batches))) {
				t.Fatal("data before the damage does not read back")
			}
			if l.Size() != int64(len(f.concat(0, len(f.batches)))) {
				t.Fatalf("size %d", l.Size())
			}
			f.addN(3, 3, 2000)
			if got := mustRead(t, l, 0, 1<<20, l.EndOffset()); !bytes.Equal(got, f.concat(0, len(f.batches))) {
				t.Fatal("appends after recovery do not read back")
			}

			// Opening again finds nothing to repair.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			var logs2 logBuffer
			l = openDiskIn(t, dir, Config{SegmentBytes: 2 * S}, slog.New(slog.NewTextHandler(&logs2, nil)))
			if out := logs2.String(); out != "" {
				t.Fatalf("second open logged:\n%s", out)
			}
			if got := mustRead(t, l, 0, 1<<20, l.EndOffset()); !bytes.Equal(got, f.concat(0, len(f.batches))) {
				t.Fatal("second reopen reads differently")
			}
		})
	}
}

func TestDiskRebuildsMissingIndexes(t *testing.T) {
	dir := t.TempDir()
	f := closeAndDamage(t, dir, func() {
		mustRemove(t, segPath(dir, 6, indexExt))
		mustRemove(t, segPath(dir, 12, timeIndexExt))
		if err := os.WriteFile(segPath(dir, 18, indexExt), []byte{1, 2, 3}, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(segPath(dir, 99, indexExt), nil, 0o644); err != nil { // orphan
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "log-start-offset.tmp"), []byte("12"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	var logs logBuffer
	l := openDiskIn(t, dir, Config{SegmentBytes: 2 * S}, slog.New(slog.NewTextHandler(&logs, nil)))
	if out := logs.String(); out != "" {
		t.Fatalf("rebuilding indexes logged:\n%s", out)
	}
	if l.StartOffset() != 0 || l.EndOffset() != 27 {
		t.Fatalf("[%d, %d]", l.StartOffset(), l.EndOffset())
	}
	if got := mustRead(t, l, 0, 1<<20, 27); !bytes.Equal(got, f.concat(0, 9)) {
		t.Fatal("reads after rebuilding indexes")
	}
	for _, p := range []string{segPath(dir, 6, indexExt), segPath(dir, 12, timeIndexExt)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("index not rewritten: %v", err)
		}
	}
	for _, p := range []string{segPath(dir, 99, indexExt), filepath.Join(dir, "log-start-offset.tmp")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s not removed", p)
		}
	}
	if fi, _ := os.Stat(segPath(dir, 18, indexExt)); fi == nil || fi.Size()%offsetEntrySize != 0 {
		t.Fatal("bad index not rewritten")
	}
}

func TestDiskStartOffsetBeyondRecoveredEnd(t *testing.T) {
	dir := t.TempDir()
	closeAndDamage(t, dir, func() {
		if err := os.WriteFile(filepath.Join(dir, StartOffsetFile), []byte("40\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	l := openDiskIn(t, dir, Config{SegmentBytes: 2 * S}, nil)
	if l.StartOffset() != 40 || l.EndOffset() != 40 || l.Size() != 0 {
		t.Fatalf("[%d, %d] size %d, want empty at 40", l.StartOffset(), l.EndOffset(), l.Size())
	}
	if got := bases(l); !slices.Equal(got, []int64{40}) {
		t.Fatalf("segments %v", got)
	}
}

func TestDiskFsync(t *testing.T) {
	t.Run("always", func(t *testing.T) {
		l := openDiskIn(t, t.TempDir(), Config{Fsync: FsyncAlways, SegmentBytes: 2 * S}, nil)
		f := &fixture{t: t, l: l}
		for range 5 {
			f.add(3, 1000)
			if dirty(l) {
				t.Fatal("Append returned before fsync")
			}
		}
	})
	t.Run("interval", func(t *testing.T) {
		l := openDiskIn(t, t.TempDir(), Config{Fsync: FsyncInterval(2 * time.Millisecond)}, nil)
		f := &fixture{t: t, l: l}
		f.add(3, 1000)
		deadline := time.Now().Add(5 * time.Second)
		for dirty(l) {
			if time.Now().After(deadline) {
				t.Fatal("background fsync did not run")
			}
			time.Sleep(time.Millisecond)
		}
		l.Reconfigure(Config{Fsync: FsyncNever})
		if l.(*segLog).stopSync != nil {
			t.Fatal("syncer still running after Reconfigure(FsyncNever)")
		}
		f.add(3, 1000)
		if !dirty(l) {
			t.Fatal("FsyncNever synced")
		}
		if err := l.Sync(); err != nil || dirty(l) {
			t.Fatalf("Sync: %v", err)
		}
		l.Reconfigure(Config{Fsync: FsyncInterval(time.Hour)})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if l.(*segLog).stopSync != nil {
			t.Fatal("syncer running after Close")
		}
	})
	if FsyncInterval(0) != FsyncAlways || FsyncNever.String() != "never" || FsyncAlways.String() != "always" ||
		FsyncInterval(time.Second).String() != "every 1s" {
		t.Fatal("FsyncPolicy constructors")
	}
}

func dirty(l Log) bool {
	sl := l.(*segLog)
	sl.wmu.Lock()
	defer sl.wmu.Unlock()
	return sl.dirty
}

func TestDiskDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	l := openDiskIn(t, dir, Config{}, nil)
	f := &fixture{t: t, l: l}
	f.add(3, 1000)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	wantErr(t, l.Append(encodeBatch(3, 1, 0, 1)), ErrClosed)
}

func mustTruncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, extra []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(extra); err != nil {
		t.Fatal(err)
	}
}

// TestDiskCreateDefersDirSync checks that creating or opening a log fsyncs
// no directory: the first fsync of data makes the entries durable, as
// Kafka's LocalLog.flush does; a roll makes the sealed segment's durable.
func TestDiskCreateDefersDirSync(t *testing.T) {
	dirty := func(l Log) (dir, parent bool) {
		be := l.(*segLog).be.(*diskBackend)
		return be.dirDirty, be.parentTicket != 0
	}
	want := func(l Log, what string, dir, parent bool) {
		t.Helper()
		if d, p := dirty(l); d != dir || p != parent {
			t.Fatalf("%s: directory unsynced %v, parent unsynced %v; want %v, %v", what, d, p, dir, parent)
		}
	}
	dir := filepath.Join(t.TempDir(), "topic-0")
	cfg := Config{SegmentBytes: 2 * S}
	l := openDiskIn(t, dir, cfg, nil)
	want(l, "created", true, true)
	f := &fixture{t: t, l: l}
	f.add(3, 1000)
	want(l, "after an append", true, true)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	want(l, "after Sync", false, false)
	f.addN(2, 3, 1000) // rolls: the sealed segment's files are synced, the new one is not
	want(l, "after a roll", true, false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openDiskIn(t, dir, cfg, nil)
	want(l, "reopened", true, true) // the previous process may have crashed
	(&fixture{t: t, l: l}).add(3, 1000)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	want(l, "reopened, after Sync", false, false)

	l = openDiskIn(t, filepath.Join(t.TempDir(), "topic-1"), Config{Fsync: FsyncAlways}, nil)
	want(l, "created", true, true)
	(&fixture{t: t, l: l}).add(3, 1000)
	want(l, "after an append under FsyncAlways", false, false)
}

// TestDiskEmptyLogHasNoFile checks that an empty segment's .log file is
// created by its first write: a new log, or one emptied by DeleteRecords,
// is its directory (and log-start-offset file) alone, and opens again as
// the same empty log.
func TestDiskEmptyLogHasNoFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	l := openDiskIn(t, dir, Config{}, nil)
	names := func() []string {
		t.Helper()
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	if got := names(); len(got) != 0 {
		t.Fatalf("new log: files %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 0 {
		t.Fatalf("new log closed: files %v", got)
	}
	l = openDiskIn(t, dir, Config{}, nil)
	f := &fixture{t: t, l: l}
	f.add(3, 1000)
	if got := names(); !slices.Equal(got, []string{"00000000000000000000.log"}) {
		t.Fatalf("after an append: files %v", got)
	}
	if err := l.SetStartOffset(3); err != nil { // to the end: a fresh, empty segment at 3
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{StartOffsetFile}) {
		t.Fatalf("after DeleteRecords to the end: files %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openDiskIn(t, dir, Config{}, nil)
	if l.StartOffset() != 3 || l.EndOffset() != 3 {
		t.Fatalf("reopened [%d, %d], want [3, 3]", l.StartOffset(), l.EndOffset())
	}
	f.l = l
	f.add(3, 1000)
	if got := mustRead(t, l, 3, math.MaxInt32, math.MaxInt64); !bytes.Equal(got, f.batches[1]) {
		t.Fatal("append after reopening does not read back")
	}
}

// TestDiskParentDirSyncCoalesced checks that the logs created in one
// directory share the fsync that makes their entries durable there.
func TestDiskParentDirSyncCoalesced(t *testing.T) {
	pool := NewFilePool(0)
	parent := t.TempDir()
	open := func(name string) *fixture {
		l := openDiskIn(t, filepath.Join(parent, name), Config{}, nil, pool)
		f := &fixture{t: t, l: l}
		f.add(3, 1000)
		return f
	}
	sync := func(f *fixture, fsyncs int64) {
		t.Helper()
		if err := f.l.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := pool.dirs.fsyncs.Load(); got != fsyncs {
			t.Fatalf("%d fsyncs of the parent directory, want %d", got, fsyncs)
		}
	}
	a, b, c := open("a"), open("b"), open("c")
	sync(a, 1)
	sync(b, 1) // covered by a's
	sync(c, 1)
	d := open("d") // created after that fsync
	sync(d, 2)
	a.add(3, 1000)
	sync(a, 2)
}
