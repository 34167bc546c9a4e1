package logstore

import (
	"bytes"
	"fmt"
	"io"
	"slices"
)

// NewMemory returns a Log kept in memory, starting empty at offset 0 (use
// TruncateFully to start elsewhere). It has the semantics of the disk log,
// segments and sparse indexes included, so that retention by size and time
// and segment rolls behave the same. Nothing survives the process; Fsync
// only decides what Crash forgets, so that a memory log can stand for the
// disk of a simulated machine (see Log.Crash).
//
// Each segment is one contiguous buffer that grows by appending. Reads that
// stay within a segment return a view of that buffer without copying: the
// log never writes bytes it has handed out again (truncation makes the next
// append reallocate), so views stay valid, but callers must not modify
// them. A buffer grows by doubling and is copied to its exact size when its
// segment is sealed; keep SegmentBytes modest (the 1 GiB default means
// buffers of up to 1 GiB). Memory is bounded only by retention, which the caller drives with
// ApplyRetention.
func NewMemory(cfg Config) Log {
	l := newLog(memBackend{}, cfg.withDefaults(), discardLogger())
	l.snaps = &memSnapshots{}
	l.segs = []*segment{newSegment(0, &memSeg{})}
	l.tickBase = l.cfg.Clock()
	return l
}

// memBackend is the backend of the memory log.
type memBackend struct{}

func (memBackend) create(int64) (segData, error) { return &memSeg{}, nil }
func (memBackend) sealed(*segment) error         { return nil }
func (memBackend) closing(*segment, bool) error  { return nil }
func (memBackend) saveStart(int64) error         { return nil }
func (memBackend) destroy() error                { return nil }
func (memBackend) durable() bool                 { return false }
func (memBackend) changing() error               { return nil }

func (memBackend) createCleaned(int64) (segData, error) { return &memSeg{}, nil }
func (memBackend) sealCleaned(*segment) error           { return nil }
func (memBackend) discardCleaned(*segment) error        { return nil }
func (memBackend) beginSwap(int64, int64) error         { return nil }
func (memBackend) finishSwap(*segment) error            { return nil }
func (memBackend) endSwap() error                       { return nil }

// memSeg is a segment's data in memory. buf is replaced, never written
// below its length, so slices handed out stay immutable.
type memSeg struct{ buf []byte }

func (m *memSeg) write(b []byte, pos int64) error {
	if pos != int64(len(m.buf)) {
		return fmt.Errorf("logstore: memory segment write at %d, end is %d", pos, len(m.buf))
	}
	if len(m.buf)+len(b) > cap(m.buf) {
		// Double: append's gentler growth for large slices copies a big
		// segment several times over.
		m.buf = slices.Grow(m.buf, max(len(b), cap(m.buf), 4096))
	}
	m.buf = append(m.buf, b...)
	return nil
}

func (m *memSeg) readAt(p []byte, pos int64) error {
	if pos < 0 || pos+int64(len(p)) > int64(len(m.buf)) {
		return io.ErrUnexpectedEOF
	}
	copy(p, m.buf[pos:])
	return nil
}

func (m *memSeg) view(pos, n int64) ([]byte, bool) {
	return m.buf[pos : pos+n : pos+n], true
}

// truncate caps the capacity too, so the next append copies to a new array
// instead of overwriting bytes a reader may hold.
func (m *memSeg) truncate(size int64) error {
	m.buf = m.buf[:size:size]
	return nil
}

// compact drops the spare capacity of a sealed segment's buffer, which
// appending may have grown to twice the data. Readers keep the old array
// alive as long as they hold views of it.
func (m *memSeg) compact() {
	if cap(m.buf)-len(m.buf) > len(m.buf)/8 {
		m.buf = bytes.Clone(m.buf)
	}
}

func (m *memSeg) pin() error    { return nil }
func (m *memSeg) unpin()        {}
func (m *memSeg) sync() error   { return nil }
func (m *memSeg) close() error  { return nil }
func (m *memSeg) remove() error { return nil }
