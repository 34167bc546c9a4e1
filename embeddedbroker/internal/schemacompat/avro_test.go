package schemacompat

import (
	"errors"
	"strings"
	"testing"
)

// TestAvroCanonical checks that the canonical text is Apache Avro's
// Schema.toString() (what Confluent stores and compares), not the Parsing
// Canonical Form: doc, defaults, aliases, order and custom properties stay;
// whitespace, key order and redundant namespaces do not matter.
func TestAvroCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"whitespace and key order",
			"{\n  \"fields\": [ {\"type\": \"string\", \"name\": \"f1\"} ],\n  \"name\": \"myrecord\",\n  \"type\": \"record\"\n}",
			`{"type":"record","name":"myrecord","fields":[{"name":"f1","type":"string"}]}`},
		{"primitive", ` "int" `, `"int"`},
		{"primitive object without properties", `{"type":"string"}`, `"string"`},
		{"primitive with properties",
			`{"type":"string","avro.java.string":"String"}`,
			`{"type":"string","avro.java.string":"String"}`},
		{"logical type",
			`{"logicalType":"decimal","type":"bytes","precision":4,"scale":2}`,
			`{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`},
		{"full name split, namespace inherited, named type by name",
			`{"type":"record","name":"a.b.R","doc":"d","fields":[{"name":"x","type":{"type":"record","name":"S","fields":[]}},{"name":"y","type":"S"},{"name":"z","type":"a.b.S"}]}`,
			`{"type":"record","name":"R","namespace":"a.b","doc":"d","fields":[{"name":"x","type":{"type":"record","name":"S","fields":[]}},{"name":"y","type":"S"},{"name":"z","type":"S"}]}`},
		{"nested namespace and null namespace",
			`{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"b","symbols":["A"]}},{"name":"y","type":{"type":"fixed","name":"F","namespace":"","size":2}},{"name":"z","type":"b.E"}]}`,
			`{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"b","symbols":["A"]}},{"name":"y","type":{"type":"fixed","name":"F","namespace":"","size":2}},{"name":"z","type":"b.E"}]}`},
		{"field attributes in Avro's order",
			`{"type":"record","name":"R","fields":[{"custom":1,"aliases":["old"],"order":"descending","default":"x","doc":"the field","type":"string","name":"f"}]}`,
			`{"type":"record","name":"R","fields":[{"name":"f","type":"string","doc":"the field","default":"x","order":"descending","aliases":["old"],"custom":1}]}`},
		{"ascending order is dropped",
			`{"type":"record","name":"R","fields":[{"name":"f","type":"int","order":"ascending"}]}`,
			`{"type":"record","name":"R","fields":[{"name":"f","type":"int"}]}`},
		{"record properties and aliases after the fields",
			`{"aliases":["Old","x.Older"],"type":"record","name":"R","namespace":"n","fields":[],"connect.name":"n.R"}`,
			`{"type":"record","name":"R","namespace":"n","fields":[],"connect.name":"n.R","aliases":["Old","x.Older"]}`},
		{"enum default and properties",
			`{"type":"enum","name":"E","default":"B","symbols":["A","B"],"doc":"e","p":[1,2]}`,
			`{"type":"enum","name":"E","doc":"e","symbols":["A","B"],"default":"B","p":[1,2]}`},
		{"numbers of defaults as Jackson prints doubles",
			`{"type":"record","name":"R","fields":[{"name":"a","type":"double","default":1e2},{"name":"b","type":"float","default":"1.5"},{"name":"c","type":"long","default":-0},{"name":"d","type":"double","default":0.00001},{"name":"e","type":"double","default":12345678.5}]}`,
			`{"type":"record","name":"R","fields":[{"name":"a","type":"double","default":100.0},{"name":"b","type":"float","default":1.5},{"name":"c","type":"long","default":0},{"name":"d","type":"double","default":1.0E-5},{"name":"e","type":"double","default":1.23456785E7}]}`},
		{"string escaping as Jackson",
			`{"type":"record","name":"R","doc":"caf\u00e9 \"q\" \\ \/ \u0001\n","fields":[]}`,
			`{"type":"record","name":"R","doc":"café \"q\" \\ / \u0001\n","fields":[]}`},
		{"comments are allowed", `/* c */ {"type":"array", // c
			"items":"int"}`, `{"type":"array","items":"int"}`},
		{"reserved keys are dropped",
			`{"type":"map","values":"int","name":"ignored","size":3}`,
			`{"type":"map","values":"int"}`},
		{"object reference to a named type (Avro 1.12)",
			`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"b","type":{"type":"E"}}]}`,
			`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"b","type":"E"}]}`},
		{"forward reference",
			`{"type":"record","name":"R","fields":[{"name":"a","type":["null","S"]},{"name":"b","type":{"type":"record","name":"S","fields":[]}}]}`,
			`{"type":"record","name":"R","fields":[{"name":"a","type":["null",{"type":"record","name":"S","fields":[]}]},{"name":"b","type":"S"}]}`},
		{"recursive", `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}`,
			`{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}`},
		{"duplicate keys: first position, last value",
			`{"type":"record","name":"R","x":1,"fields":[],"x":2}`,
			`{"type":"record","name":"R","fields":[],"x":2}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, Schema{Text: tc.in})
			if p.Canonical() != tc.want {
				t.Errorf("canonical\n got %s\nwant %s", p.Canonical(), tc.want)
			}
			// The canonical text is a fixed point.
			if again := mustParse(t, Schema{Text: p.Canonical()}); again.Canonical() != p.Canonical() {
				t.Errorf("canonical of canonical differs: %s", again.Canonical())
			}
		})
	}
}

// TestAvroSameSchema: two registrations that differ only in whitespace or
// key order are the same schema; different docs or defaults are not.
func TestAvroSameSchema(t *testing.T) {
	a := mustParse(t, Schema{Text: `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}`})
	b := mustParse(t, Schema{Text: "{\"namespace\": \"com.acme\",\n \"name\": \"User\", \"type\": \"record\",\n \"fields\": [\n  {\"type\": \"long\", \"name\": \"id\"},\n  {\"default\": null, \"name\": \"email\", \"type\": [\"null\", \"string\"]}\n ]\n}\n"})
	c := mustParse(t, Schema{Text: `{"type":"record","name":"com.acme.User","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}`})
	d := mustParse(t, Schema{Text: `{"type":"record","name":"User","namespace":"com.acme","doc":"x","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}`})
	if a.Canonical() != b.Canonical() || a.Canonical() != c.Canonical() {
		t.Errorf("same schema, different canonical texts:\n%s\n%s\n%s", a.Canonical(), b.Canonical(), c.Canonical())
	}
	if a.Canonical() == d.Canonical() {
		t.Error("a doc change must change the canonical text")
	}
}

