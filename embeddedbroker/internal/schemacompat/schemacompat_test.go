package schemacompat

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t testing.TB, s Schema) *Parsed {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%.200q): %v", s.Text, err)
	}
	return p
}

func avroV(t testing.TB, text string, version int) *Parsed {
	t.Helper()
	return mustParse(t, Schema{Text: text, Version: version})
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{"": TypeAvro, "AVRO": TypeAvro, "PROTOBUF": TypeProtobuf, "JSON": TypeJSON} {
		got, err := ParseType(in)
		if err != nil || got != want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"avro", "XML", "Json"} {
		_, err := ParseType(in)
		var ise *InvalidSchemaError
		if !errors.As(err, &ise) || err.Error() != "Invalid schema type "+in {
			t.Errorf("ParseType(%q) error = %v", in, err)
		}
	}
	if _, err := Parse(Schema{Type: "XML", Text: "<a/>"}); err == nil || err.Error() != "Invalid schema type XML" {
		t.Errorf("Parse with unknown type: %v", err)
	}
}

func TestParseLevel(t *testing.T) {
	for _, in := range []string{"none", "BACKWARD", "backward_transitive", "Forward", "FORWARD_TRANSITIVE", "full", "FULL_TRANSITIVE"} {
		l, err := ParseLevel(in)
		if err != nil || string(l) != strings.ToUpper(in) {
			t.Errorf("ParseLevel(%q) = %q, %v", in, l, err)
		}
	}
	for _, in := range []string{"", "backwards", "FULL-TRANSITIVE"} {
		if _, err := ParseLevel(in); !errors.Is(err, ErrInvalidLevel) {
			t.Errorf("ParseLevel(%q) error = %v", in, err)
		}
	}
	if ErrInvalidLevel.Error() != "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive" {
		t.Errorf("unexpected message %q", ErrInvalidLevel)
	}
	if !FullTransitive.Transitive() || Full.Transitive() {
		t.Error("Transitive()")
	}
}

// The schemas of Confluent's documentation and AvroCompatibilityTest: a
// record evolving by one field at a time.
const (
	userV1          = `{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"}]}`
	userWithDefault = `{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"}]}`
	userNoDefault   = `{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"},{"type":"string","name":"f2"}]}`
	userAlias       = `{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1_new","aliases":["f1"]}]}`
	userUnion       = `{"type":"record","name":"myrecord","fields":[{"type":["null","string"],"name":"f1","doc":"doc of f1"}]}`
	userUnion3      = `{"type":"record","name":"myrecord","fields":[{"type":["null","string","int"],"name":"f1","doc":"doc of f1"}]}`
	userTwoDefaults = `{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"},{"type":"string","name":"f3","default":"bar"}]}`
)

