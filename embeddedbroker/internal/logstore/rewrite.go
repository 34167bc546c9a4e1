package logstore

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// ErrRewriteAborted means the segments a Rewrite was replacing changed
// while it ran (a truncation, retention, DeleteRecords, a close): nothing
// was replaced, and the caller may try again later.
var ErrRewriteAborted = errors.New("logstore: rewrite aborted: the segments changed")

// SegmentInfo describes a sealed segment, for the log cleaner.
type SegmentInfo struct {
	// Base is the segment's base offset (its file name), Next the offset
	// just past its last batch (Base when it is empty).
	Base, Next int64
	// Size is the bytes of batches it holds.
	Size int64
	// MaxTimestamp is its largest batch max timestamp, -1 when none.
	MaxTimestamp int64
	// LastModified is when it was last appended to (or, for a segment the
	// cleaner wrote, that of the last segment it replaced), as the file's
	// modification time: Kafka's age of a segment without timestamps.
	LastModified time.Time
}

// RewriteStats says what a Rewrite did.
type RewriteStats struct {
	// Segments is how many segments were replaced, Groups how many
	// segments replaced them.
	Segments, Groups int
	// BytesRead and BytesWritten are the batch bytes read and written;
	// BatchesRead and BatchesWritten the batches.
	BytesRead, BytesWritten     int64
	BatchesRead, BatchesWritten int
}

// Segments returns the sealed segments, oldest first: every segment but
// the active one.
func (l *segLog) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || len(l.segs) < 2 {
		return nil
	}
	out := make([]SegmentInfo, 0, len(l.segs)-1)
	for _, s := range l.segs[:len(l.segs)-1] {
		out = append(out, SegmentInfo{Base: s.base, Next: s.next, Size: s.size, MaxTimestamp: s.maxTs, LastModified: s.modified})
	}
	return out
}

