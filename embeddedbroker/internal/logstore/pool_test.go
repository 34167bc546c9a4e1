package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// poolFiles creates n files in a temporary directory, file i holding 64
// bytes of value i, and returns handles of p for them.
func poolFiles(t *testing.T, p *FilePool, n int) []*pooledFile {
	t.Helper()
	dir := t.TempDir()
	hs := make([]*pooledFile, n)
	for i := range hs {
		path := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(path, bytes.Repeat([]byte{byte(i)}, 64), 0o644); err != nil {
			t.Fatal(err)
		}
		hs[i] = &pooledFile{}
		hs[i].init(p, fileName(path), false)
	}
	t.Cleanup(func() {
		for _, h := range hs {
			_ = h.close()
		}
		if st := p.Stats(); st.Open != 0 {
			t.Errorf("%d files left open after closing every handle", st.Open)
		}
	})
	return hs
}

// use pins h, checks its content, and releases it.
func use(t *testing.T, h *pooledFile, i int) {
	t.Helper()
	f, err := h.acquire()
	if err != nil {
		t.Fatalf("acquire %d: %v", i, err)
	}
	defer h.release()
	checkFile(t, f, i)
}

func checkFile(t *testing.T, f *os.File, i int) {
	t.Helper()
	b := make([]byte, 64)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatalf("file %d: %v", i, err)
	}
	if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 64)) {
		t.Fatalf("file %d holds %v", i, b[:4])
	}
}

func isOpen(h *pooledFile) bool { return h.f.Load() != nil }

// openSet returns which of hs are open, as a string of 0s and 1s.
func openSet(hs []*pooledFile) string {
	var b []byte
	for _, h := range hs {
		if isOpen(h) {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
	}
	return string(b)
}

// waitFor waits until cond holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waiters(p *FilePool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters
}

