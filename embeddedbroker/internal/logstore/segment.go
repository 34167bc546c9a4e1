package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// Byte offsets of the v2 batch header fields the log frames batches with.
// batch.ParseHeader needs the whole batch; scans that read only the
// 61-byte header decode these few fields themselves (decodeFrame).
const (
	hdrBaseOffset      = 0
	hdrLength          = 8
	hdrMagic           = 16
	hdrLastOffsetDelta = 23
	hdrMaxTimestamp    = 35
)

// frame is what the log needs to know about a stored batch.
type frame struct {
	base  int64 // base offset
	last  int64 // last offset
	size  int64 // bytes the batch occupies
	maxTs int64 // max timestamp, -1 when none
}

// next is the offset just past the batch.
func (f frame) next() int64 { return f.last + 1 }

// frameOf converts a parsed header.
func frameOf(h *batch.Header) frame {
	return frame{base: h.BaseOffset, last: h.LastOffset(), size: int64(h.Size()), maxTs: h.MaxTimestamp}
}

// decodeFrame decodes the framing fields of the batch header at the start
// of h, which must hold at least batch.HeaderSize bytes. It checks the magic
// and that the length and last offset delta are possible.
func decodeFrame(h []byte) (frame, error) {
	if len(h) < batch.HeaderSize {
		return frame{}, batch.ErrShort
	}
	if m := int8(h[hdrMagic]); m != 2 {
		return frame{}, fmt.Errorf("%w: magic %d", batch.ErrCorrupt, m)
	}
	length := int32(binary.BigEndian.Uint32(h[hdrLength:]))
	if length < batch.HeaderSize-batch.LengthOverhead {
		return frame{}, fmt.Errorf("%w: length %d shorter than a batch header", batch.ErrCorrupt, length)
	}
	delta := int32(binary.BigEndian.Uint32(h[hdrLastOffsetDelta:]))
	if delta < 0 {
		return frame{}, fmt.Errorf("%w: negative last offset delta %d", batch.ErrCorrupt, delta)
	}
	base := int64(binary.BigEndian.Uint64(h[hdrBaseOffset:]))
	return frame{
		base:  base,
		last:  base + int64(delta),
		size:  int64(length) + batch.LengthOverhead,
		maxTs: int64(binary.BigEndian.Uint64(h[hdrMaxTimestamp:])),
	}, nil
}

// segData is the byte storage of one segment: a file or a memory buffer.
// truncate and close run under the log's write lock, and so does write for
// memory (files are written beyond the size readers see, without it);
// readAt and view run under at least its read lock.
type segData interface {
	// write stores b at pos, which is the current end of the data.
	write(b []byte, pos int64) error
	// readAt fills p from pos; a short read is an error.
	readAt(p []byte, pos int64) error
	// view returns the n bytes at pos without copying when the storage is
	// immutable memory; ok=false means the caller must readAt.
	view(pos, n int64) (b []byte, ok bool)
	// truncate cuts the data to size bytes.
	truncate(size int64) error
	// pin keeps a file open across several readAt calls (which then
	// skip the pool's lock) until unpin; memory does nothing. A goroutine
	// pins one segment at a time (see FilePool).
	pin() error
	unpin()
	sync() error
	close() error
	// remove closes and deletes the segment's storage.
	remove() error
}

// offsetEntry is a sparse offset index entry: the batch at file position
// pos ends at offset base+rel.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry is a time index entry: ts is the largest max timestamp of the
// segment up to the batch ending at base+rel, which is the first batch to
// carry it.
type timeEntry struct {
	ts  int64
	rel uint32
}

// segment is one segment of the log: its storage and what the log keeps in
// memory about it. Fields change under the log's write lock, by the
// goroutine holding its mutation lock.
type segment struct {
	base int64 // base offset; the file name
	data segData
	size int64 // bytes of batches; the next write position
	next int64 // offset just past the last batch; base when empty

	index      []offsetEntry
	tindex     []timeEntry
	sinceIndex int64 // bytes appended since the last index entry

	maxTs    int64 // largest max timestamp, -1 when none
	maxTsOff int64 // last offset of the first batch carrying maxTs, -1 when none
	firstTs  int64 // max timestamp of the first batch, -1 when none or empty

	firstAppend time.Time // when the first batch was appended (roll by time fallback)
	modified    time.Time // last append (retention by time fallback)

	// synced is the number of bytes covered by the last successful fsync of
	// the data (a roll's, a Sync's, an append's under FsyncAlways, the
	// background syncer's), and syncedNext the offset just past them: what
	// Crash keeps. Only holders of the log's wmu read or change them.
	synced     int64
	syncedNext int64

	// recent are where the last recentBatches batches appended to the
	// segment are (a ring; nrecent counts them all), so that a read
	// starting at one of them, as a follower's or a caught-up consumer's
	// fetch does, finds its batch without reading headers from the
	// sparse index's position onwards (one pread each: up to
	// IndexIntervalBytes of small batches). Kept by track, cleared by
	// reset and seal; guarded as size is.
	recent  [recentBatches]placed
	nrecent int
}

