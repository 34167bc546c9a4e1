package main

import "testing"

// TestRun runs the example as `go run ./examples/transactions` does, so that
// go test keeps it working.
func TestRun(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
