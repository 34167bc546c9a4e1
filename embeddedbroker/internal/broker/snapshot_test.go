package broker

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// testClock is the time the test partitions append at: batch timestamps
// (CreateTime) come from it too.
var testStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// openTestPartition opens a partition over l, checks that its state is
// what a rebuild of the whole log gives, and makes this node (0) its
// leader at leader epoch epoch. A clean stop always writes a snapshot.
func openTestPartition(t testing.TB, l logstore.Log, cfg logstore.Config, epoch int32) *partition {
	t.Helper()
	p, err := newPartition(0, "t", 0, controller.TopicID{1}, l, &partitionSettings{maxMessageBytes: 1 << 30, log: cfg})
	if err != nil {
		t.Fatalf("newPartition: %v", err)
	}
	p.snapMinTail = 0
	checkState(t, p, "after the open")
	lead(p, epoch)
	return p
}

func lead(p *partition, epoch int32) {
	p.setState(&controller.Partition{Leader: 0, LeaderEpoch: epoch, Replicas: []int32{0}, ISR: []int32{0}}, testStart)
}

// producerBatch builds an idempotent (or transactional) batch of n records
// of size bytes each.
func producerBatch(pid int64, epoch int16, seq int32, n, size int, txn bool, ts int64) []byte {
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{byte('a' + (int(seq)+i)%26)}, size)
	}
	return batch.Build(batch.BuildOptions{Timestamp: ts, Producer: &batch.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}, Transactional: txn}, recs...)
}

// workload drives a partition with idempotent and transactional producers
// and remembers each producer's next sequence.
type workload struct {
	t     testing.TB
	p     *partition
	next  map[int64]int32
	now   time.Time
	epoch int16 // of every producer
}

// bump starts a new epoch for every producer, at sequence 0.
func (w *workload) bump() {
	w.epoch++
	clear(w.next)
}

func newWorkload(t testing.TB, p *partition) *workload {
	return &workload{t: t, p: p, next: map[int64]int32{}, now: testStart}
}

func (w *workload) produce(pid int64, n int, txn bool) {
	w.t.Helper()
	w.now = w.now.Add(time.Millisecond)
	b := producerBatch(pid, w.epoch, w.next[pid], n, 100, txn, w.now.UnixMilli())
	if _, err := w.p.appendRecords(b, w.now); err != nil {
		w.t.Fatalf("producer %d seq %d: %v", pid, w.next[pid], err)
	}
	w.next[pid] += int32(n)
}

func (w *workload) marker(pid int64, commit bool) {
	w.t.Helper()
	w.now = w.now.Add(time.Millisecond)
	if _, err := w.p.appendMarker(pid, w.epoch, commit, 1, w.now); err != nil {
		w.t.Fatalf("marker for %d: %v", pid, err)
	}
}

// run appends rounds of: batches from eight idempotent producers, and a
// transaction from each of three transactional ones, aborted every third
// round; the last round leaves producer 100's transaction open.
func (w *workload) run(rounds int) {
	w.t.Helper()
	for r := range rounds {
		for pid := int64(1); pid <= 8; pid++ {
			w.produce(pid, 1+int(pid)%3, false)
		}
		for pid := int64(100); pid < 103; pid++ {
			w.produce(pid, 2, true)
			if pid == 100 && r == rounds-1 {
				continue
			}
			w.marker(pid, r%3 != 0)
		}
	}
}

// stateOf returns what a partition derived from its log, encoded (equal
// state encodes equally), after moving the high watermark to the log end
// as an open does.
func stateOf(p *partition) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setHWM(p.log.EndOffset())
	return p.encodeState()
}