// recentBatches is how many of its last batches an active segment places
// without a header read.
const recentBatches = 16

// placed is a batch and its position in the segment's data.
type placed struct {
	f   frame
	pos int64
}

// recentAt returns the batch starting at offset if it is one of the last
// batches appended.
func (s *segment) recentAt(offset int64) (placed, bool) {
	for i := s.nrecent - 1; i >= max(0, s.nrecent-recentBatches); i-- {
		e := s.recent[i%recentBatches]
		if e.f.base == offset {
			return e, true
		}
		if e.f.base < offset {
			break
		}
	}
	return placed{}, false
}

// newSegment returns an empty segment at base.
func newSegment(base int64, data segData) *segment {
	return &segment{base: base, data: data, next: base, maxTs: -1, maxTsOff: -1, firstTs: -1, syncedNext: base}
}

// markSynced records that an fsync covered all of the segment's data.
func (s *segment) markSynced() { s.synced, s.syncedNext = s.size, s.next }

// clampSynced forgets synced bytes the segment no longer holds after a
// truncation.
func (s *segment) clampSynced() {
	if s.synced > s.size {
		s.markSynced()
	}
}

// track records that the batch f was stored at pos, maintaining the sparse
// indexes as Kafka does: an index entry goes to the first batch appended
// after more than interval bytes since the previous entry, and the time
// index gets the running maximum at the same points.
func (s *segment) track(f frame, pos int64, interval int) {
	if s.size == 0 {
		s.firstTs = f.maxTs
	}
	if f.maxTs > s.maxTs {
		s.maxTs, s.maxTsOff = f.maxTs, f.last
	}
	if s.sinceIndex > int64(interval) {
		s.index = append(s.index, offsetEntry{rel: uint32(f.last - s.base), pos: uint32(pos)})
		s.appendTimeEntry()
		s.sinceIndex = 0
	}
	s.sinceIndex += f.size
	s.size = pos + f.size
	s.next = f.next()
	s.recent[s.nrecent%recentBatches] = placed{f, pos}
	s.nrecent++
}

