package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// pythonWithConfluent finds a python3 that has Confluent's client
// (Debian's python3-confluent-kafka, which .ci/run installs), or skips.
func pythonWithConfluent(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import requests; from confluent_kafka.schema_registry import SchemaRegistryClient").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with confluent_kafka.schema_registry (apt-get install python3-confluent-kafka python3-requests)")
	return ""
}

// registryScript drives the embedded registry with Confluent's Python
// SchemaRegistryClient and prints one JSON object per step.
const registryScript = `
import json, sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

c = SchemaRegistryClient({"url": sys.argv[1]})
def out(step, **kw):
    kw["step"] = step
    print(json.dumps(kw), flush=True)

v1 = '{"type":"record","name":"Payment","namespace":"bank","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}'
v2 = '{"type":"record","name":"Payment","namespace":"bank","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"currency","type":"string","default":"EUR"}]}'
v3 = '{"type":"record","name":"Payment","namespace":"bank","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"region","type":"string"}]}'

sid = c.register_schema("payments-value", Schema(v1, "AVRO"))
out("register", id=sid)
out("again", id=c.register_schema("payments-value", Schema(v1, "AVRO")))
s = c.get_schema(sid)
out("get_schema", schema=s.schema_str, type=s.schema_type)
r = c.lookup_schema("payments-value", Schema(v1, "AVRO"))
out("lookup", id=r.schema_id, version=r.version, subject=r.subject)
out("set_compatibility", level=c.set_compatibility("payments-value", "BACKWARD"))
out("get_compatibility", level=c.get_compatibility("payments-value"))
out("compatible", ok=c.test_compatibility("payments-value", Schema(v2, "AVRO")))
out("incompatible", ok=c.test_compatibility("payments-value", Schema(v3, "AVRO")))
try:
    c.register_schema("payments-value", Schema(v3, "AVRO"))
    out("register_incompatible", code=0)
except SchemaRegistryError as e:
    out("register_incompatible", code=e.error_code, status=e.http_status_code, message=e.error_message)
sid2 = c.register_schema("payments-value", Schema(v2, "AVRO"))
latest = c.get_latest_version("payments-value")
out("latest", id=latest.schema_id, version=latest.version, asked=sid2)
out("versions", versions=c.get_versions("payments-value"))
out("subjects", subjects=c.get_subjects())
out("delete", versions=c.delete_subject("payments-value"))
try:
    c.get_versions("payments-value")
    out("after_delete", code=0)
except SchemaRegistryError as e:
    out("after_delete", code=e.error_code)
try:
    c.get_schema(999)
    out("unknown_id", code=0)
except SchemaRegistryError as e:
    out("unknown_id", code=e.error_code)
`

// TestSchemaRegistryPython: Confluent's own Python client registers,
// looks up, checks compatibility and deletes against the embedded
// registry, and gets Confluent's answers.
func TestSchemaRegistryPython(t *testing.T) {
	py := pythonWithConfluent(t)
	c := embeddedbroker.StartForTest(t, embeddedbroker.SchemaRegistry("127.0.0.1:0"))
	script := filepath.Join(t.TempDir(), "registry.py")
	if err := os.WriteFile(script, []byte(registryScript), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, c.SchemaRegistryURL()).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	steps := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("python printed %q", line)
		}
		steps[m["step"].(string)] = m
		t.Log(line)
	}
	check := func(step, key string, want any) {
		t.Helper()
		got, _ := json.Marshal(steps[step][key])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("%s.%s = %s, want %s", step, key, got, w)
		}
	}
	check("register", "id", 1)
	check("again", "id", 1)
	check("get_schema", "type", "AVRO")
	check("lookup", "version", 1)
	check("lookup", "subject", "payments-value")
	check("get_compatibility", "level", "BACKWARD")
	check("compatible", "ok", true)
	check("incompatible", "ok", false)
	check("register_incompatible", "code", 409)
	check("latest", "version", 2)
	check("latest", "id", 2)
	check("versions", "versions", []int{1, 2})
	check("subjects", "subjects", []string{"payments-value"})
	check("delete", "versions", []int{1, 2})
	check("after_delete", "code", 40401)
	check("unknown_id", "code", 40403)
}
