//go:build !unix

package dirlock

import "os"

// lockFile cannot lock on this platform: the directory is not protected
// against a second process.
func lockFile(*os.File) error { return nil }
