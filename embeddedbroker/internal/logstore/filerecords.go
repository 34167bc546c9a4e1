package logstore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// ErrTruncated means the segment file a FileRecords was cut from was
// truncated since (Truncate, Crash): its range may no longer hold the
// batches it was read with.
var ErrTruncated = errors.New("logstore: segment truncated since the read")

// FileRecords is a range of a segment file holding whole batches, as
// ReadFile returns them: the bytes stay in the file (and the page cache),
// for the caller to send with sendfile rather than read.
//
// It holds a descriptor of its own on the file (a duplicate of the log's,
// taken while the log held it open), so the range stays readable whatever
// happens to the log meanwhile: a segment deleted by retention,
// DeleteRecords or Delete, replaced by a Rewrite, or closed by the FilePool
// or Close, keeps its bytes until Close here. Only a truncation of the
// file (Truncate into the segment, Crash) changes them, and later appends
// may write other batches at the same positions: Check tells. The caller
// must Close it.
type FileRecords struct {
	f    *os.File
	pos  int64 // the range's position in the file
	n    int64 // its length
	next int64 // the offset just past its last batch
	// seg's truncation count was gen when the range was read.
	seg *fileSeg
	gen uint64
	// sized says a Check found the file long enough.
	sized bool
}

// Len is the number of bytes in the range.
func (r *FileRecords) Len() int64 { return r.n }

// NextOffset is the offset just past the range's last batch.
func (r *FileRecords) NextOffset() int64 { return r.next }

// File returns the open file holding the range and the range's position
// in it, valid until Close. The file's own position is not used; read it
// with ReadAt, or send it with a call that takes an explicit offset.
func (r *FileRecords) File() (f *os.File, pos int64) { return r.f, r.pos }

// ReadAt reads the range's bytes from off (relative to the range) into p,
// as io.ReaderAt: for a caller that must copy them after all.
func (r *FileRecords) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > r.n {
		return 0, fmt.Errorf("logstore: read at %d of a range of %d bytes: %w", off, r.n, io.ErrUnexpectedEOF)
	}
	want := len(p)
	if rest := r.n - off; int64(want) > rest {
		p = p[:rest]
	}
	n, err := r.f.ReadAt(p, r.pos+off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// Check reports whether the file still holds the range as it was read:
// ErrTruncated (wrapped) when the segment was truncated since, or when the
// file is shorter than the range's end. The file's size is checked
// (fstat) by the first Check only: later ones, as after a send, need only
// know that no truncation came since (a file that ended early makes the
// send itself fail).
func (r *FileRecords) Check() error {
	if r.seg.truncs.Load() != r.gen {
		return fmt.Errorf("%w: segment %d", ErrTruncated, r.seg.base)
	}
	if r.sized {
		return nil
	}
	size, err := fileSize(r.f)
	if err != nil {
		return fmt.Errorf("logstore: segment %d: %w", r.seg.base, err)
	}
	if size < r.pos+r.n {
		return fmt.Errorf("%w: segment %d is %d bytes, the range ends at %d", ErrTruncated, r.seg.base, size, r.pos+r.n)
	}
	r.sized = true
	return nil
}

// Close releases the range's descriptor. Closing twice is a no-op.
func (r *FileRecords) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
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
	hdr := make([]byte, batch.HeaderSize)
	for i := l.segIndex(offset); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.size == 0 {
			continue
		}
		seg, ok := s.data.(*fileSeg)
		if !ok {
			b, err := l.readLocked(offset, maxBytes, upTo)
			return b, nil, err
		}
		if err := seg.pin(); err != nil {
			return nil, nil, fmt.Errorf("logstore: segment %d: %w", s.base, err)
		}
		pos, n, next, err := s.span(offset, upTo, int64(maxBytes), hdr)
		switch {
		case err != nil:
			seg.unpin()
			return nil, nil, err
		case n == 0 && next == 0:
			seg.unpin()
			continue // nothing at or after offset in this segment
		case n == 0:
			seg.unpin()
			return nil, nil, nil // the first batch ends past upTo
		case n < int64(minFile) && (pos+n < s.size || next >= upTo):
			// Too little to be worth a file, and all Read would
			// return: read it.
			b, err := s.bytes(pos, n)
			seg.unpin()
			return b, nil, err
		case n < int64(minFile):
			seg.unpin()
			b, err := l.readLocked(offset, maxBytes, upTo) // and on in the next segments
			return b, nil, err
		}
		f, err := seg.dup()
		gen := seg.truncs.Load()
		seg.unpin()
		if err != nil {
			// Out of descriptors, most likely: the copy needs none.
			b, err := l.readLocked(offset, maxBytes, upTo)
			return b, nil, err
		}
		return nil, &FileRecords{f: f, pos: pos, n: n, next: next, seg: seg, gen: gen}, nil
	}
	return nil, nil, nil
}

// span finds in segment s, pinned by the caller, the batches Read would
// take from it, without reading them: from the one holding offset, within
// budget bytes (at least that first batch), none ending past upTo. It
// returns their position and length in the file, and the offset just past
// the last one. n=0 with next=0 means the segment holds nothing at or
// after offset (look in the next one); n=0 with next>0 that the first
// batch ends past upTo.
//
// It reads headers only: those from the indexed position to the first
// batch, as Read does, and then, from the last index entry within the
// budget (the sparse index gives a batch boundary every
// IndexIntervalBytes), those up to the budget.
func (s *segment) span(offset, upTo, budget int64, hdr []byte) (pos, n, next int64, err error) {
	pos = s.lookup(offset)
	var f frame
	for {
		if pos >= s.size {
			return 0, 0, 0, nil
		}
		if f, err = s.frameAt(pos, hdr); err != nil {
			return 0, 0, 0, err
		}
		if f.next() > offset {
			break
		}
		pos += f.size
	}
	if f.next() > upTo {
		return pos, 0, f.next(), nil
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
			return 0, 0, 0, err
		}
		if at+g.size <= limit {
			if g.next() <= upTo {
				end, next = at+g.size, g.next()
			}
			break
		}
	}
	// Then on, header by header, to the budget.
	for next < upTo && end+batch.HeaderSize <= limit {
		g, err := frameAt(end)
		if err != nil {
			return 0, 0, 0, err
		}
		if end+g.size > limit || g.next() > upTo {
			break
		}
		end, next = end+g.size, g.next()
	}
	return pos, end - pos, next, nil
}
