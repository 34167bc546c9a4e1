package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// scanChunk is how many bytes Scan reads at a time.
const scanChunk = 1 << 20

// backend is what differs between the disk and the memory log.
type backend interface {
	// create makes the storage of a new, empty segment at base.
	create(base int64) (segData, error)
	// sealed makes a segment that stopped being active durable: its data
	// and its index files.
	sealed(s *segment) error
	// closing leaves the active segment's index files behind at Close,
	// and with synced (its data is durable) the disk log's clean-shutdown
	// marker.
	closing(s *segment, synced bool) error
	// saveStart persists the log start offset.
	saveStart(off int64) error
	// destroy removes everything, after Close.
	destroy() error
	// durable reports whether the storage is files: fsync means something,
	// and appends may write outside the read-write lock.
	durable() bool
	// crash implements Log.Crash, called with wmu held after the background
	// syncer stopped (see crash.go).
	crash(l *segLog) error
	// changing is called with wmu held before a mutation changes the
	// stored data: the disk log removes its clean-shutdown marker.
	changing() error

	// The segment rewrite (Rewrite, rewrite.go). createCleaned makes the
	// storage of a replacement segment at base, apart from the log's
	// segments; sealCleaned makes it and its index files durable;
	// discardCleaned removes it. Under wmu, beginSwap records durably
	// that the segments in [base, end) are being replaced (the commit
	// point), finishSwap (also under mu) gives the replacement its final
	// names once the replaced segments' storage is gone, and endSwap
	// makes that durable and ends the record.
	createCleaned(base int64) (segData, error)
	sealCleaned(s *segment) error
	discardCleaned(s *segment) error
	beginSwap(base, end int64) error
	finishSwap(s *segment) error
	endSwap() error
}

// compacter is implemented by segment storage that can give back spare
// capacity once a segment is sealed.
type compacter interface{ compact() }

// segLog is the engine behind both Log implementations: a list of segments,
// the last of which is active.
type segLog struct {
	be     backend
	logger *slog.Logger

	// syncMu guards the background fsync goroutine's lifecycle. Taken
	// before wmu, never while holding it.
	syncMu   sync.Mutex
	stopSync chan struct{}
	syncDone chan struct{}

	// wmu serializes mutations and guards cfg, dirty and the jitter
	// fields. A goroutine holding wmu may read segs and segment fields
	// without mu: only holders of wmu change them.
	wmu   sync.Mutex
	cfg   Config
	dirty bool // appended since the last fsync

	// jitter is the roll jitter (Config.SegmentJitter) drawn for the
	// segment jitterOf, the active one when it was drawn.
	jitterOf *segment
	jitter   time.Duration

	// The memory log runs no syncer goroutine under FsyncInterval: it
	// works out lazily whether one of its ticks, every interval from
	// tickBase, came after lastAppend (see tickLocked in crash.go).
	tickBase   time.Time
	lastAppend time.Time

	// mu guards segs, closed and segment fields for readers; mutations take
	// it (after wmu) only to publish.
	mu     sync.RWMutex
	segs   []*segment
	closed bool

	start atomic.Int64
	end   atomic.Int64
	size  atomic.Int64

	// State snapshots (see snapshot.go). snapMu serializes their writes,
	// reads and deletions; taken after wmu, never before it. snapGen
	// changes, under wmu and snapMu, with every truncation, making the
	// points taken before stale. onRoll is the roll hook, under wmu.
	snaps      snapshotStore
	snapMu     sync.Mutex
	snapGen    atomic.Uint64
	snapClosed bool
	onRoll     func(SnapshotPoint)

	// rewriteMu serializes Rewrite calls (taken before wmu). rewriteHook,
	// set by tests, is called at each step of a swap; an error stops the
	// swap there, as a crash would.
	rewriteMu   sync.Mutex
	rewriteHook func(step string) error
}

var _ Log = (*segLog)(nil)

func newLog(be backend, cfg Config, logger *slog.Logger) *segLog {
	return &segLog{be: be, cfg: cfg, logger: logger}
}

func outOfRange(off, start, end int64) error {
	return fmt.Errorf("%w: offset %d, log spans [%d, %d]", ErrOffsetOutOfRange, off, start, end)
}

