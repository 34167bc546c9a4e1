package logstore

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// FilePool bounds the number of segment files the disk logs sharing it keep
// open at once. A log's segment files are opened on demand through the
// pool and stay open while they are used; when opening one more would pass
// the limit, the pool closes the least recently used handle that no
// operation is using. A handle in use (a read, a write, an fsync in
// progress) is pinned: it is never closed under its user. When every
// handle is pinned, an operation that needs another file waits for one to
// be released.
//
// A busy log's active segment is therefore opened once and stays open as
// long as the pool is large enough for the files in use; with more active
// logs than the limit, appends and reads pay an open and a close each time
// they come back to an evicted file. The limit should leave room for the
// process's other descriptors (sockets above all): DefaultFilePoolLimit
// takes half of RLIMIT_NOFILE.
//
// When opening a file fails with EMFILE or ENFILE (the process or the
// system is out of descriptors, whatever the pool's limit), the pool closes
// an idle handle and retries, as long as it has one to close; otherwise the
// error is returned, wrapped (errors.Is(err, syscall.EMFILE) holds).
//
// The .log files of segments stay open in the pool between uses. Index
// files, the log-start-offset file and the directory fsynced after a
// creation are opened for one operation and closed at once; they count
// against the limit while open (evicting an idle handle if the pool is
// full) and get the same EMFILE retry. Only the files OpenDisk reads to
// recover a log (the directory listing, index and log-start-offset files)
// are opened outside the pool.
//
// The pool also coalesces the fsyncs that make new log directories durable
// in their parent: one fsync covers every log created there before it.
//
// Create a FilePool with NewFilePool. It is safe for concurrent use, holds
// no goroutine and needs no closing: when every log using it is closed, it
// holds no file.
type FilePool struct {
	limit int

	// openFile opens files; tests replace it to inject errors.
	openFile func(name string, flag int, perm os.FileMode) (*os.File, error)

	mu   sync.Mutex
	cond sync.Cond // on mu: a handle was released or closed, or an open ended
	// open counts the handles open or being opened, plus files evicted
	// and not closed yet: it never exceeds limit.
	open    int
	waiters int
	// idle is the list of open handles that no operation pins, most
	// recently used first: eviction takes from the back.
	idle  pooledFile // sentinel: idle.next is the front, idle.prev the back
	nidle int

	// dirs coalesces the fsyncs of the directories holding the logs'
	// directories.
	dirs dirSyncs

	live      atomic.Int64 // files open right now (the descriptors held)
	peak      atomic.Int64 // the largest live seen
	opens     atomic.Int64
	evictions atomic.Int64
	retries   atomic.Int64
}

// FilePoolStats is a snapshot of a FilePool's counters.
type FilePoolStats struct {
	// Limit is the most files the pool keeps open at once.
	Limit int
	// Open is the number of files open now, Idle those of them that no
	// operation uses (the ones eviction may close).
	Open, Idle int
	// Peak is the largest number of files that were open at once.
	Peak int
	// Opens counts files opened, Evictions idle handles closed to make
	// room, EMFILERetries opens retried after EMFILE or ENFILE.
	Opens, Evictions, EMFILERetries int64
}

// minFilePoolLimit is the smallest default limit, for processes with a tiny
// RLIMIT_NOFILE.
const minFilePoolLimit = 16

// maxFilePoolLimit caps the default limit when RLIMIT_NOFILE is huge or
// unlimited.
const maxFilePoolLimit = 1 << 20

// DefaultFilePoolLimit is the limit NewFilePool uses for limit <= 0: half of
// the process's soft RLIMIT_NOFILE (which Go raises to the hard limit at
// start-up on most systems), leaving the other half to sockets and
// everything else, at least 16 and at most 1<<20. Where the limit cannot
// be read it is 1024.
func DefaultFilePoolLimit() int {
	n, ok := nofileLimit()
	if !ok {
		return 1024
	}
	return int(min(max(n/2, minFilePoolLimit), maxFilePoolLimit))
}

// NewFilePool returns a pool that keeps at most limit files open; limit <= 0
// means DefaultFilePoolLimit.
func NewFilePool(limit int) *FilePool {
	if limit <= 0 {
		limit = DefaultFilePoolLimit()
	}
	p := &FilePool{limit: limit, openFile: os.OpenFile}
	p.cond.L = &p.mu
	p.idle.prev, p.idle.next = &p.idle, &p.idle
	return p
}

// Limit returns the most files the pool keeps open at once.
func (p *FilePool) Limit() int { return p.limit }

// Stats returns a snapshot of the pool's counters.
func (p *FilePool) Stats() FilePoolStats {
	p.mu.Lock()
	idle := p.nidle
	p.mu.Unlock()
	return FilePoolStats{
		Limit:         p.limit,
		Open:          int(p.live.Load()),
		Idle:          idle,
		Peak:          int(p.peak.Load()),
		Opens:         p.opens.Load(),
		Evictions:     p.evictions.Load(),
		EMFILERetries: p.retries.Load(),
	}
}

