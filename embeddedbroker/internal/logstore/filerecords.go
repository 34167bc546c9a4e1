package logstore

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// ErrTruncated means the segment file a FileRecords was cut from was
// truncated since (Truncate, Crash): its range may no longer hold the
// batches it was read with.
var ErrTruncated = errors.New("logstore: segment truncated since the read")

// FileRecords is the batches ReadFile returns, left in the segment files
// that hold them: one range of a file per segment they span (usually one),
// for the caller to send with sendfile rather than read.
//
// Each range holds a descriptor of its own on its file (a duplicate of the
// log's, taken while the log held it open), so the bytes stay readable
// whatever happens to the log meanwhile: a segment deleted by retention,
// DeleteRecords or Delete, replaced by a Rewrite (the cleaner's), or
// closed by the FilePool or Close, keeps its bytes, those the read found,
// until Close here, as a copy made at the read would. Only a truncation of
// a file (Truncate into the segment, Crash) changes them in place, and
// later appends may write other batches at the same positions: Check
// tells. The caller must Close it.
type FileRecords struct {
	parts []fileRange // in order; in buf unless more than two
	buf   [2]fileRange
	n     int64 // the bytes in all
	next  int64 // the offset just past the last batch
}

// fileRange is the part of a FileRecords in one segment file.
type fileRange struct {
	f      *os.File
	pos, n int64 // the range's position in the file, and its length
	// seg's truncation count was gen when the range was read.
	seg *fileSeg
	gen uint64
}

// Len is the number of bytes in the ranges.
func (r *FileRecords) Len() int64 { return r.n }

// NextOffset is the offset just past the last batch.
func (r *FileRecords) NextOffset() int64 { return r.next }

// Parts is the number of ranges, one per segment file.
func (r *FileRecords) Parts() int { return len(r.parts) }

// Part returns range i: its open file, valid until Close, and its position
// and length in the file. The file's own position is not used; read it
// with ReadAt, or send it with a call that takes an explicit offset.
func (r *FileRecords) Part(i int) (f *os.File, pos, n int64) {
	p := &r.parts[i]
	return p.f, p.pos, p.n
}

// ReadAt reads the bytes from off (counted across the ranges) into p, as
// io.ReaderAt: for a caller that must copy them after all.
func (r *FileRecords) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > r.n {
		return 0, fmt.Errorf("logstore: read at %d of %d bytes of records: %w", off, r.n, io.ErrUnexpectedEOF)
	}
	read := 0
	for i := range r.parts {
		part := &r.parts[i]
		if len(p) == 0 {
			break
		}
		if off >= part.n {
			off -= part.n
			continue
		}
		m := int(min(int64(len(p)), part.n-off))
		k, err := part.f.ReadAt(p[:m], part.pos+off)
		read += k
		if err != nil {
			return read, err
		}
		p, off = p[m:], 0
	}
	if len(p) > 0 {
		return read, io.EOF
	}
	return read, nil
}

// Check reports whether the files still hold the ranges as they were read:
// ErrTruncated (wrapped) when a segment was truncated since, which every
// truncation the log makes counts. (A file cut short behind the log's
// back is found by the send, which reaches its end early.)
func (r *FileRecords) Check() error {
	for i := range r.parts {
		if p := &r.parts[i]; p.seg.truncs.Load() != p.gen {
			return fmt.Errorf("%w: segment %d", ErrTruncated, p.seg.base)
		}
	}
	return nil
}

// Close releases the ranges' descriptors. Closing twice is a no-op.
func (r *FileRecords) Close() error {
	if len(r.parts) == 0 {
		return nil
	}
	openRecords.Add(-1)
	var errs []error
	for i := range r.parts {
		if f := r.parts[i].f; f != nil {
			errs = append(errs, f.Close())
			r.parts[i].f = nil
		}
	}
	r.parts = r.parts[:0]
	return errors.Join(errs...)
}