// TestAvroMultipleIncompatibilities is the scenario of Avro's
// TestSchemaCompatibilityMultiple: every incompatibility, in order, with its
// location.
func TestAvroMultipleIncompatibilities(t *testing.T) {
	reader := `{"type":"record","name":"base","fields":[
	  {"name":"check_enum_symbols_field","type":{"type":"enum","name":"check_enum_symbols_type","symbols":["A","C"]}},
	  {"name":"check_enum_name_field","type":{"type":"enum","name":"check_enum_name_type","symbols":["A","B","C","D"]}},
	  {"name":"type_mismatch_field","type":"string"},
	  {"name":"sub_record","type":{"type":"record","name":"sub_record_type","fields":[
	    {"name":"identical_1_field","type":"long","default":42},
	    {"name":"extra_no_default_field","type":"long"},
	    {"name":"fixed_length_mismatch_field","type":{"type":"fixed","name":"fixed_length_mismatch_type","size":4}},
	    {"name":"union_missing_branches_field","type":["boolean"]},
	    {"name":"reader_union_does_not_support_type_field","type":["boolean"]},
	    {"name":"record_fqn_mismatch_field","type":{"type":"record","name":"recordA","namespace":"not_nsA","fields":[
	      {"name":"A_field_0","type":"boolean","default":true},
	      {"name":"array_type_mismatch_field","type":{"type":"array","items":"string"}}]}}]}}]}`
	writer := `{"type":"record","name":"base","fields":[
	  {"name":"check_enum_symbols_field","type":{"type":"enum","name":"check_enum_symbols_type","symbols":["A","B","C","D"]}},
	  {"name":"check_enum_name_field","type":{"type":"enum","name":"check_enum_name_type_ERR","symbols":["A","B","C","D"]}},
	  {"name":"type_mismatch_field","type":"long"},
	  {"name":"sub_record","type":{"type":"record","name":"sub_record_type","fields":[
	    {"name":"identical_1_field","type":"long","default":42},
	    {"name":"fixed_length_mismatch_field","type":{"type":"fixed","name":"fixed_length_mismatch_type","size":8}},
	    {"name":"union_missing_branches_field","type":["boolean","double","string"]},
	    {"name":"reader_union_does_not_support_type_field","type":"long"},
	    {"name":"record_fqn_mismatch_field","type":{"type":"record","name":"recordA","namespace":"nsA","fields":[
	      {"name":"A_field_0","type":"boolean","default":true},
	      {"name":"array_type_mismatch_field","type":{"type":"array","items":"boolean"}}]}}]}}]}`
	msgs := avroIncompatibilities(mustParse(t, Schema{Text: reader}).avro, mustParse(t, Schema{Text: writer}).avro, "new", "old")
	want := []struct{ typ, path, info string }{
		{"MISSING_ENUM_SYMBOLS", "/fields/0/type/symbols", "[B, D]"},
		{"NAME_MISMATCH", "/fields/1/type/name", "expected: check_enum_name_type_ERR"},
		{"TYPE_MISMATCH", "/fields/2/type", "reader type: STRING not compatible with writer type: LONG"},
		{"READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/3/type/fields/1", "extra_no_default_field"},
		{"FIXED_SIZE_MISMATCH", "/fields/3/type/fields/2/type/size", "expected: 8, found: 4"},
		{"MISSING_UNION_BRANCH", "/fields/3/type/fields/3/type/1", "reader union lacking writer type: DOUBLE"},
		{"MISSING_UNION_BRANCH", "/fields/3/type/fields/3/type/2", "reader union lacking writer type: STRING"},
		{"MISSING_UNION_BRANCH", "/fields/3/type/fields/4/type", "reader union lacking writer type: LONG"},
		{"TYPE_MISMATCH", "/fields/3/type/fields/5/type/fields/1/type/items", "reader type: STRING not compatible with writer type: BOOLEAN"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(msgs), len(want), strings.Join(msgs, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], "{errorType:'"+w.typ+"'") || !strings.Contains(msgs[i], "path '"+w.path+"'") && !strings.Contains(msgs[i], "(path '"+w.path+"')") || !strings.HasSuffix(msgs[i], "additionalInfo:'"+w.info+"'}") {
			t.Errorf("message %d = %s\nwant %s at %s: %s", i, msgs[i], w.typ, w.path, w.info)
		}
	}
}