// segIndex returns the index of the segment holding off: the last one whose
// base is at or below off, or 0.
func (l *segLog) segIndex(off int64) int {
	lo, hi := 0, len(l.segs) // first segment with base > off
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segs[m].base > off {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return 0
	}
	return lo - 1
}

func (l *segLog) active() *segment { return l.segs[len(l.segs)-1] }

// Append implements Log.
func (l *segLog) Append(b []byte) error { return l.append(b, false) }

// AppendReplica implements Log.
func (l *segLog) AppendReplica(b []byte) error { return l.append(b, true) }

// append appends one batch at the log end offset, or, with gap, at or after
// it.
func (l *segLog) append(b []byte, gap bool) error {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return fmt.Errorf("logstore: append: %w", err)
	}
	if h.Size() != len(b) {
		return fmt.Errorf("logstore: append: %w: %d bytes hold a batch of %d", batch.ErrCorrupt, len(b), h.Size())
	}
	if h.LastOffsetDelta < 0 {
		return fmt.Errorf("logstore: append: %w: negative last offset delta %d", batch.ErrCorrupt, h.LastOffsetDelta)
	}
	f := frameOf(&h)

	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if end := l.end.Load(); f.base != end && (!gap || f.base < end) {
		return fmt.Errorf("%w: base offset %d, log end offset %d", ErrOffsetMismatch, f.base, end)
	}
	if err := l.be.changing(); err != nil {
		return fmt.Errorf("logstore: append: %w", err)
	}
	now := l.cfg.Clock()
	l.tickLocked(now)
	act := l.active()
	if l.shouldRoll(act, f, now) {
		if act, err = l.roll(act); err != nil {
			return err
		}
		if l.onRoll != nil {
			l.onRoll(SnapshotPoint{Offset: act.base, gen: l.snapGen.Load()})
		}
	}

	// A file is written before taking the lock, as readers never look past
	// the published size; a memory buffer is replaced by append, under it.
	pos := act.size
	fileWrite := l.be.durable()
	if fileWrite {
		if err := act.data.write(b, pos); err != nil {
			_ = act.data.truncate(pos) // drop a partial write; the next append overwrites it anyway
			return fmt.Errorf("logstore: append at offset %d: %w", f.base, err)
		}
	}
	l.mu.Lock()
	if !fileWrite {
		if err := act.data.write(b, pos); err != nil {
			l.mu.Unlock()
			return fmt.Errorf("logstore: append at offset %d: %w", f.base, err)
		}
	}
	if act.size == 0 {
		act.firstAppend = now
	}
	act.track(f, pos, l.cfg.IndexIntervalBytes)
	act.modified = now
	l.end.Store(f.next())
	l.size.Add(f.size)
	l.mu.Unlock()

	l.dirty = true
	l.lastAppend = now
	if l.cfg.Fsync < 0 || (l.cfg.FlushMessages > 0 && f.next()-act.syncedNext >= l.cfg.FlushMessages) {
		return l.syncLocked()
	}
	return nil
}

// shouldRoll reports whether f must go to a new segment rather than s, the
// active segment, as Kafka's LogSegment.shouldRoll decides: by size, by
// relative offset overflow, when an index is full, and by time less the
// segment's jitter. An empty segment never rolls. Called with wmu held.
func (l *segLog) shouldRoll(s *segment, f frame, now time.Time) bool {
	switch {
	case s.size == 0:
		return false
	case s.size+f.size > l.cfg.SegmentBytes, s.size+f.size > math.MaxInt32:
		return true
	case f.last-s.base > math.MaxInt32: // relative offsets are 32-bit
		return true
	case len(s.index) >= l.cfg.IndexBytes/offsetEntrySize, len(s.tindex) >= l.cfg.IndexBytes/timeEntrySize-1:
		return true
	}
	rollMs := l.cfg.SegmentMs - l.rollJitter(s)
	if f.maxTs >= 0 && s.firstTs >= 0 {
		return f.maxTs-s.firstTs > rollMs.Milliseconds()
	}
	return now.Sub(s.firstAppend) > rollMs
}

