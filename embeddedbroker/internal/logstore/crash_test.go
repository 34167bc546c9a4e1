package logstore

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// syncedUpTo is the offset up to which l is durable: what Crash keeps. For
// the memory log it first plays the FsyncInterval ticks due by now.
func syncedUpTo(l Log) int64 {
	sl := l.(*segLog)
	sl.wmu.Lock()
	defer sl.wmu.Unlock()
	sl.tickLocked(sl.cfg.Clock())
	for _, s := range sl.segs {
		if s.synced < s.size {
			return s.syncedNext
		}
	}
	return sl.end.Load()
}

// waitSynced waits until everything appended to l is durable.
func waitSynced(t *testing.T, l Log) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syncedUpTo(l) < l.EndOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("background fsync did not cover offset %d (synced up to %d)", l.EndOffset(), syncedUpTo(l))
		}
		time.Sleep(time.Millisecond)
	}
}

// crashAndReopen crashes l and returns the log to go on with: the same
// memory log, or the disk log opened again.
func crashAndReopen(t *testing.T, l Log, reopen func(Config) Log, cfg Config) Log {
	t.Helper()
	if err := l.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	if reopen == nil {
		return l
	}
	if _, err := l.Read(0, 1, 1); err != ErrClosed {
		t.Fatalf("Read after disk Crash: %v, want ErrClosed", err)
	}
	return reopen(cfg)
}

// checkContents checks that l holds exactly the fixture's batches [0, n)
// from offset 0 and that appends continue at its end.
func checkContents(t *testing.T, l Log, f *fixture, n int) {
	t.Helper()
	want := f.concat(0, n)
	end := int64(3 * n)
	if l.StartOffset() != 0 || l.EndOffset() != end || l.Size() != int64(len(want)) {
		t.Fatalf("log [%d, %d] size %d, want [0, %d] size %d", l.StartOffset(), l.EndOffset(), l.Size(), end, len(want))
	}
	if got := mustRead(t, l, 0, math.MaxInt32, math.MaxInt64); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d (batches [0, %d))", len(got), len(want), n)
	}
	if got := mustRead(t, l, end, math.MaxInt32, math.MaxInt64); len(got) != 0 {
		t.Fatalf("read %d bytes at the end offset", len(got))
	}
	_, err := l.Read(end+1, 1, math.MaxInt64)
	wantErr(t, err, ErrOffsetOutOfRange)
}

