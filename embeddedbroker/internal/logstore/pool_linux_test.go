package logstore

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFilePoolProcessOutOfFiles lowers the process's RLIMIT_NOFILE to a few
// descriptors above those in use, then works 40 logs through a pool whose
// limit is far above that: every open past the real limit fails with
// EMFILE, and the pool evicts an idle handle and retries instead of
// failing the append or the read.
func TestFilePoolProcessOutOfFiles(t *testing.T) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	const logs = 40
	root := t.TempDir()
	dirs := make([]string, logs)
	for i := range dirs {
		dirs[i] = filepath.Join(root, fmt.Sprintf("t-%d", i))
	}

	p := NewFilePool(1000)
	// Leave 6 descriptors free, counting the one ReadDir used above.
	lowered := old
	lowered.Cur = uint64(len(fds) + 6)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()

	ls := make([]Log, logs)
	for i, dir := range dirs {
		l, err := OpenDisk(dir, Config{}, nil, WithFilePool(p))
		if err != nil {
			restore()
			t.Fatalf("OpenDisk %d: %v", i, err)
		}
		ls[i] = l
	}
	want := make([][]byte, logs)
	for round := range 2 {
		for i, l := range ls {
			b := encodeBatch(l.EndOffset(), 2, int64(i), 20)
			if err := l.Append(b); err != nil {
				restore()
				t.Fatalf("round %d: append to log %d: %v", round, i, err)
			}
			want[i] = append(want[i], b...)
		}
	}
	for i, l := range ls {
		got, err := l.Read(0, math.MaxInt32, math.MaxInt64)
		if err != nil || !bytes.Equal(got, want[i]) {
			restore()
			t.Fatalf("read of log %d: %d bytes, %v", i, len(got), err)
		}
	}
	st := p.Stats()
	for _, l := range ls {
		if err := l.Close(); err != nil {
			restore()
			t.Fatal(err)
		}
	}
	restore()
	t.Logf("%+v", st)
	if st.EMFILERetries == 0 {
		t.Fatalf("no EMFILE met with %d descriptors: %+v", lowered.Cur, st)
	}
}
