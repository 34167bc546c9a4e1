package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestManyLogs measures what many disk logs sharing one FilePool cost: the
// time to create them empty (new directories), append one batch to each,
// close them, and open them again (existing directories), the heap in use
// per open log and the file descriptors in use. It takes seconds and gigabytes of inodes, so it
// runs only when LOGSTORE_MANY_LOGS lists the counts to measure:
//
//	LOGSTORE_MANY_LOGS=30000,150000 go test -run TestManyLogs -v ./embeddedbroker/internal/logstore/
//
// LOGSTORE_MANY_LOGS_WORKERS sets how many goroutines open logs at once
// (default 3, one per node of a 3-node cluster). The time to create as many
// bare directories, measured in the same run, is the floor the creation
// time compares with: the machine's file system sets it.
func TestManyLogs(t *testing.T) {
	env := os.Getenv("LOGSTORE_MANY_LOGS")
	if env == "" {
		t.Skip("set LOGSTORE_MANY_LOGS=30000,150000 to measure")
	}
	workers := 3
	if w, err := strconv.Atoi(os.Getenv("LOGSTORE_MANY_LOGS_WORKERS")); err == nil && w > 0 {
		workers = w
	}
	for _, s := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			t.Fatalf("LOGSTORE_MANY_LOGS: bad count %q", s)
		}
		t.Run(strconv.Itoa(n), func(t *testing.T) { manyLogs(t, n, workers) })
	}
}

func manyLogs(t *testing.T, n, workers int) {
	root := t.TempDir()
	pool := NewFilePool(0)
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = filepath.Join(root, fmt.Sprintf("topic-%d", i))
	}
	logs := make([]Log, n)
	// each runs fn on every log index, split over the workers.
	each := func(fn func(i int) error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					if err := fn(i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	open := func(i int) (err error) {
		logs[i], err = OpenDisk(dirs[i], Config{}, nil, WithFilePool(pool))
		return err
	}
	closeLog := func(i int) error { return logs[i].Close() }

	// The floor, in the same run, before and after: creating as many bare
	// directories.
	mkdirs := func() time.Duration {
		root := t.TempDir()
		return each(func(i int) error { return os.Mkdir(filepath.Join(root, strconv.Itoa(i)), 0o755) })
	}
	floor := mkdirs()

	heap0, fds0 := heapInUse(), openFDs()
	created := each(open)
	heap1, fds1 := heapInUse(), openFDs()
	appended := each(func(i int) error { return logs[i].Append(encodeBatch(0, 1, 1000, 100)) })
	heap2, fds2 := heapInUse(), openFDs()
	peak := pool.Stats().Peak
	closed := each(closeLog)
	clear(logs)
	heap3 := heapInUse()
	reopened := each(open)
	heap4, fds4 := heapInUse(), openFDs()
	each(closeLog)
	floor = min(floor, mkdirs())

	perLog := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	t.Logf("%d logs, %d workers, pool limit %d (peak %d open)", n, workers, pool.Limit(), peak)
	t.Logf("mkdir of %d bare directories (the floor, best of two): %v", n, floor.Round(time.Millisecond))
	t.Logf("create: %v (%.1f µs/log, %.2fx the floor), heap in use %.0f B/log, descriptors in use %d (were %d)",
		created.Round(time.Millisecond), float64(created.Microseconds())/float64(n), float64(created)/float64(floor), perLog(heap0, heap1), fds1, fds0)
	t.Logf("append one batch to each: %v (%.1f µs/log), heap in use +%.0f B/log, descriptors in use %d",
		appended.Round(time.Millisecond), float64(appended.Microseconds())/float64(n), perLog(heap1, heap2), fds2)
	t.Logf("close:  %v", closed.Round(time.Millisecond))
	t.Logf("reopen: %v (%.1f µs/log), heap in use %.0f B/log, descriptors in use %d",
		reopened.Round(time.Millisecond), float64(reopened.Microseconds())/float64(n), perLog(heap3, heap4), fds4)
	if peak > pool.Limit() {
		t.Fatalf("pool of %d had %d files open at once", pool.Limit(), peak)
	}
}

// heapInUse returns the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// openFDs returns the number of descriptors the process has open, -1 where
// it cannot tell.
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es) - 1 // minus ReadDir's own
}