func TestAvroRecursiveCompatibility(t *testing.T) {
	list1 := `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`
	list2 := `{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]},{"name":"w","type":"string","default":""}]}`
	a, b := avroV(t, list1, 1), avroV(t, list2, 2)
	if msgs := Check(Backward, b, []*Parsed{a}); len(msgs) != 0 {
		t.Errorf("backward: %q", msgs)
	}
	if msgs := Check(Forward, b, []*Parsed{a}); len(msgs) == 0 {
		t.Error("forward: long cannot be read as int")
	}
}

// TestAvroEnumDefaultField: a reader field missing in the writer, without a
// default but of an enum type with a default, is checked against the writer
// record (Avro's rule), which is a type mismatch.
func TestAvroEnumDefaultField(t *testing.T) {
	old := avroV(t, `{"type":"record","name":"R","fields":[]}`, 1)
	cand := avroV(t, `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"],"default":"A"}}]}`, 0)
	msgs := Check(Backward, cand, []*Parsed{old})
	if len(msgs) == 0 || msgs[0] != `{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: ENUM not compatible with writer type: RECORD'}` {
		t.Errorf("%q", msgs)
	}
}

func TestAvroAliasMatchesTwoFields(t *testing.T) {
	old := avroV(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}`, 1)
	cand := avroV(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","aliases":["b"]}]}`, 0)
	msgs := Check(Backward, cand, []*Parsed{old})
	if len(msgs) == 0 || !strings.HasPrefix(msgs[0], "Unexpected exception during compatibility check: Reader record field a type:INT pos:0 matches multiple fields in writer record schema ") {
		t.Errorf("%q", msgs)
	}
}

func TestAvroReferences(t *testing.T) {
	address := Schema{Text: `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"},{"name":"country","type":{"type":"enum","name":"Country","symbols":["FR","DE"]}}]}`}
	refs := []Reference{{Name: "com.acme.Address", Subject: "address", Version: 1, Schema: address}}
	user := mustParse(t, Schema{
		Text:       `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"Address"},{"name":"work","type":["null","com.acme.Address"],"default":null},{"name":"c","type":"Country"}]}`,
		References: refs,
	})
	// The referenced type is written by name; a type nested inside the
	// referenced schema is written out (only the referenced schema's own
	// name is known), as in Confluent.
	want := `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"Address"},{"name":"work","type":["null","Address"],"default":null},{"name":"c","type":{"type":"enum","name":"Country","symbols":["FR","DE"]}}]}`
	if user.Canonical() != want {
		t.Errorf("canonical\n got %s\nwant %s", user.Canonical(), want)
	}
	// The referenced type takes part in the compatibility check.
	address2 := Schema{Text: `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"},{"name":"zip","type":"string"},{"name":"country","type":{"type":"enum","name":"Country","symbols":["FR","DE"]}}]}`}
	user2 := mustParse(t, Schema{
		Text:       `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"Address"},{"name":"work","type":["null","com.acme.Address"],"default":null},{"name":"c","type":"Country"}]}`,
		References: []Reference{{Name: "com.acme.Address", Subject: "address", Version: 2, Schema: address2}},
	})
	msgs := Check(Backward, user2, []*Parsed{user})
	if len(msgs) == 0 || !strings.Contains(msgs[0], "The field 'zip' at path '/fields/0/type/fields/1'") {
		t.Errorf("%q", msgs)
	}
	// A missing reference.
	_, err := Parse(Schema{Text: `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"Address"}]}`})
	if err == nil || !strings.HasSuffix(err.Error(), "details: Undefined schema: com.acme.Address") {
		t.Errorf("missing reference: %v", err)
	}
	// Redefining a referenced type differently.
	_, err = Parse(Schema{Text: `{"type":"record","name":"com.acme.Address","fields":[]}`, References: refs})
	if err == nil || !strings.HasSuffix(err.Error(), "details: Can't redefine: com.acme.Address") {
		t.Errorf("redefinition: %v", err)
	}
}

