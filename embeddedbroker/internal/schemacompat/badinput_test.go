package schemacompat

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func wantInvalid(t *testing.T, s Schema, detail string) {
	t.Helper()
	_, err := Parse(s)
	var ise *InvalidSchemaError
	if !errors.As(err, &ise) {
		t.Fatalf("Parse(%.80q): %v, want an InvalidSchemaError", s.Text, err)
	}
	if !strings.Contains(ise.Details, detail) {
		t.Errorf("Parse(%.80q) details %q, want %q", s.Text, ise.Details, detail)
	}
}

func TestMalformedInput(t *testing.T) {
	for _, typ := range []Type{TypeAvro, TypeJSON, TypeProtobuf} {
		for _, text := range []string{"", "   ", "{", `{"a":}`, "\x00\xff\xfe", `{"type":"record","name":"r","fields":[}`, strings.Repeat("[", 10)} {
			if _, err := Parse(Schema{Type: typ, Text: text}); err == nil {
				t.Errorf("%s %q: no error", typ, text)
			}
		}
		wantInvalid(t, Schema{Type: typ, Text: " "}, "Empty schema")
	}
}

func TestReferenceCycle(t *testing.T) {
	// a -> b -> a, through the references of the references.
	cyc := func(typ Type, a, b string) Schema {
		inner := Reference{Name: "a", Schema: Schema{Type: typ, Text: a}}
		refB := Reference{Name: "b", Schema: Schema{Type: typ, Text: b, References: []Reference{inner}}}
		refA := Reference{Name: "a", Schema: Schema{Type: typ, Text: a, References: []Reference{refB}}}
		return Schema{Type: typ, Text: a, References: []Reference{refA}}
	}
	wantInvalid(t, cyc(TypeAvro, `"int"`, `"long"`), "reference cycle: a -> b -> a")
	wantInvalid(t, cyc(TypeJSON, `{}`, `{}`), "reference cycle: a -> b -> a")
	wantInvalid(t, cyc(TypeProtobuf, `syntax = "proto3";`, `syntax = "proto3";`), "reference cycle: a -> b -> a")
	// An import cycle between the files of a flat list of references.
	wantInvalid(t, Schema{Type: TypeProtobuf, Text: "syntax = \"proto3\";\nimport \"a.proto\";", References: []Reference{
		{Name: "a.proto", Schema: Schema{Type: TypeProtobuf, Text: "syntax = \"proto3\";\nimport \"b.proto\";"}},
		{Name: "b.proto", Schema: Schema{Type: TypeProtobuf, Text: "syntax = \"proto3\";\nimport \"a.proto\";"}},
	}}, "cycle")
	// A shared (diamond) reference is not a cycle.
	leaf := Reference{Name: "com.x.Leaf", Schema: Schema{Text: `{"type":"fixed","name":"Leaf","namespace":"com.x","size":1}`}}
	left := Reference{Name: "com.x.L", Schema: Schema{Text: `{"type":"record","name":"L","namespace":"com.x","fields":[{"name":"f","type":"Leaf"}]}`, References: []Reference{leaf}}}
	right := Reference{Name: "com.x.R", Schema: Schema{Text: `{"type":"record","name":"R","namespace":"com.x","fields":[{"name":"f","type":"Leaf"}]}`, References: []Reference{leaf}}}
	mustParse(t, Schema{Text: `{"type":"record","name":"Top","namespace":"com.x","fields":[{"name":"l","type":"L"},{"name":"r","type":"R"}]}`, References: []Reference{left, right}})
	// A reference of another type.
	wantInvalid(t, Schema{Text: `"int"`, References: []Reference{{Name: "x", Schema: Schema{Type: TypeJSON, Text: `{}`}}}}, `reference "x" is of type JSON, not AVRO`)
}

func TestTooLarge(t *testing.T) {
	big := `"` + strings.Repeat("x", MaxSchemaSize) + `"`
	start := time.Now()
	for _, typ := range []Type{TypeAvro, TypeJSON, TypeProtobuf} {
		wantInvalid(t, Schema{Type: typ, Text: big}, "more than the 16777216 bytes allowed")
	}
	wantInvalid(t, Schema{Text: `"int"`, References: []Reference{{Name: "r", Schema: Schema{Text: big}}}}, "larger than")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing took %v", d)
	}
	if err, ok := errorOf(Schema{Text: big}); ok && len(err.Error()) > 2*maxSchemaInMessage {
		t.Errorf("the error message echoes %d bytes", len(err.Error()))
	}
}

func errorOf(s Schema) (error, bool) {
	_, err := Parse(s)
	return err, err != nil
}

