package logstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Crash implements Log.
func (l *segLog) Crash() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	// The disk log's syncer goes first, as in Close: it takes wmu. A sync
	// it finishes before stopping counts, as it would on a real machine.
	l.stopSyncerLocked()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	err := l.be.crash(l)
	if l.closed {
		l.closeSnapshots()
	}
	return err
}

// tickLocked plays the memory log's FsyncInterval syncer, which runs no
// goroutine: ticks fall every interval from tickBase, and if one fell
// after the last append (and at or before now), it synced everything
// appended so far. Called with wmu held, before anything that changes what
// is appended (Append, Reconfigure, Crash), which makes it exact: a tick
// between two earlier appends was accounted for by the later one. The
// disk log's goroutine really syncs; there this does nothing.
func (l *segLog) tickLocked(now time.Time) {
	d := l.cfg.Fsync.interval()
	if d <= 0 || !l.dirty || l.be.durable() {
		return
	}
	k := now.Sub(l.tickBase) / d
	if k < 1 {
		return
	}
	if l.tickBase.Add(k * d).After(l.lastAppend) {
		_ = l.syncLocked() // a memory sync cannot fail
	}
}

// firstUnsynced returns the index of the first segment holding bytes no
// fsync covered, or len(segs) when an fsync covered everything.
func firstUnsynced(segs []*segment) int {
	for i, s := range segs {
		if s.synced < s.size {
			return i
		}
	}
	return len(segs)
}

// crash forgets what was appended since the last sync and keeps the log
// open: the node that restarts after a crash uses it again. It follows the
// disk log's recovery: the first segment with unsynced bytes is cut back
// to its synced size, the segments after it go (a roll syncs the segment it
// seals, so only a failed roll leaves any), and if the log start offset is
// then at or past the end, the log restarts empty there.
func (memBackend) crash(l *segLog) error {
	now := l.cfg.Clock()
	l.tickLocked(now)
	l.tickBase = now // the restarted node's syncer starts afresh
	i := firstUnsynced(l.segs)
	if i == len(l.segs) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[i]
	l.segs = append([]*segment(nil), l.segs[:i+1]...)
	l.dirty = false
	var err error
	if terr := s.data.truncate(s.synced); terr != nil {
		err = fmt.Errorf("logstore: truncating segment %d at position %d: %w", s.base, s.synced, terr)
	} else if rerr := s.rebuild(s.synced, false, l.cfg.IndexIntervalBytes); rerr != nil {
		err = fmt.Errorf("%w: segment %d after crash: %v", ErrCorruptLog, s.base, rerr)
	}
	s.markSynced()
	var size int64
	for _, s := range l.segs {
		size += s.size
	}
	l.size.Store(size)
	l.end.Store(s.next)
	if start := l.start.Load(); start > s.next || (start == s.next && s.size > 0) {
		// Everything left is below the log start offset, which DeleteRecords
		// moved into bytes now lost: start empty there, as recovery does.
		err = errors.Join(err, l.resetLocked(start))
	}
	// Snapshots survive like fsynced data, but not those of lost data.
	return errors.Join(err, l.dropSnapshotsAbove(l.end.Load()))
}

// crash leaves the directory as a machine crash would have, given what was
// fsynced, and closes the files without syncing. The first segment with
// unsynced bytes is truncated to its synced size and the segments after it
// are removed; index files not known to be durable, and those of the last
// segment left (which recovery only trusts along with a clean-shutdown
// marker), are removed, as is a log start offset a failed save may have
// left undurable. A clean-shutdown marker found at open stays when nothing
// changed since: the files are still what it describes, and the next open
// trusts them as it would after a real crash. Snapshots above the
// surviving end are left for the next open to delete. Removals of segment files
// by retention or DeleteRecords are taken as durable although the
// directory was not fsynced after them: OpenDisk finishes such deletions
// anyway. The torn tail a real crash can leave is not simulated; recovery
// handles one (see TestDiskCrashRecovery).
func (d *diskBackend) crash(l *segLog) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	keep := l.segs
	if i := firstUnsynced(l.segs); i < len(l.segs) {
		keep = l.segs[:i+1]
		later := l.segs[i+1:]
		for j := len(later) - 1; j >= 0; j-- { // newest first: an error leaves a prefix
			if err := later[j].data.remove(); err != nil {
				errs = append(errs, fmt.Errorf("logstore: removing segment %d: %w", later[j].base, err))
			}
		}
		s := l.segs[i]
		if err := s.data.truncate(s.synced); err != nil {
			errs = append(errs, fmt.Errorf("logstore: truncating segment %d at position %d: %w", s.base, s.synced, err))
		}
	}
	for j, s := range keep {
		if seg, ok := s.data.(*fileSeg); ok && ((j == len(keep)-1 && !d.marker) || !seg.indexSynced) {
			for _, ext := range []string{indexExt, timeIndexExt} {
				if err := os.Remove(d.path(s.base, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		if err := s.data.close(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: closing segment %d: %w", s.base, err))
		}
	}
	if d.startDirty {
		var err error
		if d.hasSavedStart {
			err = d.writeStart(d.savedStart)
		} else if err = os.Remove(filepath.Join(d.dir, StartOffsetFile)); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("logstore: restoring the durable log start offset: %w", err))
		} else {
			d.startDirty = false
		}
	}
	l.segs = nil
	l.closed = true
	l.dirty = false
	return errors.Join(errs...)
}