// TestAvroLevels is a table of Confluent's documented compatibility
// examples: each row checks a new schema against earlier versions (oldest
// first) at a level.
func TestAvroLevels(t *testing.T) {
	field := func(typ string) string {
		return `{"type":"record","name":"r","fields":[{"name":"a","type":` + typ + `}]}`
	}
	enumRec := func(symbols, extra string) string {
		return `{"type":"record","name":"r","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":[` + symbols + `]` + extra + `}}]}`
	}
	tests := []struct {
		name       string
		level      Level
		candidate  string
		previous   []string
		compatible bool
		errorTypes []string // errorType of each Avro message, in order
	}{
		// Adding a field.
		{"add field with default, BACKWARD", Backward, userWithDefault, []string{userV1}, true, nil},
		{"add field without default, BACKWARD", Backward, userNoDefault, []string{userV1}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		{"add field with default, FORWARD", Forward, userWithDefault, []string{userV1}, true, nil},
		{"add field without default, FORWARD", Forward, userNoDefault, []string{userV1}, true, nil},
		{"add field with default, FULL", Full, userWithDefault, []string{userV1}, true, nil},
		{"add field without default, FULL", Full, userNoDefault, []string{userV1}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		// Removing a field.
		{"remove field with default, BACKWARD", Backward, userV1, []string{userWithDefault}, true, nil},
		{"remove field without default, BACKWARD", Backward, userV1, []string{userNoDefault}, true, nil},
		{"remove field with default, FORWARD", Forward, userV1, []string{userWithDefault}, true, nil},
		{"remove field without default, FORWARD", Forward, userV1, []string{userNoDefault}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		{"remove field with default, FULL", Full, userV1, []string{userWithDefault}, true, nil},
		{"remove field without default, FULL", Full, userV1, []string{userNoDefault}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		{"adding a default, FORWARD", Forward, userWithDefault, []string{userNoDefault}, true, nil},
		// Renaming with an alias.
		{"rename field with alias, BACKWARD", Backward, userAlias, []string{userV1}, true, nil},
		{"rename field without alias, BACKWARD", Backward, `{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1_new"}]}`, []string{userV1}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		// Unions.
		{"field to union, BACKWARD", Backward, userUnion, []string{userV1}, true, nil},
		{"field to union, FORWARD", Forward, userUnion, []string{userV1}, false, []string{"TYPE_MISMATCH"}},
		{"union to field, BACKWARD", Backward, userV1, []string{userUnion}, false, []string{"TYPE_MISMATCH"}},
		{"add union branch, BACKWARD", Backward, userUnion3, []string{userUnion}, true, nil},
		{"remove union branch, BACKWARD", Backward, userUnion, []string{userUnion3}, false, []string{"MISSING_UNION_BRANCH"}},
		{"remove union branch, FORWARD", Forward, userUnion, []string{userUnion3}, true, nil},
		// Type changes and promotions.
		{"int to string", Backward, field(`"string"`), []string{field(`"int"`)}, false, []string{"TYPE_MISMATCH"}},
		{"int to long, BACKWARD", Backward, field(`"long"`), []string{field(`"int"`)}, true, nil},
		{"int to long, FORWARD", Forward, field(`"long"`), []string{field(`"int"`)}, false, []string{"TYPE_MISMATCH"}},
		{"long to int, BACKWARD", Backward, field(`"int"`), []string{field(`"long"`)}, false, []string{"TYPE_MISMATCH"}},
		{"int to float", Backward, field(`"float"`), []string{field(`"int"`)}, true, nil},
		{"int to double", Backward, field(`"double"`), []string{field(`"int"`)}, true, nil},
		{"long to float", Backward, field(`"float"`), []string{field(`"long"`)}, true, nil},
		{"long to double", Backward, field(`"double"`), []string{field(`"long"`)}, true, nil},
		{"float to double", Backward, field(`"double"`), []string{field(`"float"`)}, true, nil},
		{"double to float", Backward, field(`"float"`), []string{field(`"double"`)}, false, []string{"TYPE_MISMATCH"}},
		{"string to bytes, FULL", Full, field(`"bytes"`), []string{field(`"string"`)}, true, nil},
		{"bytes to string, FULL", Full, field(`"string"`), []string{field(`"bytes"`)}, true, nil},
		{"int to [null,long]", Backward, field(`["null","long"]`), []string{field(`"int"`)}, true, nil},
		{"array items int to long", Backward, field(`{"type":"array","items":"long"}`), []string{field(`{"type":"array","items":"int"}`)}, true, nil},
		{"map values string to int", Backward, field(`{"type":"map","values":"int"}`), []string{field(`{"type":"map","values":"string"}`)}, false, []string{"TYPE_MISMATCH"}},
		{"fixed size", Backward, field(`{"type":"fixed","name":"F","size":8}`), []string{field(`{"type":"fixed","name":"F","size":4}`)}, false, []string{"FIXED_SIZE_MISMATCH"}},
		{"logical types do not matter", Full, field(`{"type":"long","logicalType":"timestamp-millis"}`), []string{field(`"long"`)}, true, nil},
		// Enums.
		{"add enum symbol, BACKWARD", Backward, enumRec(`"A","B","C"`, ""), []string{enumRec(`"A","B"`, "")}, true, nil},
		{"add enum symbol, FORWARD", Forward, enumRec(`"A","B","C"`, ""), []string{enumRec(`"A","B"`, "")}, false, []string{"MISSING_ENUM_SYMBOLS"}},
		{"add enum symbol, FORWARD, old reader has default", Forward, enumRec(`"A","B","C"`, ""), []string{enumRec(`"A","B"`, `,"default":"A"`)}, true, nil},
		{"remove enum symbol, BACKWARD", Backward, enumRec(`"A"`, ""), []string{enumRec(`"A","B"`, "")}, false, []string{"MISSING_ENUM_SYMBOLS"}},
		{"rename enum", Backward, `{"type":"record","name":"r","fields":[{"name":"e","type":{"type":"enum","name":"E2","symbols":["A"]}}]}`, []string{enumRec(`"A"`, "")}, false, []string{"NAME_MISMATCH"}},
		// Names.
		{"rename record", Backward, `{"type":"record","name":"other","fields":[{"type":"string","name":"f1"}]}`, []string{userV1}, false, []string{"NAME_MISMATCH"}},
		{"rename record with alias", Backward, `{"type":"record","name":"other","aliases":["myrecord"],"fields":[{"type":"string","name":"f1"}]}`, []string{userV1}, true, nil},
		{"change namespace only", Full, `{"type":"record","name":"myrecord","namespace":"x.y","fields":[{"type":"string","name":"f1"}]}`, []string{userV1}, true, nil},
		// Levels and history (Confluent's AvroCompatibilityTest).
		{"NONE accepts anything", None, field(`"string"`), []string{field(`"int"`)}, true, nil},
		{"no previous version", FullTransitive, userNoDefault, nil, true, nil},
		{"BACKWARD checks the latest only", Backward, userNoDefault, []string{userV1, userWithDefault}, true, nil},
		{"BACKWARD_TRANSITIVE checks all", BackwardTransitive, userNoDefault, []string{userV1, userWithDefault}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		{"BACKWARD_TRANSITIVE, all compatible", BackwardTransitive, userTwoDefaults, []string{userV1, userWithDefault}, true, nil},
		{"FORWARD checks the latest only", Forward, userV1, []string{userNoDefault, userWithDefault}, true, nil},
		{"FORWARD_TRANSITIVE checks all", ForwardTransitive, userV1, []string{userNoDefault, userWithDefault}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		{"FORWARD_TRANSITIVE, all compatible", ForwardTransitive, userV1, []string{userTwoDefaults, userWithDefault}, true, nil},
		{"FULL checks the latest only", Full, userNoDefault, []string{userV1, userWithDefault}, true, nil},
		{"FULL_TRANSITIVE checks all", FullTransitive, userNoDefault, []string{userV1, userWithDefault}, false, []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}},
		{"FULL_TRANSITIVE, all compatible", FullTransitive, userTwoDefaults, []string{userV1, userWithDefault}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var prev []*Parsed
			for i, p := range tc.previous {
				prev = append(prev, avroV(t, p, i+1))
			}
			msgs := Check(tc.level, avroV(t, tc.candidate, 0), prev)
			if msgs == nil {
				t.Fatal("Check returned nil, want a non-nil slice")
			}
			if tc.compatible != (len(msgs) == 0) {
				t.Fatalf("compatible = %v, want %v: %q", len(msgs) == 0, tc.compatible, msgs)
			}
			var types []string
			for _, m := range msgs {
				if strings.HasPrefix(m, "{errorType:'") {
					types = append(types, m[len("{errorType:'"):strings.Index(m, "',")])
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.errorTypes, ",") {
				t.Errorf("error types %v, want %v (%q)", types, tc.errorTypes, msgs)
			}
			// (For FULL, only the backward half appends the old schema.)
			if !tc.compatible && tc.level != Full && tc.level != FullTransitive && !strings.HasPrefix(msgs[len(msgs)-1], "{oldSchema: '") {
				t.Errorf("last message %q is not the old schema", msgs[len(msgs)-1])
			}
		})
	}
}

// TestAvroMessages checks complete messages against Confluent's format
// (io.confluent.kafka.schemaregistry.avro.Difference and
// SchemaValidatorBuilder).
func TestAvroMessages(t *testing.T) {
	v1 := avroV(t, userV1, 1)
	v2 := avroV(t, userNoDefault, 2)
	got := Check(Backward, v2, []*Parsed{v1})
	want := []string{
		`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'f2' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'f2'}`,
		`{oldSchemaVersion: 1}`,
		`{oldSchema: '{"type":"record","name":"myrecord","fields":[{"name":"f1","type":"string"}]}'}`,
	}
	assertStrings(t, got, want)

	// FORWARD: the old schema is the reader.
	got = Check(Forward, v1, []*Parsed{v2})
	want = []string{
		`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'f2' at path '/fields/1' in the old schema has no default value and is missing in the new schema', additionalInfo:'f2'}`,
		`{oldSchemaVersion: 2}`,
		`{oldSchema: '{"type":"record","name":"myrecord","fields":[{"name":"f1","type":"string"},{"name":"f2","type":"string"}]}'}`,
	}
	assertStrings(t, got, want)

	// FULL: the forward half does not append the old schema.
	got = Check(Full, v1, []*Parsed{v2})
	assertStrings(t, got, want[:1])

	// Every message type.
	field := func(typ string) *Parsed {
		return avroV(t, `{"type":"record","name":"r","fields":[{"name":"a","type":`+typ+`}]}`, 0)
	}
	cases := []struct {
		newType, oldType string
		want             string
	}{
		{`"string"`, `"int"`, `{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: STRING not compatible with writer type: INT'}`},
		{`{"type":"fixed","name":"F","size":8}`, `{"type":"fixed","name":"F","size":4}`, `{errorType:'FIXED_SIZE_MISMATCH', description:'The size of FIXED type field at path '/fields/0/type/size' in the new schema does not match with the old schema', additionalInfo:'expected: 4, found: 8'}`},
		{`{"type":"fixed","name":"G","namespace":"n","size":4}`, `{"type":"fixed","name":"F","namespace":"n","size":4}`, `{errorType:'NAME_MISMATCH', description:'The name of the schema has changed (path '/fields/0/type/name')', additionalInfo:'expected: n.F'}`},
		{`{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"E","symbols":["C","A","B"]}`, `{errorType:'MISSING_ENUM_SYMBOLS', description:'The new schema is missing enum symbols '[B, C]' at path '/fields/0/type/symbols' in the old schema', additionalInfo:'[B, C]'}`},
		{`["null","string"]`, `["null","string","int"]`, `{errorType:'MISSING_UNION_BRANCH', description:'The new schema is missing a type inside a union field at path '/fields/0/type/2' in the old schema', additionalInfo:'reader union lacking writer type: INT'}`},
		{`["null","string"]`, `"int"`, `{errorType:'MISSING_UNION_BRANCH', description:'The new schema is missing a type inside a union field at path '/fields/0/type' in the old schema', additionalInfo:'reader union lacking writer type: INT'}`},
		{`"string"`, `["null","string"]`, `{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type/0') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: STRING not compatible with writer type: NULL'}`},
	}
	for _, c := range cases {
		got := Check(Backward, field(c.newType), []*Parsed{field(c.oldType)})
		if len(got) != 2 || got[0] != c.want {
			t.Errorf("%s <- %s:\n got %q\nwant %q", c.newType, c.oldType, got, c.want)
		}
	}

	// A schema of another type.
	js := mustParse(t, Schema{Type: TypeJSON, Text: `{"type":"string"}`})
	assertStrings(t, Check(Backward, js, []*Parsed{v1}), []string{"Incompatible because of different schema type"})

	// The helpers for the REST layer.
	details := Details(Backward, Check(Backward, v2, []*Parsed{v1}))
	if details[len(details)-1] != "{validateFields: 'false', compatibility: 'BACKWARD'}" {
		t.Errorf("Details: %q", details)
	}
	if len(Details(Backward, nil)) != 0 {
		t.Error("Details of no messages must be empty")
	}
	msg := IncompatibleMessage("users-value", details)
	wantPrefix := `Schema being registered is incompatible with an earlier schema for subject "users-value", details: [{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', `
	wantSuffix := `{oldSchemaVersion: 1}, {oldSchema: '{"type":"record","name":"myrecord","fields":[{"name":"f1","type":"string"}]}'}, {validateFields: 'false', compatibility: 'BACKWARD'}]`
	if !strings.HasPrefix(msg, wantPrefix) || !strings.HasSuffix(msg, wantSuffix) {
		t.Errorf("IncompatibleMessage = %s", msg)
	}
}

func TestOldSchemaTruncated(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"record","name":"r","fields":[`)
	for i := 0; i < 400; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"field_number_` + itoa(i) + `","type":"string"}`)
	}
	b.WriteString(`]}`)
	old := avroV(t, b.String(), 3)
	cand := avroV(t, `{"type":"record","name":"r","fields":[{"name":"x","type":"int"}]}`, 0)
	msgs := Check(Backward, cand, []*Parsed{old})
	last := msgs[len(msgs)-1]
	if !strings.HasPrefix(last, "{oldSchema: <truncated> '") || !strings.HasSuffix(last, "...'}") || len(last) != len("{oldSchema: <truncated> '")+10*1024+len("...'}") {
		t.Errorf("truncated old schema: %d bytes, %q...", len(last), last[:60])
	}
}

func assertStrings(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestConcurrentCheck: parsed schemas are immutable and may be checked from
// several goroutines at once (run with -race).
func TestConcurrentCheck(t *testing.T) {
	var props strings.Builder
	for i := 0; i < 40; i++ {
		if i > 0 {
			props.WriteByte(',')
		}
		props.WriteString(`"p` + itoa(i) + `":{"type":"string","default":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}}`)
	}
	pairs := [][2]*Parsed{
		{avroV(t, userNoDefault, 0), avroV(t, userV1, 1)},
		{protoV(t, "syntax = \"proto3\";\nmessage A { int32 a = 1; }", 0), protoV(t, "syntax = \"proto3\";\nmessage A { string a = 1; }", 1)},
		{jsonV(t, `{"type":"object","properties":{`+props.String()+`}}`, 0), jsonV(t, `{"type":"object","properties":{`+props.String()+`,"x":{"type":"integer"}},"additionalProperties":false}`, 1)},
	}
	done := make(chan []string, 24)
	for g := 0; g < 8; g++ {
		for _, p := range pairs {
			go func() { done <- Check(FullTransitive, p[0], []*Parsed{p[1], p[1]}) }()
		}
	}
	for i := 0; i < 24; i++ {
		if msgs := <-done; len(msgs) == 0 {
			t.Error("expected incompatibilities")
		}
	}
}
