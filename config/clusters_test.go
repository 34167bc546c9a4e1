package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusters(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.yaml")
	os.WriteFile(f, []byte(`
kafka:
  bootstrap-servers: events-1:9092
  client-id: billing
  producer:
    acks: all
    compression: lz4
  admin:
    topics:
      - name: orders
  clusters:
    analytics:
      bootstrap-servers: analytics-1:9092,analytics-2:9092
      producer:
        compression: zstd
`), 0o600)
	c, err := Load(WithEnviron(nil), WithFile(f))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ClusterNames(); len(got) != 1 || got[0] != "analytics" {
		t.Fatalf("clusters %v", got)
	}
	a, err := c.ForCluster("analytics")
	if err != nil {
		t.Fatal(err)
	}
	k := a.Kafka
	if strings.Join(k.BootstrapServers, ",") != "analytics-1:9092,analytics-2:9092" || k.Producer.Compression != "zstd" ||
		k.ClientID != "billing" || k.Producer.Acks != "all" || len(k.Admin.Topics) != 0 {
		t.Fatalf("analytics: servers %v, compression %q, client id %q, acks %q, %d admin topics",
			k.BootstrapServers, k.Producer.Compression, k.ClientID, k.Producer.Acks, len(k.Admin.Topics))
	}
	if c.Kafka.Producer.Compression != "lz4" || len(c.Kafka.Admin.Topics) != 1 {
		t.Fatalf("the top level changed: %+v", c.Kafka.Producer)
	}
	if top, _ := c.ForCluster(""); top != c {
		t.Fatal(`ForCluster("") is not the top level`)
	}
	if _, err := c.ForCluster("metrics"); err == nil || err.Error() != "config: kafka.clusters.metrics: no such cluster (known: analytics)" || !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown cluster: %v", err)
	}

	for values, want := range map[string]string{
		"kafka.clusters.analytics.producer.acks=maybe":       `kafka.clusters.analytics.producer.acks: must be one of`,
		"kafka.clusters.analytics.producer.acksz=1":          `kafka.clusters.analytics.producer.acksz: unknown key`,
		"kafka.clusters.analytics.client-id=x":               `kafka.clusters.analytics.bootstrap-servers: is required`,
		"kafka.clusters.analytics.clusters.x.client-id=a":    `kafka.clusters.analytics.clusters: clusters cannot be nested`,
		"kafka.clusters.analytics.bootstrap-servers=nothost": `kafka.clusters.analytics.bootstrap-servers`,
	} {
		kv, val, _ := strings.Cut(values, "=")
		m := map[string]any{kv: val}
		if !strings.HasSuffix(kv, "bootstrap-servers") && !strings.HasSuffix(kv, "client-id") {
			m["kafka.clusters.analytics.bootstrap-servers"] = "a:9092"
		}
		_, err := Load(WithEnviron(nil), WithValues(m))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", values, err, want)
		}
	}
}
