package schemacompat

import (
	"errors"
	"strings"
	"testing"
)

func jsonV(t testing.TB, text string, version int, refs ...Reference) *Parsed {
	t.Helper()
	return mustParse(t, Schema{Type: TypeJSON, Text: text, Version: version, References: refs})
}

func TestJSONSchemaCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\n  \"type\" : \"object\",\n  \"properties\" : { \"a\" : { \"type\" : \"number\", \"maximum\" : 1.50, \"minimum\": 1e2, \"multipleOf\": 0.0000001 } }\n}\n",
			`{"type":"object","properties":{"a":{"type":"number","maximum":1.50,"minimum":1E+2,"multipleOf":1E-7}}}`},
		{`{"description":"caf\u00e9 <b> & \/","x":-0,"y":-0.0}`, `{"description":"café <b> & /","x":0,"y":0.0}`},
		{`true`, `true`},
		{`{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
	}
	for _, tc := range tests {
		if p := jsonV(t, tc.in, 0); p.Canonical() != tc.want {
			t.Errorf("canonical of %s\n got %s\nwant %s", tc.in, p.Canonical(), tc.want)
		}
	}
}

// TestJSONSchemaRules is a table of the rules of Confluent's JSON Schema
// diff (default STRICT policy), checked for BACKWARD.
func TestJSONSchemaRules(t *testing.T) {
	closed := func(props, required string) string {
		return `{"type":"object","properties":{` + props + `},"required":[` + required + `],"additionalProperties":false}`
	}
	open := func(props, required string) string {
		return `{"type":"object","properties":{` + props + `},"required":[` + required + `]}`
	}
	tests := []struct {
		name       string
		old, new   string
		errorTypes []string
	}{
		{"same", closed(`"a":{"type":"string"}`, `"a"`), closed(`"a":{"type":"string"}`, `"a"`), nil},
		{"type changed", closed(`"a":{"type":"string"}`, ``), closed(`"a":{"type":"integer"}`, ``), []string{"TYPE_CHANGED"}},
		{"number narrowed to integer", closed(`"a":{"type":"number"}`, ``), closed(`"a":{"type":"integer"}`, ``), []string{"TYPE_NARROWED"}},
		{"integer extended to number", closed(`"a":{"type":"integer"}`, ``), closed(`"a":{"type":"number"}`, ``), nil},
		{"type extended to a union", closed(`"a":{"type":"string"}`, ``), closed(`"a":{"type":["string","null"]}`, ``), nil},
		{"union narrowed", closed(`"a":{"type":["string","null"]}`, ``), closed(`"a":{"type":"string"}`, ``), []string{"TYPE_CHANGED"}},
		{"required added", closed(`"a":{"type":"string"}`, ``), closed(`"a":{"type":"string"}`, `"a"`), []string{"REQUIRED_ATTRIBUTE_ADDED"}},
		{"required with default added", closed(`"a":{"type":"string"}`, ``), closed(`"a":{"type":"string","default":"x"}`, `"a"`), nil},
		{"required removed", closed(`"a":{"type":"string"}`, `"a"`), closed(`"a":{"type":"string"}`, ``), nil},
		{"optional property added to closed model", closed(`"a":{"type":"string"}`, ``), closed(`"a":{"type":"string"},"b":{"type":"string"}`, ``), nil},
		{"required property added to closed model", closed(`"a":{"type":"string"}`, ``), closed(`"a":{"type":"string"},"b":{"type":"string"}`, `"b"`), []string{"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"}},
		{"property added to open model", open(`"a":{"type":"string"}`, ``), open(`"a":{"type":"string"},"b":{"type":"string"}`, ``), []string{"OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"}},
		{"property with empty schema added to open model", open(`"a":{"type":"string"}`, ``), open(`"a":{"type":"string"},"b":{}`, ``), nil},
		{"property removed from open model", open(`"a":{"type":"string"},"b":{"type":"string"}`, ``), open(`"a":{"type":"string"}`, ``), nil},
		{"property removed from closed model", closed(`"a":{"type":"string"},"b":{"type":"string"}`, ``), closed(`"a":{"type":"string"}`, ``), []string{"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"}},
		{"property removed, covered by additionalProperties", closed(`"a":{"type":"string"},"b":{"type":"string"}`, ``), `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}`, nil},
		{"property removed, not covered by additionalProperties", closed(`"a":{"type":"string"},"b":{"type":"string"}`, ``), `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer"}}`, []string{"TYPE_CHANGED", "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"}},
		{"closed model opened", closed(`"a":{"type":"string"}`, ``), open(`"a":{"type":"string"}`, ``), nil},
		{"open model closed", open(`"a":{"type":"string"}`, ``), closed(`"a":{"type":"string"}`, ``), []string{"ADDITIONAL_PROPERTIES_REMOVED"}},
		{"maxLength decreased", `{"type":"string","maxLength":10}`, `{"type":"string","maxLength":5}`, []string{"MAX_LENGTH_DECREASED"}},
		{"maxLength increased", `{"type":"string","maxLength":5}`, `{"type":"string","maxLength":10}`, nil},
		{"maxLength added", `{"type":"string"}`, `{"type":"string","maxLength":5}`, []string{"MAX_LENGTH_ADDED"}},
		{"maxLength removed", `{"type":"string","maxLength":5}`, `{"type":"string"}`, nil},
		{"minLength increased", `{"type":"string","minLength":1}`, `{"type":"string","minLength":2}`, []string{"MIN_LENGTH_INCREASED"}},
		{"pattern changed", `{"type":"string","pattern":"^a"}`, `{"type":"string","pattern":"^b"}`, []string{"PATTERN_CHANGED"}},
		{"minimum increased", `{"type":"number","minimum":0}`, `{"type":"number","minimum":1}`, []string{"MINIMUM_INCREASED"}},
		{"minimum decreased", `{"type":"number","minimum":1}`, `{"type":"number","minimum":0.5}`, nil},
		{"maximum decreased", `{"type":"number","maximum":10}`, `{"type":"number","maximum":9.99}`, []string{"MAXIMUM_DECREASED"}},
		{"exclusiveMinimum added", `{"type":"number"}`, `{"type":"number","exclusiveMinimum":0}`, []string{"EXCLUSIVE_MINIMUM_ADDED"}},
		{"multipleOf expanded", `{"type":"number","multipleOf":0.5}`, `{"type":"number","multipleOf":10}`, []string{"MULTIPLE_OF_EXPANDED"}},
		{"multipleOf reduced", `{"type":"number","multipleOf":10}`, `{"type":"number","multipleOf":0.5}`, nil},
		{"multipleOf same value", `{"type":"number","multipleOf":0.5}`, `{"type":"number","multipleOf":0.50}`, nil},
		{"enum extended", `{"enum":["a","b"]}`, `{"enum":["a","b","c"]}`, nil},
		{"enum narrowed", `{"enum":["a","b","c"]}`, `{"enum":["a","b"]}`, []string{"ENUM_ARRAY_NARROWED"}},
		{"enum changed", `{"enum":["a","b"]}`, `{"enum":["a","c"]}`, []string{"ENUM_ARRAY_CHANGED"}},
		{"typed enum narrowed", `{"type":"string","enum":["a","b"]}`, `{"type":"string","enum":["a"]}`, []string{"COMBINED_TYPE_SUBSCHEMAS_CHANGED"}},
		{"typed enum extended", `{"type":"string","enum":["a"]}`, `{"type":"string","enum":["a","b"]}`, nil},
		{"array items changed", `{"type":"array","items":{"type":"string"}}`, `{"type":"array","items":{"type":"integer"}}`, []string{"TYPE_CHANGED"}},
		{"maxItems decreased", `{"type":"array","maxItems":3}`, `{"type":"array","maxItems":2}`, []string{"MAX_ITEMS_DECREASED"}},
		{"uniqueItems added", `{"type":"array"}`, `{"type":"array","uniqueItems":true}`, []string{"UNIQUE_ITEMS_ADDED"}},
		{"oneOf extended", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"boolean"}]}`, nil},
		{"oneOf narrowed", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"}]}`, []string{"SUM_TYPE_NARROWED"}},
		{"anyOf to oneOf", `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, []string{"COMBINED_TYPE_CHANGED"}},
		{"not", `{"not":{"type":"string"}}`, `{"not":{"type":["string","integer"]}}`, []string{"NOT_TYPE_EXTENDED"}},
		{"const changed", `{"const":1}`, `{"const":2}`, []string{"ENUM_ARRAY_CHANGED"}},
		{"anything to empty schema", `{"type":"string","maxLength":3}`, `{}`, nil},
		{"false to anything", `false`, `{"type":"string"}`, nil},
		{"$ref target changed", `{"definitions":{"s":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}`, `{"definitions":{"s":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}`, []string{"TYPE_CHANGED"}},
		{"$defs reaches definitions", `{"definitions":{"s":{"type":"string"}},"$ref":"#/$defs/s"}`, `{"type":"string"}`, nil},
		// As in Confluent, the change is reported where it is and, through
		// the recursion, one level down.
		{"recursive schema", `{"definitions":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/definitions/n"}}}},"$ref":"#/definitions/n"}`,
			`{"definitions":{"n":{"type":"object","properties":{"v":{"type":"string"},"next":{"$ref":"#/definitions/n"}}}},"$ref":"#/definitions/n"}`, []string{"TYPE_CHANGED", "TYPE_CHANGED"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs := Check(Backward, jsonV(t, tc.new, 0), []*Parsed{jsonV(t, tc.old, 1)})
			var types []string
			for _, m := range msgs {
				if strings.HasPrefix(m, `{errorType:"`) {
					types = append(types, m[len(`{errorType:"`):strings.Index(m, `",`)])
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.errorTypes, ",") {
				t.Errorf("error types %v, want %v:\n%s", types, tc.errorTypes, strings.Join(msgs, "\n"))
			}
		})
	}
}

func TestJSONSchemaMessages(t *testing.T) {
	old := jsonV(t, `{"type":"object","properties":{"a":{"type":"string","maxLength":10},"b":{"type":"integer"}},"required":["a"],"additionalProperties":false}`, 2)
	cand := jsonV(t, `{"type":"object","properties":{"a":{"type":"string","maxLength":5},"b":{"type":"number"},"c":{"type":"string"}},"required":["a","c"],"additionalProperties":false}`, 0)
	want := []string{
		`{errorType:"MAX_LENGTH_DECREASED", description:"The value at path '#/properties/a/maxLength' in the new schema is less than its value in the old schema'}`,
		`{errorType:"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", description:"The new schema has an unopen content model and has a required property at path '#/properties/c' which is missing in the old schema'}`,
		`{oldSchemaVersion: 2}`,
		`{oldSchema: '` + old.Canonical() + `'}`,
	}
	assertStrings(t, Check(Backward, cand, []*Parsed{old}), want)
	want = []string{
		`{errorType:"TYPE_NARROWED", description:"A type at path '#/properties/b' is different between the old schema and the new schema'}`,
		`{errorType:"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", description:"The old has a closed content model and is missing a property or item present at path '#/properties/c' in the new schema'}`,
		`{oldSchemaVersion: 2}`,
		`{oldSchema: '` + old.Canonical() + `'}`,
	}
	assertStrings(t, Check(Forward, cand, []*Parsed{old}), want)
}

func TestJSONSchemaReferences(t *testing.T) {
	addr := func(t string) Schema {
		return Schema{Type: TypeJSON, Text: `{"type":"object","properties":{"zip":{"type":"` + t + `"}},"additionalProperties":false}`}
	}
	main := `{"$id":"https://example.com/person.json","type":"object","properties":{"home":{"$ref":"address.json"}},"additionalProperties":false}`
	v1 := jsonV(t, main, 1, Reference{Name: "address.json", Subject: "address", Version: 1, Schema: addr("string")})
	v2 := jsonV(t, main, 0, Reference{Name: "address.json", Subject: "address", Version: 2, Schema: addr("integer")})
	msgs := Check(Backward, v2, []*Parsed{v1})
	if len(msgs) == 0 || msgs[0] != `{errorType:"TYPE_CHANGED", description:"A type at path '#/properties/home/properties/zip' is different between the new schema and the old schema'}` {
		t.Errorf("%q", msgs)
	}
	// An absolute reference name, with a fragment.
	p := jsonV(t, `{"$ref":"https://example.com/defs.json#/definitions/id"}`, 0,
		Reference{Name: "https://example.com/defs.json", Schema: Schema{Type: TypeJSON, Text: `{"definitions":{"id":{"type":"string"}}}`}})
	if msgs := Check(Full, p, []*Parsed{jsonV(t, `{"type":"string"}`, 1)}); len(msgs) != 0 {
		t.Errorf("%q", msgs)
	}
}

func TestJSONSchemaInvalid(t *testing.T) {
	tests := []struct{ in, details string }{
		{`{"type":`, "Invalid JSON"},
		{`[1,2]`, "Invalid JSON schema: expected an object or boolean at the root, found ARRAY"},
		{`"string"`, "found STRING"},
		{`{"type":"strin"}`, "'/type'"},
		{`{"properties":5}`, "'/properties'"},
		{`{"minLength":-1}`, "'/minLength'"},
		{`{"$ref":"#/definitions/missing"}`, "unresolved $ref mem://input/schema.json#/definitions/missing"},
		{`{"$ref":"https://example.com/remote.json"}`, "unresolved $ref https://example.com/remote.json"},
	}
	for _, tc := range tests {
		_, err := Parse(Schema{Type: TypeJSON, Text: tc.in})
		var ise *InvalidSchemaError
		if !errors.As(err, &ise) || !strings.Contains(ise.Details, tc.details) || err.Error() != "Invalid schema of type JSON, details: "+ise.Details {
			t.Errorf("%s: %v", tc.in, err)
		}
	}
	// Accepted although Go's regexp cannot compile the pattern (Java can).
	if _, err := Parse(Schema{Type: TypeJSON, Text: `{"type":"string","pattern":"(?<=a)b"}`}); err != nil {
		t.Error(err)
	}
}
