package logstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A segment rewrite on disk (Kafka's cleaner swaps segments the same way,
// with .cleaned and .swap files; this log records the swap in one file
// instead, which also says which segments it replaces):
//
//  1. the replacement is written as <base>.log.cleaned, with
//     <base>.index.cleaned and <base>.timeindex.cleaned, all fsynced, and
//     the directory fsynced;
//  2. SwapFile is written (through a temporary file, an fsync, a rename and
//     a directory fsync) with the base and the end offset of the segments
//     replaced: the commit point;
//  3. the replaced segments' files are deleted;
//  4. the .cleaned files are renamed to their final names, the .log last;
//  5. the directory is fsynced, SwapFile removed, the directory fsynced.
//
// An open finds, after a crash: .cleaned files without SwapFile (or with
// a SwapFile naming another base), an unfinished rewrite it deletes; a
// SwapFile with <base>.log.cleaned, a committed swap it finishes (steps 3
// to 5); a SwapFile without <base>.log.cleaned, a swap that got past step
// 4, whose leftovers it removes. Index files a crash leaves missing are
// rebuilt from the .log, as always.

// cleanedPath is the replacement name of the file of segment base with
// extension ext.
func (d *diskBackend) cleanedPath(base int64, ext string) string {
	return d.path(base, ext+cleanedExt)
}

func (d *diskBackend) createCleaned(base int64) (segData, error) {
	// A rewrite record left behind by a failed end of an earlier swap must
	// not be read as committing this one.
	if err := d.removeSwapRecord(); err != nil {
		return nil, err
	}
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if err := os.Remove(d.cleanedPath(base, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	s := &fileSeg{d: d, base: base}
	s.cleaned.Store(true)
	s.h.init(d.files, s, true)
	return s, nil
}

func (d *diskBackend) sealCleaned(s *segment) error {
	seg := s.data.(*fileSeg)
	if s.size == 0 {
		// An empty replacement still gets its file: the segment stays in
		// the log (so that its offsets keep their place) and is listed at
		// the next open.
		if err := seg.write(nil, 0); err != nil {
			return err
		}
	}
	if err := seg.syncData(); err != nil {
		return err
	}
	ib, tb := indexBytes(s)
	if err := writeFileVia(d.files, d.cleanedPath(s.base, indexExt), ib, true); err != nil {
		return err
	}
	if err := writeFileVia(d.files, d.cleanedPath(s.base, timeIndexExt), tb, true); err != nil {
		return err
	}
	seg.indexFiles, seg.indexSynced = true, true
	return syncDirVia(d.files, d.dir)
}

func (d *diskBackend) discardCleaned(s *segment) error {
	seg := s.data.(*fileSeg)
	errs := []error{seg.h.close()}
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if err := os.Remove(d.cleanedPath(s.base, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *diskBackend) beginSwap(base, end int64) error {
	final := filepath.Join(d.dir, SwapFile)
	tmp := final + tmpExt
	rec := strconv.FormatInt(base, 10) + " " + strconv.FormatInt(end, 10) + "\n"
	if err := writeFileVia(d.files, tmp, []byte(rec), true); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDirVia(d.files, d.dir)
}

func (d *diskBackend) finishSwap(s *segment) error {
	seg := s.data.(*fileSeg)
	// Index files first, the .log last: an open that finds
	// <base>.log.cleaned still there redoes the whole rename.
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if err := os.Rename(d.cleanedPath(s.base, ext), d.path(s.base, ext)); err != nil {
			return err
		}
	}
	seg.cleaned.Store(false)
	return nil
}

func (d *diskBackend) endSwap() error {
	if err := syncDirVia(d.files, d.dir); err != nil {
		return err
	}
	return d.removeSwapRecord()
}

// removeSwapRecord removes SwapFile, if there is one, durably.
func (d *diskBackend) removeSwapRecord() error {
	err := os.Remove(filepath.Join(d.dir, SwapFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDirVia(d.files, d.dir)
}

// readSwapRecord reads SwapFile; ok=false when there is none.
func (d *diskBackend) readSwapRecord() (base, end int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(d.dir, SwapFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		base, err1 := strconv.ParseInt(f[0], 10, 64)
		end, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil && base >= 0 && end > base {
			return base, end, true, nil
		}
	}
	return 0, 0, false, fmt.Errorf("%w: malformed %s %q", ErrCorruptLog, SwapFile, b)
}

// recoverSwap finishes a committed rewrite a crash interrupted, before the
// open lists the segments (see the steps above); load removes the files of
// uncommitted ones.
func (d *diskBackend) recoverSwap(logger *slog.Logger) error {
	base, end, ok, err := d.readSwapRecord()
	if err != nil || !ok {
		// Without a record, leftover .cleaned files (a rewrite that
		// never committed) are removed by load's listing: an open costs
		// nothing more than before rewrites existed.
		return err
	}
	if _, err := os.Stat(d.cleanedPath(base, logExt)); err == nil {
		// Committed: the replaced segments go, the replacement takes
		// their place.
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			ext := filepath.Ext(name)
			if ext != logExt && ext != indexExt && ext != timeIndexExt {
				continue
			}
			if b, ok := parseBase(strings.TrimSuffix(name, ext)); ok && b >= base && b < end {
				if err := os.Remove(filepath.Join(d.dir, name)); err != nil {
					return err
				}
			}
		}
		for _, ext := range []string{indexExt, timeIndexExt, logExt} {
			if err := os.Rename(d.cleanedPath(base, ext), d.path(base, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		logger.Info("logstore: finished a segment rewrite interrupted by a crash", "dir", d.dir, "base", base, "end", end)
	}
	// Whatever .cleaned files remain belong to a rewrite that never
	// committed.
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), cleanedExt) {
			if err := os.Remove(filepath.Join(d.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := syncDir(d.dir); err != nil {
		return err
	}
	return d.removeSwapRecord()
}
