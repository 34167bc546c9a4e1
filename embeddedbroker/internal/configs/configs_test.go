package configs

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every default must pass its own validation, including the configs the
// embedded broker accepts only at their default.
func TestDefaultsValidate(t *testing.T) {
	for _, defs := range [][]Def{TopicDefs(), BrokerDefs()} {
		for i := range defs {
			d := &defs[i]
			if err := d.Validate(d.Default); err != nil {
				t.Errorf("%s: default %q: %v", d.Name, d.Default, err)
			}
			if d.Only != nil && d.Refused == "" {
				t.Errorf("%s: Only without Refused", d.Name)
			}
		}
	}
	// A topic config and its broker synonym refuse the same values.
	for _, d := range TopicDefs() {
		bd, ok := BrokerDef(d.Broker)
		if !ok {
			t.Errorf("%s: broker synonym %q is not defined", d.Name, d.Broker)
			continue
		}
		if strings.Join(d.Only, ",") != strings.Join(bd.Only, ",") || d.Default != bd.Default {
			t.Errorf("%s and %s differ: default %q/%q, only %q/%q", d.Name, bd.Name, d.Default, bd.Default, d.Only, bd.Only)
		}
	}
}

// The package documentation's table names every topic config, so that its
// state is visible at a glance.
func TestDocTableNamesEveryTopicConfig(t *testing.T) {
	src, err := os.ReadFile("configs.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package configs")
	for _, d := range TopicDefs() {
		if !strings.Contains(doc, "//\t"+d.Name+" (") {
			t.Errorf("%s is missing from the package documentation's table", d.Name)
		}
	}
}

func TestRefusedValues(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
		why         string
	}{
		{"preallocate", "false", true, ""},
		{"preallocate", "true", false, "does not preallocate"},
		{"log.preallocate", "true", false, "does not preallocate"},
		{"file.delete.delay.ms", "60000", true, ""},
		{"file.delete.delay.ms", "0", true, ""},
		{"file.delete.delay.ms", " 060000", true, ""},
		{"file.delete.delay.ms", "1000", false, "deletes segment files at once"},
		{"log.segment.delete.delay.ms", "1", false, "deletes segment files at once"},
		{"delete.retention.ms", "86400000", true, ""},
		{"delete.retention.ms", "1000", true, ""},
		{"min.cleanable.dirty.ratio", "0.1", true, ""},
		{"min.cleanable.dirty.ratio", "1.01", false, "at most 1"},
		{"min.cleanable.dirty.ratio", "-0.1", false, "at least 0"},
		{"min.compaction.lag.ms", "0", true, ""},
		{"min.compaction.lag.ms", "100", true, ""},
		{"max.compaction.lag.ms", "9223372036854775807", true, ""},
		{"max.compaction.lag.ms", "1000", true, ""},
		{"max.compaction.lag.ms", "0", false, "at least 1"},
		{"log.cleaner.delete.retention.ms", "5", true, ""},
		{"log.cleaner.min.cleanable.ratio", "0.9", true, ""},
		{"log.cleaner.threads", "2", true, ""},
		{"log.cleaner.backoff.ms", "-1", false, "at least 0"},
		{"log.cleaner.io.max.bytes.per.second", "1048576", true, ""},
		{"cleanup.policy", "compact,delete", true, ""},
		{"cleanup.policy", "delete, compact", true, ""},
		{"cleanup.policy", "compact,remove", false, "elements must be among"},
		{"compression.type", "zstd", true, ""},
		{"segment.index.bytes", "16", true, ""},
		{"segment.jitter.ms", "1000", true, ""},
		{"log.roll.jitter.ms", "-1", false, "at least 0"},
		{"message.timestamp.before.max.ms", "3600000", true, ""},
		{"log.message.timestamp.after.max.ms", "-5", false, "at least 0"},
	}
	for _, tt := range tests {
		d, ok := TopicDef(tt.name)
		if !ok {
			d, ok = BrokerDef(tt.name)
		}
		if !ok {
			t.Fatalf("%s: not defined", tt.name)
		}
		err := d.Validate(tt.value)
		if tt.ok {
			if err != nil {
				t.Errorf("%s=%q: %v", tt.name, tt.value, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s=%q accepted", tt.name, tt.value)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.name) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s=%q: error %q: want ErrInvalid naming the config and saying %q", tt.name, tt.value, err, tt.why)
		}
		if d.Only != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s=%q: error %q is not ErrUnsupported", tt.name, tt.value, err)
		}
	}
}

func TestNewBrokerRefuses(t *testing.T) {
	_, err := NewBroker(map[string]string{"log.preallocate": "true"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "log.preallocate") {
		t.Fatalf("NewBroker: %v", err)
	}
	err = ValidateTopic(map[string]string{"preallocate": "true"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "preallocate") {
		t.Fatalf("ValidateTopic: %v", err)
	}
	err = ValidateTopic(map[string]string{"min.cleanable.dirty.ratio": "1.5"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most 1") {
		t.Fatalf("ValidateTopic(min.cleanable.dirty.ratio=1.5): %v", err)
	}
}

func TestStaticBrokerConfigFeedsTopic(t *testing.T) {
	b, err := NewBroker(map[string]string{"log.cleanup.policy": "compact,delete", "log.retention.ms": " 1000"})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Compacted(nil) || !b.Deletes(nil) {
		t.Fatal("log.cleanup.policy=compact,delete: want compacted and deleting")
	}
	if got := b.TopicInt(nil, "retention.ms"); got != 1000 {
		t.Fatalf("retention.ms from log.retention.ms: %d", got)
	}
	if b.Deletes(map[string]string{"cleanup.policy": "compact"}) {
		t.Fatal("the topic's own cleanup.policy=compact must win")
	}
	if v := b.Topic(nil, "retention.ms"); v.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("source %v", v.Source)
	}
}
