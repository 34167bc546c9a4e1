package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// result is the outcome of one in-process command line.
type result struct {
	code           int
	stdout, stderr string
}

// kb runs the command line args in-process with stdin and returns its exit
// code and output. Every command is bounded by a generous deadline so that
// a hang fails the test instead of the whole binary.
func kb(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// kbc runs args against cluster c by appending --bootstrap-server.
func kbc(t *testing.T, c *embeddedbroker.Cluster, stdin string, args ...string) result {
	t.Helper()
	return kb(t, stdin, append(args, "--bootstrap-server", strings.Join(c.Addrs(), ","), "--command-timeout", "10s")...)
}

// ok fails the test unless r exited 0.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		noStdout bool
	}{
		{name: "no args", args: nil, code: 2, stderr: "Subcommands:", noStdout: true},
		{name: "help", args: []string{"help"}, code: 0, stdout: "Subcommands:"},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "groups"},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: "consume"},
		{name: "unknown", args: []string{"frobnicate"}, code: 2, stderr: `unknown subcommand "frobnicate"`, noStdout: true},
		{name: "version", args: []string{"version"}, code: 0, stdout: "kafkaboot "},
		{name: "topics without action", args: []string{"topics"}, code: 2, stderr: "missing action"},
		{name: "topics help", args: []string{"topics", "-h"}, code: 0, stdout: "describe"},
		{name: "topics unknown action", args: []string{"topics", "burn"}, code: 2, stderr: `unknown action "burn"`},
		{name: "topics create help", args: []string{"topics", "create", "-h"}, code: 0, stdout: "--replication-factor"},
		{name: "topics create without topic", args: []string{"topics", "create"}, code: 2, stderr: "--topic is required"},
		{name: "topics alter nothing", args: []string{"topics", "alter", "--topic", "x"}, code: 2, stderr: "nothing to alter"},
		{name: "bad flag", args: []string{"produce", "--bogus"}, code: 2, stderr: "flag provided but not defined: -bogus"},
		{name: "positional", args: []string{"produce", "--topic", "t", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "produce bad acks", args: []string{"produce", "--topic", "t", "--acks", "2"}, code: 2, stderr: "--acks"},
		{name: "produce bad codec", args: []string{"produce", "--topic", "t", "--compression", "brotli"}, code: 2, stderr: "unknown codec"},
		{name: "consume group and partition", args: []string{"consume", "--topic", "t", "--group", "g", "--partition", "0"}, code: 2, stderr: "--partition cannot be used with --group"},
		{name: "consume offset without partition", args: []string{"consume", "--topic", "t", "--offset", "3"}, code: 2, stderr: "--offset needs --partition"},
		{name: "consume bad offset", args: []string{"consume", "--topic", "t", "--partition", "0", "--offset", "-3"}, code: 2, stderr: "non-negative"},
		{name: "consume bad format", args: []string{"consume", "--topic", "t", "--format", "%x"}, code: 2, stderr: "unknown placeholder %x"},
		{name: "groups describe without group", args: []string{"groups", "describe"}, code: 2, stderr: "--group is required"},
		{name: "broker zero nodes", args: []string{"broker", "--nodes", "0"}, code: 2, stderr: "--nodes"},
		{name: "broker data dir and memory", args: []string{"broker", "--data-dir", "x", "--in-memory"}, code: 2, stderr: "exclude each other"},
		{name: "broker bad topic", args: []string{"broker", "--topic", "t:x"}, code: 2, stderr: "partitions must be a positive number"},
		{name: "broker bad log level", args: []string{"broker", "--log-level", "loud"}, code: 2, stderr: "--log-level"},
		{name: "broker bad config", args: []string{"broker", "--config", "nonsense"}, code: 2, stderr: "not key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kb(t, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdout, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderr, r.stderr)
			}
			if tt.noStdout && r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r.stdout)
			}
		})
	}
}

func TestBootstrapEnv(t *testing.T) {
	t.Setenv(bootstrapEnv, "broker-a:9092, broker-b:9093")
	fs := newFlagSet("x", "x", "")
	var cf clientFlags
	cf.register(fs)
	if err := fs.parse(nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(cf.seeds(), " "), "broker-a:9092 broker-b:9093"; got != want {
		t.Fatalf("seeds %q, want %q", got, want)
	}
}

func TestUnreachableBootstrapHint(t *testing.T) {
	// 127.0.0.1:1 refuses connections at once.
	r := kb(t, "", "topics", "list", "--bootstrap-server", "127.0.0.1:1", "--command-timeout", "300ms")
	if r.code != 1 || !strings.Contains(r.stderr, "is a broker running at 127.0.0.1:1?") {
		t.Fatalf("got exit %d, stderr %q", r.code, r.stderr)
	}
}