func TestCrash(t *testing.T) {
	// Three batches of S bytes (3 records each) fill a segment: the fourth
	// rolls, which syncs the sealed segment whatever the policy.
	//   a: append a batch     s: Sync
	//   w: wait for the background syncer to cover everything
	//   h: Reconfigure to a one-hour interval (no tick before the crash)
	tests := []struct {
		name     string
		fsync    FsyncPolicy
		steps    string
		kept     int // batches that survive; -1: between minKept and all
		minKept  int
		segments []int64 // segment bases after the crash, nil: not checked
	}{
		{name: "always", fsync: FsyncAlways, steps: "aaaaaaa", kept: 7, segments: []int64{0, 9, 18}},
		{name: "always, nothing after a roll", fsync: FsyncAlways, steps: "aaaa", kept: 4, segments: []int64{0, 9}},
		{name: "never, nothing synced", fsync: FsyncNever, steps: "aa", kept: 0, segments: []int64{0}},
		{name: "never, up to the last roll", fsync: FsyncNever, steps: "aaaaa", kept: 3, segments: []int64{0, 9}},
		{name: "never, up to Sync inside a segment", fsync: FsyncNever, steps: "aaaaasa", kept: 5, segments: []int64{0, 9}},
		{name: "never, roll after Sync", fsync: FsyncNever, steps: "aaaaasaaa", kept: 6, segments: []int64{0, 9, 18}},
		{name: "never, Sync at the end", fsync: FsyncNever, steps: "aaaaas", kept: 5, segments: []int64{0, 9}},
		{name: "interval, up to the last tick", fsync: FsyncInterval(2 * time.Millisecond), steps: "aaaaawha", kept: 5, segments: []int64{0, 9}},
		{name: "interval, racing ticks", fsync: FsyncInterval(2 * time.Millisecond), steps: "aaaaawaa", kept: -1, minKept: 5},
		{name: "interval, everything ticked", fsync: FsyncInterval(2 * time.Millisecond), steps: "aaaaaw", kept: 5, segments: []int64{0, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			both(t, func(t *testing.T, open opener) {
				cfg := Config{SegmentBytes: 3 * S, IndexIntervalBytes: 1, Fsync: tt.fsync}
				l, reopen := open(t, cfg)
				f := &fixture{t: t, l: l}
				for _, step := range tt.steps {
					switch step {
					case 'a':
						f.add(3, 1000+int64(len(f.batches)))
					case 's':
						if err := l.Sync(); err != nil {
							t.Fatal(err)
						}
					case 'w':
						waitSynced(t, l)
					case 'h':
						cfg.Fsync = FsyncInterval(time.Hour)
						l.Reconfigure(cfg)
					}
				}
				if got, want := syncedUpTo(l), int64(3*tt.kept); tt.kept >= 0 && got != want {
					t.Fatalf("synced up to %d before the crash, want %d", got, want)
				}

				l = crashAndReopen(t, l, reopen, cfg)
				f.l = l
				kept := tt.kept
				if kept < 0 {
					kept = int(l.EndOffset() / 3)
					if kept < tt.minKept || kept > len(f.batches) || l.EndOffset()%3 != 0 {
						t.Fatalf("end offset %d after the crash, want a batch boundary in [%d, %d]", l.EndOffset(), 3*tt.minKept, 3*len(f.batches))
					}
				}
				checkContents(t, l, f, kept)
				if tt.segments != nil {
					if got := bases(l); !slices.Equal(got, tt.segments) {
						t.Fatalf("segments %v, want %v", got, tt.segments)
					}
				}

				// Appends continue at the surviving end; a synced log loses
				// nothing in a second crash.
				f.batches = f.batches[:kept]
				f.addN(4, 3, 2000)
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				l = crashAndReopen(t, l, reopen, cfg)
				f.l = l
				checkContents(t, l, f, kept+4)
				if reopen != nil { // and a clean restart keeps it all
					l = reopen(cfg)
					f.l = l
					checkContents(t, l, f, kept+4)
					if !l.(*segLog).be.(*diskBackend).trustedActive {
						t.Fatal("the open after Close read the active segment")
					}
					// A crash that changed nothing since leaves the
					// clean-shutdown marker valid; one after an append
					// does not.
					l = crashAndReopen(t, l, reopen, cfg)
					f.l = l
					checkContents(t, l, f, kept+4)
					if !l.(*segLog).be.(*diskBackend).trustedActive {
						t.Fatal("files unchanged since a clean open, yet recovered")
					}
					f.add(3, 3000)
					if err := l.Sync(); err != nil {
						t.Fatal(err)
					}
					l = crashAndReopen(t, l, reopen, cfg)
					f.l = l
					checkContents(t, l, f, kept+5)
					if l.(*segLog).be.(*diskBackend).trustedActive {
						t.Fatal("the open after a crash trusted the active segment")
					}
				}
			})
		})
	}
}

func TestCrashStartOffset(t *testing.T) {
	tests := []struct {
		name       string
		start      int64 // SetStartOffset after 5 batches, the last 2 unsynced
		start2     int64 // log start offset after the crash
		end        int64
		truncFully bool
	}{
		{name: "start within the synced data", start: 4, start2: 4, end: 9},
		{name: "start at the synced end", start: 9, start2: 9, end: 9},
		{name: "start past the synced data", start: 13, start2: 13, end: 13},
		{name: "start at the log end", start: 15, start2: 15, end: 15},
		{name: "TruncateFully", start: 100, start2: 100, end: 100, truncFully: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			both(t, func(t *testing.T, open opener) {
				cfg := Config{SegmentBytes: 3 * S}
				l, reopen := open(t, cfg)
				f := &fixture{t: t, l: l}
				f.addN(5, 3, 1000)
				var err error
				if tt.truncFully {
					err = l.TruncateFully(tt.start)
					f.batches = nil
					f.addN(2, 3, 1000) // unsynced, lost
				} else {
					err = l.SetStartOffset(tt.start)
				}
				if err != nil {
					t.Fatal(err)
				}
				l = crashAndReopen(t, l, reopen, cfg)
				if l.StartOffset() != tt.start2 || l.EndOffset() != tt.end {
					t.Fatalf("log [%d, %d], want [%d, %d]", l.StartOffset(), l.EndOffset(), tt.start2, tt.end)
				}
				if tt.start2 < tt.end {
					got := mustRead(t, l, tt.start2, math.MaxInt32, math.MaxInt64)
					if want := f.concat(f.index(tt.start2), f.index(tt.end-1)+1); !bytes.Equal(got, want) {
						t.Fatalf("read %d bytes, want %d", len(got), len(want))
					}
				}
				f.l = l
				f.add(3, 3000)
				if got := mustRead(t, l, tt.end, math.MaxInt32, math.MaxInt64); !bytes.Equal(got, f.batches[len(f.batches)-1]) {
					t.Fatal("batch appended after the crash does not read back")
				}
			})
		})
	}
}