// pooledFile is one file opened through a pool. Its user pins it around
// each use (acquire, release) and closes it for good with close.
type pooledFile struct {
	pool *FilePool
	file namer // the file's name, worked out when needed rather than kept
	flag int   // flags of the next open: O_CREATE|O_TRUNC until the first succeeds

	// f is the open file, nil when closed or evicted; pins counts its
	// current users. f changes only while pins is 0 or while the
	// goroutine that pinned it to open it holds the only pin, under the
	// pool's mu. pins goes from 0 to 1 only under mu; above 0 it moves
	// without mu (nested pins).
	f    atomic.Pointer[os.File]
	pins atomic.Int32

	// Under the pool's mu.
	opening    bool // a goroutine is opening the file
	closed     bool // closed for good: the last release closes the file
	prev, next *pooledFile
}

// namer names a pooled file.
type namer interface{ name() string }

// fileName is a namer that holds the name.
type fileName string

func (n fileName) name() string { return string(n) }

// init makes h a handle of p for the file named by file, not open yet.
// create makes the first open create (or truncate) the file.
func (h *pooledFile) init(p *FilePool, file namer, create bool) {
	h.pool, h.file, h.flag = p, file, os.O_RDWR
	if create {
		h.flag |= os.O_CREATE | os.O_TRUNC
	}
}

// acquire pins the handle and returns its file, opening it if needed.
// Every successful acquire must be followed by one release. A goroutine
// must not pin two handles of one pool at once: with every handle pinned
// it would wait forever.
func (h *pooledFile) acquire() (*os.File, error) {
	// Fast path: the file is pinned already (a nested use), so it is open
	// and cannot be evicted; pins above 0 move without the lock.
	for n := h.pins.Load(); n > 0; n = h.pins.Load() {
		if h.pins.CompareAndSwap(n, n+1) {
			if f := h.f.Load(); f != nil {
				return f, nil
			}
			h.release() // still being opened: wait below
			break
		}
	}
	p := h.pool
	p.mu.Lock()
	for {
		switch {
		case h.closed:
			p.mu.Unlock()
			return nil, fmt.Errorf("logstore: %s: %w", h.file.name(), os.ErrClosed)
		case h.opening:
			p.waitLocked()
			continue
		}
		if f := h.f.Load(); f != nil {
			if h.pins.Add(1) == 1 {
				p.unlinkLocked(h)
			}
			p.mu.Unlock()
			return f, nil
		}
		break
	}
	// Open it: take a slot, by evicting the least recently used idle
	// handle if the pool is full.
	h.opening = true
	h.pins.Add(1)
	victim := p.reserveLocked()
	p.mu.Unlock()
	if victim != nil {
		p.closeFile(victim)
	}
	f, err := p.openRetry(h.file.name(), h.flag, 0o644)
	p.mu.Lock()
	h.opening = false
	if err != nil {
		h.pins.Add(-1)
		p.open--
		p.wakeLocked()
		p.mu.Unlock()
		return nil, err // openRetry's *PathError names the file
	}
	h.flag &^= os.O_CREATE | os.O_TRUNC
	h.f.Store(f)
	p.wakeLocked()
	p.mu.Unlock()
	return f, nil
}

// release unpins the handle. The last release makes it idle, most recently
// used, or closes it if it was closed meanwhile.
func (h *pooledFile) release() {
	for {
		n := h.pins.Load()
		if n <= 0 {
			panic("logstore: pooledFile released more than acquired")
		}
		if n > 1 {
			if h.pins.CompareAndSwap(n, n-1) {
				return
			}
			continue
		}
		break
	}
	p := h.pool
	p.mu.Lock()
	if !h.pins.CompareAndSwap(1, 0) {
		// A nested acquire came in meanwhile: it inherits the file.
		p.mu.Unlock()
		h.release()
		return
	}
	f := h.f.Load()
	switch {
	case f == nil: // released by a failed open's waiter race; nothing held
	case h.closed:
		h.f.Store(nil)
		p.mu.Unlock()
		err := p.closeFile(f)
		p.mu.Lock()
		p.open--
		p.wakeLocked()
		p.mu.Unlock()
		_ = err // the owner's close already returned; nothing to report to
		return
	default:
		p.pushFrontLocked(h)
		p.wakeLocked()
	}
	p.mu.Unlock()
}

// close closes the handle for good: now if it is idle, at its last release
// otherwise. Later acquires fail.
func (h *pooledFile) close() error {
	p := h.pool
	p.mu.Lock()
	if h.closed {
		p.mu.Unlock()
		return nil
	}
	h.closed = true
	f := h.f.Load()
	if f == nil || h.pins.Load() > 0 {
		p.mu.Unlock()
		return nil
	}
	p.unlinkLocked(h)
	h.f.Store(nil)
	p.mu.Unlock()
	err := p.closeFile(f)
	p.mu.Lock()
	p.open--
	p.wakeLocked()
	p.mu.Unlock()
	return err
}