func TestFilePoolEvictionOrder(t *testing.T) {
	p := NewFilePool(3)
	hs := poolFiles(t, p, 5)
	for _, i := range []int{0, 1, 2} {
		use(t, hs[i], i)
	}
	use(t, hs[0], 0) // 0 is now the most recently used: 1 is the oldest
	if got := openSet(hs); got != "11100" {
		t.Fatalf("open %s, want 11100", got)
	}
	use(t, hs[3], 3) // evicts 1
	if got := openSet(hs); got != "10110" {
		t.Fatalf("after opening 3: open %s, want 10110", got)
	}
	use(t, hs[4], 4) // evicts 2
	if got := openSet(hs); got != "10011" {
		t.Fatalf("after opening 4: open %s, want 10011", got)
	}
	use(t, hs[1], 1) // reopens 1, evicting 0
	if got := openSet(hs); got != "01011" {
		t.Fatalf("after reopening 1: open %s, want 01011", got)
	}
	st := p.Stats()
	if st.Open != 3 || st.Idle != 3 || st.Peak != 3 || st.Opens != 6 || st.Evictions != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFilePoolPinned checks that a pinned handle is never evicted, that an
// open waits while every handle is pinned, and that a handle closed while
// pinned closes at its last release.
func TestFilePoolPinned(t *testing.T) {
	p := NewFilePool(2)
	hs := poolFiles(t, p, 3)
	f0, err := hs[0].acquire()
	if err != nil {
		t.Fatal(err)
	}
	f1, err := hs[1].acquire()
	if err != nil {
		t.Fatal(err)
	}
	// Nested pins of a pinned handle take no slot.
	if f, err := hs[0].acquire(); err != nil || f != f0 {
		t.Fatalf("nested acquire: %v, %v", f, err)
	}
	hs[0].release()

	got := make(chan *os.File)
	go func() {
		f, err := hs[2].acquire()
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	waitFor(t, "the third acquire to wait", func() bool { return waiters(p) == 1 })
	checkFile(t, f0, 0) // still open under their users
	checkFile(t, f1, 1)

	hs[1].release() // the only idle handle: the waiter evicts it
	f2 := <-got
	checkFile(t, f2, 2)
	checkFile(t, f0, 0)
	if got := openSet(hs); got != "101" {
		t.Fatalf("open %s, want 101", got)
	}

	// Closed while pinned: the file stays usable until released.
	if err := hs[0].close(); err != nil {
		t.Fatal(err)
	}
	checkFile(t, f0, 0)
	hs[0].release()
	if isOpen(hs[0]) {
		t.Fatal("closed handle still open after its last release")
	}
	if _, err := hs[0].acquire(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("acquire after close: %v, want os.ErrClosed", err)
	}
	hs[2].release()
	if st := p.Stats(); st.Open != 1 || st.Peak != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFilePoolConcurrent hammers a small pool from many goroutines (run it
// with -race): the bound holds, and every file read is the right one.
func TestFilePoolConcurrent(t *testing.T) {
	const limit, files, workers, rounds = 3, 20, 8, 400
	p := NewFilePool(limit)
	hs := poolFiles(t, p, files)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			b := make([]byte, 64)
			for range rounds {
				i := r.IntN(files)
				f, err := hs[i].acquire()
				if err != nil {
					errc <- err
					return
				}
				for range r.IntN(3) { // nested pins, as a Read's header reads
					g, err := hs[i].acquire()
					if err != nil || g != f {
						errc <- fmt.Errorf("nested acquire of %d: %v", i, err)
						return
					}
					hs[i].release()
				}
				_, err = f.ReadAt(b, 0)
				hs[i].release()
				if err != nil {
					errc <- err
					return
				}
				if b[0] != byte(i) || b[63] != byte(i) {
					errc <- fmt.Errorf("file %d read %d", i, b[0])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Peak > limit || st.Open > limit {
		t.Fatalf("pool of %d had %d files open at once (%d now)", limit, st.Peak, st.Open)
	}
	if st.Evictions == 0 {
		t.Fatalf("no eviction: %+v", st)
	}
	t.Logf("%+v", st)
}

// TestFilePoolEMFILE checks that an open failing with EMFILE evicts an idle
// handle and retries, and fails with a wrapped EMFILE when none is idle.
func TestFilePoolEMFILE(t *testing.T) {
	p := NewFilePool(10)
	const fds = 2 // what the "process" has left for the pool
	p.openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if p.live.Load() >= fds {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
		}
		return os.OpenFile(name, flag, perm)
	}
	hs := poolFiles(t, p, 5)
	for i, h := range hs {
		use(t, h, i)
	}
	st := p.Stats()
	if st.EMFILERetries != 3 || st.Peak != fds || st.Open != fds {
		t.Fatalf("stats %+v", st)
	}

	// Both open handles pinned: nothing to evict, so the error comes back.
	for _, i := range []int{3, 4} {
		if _, err := hs[i].acquire(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := hs[0].acquire()
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("acquire with every handle pinned and no descriptor left: %v, want EMFILE", err)
	}
	hs[3].release()
	use(t, hs[0], 0) // evicts 3 after EMFILE
	hs[4].release()
	if got := openSet(hs); got != "10001" {
		t.Fatalf("open %s, want 10001", got)
	}
}

// TestFilePoolOpenError checks that another open error is returned wrapped
// and leaves the pool usable.
func TestFilePoolOpenError(t *testing.T) {
	p := NewFilePool(2)
	hs := poolFiles(t, p, 2)
	if err := os.Remove(hs[1].file.name()); err != nil {
		t.Fatal(err)
	}
	_, err := hs[1].acquire()
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("acquire of a removed file: %v, want ErrNotExist", err)
	}
	use(t, hs[0], 0)
	if st := p.Stats(); st.Open != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDefaultFilePoolLimit(t *testing.T) {
	n := DefaultFilePoolLimit()
	if n < minFilePoolLimit || n > maxFilePoolLimit {
		t.Fatalf("default limit %d", n)
	}
	if soft, ok := nofileLimit(); ok && soft/2 >= minFilePoolLimit && soft/2 <= maxFilePoolLimit && uint64(n) != soft/2 {
		t.Fatalf("default limit %d, want half of RLIMIT_NOFILE %d", n, soft)
	}
	if NewFilePool(0).Limit() != n {
		t.Fatal("NewFilePool(0) does not use the default limit")
	}
}
