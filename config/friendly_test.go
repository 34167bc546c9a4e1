package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSpringHabits: what a Spring Boot user writes works, or fails with
// the key meant.
func TestSpringHabits(t *testing.T) {
	// Spring Boot's names as aliases.
	c, err := Load(WithEnviron(nil), WithValues(map[string]any{
		"kafka.producer.transaction-id-prefix": "tx-",
		"kafka.listener.idle-event-interval":   "30s",
		"kafka.listener.type":                  "batch",
		"kafka.retry.topic.enabled":            true,
		"kafka.retry.topic.attempts":           4,
	}))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka
	if k.Producer.TransactionalIDPrefix != "tx-" || k.Listener.IdleInterval != 30*time.Second || k.Listener.Type != "batch" ||
		!k.Listener.Retry.Enabled || k.Listener.Retry.Attempts != 4 {
		t.Fatalf("aliases not applied: %+v / %+v", k.Producer, k.Listener)
	}

	dir := t.TempDir()
	yaml := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"alias and key disagree", []Option{WithEnviron(nil), WithValues(map[string]any{
			"kafka.producer.transaction-id-prefix": "a-", "kafka.producer.transactional-id-prefix": "b-"})},
			"config: kafka.producer.transaction-id-prefix: Spring Boot's name for kafka.producer.transactional-id-prefix, which is set too, to another value (a- and b-): keep one"},
		{"spring.kafka root", []Option{WithEnviron(nil), WithFile(yaml("spring.yaml", "spring:\n  kafka:\n    bootstrap-servers: broker:9092\n"))},
			"config: spring.kafka.bootstrap-servers: kafkaboot reads kafka.* (did you mean kafka.bootstrap-servers?)"},
		{"SPRING_KAFKA_ variable", []Option{WithEnviron([]string{"SPRING_KAFKA_BOOTSTRAP_SERVERS=broker:9092"})},
			"config: environment variable SPRING_KAFKA_BOOTSTRAP_SERVERS: kafkaboot reads KAFKA_* (did you mean KAFKA_BOOTSTRAP_SERVERS?)"},
		{"near-miss variable", []Option{WithEnviron([]string{"KAFKA_BOOTSTRAP_SERVER=broker:9092"})},
			"config: environment variable KAFKA_BOOTSTRAP_SERVER: matches no key (did you mean KAFKA_BOOTSTRAP_SERVERS?)"},
		{"unknown key, near one", []Option{WithEnviron(nil), WithValues(map[string]any{"kafka.producer.ackz": "all"})},
			"config: kafka.producer.ackz: unknown key (did you mean kafka.producer.acks?)"},
		{"unknown key, case and dashes", []Option{WithEnviron(nil), WithValues(map[string]any{"kafka.consumer.groupId": "g"})},
			"config: kafka.consumer.groupId: unknown key (did you mean kafka.consumer.group-id?)"},
		{"unknown key, far from all", []Option{WithEnviron(nil), WithValues(map[string]any{"kafka.producer.colour": "blue"})},
			"config: kafka.producer.colour: unknown key"},
		{"unknown key in a file, with its line", []Option{WithEnviron(nil), WithFile(yaml("typo.yaml",
			"kafka:\n  bootstrap-servers: a:9092\n  producer:\n    acks: all\n    compresion: lz4\n"))},
			"config: kafka.producer.compresion: unknown key (did you mean kafka.producer.compression?) (" + filepath.Join(dir, "typo.yaml") + " line 5)"},
		{"invalid value in a file, with its line", []Option{WithEnviron(nil), WithFile(yaml("bad.yaml",
			"kafka:\n  bootstrap-servers: a:9092\n  listener:\n    ack-mode: sometimes\n"))},
			`config: kafka.listener.ack-mode: must be one of record batch time count count-time manual manual-immediate, got "sometimes" (` + filepath.Join(dir, "bad.yaml") + " line 4)"},
		{"broken YAML at the right line", []Option{WithEnviron(nil), WithFile(yaml("indent.yaml",
			"kafka:\n  bootstrap-servers: a:9092\n  producer:\n    acks: all\n   compression: lz4\n  consumer:\n    group-id: g\n"))},
			"config: (file " + filepath.Join(dir, "indent.yaml") + " line 5): invalid YAML: did not find expected key:    compression: lz4"},
		{"unclosed bracket at the right line", []Option{WithEnviron(nil), WithFile(yaml("bracket.yaml",
			"kafka:\n  bootstrap-servers: a:9092\n  producer:\n    acks: all\n  consumer:\n    group-id: [g\n"))},
			"config: (file " + filepath.Join(dir, "bracket.yaml") + " line 6): invalid YAML: did not find expected ',' or ']':     group-id: [g"},
	} {
		_, err := Load(tc.opts...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got  %v\n want %s", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v does not match ErrInvalid", tc.name, err)
		}
	}

	// Other tools' KAFKA_* variables are not ours: ignored.
	if _, err := Load(WithEnviron([]string{"KAFKA_HOME=/opt/kafka", "KAFKA_HEAP_OPTS=-Xmx1G", "KAFKA_OPTS=-Dx", "KAFKA_JMX_OPTS=-Dy",
		"KAFKA_LOG4J_OPTS=-Dz", "KAFKA_CLUSTER_NAME=prod"})); err != nil {
		t.Fatalf("other tools' variables refused: %v", err)
	}
	if !strings.Contains(SpringAliases["kafka.retry.topic.delay"], "listener.retry.delay") {
		t.Fatal("alias table")
	}
}
