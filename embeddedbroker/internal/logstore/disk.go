package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// File names in a partition directory.
const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"
	tmpExt       = ".tmp"
	// StartOffsetFile is the name of the file holding the log start offset.
	StartOffsetFile = "log-start-offset"
	// CleanShutdownFile is the name of the clean-shutdown marker Close
	// leaves in the directory (Kafka keeps one .kafka_cleanshutdown per log
	// directory; this log keeps one per partition). See the package
	// documentation.
	CleanShutdownFile = "clean-shutdown"
	// SwapFile records a segment rewrite being swapped in (see Rewrite in
	// the package documentation): "base end", the replacement's base
	// offset and the offset the replaced segments end at.
	SwapFile = "rewrite-swap"
	// cleanedExt suffixes the files of a replacement segment until the
	// swap gives them their final names.
	cleanedExt = ".cleaned"

	offsetEntrySize = 8
	timeEntrySize   = 12
	baseDigits      = 20
)

// OpenDisk opens the log in dir, creating the directory and an empty log at
// offset 0 if needed, and recovers it after a crash (see the package
// documentation): sealed segments are trusted, their index files rebuilt if
// missing or inconsistent; the last segment is checked batch by batch and
// cut at the first damage, which is logged as a warning on logger (nil
// discards). The log start offset is the larger of the saved one and the
// first segment's base offset. With an FsyncInterval policy a background
// goroutine runs until Close.
//
// OpenDisk removes leftover temporary files and index files without a log
// file. It does not lock the directory: opening it twice corrupts it.
//
// Creating a log fsyncs nothing and creates no file but its directory: a
// new segment's .log file appears with its first write, and the directory
// entries are made durable by the first fsync of the log's data (see
// Log.Sync), as Kafka's LocalLog.flush does; opening an existing log does
// the same, since the process that wrote it may have crashed before. An
// empty log lost in a crash comes back empty, or not at all and is created
// again.
//
// Segment files are opened through a FilePool (WithFilePool), on demand:
// opening a log opens none of its sealed segments' files.
func OpenDisk(dir string, cfg Config, logger *slog.Logger, opts ...DiskOption) (Log, error) {
	if logger == nil {
		logger = discardLogger()
	}
	logger = logger.With("dir", dir)
	cfg = cfg.withDefaults()
	var o diskOptions
	for _, opt := range opts {
		opt.applyDisk(&o)
	}
	if o.files == nil {
		o.files = NewFilePool(0)
	}
	created, err := makeDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	// The directory's entries, and its own in its parent, are taken as
	// not durable yet, whether OpenDisk created it or a process that
	// crashed did: the first fsync of data will fsync them.
	be := &diskBackend{dir: dir, files: o.files, dirDirty: true}
	be.parentTicket = o.files.dirs.created(filepath.Dir(dir))
	l := newLog(be, cfg, logger)
	snaps := &dirSnapshots{dir: dir}
	l.snaps = snaps
	if created {
		snaps.listed = true // a new directory holds no snapshot
		err = be.initEmpty(l)
	} else {
		err = be.load(l, snaps)
	}
	if err != nil {
		for _, s := range l.segs {
			_ = s.data.close()
		}
		return nil, err
	}
	l.syncMu.Lock()
	l.startSyncerLocked(cfg.Fsync)
	l.syncMu.Unlock()
	return l, nil
}

// DiskOption configures OpenDisk.
type DiskOption interface{ applyDisk(*diskOptions) }

type diskOptions struct{ files *FilePool }

type diskOptionFunc func(*diskOptions)

func (f diskOptionFunc) applyDisk(o *diskOptions) { f(o) }

// WithFilePool opens the log's segment files through p, which bounds the
// files open at once across every log sharing it. Nil (the default) gives
// the log a pool of its own, of DefaultFilePoolLimit files.
func WithFilePool(p *FilePool) DiskOption {
	return diskOptionFunc(func(o *diskOptions) { o.files = p })
}

// makeDir creates dir if it does not exist, reporting whether it did.
func makeDir(dir string) (created bool, err error) {
	err = os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, err
}

