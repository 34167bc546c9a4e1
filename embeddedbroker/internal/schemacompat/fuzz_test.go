package schemacompat

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse, as each schema type, and checks
// that bad input gives an error and never a panic (Parse and Check recover
// from panics, so a recovered panic is reported here as a failure), and that
// a valid schema's canonical text parses again.
func FuzzParse(f *testing.F) {
	seeds := []struct {
		typ  uint8
		text string
	}{
		{0, `{"type":"record","name":"r","namespace":"n","fields":[{"name":"a","type":["null","string"],"default":null},{"name":"b","type":{"type":"enum","name":"E","symbols":["X","Y"],"default":"X"}}]}`},
		{0, `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]},{"name":"m","type":{"type":"map","values":{"type":"fixed","name":"F","size":2}}}]}`},
		{0, `["int","long",{"type":"array","items":"double"}]`},
		{0, `{"type":"record","name":"r","fields":[{"name":"a","type":"double","default":"NaN"},{"name":"b","type":"int","default":1e2}]}`},
		{0, `{"type":"record","name":"r","fields":[{"name":"a","type":"int","aliases":["b","c"]},{"name":"b","type":"int"}]}`},
		{0, `{"type":`},
		{1, "syntax = \"proto3\";\npackage p;\nmessage M {\n  map<string, M> m = 1;\n  oneof o { string a = 2; int32 b = 3; }\n  enum E { A = 0; }\n}\n"},
		{1, "syntax = \"proto2\";\nmessage M { required int32 a = 1 [default = 7]; extensions 10 to max; }\nextend M { optional string x = 10; }\n"},
		{1, "syntax = \"proto3\";\nimport \"google/protobuf/any.proto\";\noption (x) = { a: 1 };\nmessage M { google.protobuf.Any a = 1; }"},
		{1, "message {"},
		{1, "// only a comment"},
		{1, "\"\\\xb3"},
		{2, `{"type":"object","properties":{"a":{"type":["string","null"],"maxLength":3},"b":{"$ref":"#/definitions/b"}},"required":["a"],"additionalProperties":false,"definitions":{"b":{"enum":[1,"x",null]}}}`},
		{2, `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}],"items":false,"$defs":{"r":{"$ref":"#/$defs/r"}}}`},
		{2, `{"oneOf":[{"type":"string"},{"not":{"const":1}}],"allOf":[{"minimum":NaN}]}`},
		{2, `[`},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.text)
	}
	types := []Type{TypeAvro, TypeProtobuf, TypeJSON}
	f.Fuzz(func(t *testing.T, typ uint8, text string) {
		s := Schema{Type: types[int(typ)%len(types)], Text: text}
		p, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("panic while parsing: %v", err)
			}
			return
		}
		for _, level := range []Level{Backward, Forward, FullTransitive} {
			for _, m := range Check(level, p, []*Parsed{p, p}) {
				if strings.HasPrefix(m, "Unexpected exception") && !strings.Contains(m, "matches multiple fields") {
					t.Fatalf("panic while checking: %s", m)
				}
			}
		}
		if strings.TrimSpace(p.Canonical()) == "" {
			return // a .proto file of comments only prints as nothing
		}
		again, err := Parse(Schema{Type: s.Type, Text: p.Canonical()})
		if err != nil {
			t.Fatalf("canonical text %q does not parse: %v", p.Canonical(), err)
		}
		if s.Type != TypeProtobuf && again.Canonical() != p.Canonical() {
			t.Fatalf("canonical text is not stable:\n%s\n%s", p.Canonical(), again.Canonical())
		}
	})
}
