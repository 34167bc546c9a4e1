package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// State snapshots.
//
// A log keeps, beside its segments, a few snapshots of state its owner
// derives from it (the broker's producer state, transaction state and
// leader epoch cache), each as of an offset: the state after reading the
// log up to that offset. The owner rebuilds its state at open from the
// newest snapshot and the log after its offset instead of the whole log,
// as Kafka does with its .snapshot files. The log does not interpret the
// bytes; it keeps them consistent with its data:
//
//   - a snapshot is never above the log end offset: Truncate and
//     TruncateFully delete those they cut below, and so do a crash and the
//     recovery at open, so that data appended again at those offsets is
//     never paired with a snapshot of other data;
//   - a snapshot taken before a truncation is refused when written after it
//     (the SnapshotPoint is stale);
//   - snapshots below the log start offset, and all but the newest
//     snapshotsKept, are deleted when a snapshot is written.
//
// On disk a snapshot is <offset %020d>.snapshot, written to a temporary
// file, fsynced, renamed into place and the directory fsynced. Its
// 18-byte header holds a format version (int16, 1), the offset (int64), the
// length of the owner's bytes (uint32) and a CRC-32C (uint32) of the header
// fields before it and the owner's bytes, all big endian. A file whose
// name, header or checksum do not match is skipped (and deleted) by
// LoadSnapshot, which then falls back to an older one. The memory log keeps
// its snapshots in memory; they survive Crash like fsynced data.

const (
	snapshotExt = ".snapshot"
	// snapshotsKept is how many snapshots a log keeps: the newest, and one
	// to fall back to if the newest turns out unreadable.
	snapshotsKept      = 2
	snapshotVersion    = 1
	snapshotHeaderSize = 2 + 8 + 4 + 4
)

// ErrSnapshotStale means a snapshot's point was overtaken: the log was
// truncated since the point was taken, or its start offset moved past it,
// or the log was closed. The snapshot is not stored; the caller takes
// another at a later point.
var ErrSnapshotStale = errors.New("logstore: snapshot point is stale")

// errCorruptSnapshot marks a snapshot file that does not hold what its
// name and header say.
var errCorruptSnapshot = errors.New("corrupt snapshot")

// castagnoli is the CRC-32C table (immutable).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotPoint identifies the log as it stood when a snapshot of state
// derived from it was taken: up to Offset, before any later truncation.
// Take one with Log.SnapshotPoint, or receive one from the roll hook.
type SnapshotPoint struct {
	// Offset is the log end offset the snapshot describes the log up to.
	Offset int64
	gen    uint64
}

// snapshotStore keeps a log's snapshots: files beside the segments, or
// memory. Its methods run with the log's snapMu held.
type snapshotStore interface {
	// list returns the offsets of the stored snapshots, ascending.
	list() ([]int64, error)
	// read returns the owner's bytes of the snapshot at off, checked.
	read(off int64) ([]byte, error)
	write(off int64, data []byte) error
	// remove deletes a snapshot; not durably until sync.
	remove(off int64) error
	// sync makes the removals so far durable.
	sync() error
}

// SnapshotPoint implements Log.
func (l *segLog) SnapshotPoint() SnapshotPoint {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return SnapshotPoint{Offset: l.end.Load(), gen: l.snapGen.Load()}
}

// OnRoll implements Log.
func (l *segLog) OnRoll(fn func(SnapshotPoint)) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.onRoll = fn
}

// WriteSnapshot implements Log.
func (l *segLog) WriteSnapshot(p SnapshotPoint, data []byte) error {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if l.snapClosed {
		return fmt.Errorf("%w: log closed", ErrSnapshotStale)
	}
	start, end := l.start.Load(), l.end.Load()
	switch {
	case p.gen != l.snapGen.Load():
		return fmt.Errorf("%w: the log was truncated after offset %d was taken", ErrSnapshotStale, p.Offset)
	case p.Offset < start || p.Offset > end:
		return fmt.Errorf("%w: offset %d, log spans [%d, %d]", ErrSnapshotStale, p.Offset, start, end)
	}
	if err := l.snaps.write(p.Offset, data); err != nil {
		l.logger.Warn("logstore: writing a state snapshot failed", "offset", p.Offset, "err", err)
		return fmt.Errorf("logstore: writing snapshot at offset %d: %w", p.Offset, err)
	}
	offs, err := l.snaps.list()
	if err != nil {
		return fmt.Errorf("logstore: listing snapshots: %w", err)
	}
	var errs []error
	kept := 0
	for i := len(offs) - 1; i >= 0; i-- {
		if kept < snapshotsKept && offs[i] >= start {
			kept++
			continue
		}
		if err := l.snaps.remove(offs[i]); err != nil {
			errs = append(errs, fmt.Errorf("logstore: removing snapshot %d: %w", offs[i], err))
		}
	}
	return errors.Join(errs...)
}

