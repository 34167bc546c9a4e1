package connwatch

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWatcher: failed connections log one WARN, repeated only every
// DefaultRepeat while they go on; a connection that succeeds logs one INFO
// and clears the last error.
func TestWatcher(t *testing.T) {
	var buf strings.Builder
	w := New("producer", slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Unix(1000, 0)
	w.now = func() time.Time { return now }
	meta := kgo.BrokerMetadata{Host: "127.0.0.1", Port: 9092}
	refused := errors.New("connection refused")
	for range 10 {
		w.OnBrokerConnect(meta, 0, nil, refused)
		now = now.Add(time.Second)
	}
	if n := strings.Count(buf.String(), "kafka brokers unreachable"); n != 1 {
		t.Fatalf("%d WARNs in 10 s of failures, want 1", n)
	}
	if down, since := w.Down(); !down || !since.Equal(time.Unix(1000, 0)) || !errors.Is(w.LastError(), refused) {
		t.Fatalf("down %v since %v, last error %v", down, since, w.LastError())
	}
	now = now.Add(DefaultRepeat)
	w.OnBrokerConnect(meta, 0, nil, refused)
	if n := strings.Count(buf.String(), "kafka brokers unreachable"); n != 2 {
		t.Fatalf("%d WARNs after %v more, want 2", n, DefaultRepeat)
	}
	w.OnBrokerConnect(meta, 0, nil, nil)
	if !strings.Contains(buf.String(), "kafka brokers reachable again") || w.LastError() != nil {
		t.Fatalf("after a connection: last error %v; log %s", w.LastError(), buf.String())
	}
	if down, _ := w.Down(); down {
		t.Fatal("still down after a connection")
	}
	var nilW *Watcher
	if nilW.LastError() != nil {
		t.Fatal("a nil watcher has no error")
	}
}
