package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/serde"
)

// startRegistryCluster starts a one-node cluster with the embedded schema
// registry and topics of one partition.
func startRegistryCluster(t *testing.T, topics ...string) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t, embeddedbroker.SchemaRegistry("127.0.0.1:0"), embeddedbroker.Topics(1, topics...))
}

// kbsr runs args against cluster c and its schema registry.
func kbsr(t *testing.T, c *embeddedbroker.Cluster, stdin string, args ...string) result {
	t.Helper()
	return kbc(t, c, stdin, append(args, "--schema-registry", c.SchemaRegistryURL())...)
}

// registryClient is a franz-go client of c's schema registry.
func registryClient(t *testing.T, c *embeddedbroker.Cluster) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(c.SchemaRegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// rawRecords reads the first n records of topic's partition 0.
func rawRecords(t *testing.T, c *embeddedbroker.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollRecords(ctx, n-len(out))
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// produceRaw writes values to topic as they are.
func produceRaw(t *testing.T, c *embeddedbroker.Cluster, topic string, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range values {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// writeFile writes text to a file in a test directory and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// schemaID returns the schema id in the header of a wire-format record.
func schemaID(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("not in the wire format: %x", b)
	}
	return int(binary.BigEndian.Uint32(b[1:5]))
}

const orderAvro = `{"type": "record", "name": "Order", "namespace": "shop", "fields": [
  {"name": "id", "type": "string"},
  {"name": "qty", "type": "int"},
  {"name": "price", "type": "double"},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "payload", "type": "bytes"},
  {"name": "ship", "type": ["null", {"type": "record", "name": "Address", "fields": [
    {"name": "city", "type": "string"}, {"name": "zip", "type": "string"}]}], "default": null},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "attrs", "type": {"type": "map", "values": "long"}},
  {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null}
]}`

// TestSchemaAvroRoundTrip: Avro JSON lines produced with a schema file are
// printed back the same by consume --value-format avro, unions and bytes
// included, and are in Confluent's wire format: the framework's registry
// serde reads them.
func TestSchemaAvroRoundTrip(t *testing.T) {
	c := startRegistryCluster(t, "orders")
	file := writeFile(t, "order.avsc", orderAvro)
	lines := []string{
		`{"id":"o-1","qty":2,"price":9.5,"note":null,"payload":"abc","ship":null,"status":"NEW","tags":[],"attrs":{},"at":null}`,
		`{"id":"o-2","qty":1,"price":0.25,"note":{"string":"gift for Zoë"},"payload":"\u0000\u0001ÿ\"","ship":{"shop.Address":{"city":"Zürich","zip":"8001"}},"status":"PAID","tags":["a","b"],"attrs":{"a":-1,"b":2,"c":3},"at":{"long":1700000000123}}`,
	}
	r := kbsr(t, c, strings.Join(lines, "\n")+"\n", "produce", "--topic", "orders", "--value-format", "avro", "--value-schema-file", file).ok(t)
	if r.stderr != "" {
		t.Fatalf("produce stderr %q", r.stderr)
	}
	// The fields in another order, a bytes string with escapes: the same records.
	kbsr(t, c, `{"qty":1,"id":"o-3","price":1.5,"payload":"\u00ff\u0041","note":null,"ship":null,"status":"NEW","tags":[],"attrs":{"z":1,"y":2},"at":null}`,
		"produce", "--topic", "orders", "--value-format", "avro", "--value-schema-file", file).ok(t)
	want := strings.Join(lines, "\n") + "\n" +
		`{"id":"o-3","qty":1,"price":1.5,"note":null,"payload":"ÿA","ship":null,"status":"NEW","tags":[],"attrs":{"y":2,"z":1},"at":null}` + "\n"
	r = kbsr(t, c, "", "consume", "--topic", "orders", "--from-beginning", "--max-messages", "3", "--value-format", "avro").ok(t)
	if r.stdout != want {
		t.Fatalf("consume printed\n%s\nwant\n%s", r.stdout, want)
	}

	// Confluent's wire format, with the id the registry gave the schema.
	rcl := registryClient(t, c)
	ss, err := rcl.SchemaByVersion(t.Context(), "orders-value", -1)
	if err != nil {
		t.Fatal(err)
	}
	recs := rawRecords(t, c, "orders", 3)
	avro := serde.NewSRAvro(rcl)
	for i, rec := range recs {
		if id := schemaID(t, rec.Value); id != ss.ID {
			t.Fatalf("record %d has schema id %d, want %d", i, id, ss.ID)
		}
		v, err := avro.Deserialize("orders", nil, rec.Value, reflect.TypeFor[map[string]any]())
		if err != nil {
			t.Fatalf("serde.SRAvro cannot read record %d: %v", i, err)
		}
		m := v.(map[string]any)
		if i == 1 {
			if m["id"] != "o-2" || m["qty"] != 1 || !bytes.Equal(m["payload"].([]byte), []byte{0, 1, 0xff, '"'}) {
				t.Fatalf("serde.SRAvro read %#v", m)
			}
			if s := fmt.Sprint(m["ship"]); !strings.Contains(s, "Zürich") {
				t.Fatalf("serde.SRAvro read ship %v", m["ship"])
			}
		}
	}

	// Producing with the same schema again registers no new version.
	versions, err := rcl.SubjectVersions(t.Context(), "orders-value")
	if err != nil || len(versions) != 1 {
		t.Fatalf("versions %v, %v", versions, err)
	}

	t.Run("line not matching the schema", func(t *testing.T) {
		in := lines[0] + "\n" + `{"id":"o-9","qty":"many"}` + "\n\n" + `{"id":` + "\n"
		r := kbsr(t, c, in, "produce", "--topic", "orders", "--value-format", "avro", "--value-schema-file", file)
		if r.code != 1 || !strings.Contains(r.stderr, "line 2: value: does not match the Avro schema") ||
			!strings.Contains(r.stderr, "line 3: value: empty") || !strings.Contains(r.stderr, "line 4: value: invalid JSON") ||
			!strings.Contains(r.stderr, "3 of 4 lines failed") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		r = kbsr(t, c, "", "consume", "--topic", "orders", "--partition", "0", "--offset", "3", "--max-messages", "1", "--value-format", "avro").ok(t)
		if r.stdout != lines[0]+"\n" {
			t.Fatalf("consume printed %q", r.stdout)
		}
	})
}

// TestSchemaAvroLatestAndID: without a schema, produce writes with the
// subject's latest version; --value-schema-id picks a schema; a subject
// without versions is an error naming it; consume decodes each record with
// its writer's schema.
func TestSchemaAvroLatestAndID(t *testing.T) {
	c := startRegistryCluster(t, "users", "empty", "shared")
	rcl := registryClient(t, c)
	v1 := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	v2 := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	s1, err := rcl.CreateSchema(t.Context(), "users-value", sr.Schema{Schema: v1})
	if err != nil {
		t.Fatal(err)
	}
	kbsr(t, c, `{"name":"ann"}`+"\n", "produce", "--topic", "users", "--value-format", "avro").ok(t)
	s2, err := rcl.CreateSchema(t.Context(), "users-value", sr.Schema{Schema: v2})
	if err != nil {
		t.Fatal(err)
	}
	kbsr(t, c, `{"name":"bob","age":7}`+"\n", "produce", "--topic", "users", "--value-format", "avro").ok(t)
	kbsr(t, c, `{"name":"cid"}`+"\n", "produce", "--topic", "users", "--value-format", "avro", "--value-schema-id", strconv.Itoa(s1.ID)).ok(t)

	r := kbsr(t, c, "", "consume", "--topic", "users", "--from-beginning", "--max-messages", "3", "--value-format", "avro").ok(t)
	if want := "{\"name\":\"ann\"}\n{\"name\":\"bob\",\"age\":7}\n{\"name\":\"cid\"}\n"; r.stdout != want {
		t.Fatalf("consume printed %q, want %q", r.stdout, want)
	}
	recs := rawRecords(t, c, "users", 3)
	for i, want := range []int{s1.ID, s2.ID, s1.ID} {
		if id := schemaID(t, recs[i].Value); id != want {
			t.Errorf("record %d: schema id %d, want %d", i, id, want)
		}
	}

	// A line of the latest version's shape does not fit version 1.
	r = kbsr(t, c, `{"name":"dan","age":1}`+"\n", "produce", "--topic", "users", "--value-format", "avro", "--value-schema-id", strconv.Itoa(s1.ID))
	if r.code != 1 || !strings.Contains(r.stderr, "line 1: value:") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}

	r = kbsr(t, c, "{}\n", "produce", "--topic", "empty", "--value-format", "avro")
	if r.code != 1 || !strings.Contains(r.stderr, `subject "empty-value" has no schema`) {
		t.Fatalf("no subject: exit %d, stderr %q", r.code, r.stderr)
	}
	r = kbsr(t, c, "{}\n", "produce", "--topic", "empty", "--value-format", "avro", "--value-schema-id", "999")
	if r.code != 1 || !strings.Contains(r.stderr, "schema id 999") {
		t.Fatalf("unknown id: exit %d, stderr %q", r.code, r.stderr)
	}
	r = kbsr(t, c, "{}\n", "produce", "--topic", "empty", "--value-format", "protobuf", "--value-schema-id", strconv.Itoa(s1.ID))
	if r.code != 1 || !strings.Contains(r.stderr, "AVRO schema, not PROTOBUF") {
		t.Fatalf("id of another type: exit %d, stderr %q", r.code, r.stderr)
	}

	// --value-subject: the schema is registered under it, not <topic>-value.
	kbsr(t, c, `"hello"`+"\n", "produce", "--topic", "shared", "--value-format", "avro", "--value-schema", `"string"`, "--value-subject", "greetings").ok(t)
	if _, err := rcl.SchemaByVersion(t.Context(), "greetings", 1); err != nil {
		t.Fatalf("subject greetings: %v", err)
	}
	if _, err := rcl.SchemaByVersion(t.Context(), "shared-value", -1); err == nil {
		t.Fatal("subject shared-value was registered")
	}
	r = kbsr(t, c, "", "consume", "--topic", "shared", "--from-beginning", "--max-messages", "1", "--value-format", "avro").ok(t)
	if r.stdout != "\"hello\"\n" {
		t.Fatalf("consume printed %q", r.stdout)
	}
}

// TestSchemaAvroReferences: a schema using a type of another subject
// (Confluent's schema references) is resolved on both sides.
func TestSchemaAvroReferences(t *testing.T) {
	c := startRegistryCluster(t, "payments")
	rcl := registryClient(t, c)
	money := `{"type":"record","name":"Money","namespace":"fin","fields":[{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	if _, err := rcl.CreateSchema(t.Context(), "fin.Money", sr.Schema{Schema: money}); err != nil {
		t.Fatal(err)
	}
	payment := `{"type":"record","name":"Payment","namespace":"fin","fields":[{"name":"amount","type":"Money"},{"name":"fee","type":["null","fin.Money"],"default":null}]}`
	if _, err := rcl.CreateSchema(t.Context(), "payments-value", sr.Schema{Schema: payment,
		References: []sr.SchemaReference{{Name: "fin.Money", Subject: "fin.Money", Version: 1}}}); err != nil {
		t.Fatal(err)
	}
	in := `{"amount":{"cents":150,"currency":"EUR"},"fee":{"fin.Money":{"cents":5,"currency":"EUR"}}}` + "\n" +
		`{"amount":{"cents":1,"currency":"CHF"},"fee":null}` + "\n"
	kbsr(t, c, in, "produce", "--topic", "payments", "--value-format", "avro").ok(t)
	r := kbsr(t, c, "", "consume", "--topic", "payments", "--from-beginning", "--max-messages", "2", "--value-format", "avro").ok(t)
	if r.stdout != in {
		t.Fatalf("consume printed\n%s\nwant\n%s", r.stdout, in)
	}
}

// TestSchemaJSONSchema: JSON lines are validated against the JSON Schema
// (a line violating it fails with its line number, exit 1, the others are
// written) and consume prints them as stored; the registry URL may come
// from $KAFKABOOT_SCHEMA_REGISTRY_URL.
func TestSchemaJSONSchema(t *testing.T) {
	c := startRegistryCluster(t, "items", "stock")
	t.Setenv(schemaRegistryEnv, c.SchemaRegistryURL())
	schema := `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Item","type":"object",
	  "properties":{"sku":{"type":"string"},"qty":{"type":"integer","minimum":1}},
	  "required":["sku","qty"],"additionalProperties":false}`
	in := `{"sku":"a","qty":1}` + "\n" + `{"sku":"b","qty":0}` + "\n" + `{ "sku": "c", "qty": 3 }` + "\n" + `{"sku":"d"}` + "\n"
	r := kbc(t, c, in, "produce", "--topic", "items", "--value-format", "json-schema", "--value-schema", schema)
	if r.code != 1 || !strings.Contains(r.stderr, "line 2: value: does not match the JSON Schema") ||
		!strings.Contains(r.stderr, "line 4: value: does not match the JSON Schema") || !strings.Contains(r.stderr, "2 of 4 lines failed") ||
		strings.Contains(r.stderr, "line 1:") || strings.Contains(r.stderr, "line 3:") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "\n"); n != 3 {
		t.Errorf("stderr has %d lines, want one per failed line and the summary:\n%s", n, r.stderr)
	}
	r = kbc(t, c, "", "consume", "--topic", "items", "--from-beginning", "--max-messages", "2", "--value-format", "json-schema").ok(t)
	if want := "{\"sku\":\"a\",\"qty\":1}\n{\"sku\":\"c\",\"qty\":3}\n"; r.stdout != want {
		t.Fatalf("consume printed %q, want %q", r.stdout, want)
	}
	rcl := registryClient(t, c)
	js := serde.NewSRJSONSchema(rcl)
	for _, rec := range rawRecords(t, c, "items", 2) {
		v, err := js.Deserialize("items", nil, rec.Value, reflect.TypeFor[map[string]any]())
		if err != nil {
			t.Fatalf("serde.SRJSONSchema cannot read %q: %v", rec.Value, err)
		}
		if _, ok := v.(map[string]any)["sku"]; !ok {
			t.Fatalf("serde.SRJSONSchema read %v", v)
		}
	}
	ss, err := rcl.SchemaByVersion(t.Context(), "items-value", -1)
	if err != nil || ss.Type != sr.TypeJSON {
		t.Fatalf("items-value: %+v, %v", ss, err)
	}

	t.Run("references", func(t *testing.T) {
		if _, err := rcl.CreateSchema(t.Context(), "sku", sr.Schema{Schema: `{"type":"string","minLength":2}`, Type: sr.TypeJSON}); err != nil {
			t.Fatal(err)
		}
		if _, err := rcl.CreateSchema(t.Context(), "stock-value", sr.Schema{Type: sr.TypeJSON,
			Schema:     `{"type":"object","properties":{"sku":{"$ref":"sku.json"}},"required":["sku"]}`,
			References: []sr.SchemaReference{{Name: "sku.json", Subject: "sku", Version: 1}}}); err != nil {
			t.Fatal(err)
		}
		r := kbc(t, c, `{"sku":"a"}`+"\n"+`{"sku":"ab"}`+"\n", "produce", "--topic", "stock", "--value-format", "json-schema")
		if r.code != 1 || !strings.Contains(r.stderr, "line 1: value: does not match the JSON Schema") || strings.Contains(r.stderr, "line 2") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		r = kbc(t, c, "", "consume", "--topic", "stock", "--from-beginning", "--max-messages", "1", "--value-format", "json-schema").ok(t)
		if r.stdout != `{"sku":"ab"}`+"\n" {
			t.Fatalf("consume printed %q", r.stdout)
		}
	})
}

const shopProto = `syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";

message Order {
  string id = 1;
  int32 qty = 2;
  repeated string tags = 3;
  Item item = 4;
  google.protobuf.Timestamp at = 5;
  message Item {
    string sku = 1;
  }
}

message Refund {
  string order_id = 1;
  int64 cents = 2;
}
`

// TestSchemaProtobuf: protojson lines become Protobuf records framed with
// Confluent's message indexes (the first message, another, a nested one)
// and print back as protojson.
func TestSchemaProtobuf(t *testing.T) {
	c := startRegistryCluster(t, "shop", "invoices")
	file := writeFile(t, "shop.proto", shopProto)
	order := `{"id":"o-1","qty":2,"tags":["a","b"],"item":{"sku":"x"},"at":"2024-01-02T03:04:05Z"}`
	kbsr(t, c, order+"\n", "produce", "--topic", "shop", "--value-format", "protobuf", "--value-schema-file", file).ok(t)
	kbsr(t, c, `{"orderId":"o-1","cents":150}`+"\n", "produce", "--topic", "shop", "--value-format", "protobuf", "--value-message", "Refund").ok(t)
	kbsr(t, c, `{"sku":"y"}`+"\n", "produce", "--topic", "shop", "--value-format", "protobuf", "--value-message", "shop.Order.Item").ok(t)
	kbsr(t, c, `{"id":"o-2"}`+"\n", "produce", "--topic", "shop", "--value-format", "protobuf").ok(t)

	r := kbsr(t, c, "", "consume", "--topic", "shop", "--from-beginning", "--max-messages", "4", "--value-format", "protobuf").ok(t)
	want := order + "\n" + `{"orderId":"o-1","cents":"150"}` + "\n" + `{"sku":"y"}` + "\n" +
		`{"id":"o-2","qty":0,"tags":[],"item":null,"at":null}` + "\n"
	if r.stdout != want {
		t.Fatalf("consume printed\n%s\nwant\n%s", r.stdout, want)
	}
	// The message indexes: [0] is a single 0; [1] is count 1, index 1;
	// [0, 0] is count 2, 0, 0 (zig-zag varints).
	recs := rawRecords(t, c, "shop", 4)
	for i, idx := range [][]byte{{0}, {2, 2}, {4, 0, 0}, {0}} {
		if v := recs[i].Value; len(v) < 5+len(idx) || !bytes.Equal(v[5:5+len(idx)], idx) {
			t.Errorf("record %d: %x, want message indexes %x", i, v, idx)
		}
	}

	r = kbsr(t, c, `{"id":"o-3","color":"red"}`+"\n"+`{"id":"o-4"}`+"\n", "produce", "--topic", "shop", "--value-format", "protobuf")
	if r.code != 1 || !strings.Contains(r.stderr, "line 1: value: does not match Protobuf message shop.Order") || strings.Contains(r.stderr, "line 2") {
		t.Fatalf("unknown field: exit %d, stderr %q", r.code, r.stderr)
	}
	r = kbsr(t, c, "{}\n", "produce", "--topic", "shop", "--value-format", "protobuf", "--value-message", "Nope")
	if r.code != 1 || !strings.Contains(r.stderr, `no message "Nope"`) {
		t.Fatalf("unknown message: exit %d, stderr %q", r.code, r.stderr)
	}

	t.Run("references", func(t *testing.T) {
		rcl := registryClient(t, c)
		common := "syntax = \"proto3\";\npackage common;\nmessage Money { int64 cents = 1; string currency = 2; }\n"
		if _, err := rcl.CreateSchema(t.Context(), "common/money.proto", sr.Schema{Schema: common, Type: sr.TypeProtobuf}); err != nil {
			t.Fatal(err)
		}
		invoice := "syntax = \"proto3\";\npackage billing;\nimport \"common/money.proto\";\nmessage Invoice { string id = 1; common.Money total = 2; }\n"
		if _, err := rcl.CreateSchema(t.Context(), "invoices-value", sr.Schema{Schema: invoice, Type: sr.TypeProtobuf,
			References: []sr.SchemaReference{{Name: "common/money.proto", Subject: "common/money.proto", Version: 1}}}); err != nil {
			t.Fatal(err)
		}
		in := `{"id":"i-1","total":{"cents":"250","currency":"EUR"}}` + "\n"
		kbsr(t, c, in, "produce", "--topic", "invoices", "--value-format", "protobuf").ok(t)
		r := kbsr(t, c, "", "consume", "--topic", "invoices", "--from-beginning", "--max-messages", "1", "--value-format", "protobuf").ok(t)
		if r.stdout != in {
			t.Fatalf("consume printed %q, want %q", r.stdout, in)
		}
	})
}

// TestSchemaKeys: --key-format encodes the key part of each line with the
// <topic>-key subject, and consume decodes %k.
func TestSchemaKeys(t *testing.T) {
	c := startRegistryCluster(t, "keyed")
	keySchema := `{"type":"record","name":"Key","fields":[{"name":"id","type":"int"}]}`
	in := `{"id":1}|{"name":"a"}` + "\n" + `{"id":2}|{"name":"b"}` + "\n"
	kbsr(t, c, in, "produce", "--topic", "keyed", "--key-separator", "|",
		"--key-format", "avro", "--key-schema", keySchema,
		"--value-format", "json-schema", "--value-schema", `{"type":"object"}`).ok(t)
	r := kbsr(t, c, "", "consume", "--topic", "keyed", "--from-beginning", "--max-messages", "2", "--format", `%k|%v\n`,
		"--key-format", "avro", "--value-format", "json-schema").ok(t)
	if r.stdout != in {
		t.Fatalf("consume printed %q, want %q", r.stdout, in)
	}
	rcl := registryClient(t, c)
	if ss, err := rcl.SchemaByVersion(t.Context(), "keyed-key", -1); err != nil || ss.Type != sr.TypeAvro {
		t.Fatalf("keyed-key: %+v, %v", ss, err)
	}
	// Only %v is printed: the key is not decoded.
	r = kbsr(t, c, "", "consume", "--topic", "keyed", "--from-beginning", "--max-messages", "1", "--key-format", "protobuf", "--value-format", "json-schema").ok(t)
	if r.stdout != `{"name":"a"}`+"\n" || strings.Contains(r.stderr, "skipping") {
		t.Fatalf("consume printed %q, stderr %q", r.stdout, r.stderr)
	}
}

// TestSchemaUsage: schema flags used wrongly are usage errors (exit 2)
// naming the flag.
func TestSchemaUsage(t *testing.T) {
	t.Setenv(schemaRegistryEnv, "")
	const url = "http://127.0.0.1:1"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"format without registry", []string{"produce", "--topic", "t", "--value-format", "avro"}, "--value-format avro needs --schema-registry"},
		{"consume format without registry", []string{"consume", "--topic", "t", "--key-format", "protobuf"}, "--key-format protobuf needs --schema-registry"},
		{"unknown format", []string{"produce", "--topic", "t", "--value-format", "xml"}, `--value-format "xml": want string, avro, json-schema or protobuf`},
		{"schema file missing", []string{"produce", "--topic", "t", "--schema-registry", url, "--value-format", "avro", "--value-schema-file", "/nonexistent/x.avsc"}, "--value-schema-file: open /nonexistent/x.avsc"},
		{"schema and id", []string{"produce", "--topic", "t", "--schema-registry", url, "--value-format", "avro", "--value-schema", `"string"`, "--value-schema-id", "1"}, "--value-schema and --value-schema-id exclude each other"},
		{"schema without format", []string{"produce", "--topic", "t", "--value-schema", `"string"`}, "--value-schema needs --value-format avro, json-schema or protobuf"},
		{"message without protobuf", []string{"produce", "--topic", "t", "--schema-registry", url, "--value-format", "avro", "--value-message", "M"}, "--value-message needs --value-format protobuf"},
		{"bad id", []string{"produce", "--topic", "t", "--schema-registry", url, "--value-format", "avro", "--value-schema-id", "0"}, "--value-schema-id 0: want a positive schema id"},
		{"key format without key", []string{"produce", "--topic", "t", "--schema-registry", url, "--key-format", "avro"}, "--key-format avro needs --key-separator"},
		{"bad registry URL", []string{"consume", "--topic", "t", "--schema-registry", "localhost:8081", "--value-format", "avro"}, `--schema-registry: "localhost:8081" is not an http:// or https:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kb(t, "", tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
	r := kb(t, "", "produce", "-h")
	for _, f := range []string{"--schema-registry URL", "--value-format F", "--value-schema-file FILE", "--value-schema-id N", "--key-subject subject", "--value-message NAME"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("produce -h does not show %q", f)
		}
	}
}