func TestCrashAfterTruncate(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		cfg := Config{SegmentBytes: 3 * S}
		l, reopen := open(t, cfg)
		f := &fixture{t: t, l: l}
		f.addN(5, 3, 1000)                     // [0: b0 b1 b2] [9: b3 b4], b3 and b4 unsynced
		if err := l.Truncate(12); err != nil { // fsyncs what it keeps: b3
			t.Fatal(err)
		}
		f.rewind(12)
		f.add(3, 2000) // unsynced, lost
		l = crashAndReopen(t, l, reopen, cfg)
		f.l = l
		f.rewind(12)
		checkContents(t, l, f, 4)
	})
}

func TestCrashClosed(t *testing.T) {
	both(t, func(t *testing.T, open opener) {
		l, _ := open(t, Config{})
		f := &fixture{t: t, l: l}
		f.add(3, 1000)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Crash(); err != nil {
			t.Fatalf("Crash after Close: %v", err)
		}
		wantErr(t, l.Append(encodeBatch(3, 1, 0, 1)), ErrClosed)
	})
	l, _ := openDisk(t, Config{})
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := l.Crash(); err != nil {
		t.Fatalf("second Crash: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after Crash: %v", err)
	}
}

// TestCrashMemoryInterval checks the memory log's simulated syncer against
// a fake clock: ticks every 10s from creation, then from the crash.
func TestCrashMemoryInterval(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{Fsync: FsyncInterval(10 * time.Second), Clock: clock.Now}
	l := NewMemory(cfg)
	f := &fixture{t: t, l: l}
	step := func(d time.Duration, appends int, synced int64) {
		t.Helper()
		clock.Advance(d)
		f.addN(appends, 3, 1000)
		if got := syncedUpTo(l); got != synced {
			t.Fatalf("at %v: synced up to %d, want %d", clock.Now(), got, synced)
		}
	}
	step(0, 1, 0)                     // t=0: b0
	step(5*time.Second, 1, 0)         // t=5: b1
	step(6*time.Second, 0, 6)         // t=11: the tick at 10 synced b0 b1
	step(0, 1, 6)                     // t=11: b2
	step(9*time.Second, 0, 9)         // t=20: the tick at 20 synced b2 (appended at 11)
	step(0, 1, 9)                     // t=20: b3 at the tick's instant: after it
	step(9*time.Second, 0, 9)         // t=29
	if err := l.Crash(); err != nil { // t=29: b3 lost; ticks restart from 29
		t.Fatal(err)
	}
	checkContents(t, l, f, 3)
	f.batches = f.batches[:3]
	step(0, 1, 9)             // t=29: b3'
	step(9*time.Second, 0, 9) // t=38
	step(time.Second, 0, 12)  // t=39: tick
	step(0, 1, 12)            // t=39: b4
	cfg.Fsync = FsyncNever
	l.Reconfigure(cfg) // no more ticks
	step(time.Hour, 0, 12)
	cfg.Fsync = FsyncInterval(time.Minute)
	l.Reconfigure(cfg)          // ticks from now
	step(59*time.Second, 0, 12) // just before the first tick
	step(time.Second, 0, 15)    // the first tick
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	checkContents(t, l, f, 5)
}