func TestAvroInvalid(t *testing.T) {
	tests := []struct{ in, details string }{
		{`{"type":"record","name":"r","fields":[`, "Unexpected end-of-input"},
		{`not json`, "Unexpected character"},
		{`{"type":"record","name":"r","fields":[]} {}`, "dangling content"},
		{`{"name":"r"}`, `No type: {"name":"r"}`},
		{`{"type":"foo"}`, "Undefined schema: foo"},
		{`"Foo"`, "Undefined schema: Foo"},
		{`12`, "Schema not yet supported: 12"},
		{`{"type":"record","name":"r"}`, `Record has no fields: {"type":"record","name":"r"}`},
		{`{"type":"record","fields":[]}`, "No name in schema"},
		{`{"type":"record","name":"1r","fields":[]}`, "Illegal initial character: 1r"},
		{`{"type":"record","name":"r-x","fields":[]}`, "Illegal character in: r-x"},
		{`{"type":"record","name":"r","namespace":"a.1b","fields":[]}`, `Namespace part "1b" is invalid: Illegal initial character: 1b`},
		{`{"type":"record","name":"int","fields":[]}`, "Schemas may not be named after primitives: int"},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"int"},{"name":"a","type":"string"}]}`, "Duplicate field a in record r"},
		{`{"type":"record","name":"r","fields":[{"type":"int"}]}`, "No field name"},
		{`{"type":"record","name":"r","fields":[{"name":"a"}]}`, "No field type"},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"int","default":"x"}]}`, `Invalid default for field a: "x" not a "int"`},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"int","default":1.5}]}`, `Invalid default for field a: 1.5 not a "int"`},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"int","default":3000000000}]}`, "Invalid default for field a"},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"int","default":null}]}`, "Invalid default for field a: null"},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"double","default":"abc"}]}`, `For input string: "abc"`},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":"string","order":"up"}]}`, "No enum constant org.apache.avro.Schema.Field.Order.UP"},
		{`{"type":"enum","name":"e","symbols":["A","A"]}`, "Duplicate enum symbol: A"},
		{`{"type":"enum","name":"e","symbols":["A"],"default":"B"}`, "The Enum Default: B is not in the enum symbol set: [A]"},
		{`{"type":"enum","name":"e"}`, "Enum has no symbols"},
		{`{"type":"fixed","name":"f","size":"4"}`, "Invalid or no size"},
		{`{"type":"fixed","name":"f","size":-1}`, "Malformed data. Length is negative: -1"},
		{`{"type":"array"}`, "Array has no items type"},
		{`{"type":"map"}`, "Map has no values type"},
		{`["int",["long"]]`, `Nested union: ["int",["long"]]`},
		{`["int","int"]`, "Duplicate in union:int"},
		{`{"type":"record","name":"r","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"b","type":{"type":"enum","name":"E","symbols":["B"]}}]}`, "Can't redefine: E"},
		{`{"type":"record","name":"r","fields":[],"aliases":"x"}`, "aliases not an array"},
	}
	for _, tc := range tests {
		_, err := Parse(Schema{Text: tc.in, Subject: "s"})
		var ise *InvalidSchemaError
		if !errors.As(err, &ise) {
			t.Errorf("%s: error %v, want an InvalidSchemaError", tc.in, err)
			continue
		}
		if ise.Type != TypeAvro || !strings.Contains(ise.Details, tc.details) {
			t.Errorf("%s: details %q, want %q", tc.in, ise.Details, tc.details)
		}
		wantPrefix := "Invalid schema {subject=s,version=0,id=-1,schemaType=AVRO,references=[],metadata=null,ruleSet=null,schema=" + tc.in + "} with refs [] of type AVRO, details: "
		if err.Error() != wantPrefix+ise.Details {
			t.Errorf("message %q", err.Error())
		}
	}
	// Avro 1.12 accepts a union default matching any branch, and an enum
	// without symbols.
	for _, ok := range []string{
		`{"type":"record","name":"r","fields":[{"name":"a","type":["null","string"],"default":"x"}]}`,
		`{"type":"enum","name":"e","symbols":[]}`,
		`[]`,
	} {
		if _, err := Parse(Schema{Text: ok}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
