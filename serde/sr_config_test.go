package serde_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/serde"
)

// kafkaClient returns a client producing to and consuming topic from the
// start.
func kafkaClient(t testing.TB, c *embeddedbroker.Cluster, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consume polls n records.
func consume(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	c := ctx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(c)
		if c.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestSRConfig: kafka.schema-registry.* loads (defaults, a file-like map
// and environment variables), validates, and configures the client (URLs,
// basic auth) and the serde options (auto-register, use-latest,
// strategy, cache capacity).
func TestSRConfig(t *testing.T) {
	def := config.DefaultKafka().SchemaRegistry
	if !def.AutoRegisterSchemas || def.UseLatestVersion || def.SubjectNameStrategy != "topic" || def.CacheCapacity != 1000 || len(def.URL) != 0 {
		t.Fatalf("defaults %+v", def)
	}
	if _, err := serde.NewSRClient(def); err == nil {
		t.Fatal("client without URL")
	}

	c, _, _ := registry(t)
	cfg, err := config.Load(
		config.WithEnviron([]string{
			"KAFKA_SCHEMA_REGISTRY_URL=" + c.SchemaRegistryURL() + ",http://127.0.0.1:1",
			"KAFKA_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=alice:s3cr:et",
		}),
		config.WithValues(map[string]any{"kafka": map[string]any{"schema-registry": map[string]any{
			"auto-register-schemas": false,
			"use-latest-version":    true,
			"subject-name-strategy": "record",
			"cache-capacity":        10,
		}}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	src := cfg.Kafka.SchemaRegistry
	if len(src.URL) != 2 || src.AutoRegisterSchemas || !src.UseLatestVersion || src.SubjectNameStrategy != "record" || src.CacheCapacity != 10 {
		t.Fatalf("loaded %+v", src)
	}
	if u, p, ok := src.BasicAuth(); !ok || u != "alice" || p != "s3cr:et" {
		t.Fatalf("basic auth %q %q %v", u, p, ok)
	}
	ct := &countingTransport{}
	cl, err := serde.NewSRClient(src, sr.HTTPClient(&http.Client{Transport: ct, Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if src.URL[0] != c.SchemaRegistryURL() {
		t.Fatal("NewSRClient changed the configuration")
	}
	// The options: auto-register off, latest version, record strategy.
	a := serde.NewSRAvro(cl, serde.SROptionsFromConfig(src)...)
	if err := a.Register(avroOrder{}, orderSchemaV1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Serialize("cfg", nil, avroOrder{Tags: []string{}}); !errors.Is(err, serde.ErrSchemaNotRegistered) || !strings.Contains(err.Error(), `"shop.Order"`) {
		t.Fatalf("auto-register off, record strategy: %v", err)
	}
	ss, err := cl.CreateSchema(ctx(t), "shop.Order", sr.Schema{Schema: orderSchemaV2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.Serialize("cfg", nil, avroOrder{Tags: []string{}})
	if err != nil || frameID(t, b) != ss.ID {
		t.Fatalf("use-latest: %x %v", b, err)
	}
	if ct.auth[0] == "" || !strings.HasPrefix(ct.auth[0], "Basic ") {
		t.Fatalf("authorization %q", ct.auth[0])
	}

	// Validation.
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"subject-name-strategy": "by-topic"}, "kafka.schema-registry.subject-name-strategy: must be one of topic record topic-record"},
		{map[string]any{"url": "registry:8081"}, "kafka.schema-registry.url[0]"},
		{map[string]any{"basic-auth-user-info": "alice"}, "kafka.schema-registry.basic-auth-user-info"},
		{map[string]any{"cache-capacity": -1}, "kafka.schema-registry.cache-capacity: must be >= 0"},
		{map[string]any{"auto-register-schema": true}, "kafka.schema-registry.auto-register-schema: unknown key (did you mean kafka.schema-registry.auto-register-schemas?)"},
	} {
		_, err := config.Load(config.WithEnviron(nil), config.WithValues(map[string]any{"kafka": map[string]any{"schema-registry": tc.values}}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.values, err, tc.want)
		}
	}
}