// TestSchemaConsumeUndecodable: records consume cannot decode (a plain
// string, an unknown schema id, a truncated payload) are reported with
// their topic, partition and offset and skipped, and the others printed;
// an unreachable registry stops the consumer with exit code 1.
func TestSchemaConsumeUndecodable(t *testing.T) {
	c := startRegistryCluster(t, "mixed")
	kbc(t, c, "hello\n", "produce", "--topic", "mixed").ok(t)
	kbsr(t, c, `{"n":1}`+"\n", "produce", "--topic", "mixed", "--value-format", "avro",
		"--value-schema", `{"type":"record","name":"N","fields":[{"name":"n","type":"long"}]}`).ok(t)
	good := rawRecords(t, c, "mixed", 2)[1].Value
	produceRaw(t, c, "mixed", []byte{0, 0, 0, 0x27, 0x0f, 2}, good[:5], good)

	r := kbsr(t, c, "", "consume", "--topic", "mixed", "--from-beginning", "--max-messages", "5", "--value-format", "avro", "--format", `%o %v\n`).ok(t)
	if r.stdout != "1 {\"n\":1}\n4 {\"n\":1}\n" {
		t.Fatalf("consume printed %q", r.stdout)
	}
	for _, want := range []string{
		"skipping the record at mixed[0] offset 0: value: magic byte 104, want 0: not in the schema registry wire format",
		"skipping the record at mixed[0] offset 2: value: schema id 9999:",
		"skipping the record at mixed[0] offset 3: value: does not decode with Avro schema id",
		"Processed a total of 5 messages",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// With --group the skipped records are committed too: the group goes on
	// after them.
	r = kbsr(t, c, "", "consume", "--topic", "mixed", "--group", "g", "--from-beginning", "--max-messages", "3", "--value-format", "avro", "--format", `%o %v\n`).ok(t)
	if r.stdout != "1 {\"n\":1}\n" || !strings.Contains(r.stderr, "Processed a total of 3 messages") {
		t.Fatalf("consume --group printed %q, stderr %q", r.stdout, r.stderr)
	}
	r = kbsr(t, c, "", "consume", "--topic", "mixed", "--group", "g", "--max-messages", "2", "--value-format", "avro", "--format", `%o %v\n`).ok(t)
	if r.stdout != "4 {\"n\":1}\n" || !strings.Contains(r.stderr, "mixed[0] offset 3") || strings.Contains(r.stderr, "offset 2") {
		t.Fatalf("consume --group again printed %q, stderr %q", r.stdout, r.stderr)
	}

	// Without %v the values are not decoded, so nothing is skipped.
	r = kbsr(t, c, "", "consume", "--topic", "mixed", "--from-beginning", "--max-messages", "5", "--value-format", "avro", "--format", `%o\n`).ok(t)
	if r.stdout != "0\n1\n2\n3\n4\n" || strings.Contains(r.stderr, "skipping") {
		t.Fatalf("consume %%o printed %q, stderr %q", r.stdout, r.stderr)
	}

	r = kbc(t, c, "", "consume", "--topic", "mixed", "--partition", "0", "--offset", "1", "--max-messages", "1", "--value-format", "avro", "--schema-registry", "http://127.0.0.1:1")
	if r.code != 1 || !strings.Contains(r.stderr, "is a schema registry running at http://127.0.0.1:1?") ||
		!strings.Contains(r.stderr, "Processed a total of 0 messages") {
		t.Fatalf("registry down: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