// rollJitter returns the roll jitter of the active segment s, drawing it
// the first time s is asked about. Called with wmu held.
func (l *segLog) rollJitter(s *segment) time.Duration {
	if l.jitterOf != s {
		l.jitterOf, l.jitter = s, 0
		if n := min(l.cfg.SegmentJitter, l.cfg.SegmentMs).Milliseconds(); n > 0 {
			l.jitter = time.Duration(l.cfg.Rand(n)) * time.Millisecond
		}
	}
	return l.jitter
}

// roll seals old and starts a new active segment at the log end offset.
// Called with wmu held.
func (l *segLog) roll(old *segment) (*segment, error) {
	l.mu.Lock()
	old.seal()
	if c, ok := old.data.(compacter); ok {
		c.compact()
	}
	l.mu.Unlock()
	if err := l.be.sealed(old); err != nil {
		return nil, fmt.Errorf("logstore: sealing segment %d: %w", old.base, err)
	}
	old.markSynced()
	if old == l.active() {
		l.dirty = false
	}
	base := l.end.Load()
	d, err := l.be.create(base)
	if err != nil {
		return nil, fmt.Errorf("logstore: creating segment %d: %w", base, err)
	}
	s := newSegment(base, d)
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	return s, nil
}

// Read implements Log.
func (l *segLog) Read(offset int64, maxBytes int, upTo int64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	start, end := l.start.Load(), l.end.Load()
	if offset < start || offset > end {
		return nil, outOfRange(offset, start, end)
	}
	upTo = min(upTo, end)
	if offset >= upTo {
		return nil, nil
	}
	return l.readLocked(offset, maxBytes, upTo)
}