// ReadFile implements Log.
func (l *segLog) ReadFile(offset int64, maxBytes int, upTo int64, minFile int) ([]byte, *FileRecords, error) {
	if !l.be.durable() || !canDupFiles || maxBytes < minFile {
		// (With a budget below minFile, only a first batch larger
		// than both could make a range: not worth the header reads.)
		b, err := l.Read(offset, maxBytes, upTo)
		return b, nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	start, end := l.start.Load(), l.end.Load()
	if offset < start || offset > end {
		return nil, nil, outOfRange(offset, start, end)
	}
	upTo = min(upTo, end)
	if offset >= upTo {
		return nil, nil, nil
	}
	// The batches Read would return, segment by segment, as readLocked
	// finds them, but reading headers only.
	var (
		spansBuf [2]segSpan
		spans    = spansBuf[:0]
		hdr      = make([]byte, batch.HeaderSize)
		total    int64
		limit    = int64(maxBytes)
	)
	for i := l.segIndex(offset); i < len(l.segs) && total < limit; i++ {
		s := l.segs[i]
		if s.size == 0 {
			continue
		}
		if _, ok := s.data.(*fileSeg); !ok {
			b, err := l.readLocked(offset, maxBytes, upTo)
			return b, nil, err
		}
		if err := s.data.pin(); err != nil {
			return nil, nil, fmt.Errorf("logstore: segment %d: %w", s.base, err)
		}
		pos, n, next, done, err := s.span(offset, upTo, limit-total, total == 0, hdr)
		s.data.unpin()
		if err != nil {
			return nil, nil, err
		}
		if n > 0 {
			spans = append(spans, segSpan{s: s, pos: pos, n: n, next: next})
			total += n
		}
		if done {
			break
		}
	}
	switch {
	case total == 0:
		return nil, nil, nil
	case total < int64(minFile):
		// Too little to be worth files: read it.
		b, err := readSpans(spans, total)
		return b, nil, err
	}
	r := &FileRecords{n: total, next: spans[len(spans)-1].next}
	r.parts = r.buf[:0]
	for _, sp := range spans {
		seg := sp.s.data.(*fileSeg)
		f, err := seg.dup()
		if err != nil {
			// Out of descriptors, most likely: the copy needs none.
			_ = r.Close()
			b, err := readSpans(spans, total)
			return b, nil, err
		}
		if len(r.parts) == 0 {
			openRecords.Add(1)
		}
		r.parts = append(r.parts, fileRange{f: f, pos: sp.pos, n: sp.n, seg: seg, gen: seg.truncs.Load()})
	}
	return nil, r, nil
}

// openRecords counts the FileRecords not yet closed, in the process.
var openRecords atomic.Int64

// OpenFileRecords is the number of FileRecords ReadFile returned that are
// not closed yet, in the process: each holds descriptors. For tests that
// check that every one is closed.
func OpenFileRecords() int64 { return openRecords.Load() }

// segSpan is the batches ReadFile takes from one segment.
type segSpan struct {
	s            *segment
	pos, n, next int64
}

// readSpans reads the spans' bytes, total in all, into one buffer.
// Called with the log's mu read-locked.
func readSpans(spans []segSpan, total int64) ([]byte, error) {
	out := make([]byte, total)
	at := int64(0)
	for _, sp := range spans {
		if err := sp.s.data.pin(); err != nil {
			return nil, fmt.Errorf("logstore: segment %d: %w", sp.s.base, err)
		}
		err := sp.s.data.readAt(out[at:at+sp.n], sp.pos)
		sp.s.data.unpin()
		if err != nil {
			return nil, fmt.Errorf("logstore: segment %d: %w", sp.s.base, err)
		}
		at += sp.n
	}
	return out, nil
}

// span finds in segment s, pinned by the caller, the batches Read would
// take from it (see readSegment), without reading them: from the one
// holding offset, within budget bytes (at least that first batch when
// first), none ending past upTo. It returns their position and length in
// the file, and the offset just past the last one; done says that Read
// takes nothing from later segments (it stopped before the segment's end).
// n=0 without done means the segment holds nothing at or after offset.
//
// It reads headers only: those from the indexed position to the first
// batch, as Read does, and then, from the last index entry within the
// budget (the sparse index gives a batch boundary every
// IndexIntervalBytes), those up to the budget.
func (s *segment) span(offset, upTo, budget int64, first bool, hdr []byte) (pos, n, next int64, done bool, err error) {
	var f frame
	e, ok := s.recentAt(offset)
	if ok {
		pos, f = e.pos, e.f
	} else if pos, f, ok, err = s.indexedAt(offset, hdr); err != nil {
		return 0, 0, 0, false, err
	}
	if !ok {
		pos = s.lookup(offset)
	}
	for !ok {
		if pos >= s.size {
			return 0, 0, 0, false, nil
		}
		if f, err = s.frameAt(pos, hdr); err != nil {
			return 0, 0, 0, false, err
		}
		if f.next() > offset {
			break
		}
		pos += f.size
	}
	if f.next() > upTo || (!first && f.size > budget) {
		return pos, 0, 0, true, nil
	}
	end, next := pos+f.size, f.next()
	limit := min(pos+max(budget, f.size), s.size)
	// Jump to the last indexed batch past the first one that fits: one
	// that starts within the budget and ends at or before upTo (the
	// batches before it do too), and whose end is within the budget, or
	// else the indexed one before it, which ends where that one starts.
	lo, hi := 0, len(s.index) // first entry that does not qualify
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e := s.index[m]; int64(e.pos) < limit && s.base+int64(e.rel) < upTo {
			lo = m + 1
		} else {
			hi = m
		}
	}
	// last is the last header read, at lastPos: the forward scan below
	// may start where the jump read one that did not fit.
	lastPos, last := int64(-1), frame{}
	frameAt := func(at int64) (frame, error) {
		if at != lastPos {
			g, err := s.frameAt(at, hdr)
			if err != nil {
				return frame{}, err
			}
			lastPos, last = at, g
		}
		return last, nil
	}
	for k := lo - 1; k >= 0 && int64(s.index[k].pos) >= end; k-- {
		at := int64(s.index[k].pos)
		g, err := frameAt(at)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if at+g.size <= limit {
			if g.next() <= upTo {
				end, next = at+g.size, g.next()
			}
			break
		}
		// g does not fit. When the indexed batch before it ends just
		// below g's base offset, no batch lies between the two (a
		// batch holds at least one offset): the batches fit up to g,
		// and end where g starts, without reading another header.
		if k > 0 && int64(s.index[k-1].pos) >= pos && s.base+int64(s.index[k-1].rel)+1 == g.base && g.base <= upTo {
			end, next = at, g.base
			break
		}
	}
	// Then on, header by header, to the budget.
	for next < upTo && end+batch.HeaderSize <= limit {
		g, err := frameAt(end)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if end+g.size > limit || g.next() > upTo {
			break
		}
		end, next = end+g.size, g.next()
	}
	return pos, end - pos, next, end < s.size || next >= upTo, nil
}

// indexedAt returns the batch starting at offset when the index shows
// where it is: the batch after an indexed one ending just below offset,
// when that is the next indexed batch, as it is when every batch is
// indexed (batches of IndexIntervalBytes or more). A consumer fetches
// from where its last fetch ended, a batch's base offset, so that one
// header read finds the batch; ok=false (after a read at most) sends the
// caller to scan from lookup's position.
func (s *segment) indexedAt(offset int64, hdr []byte) (pos int64, f frame, ok bool, err error) {
	rel := offset - s.base
	i, _ := slices.BinarySearchFunc(s.index, rel, func(e offsetEntry, rel int64) int { return cmp.Compare(int64(e.rel), rel) })
	// s.index[i] is the first entry ending at or past offset.
	if i == 0 || i == len(s.index) || int64(s.index[i-1].rel) != rel-1 {
		return 0, frame{}, false, nil
	}
	pos = int64(s.index[i].pos)
	if f, err = s.frameAt(pos, hdr); err != nil {
		return 0, frame{}, false, err
	}
	return pos, f, f.base == offset, nil
}
