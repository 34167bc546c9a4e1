package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// encodeBatch encodes a v2 batch of n uncompressed records at base whose
// timestamps are all ts, each with a value of valueSize bytes.
func encodeBatch(base int64, n int, ts int64, valueSize int) []byte {
	var recs []byte
	for i := range n {
		value := bytes.Repeat([]byte{byte('a' + (int(base)+i)%26)}, valueSize)
		r := kmsg.Record{OffsetDelta: int32(i), Value: value}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // body length: minus the 1-byte varint of Length 0
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:     base,
		Length:          int32(batch.HeaderSize - batch.LengthOverhead + len(recs)),
		Magic:           2,
		LastOffsetDelta: int32(n - 1),
		FirstTimestamp:  ts,
		MaxTimestamp:    ts,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(n),
		Records:         recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoliTable))
	return b
}

// fixture appends batches to a log and remembers them.
type fixture struct {
	t       testing.TB
	l       Log
	batches [][]byte // every batch appended, in order (truncations rewind it)
}

// add appends a batch of n records at timestamp ts with 40-byte values.
func (f *fixture) add(n int, ts int64) []byte {
	f.t.Helper()
	b := encodeBatch(f.l.EndOffset(), n, ts, 40)
	if err := f.l.Append(b); err != nil {
		f.t.Fatalf("append at %d: %v", f.l.EndOffset(), err)
	}
	f.batches = append(f.batches, b)
	return b
}

// addN appends count batches of n records at timestamp ts.
func (f *fixture) addN(count, n int, ts int64) {
	f.t.Helper()
	for range count {
		f.add(n, ts)
	}
}

// from returns the concatenation of the remembered batches from index i to j.
func (f *fixture) concat(i, j int) []byte {
	var out []byte
	for _, b := range f.batches[i:j] {
		out = append(out, b...)
	}
	return out
}

// rewind forgets remembered batches at or after offset off.
func (f *fixture) rewind(off int64) {
	for i, b := range f.batches {
		if base(b) >= off {
			f.batches = f.batches[:i]
			return
		}
	}
}

// index returns the index of the remembered batch holding off.
func (f *fixture) index(off int64) int {
	for i, b := range f.batches {
		h, _ := batch.ParseHeader(b)
		if off >= h.BaseOffset && off < h.NextOffset() {
			return i
		}
	}
	return -1
}

func base(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// split splits concatenated batches.
func split(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		if got := batch.CRC(b[:h.Size()]); got != h.CRC {
			t.Fatalf("split: batch at %d: bad CRC", h.BaseOffset)
		}
		out = append(out, b[:h.Size()])
		b = b[h.Size():]
	}
	return out
}

// checkBatches checks that b is whole batches with good CRCs.
func checkBatches(b []byte) error {
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		if got := batch.CRC(b[:h.Size()]); got != h.CRC {
			return fmt.Errorf("batch at %d: bad CRC", h.BaseOffset)
		}
		b = b[h.Size():]
	}
	return nil
}

// bases returns the base offsets of the log's segments.
func bases(l Log) []int64 {
	sl := l.(*segLog)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	var out []int64
	for _, s := range sl.segs {
		out = append(out, s.base)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// opener opens a fresh log of one implementation. reopen, nil for the
// memory log, closes the current log and opens its directory again.
type opener func(t *testing.T, cfg Config) (l Log, reopen func(Config) Log)

func openMemory(t *testing.T, cfg Config) (Log, func(Config) Log) {
	l := NewMemory(cfg)
	t.Cleanup(func() { _ = l.Close() })
	return l, nil
}

// filePoolFlag runs every disk log of the package's tests through one
// shared FilePool of that many files, for example
// go test ./embeddedbroker/internal/logstore/ -args -filepool=2.
var filePoolFlag = flag.Int("filepool", 0, "open every disk log through one shared FilePool of this size (0: each log its own)")

var (
	sharedPoolOnce sync.Once
	sharedPool     *FilePool
)

// testPool returns the pool -filepool asks for, or nil.
func testPool() *FilePool {
	if *filePoolFlag <= 0 {
		return nil
	}
	sharedPoolOnce.Do(func() { sharedPool = NewFilePool(*filePoolFlag) })
	return sharedPool
}

// openDiskIn opens the log in dir through pool, or when pool is nil through
// the pool of -filepool, if any.
func openDiskIn(t *testing.T, dir string, cfg Config, logger *slog.Logger, pool ...*FilePool) Log {
	t.Helper()
	p := testPool()
	if len(pool) > 0 && pool[0] != nil {
		p = pool[0]
	}
	l, err := OpenDisk(dir, cfg, logger, WithFilePool(p))
	if err != nil {
		t.Fatalf("OpenDisk: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func openDisk(t *testing.T, cfg Config) (Log, func(Config) Log) {
	return openDiskPool(t, cfg, nil)
}

// openDiskPool opens a fresh disk log through pool (see openDiskIn).
func openDiskPool(t *testing.T, cfg Config, pool *FilePool) (Log, func(Config) Log) {
	dir := t.TempDir()
	l := openDiskIn(t, dir, cfg, nil, pool)
	return l, func(cfg Config) Log {
		t.Helper()
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		l = openDiskIn(t, dir, cfg, nil, pool)
		return l
	}
}

// openDiskTinyPool opens disk logs through a pool of two files per test,
// so that nearly every operation closes and reopens a file. The pool's
// bound is checked when the test ends.
func openDiskTinyPool(t *testing.T, cfg Config) (Log, func(Config) Log) {
	pool := NewFilePool(2)
	t.Cleanup(func() {
		if st := pool.Stats(); st.Peak > 2 {
			t.Errorf("pool of 2 had %d files open at once", st.Peak)
		}
	})
	return openDiskPool(t, cfg, pool)
}

// both runs fn against the memory log, the disk log, and the disk log
// through a pool of two files.
func both(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("memory", func(t *testing.T) { fn(t, openMemory) })
	t.Run("disk", func(t *testing.T) { fn(t, openDisk) })
	t.Run("disk-pool2", func(t *testing.T) { fn(t, openDiskTinyPool) })
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func mustRead(t testing.TB, l Log, off int64, maxBytes int, upTo int64) []byte {
	t.Helper()
	b, err := l.Read(off, maxBytes, upTo)
	if err != nil {
		t.Fatalf("Read(%d, %d, %d): %v", off, maxBytes, upTo, err)
	}
	return b
}

// batchSize is the size of a batch of n records as fixture.add makes it.
func batchSize(n int) int64 { return int64(len(encodeBatch(0, n, 0, 40))) }