// readLocked is Read once the offsets are checked, upTo is at most the
// log end offset and offset below it. Called with mu read-locked.
func (l *segLog) readLocked(offset int64, maxBytes int, upTo int64) ([]byte, error) {
	var (
		partsBuf [4][]byte
		parts    = partsBuf[:0]
		hdr      = make([]byte, batch.HeaderSize)
		total    int64
		limit    = int64(maxBytes)
		done     bool
	)
	for i := l.segIndex(offset); i < len(l.segs) && !done; i++ {
		s := l.segs[i]
		if s.size == 0 {
			continue
		}
		if err := s.data.pin(); err != nil {
			return nil, fmt.Errorf("logstore: segment %d: %w", s.base, err)
		}
		part, end, err := readSegment(s, offset, upTo, limit-total, total == 0, hdr)
		s.data.unpin()
		if err != nil {
			return nil, err
		}
		if len(part) > 0 {
			parts = append(parts, part)
			total += int64(len(part))
		}
		done = end || total >= limit
	}

	switch len(parts) {
	case 0:
		return nil, nil
	case 1:
		return parts[0], nil
	}
	out := make([]byte, 0, total)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// readSegment reads from segment s, pinned by the caller, the batches Read
// wants: from the one holding offset, within budget bytes (at least that
// first batch when first), none ending past upTo. done says Read has
// nothing more to take from later segments.
func readSegment(s *segment, offset, upTo, budget int64, first bool, hdr []byte) (part []byte, done bool, err error) {
	// Skip, reading headers only, from the indexed position to the batch
	// holding offset (at most IndexIntervalBytes or so), unless offset
	// starts one of the segment's last batches.
	pos := s.lookup(offset)
	e, recent := s.recentAt(offset)
	if recent {
		if e.f.next() > upTo {
			return nil, true, nil
		}
		if first {
			budget = max(budget, e.f.size)
		}
		pos = e.pos
	}
	for !recent && pos < s.size {
		f, err := s.frameAt(pos, hdr)
		if err != nil {
			return nil, false, err
		}
		if f.next() <= offset {
			pos += f.size
			continue
		}
		if f.next() > upTo {
			return nil, true, nil
		}
		if first {
			budget = max(budget, f.size) // always the first batch
		}
		break
	}
	if pos >= s.size {
		return nil, false, nil
	}
	// One read of as much as the budget allows, then frame it in memory,
	// dropping a batch cut by the budget or beyond upTo.
	chunk, err := s.bytes(pos, min(s.size-pos, budget))
	if err != nil {
		return nil, false, err
	}
	n := int64(0)
	for n < int64(len(chunk)) {
		if int64(len(chunk))-n < batch.HeaderSize {
			done = true
			break
		}
		f, err := decodeFrame(chunk[n:])
		if err != nil {
			return nil, false, fmt.Errorf("%w: segment %d: batch at position %d: %v", ErrCorruptLog, s.base, pos+n, err)
		}
		if n+f.size > int64(len(chunk)) || f.next() > upTo {
			done = true
			break
		}
		n += f.size
		if f.next() == upTo {
			done = true
			break
		}
	}
	return chunk[:n:n], done, nil
}

// StartOffset implements Log.
func (l *segLog) StartOffset() int64 { return l.start.Load() }

// EndOffset implements Log.
func (l *segLog) EndOffset() int64 { return l.end.Load() }

// Size implements Log.
func (l *segLog) Size() int64 { return l.size.Load() }

// detachLocked removes the first n segments from the list (appending fresh
// when not nil) and returns them for removal. Called with mu held.
func (l *segLog) detachLocked(n int, fresh *segment) []*segment {
	if n == 0 && fresh == nil {
		return nil
	}
	removed := append([]*segment(nil), l.segs[:n]...)
	keep := make([]*segment, 0, len(l.segs)-n+1)
	keep = append(keep, l.segs[n:]...)
	if fresh != nil {
		keep = append(keep, fresh)
	}
	l.segs = keep
	for _, s := range removed {
		l.size.Add(-s.size)
	}
	return removed
}

// removeSegments deletes detached segments' storage, oldest first, so that
// a crash leaves a contiguous suffix.
func removeSegments(segs []*segment) error {
	var errs []error
	for _, s := range segs {
		if err := s.data.remove(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: removing segment %d: %w", s.base, err))
		}
	}
	return errors.Join(errs...)
}

// SetStartOffset implements Log.
func (l *segLog) SetStartOffset(off int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	start, end := l.start.Load(), l.end.Load()
	if off > end {
		return outOfRange(off, start, end)
	}
	if off <= start {
		return nil
	}
	if err := l.be.changing(); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	if err := l.be.saveStart(off); err != nil {
		return fmt.Errorf("logstore: saving log start offset %d: %w", off, err)
	}

	n := 0
	for n < len(l.segs)-1 && l.segs[n].next <= off {
		n++
	}
	var fresh *segment
	if last := l.active(); n == len(l.segs)-1 && last.size > 0 && last.next <= off {
		// Records deleted up to the log end: every segment goes.
		d, err := l.be.create(off)
		if err != nil {
			return fmt.Errorf("logstore: creating segment %d: %w", off, err)
		}
		fresh, n = newSegment(off, d), len(l.segs)
	}
	l.mu.Lock()
	l.start.Store(off)
	removed := l.detachLocked(n, fresh)
	if fresh != nil {
		l.dirty = false
	}
	l.mu.Unlock()
	return removeSegments(removed)
}

// Truncate implements Log.
func (l *segLog) Truncate(off int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	start, end := l.start.Load(), l.end.Load()
	if off >= end {
		return nil
	}
	if off < start {
		return l.truncateFullyLocked(off)
	}
	if err := l.be.changing(); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}

	i := l.segIndex(off)
	s := l.segs[i]
	hdr := make([]byte, batch.HeaderSize)
	pos, _, found, err := s.find(s.lookup(off), hdr, func(f frame) bool { return f.next() > off })
	if err != nil {
		return err
	}
	if !found {
		pos = s.size
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	later := append([]*segment(nil), l.segs[i+1:]...)
	l.segs = append([]*segment(nil), l.segs[:i+1]...)
	var errs []error
	for j := len(later) - 1; j >= 0; j-- { // newest first: a crash leaves a prefix
		l.size.Add(-later[j].size)
		if err := later[j].data.remove(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: removing segment %d: %w", later[j].base, err))
		}
	}
	oldSize := s.size
	if err := s.data.truncate(pos); err != nil {
		errs = append(errs, fmt.Errorf("logstore: truncating segment %d at position %d: %w", s.base, pos, err))
	} else if err := s.rebuild(pos, false, l.cfg.IndexIntervalBytes); err != nil {
		errs = append(errs, fmt.Errorf("%w: segment %d after truncation: %v", ErrCorruptLog, s.base, err))
	}
	l.size.Add(s.size - oldSize)
	l.end.Store(s.next)
	s.clampSynced()
	if err := s.data.sync(); err != nil { // a no-op in memory, which still counts it as synced
		errs = append(errs, fmt.Errorf("logstore: segment %d: %w", s.base, err))
	} else {
		s.markSynced()
	}
	if err := l.dropSnapshotsAbove(s.next); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TruncateFully implements Log.
func (l *segLog) TruncateFully(off int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.truncateFullyLocked(off)
}

func (l *segLog) truncateFullyLocked(off int64) error {
	if off < 0 {
		return outOfRange(off, l.start.Load(), l.end.Load())
	}
	if err := l.be.changing(); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	// Every snapshot describes data that goes.
	if err := l.dropSnapshotsAbove(-1); err != nil {
		return err
	}
	if err := l.be.saveStart(off); err != nil {
		return fmt.Errorf("logstore: saving log start offset %d: %w", off, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resetLocked(off)
}

// resetLocked removes every segment and starts an empty one at off. If the
// new segment cannot be created the log closes itself: it has no segment
// to append to. Called with wmu and mu held.
func (l *segLog) resetLocked(off int64) error {
	var errs []error
	for j := len(l.segs) - 1; j >= 0; j-- {
		if err := l.segs[j].data.remove(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: removing segment %d: %w", l.segs[j].base, err))
		}
	}
	l.segs = nil
	l.size.Store(0)
	l.dirty = false
	d, err := l.be.create(off)
	if err != nil {
		l.closed = true
		errs = append(errs, fmt.Errorf("logstore: creating segment %d, closing the log: %w", off, err))
		return errors.Join(errs...)
	}
	l.segs = []*segment{newSegment(off, d)}
	l.start.Store(off)
	l.end.Store(off)
	return errors.Join(errs...)
}

// FindTimestamp implements Log.
func (l *segLog) FindTimestamp(ts int64) ([]byte, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, false, ErrClosed
	}
	start := l.start.Load()
	hdr := make([]byte, batch.HeaderSize)
	for i := l.segIndex(start); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.size == 0 || s.maxTs < ts {
			continue
		}
		pos := max(s.timeLookup(ts), s.lookup(start))
		p, f, ok, err := s.find(pos, hdr, func(f frame) bool { return f.next() > start && f.maxTs >= ts })
		if err != nil {
			return nil, false, err
		}
		if ok {
			b, err := s.bytes(p, f.size)
			return b, err == nil, err
		}
	}
	return nil, false, nil
}

// MaxTimestampBatch implements Log.
func (l *segLog) MaxTimestampBatch() ([]byte, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, false, ErrClosed
	}
	start := l.start.Load()
	hdr := make([]byte, batch.HeaderSize)
	var (
		best    *segment
		bestTs  int64 = -1
		bestOff int64 = -1
	)
	for i := l.segIndex(start); i < len(l.segs); i++ {
		s := l.segs[i]
		ts, off := s.maxTs, s.maxTsOff
		if off >= 0 && off < start {
			// The segment's maximum sits in a batch below the log start
			// offset: find the maximum of what is left.
			ts, off = -1, -1
			_, _, _, err := s.find(s.lookup(start), hdr, func(f frame) bool {
				if f.next() > start && f.maxTs > ts {
					ts, off = f.maxTs, f.last
				}
				return false
			})
			if err != nil {
				return nil, false, err
			}
		}
		if off >= 0 && ts > bestTs {
			best, bestTs, bestOff = s, ts, off
		}
	}
	if best == nil {
		return nil, false, nil
	}
	p, f, ok, err := best.find(best.lookup(bestOff), hdr, func(f frame) bool { return f.last >= bestOff })
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, fmt.Errorf("%w: segment %d: no batch holds offset %d of its max timestamp", ErrCorruptLog, best.base, bestOff)
	}
	b, err := best.bytes(p, f.size)
	return b, err == nil, err
}