// Rewrite implements Log.
func (l *segLog) Rewrite(from, to int64, fn func(b []byte) ([]byte, error)) (RewriteStats, error) {
	l.rewriteMu.Lock()
	defer l.rewriteMu.Unlock()
	var st RewriteStats
	groups, err := l.rewriteGroups(from, to)
	if err != nil {
		return st, err
	}
	for _, g := range groups {
		if err := l.rewriteGroup(g, fn, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// rewriteGroup is one group of consecutive sealed segments Rewrite
// replaces by one: the segments, as they were when grouped, and the offset
// the group ends at (the base of the segment after it).
type rewriteGroup struct {
	segs []*segment
	end  int64
}

// rewriteGroups splits the sealed segments in [from, to) into groups, as
// Kafka's cleaner groups segments: consecutive segments whose sizes add up
// to at most SegmentBytes, whose offsets fit one segment's 32-bit relative
// offsets and whose indexes fit segment.index.bytes.
func (l *segLog) rewriteGroups(from, to int64) ([]rewriteGroup, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	cfg := l.cfg
	sealed := l.segs[:len(l.segs)-1]
	var groups []rewriteGroup
	for i := 0; i < len(sealed); {
		s := sealed[i]
		if s.base < from || s.base >= to {
			i++
			continue
		}
		g := rewriteGroup{segs: []*segment{s}}
		size, idx, tidx := s.size, len(s.index), len(s.tindex)
		j := i + 1
		for ; j < len(sealed) && sealed[j].base < to; j++ {
			n := sealed[j]
			if size+n.size > cfg.SegmentBytes || size+n.size > math.MaxInt32 ||
				n.next-1-s.base > math.MaxInt32 ||
				idx+len(n.index) >= cfg.IndexBytes/offsetEntrySize ||
				tidx+len(n.tindex) >= cfg.IndexBytes/timeEntrySize-1 {
				break
			}
			g.segs = append(g.segs, n)
			size, idx, tidx = size+n.size, idx+len(n.index), tidx+len(n.tindex)
		}
		g.end = l.segs[j].base // the segment after the group: sealed or active
		groups = append(groups, g)
		i = j
	}
	return groups, nil
}

// rewriteGroup writes the replacement of g's segments (fn applied to
// each of their batches) into a new segment at the group's base offset,
// then swaps it in, durably and atomically on disk (see the package
// documentation), unless the log changed meanwhile (ErrRewriteAborted).
// Appends and reads go on while the new segment is written; the swap holds
// up appends and, briefly, reads.
func (l *segLog) rewriteGroup(g rewriteGroup, fn func(b []byte) ([]byte, error), st *RewriteStats) error {
	base := g.segs[0].base
	data, err := l.be.createCleaned(base)
	if err != nil {
		return fmt.Errorf("logstore: rewrite of segment %d: %w", base, err)
	}
	out := newSegment(base, data)
	discard := func(err error) error {
		return errors.Join(err, l.be.discardCleaned(out))
	}
	interval := l.config().IndexIntervalBytes
	var read, written int64
	var batchesRead, batchesWritten int
	prevNext := base
	for _, s := range g.segs {
		err := l.readGroupSegment(s, g.end, func(b []byte) error {
			read += int64(len(b))
			batchesRead++
			nb, err := fn(b)
			if err != nil || nb == nil {
				return err
			}
			h, err := batch.ParseHeader(nb)
			if err != nil || h.Size() != len(nb) {
				return fmt.Errorf("logstore: rewrite: the new batch for offset %d does not frame: %w", batchBase(b), errors.Join(err, batch.ErrCorrupt))
			}
			f := frameOf(&h)
			if f.base < prevNext || f.next() > g.end || f.base < batchBase(b) {
				return fmt.Errorf("logstore: rewrite: the new batch [%d, %d] for the batch at %d is out of order or out of the group [%d, %d)", f.base, f.last, batchBase(b), base, g.end)
			}
			pos := out.size
			if err := out.data.write(nb, pos); err != nil {
				return err
			}
			out.track(f, pos, interval)
			prevNext = f.next()
			written += f.size
			batchesWritten++
			return nil
		})
		if err != nil {
			return discard(fmt.Errorf("logstore: rewrite of segment %d: %w", s.base, err))
		}
	}
	out.seal()
	// The replacement covers the group's offsets, whatever its last
	// batch: a sealed segment spans up to the next one's base, gaps
	// included (recovery and parseIndexes see it the same way).
	out.next = g.end
	if c, ok := out.data.(compacter); ok {
		c.compact()
	}
	last := g.segs[len(g.segs)-1]
	out.modified = last.modified
	out.firstAppend = g.segs[0].firstAppend
	if err := l.be.sealCleaned(out); err != nil {
		return discard(fmt.Errorf("logstore: rewrite of segment %d: %w", base, err))
	}
	out.markSynced()
	if err := l.swap(g, out); err != nil {
		return err
	}
	st.Segments += len(g.segs)
	st.Groups++
	st.BytesRead += read
	st.BytesWritten += written
	st.BatchesRead += batchesRead
	st.BatchesWritten += batchesWritten
	return nil
}

// config returns the log's configuration.
func (l *segLog) config() Config {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.cfg
}

// batchBase is the base offset of a batch (at least a header's bytes).
func batchBase(b []byte) int64 {
	f, err := decodeFrame(b)
	if err != nil {
		return -1
	}
	return f.base
}

// readGroupSegment calls fn with every batch of segment s, in order,
// reading in chunks under the read lock; it fails with ErrRewriteAborted
// when s is no longer in the log.
func (l *segLog) readGroupSegment(s *segment, end int64, fn func(b []byte) error) error {
	off := s.base
	for {
		chunk, err := l.readSegmentChunk(s, off, end)
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			return nil
		}
		for len(chunk) > 0 {
			b, rest, err := batch.Next(chunk)
			if err != nil {
				return fmt.Errorf("%w: segment %d at offset %d: %v", ErrCorruptLog, s.base, off, err)
			}
			if err := fn(b); err != nil {
				return err
			}
			f, err := decodeFrame(b)
			if err != nil {
				return fmt.Errorf("%w: segment %d at offset %d: %v", ErrCorruptLog, s.base, off, err)
			}
			off = f.next()
			chunk = rest
		}
	}
}

// readSegmentChunk reads up to scanChunk bytes of whole batches of s from
// the one holding off, none ending past end.
func (l *segLog) readSegmentChunk(s *segment, off, end int64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrRewriteAborted
	}
	if i := l.segIndex(s.base); l.segs[i] != s {
		return nil, ErrRewriteAborted
	}
	if off >= s.next || s.size == 0 {
		return nil, nil
	}
	if err := s.data.pin(); err != nil {
		return nil, fmt.Errorf("logstore: segment %d: %w", s.base, err)
	}
	defer s.data.unpin()
	part, _, err := readSegment(s, off, min(end, s.next), scanChunk, true, make([]byte, batch.HeaderSize))
	return part, err
}

// swap replaces g's segments by out, if they are still in the log as they
// were; otherwise it discards out and returns ErrRewriteAborted.
func (l *segLog) swap(g rewriteGroup, out *segment) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	i := -1
	if !l.closed {
		i = l.segIndex(g.segs[0].base)
	}
	intact := i >= 0 && i+len(g.segs) < len(l.segs) // the group is never the active segment
	for k := 0; intact && k < len(g.segs); k++ {
		intact = l.segs[i+k] == g.segs[k]
	}
	if !intact || l.segs[i+len(g.segs)].base != g.end {
		return errors.Join(ErrRewriteAborted, l.be.discardCleaned(out))
	}
	if err := l.be.changing(); err != nil {
		return errors.Join(fmt.Errorf("logstore: rewrite: %w", err), l.be.discardCleaned(out))
	}
	if err := l.hook("written"); err != nil {
		return err
	}
	// The commit point: from here, a crash finishes the swap at the next
	// open (disk).
	if err := l.be.beginSwap(out.base, g.end); err != nil {
		return errors.Join(fmt.Errorf("logstore: rewrite: %w", err), l.be.discardCleaned(out))
	}
	if err := l.hook("committed"); err != nil {
		return err
	}
	l.mu.Lock()
	segs := make([]*segment, 0, len(l.segs)-len(g.segs)+1)
	segs = append(segs, l.segs[:i]...)
	segs = append(segs, out)
	segs = append(segs, l.segs[i+len(g.segs):]...)
	l.segs = segs
	var removed int64
	for _, s := range g.segs {
		removed += s.size
	}
	l.size.Add(out.size - removed)
	l.mu.Unlock()
	err := removeSegments(g.segs)
	if err == nil {
		if err := l.hook("removed"); err != nil {
			return err
		}
	}
	// Renaming the new files to the replaced segment's names must not
	// race a reader reopening the file by its name.
	l.mu.Lock()
	err = errors.Join(err, l.be.finishSwap(out))
	l.mu.Unlock()
	if err == nil {
		if err := l.hook("renamed"); err != nil {
			return err
		}
	}
	err = errors.Join(err, l.be.endSwap())
	if err != nil {
		return fmt.Errorf("logstore: rewrite of segment %d: %w", out.base, err)
	}
	return nil
}

// hook calls the test hook at a swap step.
func (l *segLog) hook(step string) error {
	if l.rewriteHook == nil {
		return nil
	}
	return l.rewriteHook(step)
}