// diskBackend stores a log in the files of one directory. Its fields
// change under the log's wmu.
type diskBackend struct {
	dir   string
	files *FilePool

	// dirDirty says files may have been created in dir since it was last
	// fsynced; parentTicket, when not 0, that dir's entry in its parent may
	// not be durable yet (see dirSyncs). The next fsync of the log's data
	// fsyncs them (syncEntries), so that no fsynced byte sits in a file
	// whose name a crash can lose.
	dirDirty     bool
	parentTicket uint64

	// savedStart is the log start offset the log-start-offset file durably
	// holds, when hasSavedStart; startDirty says a saveStart failed after it
	// may have replaced the file without making that durable, so Crash puts
	// the durable value back.
	savedStart    int64
	hasSavedStart bool
	startDirty    bool

	// marker says a clean-shutdown marker is in the directory and
	// describes the files: it was found valid at open and nothing changed
	// since. changing removes it, durably, before the first change.
	marker bool
	// trustedActive says the open took the active segment from the marker
	// instead of reading it (for tests).
	trustedActive bool
}

func (d *diskBackend) path(base int64, ext string) string {
	return filepath.Join(d.dir, fmt.Sprintf("%0*d%s", baseDigits, base, ext))
}

func (d *diskBackend) durable() bool { return true }

func (d *diskBackend) create(base int64) (segData, error) { return d.createSeg(base, false) }