// TestCrashMemoryReads checks that bytes read before a crash stay as they
// were when the lost offsets are appended again, and runs reads against
// crashes (run with -race).
func TestCrashMemoryReads(t *testing.T) {
	l := NewMemory(Config{SegmentBytes: 3 * S})
	f := &fixture{t: t, l: l}
	f.addN(5, 3, 1000)
	before := mustRead(t, l, 9, math.MaxInt32, math.MaxInt64)
	saved := bytes.Clone(before)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := l.Read(0, math.MaxInt32, math.MaxInt64)
			if err == nil {
				err = checkBatches(b)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		if err := l.Crash(); err != nil {
			t.Fatal(err)
		}
		for l.EndOffset() < 15 {
			if err := l.Append(encodeBatch(l.EndOffset(), 3, 5000, 40)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if !bytes.Equal(before, saved) {
		t.Fatal("bytes read before the crash changed")
	}
	if l.EndOffset() != 15 {
		t.Fatalf("end offset %d", l.EndOffset())
	}
}

// TestCrashDiskFiles checks what a disk crash leaves in the directory.
func TestCrashDiskFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 3 * S, IndexIntervalBytes: 1}
	l := openDiskIn(t, dir, cfg, nil)
	f := &fixture{t: t, l: l}
	f.addN(5, 3, 1000) // [0: b0 b1 b2] sealed, [9: b3 b4] unsynced
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	f.addN(3, 3, 1000)                // b5 fills and seals [9], [18: b6 b7]
	if err := l.Close(); err != nil { // writes the index files of [18] (one entry), unsynced
		t.Fatal(err)
	}
	l = openDiskIn(t, dir, cfg, nil)
	f.l = l
	f.add(3, 1000) // b8, unsynced
	for _, ext := range []string{indexExt, timeIndexExt} {
		if _, err := os.Stat(segPath(dir, 18, ext)); err != nil {
			t.Fatalf("before the crash: %v", err)
		}
	}
	// A failed save of the log start offset left an undurable value.
	be := l.(*segLog).be.(*diskBackend)
	be.startDirty = true
	be.savedStart, be.hasSavedStart = 0, true
	if err := os.WriteFile(filepath.Join(dir, StartOffsetFile), []byte("12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}

	sizes := map[string]int64{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		sizes[e.Name()] = info.Size()
	}
	want := map[string]int64{
		"00000000000000000000.log": 3 * S,
		"00000000000000000009.log": 3 * S,
		"00000000000000000018.log": 2 * S,
	}
	for name, size := range want {
		if got, ok := sizes[name]; !ok || got != size {
			t.Errorf("%s: size %d (present %v), want %d", name, got, ok, size)
		}
	}
	for _, name := range []string{"00000000000000000000.index", "00000000000000000009.timeindex"} {
		if _, ok := sizes[name]; !ok {
			t.Errorf("%s of a sealed segment removed", name)
		}
	}
	for _, name := range []string{"00000000000000000018.index", "00000000000000000018.timeindex"} {
		if _, ok := sizes[name]; ok { // stale, from the Close
			t.Errorf("%s of the last segment left", name)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, StartOffsetFile)); err != nil || string(b) != "0\n" {
		t.Errorf("%s holds %q (%v), want the durable 0", StartOffsetFile, b, err)
	}

	l = openDiskIn(t, dir, cfg, nil)
	f.l = l
	checkContents(t, l, f, 8)
}

// segFilesOpen counts the segments of l whose file is open in its pool.
func segFilesOpen(l Log) int {
	sl := l.(*segLog)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	n := 0
	for _, s := range sl.segs {
		if s.data.(*fileSeg).h.f.Load() != nil {
			n++
		}
	}
	return n
}

// TestCrashEvictedHandles runs a disk log whose segment files another log,
// sharing a pool of one file, evicts between every two steps: it appends,
// reads, syncs, crashes and recovers as it does with its files open.
func TestCrashEvictedHandles(t *testing.T) {
	pool := NewFilePool(1)
	cfg := Config{SegmentBytes: 3 * S, IndexIntervalBytes: 1}
	dir := t.TempDir()
	l := openDiskIn(t, dir, cfg, nil, pool)
	other := &fixture{t: t, l: openDiskIn(t, t.TempDir(), Config{}, nil, pool)}
	evict := func() {
		t.Helper()
		other.add(1, 1)
		if n := segFilesOpen(l); n != 0 {
			t.Fatalf("%d segment files of the log still open in a pool of one", n)
		}
	}
	f := &fixture{t: t, l: l}
	for range 4 { // [0: b0 b1 b2] sealed, [9: b3]
		f.add(3, 1000)
		evict()
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	evict()
	f.add(3, 1000) // b4, unsynced
	evict()
	checkContents(t, l, f, 5)
	evict()
	if b, found, err := l.FindTimestamp(1000); err != nil || !found || !bytes.Equal(b, f.batches[0]) {
		t.Fatalf("FindTimestamp: found %v, %v", found, err)
	}
	evict()

	l = crashAndReopen(t, l, func(cfg Config) Log { return openDiskIn(t, dir, cfg, nil, pool) }, cfg)
	f.l = l
	f.batches = f.batches[:4]
	evict()
	checkContents(t, l, f, 4)
	evict()
	f.addN(3, 3, 2000) // b4' b5' roll to [18: b6']
	evict()
	if err := l.Truncate(15); err != nil { // fsyncs what it keeps: b4'
		t.Fatal(err)
	}
	f.rewind(15)
	evict()
	l = crashAndReopen(t, l, func(cfg Config) Log { return openDiskIn(t, dir, cfg, nil, pool) }, cfg)
	f.l = l
	evict()
	checkContents(t, l, f, 5)
	if st := pool.Stats(); st.Peak > 1 || st.Evictions == 0 {
		t.Fatalf("pool of one: %+v", st)
	}
}