// rebuiltState is the state a scan of the whole log gives: what the
// partition must hold however it got there.
func rebuiltState(t testing.TB, l logstore.Log) []byte {
	t.Helper()
	p := &partition{log: l, producers: producers{}, txns: newTxnState()}
	err := l.Scan(l.StartOffset(), func(b []byte) error {
		h, err := batch.ParseHeader(b)
		if err == nil {
			p.observe(b, &h)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p.txns.dropBelow(l.StartOffset())
	return stateOf(p)
}

func checkState(t testing.TB, p *partition, what string) {
	t.Helper()
	got, want := stateOf(p), rebuiltState(t, p.log)
	if !bytes.Equal(got, want) {
		gs, _ := decodeStateSnapshot(got)
		ws, _ := decodeStateSnapshot(want)
		t.Fatalf("%s: state differs from a rebuild of the whole log:\n%s", what, diffStates(gs, ws))
	}
}

// diffStates describes how got differs from want.
func diffStates(got, want *stateSnapshot) string {
	if got == nil || want == nil {
		return fmt.Sprintf("got %s\nwant %s", describe(got), describe(want))
	}
	var b strings.Builder
	for id, w := range want.producers {
		if g := got.producers[id]; g == nil || fmt.Sprint(*g) != fmt.Sprint(*w) {
			fmt.Fprintf(&b, "producer %d: got %v, want %v\n", id, g, *w)
		}
	}
	for id, g := range got.producers {
		if want.producers[id] == nil {
			fmt.Fprintf(&b, "producer %d: got %v, want none\n", id, *g)
		}
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{{"open", got.open, want.open}, {"unstable", got.unstable, want.unstable}, {"aborted", got.aborted, want.aborted}, {"epochs", got.epochs, want.epochs}} {
		if fmt.Sprint(f.got) != fmt.Sprint(f.want) {
			fmt.Fprintf(&b, "%s: got %v, want %v\n", f.name, f.got, f.want)
		}
	}
	return b.String()
}

func describe(s *stateSnapshot) string {
	if s == nil {
		return "<nil>"
	}
	var b strings.Builder
	for _, id := range slices.Sorted(func(yield func(int64) bool) {
		for id := range s.producers {
			if !yield(id) {
				return
			}
		}
	}) {
		st := s.producers[id]
		fmt.Fprintf(&b, "p%d{e%d ce%d ts%d %v} ", id, st.epoch, st.coordinatorEpoch, st.lastTimestamp, st.batches)
	}
	fmt.Fprintf(&b, "open %v unstable %v aborted %v epochs %v", s.open, s.unstable, s.aborted, s.epochs)
	return b.String()
}

func TestStateSnapshotEncoding(t *testing.T) {
	p := openTestPartition(t, logstore.NewMemory(logstore.Config{}), logstore.Config{}, 3)
	w := newWorkload(t, p)
	w.run(4)
	w.produce(7, 1, false)
	p.mu.Lock()
	p.producers[7].lastTimestamp = -1
	data := p.encodeState()
	p.mu.Unlock()

	s, err := decodeStateSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	q := &partition{producers: s.producers, txns: newTxnState(), epochs: s.epochs}
	q.txns.load(s)
	if again := q.encodeState(); !bytes.Equal(again, data) {
		t.Fatalf("decoding and encoding again changes the snapshot:\n%x\n%x", data, again)
	}
	if len(s.producers) != 11 || len(s.open) != 1 || len(*q.txns.aborted.Load()) != 5 || !slices.Equal(s.epochs, []epochEntry{{3, 0}}) {
		t.Fatalf("decoded %s", describe(s))
	}

	// Every cut and some flipped bytes give an error, never a panic.
	for n := range len(data) {
		if _, err := decodeStateSnapshot(data[:n]); !errors.Is(err, errSnapshotFormat) {
			t.Fatalf("snapshot cut at %d of %d bytes: %v", n, len(data), err)
		}
	}
	if _, err := decodeStateSnapshot(append(slices.Clone(data), 0)); !errors.Is(err, errSnapshotFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
	for i := range data {
		b := slices.Clone(data)
		b[i] ^= 0x80
		_, _ = decodeStateSnapshot(b)
	}
	huge := append([]byte{snapshotFormat}, 0x7f, 0xff, 0xff, 0xff)
	if _, err := decodeStateSnapshot(huge); !errors.Is(err, errSnapshotFormat) {
		t.Fatalf("huge count: %v", err)
	}
}

// snapshotFiles lists the offsets of a partition directory's snapshots.
func snapshotFiles(t *testing.T, dir string) []int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".snapshot"); ok {
			var off int64
			fmt.Sscanf(name, "%d", &off)
			offs = append(offs, off)
		}
	}
	return offs
}

// waitSnapshots waits until the partition's writer has written what the
// rolls submitted.
func waitSnapshots(t *testing.T, p *partition) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.snaps.mu.Lock()
		idle := !p.snaps.running
		p.snaps.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("snapshot writer still busy after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPartitionRecoveryDisk(t *testing.T) {
	cfg := logstore.Config{SegmentBytes: 16 << 10}
	// setup fills a partition over several segments, leaving a
	// transaction open, and returns it with its directory.
	setup := func(t *testing.T) (*partition, string) {
		dir := t.TempDir()
		l, err := logstore.OpenDisk(dir, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := openTestPartition(t, l, cfg, 1)
		w := newWorkload(t, p)
		w.run(30)
		lead(p, 4)
		w.run(5)
		waitSnapshots(t, p)
		if len(snapshotFiles(t, dir)) != 2 {
			t.Fatalf("snapshots %v after several rolls, want two", snapshotFiles(t, dir))
		}
		checkState(t, p, "before stopping")
		return p, dir
	}
	// reopen opens the directory again; openTestPartition checks the
	// state.
	reopen := func(t *testing.T, dir string) *partition {
		t.Helper()
		l, err := logstore.OpenDisk(dir, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return openTestPartition(t, l, cfg, 5)
	}

	t.Run("clean stop", func(t *testing.T) {
		p, dir := setup(t)
		end := p.log.EndOffset()
		p.stopSnapshots(true)
		if err := p.log.Close(); err != nil {
			t.Fatal(err)
		}
		if got := snapshotFiles(t, dir); got[len(got)-1] != end {
			t.Fatalf("snapshots %v, want one at the log end %d", got, end)
		}
		p = reopen(t, dir)
		if p.tailBytes != 0 {
			t.Fatalf("the open after a clean stop read %d bytes of log", p.tailBytes)
		}
	})

	t.Run("crash", func(t *testing.T) {
		p, dir := setup(t)
		p.stopSnapshots(false)
		if err := p.log.Crash(); err != nil { // loses the active segment: FsyncNever
			t.Fatal(err)
		}
		p = reopen(t, dir)
		if p.tailBytes > cfg.SegmentBytes {
			t.Fatalf("the open after a crash read %d bytes, more than the segment since the last snapshot", p.tailBytes)
		}
	})

	t.Run("corrupt snapshot", func(t *testing.T) {
		p, dir := setup(t)
		p.stopSnapshots(true)
		if err := p.log.Close(); err != nil {
			t.Fatal(err)
		}
		offs := snapshotFiles(t, dir)
		newest := filepath.Join(dir, fmt.Sprintf("%020d.snapshot", offs[len(offs)-1]))
		b, err := os.ReadFile(newest)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-3] ^= 1
		if err := os.WriteFile(newest, b, 0o644); err != nil {
			t.Fatal(err)
		}
		p = reopen(t, dir)
		if p.tailBytes == 0 {
			t.Fatal("the corrupt snapshot was used")
		}

		// Without any snapshot: the whole log.
		for _, off := range snapshotFiles(t, dir) {
			if err := os.Remove(filepath.Join(dir, fmt.Sprintf("%020d.snapshot", off))); err != nil {
				t.Fatal(err)
			}
		}
		p.log.Close()
		p = reopen(t, dir)
		if p.tailBytes != p.log.Size() {
			t.Fatalf("read %d bytes without a snapshot, the log holds %d", p.tailBytes, p.log.Size())
		}
	})

	t.Run("snapshot above the log end after a crash", func(t *testing.T) {
		p, dir := setup(t)
		end := p.log.EndOffset()
		p.stopSnapshots(true) // a snapshot at the end, the active segment unsynced
		if err := p.log.Crash(); err != nil {
			t.Fatal(err)
		}
		p = reopen(t, dir)
		if p.log.EndOffset() >= end || slices.Contains(snapshotFiles(t, dir), end) {
			t.Fatalf("log end %d, snapshots %v: the snapshot at %d should be gone", p.log.EndOffset(), snapshotFiles(t, dir), end)
		}
		// New data past the lost snapshot's offset, then a restart: the
		// state is that of the new data.
		w := newWorkload(t, p)
		w.bump()
		for p.log.EndOffset() <= end+10 {
			w.produce(1, 1, false)
		}
		p.stopSnapshots(true)
		p.log.Close()
		p = reopen(t, dir)
	})

	t.Run("truncation below a snapshot", func(t *testing.T) {
		p, dir := setup(t)
		offs := snapshotFiles(t, dir)
		cut := offs[0] - 3
		p.mu.Lock()
		p.leader.Store(false)
		p.mu.Unlock()
		if err := p.truncateTo(cut, false, p.leaderEpoch.Load()); err != nil {
			t.Fatal(err)
		}
		if got := snapshotFiles(t, dir); len(got) != 0 {
			t.Fatalf("snapshots %v after truncating to %d", got, cut)
		}
		checkState(t, p, "after the truncation")
		lead(p, 6)
		w := newWorkload(t, p)
		w.bump()
		w.now = testStart.Add(time.Hour)
		w.run(10)
		waitSnapshots(t, p)
		checkState(t, p, "after appending again")
		p.stopSnapshots(false)
		if err := p.log.Crash(); err != nil {
			t.Fatal(err)
		}
		p = reopen(t, dir)
	})
}

// TestPartitionRecoveryMemory: a memory node restarting reuses its logs;
// the snapshots kept with them are just as consistent.
func TestPartitionRecoveryMemory(t *testing.T) {
	cfg := logstore.Config{SegmentBytes: 16 << 10}
	l := logstore.NewMemory(cfg)
	p := openTestPartition(t, l, cfg, 1)
	w := newWorkload(t, p)
	w.run(30)
	waitSnapshots(t, p)
	p.stopSnapshots(true)
	p = openTestPartition(t, l, cfg, 2)
	if p.tailBytes >= cfg.SegmentBytes {
		t.Fatalf("restart read %d bytes", p.tailBytes)
	}
	w.p = p
	w.run(3)
	p.stopSnapshots(false)
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	p = openTestPartition(t, l, cfg, 3)
}

// TestSnapshotDoesNotStallAppends: appends go on while a roll's snapshot
// is written (its file and fsyncs are the writer goroutine's); run with
// -race.
func TestSnapshotWriterConcurrency(t *testing.T) {
	cfg := logstore.Config{SegmentBytes: 4 << 10}
	l, err := logstore.OpenDisk(t.TempDir(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := openTestPartition(t, l, cfg, 1)
	w := newWorkload(t, p)
	w.run(40) // rolls every few appends
	p.stopSnapshots(true)
	checkState(t, p, "after the writer stopped")
}

func TestProducerCheck(t *testing.T) {
	hdr := func(pid int64, epoch int16, seq int32, n int) *batch.Header {
		h, err := batch.ParseHeader(producerBatch(pid, epoch, seq, n, 1, false, 0))
		if err != nil {
			t.Fatal(err)
		}
		return &h
	}
	marker := &batch.Header{ProducerID: 1, ProducerEpoch: 3, BaseSequence: -1}
	ps := producers{}
	steps := []struct {
		name   string
		h      *batch.Header
		err    error
		dup    bool
		record bool
	}{
		{"unknown producer, any sequence (KIP-360)", hdr(1, 2, 57, 2), nil, false, true},
		{"next in sequence", hdr(1, 2, 59, 1), nil, false, true},
		{"retry of a remembered batch", hdr(1, 2, 57, 2), nil, true, false},
		{"gap", hdr(1, 2, 61, 1), errOutOfOrderSequence, false, false},
		{"older epoch", hdr(1, 1, 60, 1), errInvalidEpoch, false, false},
		{"newer epoch not at 0", hdr(1, 3, 60, 1), errOutOfOrderSequence, false, false},
		{"newer epoch at 0", hdr(1, 3, 0, 1), nil, false, true},
		{"epoch started by a marker", marker, nil, false, true},
		{"after a marker of the same epoch: in sequence", hdr(1, 3, 1, 1), nil, false, true},
		{"another producer, unknown, at 0", hdr(2, 0, 0, 1), nil, false, true},
	}
	for _, s := range steps {
		if s.h != marker {
			dup, err := ps.check(s.h)
			if !errors.Is(err, s.err) || (dup != nil) != s.dup {
				t.Fatalf("%s: dup %v err %v, want dup %v err %v", s.name, dup, err, s.dup, s.err)
			}
		}
		if s.record {
			ps.record(s.h)
		}
	}
	// A marker bumping the epoch: the next batch must start at 0.
	ps.record(&batch.Header{ProducerID: 2, ProducerEpoch: 1, BaseSequence: -1})
	if _, err := ps.check(hdr(2, 1, 1, 1)); !errors.Is(err, errOutOfOrderSequence) {
		t.Fatalf("first batch after a bumping marker at sequence 1: %v", err)
	}
	if _, err := ps.check(hdr(2, 1, 0, 1)); err != nil {
		t.Fatalf("first batch after a bumping marker at 0: %v", err)
	}
	// Sequences wrap after MaxInt32.
	ps.record(hdr(3, 0, math.MaxInt32, 1))
	if _, err := ps.check(hdr(3, 0, 0, 1)); err != nil {
		t.Fatalf("sequence after MaxInt32: %v", err)
	}
}

func TestProducerExpiration(t *testing.T) {
	p := openTestPartition(t, logstore.NewMemory(logstore.Config{}), logstore.Config{}, 1)
	w := newWorkload(t, p)
	w.produce(1, 3, false)  // at start+1ms
	w.produce(100, 1, true) // open transaction
	w.now = w.now.Add(time.Hour)
	w.produce(2, 1, false)
	exp := time.Hour.Milliseconds()
	if n := p.expireProducers(w.now.UnixMilli(), exp); n != 1 {
		t.Fatalf("expired %d producers, want producer 1 only", n)
	}
	p.mu.Lock()
	_, p1 := p.producers[1]
	_, p100 := p.producers[100]
	p.mu.Unlock()
	if p1 || !p100 {
		t.Fatalf("producer 1 kept %v, producer 100 (open transaction) kept %v", p1, p100)
	}
	// Forgotten, producer 1 goes on at its next sequence (KIP-360).
	w.produce(1, 1, false)
	w.marker(100, true)
	if n := p.expireProducers(w.now.Add(time.Hour).UnixMilli(), exp); n != 3 {
		t.Fatalf("expired %d producers an hour later, want 3", n)
	}
}
