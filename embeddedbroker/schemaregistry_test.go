package embeddedbroker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

const orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`

type avroOrder struct {
	ID  string `avro:"id"`
	Qty int    `avro:"qty"`
}

// TestSchemaRegistryFranzGo: franz-go's sr client registers, looks up and
// reads schemas from the embedded registry, and its Serde produces and
// consumes Avro records in Confluent's wire format through the broker.
func TestSchemaRegistryFranzGo(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.SchemaRegistry("127.0.0.1:0"),
		embeddedbroker.Topics(3, "orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rcl, err := sr.NewClient(sr.URLs(c.SchemaRegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: orderV1, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	if ss.ID != 1 || ss.Version != 1 || ss.Subject != "orders-value" {
		t.Fatalf("created %+v", ss)
	}
	// The same schema again, reformatted: the same id, no new version.
	spaced := strings.ReplaceAll(orderV1, ",", ",\n  ")
	if id, err := rcl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: spaced}, -1, -1); err != nil || id != 1 {
		t.Fatalf("again: id %d, %v", id, err)
	}
	// The same schema under another subject: the same id.
	if id, err := rcl.RegisterSchema(ctx, "archive-value", sr.Schema{Schema: orderV1}, -1, -1); err != nil || id != 1 {
		t.Fatalf("other subject: id %d, %v", id, err)
	}
	if subjects, err := rcl.Subjects(ctx); err != nil || strings.Join(subjects, ",") != "archive-value,orders-value" {
		t.Fatalf("subjects %v, %v", subjects, err)
	}
	if s, err := rcl.SchemaByID(ctx, 1); err != nil || s.Schema != orderV1 {
		t.Fatalf("by id: %+v, %v", s, err)
	}
	if got, err := rcl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: orderV1}); err != nil || got.Version != 1 || got.ID != 1 {
		t.Fatalf("lookup: %+v, %v", got, err)
	}
	_, err = rcl.SchemaByVersion(ctx, "nope", -1)
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != 40401 || re.StatusCode != 404 {
		t.Fatalf("unknown subject: %v", err)
	}

	// Produce and consume Avro records in Confluent's wire format.
	schema := avro.MustParse(orderV1)
	var serde sr.Serde
	serde.Register(ss.ID, avroOrder{},
		sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(schema, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(schema, b, v) }))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("orders"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 10 {
		b, err := serde.Encode(avroOrder{ID: fmt.Sprintf("o-%d", i), Qty: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0 {
			t.Fatalf("magic byte %d", b[0])
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for len(seen) < 10 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 10", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) {
			var o avroOrder
			if err := serde.Decode(r.Value, &o); err != nil {
				t.Fatal(err)
			}
			seen[o.ID] = o.Qty
		})
	}
	if seen["o-9"] != 10 {
		t.Fatalf("decoded %v", seen)
	}
}

// srCall sends one request to the registry and returns the status and body.
func srCall(t *testing.T, base, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, m
}

// TestSchemaRegistryBadInput: malformed requests and schemas, unknown ids
// and types, and a 10 MB schema get Confluent's error codes, and the
// registry serves on.
func TestSchemaRegistryBadInput(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.SchemaRegistry("127.0.0.1:0"))
	base := c.SchemaRegistryURL()
	var fields []string
	for i := range 10000 {
		fields = append(fields, fmt.Sprintf(`{"name":"f%d","type":"string","doc":"%s"}`, i, strings.Repeat("d", 1000)))
	}
	big := `{"type":"record","name":"Big","fields":[` + strings.Join(fields, ",") + `]}`
	for _, tc := range []struct {
		name, method, path, body string
		status, code             int
	}{
		{"malformed JSON body", "POST", "/subjects/s/versions", `{"schema":`, 422, 42201},
		{"malformed schema", "POST", "/subjects/s/versions", `{"schema":"{\"type\":"}`, 422, 42201},
		{"unknown schema type", "POST", "/subjects/s/versions", `{"schema":"{}","schemaType":"XML"}`, 422, 42201},
		{"empty schema", "POST", "/subjects/s/versions", `{"schema":""}`, 422, 42201},
		{"reference to nothing", "POST", "/subjects/s/versions", `{"schema":"{\"type\":\"string\"}","references":[{"name":"x","subject":"none","version":1}]}`, 422, 42201},
		{"unknown id", "GET", "/schemas/ids/999", ``, 404, 40403},
		{"bad id", "GET", "/schemas/ids/abc", ``, 404, 40403},
		{"unknown subject", "GET", "/subjects/none/versions", ``, 404, 40401},
		{"bad version", "GET", "/subjects/none/versions/0", ``, 422, 42202},
		{"bad compatibility level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203},
		{"20 MB body", "POST", "/subjects/big/versions", `{"schema":` + mustJSON(big+big) + `}`, 413, 413},
	} {
		status, body := srCall(t, base, tc.method, tc.path, tc.body)
		code, _ := body["error_code"].(float64)
		if status != tc.status || int(code) != tc.code {
			t.Errorf("%s: %d %v, want %d with error_code %d", tc.name, status, body, tc.status, tc.code)
		}
	}
	// A 10 MB schema is a schema like any other.
	if status, body := srCall(t, base, "POST", "/subjects/big/versions", `{"schema":`+mustJSON(big)+`}`); status != 200 {
		t.Fatalf("10 MB schema: %d %v", status, body)
	}
	if status, body := srCall(t, base, "GET", "/subjects/big/versions/latest", ``); status != 200 || len(body["schema"].(string)) != len(big) {
		t.Fatalf("10 MB schema read back: %d", status)
	}
	// Reference cycles: a schema referring to its own subject's next
	// version (which does not exist: 42201), and two subjects referring to
	// each other's latest version: the second registration, which would
	// close the cycle, is an invalid schema (42201: B defined twice), and
	// the registry serves on.
	rec := func(name, field string) string {
		return mustJSON(`{"type":"record","name":"` + name + `","fields":[{"name":"f","type":["null","` + field + `"],"default":null}]}`)
	}
	for _, step := range []struct {
		name, method, path, body string
		status, code             int
	}{
		{"self reference", "POST", "/subjects/self/versions", `{"schema":` + rec("S", "S") + `,"references":[{"name":"S","subject":"self","version":1}]}`, 422, 42201},
		{"cycle: b v1", "POST", "/subjects/b/versions", `{"schema":` + rec("B", "string") + `}`, 200, 0},
		{"cycle: a v1 refers to b's latest", "POST", "/subjects/a/versions", `{"schema":` + rec("A", "B") + `,"references":[{"name":"B","subject":"b","version":-1}]}`, 200, 0},
		{"cycle: b v2 refers to a's latest", "POST", "/subjects/b/versions", `{"schema":` + rec("B", "A") + `,"references":[{"name":"A","subject":"a","version":-1}]}`, 422, 42201},
		{"cycle: compatibility of a", "POST", "/compatibility/subjects/a/versions/latest", `{"schema":` + rec("A", "B") + `,"references":[{"name":"B","subject":"b","version":-1}]}`, 0, 0},
	} {
		status, body := srCall(t, base, step.method, step.path, step.body)
		code, _ := body["error_code"].(float64)
		t.Logf("%s: %d %v", step.name, status, body)
		if step.status != 0 && (status != step.status || int(code) != step.code) {
			t.Errorf("%s: %d %v, want %d with error_code %d", step.name, status, body, step.status, step.code)
		}
		if status >= 500 {
			t.Errorf("%s: %d %v", step.name, status, body)
		}
	}
	// Still serving.
	if status, body := srCall(t, base, "POST", "/subjects/ok/versions", `{"schema":"{\"type\":\"string\"}"}`); status != 200 || body["id"] != float64(4) {
		t.Fatalf("after the bad input: %d %v", status, body)
	}
	t.Logf("10 MB schema: %d bytes", len(big))
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestSchemaRegistryDurable: schemas survive the kill of the _schemas
// partition's leader, which the registry serves through (reads at once,
// writes once a new leader is elected), and a restart of the whole cluster
// on its data directory, with the same ids and versions.
func TestSchemaRegistryDurable(t *testing.T) {
	dir := t.TempDir()
	opts := []embeddedbroker.Option{embeddedbroker.Nodes(3), embeddedbroker.DataDir(dir), embeddedbroker.SchemaRegistry("127.0.0.1:0")}
	c, err := embeddedbroker.Start(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rcl, err := sr.NewClient(sr.URLs(c.SchemaRegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	register := func(cl *sr.Client, subject, typ string) int {
		t.Helper()
		id, err := cl.RegisterSchema(ctx, subject, sr.Schema{Schema: `{"type":"` + typ + `"}`}, -1, -1)
		if err != nil {
			t.Fatalf("registering %s: %v", subject, err)
		}
		return id
	}
	if register(rcl, "a-value", "string") != 1 || register(rcl, "b-value", "long") != 2 {
		t.Fatal("ids")
	}
	leader := c.Leader("_schemas", 0)
	if err := c.KillNode(ctx, leader); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if s, err := rcl.SchemaByID(ctx, 2); err != nil || s.Schema != `{"type":"long"}` {
		t.Fatalf("read while the leader is down: %+v, %v", s, err)
	}
	read := time.Since(start)
	if id := register(rcl, "c-value", "double"); id != 3 {
		t.Fatalf("id %d after the failover", id)
	}
	t.Logf("killed node %d, the leader of _schemas: a read answered in %v, a registration in %v (new leader %d)",
		leader, read.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), c.Leader("_schemas", 0))
	if err := c.RestartNode(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := embeddedbroker.StartForTest(t, opts...)
	rcl2, err := sr.NewClient(sr.URLs(c2.SchemaRegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{1: `{"type":"string"}`, 2: `{"type":"long"}`, 3: `{"type":"double"}`} {
		if s, err := rcl2.SchemaByID(ctx, id); err != nil || s.Schema != want {
			t.Fatalf("after the restart, id %d: %+v, %v", id, s, err)
		}
	}
	if ss, err := rcl2.SchemaByVersion(ctx, "c-value", -1); err != nil || ss.ID != 3 || ss.Version != 1 {
		t.Fatalf("after the restart, c-value: %+v, %v", ss, err)
	}
	if id := register(rcl2, "d-value", "float"); id != 4 {
		t.Fatalf("the first id after the restart is %d, want 4", id)
	}
}

// TestSchemaRegistryCompatibility: Confluent's documented evolution cases,
// registered in order on a fresh subject at each level, answered as
// Confluent answers: 200, or 409 with its message.
func TestSchemaRegistryCompatibility(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.SchemaRegistry("127.0.0.1:0"))
	base := c.SchemaRegistryURL()
	rec := func(fields ...string) string {
		return `{"type":"record","name":"User","namespace":"ex","fields":[` + strings.Join(fields, ",") + `]}`
	}
	const (
		name      = `{"name":"name","type":"string"}`
		age       = `{"name":"age","type":"int"}`
		ageLong   = `{"name":"age","type":"long"}`
		email     = `{"name":"email","type":"string"}`
		emailDef  = `{"name":"email","type":"string","default":""}`
		union2    = `{"name":"tag","type":["null","string"],"default":null}`
		union3    = `{"name":"tag","type":["null","string","int"],"default":null}`
		emailNull = `{"name":"email","type":["null","string"],"default":null}`
	)
	for i, tc := range []struct {
		name     string
		level    string
		versions []string // registered in order; all but the last must pass
		code     int      // the last one's answer: 200 or 409
		detail   string   // in the 409 message
	}{
		{"BACKWARD: add a field with a default", "BACKWARD", []string{rec(name), rec(name, emailDef)}, 200, ""},
		{"BACKWARD: add a field without a default", "BACKWARD", []string{rec(name), rec(name, email)}, 409, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"BACKWARD: remove a field", "BACKWARD", []string{rec(name, email), rec(name)}, 200, ""},
		{"BACKWARD: promote int to long", "BACKWARD", []string{rec(name, age), rec(name, ageLong)}, 200, ""},
		{"BACKWARD: narrow long to int", "BACKWARD", []string{rec(name, ageLong), rec(name, age)}, 409, "TYPE_MISMATCH"},
		{"BACKWARD: add a union branch", "BACKWARD", []string{rec(name, union2), rec(name, union3)}, 200, ""},
		{"BACKWARD: remove a union branch", "BACKWARD", []string{rec(name, union3), rec(name, union2)}, 409, "MISSING_UNION_BRANCH"},
		{"BACKWARD: make a field optional", "BACKWARD", []string{rec(name, email), rec(name, emailNull)}, 200, ""},
		{"FORWARD: add a field without a default", "FORWARD", []string{rec(name), rec(name, email)}, 200, ""},
		{"FORWARD: remove a field without a default", "FORWARD", []string{rec(name, email), rec(name)}, 409, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"FORWARD: remove a field with a default", "FORWARD", []string{rec(name, emailDef), rec(name)}, 200, ""},
		{"FULL: add a field with a default", "FULL", []string{rec(name), rec(name, emailDef)}, 200, ""},
		{"FULL: add a field without a default", "FULL", []string{rec(name), rec(name, email)}, 409, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"BACKWARD checks the latest version only", "BACKWARD", []string{rec(name), rec(name, emailDef), rec(name, email)}, 200, ""},
		{"BACKWARD_TRANSITIVE checks them all", "BACKWARD_TRANSITIVE", []string{rec(name), rec(name, emailDef), rec(name, email)}, 409, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"FULL_TRANSITIVE checks them all", "FULL_TRANSITIVE", []string{rec(name), rec(name, emailDef), rec(name, email)}, 409, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"NONE: anything", "NONE", []string{rec(name, ageLong), rec(age)}, 200, ""},
	} {
		subject := fmt.Sprintf("compat-%d-value", i)
		if status, body := srCall(t, base, "PUT", "/config/"+subject, `{"compatibility":"`+tc.level+`"}`); status != 200 {
			t.Fatalf("%s: config: %d %v", tc.name, status, body)
		}
		for j, v := range tc.versions {
			status, body := srCall(t, base, "POST", "/subjects/"+subject+"/versions", `{"schema":`+mustJSON(v)+`}`)
			last := j == len(tc.versions)-1
			if !last {
				if status != 200 {
					t.Fatalf("%s: version %d: %d %v", tc.name, j+1, status, body)
				}
				continue
			}
			msg, _ := body["message"].(string)
			code, _ := body["error_code"].(float64)
			switch {
			case tc.code == 200 && status != 200:
				t.Errorf("%s: %d %v, want 200", tc.name, status, body)
			case tc.code == 409 && (status != 409 || code != 409 ||
				!strings.HasPrefix(msg, `Schema being registered is incompatible with an earlier schema for subject "`+subject+`", details: [`) ||
				!strings.Contains(msg, tc.detail) || !strings.Contains(msg, "compatibility: '"+tc.level+"'")):
				t.Errorf("%s: %d %v, want 409 with %s", tc.name, status, body, tc.detail)
			}
			if tc.code == 409 {
				t.Logf("%s: 409 %.160s...", tc.name, msg)
			}
		}
	}
	// The compatibility endpoint answers the same without registering.
	status, body := srCall(t, base, "POST", "/compatibility/subjects/compat-1-value/versions/latest?verbose=true", `{"schema":`+mustJSON(rec(name, email))+`}`)
	if status != 200 || body["is_compatible"] != false || len(body["messages"].([]any)) == 0 {
		t.Fatalf("compatibility check: %d %v", status, body)
	}
}
