package main

import (
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	in := `# Kafka server.properties
! another comment
listeners=SASL_PLAINTEXT://127.0.0.1:9192,SSL://0.0.0.0:9292
advertised.listeners : SSL://broker.example.com:9292
sasl.enabled.mechanisms SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
    username="admin" \
    password="admin-secret";
path=C:\\kafka\\data
key\=with\:seps=v\u00e9
empty=
`
	got, err := parseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listeners":               "SASL_PLAINTEXT://127.0.0.1:9192,SSL://0.0.0.0:9292",
		"advertised.listeners":    "SSL://broker.example.com:9292",
		"sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";`,
		"path":          `C:\kafka\data`,
		"key=with:seps": "vé",
		"empty":         "",
	}
	if len(got) != len(want) {
		t.Errorf("got %d properties, want %d: %q", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
