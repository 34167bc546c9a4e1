package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var readyLine = regexp.MustCompile(`^kafkaboot broker ready: (\d+) nodes? at (\S+) \((in memory|data: .+?)\)(?:; schema registry at (\S+))?$`)

// lineReader delivers the lines of r on a channel, closed at EOF.
func lineReader(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func nextLine(t *testing.T, lines <-chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("output ended while waiting for %s", what)
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	return ""
}

// startBroker runs `kafkaboot broker args...` in-process; it returns the
// bootstrap servers from the ready line, a stop function that cancels the
// broker's context (what SIGINT does in the binary) and returns its exit
// code and remaining stdout.
func startBroker(t *testing.T, args ...string) (bootstrap, ready string, stop func() (int, []string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"broker"}, args...), strings.NewReader(""), pw, &errb)
		pw.Close()
		done <- code
	}()
	lines := lineReader(pr)
	ready = nextLine(t, lines, "the ready line")
	m := readyLine.FindStringSubmatch(ready)
	if m == nil {
		cancel()
		t.Fatalf("not a ready line: %q (stderr %q)", ready, errb.String())
	}
	var stopped bool
	stop = func() (int, []string) {
		if stopped {
			return 0, nil
		}
		stopped = true
		cancel()
		var rest []string
		for l := range lines {
			rest = append(rest, l)
		}
		select {
		case code := <-done:
			return code, rest
		case <-time.After(15 * time.Second):
			t.Fatal("broker did not stop")
		}
		return 0, nil
	}
	t.Cleanup(func() { stop() })
	return m[2], ready, stop
}

func TestBrokerSubcommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	bootstrap, ready, stop := startBroker(t, "--nodes", "2", "--port", "0", "--topic", "demo:2:1", "--data-dir", dir,
		"--config", "auto.create.topics.enable=false", "--log-level", "warn")
	if !strings.HasPrefix(ready, "kafkaboot broker ready: 2 nodes at 127.0.0.1:") || !strings.HasSuffix(ready, "(data: "+dir+")") {
		t.Fatalf("ready line %q", ready)
	}
	if n := len(strings.Split(bootstrap, ",")); n != 2 {
		t.Fatalf("%d addresses in %q", n, bootstrap)
	}
	cli := func(stdin string, args ...string) result {
		t.Helper()
		return kb(t, stdin, append(args, "--bootstrap-server", bootstrap, "--command-timeout", "10s")...)
	}

	r := cli("", "topics", "describe", "--topic", "demo").ok(t)
	if !strings.Contains(r.stdout, "PartitionCount: 2\tReplicationFactor: 1") {
		t.Fatalf("describe printed %q", r.stdout)
	}
	cli("a:1\nb:2\nc:3\n", "produce", "--topic", "demo", "--key-separator", ":").ok(t)
	consumeSorted := func() []string {
		t.Helper()
		r := cli("", "consume", "--topic", "demo", "--from-beginning", "--max-messages", "3", "--format", `%k=%v\n`).ok(t)
		got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		slices.Sort(got)
		return got
	}
	want := []string{"a=1", "b=2", "c=3"}
	if got := consumeSorted(); !slices.Equal(got, want) {
		t.Fatalf("consumed %q, want %q", got, want)
	}
	// The broker config is in effect: an unknown topic is not created.
	if r := cli("x\n", "produce", "--topic", "nope", "--command-timeout", "2s"); r.code != 1 {
		t.Fatalf("produce to unknown topic with auto-create off: exit %d", r.code)
	}

	code, rest := stop()
	if code != 0 || !slices.Equal(rest, []string{"kafkaboot broker stopped"}) {
		t.Fatalf("stop: exit %d, output after ready %q", code, rest)
	}

	// Started again on its data directory, the cluster still has the records.
	bootstrap, _, stop = startBroker(t, "--nodes", "2", "--port", "0", "--data-dir", dir)
	if got := consumeSorted(); !slices.Equal(got, want) {
		t.Fatalf("after restart consumed %q, want %q", got, want)
	}
	if code, _ := stop(); code != 0 {
		t.Fatalf("second stop: exit %d", code)
	}
}

func TestBrokerInMemoryDefault(t *testing.T) {
	_, ready, stop := startBroker(t, "--port", "0")
	if !readyLine.MatchString(ready) || !strings.HasPrefix(ready, "kafkaboot broker ready: 1 node at ") || !strings.HasSuffix(ready, "(in memory)") {
		t.Fatalf("ready line %q", ready)
	}
	if code, rest := stop(); code != 0 || len(rest) != 1 {
		t.Fatalf("stop: exit %d, %q", code, rest)
	}
}

// TestBinarySignals builds the binary and checks that SIGTERM stops the
// broker cleanly and SIGINT stops a consumer cleanly.
func TestBinarySignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kafkaboot")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	broker := exec.Command(bin, "broker", "--port", "0", "--topic", "sig:1")
	stdout, err := broker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var brokerErr syncBuffer
	broker.Stderr = &brokerErr
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Process.Kill(); broker.Wait() })
	lines := lineReader(stdout)
	m := readyLine.FindStringSubmatch(nextLine(t, lines, "the ready line"))
	if m == nil {
		t.Fatalf("no ready line; stderr %q", brokerErr.String())
	}
	bootstrap := m[2]

	// A consumer process without limits runs until SIGINT and then exits 0.
	consumer := exec.Command(bin, "consume", "--topic", "sig", "--from-beginning", "--bootstrap-server", bootstrap)
	cstdout, err := consumer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var consumerErr syncBuffer
	consumer.Stderr = &consumerErr
	if err := consumer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { consumer.Process.Kill(); consumer.Wait() })
	clines := lineReader(cstdout)
	kb(t, "hello\n", "produce", "--topic", "sig", "--bootstrap-server", bootstrap).ok(t)
	if l := nextLine(t, clines, "the consumed record"); l != "hello" {
		t.Fatalf("consumer printed %q", l)
	}
	if err := consumer.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitExit(t, consumer, "consumer")
	if !strings.Contains(consumerErr.String(), "Processed a total of 1 messages") {
		t.Fatalf("consumer stderr %q", consumerErr.String())
	}

	if err := broker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := nextLine(t, lines, "the stopped line"); l != "kafkaboot broker stopped" {
		t.Fatalf("after SIGTERM the broker printed %q", l)
	}
	waitExit(t, broker, "broker")
}

func waitExit(t *testing.T, cmd *exec.Cmd, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s exited with %v", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not exit within 5s of the signal", what)
	}
}

// TestBrokerSchemaRegistry: --schema-registry-port serves the registry,
// named on the ready line.
func TestBrokerSchemaRegistry(t *testing.T) {
	_, ready, _ := startBroker(t, "--port", "0", "--schema-registry-port", "0")
	m := readyLine.FindStringSubmatch(ready)
	if m == nil || m[4] == "" {
		t.Fatalf("ready line without the registry: %q", ready)
	}
	resp, err := http.Post(m[4]+"/subjects/cli-value/versions", "application/vnd.schemaregistry.v1+json",
		strings.NewReader(`{"schema":"{\"type\":\"string\"}"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"id":1}` {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	t.Logf("%s; registered %s", ready, b)
}
