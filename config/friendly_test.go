package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// yamlFile writes body to name in a temporary directory and returns its
// path.
func yamlFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantErr checks that err is exactly want and matches ErrInvalid and is.
func wantErr(t *testing.T, err error, want string, is error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want\n  %s", want)
	}
	if err.Error() != want {
		t.Errorf("error\n  %v\nwant\n  %s", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%v does not match ErrInvalid", err)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("%v does not match %v", err, is)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("%v is not a *FieldError", err)
	}
}

// TestSpringAliases: Spring Boot's names, under kafka., set kafkaboot's
// keys, from every source.
func TestSpringAliases(t *testing.T) {
	yes := true
	tests := []struct {
		name  string
		opts  []Option
		check func(k *Kafka) bool
	}{
		{"transaction-id-prefix", []Option{WithValues(map[string]any{"kafka.producer.transaction-id-prefix": "tx-"})},
			func(k *Kafka) bool { return k.Producer.TransactionalIDPrefix == "tx-" }},
		{"listener.type", []Option{WithValues(map[string]any{"kafka.listener.type": "BATCH"})},
			func(k *Kafka) bool { return k.Listener.Type == "batch" }},
		{"idle-event-interval", []Option{WithValues(map[string]any{"kafka.listener.idle-event-interval": "30s"})},
			func(k *Kafka) bool { return k.Listener.IdleInterval == 30*time.Second }},
		{"compression-type", []Option{WithValues(map[string]any{"kafka.producer.compression-type": "zstd"})},
			func(k *Kafka) bool { return k.Producer.Compression == "zstd" }},
		{"fetch-min-size", []Option{WithValues(map[string]any{"kafka.consumer.fetch-min-size": "1KB"})},
			func(k *Kafka) bool { return k.Consumer.FetchMinBytes == 1024 }},
		{"bootstrap.servers", []Option{WithValues(map[string]any{"kafka.bootstrap.servers": "a:1,b:2"})},
			func(k *Kafka) bool { return slices.Equal(k.BootstrapServers, []string{"a:1", "b:2"}) }},
		{"bootstrapServers", []Option{WithValues(map[string]any{"kafka.bootstrapServers": []any{"a:1"}})},
			func(k *Kafka) bool { return slices.Equal(k.BootstrapServers, []string{"a:1"}) }},
		{"retry.topic", []Option{WithValues(map[string]any{"kafka.retry.topic": map[string]any{
			"enabled": true, "attempts": 4, "delay": "2s", "multiplier": 2, "max-delay": "1m", "dlt-topic-suffix": ".DLT"}})},
			func(k *Kafka) bool {
				r := k.Listener.Retry
				return r.Enabled && r.Attempts == 4 && r.Delay == 2*time.Second && r.Multiplier == 2 && r.MaxDelay == time.Minute &&
					r.DLTTopicSuffix == ".DLT" && r.RetryTopicSuffix == "-retry"
			}},
		{"retry.topic.backoff (Spring Boot 3.4)", []Option{WithValues(map[string]any{
			"kafka.retry.topic.backoff.delay": "3s", "kafka.retry.topic.backoff.multiplier": 1.5, "kafka.retry.topic.backoff.max-delay": "10s"})},
			func(k *Kafka) bool {
				r := k.Listener.Retry
				return r.Delay == 3*time.Second && r.Multiplier == 1.5 && r.MaxDelay == 10*time.Second
			}},
		{"application.yml pasted under kafka:", []Option{WithFile(yamlFile(t, "spring.yaml", `
kafka:
  bootstrap-servers: broker:9092
  producer:
    transaction-id-prefix: tx-
    compression-type: lz4
  consumer:
    group-id: payments
    fetch-min-size: 2KB
  listener:
    type: batch
    ack-mode: MANUAL_IMMEDIATE
    idle-event-interval: 1m
  retry:
    topic:
      enabled: true
      attempts: 5
`))},
			func(k *Kafka) bool {
				return k.Producer.TransactionalIDPrefix == "tx-" && k.Producer.Compression == "lz4" && k.Consumer.FetchMinBytes == 2048 &&
					k.Listener.Type == "batch" && k.Listener.AckMode == AckModeManualImmediate && k.Listener.IdleInterval == time.Minute &&
					k.Listener.Retry.Enabled && k.Listener.Retry.Attempts == 5
			}},
		{"environment", []Option{WithEnviron([]string{"KAFKA_PRODUCER_TRANSACTION_ID_PREFIX=env-", "KAFKA_RETRY_TOPIC_ENABLED=true",
			"KAFKA_LISTENER_IDLE_EVENT_INTERVAL=5s", "KAFKA_LISTENER_TYPE=batch"})},
			func(k *Kafka) bool {
				return k.Producer.TransactionalIDPrefix == "env-" && k.Listener.Retry.Enabled && k.Listener.IdleInterval == 5*time.Second &&
					k.Listener.Type == "batch"
			}},
		{"an alias in a file, its key in the environment: the environment wins", []Option{
			WithFile(yamlFile(t, "a.yaml", "kafka:\n  producer:\n    transaction-id-prefix: file-\n")),
			WithEnviron([]string{"KAFKA_PRODUCER_TRANSACTIONAL_ID_PREFIX=env-"})},
			func(k *Kafka) bool { return k.Producer.TransactionalIDPrefix == "env-" }},
		{"a key in a file, its alias in values: the values win", []Option{
			WithFile(yamlFile(t, "a.yaml", "kafka:\n  listener:\n    idle-interval: 1s\n")),
			WithValues(map[string]any{"kafka.listener.idle-event-interval": "2s"})},
			func(k *Kafka) bool { return k.Listener.IdleInterval == 2*time.Second }},
		{"listener.type defaults to single", nil,
			func(k *Kafka) bool { return k.Listener.Type == "single" && DefaultKafka().Listener.Type == "single" }},
		{"idempotence untouched", []Option{WithValues(map[string]any{"kafka.producer.idempotence": true})},
			func(k *Kafka) bool { return k.Producer.Idempotence != nil && *k.Producer.Idempotence == yes }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append([]Option{WithEnviron(nil)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(&c.Kafka) {
				t.Fatalf("not applied: producer %+v\nconsumer %+v\nlistener %+v", c.Kafka.Producer, c.Kafka.Consumer, c.Kafka.Listener)
			}
		})
	}

	// In a cluster's tree too.
	c := mustLoad(t, WithValues(map[string]any{"kafka.clusters.two.bootstrap.servers": "c:1", "kafka.clusters.two.producer.compression-type": "gzip"}))
	two, err := c.ForCluster("two")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(two.Kafka.BootstrapServers, []string{"c:1"}) || two.Kafka.Producer.Compression != "gzip" {
		t.Fatalf("cluster two: %v %q", two.Kafka.BootstrapServers, two.Kafka.Producer.Compression)
	}

	if got := SpringAliases()["kafka.retry.topic.delay"]; got != "kafka.listener.retry.delay" {
		t.Fatalf(`SpringAliases()["kafka.retry.topic.delay"] = %q`, got)
	}
	if got := SpringAliases()["kafka.producer.transaction-id-prefix"]; got != "kafka.producer.transactional-id-prefix" {
		t.Fatalf(`SpringAliases()["kafka.producer.transaction-id-prefix"] = %q`, got)
	}
}

func TestSpringAliasErrors(t *testing.T) {
	f := yamlFile(t, "both.yaml", "kafka:\n  producer:\n    transactional-id-prefix: a-\n    transaction-id-prefix: b-\n")
	f2 := yamlFile(t, "two.yaml", "kafka:\n  bootstrap.servers: a:1\n  bootstrapServers: b:1\n")
	f3 := yamlFile(t, "retry.yaml", "kafka:\n  retry:\n    topic:\n      enabeld: true\n      random-back-off: true\n      max-delay: 0\n")
	tests := []struct {
		name string
		opts []Option
		want string
		is   error
	}{
		{"alias and key in values", []Option{WithValues(map[string]any{
			"kafka.producer.transaction-id-prefix": "a-", "kafka.producer.transactional-id-prefix": "a-"})},
			"config: kafka.producer.transaction-id-prefix: alias of kafka.producer.transactional-id-prefix, which is also set: set only one", nil},
		{"alias and key in a file", []Option{WithFile(f)},
			"config: kafka.producer.transaction-id-prefix: alias of kafka.producer.transactional-id-prefix, which is also set on line 3: set only one (" + f + " line 4)", nil},
		{"two aliases of one key", []Option{WithFile(f2)},
			"config: kafka.bootstrapServers: alias of kafka.bootstrap-servers, which is also set as kafka.bootstrap.servers on line 2: set only one (" + f2 + " line 3)", nil},
		{"alias and key in the environment", []Option{WithEnviron([]string{
			"KAFKA_PRODUCER_TRANSACTION_ID_PREFIX=a-", "KAFKA_PRODUCER_TRANSACTIONAL_ID_PREFIX=b-"})},
			"config: kafka.producer.transaction-id-prefix: alias of kafka.producer.transactional-id-prefix, which is also set by KAFKA_PRODUCER_TRANSACTIONAL_ID_PREFIX: set only one (environment variable KAFKA_PRODUCER_TRANSACTION_ID_PREFIX)", nil},
		{"unknown keys under an alias, and an invalid value set by one", []Option{WithFile(f3)},
			"config: kafka.retry.topic.enabeld: unknown key (did you mean kafka.retry.topic.enabled?) (" + f3 + " line 4)\n" +
				"config: kafka.retry.topic.random-back-off: unknown key (" + f3 + " line 5)\n" +
				"config: kafka.listener.retry.max-delay: must be > 0, got 0s (set as kafka.retry.topic.max-delay, " + f3 + " line 6)", nil},
		{"listener.type", []Option{WithValues(map[string]any{"kafka.listener.type": "multi"})},
			`config: kafka.listener.type: must be one of single batch, got "multi"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(append([]Option{WithEnviron(nil)}, tt.opts...)...)
			wantErr(t, err, tt.want, tt.is)
		})
	}
}

// TestSpringRoot: a spring.kafka tree is refused, not silently ignored
// (which left bootstrap-servers at localhost:9092).
func TestSpringRoot(t *testing.T) {
	f := yamlFile(t, "application.yaml", `spring:
  application:
    name: payments
  kafka:
    bootstrap-servers: broker:9092
    consumer:
      groupId: payments
      key-deserializer: org.apache.kafka.common.serialization.StringDeserializer
`)
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"values", []Option{WithValues(map[string]any{"spring.kafka.bootstrap-servers": "broker:9092"})},
			"config: spring.kafka.bootstrap-servers: kafkaboot reads kafka.* (did you mean kafka.bootstrap-servers?)"},
		{"alias", []Option{WithValues(map[string]any{"spring.kafka.producer.transaction-id-prefix": "tx-"})},
			"config: spring.kafka.producer.transaction-id-prefix: kafkaboot reads kafka.* (did you mean kafka.producer.transaction-id-prefix?)"},
		{"misspelt", []Option{WithValues(map[string]any{"spring.kafka.producr.acks": "all"})},
			"config: spring.kafka.producr.acks: kafkaboot reads kafka.* (did you mean kafka.producer.acks?)"},
		{"file", []Option{WithFile(f)},
			"config: spring.kafka.bootstrap-servers: kafkaboot reads kafka.* (did you mean kafka.bootstrap-servers?) (" + f + " line 5)\n" +
				"config: spring.kafka.consumer.groupId: kafkaboot reads kafka.* (did you mean kafka.consumer.group-id?) (" + f + " line 7)\n" +
				"config: spring.kafka.consumer.key-deserializer: kafkaboot reads kafka.* (kafka.consumer.key-deserializer is not a key either) (" + f + " line 8)"},
		{"environment", []Option{WithEnviron([]string{"SPRING_KAFKA_BOOTSTRAP_SERVERS=broker:9092"})},
			"config: environment variable SPRING_KAFKA_BOOTSTRAP_SERVERS matches no key: kafkaboot reads KAFKA_* (did you mean KAFKA_BOOTSTRAP_SERVERS?)"},
		{"environment, Spring Boot's form", []Option{WithEnviron([]string{"SPRING_KAFKA_BOOTSTRAPSERVERS=broker:9092"})},
			"config: environment variable SPRING_KAFKA_BOOTSTRAPSERVERS matches no key: kafkaboot reads KAFKA_* (did you mean KAFKA_BOOTSTRAP_SERVERS?)"},
		{"environment, no such key", []Option{WithEnviron([]string{"SPRING_KAFKA_CONSUMER_KEY_DESERIALIZER=x"})},
			"config: environment variable SPRING_KAFKA_CONSUMER_KEY_DESERIALIZER matches no key: kafkaboot reads KAFKA_*"},
		{"environment with a prefix", []Option{WithEnvPrefix("APP_"), WithEnviron([]string{
			"APP_SPRING_KAFKA_CONSUMER_GROUP_ID=g", "SPRING_KAFKA_BOOTSTRAP_SERVERS=not ours: no prefix"})},
			"config: environment variable APP_SPRING_KAFKA_CONSUMER_GROUP_ID matches no key: kafkaboot reads APP_KAFKA_* (did you mean APP_KAFKA_CONSUMER_GROUP_ID?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(append([]Option{WithEnviron(nil)}, tt.opts...)...)
			wantErr(t, err, tt.want, ErrUnknownKey)
		})
	}
	// Other spring.* keys are the application's.
	c := mustLoad(t, WithValues(map[string]any{"spring.application.name": "payments"}))
	if v, _ := c.Lookup("spring.application.name"); v != "payments" {
		t.Fatalf("spring.application.name = %q", v)
	}
}

func TestDidYouMean(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"one letter off", map[string]any{"kafka.producer.ackz": "all"},
			"config: kafka.producer.ackz: unknown key (did you mean kafka.producer.acks?)"},
		{"two letters off", map[string]any{"kafka.consumer.max-pol-record": 10},
			"config: kafka.consumer.max-pol-record: unknown key (did you mean kafka.consumer.max-poll-records?)"},
		{"camel case", map[string]any{"kafka.consumer.groupId": "g"},
			"config: kafka.consumer.groupId: unknown key (did you mean kafka.consumer.group-id?)"},
		{"snake case", map[string]any{"kafka.listener.ack_mode": "record"},
			"config: kafka.listener.ack_mode: unknown key (did you mean kafka.listener.ack-mode?)"},
		{"top level", map[string]any{"kafka.bootstrap-server": "a:1"},
			"config: kafka.bootstrap-server: unknown key (did you mean kafka.bootstrap-servers?)"},
		{"list element", map[string]any{"kafka.admin.topics": []any{map[string]any{"name": "a", "partitionz": 3}}},
			"config: kafka.admin.topics[0].partitionz: unknown key (did you mean kafka.admin.topics[0].partitions?)"},
		{"listener by id", map[string]any{"kafka.listeners.orders.concurency": 2},
			"config: kafka.listeners.orders.concurency: unknown key (did you mean kafka.listeners.orders.concurrency?)"},
		{"cluster", map[string]any{"kafka.clusters.two.bootstrap-servers": "c:1", "kafka.clusters.two.consumer.group-idd": "g"},
			"config: kafka.clusters.two.consumer.group-idd: unknown key (did you mean kafka.clusters.two.consumer.group-id?)"},
		{"far from all", map[string]any{"kafka.producer.colour": "blue"},
			"config: kafka.producer.colour: unknown key"},
		{"too short to guess", map[string]any{"kafka.producer.ak": "all"},
			"config: kafka.producer.ak: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(WithEnviron(nil), WithValues(tt.values))
			wantErr(t, err, tt.want, ErrUnknownKey)
		})
	}

	// Bind too.
	type App struct {
		Topic string `koanf:"topic"`
	}
	c := mustLoad(t, WithValues(map[string]any{"app.topik": "x"}))
	wantErr(t, c.Bind("app", &App{}), "config: app.topik: unknown key (did you mean app.topic?)", ErrUnknownKey)
}

func TestEnvNearMiss(t *testing.T) {
	tests := []struct {
		name   string
		env    []string
		prefix string
		want   string
	}{
		{"missing letter", []string{"KAFKA_BOOTSTRAP_SERVER=b:9092"}, "",
			"config: environment variable KAFKA_BOOTSTRAP_SERVER matches no key (did you mean KAFKA_BOOTSTRAP_SERVERS?)"},
		{"two letters", []string{"KAFKA_PRODUCER_AKS=all"}, "",
			"config: environment variable KAFKA_PRODUCER_AKS matches no key (did you mean KAFKA_PRODUCER_ACKS?)"},
		{"underscores", []string{"KAFKA_CONSUMER_GROUPID=g"}, "",
			"config: environment variable KAFKA_CONSUMER_GROUPID matches no key (did you mean KAFKA_CONSUMER_GROUP_ID?)"},
		{"list index", []string{"KAFKA_ADMIN_TOPICS_3_NAMES=t"}, "",
			"config: environment variable KAFKA_ADMIN_TOPICS_3_NAMES matches no key (did you mean KAFKA_ADMIN_TOPICS_3_NAME?)"},
		{"alias", []string{"KAFKA_RETRY_TOPIC_ENABLE=true"}, "",
			"config: environment variable KAFKA_RETRY_TOPIC_ENABLE matches no key (did you mean KAFKA_RETRY_TOPIC_ENABLED?)"},
		{"prefix", []string{"MYAPP_KAFKA_CLIENTID=x"}, "MYAPP_",
			"config: environment variable MYAPP_KAFKA_CLIENTID matches no key (did you mean MYAPP_KAFKA_CLIENT_ID?)"},
		{"several, sorted", []string{"KAFKA_LISTENER_CONCURENCY=2", "KAFKA_BOOTSTRAP_SERVER=b:9092", "KAFKA_HOME=/opt/kafka"}, "",
			"config: environment variable KAFKA_BOOTSTRAP_SERVER matches no key (did you mean KAFKA_BOOTSTRAP_SERVERS?)\n" +
				"config: environment variable KAFKA_LISTENER_CONCURENCY matches no key (did you mean KAFKA_LISTENER_CONCURRENCY?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(WithEnviron(tt.env), WithEnvPrefix(tt.prefix))
			wantErr(t, err, tt.want, ErrUnknownKey)
		})
	}

	// Other programs' KAFKA_* variables, far from any key, are ignored.
	others := []string{
		"KAFKA_HOME=/opt/kafka", "KAFKA_HEAP_OPTS=-Xmx1G", "KAFKA_OPTS=-Dx=y", "KAFKA_JMX_OPTS=-Dcom.sun.management.jmxremote",
		"KAFKA_LOG4J_OPTS=-Dlog4j.configuration=file:x", "KAFKA_JVM_PERFORMANCE_OPTS=-server", "KAFKA_GC_LOG_OPTS=-Xlog:gc",
		"KAFKA_DEBUG=y", "KAFKA_LOG_DIRS=/var/lib/kafka", "KAFKA_VERSION=4.1", "KAFKA_BROKER_ID=1", "KAFKA_NODE_ID=1",
		"KAFKA_PROCESS_ROLES=broker", "KAFKA_LISTENERS=PLAINTEXT://:9092", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://k:9092",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT", "KAFKA_CONTROLLER_QUORUM_VOTERS=1@k:9093",
		"KAFKA_ZOOKEEPER_CONNECT=zk:2181", "KAFKA_CLUSTER_ID=abc", "KAFKA_NUM_PARTITIONS=3", "KAFKA_CFG_NODE_ID=0",
		"KAFKA_GROUP_ID=app", "KAFKA_TOPIC=orders", "KAFKA_BROKERS=k:9092", "KAFKA_USERNAME=u", "KAFKA_PASSWORD=p",
		"KAFKA_PRODUCER_NOT_A_KEY=whatever",
	}
	c, err := Load(WithEnviron(append(others, "KAFKA_CLIENT_ID=mine")))
	if err != nil {
		t.Fatalf("other programs' variables refused: %v", err)
	}
	if c.Kafka.ClientID != "mine" {
		t.Fatalf("client-id = %q", c.Kafka.ClientID)
	}
}

// TestYAMLLines: YAML errors name the file and the line at fault, and
// errors about keys of a file say where the key is.
func TestYAMLLines(t *testing.T) {
	// go.yaml.in/yaml/v3 (koanf's YAML parser) reports parser errors at
	// the line before the one where the enclosing block starts: this one
	// on line 1, for a mistake on line 5.
	const misindented = "kafka:\n  bootstrap-servers: a:9092\n  producer:\n    acks: all\n   compression: lz4\n  consumer:\n    group-id: g\n"
	var m map[string]any
	if err := yaml.Unmarshal([]byte(misindented), &m); err == nil || err.Error() != "yaml: line 1: did not find expected key" {
		t.Fatalf("yaml.v3 now says %v: revisit yamlSyntaxError", err)
	}

	type tc struct {
		name, body, want string
		is               error
	}
	tests := []tc{
		{"misindented key", misindented, "FILE line 5: invalid YAML: did not find expected key in \"   compression: lz4\"", nil},
		{"unclosed bracket", "kafka:\n  bootstrap-servers: a:9092\n  consumer:\n    group-id: [g\n  producer:\n    acks: all\n",
			"FILE line 4: invalid YAML: did not find expected ',' or ']' in \"    group-id: [g\"", nil},
		{"unclosed bracket on line 1", "kafka: [unclosed\n", "FILE line 1: invalid YAML: did not find expected ',' or ']' in \"kafka: [unclosed\"", nil},
		{"sequence entry in a mapping", "kafka:\n  producer:\n    - a\n    b: 1\n", "FILE line 4: invalid YAML: did not find expected '-' indicator in \"    b: 1\"", nil},
		{"after comments", "kafka:\n  client-id: x\n  # comment\n\n bootstrap-servers: y\n",
			"FILE line 5: invalid YAML: did not find expected key in \" bootstrap-servers: y\"", nil},
		{"tab", "kafka:\n  producer:\n\tacks: all\n", "FILE line 3: invalid YAML: found character that cannot start any token in \"\\tacks: all\"", nil},
		{"unclosed quote", "kafka:\n  producer:\n    acks: \"all\n  consumer:\n    group-id: x\n",
			"FILE line 3: invalid YAML: found unexpected end of stream in \"    acks: \\\"all\"", nil},
		{"unknown anchor", "app:\n  a: &x 1\n  b: *y\n", "FILE line 3: invalid YAML: unknown anchor 'y' referenced in \"  b: *y\"", nil},
		{"duplicate key", "kafka:\n  producer:\n    acks: all\n    acks: 1\n", "FILE line 4: invalid YAML: mapping key \"acks\" already defined at line 3", nil},
		{"not a mapping", "- kafka\n", "FILE line 1: invalid YAML: the top level must be a mapping of keys, got a list", nil},

		{"unknown key", "kafka:\n  bootstrap-servers: a:9092\n  producer:\n    acks: all\n    compresion: lz4\n",
			"kafka.producer.compresion: unknown key (did you mean kafka.producer.compression?) (FILE line 5)", ErrUnknownKey},
		{"invalid value", "kafka:\n  bootstrap-servers: a:9092\n  listener:\n    ack-mode: sometimes\n",
			`kafka.listener.ack-mode: must be one of record batch time count count-time manual manual-immediate, got "sometimes" (FILE line 4)`, nil},
		{"value that does not decode", "kafka:\n\n  listener:\n    concurrency: many\n",
			`kafka.listener.concurrency: expected an integer, got "many": not an integer (FILE line 4)`, nil},
		{"list element", "kafka:\n  bootstrap-servers:\n    - a:9092\n    - nohostport\n",
			`kafka.bootstrap-servers[1]: must be host:port, got "nohostport" (FILE line 4)`, nil},
		{"element of a comma-separated list", "kafka:\n  bootstrap-servers: a:9092,nohostport\n",
			`kafka.bootstrap-servers[1]: must be host:port, got "nohostport" (FILE line 2)`, nil},
		{"missing field of a list element", "kafka:\n  admin:\n    topics:\n      - name: a\n      - partitions: 3\n",
			"kafka.admin.topics[1].name: is required (FILE line 5)", nil},
		{"listener by id", "kafka:\n  listeners:\n    orders:\n      concurrency: 0\n",
			"kafka.listeners[orders].concurrency: must be >= 1, got 0 (FILE line 4)", nil},
		{"cross-field rule", "kafka:\n  producer:\n    acks: 1\n    idempotence: true\n",
			`kafka.producer.idempotence: idempotence requires kafka.producer.acks=all, got acks "1" (set idempotence to false or acks to all) (FILE line 4)`, nil},
		{"cluster", "kafka:\n  clusters:\n    two:\n      bootstrap-servers: c:1\n      producer:\n        acks: 7\n",
			`kafka.clusters.two.producer.acks: must be one of all 1 0 -1, got "7" (FILE line 6)`, nil},
		{"merged in", "base: &base\n  acks: 7\nkafka:\n  producer:\n    <<: *base\n    linger: 1ms\n",
			`kafka.producer.acks: must be one of all 1 0 -1, got "7" (FILE line 2)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := yamlFile(t, "app.yaml", tt.body)
			_, err := Load(WithEnviron(nil), WithFile(f))
			wantErr(t, err, "config: "+strings.ReplaceAll(tt.want, "FILE", f), tt.is)
			var fe *FieldError
			if errors.As(err, &fe) && (fe.File != f || fe.Line == 0) {
				t.Errorf("File %q Line %d", fe.File, fe.Line)
			}
		})
	}

	// The source that set a key is the one named.
	f1 := yamlFile(t, "base.yaml", "kafka:\n  producer:\n    acks: all\n    compression: lz4\n")
	f2 := yamlFile(t, "override.yaml", "\n\nkafka:\n  producer:\n    compression: brotli\n")
	_, err := Load(WithEnviron([]string{"KAFKA_PRODUCER_ACKS=3"}), WithFile(f1), WithFile(f2))
	wantErr(t, err, `config: kafka.producer.acks: must be one of all 1 0 -1, got "3" (environment variable KAFKA_PRODUCER_ACKS)`+"\n"+
		`config: kafka.producer.compression: must be one of none gzip snappy lz4 zstd, got "brotli" (`+f2+" line 5)", nil)
	_, err = Load(WithEnviron(nil), WithFile(f1), WithValues(map[string]any{"kafka.producer.acks": "3"}))
	wantErr(t, err, `config: kafka.producer.acks: must be one of all 1 0 -1, got "3"`, nil)
	// A list from the environment replaces the file's.
	f3 := yamlFile(t, "topics.yaml", "kafka:\n  admin:\n    topics:\n      - name: a\n      - name: b\n")
	_, err = Load(WithEnviron([]string{"KAFKA_ADMIN_TOPICS_0_NAME=bad/name"}), WithFile(f3))
	wantErr(t, err, `config: kafka.admin.topics[0].name: topic name "bad/name" contains '/'; only [a-zA-Z0-9._-] are allowed (environment variable KAFKA_ADMIN_TOPICS_0_NAME)`, nil)

	// Bind names the file too.
	type App struct {
		Retries int `koanf:"retries" validate:"gte=0"`
	}
	f4 := yamlFile(t, "app.yaml", "app:\n  retries: -1\n")
	c := mustLoad(t, WithFile(f4))
	wantErr(t, c.Bind("app", &App{}), "config: app.retries: must be >= 0, got -1 ("+f4+" line 2)", nil)
}

func TestFieldErrorText(t *testing.T) {
	for _, tt := range []struct {
		fe   FieldError
		want string
	}{
		{FieldError{Key: "kafka.producer.acks", Msg: "bad"}, "config: kafka.producer.acks: bad"},
		{FieldError{Key: "kafka.producer.acks", Msg: "bad", File: "a.yaml", Line: 3}, "config: kafka.producer.acks: bad (a.yaml line 3)"},
		{FieldError{Key: "kafka.listener.retry.delay", Msg: "bad", File: "a.yaml", Line: 3, Alias: "kafka.retry.topic.delay"},
			"config: kafka.listener.retry.delay: bad (set as kafka.retry.topic.delay, a.yaml line 3)"},
		{FieldError{Key: "kafka.producer.acks", Msg: "bad", Env: "KAFKA_PRODUCER_ACKS"}, "config: kafka.producer.acks: bad (environment variable KAFKA_PRODUCER_ACKS)"},
		{FieldError{Env: "KAFKA_X", Msg: "matches no key"}, "config: environment variable KAFKA_X matches no key"},
		{FieldError{File: "a.yaml", Line: 2, Msg: "invalid YAML: x"}, "config: a.yaml line 2: invalid YAML: x"},
	} {
		if got := tt.fe.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