// createSeg starts a new, empty segment at base. Its .log file is created
// by its first write (an empty segment is never read), and the directory
// is fsynced by syncEntries at the first fsync that counts: a log created
// and left empty costs its directory and nothing more. In a directory known
// to be empty (fresh), there are no stale index files to remove first.
func (d *diskBackend) createSeg(base int64, fresh bool) (segData, error) {
	if !fresh {
		// Index files of an older segment with the same base must not outlive it.
		for _, ext := range []string{indexExt, timeIndexExt} {
			if err := os.Remove(d.path(base, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	s := &fileSeg{d: d, base: base}
	s.h.init(d.files, s, true)
	d.dirDirty = true
	return s, nil
}

// openSeg returns the data of the existing segment at base, not opened yet.
func (d *diskBackend) openSeg(base int64) *fileSeg {
	s := &fileSeg{d: d, base: base, indexFiles: true}
	s.h.init(d.files, s, false)
	return s
}

// initEmpty sets up the empty log of a directory OpenDisk just created:
// nothing to list, recover or read.
func (d *diskBackend) initEmpty(l *segLog) error {
	data, err := d.createSeg(0, true)
	if err != nil {
		return fmt.Errorf("logstore: creating segment 0: %w", err)
	}
	l.segs = []*segment{newSegment(0, data)}
	return nil
}

// syncEntries fsyncs the directory if files were created in it since its
// last fsync, as Kafka's LocalLog.flush fsyncs the partition directory when
// a flush first covers a new segment, and its parent if OpenDisk created
// it and no fsync of the parent has covered that yet (one fsync of the
// parent covers every log created in it before, see dirSyncs).
func (d *diskBackend) syncEntries() error {
	if d.parentTicket != 0 {
		if err := d.files.dirs.sync(d.files, filepath.Dir(d.dir), d.parentTicket); err != nil {
			return err
		}
		d.parentTicket = 0
	}
	if !d.dirDirty {
		return nil
	}
	if err := syncDirVia(d.files, d.dir); err != nil {
		return err
	}
	d.dirDirty = false
	return nil
}

// sealed fsyncs the segment's data, then writes and fsyncs its index files
// and the directory, all before the next segment exists, so that after a
// crash a sealed segment is complete and its index files can be trusted.
func (d *diskBackend) sealed(s *segment) error {
	seg := s.data.(*fileSeg)
	if err := seg.syncData(); err != nil {
		return err
	}
	if err := d.writeIndexes(s, true); err != nil {
		return err
	}
	if err := d.syncEntries(); err != nil {
		seg.indexSynced = false
		return err
	}
	return nil
}

// closing leaves the active segment's index files and, when its data is
// durable, the clean-shutdown marker behind (see cleanMarker). Close
// fsynced what was appended since the open; what the files held at open is
// taken as durable, as everywhere in this package. Nothing is written when
// the marker found at open still describes the files.
func (d *diskBackend) closing(s *segment, synced bool) error {
	if d.marker {
		return nil
	}
	ib, tb := indexBytes(s)
	if seg, ok := s.data.(*fileSeg); !ok || len(ib) > 0 || len(tb) > 0 || seg.indexFiles {
		// (A segment whose indexes are empty, a small one, and that
		// never had index files gets none: the marker says they are
		// empty, and an open after a crash rebuilds them anyway. On a
		// slow file system two file creations per log are most of what
		// closing thousands of small logs costs.)
		if err := d.writeIndexFiles(s, ib, tb, false); err != nil {
			return err
		}
	}
	if !synced || (s.size == 0 && s.base == 0) {
		// (A log never written to opens as fast without a marker:
		// its directory holds nothing to recover.)
		return nil
	}
	m := cleanMarker{base: s.base, size: s.size, next: s.next, lastPos: -1,
		maxTs: s.maxTs, maxTsOff: s.maxTsOff, firstTs: s.firstTs,
		indexLen: uint32(len(ib)), timeIndexLen: uint32(len(tb)),
		indexCRC: crc32.Checksum(ib, castagnoli), timeIndexCRC: crc32.Checksum(tb, castagnoli)}
	if s.size > 0 {
		hdr := make([]byte, batch.HeaderSize)
		pos, _, ok, err := s.find(s.lookup(s.next-1), hdr, func(f frame) bool { return f.next() == s.next })
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: segment %d: no batch ends at offset %d", ErrCorruptLog, s.base, s.next)
		}
		m.lastPos = pos
	}
	// Not fsynced, nor the index files: what a power loss leaves fails
	// the marker's checks and the next open recovers as after a crash.
	return writeFileVia(d.files, filepath.Join(d.dir, CleanShutdownFile), m.encode(), false)
}

// changing removes the clean-shutdown marker, durably, before the files
// change.
func (d *diskBackend) changing() error {
	if !d.marker {
		return nil
	}
	if err := os.Remove(filepath.Join(d.dir, CleanShutdownFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the clean-shutdown marker: %w", err)
	}
	if err := syncDirVia(d.files, d.dir); err != nil {
		return fmt.Errorf("removing the clean-shutdown marker: %w", err)
	}
	d.marker = false
	return nil
}

// writeIndexes writes the segment's index files, recording whether they
// are durable (Crash removes those that are not).
func (d *diskBackend) writeIndexes(s *segment, fsync bool) error {
	ib, tb := indexBytes(s)
	return d.writeIndexFiles(s, ib, tb, fsync)
}

func (d *diskBackend) writeIndexFiles(s *segment, ib, tb []byte, fsync bool) (err error) {
	if seg, ok := s.data.(*fileSeg); ok {
		seg.indexSynced, seg.indexFiles = false, true
		defer func() { seg.indexSynced = err == nil && fsync }()
	}
	if fsync {
		// Their entries must be durable too (the caller syncs them); those
		// of the active segment's files written at Close need not be, as
		// recovery never trusts them.
		d.dirDirty = true
	}
	if err := writeFileVia(d.files, d.path(s.base, indexExt), ib, fsync); err != nil {
		return err
	}
	return writeFileVia(d.files, d.path(s.base, timeIndexExt), tb, fsync)
}

// indexBytes encodes the segment's offset and time indexes as their files
// hold them.
func indexBytes(s *segment) (ib, tb []byte) {
	ib = make([]byte, 0, offsetEntrySize*len(s.index))
	for _, e := range s.index {
		ib = binary.BigEndian.AppendUint32(ib, e.rel)
		ib = binary.BigEndian.AppendUint32(ib, e.pos)
	}
	tb = make([]byte, 0, timeEntrySize*len(s.tindex))
	for _, e := range s.tindex {
		tb = binary.BigEndian.AppendUint64(tb, uint64(e.ts))
		tb = binary.BigEndian.AppendUint32(tb, e.rel)
	}
	return ib, tb
}

// saveStart writes the log start offset through a temporary file and a
// rename, so that the file always holds a whole value.
func (d *diskBackend) saveStart(off int64) error {
	d.startDirty = true
	if err := d.writeStart(off); err != nil {
		return err
	}
	d.savedStart, d.hasSavedStart, d.startDirty = off, true, false
	return nil
}

func (d *diskBackend) writeStart(off int64) error {
	final := filepath.Join(d.dir, StartOffsetFile)
	tmp := final + tmpExt
	if err := writeFileVia(d.files, tmp, []byte(strconv.FormatInt(off, 10)+"\n"), true); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	d.dirDirty = true
	return d.syncEntries()
}

// loadStart reads the saved log start offset; ok=false when there is none.
func (d *diskBackend) loadStart() (off int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(d.dir, StartOffsetFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	off, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || off < 0 {
		return 0, false, fmt.Errorf("malformed %s %q", StartOffsetFile, b)
	}
	return off, true, nil
}

func (d *diskBackend) destroy() error { return os.RemoveAll(d.dir) }

// load lists, opens and recovers the segments of the directory into l,
// and hands snaps the snapshots it lists.
func (d *diskBackend) load(l *segLog, snaps *dirSnapshots) error {
	if err := d.recoverSwap(l.logger); err != nil {
		return fmt.Errorf("logstore: finishing an interrupted rewrite: %w", err)
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	var bases []int64
	var indexFiles []string
	snaps.listed = true
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if off, ok := snapshotName(e); ok {
			snaps.seen(off)
			continue
		}
		if strings.HasSuffix(name, tmpExt) || strings.HasSuffix(name, cleanedExt) {
			// A temporary file, or a rewrite's that never committed.
			_ = os.Remove(filepath.Join(d.dir, name))
			continue
		}
		ext := filepath.Ext(name)
		base, ok := parseBase(strings.TrimSuffix(name, ext))
		switch {
		case !ok:
		case ext == logExt:
			bases = append(bases, base)
		case ext == indexExt || ext == timeIndexExt:
			indexFiles = append(indexFiles, name)
		}
	}
	slices.Sort(bases)
	for _, name := range indexFiles {
		base, _ := parseBase(strings.TrimSuffix(name, filepath.Ext(name)))
		if _, found := slices.BinarySearch(bases, base); !found {
			_ = os.Remove(filepath.Join(d.dir, name))
		}
	}

	for _, base := range bases {
		st, err := os.Stat(d.path(base, logExt))
		if err != nil {
			return fmt.Errorf("logstore: %w", err)
		}
		s := newSegment(base, d.openSeg(base))
		s.size = st.Size()
		s.modified = st.ModTime()
		l.segs = append(l.segs, s)
	}
	clean, err := d.useMarker(l)
	if err != nil {
		return err
	}
	if err := d.recover(l, clean); err != nil {
		return err
	}
	for _, s := range l.segs {
		s.markSynced() // what the files hold at open is taken as durable
	}

	start, saved, err := d.loadStart()
	if err != nil {
		l.logger.Warn("logstore: ignoring unreadable log start offset", "err", err)
	}
	d.savedStart, d.hasSavedStart = start, saved
	if len(l.segs) == 0 {
		data, err := d.create(start)
		if err != nil {
			return fmt.Errorf("logstore: creating segment %d: %w", start, err)
		}
		l.segs = []*segment{newSegment(start, data)}
	}
	if !saved || start < l.segs[0].base {
		start = l.segs[0].base
	}
	var size int64
	for _, s := range l.segs {
		size += s.size
	}
	l.size.Store(size)
	l.start.Store(start)
	end := l.active().next
	l.end.Store(end)

	switch last := l.active(); {
	case start > end || (start == end && last.size > 0):
		// Everything below the saved start offset is gone (DeleteRecords
		// to the end, or data lost in a crash): start empty there.
		l.logger.Warn("logstore: log start offset is at or past the recovered end; starting empty", "startOffset", start, "endOffset", end)
		if err := d.changing(); err != nil {
			return fmt.Errorf("logstore: %w", err)
		}
		if err := l.resetLocked(start); err != nil {
			return err
		}
	default:
		// Finish deletions a crash interrupted.
		n := 0
		for n < len(l.segs)-1 && l.segs[n].next <= start {
			n++
		}
		if n > 0 {
			if err := d.changing(); err != nil {
				return fmt.Errorf("logstore: %w", err)
			}
		}
		if err := removeSegments(l.detachLocked(n, nil)); err != nil {
			return err
		}
	}
	// Snapshots of data a crash lost describe a log that is no more.
	return l.removeSnapshotsAboveLocked(l.end.Load())
}

// useMarker reads the clean-shutdown marker and checks it against the
// last segment: the segment's base, size and index files, and its last
// batch (framing, offsets and CRC), which is all it reads of the data.
// It returns the marker when the open can trust it, and otherwise
// removes it, durably, before recovery changes anything. A marker that
// does not match is logged as a warning.
func (d *diskBackend) useMarker(l *segLog) (*cleanMarker, error) {
	path := filepath.Join(d.dir, CleanShutdownFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var m *cleanMarker
	if err == nil {
		m, err = decodeCleanMarker(b)
	}
	if err == nil {
		switch {
		case len(l.segs) > 0:
			err = d.checkMarker(l.active(), m)
		case m.size != 0 || m.next != m.base:
			err = errors.New("no segment")
		default:
			// An empty active segment has no file (its .log is created
			// by its first write): the marker says it is all there is.
			d.trustedActive = true
		}
	}
	if err == nil {
		d.marker = true
		return m, nil
	}
	l.logger.Warn("logstore: clean-shutdown marker does not match the files; recovering as after a crash", "err", err)
	d.marker = true // there: remove it
	if err := d.changing(); err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	return nil, nil
}

// checkMarker checks the marker m against the last segment s, whose size
// is that of its file, and loads the segment's state from m and its index
// files when they match.
func (d *diskBackend) checkMarker(s *segment, m *cleanMarker) error {
	if s.base != m.base || s.size != m.size {
		return fmt.Errorf("marker for segment %d of %d bytes; last segment %d has %d", m.base, m.size, s.base, s.size)
	}
	if m.size == 0 {
		if m.next != m.base {
			return fmt.Errorf("empty segment %d ending at offset %d", m.base, m.next)
		}
		return nil
	}
	if m.lastPos < 0 || m.lastPos+batch.HeaderSize > m.size || m.next <= m.base {
		return fmt.Errorf("last batch at position %d, end offset %d: impossible for segment %d of %d bytes", m.lastPos, m.next, m.base, m.size)
	}
	last := make([]byte, m.size-m.lastPos)
	if err := s.data.readAt(last, m.lastPos); err != nil {
		return fmt.Errorf("reading the last batch: %w", err)
	}
	h, err := batch.ParseHeader(last)
	switch {
	case err != nil:
		return fmt.Errorf("last batch: %w", err)
	case h.Size() != len(last):
		return fmt.Errorf("last batch of %d bytes at position %d, segment ends %d bytes after", h.Size(), m.lastPos, len(last))
	case h.NextOffset() != m.next:
		return fmt.Errorf("last batch ends at offset %d, marker says %d", h.NextOffset(), m.next)
	case batch.CRC(last) != h.CRC:
		return fmt.Errorf("last batch: CRC %#08x, computed %#08x", h.CRC, batch.CRC(last))
	}
	var ib, tb []byte
	if m.indexLen > 0 || m.timeIndexLen > 0 {
		// (Empty indexes, those of a small segment, need no reading.)
		var err error
		if ib, err = os.ReadFile(d.path(s.base, indexExt)); err != nil {
			return err
		}
		if tb, err = os.ReadFile(d.path(s.base, timeIndexExt)); err != nil {
			return err
		}
		if len(ib) != int(m.indexLen) || len(tb) != int(m.timeIndexLen) ||
			crc32.Checksum(ib, castagnoli) != m.indexCRC || crc32.Checksum(tb, castagnoli) != m.timeIndexCRC {
			return errors.New("index files differ from those written at Close")
		}
	}
	if !d.parseIndexes(s, ib, tb, m.next) {
		return errors.New("index files inconsistent with the segment")
	}
	s.maxTs, s.maxTsOff, s.firstTs = m.maxTs, m.maxTsOff, m.firstTs
	s.sinceIndex = s.size
	if n := len(s.index); n > 0 {
		s.sinceIndex = s.size - int64(s.index[n-1].pos)
	}
	return nil
}

// cleanMarker is the content of the clean-shutdown marker: what the open
// needs of the active segment, which it then need not read. Encoded big
// endian as a version (int16, 1), base, size, next (end offset), lastPos
// (position of the last batch, -1 when empty), maxTs, maxTsOff, firstTs
// (int64 each), the length and CRC-32C of the .index and of the
// .timeindex file (uint32 each) and a CRC-32C of all that (uint32).
type cleanMarker struct {
	base, size, next, lastPos int64
	maxTs, maxTsOff, firstTs  int64
	indexLen, timeIndexLen    uint32
	indexCRC, timeIndexCRC    uint32
}

const cleanMarkerSize = 2 + 7*8 + 5*4

func (m *cleanMarker) encode() []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, cleanMarkerSize), 1)
	for _, v := range []int64{m.base, m.size, m.next, m.lastPos, m.maxTs, m.maxTsOff, m.firstTs} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, v := range []uint32{m.indexLen, m.timeIndexLen, m.indexCRC, m.timeIndexCRC} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCleanMarker(b []byte) (*cleanMarker, error) {
	if len(b) != cleanMarkerSize {
		return nil, fmt.Errorf("marker of %d bytes, want %d", len(b), cleanMarkerSize)
	}
	if crc := crc32.Checksum(b[:cleanMarkerSize-4], castagnoli); crc != binary.BigEndian.Uint32(b[cleanMarkerSize-4:]) {
		return nil, fmt.Errorf("marker CRC %#08x, computed %#08x", binary.BigEndian.Uint32(b[cleanMarkerSize-4:]), crc)
	}
	if v := binary.BigEndian.Uint16(b); v != 1 {
		return nil, fmt.Errorf("marker version %d", v)
	}
	var v [7]int64
	for i := range v {
		v[i] = int64(binary.BigEndian.Uint64(b[2+8*i:]))
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(b[58+4*i:]) }
	return &cleanMarker{base: v[0], size: v[1], next: v[2], lastPos: v[3], maxTs: v[4], maxTsOff: v[5], firstTs: v[6],
		indexLen: u(0), timeIndexLen: u(1), indexCRC: u(2), timeIndexCRC: u(3)}, nil
}

// recover rebuilds what needs rebuilding and cuts the log at the first
// damage, as the package documentation describes. With clean, the
// clean-shutdown marker checkMarker accepted, the last segment is taken as
// it describes.
func (d *diskBackend) recover(l *segLog, clean *cleanMarker) error {
	interval := l.cfg.IndexIntervalBytes
	now := l.cfg.Clock()
	for i := 0; i < len(l.segs); i++ {
		s := l.segs[i]
		last := i == len(l.segs)-1
		if !last && d.loadIndexes(s, l.segs[i+1].base) {
			continue
		}
		if last && clean != nil {
			d.trustedActive = true
			if s.size > 0 {
				s.firstAppend = now // unknown: restart the roll-by-time clock, as Kafka does
			}
			continue
		}
		fileSize := s.size
		err := s.rebuild(fileSize, true, interval)
		if err != nil && !errors.Is(err, errDamage) {
			return fmt.Errorf("logstore: recovering segment %d: %w", s.base, err)
		}
		if s.size > 0 {
			s.firstAppend = now // unknown: restart the roll-by-time clock, as Kafka does
		}
		damage := err
		dropLater := damage != nil
		if !last && damage == nil && s.next < l.segs[i+1].base {
			// A gap before the next segment: a rewrite (compaction)
			// removed the last batches; the segment still covers the
			// offsets up to the next one.
			s.next = l.segs[i+1].base
		}
		if !last && s.next != l.segs[i+1].base {
			dropLater = true
			if damage == nil {
				damage = fmt.Errorf("segment ends at offset %d but the next one starts at %d", s.next, l.segs[i+1].base)
			}
		}
		if damage == nil {
			if !last {
				if err := d.writeIndexes(s, true); err != nil {
					return fmt.Errorf("logstore: rewriting indexes of segment %d: %w", s.base, err)
				}
			}
			continue
		}

		if err := d.changing(); err != nil {
			return fmt.Errorf("logstore: %w", err)
		}
		var later []*segment
		if dropLater {
			later = l.segs[i+1:]
			l.segs = l.segs[:i+1]
		}
		l.logger.Warn("logstore: damaged log segment truncated",
			"segment", d.path(s.base, logExt),
			"position", s.size,
			"droppedBytes", fileSize-s.size,
			"droppedSegments", len(later),
			"endOffset", s.next,
			"reason", damage)
		for j := len(later) - 1; j >= 0; j-- {
			if err := later[j].data.remove(); err != nil {
				return fmt.Errorf("logstore: removing segment %d: %w", later[j].base, err)
			}
		}
		if err := s.data.truncate(s.size); err != nil {
			return fmt.Errorf("logstore: truncating segment %d: %w", s.base, err)
		}
		if err := s.data.sync(); err != nil {
			return fmt.Errorf("logstore: syncing segment %d: %w", s.base, err)
		}
		if !dropLater {
			if err := d.writeIndexes(s, true); err != nil {
				return fmt.Errorf("logstore: rewriting indexes of segment %d: %w", s.base, err)
			}
		}
	}
	return nil
}

// loadIndexes loads a sealed segment's index files if they are consistent
// with its data and with nextBase, the next segment's base offset.
func (d *diskBackend) loadIndexes(s *segment, nextBase int64) bool {
	ib, err := os.ReadFile(d.path(s.base, indexExt))
	if err != nil {
		return false
	}
	tb, err := os.ReadFile(d.path(s.base, timeIndexExt))
	if err != nil {
		return false
	}
	return d.parseIndexes(s, ib, tb, nextBase)
}

// parseIndexes loads a segment's index files' bytes ib and tb if they are
// consistent with its data and with nextBase, the offset after it.
func (d *diskBackend) parseIndexes(s *segment, ib, tb []byte, nextBase int64) bool {
	if len(ib)%offsetEntrySize != 0 || len(tb)%timeEntrySize != 0 {
		return false
	}
	span := nextBase - s.base
	if span <= 0 || s.size == 0 || span-1 > 1<<32-1 {
		return false
	}
	index := make([]offsetEntry, 0, len(ib)/offsetEntrySize)
	for p := 0; p < len(ib); p += offsetEntrySize {
		e := offsetEntry{rel: binary.BigEndian.Uint32(ib[p:]), pos: binary.BigEndian.Uint32(ib[p+4:])}
		if int64(e.rel) >= span || int64(e.pos) >= s.size {
			return false
		}
		if n := len(index); n > 0 && (e.rel <= index[n-1].rel || e.pos <= index[n-1].pos) {
			return false
		}
		index = append(index, e)
	}
	tindex := make([]timeEntry, 0, len(tb)/timeEntrySize)
	for p := 0; p < len(tb); p += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(tb[p:])), rel: binary.BigEndian.Uint32(tb[p+8:])}
		if e.ts < 0 || int64(e.rel) >= span {
			return false
		}
		if n := len(tindex); n > 0 && (e.ts <= tindex[n-1].ts || e.rel < tindex[n-1].rel) {
			return false
		}
		tindex = append(tindex, e)
	}
	s.index, s.tindex = index, tindex
	s.next = nextBase
	if seg, ok := s.data.(*fileSeg); ok {
		seg.indexSynced = true // there at open: taken as durable, like the data
	}
	if n := len(tindex); n > 0 {
		s.maxTs, s.maxTsOff = tindex[n-1].ts, s.base+int64(tindex[n-1].rel)
	}
	return true
}

// parseBase parses a segment file name's base offset.
func parseBase(s string) (int64, bool) {
	if len(s) != baseDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// fileSeg is a segment's .log file, opened through the log's FilePool on
// demand. Writes go to explicit positions, so a failed partial write is
// simply overwritten by the next one.
type fileSeg struct {
	h    pooledFile
	d    *diskBackend
	base int64
	// cleaned says the file still has its replacement name (a Rewrite's
	// segment before its swap; see rewrite_disk.go).
	cleaned atomic.Bool
	// truncs counts the truncations of the file, so that a FileRecords
	// can tell whether its range still holds what it was read with.
	truncs atomic.Uint64
	// indexSynced says the segment's index files were last written with
	// an fsync (or were found at open); indexFiles that index files may
	// exist (not for a segment created empty since). Changed under the
	// log's wmu.
	indexSynced, indexFiles bool
}

// name implements namer: the .log file's name, for the pool.
func (s *fileSeg) name() string {
	if s.cleaned.Load() {
		return s.d.path(s.base, logExt+cleanedExt)
	}
	return s.d.path(s.base, logExt)
}

func (s *fileSeg) pin() error {
	_, err := s.h.acquire()
	return err
}

func (s *fileSeg) unpin() { s.h.release() }

func (s *fileSeg) write(b []byte, pos int64) error {
	f, err := s.h.acquire()
	if err != nil {
		return err
	}
	defer s.h.release()
	_, err = f.WriteAt(b, pos)
	return err
}

func (s *fileSeg) readAt(p []byte, pos int64) error {
	f, err := s.h.acquire()
	if err != nil {
		return err
	}
	defer s.h.release()
	n, err := f.ReadAt(p, pos)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (s *fileSeg) view(int64, int64) ([]byte, bool) { return nil, false }

func (s *fileSeg) truncate(size int64) error {
	f, err := s.h.acquire()
	if err != nil {
		return err
	}
	defer s.h.release()
	s.truncs.Add(1) // before: a FileRecords checked after the truncation sees it
	return f.Truncate(size)
}

// dup returns a descriptor of its own on the file, for a FileRecords. The
// caller has pinned the file.
func (s *fileSeg) dup() (*os.File, error) {
	f, err := s.h.acquire()
	if err != nil {
		return nil, err
	}
	defer s.h.release()
	return dupFile(f)
}

// syncData fsyncs the file's data, not its directory entry.
func (s *fileSeg) syncData() error {
	f, err := s.h.acquire()
	if err != nil {
		return err
	}
	defer s.h.release()
	return f.Sync()
}

// sync fsyncs the data and, first time round, the directory entries that
// make the file reachable.
func (s *fileSeg) sync() error {
	if err := s.syncData(); err != nil {
		return err
	}
	return s.d.syncEntries()
}

func (s *fileSeg) close() error { return s.h.close() }

func (s *fileSeg) remove() error {
	errs := []error{s.h.close()}
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if err := os.Remove(s.d.path(s.base, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeFile writes b to name, replacing it, optionally fsyncing, outside
// any FilePool (see writeFileVia).
func writeFile(name string, b []byte, fsync bool) error { return writeFileVia(nil, name, b, fsync) }

// writeFileVia is writeFile with the file counted against pool p (nil:
// none) while open.
func writeFileVia(p *FilePool, name string, b []byte, fsync bool) error {
	f, err := p.openTransient(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && fsync {
		err = f.Sync()
	}
	return errors.Join(err, p.closeTransient(f))
}

// syncDir fsyncs a directory so that created, renamed and removed entries
// are durable, outside any FilePool (see syncDirVia).
func syncDir(dir string) error { return syncDirVia(nil, dir) }

// syncDirVia is syncDir with the directory counted against pool p (nil:
// none) while open.
func syncDirVia(p *FilePool, dir string) error {
	f, err := p.openTransient(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, p.closeTransient(f))
}
