package main

import (
	"strings"
	"testing"
)

// TestBrokerRefusesUnsupportedConfig: `kafkaboot broker --config` with a
// config the embedded broker does not implement fails at start, naming the
// config and why, instead of running without it.
func TestBrokerRefusesUnsupportedConfig(t *testing.T) {
	for _, tt := range []struct{ config, why string }{
		{"log.preallocate=true", "does not preallocate"},
		{"log.cleaner.min.cleanable.ratio=2", "at most 1"},
		{"log.segment.delete.delay.ms=10", "deletes segment files at once"},
	} {
		r := kb(t, "", "broker", "--port", "0", "--config", tt.config)
		name, _, _ := strings.Cut(tt.config, "=")
		if r.code != 1 || !strings.Contains(r.stderr, name) || !strings.Contains(r.stderr, tt.why) || strings.Contains(r.stdout, "ready") {
			t.Errorf("--config %s: exit %d\nstdout: %s\nstderr: %s", tt.config, r.code, r.stdout, r.stderr)
		}
	}
}
