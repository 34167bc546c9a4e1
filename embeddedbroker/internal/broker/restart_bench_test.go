//go:build linux

package broker

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// TestRestartTime measures how long a partition of a given size takes to
// open (logstore.OpenDisk and newPartition, which rebuilds the producer
// state, transaction state and leader epoch cache) after a clean stop and
// after a kill, with the page cache of its files dropped first, so that
// what the open reads comes from the disk. It is a measurement, not a
// check: run it with the sizes in MiB, for example
//
//	KAFKABOOT_RESTART_BENCH=1024,4096 go test -run TestRestartTime -v ./embeddedbroker/internal/broker/
//
// (KAFKABOOT_RESTART_BENCH_DIR puts the data elsewhere than the test's
// temporary directory). Segments are 100 MiB; the log is the size rounded
// down to whole segments plus half a segment (so that every size has the
// same active segment), written as 64 KiB
// batches by 1000 idempotent producers in turn, with a transaction (every
// tenth aborted) every 100 batches. The kill comes first, right after the
// writes, modelled as a process crash: everything is fsynced and the log
// crashed, so nothing is lost but there is no snapshot at the end nor a
// clean-shutdown marker; the open recovers the active segment and scans
// the producer state from the last roll's snapshot. Then the partition is
// stopped cleanly and opened again.
func TestRestartTime(t *testing.T) {
	spec := os.Getenv("KAFKABOOT_RESTART_BENCH")
	if spec == "" {
		t.Skip("set KAFKABOOT_RESTART_BENCH to sizes in MiB, e.g. 1024,4096")
	}
	for _, f := range strings.Split(spec, ",") {
		mib, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || mib <= 0 {
			t.Fatalf("KAFKABOOT_RESTART_BENCH: bad size %q", f)
		}
		t.Run(f+"MiB", func(t *testing.T) { restartTime(t, int64(mib)<<20) })
	}
}

func restartTime(t *testing.T, size int64) {
	dir := t.TempDir()
	if base := os.Getenv("KAFKABOOT_RESTART_BENCH_DIR"); base != "" {
		var err error
		if dir, err = os.MkdirTemp(base, "restart"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	cfg := logstore.Config{SegmentBytes: 100 << 20}
	open := func() (*partition, time.Duration) {
		t.Helper()
		evictPageCache(t, dir)
		start := time.Now()
		l, err := logstore.OpenDisk(dir, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPartition(0, "bench", 0, controller.TopicID{1}, l, &partitionSettings{maxMessageBytes: 1 << 30, log: cfg})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		p.setState(&controller.Partition{Leader: 0, LeaderEpoch: 1, Replicas: []int32{0}, ISR: []int32{0}}, time.Now())
		return p, took
	}

	p, _ := open()
	fillStart := time.Now()
	seqs := make([]int32, 1000)
	txSeqs := map[int64]int32{}
	value := make([]byte, 1024)
	recs := make([]batch.Record, 64)
	for i := range recs {
		recs[i].Value = value
	}
	now := time.Now()
	// Whole segments, then half a segment: every size has the same tail.
	target := size/cfg.SegmentBytes*cfg.SegmentBytes + cfg.SegmentBytes/2
	for n := 0; p.log.Size() < target; n++ {
		pid := int64(n % len(seqs))
		b := batch.Build(batch.BuildOptions{Timestamp: now.UnixMilli(), Producer: &batch.Producer{ID: pid, Epoch: 0, BaseSequence: seqs[pid]}}, recs...)
		if _, err := p.appendRecords(b, now); err != nil {
			t.Fatal(err)
		}
		seqs[pid] += int32(len(recs))
		if n%100 == 0 { // a transaction of one of ten transactional producers
			tid := int64(10000 + n/100%10)
			tb := batch.Build(batch.BuildOptions{Timestamp: now.UnixMilli(), Producer: &batch.Producer{ID: tid, Epoch: 0, BaseSequence: txSeqs[tid]}, Transactional: true}, recs[:1]...)
			if _, err := p.appendRecords(tb, now); err != nil {
				t.Fatal(err)
			}
			txSeqs[tid]++
			if _, err := p.appendMarker(tid, 0, n/1000%10 != 0, 0, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.snaps.stop(true)
	fillTook := time.Since(fillStart)
	logSize := p.log.Size()
	segments, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	want := stateOf(p)

	// Kill, right after writing: everything fsynced, no snapshot at the
	// end, no clean-shutdown marker.
	p.stopSnapshots(false)
	if err := p.log.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := p.log.Crash(); err != nil {
		t.Fatal(err)
	}
	p, killTook := open()
	killTail := p.tailBytes
	if got := stateOf(p); string(got) != string(want) {
		t.Fatal("state after the kill differs")
	}

	// Clean stop: a snapshot at the log end and the clean-shutdown marker.
	stopStart := time.Now()
	p.stopSnapshots(true)
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(stopStart)
	p, cleanTook := open()
	cleanTail := p.tailBytes
	if got := stateOf(p); string(got) != string(want) {
		t.Fatal("state after the clean stop differs")
	}
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}

	t.Logf("log %d MiB in %d segments (written in %v); clean stop took %v",
		logSize>>20, len(segments), fillTook.Round(time.Millisecond), stopTook.Round(time.Millisecond))
	t.Logf("open after a kill:       %v, producer state read from %d bytes of log (and the active segment recovered)", killTook.Round(time.Millisecond), killTail)
	t.Logf("open after a clean stop: %v, producer state read from %d bytes of log", cleanTook.Round(time.Millisecond), cleanTail)
}

// evictPageCache drops the cached pages of the files in dir (after
// fsyncing them), so that an open reads from the disk.
func evictPageCache(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		_ = f.Sync()
		const fadvDontNeed = 4
		_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
		f.Close()
	}
}
