package main

import (
	"strings"
	"testing"
)

// TestRun runs the example as `go run ./examples/observability` does and
// checks that its output shows the health answers, the metrics and a
// trace.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"GET /readyz while billing is behind: 503",
		`"status": "DOWN"`,
		"GET /readyz after billing caught up: 200",
		"messaging.client.sent.messages",
		"kafkaboot.listener.records",
		"outcome=dead_lettered",
		"POST /orders",
		"send orders key=o-3",
		"process orders key=o-3",
		"send orders.DLT",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
