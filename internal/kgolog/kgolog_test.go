package kgolog

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLogger(t *testing.T) {
	var buf strings.Builder
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lv, err := ParseLevel("info")
	if err != nil {
		t.Fatal(err)
	}
	kl := New(l, lv, nil)
	if kl.Level() != kgo.LogLevelInfo {
		t.Fatalf("level %v", kl.Level())
	}
	kl.Log(kgo.LogLevelWarn, "from franz", "broker", 1)
	if out := buf.String(); !strings.Contains(out, `level=WARN msg="from franz" component=franz-go broker=1`) {
		t.Fatalf("output %q", out)
	}
	if New(l, kgo.LogLevelNone, nil) != nil || Opt(l, kgo.LogLevelNone, nil) != nil || New(nil, kgo.LogLevelWarn, nil) != nil {
		t.Fatal("none should log nothing")
	}
	quiet := New(l, kgo.LogLevelWarn, func() bool { return true })
	quiet.Log(kgo.LogLevelError, "retrying", "n", 2)
	if out := buf.String(); !strings.Contains(out, `level=DEBUG msg=retrying component=franz-go n=2`) {
		t.Fatalf("quiet output %q", out)
	}
	if _, err := ParseLevel("loud"); err == nil || !strings.Contains(err.Error(), "kafka.client.log-level") {
		t.Fatalf("bad level: %v", err)
	}
}