// LoadSnapshot implements Log.
func (l *segLog) LoadSnapshot(load func(offset int64, data []byte) error) (int64, bool, error) {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if l.snapClosed {
		return 0, false, ErrClosed
	}
	start, end := l.start.Load(), l.end.Load()
	// None can be above the end (truncations and recovery delete them);
	// never trusted all the same.
	if err := l.removeSnapshotsAboveLocked(end); err != nil {
		return 0, false, err
	}
	offs, err := l.snaps.list()
	if err != nil {
		return 0, false, fmt.Errorf("logstore: listing snapshots: %w", err)
	}
	for i := len(offs) - 1; i >= 0; i-- {
		off := offs[i]
		if off >= start {
			data, err := l.snaps.read(off)
			if err == nil {
				if err = load(off, data); err == nil {
					return off, true, nil
				}
			}
			l.logger.Warn("logstore: deleting an unusable state snapshot; falling back to an older one or to the log", "offset", off, "err", err)
		}
		// Unusable, or below the log start offset: it describes data
		// that retention or DeleteRecords removed.
		if err := l.snaps.remove(off); err != nil {
			return 0, false, fmt.Errorf("logstore: removing snapshot %d: %w", off, err)
		}
	}
	if end > start {
		l.logger.Debug("logstore: no usable state snapshot; its owner reads the whole log", "startOffset", start, "endOffset", end)
	}
	return 0, false, nil
}

// dropSnapshotsAbove deletes the snapshots above end and makes the points
// taken so far stale: the log was truncated to end (-1: everything goes).
// Called with wmu held.
func (l *segLog) dropSnapshotsAbove(end int64) error {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	l.snapGen.Add(1)
	return l.removeSnapshotsAboveLocked(end)
}

// removeSnapshotsAboveLocked deletes the snapshots above end. Called with
// snapMu held (or during open).
func (l *segLog) removeSnapshotsAboveLocked(end int64) error {
	offs, err := l.snaps.list()
	if err != nil {
		return fmt.Errorf("logstore: listing snapshots: %w", err)
	}
	var errs []error
	removed := false
	for _, off := range offs {
		if off > end || end < 0 {
			removed = true
			if err := l.snaps.remove(off); err != nil {
				errs = append(errs, fmt.Errorf("logstore: removing snapshot %d: %w", off, err))
			}
		}
	}
	if removed {
		// Durably: data appended again at those offsets must never meet
		// a snapshot that a crash brought back.
		if err := l.snaps.sync(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: removing snapshots: %w", err))
		}
	}
	return errors.Join(errs...)
}

// closeSnapshots refuses every later snapshot write, after waiting for one
// in progress.
func (l *segLog) closeSnapshots() {
	l.snapMu.Lock()
	l.snapClosed = true
	l.snapMu.Unlock()
}

// dirSnapshots keeps snapshots as files in the log's directory. It lists
// the directory once (OpenDisk hands it the listing it made anyway) and
// then keeps the list itself: only this log changes the directory.
type dirSnapshots struct {
	dir  string
	offs []int64 // ascending; valid when listed
	// listed says offs holds the directory's snapshots.
	listed bool
}

func (d *dirSnapshots) path(off int64) string {
	return filepath.Join(d.dir, fmt.Sprintf("%0*d%s", baseDigits, off, snapshotExt))
}

// seen records a snapshot file found by a listing of the directory.
func (d *dirSnapshots) seen(off int64) {
	if i, found := slices.BinarySearch(d.offs, off); !found {
		d.offs = slices.Insert(d.offs, i, off)
	}
}