// Scan implements Log.
func (l *segLog) Scan(from int64, fn func(b []byte) error) error {
	from = max(from, l.StartOffset())
	for {
		b, err := l.Read(from, scanChunk, math.MaxInt64)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		for len(b) > 0 {
			h, err := batch.ParseHeader(b)
			if err != nil {
				return fmt.Errorf("%w: scanning at offset %d: %v", ErrCorruptLog, from, err)
			}
			n := h.Size()
			if err := fn(b[:n:n]); err != nil {
				return err
			}
			from = h.NextOffset()
			b = b[n:]
		}
	}
}

// ApplyRetention implements Log.
func (l *segLog) ApplyRetention(now time.Time) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	last := len(l.segs) - 1
	n := 0
	if ms := l.cfg.RetentionMs; ms >= 0 || ms == RetainNothing {
		limit := now.Add(-max(ms, 0)).UnixMilli()
		for n < last && l.segs[n].retentionTs() < limit {
			n++
		}
	}
	if rb := l.cfg.RetentionBytes; rb >= 0 || rb == RetainNothing {
		diff := l.size.Load() - max(rb, 0)
		for _, s := range l.segs[:n] {
			diff -= s.size
		}
		for n < last && diff-l.segs[n].size >= 0 {
			diff -= l.segs[n].size
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := l.be.changing(); err != nil {
		return 0, fmt.Errorf("logstore: %w", err)
	}
	l.mu.Lock()
	removed := l.detachLocked(n, nil)
	if b := l.segs[0].base; b > l.start.Load() {
		l.start.Store(b)
	}
	l.mu.Unlock()
	return n, removeSegments(removed)
}

// Reconfigure implements Log.
func (l *segLog) Reconfigure(cfg Config) {
	cfg = cfg.withDefaults()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.wmu.Lock()
	if l.closed {
		l.wmu.Unlock()
		return
	}
	l.tickLocked(l.cfg.Clock()) // ticks of the old policy up to now
	old := l.cfg.Fsync
	l.cfg = cfg
	l.jitterOf = nil // the next roll check draws with the new settings
	if old != cfg.Fsync {
		l.tickBase = cfg.Clock()
	}
	l.wmu.Unlock()
	if old != cfg.Fsync {
		l.stopSyncerLocked()
		l.startSyncerLocked(cfg.Fsync)
	}
}

// Sync implements Log.
func (l *segLog) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.syncLocked()
}