// TestTenMegabytes parses and checks 10 MB schemas of each type.
func TestTenMegabytes(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	const size = 10 << 20
	var avro, js, proto strings.Builder
	avro.WriteString(`{"type":"record","name":"Big","fields":[`)
	for i := 0; avro.Len() < size; i++ {
		if i > 0 {
			avro.WriteByte(',')
		}
		fmt.Fprintf(&avro, `{"name":"field_%d","type":["null","string"],"default":null,"doc":"documentation of the field"}`, i)
	}
	avro.WriteString(`]}`)
	js.WriteString(`{"type":"object","additionalProperties":false,"properties":{`)
	for i := 0; js.Len() < size; i++ {
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `"property_%d":{"type":"string","maxLength":%d}`, i, i+1)
	}
	js.WriteString(`}}`)
	proto.WriteString("syntax = \"proto3\";\npackage big;\n")
	for m := 0; proto.Len() < size; m++ {
		fmt.Fprintf(&proto, "message M%d {\n", m)
		for f := 1; f <= 1000; f++ {
			fmt.Fprintf(&proto, "  string field_%d = %d;\n", f, f)
		}
		proto.WriteString("}\n")
	}
	for _, tc := range []struct {
		typ  Type
		text string
	}{{TypeAvro, avro.String()}, {TypeJSON, js.String()}, {TypeProtobuf, proto.String()}} {
		start := time.Now()
		p := mustParse(t, Schema{Type: tc.typ, Text: tc.text, Version: 1})
		if msgs := Check(FullTransitive, p, []*Parsed{p}); len(msgs) != 0 {
			t.Errorf("%s: a schema is not compatible with itself: %.200q", tc.typ, msgs)
		}
		t.Logf("%s: %d bytes parsed and checked in %v", tc.typ, len(tc.text), time.Since(start))
		if d := time.Since(start); d > 2*time.Minute {
			t.Errorf("%s: took %v", tc.typ, d)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	nest := func(open, leaf, closing string, n int) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(closing, n)
	}
	// Beyond Jackson's nesting limit (1000): refused.
	wantInvalid(t, Schema{Text: nest(`{"type":"array","items":`, `"int"`, `}`, 2000)}, "nesting depth")
	wantInvalid(t, Schema{Type: TypeJSON, Text: nest(`{"items":`, `{}`, `}`, 5000)}, "nesting depth")
	wantInvalid(t, Schema{Text: nest(`[`, `"int"`, `]`, 100000)}, "nesting depth")
	// Deep but within the limit: parsed and checked.
	a := mustParse(t, Schema{Text: nest(`{"type":"array","items":`, `"int"`, `}`, 400)})
	b := mustParse(t, Schema{Text: nest(`{"type":"array","items":`, `"long"`, `}`, 400)})
	if msgs := Check(Full, b, []*Parsed{a}); len(msgs) == 0 {
		t.Error("long cannot be read as int")
	}
	j := mustParse(t, Schema{Type: TypeJSON, Text: nest(`{"type":"array","items":`, `{"type":"string"}`, `}`, 400)})
	if msgs := Check(Full, j, []*Parsed{j}); len(msgs) != 0 {
		t.Errorf("%.200q", msgs)
	}
	protoNest := func(n int) string {
		var b strings.Builder
		b.WriteString("syntax = \"proto3\";\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "message M%d { int32 f = 1;\n", i)
		}
		b.WriteString(strings.Repeat("}\n", n))
		return b.String()
	}
	// protoc's limit: messages nest less than 32 deep.
	p := mustParse(t, Schema{Type: TypeProtobuf, Text: protoNest(31)})
	if msgs := Check(Full, p, []*Parsed{p}); len(msgs) != 0 {
		t.Errorf("%.200q", msgs)
	}
	wantInvalid(t, Schema{Type: TypeProtobuf, Text: protoNest(200)}, "message nesting depth must be less than 32")
	// Very deep Protobuf nesting is refused or parsed, quickly.
	start := time.Now()
	_, _ = Parse(Schema{Type: TypeProtobuf, Text: strings.Repeat("message M { ", 20000) + strings.Repeat("}", 20000)})
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("deep protobuf took %v", d)
	}
}

func TestCheckNilAndEmpty(t *testing.T) {
	p := mustParse(t, Schema{Text: `"int"`})
	if msgs := Check(Backward, nil, []*Parsed{p}); msgs == nil || len(msgs) != 0 {
		t.Errorf("%q", msgs)
	}
	if msgs := Check(BackwardTransitive, p, []*Parsed{nil, p}); len(msgs) != 0 {
		t.Errorf("%q", msgs)
	}
	if msgs := Check(Level("BOGUS"), p, []*Parsed{p}); len(msgs) != 0 {
		t.Errorf("%q", msgs)
	}
}