// reserveLocked takes a slot for a file about to be opened. If the pool is
// full it evicts the least recently used idle handle, whose slot passes to
// the caller, and returns its file for the caller to close before opening;
// if every handle is pinned it waits.
func (p *FilePool) reserveLocked() *os.File {
	for {
		if p.open < p.limit {
			p.open++
			return nil
		}
		if v := p.idle.prev; v != &p.idle {
			p.unlinkLocked(v)
			f := v.f.Load()
			v.f.Store(nil)
			p.evictions.Add(1)
			return f
		}
		p.waitLocked()
	}
}

// openTransient opens a file for the duration of one operation, counted
// against the limit like a pooled handle, with the EMFILE retry; the caller
// closes it with closeTransient. A nil pool opens and closes directly.
func (p *FilePool) openTransient(name string, flag int, perm os.FileMode) (*os.File, error) {
	if p == nil {
		return os.OpenFile(name, flag, perm)
	}
	p.mu.Lock()
	victim := p.reserveLocked()
	p.mu.Unlock()
	if victim != nil {
		_ = p.closeFile(victim)
	}
	f, err := p.openRetry(name, flag, perm)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.wakeLocked()
		p.mu.Unlock()
		return nil, err
	}
	return f, nil
}

// closeTransient closes a file openTransient opened.
func (p *FilePool) closeTransient(f *os.File) error {
	if p == nil {
		return f.Close()
	}
	err := p.closeFile(f)
	p.mu.Lock()
	p.open--
	p.wakeLocked()
	p.mu.Unlock()
	return err
}

// openRetry opens a file; after EMFILE or ENFILE it closes an idle handle
// and tries again, while there is one.
func (p *FilePool) openRetry(path string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		f, err := p.openFile(path, flag, perm)
		if err == nil {
			p.opens.Add(1)
			if n := p.live.Add(1); n > p.peak.Load() {
				p.raisePeak(n)
			}
			return f, nil
		}
		if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
			return nil, err
		}
		p.mu.Lock()
		v := p.idle.prev
		if v == &p.idle {
			p.mu.Unlock()
			return nil, err
		}
		p.unlinkLocked(v)
		vf := v.f.Load()
		v.f.Store(nil)
		p.evictions.Add(1)
		p.retries.Add(1)
		p.mu.Unlock()
		_ = p.closeFile(vf)
		p.mu.Lock()
		p.open-- // the victim's slot is given up: the process has fewer descriptors than the limit assumed
		p.wakeLocked()
		p.mu.Unlock()
	}
}

func (p *FilePool) raisePeak(n int64) {
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

// closeFile closes a file the pool opened.
func (p *FilePool) closeFile(f *os.File) error {
	err := f.Close()
	p.live.Add(-1)
	return err
}

func (p *FilePool) waitLocked() {
	p.waiters++
	p.cond.Wait()
	p.waiters--
}

func (p *FilePool) wakeLocked() {
	if p.waiters > 0 {
		p.cond.Broadcast()
	}
}

func (p *FilePool) pushFrontLocked(h *pooledFile) {
	h.prev, h.next = &p.idle, p.idle.next
	h.prev.next, h.next.prev = h, h
	p.nidle++
}

func (p *FilePool) unlinkLocked(h *pooledFile) {
	if h.next == nil {
		return
	}
	h.prev.next, h.next.prev = h.next, h.prev
	h.prev, h.next = nil, nil
	p.nidle--
}

// dirSyncs coalesces the fsyncs that make new log directories' entries in
// their parent durable. Every directory OpenDisk creates takes a ticket
// from its parent's counter; a log that needs its entry durable fsyncs the
// parent unless a fsync that began after its ticket was taken has
// completed, and concurrent callers wait for one fsync rather than each
// running theirs. Closing thousands of new logs costs one fsync of their
// parent, not one each.
type dirSyncs struct {
	mu     sync.Mutex
	dirs   map[string]*dirSync
	fsyncs atomic.Int64 // fsyncs run, for tests
}

// dirSync is the state of one parent directory.
type dirSync struct {
	mu      sync.Mutex // held during a fsync
	tickets atomic.Uint64
	synced  uint64 // under mu: tickets up to this one are durable
}

func (s *dirSyncs) get(dir string) *dirSync {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirs[dir]
	if d == nil {
		if s.dirs == nil {
			s.dirs = map[string]*dirSync{}
		}
		d = &dirSync{}
		s.dirs[dir] = d
	}
	return d
}

// created records that an entry was created in dir and returns its ticket
// (never 0).
func (s *dirSyncs) created(dir string) uint64 { return s.get(dir).tickets.Add(1) }

// sync makes the entry of the given ticket in dir durable, fsyncing dir
// (through p) unless a fsync covering it has completed.
func (s *dirSyncs) sync(p *FilePool, dir string, ticket uint64) error {
	d := s.get(dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.synced >= ticket {
		return nil
	}
	upTo := d.tickets.Load() // entries created so far: the fsync covers them all
	s.fsyncs.Add(1)
	if err := syncDirVia(p, dir); err != nil {
		return err
	}
	d.synced = upTo
	return nil
}
