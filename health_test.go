package kafkaboot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/template"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// freePort returns a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ledgerListener counts each value it handles; while gated, every call
// waits for the gate to open.
type ledgerListener struct {
	Orders func(context.Context, string) error `kafka:"id=ledger,topics=orders,group=ledger"`

	mu   sync.Mutex
	seen map[string]int
	gate chan struct{} // nil: open
}

func newLedgerListener() *ledgerListener {
	l := &ledgerListener{seen: map[string]int{}}
	l.Orders = func(ctx context.Context, v string) error {
		l.mu.Lock()
		gate := l.gate
		l.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		l.mu.Lock()
		l.seen[v]++
		l.mu.Unlock()
		return nil
	}
	return l
}

// missing returns the values of want not handled yet.
func (l *ledgerListener) missing(want []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, v := range want {
		if l.seen[v] == 0 {
			out = append(out, v)
		}
	}
	return out
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readiness asks the health handler's /readyz.
func readiness(t *testing.T, h http.Handler) (int, kafkaboot.HealthReport) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var rep kafkaboot.HealthReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, rep
}

// TestOutageAndHealth: with the cluster closed mid-run, a Send with a 2 s
// context returns within 2.5 s naming the cause, the listener container
// logs the outage once and the health endpoint turns unready; when the
// cluster is back on the same data directory and port, the container
// recovers, every record sent before, during (by the producer's retries)
// and after the outage is handled, and the health endpoint is ready
// again. A listener whose lag passes kafka.health.max-lag turns the
// endpoint unready until it catches up.
func TestOutageAndHealth(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	start := func() *embeddedbroker.Cluster {
		c, err := embeddedbroker.Start(context.Background(), embeddedbroker.FirstPort(port), embeddedbroker.DataDir(dir),
			embeddedbroker.Topics(3, "orders"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start()
	defer func() { c.Close() }()

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.Load(config.WithEnviron(nil), config.WithValues(map[string]any{
		"kafka.bootstrap-servers":          "127.0.0.1:" + strconv.Itoa(port),
		"kafka.consumer.auto-offset-reset": "earliest",
		"kafka.health.max-lag":             20,
	}))
	if err != nil {
		t.Fatal(err)
	}
	f, err := kafkaboot.NewProducerFactory(cfg, templateLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Close(cctx)
	}()
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	tmpl := f.Template()
	l := newLedgerListener()
	ctrs, err := kafkaboot.NewContainers(cfg, f, logger, []any{l})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ctrs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctrs.Stop(cctx)
	}()
	health := kafkaboot.NewHealth(cfg, f, ctrs)

	var sent []string
	send := func(n int) {
		for range n {
			v := fmt.Sprintf("v%04d", len(sent))
			if _, err := tmpl.Send(ctx, "orders", v); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, v)
		}
	}
	send(100)
	waitUntil(t, "100 records handled", 30*time.Second, func() bool { return len(l.missing(sent)) == 0 })
	waitUntil(t, "ready", 10*time.Second, func() bool { code, _ := readiness(t, health); return code == http.StatusOK })

	// The cluster goes away.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = tmpl.Send(sctx, "orders", "during")
	cancel()
	if took := time.Since(down); took > 2500*time.Millisecond {
		t.Errorf("Send with a 2 s context returned after %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Errorf("Send during the outage: %v, want context.DeadlineExceeded naming the last broker error", err)
	}
	sent = append(sent, "during") // the producer keeps it and delivers it later
	containerWarn := `msg="kafka brokers unreachable" listener=ledger client="listener ledger"`
	waitUntil(t, "the container's outage WARN", 5*time.Second, func() bool { return strings.Contains(logs.String(), containerWarn) })
	t.Logf("container WARN %v after the cluster closed", time.Since(down).Round(time.Millisecond))
	code, rep := readiness(t, health)
	if code != http.StatusServiceUnavailable || rep.Brokers.Reachable {
		t.Fatalf("readyz during the outage: %d %+v", code, rep)
	}
	t.Logf("readyz during the outage: %d %s", code, strings.Join(rep.Reasons, "; "))
	if st := ctrs.Registry.Container("ledger").Status(); st.BrokersReachable {
		t.Errorf("container status during the outage: %+v", st)
	}

	// The cluster comes back on the same data and port.
	c = start()
	send(100)
	waitUntil(t, "every record handled after the restart", 60*time.Second, func() bool { return len(l.missing(sent)) == 0 })
	waitUntil(t, "ready again", 20*time.Second, func() bool { code, _ := readiness(t, health); return code == http.StatusOK })
	out := logs.String()
	if n := strings.Count(out, containerWarn); n != 1 {
		t.Errorf("the container logged the outage %d times, want 1", n)
	}
	if !strings.Contains(out, `msg="kafka brokers reachable again" listener=ledger client="listener ledger"`) {
		t.Errorf("no INFO from the container when the brokers were back")
	}
	t.Logf("all %d records handled across the outage", len(sent))

	// A listener that falls behind by more than kafka.health.max-lag.
	gate := make(chan struct{})
	l.mu.Lock()
	l.gate = gate
	l.mu.Unlock()
	send(100)
	waitUntil(t, "unready by lag", 20*time.Second, func() bool {
		code, rep := readiness(t, health)
		return code == http.StatusServiceUnavailable && len(rep.Listeners) == 1 && rep.Listeners[0].Lag > 20
	})
	_, rep = readiness(t, health)
	t.Logf("readyz behind: %s", strings.Join(rep.Reasons, "; "))
	l.mu.Lock()
	l.gate = nil
	l.mu.Unlock()
	close(gate)
	waitUntil(t, "every record handled", 30*time.Second, func() bool { return len(l.missing(sent)) == 0 })
	waitUntil(t, "ready after catching up", 10*time.Second, func() bool { code, _ := readiness(t, health); return code == http.StatusOK })
	if st := ctrs.Registry.Container("ledger").Status(); st.State != container.StateRunning {
		t.Errorf("container state %v", st.State)
	}
}

func templateLogger(l *slog.Logger) template.FactoryOption { return template.WithClientLogger(l) }
