// Package dirlock keeps two processes from using one data directory at
// once, as Kafka's .lock file does: the first process to lock the
// directory holds an exclusive lock on a file in it until it releases it or
// exits (the operating system drops the lock of a process that dies, so a
// crash never leaves a stale lock behind).
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FileName is the lock file's name in the locked directory.
const FileName = ".lock"

// ErrLocked means another process holds the directory's lock.
var ErrLocked = errors.New("dirlock: data directory is in use by another process")

// Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire locks dir, which must exist, without waiting: it fails with an
// error wrapping ErrLocked, naming the directory, when another process
// holds the lock.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s (lock file %s); stop the other broker or choose another directory", ErrLocked, dir, path)
		}
		return nil, fmt.Errorf("dirlock: locking %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release releases the lock. It is safe to call on a nil Lock and more
// than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the lock
	l.f = nil
	return err
}