// appendTimeEntry appends the running maximum to the time index if it is
// larger than the last entry's.
func (s *segment) appendTimeEntry() {
	if s.maxTs < 0 || (len(s.tindex) > 0 && s.maxTs <= s.tindex[len(s.tindex)-1].ts) {
		return
	}
	s.tindex = append(s.tindex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
}

// seal adds the final time index entry of a segment that stops being
// active, so the segment's largest timestamp is in its time index.
func (s *segment) seal() { s.appendTimeEntry(); s.nrecent = 0 }

// reset forgets everything derived from the data.
func (s *segment) reset() {
	s.size, s.next = 0, s.base
	s.index, s.tindex, s.sinceIndex = nil, nil, 0
	s.maxTs, s.maxTsOff, s.firstTs = -1, -1, -1
	s.nrecent = 0
}

// errDamage marks a rebuild stopping at bytes that do not frame as the next
// batch; the valid prefix ends where the damage starts.
var errDamage = errors.New("damaged batch")

// rebuild re-derives the segment's state from the first limit bytes of its
// data, batch by batch. With verify, each whole batch is read and its CRC
// checked; otherwise only headers are read. It stops at the first damage:
// the returned error then wraps errDamage and s describes the valid prefix.
// Other errors are I/O errors.
func (s *segment) rebuild(limit int64, verify bool, interval int) error {
	s.reset()
	if limit == 0 {
		return nil
	}
	if err := s.data.pin(); err != nil {
		return err
	}
	defer s.data.unpin()
	var hdr [batch.HeaderSize]byte
	var buf []byte
	for pos := int64(0); pos < limit; {
		if limit-pos < batch.HeaderSize {
			return fmt.Errorf("%w at position %d: %d bytes, shorter than a batch header", errDamage, pos, limit-pos)
		}
		if err := s.data.readAt(hdr[:], pos); err != nil {
			return err
		}
		f, err := decodeFrame(hdr[:])
		if err != nil {
			return fmt.Errorf("%w at position %d: %w", errDamage, pos, err)
		}
		if pos+f.size > limit {
			return fmt.Errorf("%w at position %d: batch of %d bytes cut short at %d", errDamage, pos, f.size, limit-pos)
		}
		if f.base < s.next {
			// (A gap, a base offset beyond the previous batch's end, is
			// normal in a segment the cleaner rewrote.)
			return fmt.Errorf("%w at position %d: base offset %d, want at least %d", errDamage, pos, f.base, s.next)
		}
		if verify {
			if int64(cap(buf)) < f.size {
				buf = make([]byte, f.size)
			}
			b := buf[:f.size]
			if err := s.data.readAt(b, pos); err != nil {
				return err
			}
			h, err := batch.ParseHeader(b)
			if err != nil {
				return fmt.Errorf("%w at position %d: %w", errDamage, pos, err)
			}
			if crc := batch.CRC(b); crc != h.CRC {
				return fmt.Errorf("%w at position %d: CRC %#08x, computed %#08x", errDamage, pos, h.CRC, crc)
			}
		}
		s.track(f, pos, interval)
		pos += f.size
	}
	return nil
}

// lookup returns the file position to scan from for offset: that of the
// last index entry whose batch ends at or before offset, or 0.
func (s *segment) lookup(offset int64) int64 {
	rel := offset - s.base
	if rel <= 0 || len(s.index) == 0 {
		return 0
	}
	lo, hi := 0, len(s.index) // first entry with rel > target
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(s.index[m].rel) > rel {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return 0
	}
	return int64(s.index[lo-1].pos)
}

// timeLookup returns the file position to scan from for the first batch
// with max timestamp >= ts: the batch of the last time index entry below ts
// (every batch before it is below ts too), or 0.
func (s *segment) timeLookup(ts int64) int64 {
	lo, hi := 0, len(s.tindex) // first entry with ts >= target
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.tindex[m].ts >= ts {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return 0
	}
	return s.lookup(s.base + int64(s.tindex[lo-1].rel))
}

// frameAt decodes the header of the batch at pos into f, using hdr as the
// read buffer.
func (s *segment) frameAt(pos int64, hdr []byte) (frame, error) {
	if pos+batch.HeaderSize > s.size {
		return frame{}, fmt.Errorf("%w: segment %d: header at position %d runs past the end %d", ErrCorruptLog, s.base, pos, s.size)
	}
	if err := s.data.readAt(hdr[:batch.HeaderSize], pos); err != nil {
		return frame{}, fmt.Errorf("logstore: segment %d: %w", s.base, err)
	}
	f, err := decodeFrame(hdr)
	if err != nil {
		return frame{}, fmt.Errorf("%w: segment %d: batch at position %d: %v", ErrCorruptLog, s.base, pos, err)
	}
	if pos+f.size > s.size {
		return frame{}, fmt.Errorf("%w: segment %d: batch of %d bytes at position %d runs past the end %d", ErrCorruptLog, s.base, f.size, pos, s.size)
	}
	return f, nil
}

// find scans from pos for the first batch that satisfies stop, returning
// its position and frame; ok=false when the segment ends first.
func (s *segment) find(pos int64, hdr []byte, stop func(frame) bool) (int64, frame, bool, error) {
	if pos >= s.size {
		return 0, frame{}, false, nil
	}
	if err := s.data.pin(); err != nil {
		return 0, frame{}, false, fmt.Errorf("logstore: segment %d: %w", s.base, err)
	}
	defer s.data.unpin()
	for pos < s.size {
		f, err := s.frameAt(pos, hdr)
		if err != nil {
			return 0, frame{}, false, err
		}
		if stop(f) {
			return pos, f, true, nil
		}
		pos += f.size
	}
	return 0, frame{}, false, nil
}

// bytes returns the n bytes at pos: a view when the storage allows, a copy
// otherwise.
func (s *segment) bytes(pos, n int64) ([]byte, error) {
	if b, ok := s.data.view(pos, n); ok {
		return b, nil
	}
	b := make([]byte, n)
	if err := s.data.readAt(b, pos); err != nil {
		return nil, fmt.Errorf("logstore: segment %d: %w", s.base, err)
	}
	return b, nil
}

// retentionTs is the timestamp retention by time compares: the largest
// timestamp, or without timestamps the time of the last append.
func (s *segment) retentionTs() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	return s.modified.UnixMilli()
}
