package schemacompat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The conformance tests run the difference vectors of Confluent's own test
// suite (the diff-schema-examples*.json files of confluentinc/schema-registry)
// through this package and compare every difference, compatible or not,
// with its path and in order. They need a checkout of that repository:
//
//	SCHEMACOMPAT_CONFLUENT_REPO=/path/to/schema-registry go test -run Conformance ./embeddedbroker/internal/schemacompat/
//
// and are skipped otherwise. Cases with schema metadata (confluent:reserved
// rules) are skipped: metadata is not part of this package.

func confluentRepo(t *testing.T) string {
	dir := os.Getenv("SCHEMACOMPAT_CONFLUENT_REPO")
	if dir == "" {
		t.Skip("SCHEMACOMPAT_CONFLUENT_REPO is not set")
	}
	return dir
}

type confluentRef struct {
	Name, Subject string
	Version       int
}

type confluentDep struct{ Name, Dependency string }

func TestConformanceProtobuf(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(confluentRepo(t), "protobuf-provider/src/test/resources/diff-schema-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Description string
		Original    string         `json:"original_schema"`
		Update      string         `json:"update_schema"`
		OrigRefs    []confluentRef `json:"original_references"`
		UpdRefs     []confluentRef `json:"update_references"`
		OrigDeps    []confluentDep `json:"original_dependencies"`
		UpdDeps     []confluentDep `json:"update_dependencies"`
		OrigMeta    any            `json:"original_metadata"`
		Changes     []string
		Compatible  bool
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	build := func(text string, deps []confluentDep, refs []confluentRef) (*Parsed, error) {
		s := Schema{Type: TypeProtobuf, Text: text}
		for _, d := range deps {
			r := Reference{Name: d.Name, Schema: Schema{Type: TypeProtobuf, Text: d.Dependency}}
			for _, rr := range refs {
				if rr.Name == d.Name {
					r.Subject, r.Version = rr.Subject, rr.Version
				}
			}
			s.References = append(s.References, r)
		}
		return Parse(s)
	}
	passed := 0
	for _, c := range cases {
		if c.OrigMeta != nil {
			continue
		}
		o, err := build(c.Original, c.OrigDeps, c.OrigRefs)
		if err != nil {
			t.Errorf("%s: original: %v", c.Description, err)
			continue
		}
		u, err := build(c.Update, c.UpdDeps, c.UpdRefs)
		if err != nil {
			t.Errorf("%s: update: %v", c.Description, err)
			continue
		}
		var got []string
		compatible := true
		for _, d := range protobufDifferences(o.proto, u.proto) {
			got = append(got, d.typ+" "+d.path)
			compatible = compatible && pbCompatible[d.typ]
		}
		if strings.Join(got, "|") != strings.Join(c.Changes, "|") || compatible != c.Compatible {
			t.Errorf("%s:\n got  %v (compatible %v)\n want %v (compatible %v)", c.Description, got, compatible, c.Changes, c.Compatible)
			continue
		}
		passed++
	}
	t.Logf("%d cases passed", passed)
}

// knownJSONDeviations are 2020-12 cases where Confluent's translation of
// json-sKema schemas drops a compatible difference this package reports;
// the compatibility outcome is the same.
var knownJSONDeviations = map[string]bool{
	"Detect changes to id":                       true,
	"Detect removed maxProperties":               true,
	"Detect removed minProperties":               true,
	"Detect removed minContains":                 true,
	"Detect added boolean additional properties": true,
}

var trailingComma = regexp.MustCompile(`,(\s*[}\]])`)

func TestConformanceJSONSchema(t *testing.T) {
	repo := confluentRepo(t)
	for _, name := range []string{"diff-schema-examples.json", "diff-combined-schema-examples.json", "diff-schema-examples-2020-12.json", "diff-combined-schema-examples-2020-12.json"} {
		data, err := os.ReadFile(filepath.Join(repo, "json-schema-provider/src/test/resources", name))
		if err != nil {
			t.Fatal(err)
		}
		data = trailingComma.ReplaceAll(data, []byte("$1")) // the files are read by a lenient parser
		var cases []struct {
			Description string
			Original    json.RawMessage `json:"original_schema"`
			Update      json.RawMessage `json:"update_schema"`
			OrigMeta    any             `json:"original_metadata"`
			Changes     []string
			Compatible  bool
		}
		if err := json.Unmarshal(data, &cases); err != nil {
			t.Fatal(name, err)
		}
		passed, total := 0, 0
		for _, c := range cases {
			if c.OrigMeta != nil {
				continue
			}
			total++
			o, err := Parse(Schema{Type: TypeJSON, Text: string(c.Original)})
			if err != nil {
				t.Errorf("%s %s: original: %v", name, c.Description, err)
				continue
			}
			u, err := Parse(Schema{Type: TypeJSON, Text: string(c.Update)})
			if err != nil {
				t.Errorf("%s %s: update: %v", name, c.Description, err)
				continue
			}
			var got []string
			compatible := true
			for _, d := range jsCompareRoots(o.json.root, u.json.root) {
				got = append(got, d.typ+" "+d.path)
				compatible = compatible && jsCompatible[d.typ]
			}
			same := strings.Join(got, "|") == strings.Join(c.Changes, "|")
			if compatible != c.Compatible || !same && !(strings.Contains(name, "2020") && knownJSONDeviations[c.Description]) {
				t.Errorf("%s %s:\n got  %v (compatible %v)\n want %v (compatible %v)", name, c.Description, got, compatible, c.Changes, c.Compatible)
				continue
			}
			passed++
		}
		t.Logf("%s: %d/%d cases passed", name, passed, total)
	}
}