func (l *segLog) syncLocked() error {
	if !l.dirty {
		return nil
	}
	s := l.active()
	if err := s.data.sync(); err != nil {
		return fmt.Errorf("logstore: syncing segment %d: %w", s.base, err)
	}
	s.markSynced()
	l.dirty = false
	return nil
}

// startSyncerLocked starts the background fsync goroutine if p asks for
// one. Called with syncMu held.
func (l *segLog) startSyncerLocked(p FsyncPolicy) {
	d := p.interval()
	if d <= 0 || !l.be.durable() {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	l.stopSync, l.syncDone = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
					l.logger.Warn("logstore: periodic fsync failed", "err", err)
				}
			}
		}
	}()
}

// stopSyncerLocked stops the background fsync goroutine and waits for it.
// Called with syncMu held, never with wmu.
func (l *segLog) stopSyncerLocked() {
	if l.stopSync == nil {
		return
	}
	close(l.stopSync)
	<-l.syncDone
	l.stopSync, l.syncDone = nil, nil
}

// Close implements Log.
func (l *segLog) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.stopSyncerLocked()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	var errs []error
	serr := l.syncLocked()
	if serr != nil {
		errs = append(errs, serr)
	}
	if err := l.be.closing(l.active(), serr == nil); err != nil {
		errs = append(errs, fmt.Errorf("logstore: writing indexes of segment %d: %w", l.active().base, err))
	}
	l.mu.Lock()
	for _, s := range l.segs {
		if err := s.data.close(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: closing segment %d: %w", s.base, err))
		}
	}
	l.segs = nil
	l.closed = true
	l.mu.Unlock()
	l.closeSnapshots()
	return errors.Join(errs...)
}

// Delete implements Log.
func (l *segLog) Delete() error {
	err := l.Close()
	return errors.Join(err, l.be.destroy())
}
