//go:build !unix

package logstore

// nofileLimit is unknown outside Unix.
func nofileLimit() (uint64, bool) { return 0, false }