func (d *dirSnapshots) list() ([]int64, error) {
	if !d.listed {
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			return nil, err
		}
		d.offs = d.offs[:0]
		for _, e := range entries {
			if off, ok := snapshotName(e); ok {
				d.seen(off)
			}
		}
		d.listed = true
	}
	return slices.Clone(d.offs), nil
}

// snapshotName parses a directory entry's name as a snapshot's.
func snapshotName(e fs.DirEntry) (int64, bool) {
	name, ok := strings.CutSuffix(e.Name(), snapshotExt)
	if !ok || e.IsDir() {
		return 0, false
	}
	return parseBase(name)
}

func (d *dirSnapshots) read(off int64) ([]byte, error) {
	b, err := os.ReadFile(d.path(off))
	if err != nil {
		return nil, err
	}
	return decodeSnapshotFile(b, off)
}

func (d *dirSnapshots) write(off int64, data []byte) error {
	final := d.path(off)
	tmp := final + tmpExt
	if err := writeFile(tmp, encodeSnapshotFile(off, data), true); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d.seen(off)
	return syncDir(d.dir)
}

// remove deletes a snapshot file without fsyncing the directory: a
// pruned snapshot a crash brings back is still right (or below the log
// start offset, and pruned again); removals that must last are followed
// by sync.
func (d *dirSnapshots) remove(off int64) error {
	if err := os.Remove(d.path(off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if i, found := slices.BinarySearch(d.offs, off); found {
		d.offs = slices.Delete(d.offs, i, i+1)
	}
	return nil
}

func (d *dirSnapshots) sync() error { return syncDir(d.dir) }

// encodeSnapshotFile frames the owner's bytes with the file header.
func encodeSnapshotFile(off int64, data []byte) []byte {
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(data))
	binary.BigEndian.PutUint16(b[0:], snapshotVersion)
	binary.BigEndian.PutUint64(b[2:], uint64(off))
	binary.BigEndian.PutUint32(b[10:], uint32(len(data)))
	crc := crc32.Update(crc32.Checksum(b[:14], castagnoli), castagnoli, data)
	binary.BigEndian.PutUint32(b[14:], crc)
	return append(b, data...)
}

// decodeSnapshotFile checks a snapshot file's header and checksum against
// the offset its name gives and returns the owner's bytes.
func decodeSnapshotFile(b []byte, off int64) ([]byte, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", errCorruptSnapshot, len(b))
	}
	if v := binary.BigEndian.Uint16(b[0:]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", errCorruptSnapshot, v)
	}
	if got := int64(binary.BigEndian.Uint64(b[2:])); got != off {
		return nil, fmt.Errorf("%w: holds offset %d, named %d", errCorruptSnapshot, got, off)
	}
	if n := binary.BigEndian.Uint32(b[10:]); int64(n) != int64(len(b)-snapshotHeaderSize) {
		return nil, fmt.Errorf("%w: length %d, %d bytes follow the header", errCorruptSnapshot, n, len(b)-snapshotHeaderSize)
	}
	data := b[snapshotHeaderSize:]
	if crc := crc32.Update(crc32.Checksum(b[:14], castagnoli), castagnoli, data); crc != binary.BigEndian.Uint32(b[14:]) {
		return nil, fmt.Errorf("%w: CRC %#08x, computed %#08x", errCorruptSnapshot, binary.BigEndian.Uint32(b[14:]), crc)
	}
	return data, nil
}

// memSnapshots keeps the memory log's snapshots. Guarded by the log's
// snapMu.
type memSnapshots struct{ m map[int64][]byte }

func (s *memSnapshots) list() ([]int64, error) {
	offs := make([]int64, 0, len(s.m))
	for off := range s.m {
		offs = append(offs, off)
	}
	slices.Sort(offs)
	return offs, nil
}

func (s *memSnapshots) read(off int64) ([]byte, error) {
	b, ok := s.m[off]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return b, nil
}

func (s *memSnapshots) write(off int64, data []byte) error {
	if s.m == nil {
		s.m = map[int64][]byte{}
	}
	s.m[off] = slices.Clone(data)
	return nil
}

func (s *memSnapshots) remove(off int64) error {
	delete(s.m, off)
	return nil
}

func (s *memSnapshots) sync() error { return nil }
