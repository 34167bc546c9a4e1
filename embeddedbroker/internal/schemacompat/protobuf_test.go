package schemacompat

import (
	"errors"
	"strings"
	"testing"
)

func protoV(t testing.TB, text string, version int, refs ...Reference) *Parsed {
	t.Helper()
	return mustParse(t, Schema{Type: TypeProtobuf, Text: text, Version: version, References: refs})
}

// TestProtobufCanonical checks the layout of Confluent's
// ProtobufSchemaUtils.toString: comments and blank lines dropped, imports
// and options in blocks, fields before oneofs, nested messages before
// nested enums, json_name and default last among a field's options.
func TestProtobufCanonical(t *testing.T) {
	in := `// A comment.
syntax = "proto3";

package com.acme.orders;   // trailing comment

import "google/protobuf/timestamp.proto";
option java_package = "com.acme.orders.proto";
option java_multiple_files = true;

enum Status { UNKNOWN = 0; SHIPPED = 1 [deprecated = true]; }

/* Block comment. */
message Order {
  reserved 10, 12 to 15, 100 to max;
  reserved "legacy";
  option deprecated = false;
  enum Kind { KIND_UNSPECIFIED = 0; }
  int64   id    = 1;
  string  name  = 2 [json_name = "title", deprecated = true];
  oneof payment {
    string card = 5;
    string iban = 6;
  }
  map<string,int32> quantities = 3;
  google.protobuf.Timestamp created_at = 4;
  repeated Line lines = 7;
  optional string note = 8;
  message Line { string sku = 1; int32 count = 2; }
}

service Orders {
  rpc Get (Order) returns (Order);
  rpc Watch (stream Order) returns (stream Order) { option deprecated = true; }
}
`
	want := `syntax = "proto3";
package com.acme.orders;

import "google/protobuf/timestamp.proto";

option java_package = "com.acme.orders.proto";
option java_multiple_files = true;

message Order {
  reserved 10, 12 to 15, 100 to max;
  reserved "legacy";

  option deprecated = false;

  int64 id = 1;
  string name = 2 [
    deprecated = true,
    json_name = "title"
  ];
  map<string, int32> quantities = 3;
  google.protobuf.Timestamp created_at = 4;
  repeated Line lines = 7;
  optional string note = 8;

  oneof payment {
    string card = 5;
    string iban = 6;
  }

  message Line {
    string sku = 1;
    int32 count = 2;
  }
  enum Kind {
    KIND_UNSPECIFIED = 0;
  }
}
enum Status {
  UNKNOWN = 0;
  SHIPPED = 1 [deprecated = true];
}

service Orders {
  rpc Get (Order) returns (Order);
  rpc Watch (stream Order) returns (stream Order) {
    option deprecated = true;
  };
}
`
	p := protoV(t, in, 0)
	if p.Canonical() != want {
		t.Errorf("canonical\n got:\n%s\nwant:\n%s", p.Canonical(), want)
	}
	if again := protoV(t, p.Canonical(), 0); again.Canonical() != want {
		t.Errorf("canonical of canonical:\n%s", again.Canonical())
	}
	// Formatting differences do not make another schema.
	compact := `syntax="proto3";package com.acme.orders;import "google/protobuf/timestamp.proto";option java_package="com.acme.orders.proto";option java_multiple_files=true;enum Status{UNKNOWN=0;SHIPPED=1[deprecated=true];}message Order{reserved 10,12 to 15,100 to max;reserved "legacy";option deprecated=false;enum Kind{KIND_UNSPECIFIED=0;}int64 id=1;string name=2[json_name="title",deprecated=true];oneof payment{string card=5;string iban=6;}map<string,int32> quantities=3;google.protobuf.Timestamp created_at=4;repeated Line lines=7;optional string note=8;message Line{string sku=1;int32 count=2;}}service Orders{rpc Get(Order)returns(Order);rpc Watch(stream Order)returns(stream Order){option deprecated=true;}}`
	if c := protoV(t, compact, 0); c.Canonical() != want {
		t.Errorf("compact form canonical:\n%s", c.Canonical())
	}
}

func TestProtobufCanonicalOptionsAndDefaults(t *testing.T) {
	in := `syntax = "proto2";
import "google/protobuf/descriptor.proto";
extend google.protobuf.FieldOptions { optional string label = 50000; }
message M {
  optional string s = 1 [default = "a\"b", (label) = "x"];
  optional int32 i = 2 [default = -0x10];
  required bool b = 3;
  extensions 100 to 199;
}`
	want := `syntax = "proto2";

import "google/protobuf/descriptor.proto";

message M {
  optional string s = 1 [
    (label) = "x",
    default = "a\"b"
  ];
  optional int32 i = 2 [default = -0x10];
  required bool b = 3;

  extensions 100 to 199;
}

extend google.protobuf.FieldOptions {
  optional string label = 50000;
}
`
	if p := protoV(t, in, 0); p.Canonical() != want {
		t.Errorf("canonical\n got:\n%s\nwant:\n%s", p.Canonical(), want)
	}
}

// TestProtobufRules is a table of the rules of Confluent's Protobuf diff,
// checked for BACKWARD (the new schema reads data written with the old).
func TestProtobufRules(t *testing.T) {
	msg := func(body string) string { return "syntax = \"proto3\";\npackage p;\n" + body }
	base := msg(`message A { string s = 1; int32 i = 2; B b = 3; }
message B { string x = 1; }`)
	tests := []struct {
		name       string
		old, new   string
		errorTypes []string
	}{
		{"same schema", base, base, nil},
		{"field added", base, msg(`message A { string s = 1; int32 i = 2; B b = 3; double d = 4; }
message B { string x = 1; }`), nil},
		{"field removed", base, msg(`message A { string s = 1; B b = 3; }
message B { string x = 1; }`), nil},
		{"field renamed", base, msg(`message A { string s2 = 1; int32 i = 2; B b = 3; }
message B { string x = 1; }`), nil},
		{"int32 to int64 (same wire kind)", base, msg(`message A { string s = 1; int64 i = 2; B b = 3; }
message B { string x = 1; }`), nil},
		{"string to bytes", base, msg(`message A { bytes s = 1; int32 i = 2; B b = 3; }
message B { string x = 1; }`), nil},
		{"int32 to sint32", base, msg(`message A { string s = 1; sint32 i = 2; B b = 3; }
message B { string x = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED"}},
		{"string to int32", base, msg(`message A { int32 s = 1; int32 i = 2; B b = 3; }
message B { string x = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED"}},
		{"scalar to message", base, msg(`message A { B s = 1; int32 i = 2; B b = 3; }
message B { string x = 1; }`), []string{"FIELD_KIND_CHANGED"}},
		{"message type changed", base, msg(`message A { string s = 1; int32 i = 2; C b = 3; }
message B { string x = 1; }
message C { string x = 1; }`), []string{"FIELD_NAMED_TYPE_CHANGED"}},
		{"message removed", base, msg(`message A { string s = 1; int32 i = 2; }`), []string{"MESSAGE_REMOVED"}},
		{"message added", base, msg(`message A { string s = 1; int32 i = 2; B b = 3; }
message B { string x = 1; }
message C { int32 y = 1; }`), nil},
		{"messages reordered", base, msg(`message B { string x = 1; }
message A { string s = 1; int32 i = 2; B b = 3; }`), nil},
		{"package changed", base, strings.Replace(base, "package p;", "package q;", 1), []string{"PACKAGE_CHANGED"}},
		{"enum constant removed", msg(`enum E { A = 0; B = 1; }`), msg(`enum E { A = 0; }`), nil},
		{"enum removed", msg(`enum E { A = 0; } message M { int32 x = 1; }`), msg(`message M { int32 x = 1; }`), nil},
		{"oneof field added", msg(`message M { oneof o { string a = 1; } }`), msg(`message M { oneof o { string a = 1; int32 b = 2; } }`), nil},
		{"oneof field removed", msg(`message M { oneof o { string a = 1; int32 b = 2; } }`), msg(`message M { oneof o { string a = 1; } }`), []string{"ONEOF_FIELD_REMOVED"}},
		{"whole oneof removed", msg(`message M { int32 x = 1; oneof o { string a = 2; int32 b = 3; } }`), msg(`message M { int32 x = 1; }`), nil},
		{"oneof field moved to top level", msg(`message M { oneof o { string a = 1; int32 b = 2; } }`), msg(`message M { string a = 1; oneof o { int32 b = 2; } }`), nil},
		{"one field moved into a new oneof", msg(`message M { string a = 1; }`), msg(`message M { oneof o { string a = 1; } }`), nil},
		{"multiple fields moved to oneof", msg(`message M { string a = 1; string b = 2; }`), msg(`message M { oneof o { string a = 1; string b = 2; } }`), []string{"MULTIPLE_FIELDS_MOVED_TO_ONEOF"}},
		{"field moved into an existing oneof", msg(`message M { string a = 1; oneof o { string b = 2; } }`), msg(`message M { oneof o { string a = 1; string b = 2; } }`), []string{"FIELD_MOVED_TO_EXISTING_ONEOF"}},
		{"required field added", "syntax = \"proto2\";\nmessage M { optional string a = 1; }", "syntax = \"proto2\";\nmessage M { optional string a = 1; required string b = 2; }", []string{"REQUIRED_FIELD_ADDED"}},
		{"required field removed", "syntax = \"proto2\";\nmessage M { optional string a = 1; required string b = 2; }", "syntax = \"proto2\";\nmessage M { optional string a = 1; }", []string{"REQUIRED_FIELD_REMOVED"}},
		{"numeric label changed", "syntax = \"proto2\";\nmessage M { optional int32 a = 1; }", "syntax = \"proto2\";\nmessage M { repeated int32 a = 1; }", []string{"FIELD_NUMERIC_LABEL_CHANGED"}},
		{"string label changed", "syntax = \"proto2\";\nmessage M { optional string a = 1; }", "syntax = \"proto2\";\nmessage M { repeated string a = 1; }", nil},
		{"map value kind changed", msg(`message M { map<string, string> m = 1; }`), msg(`message M { map<string, int32> m = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED"}},
		{"map to repeated message", msg(`message M { map<string, string> m = 1; }`), msg(`message M { repeated E m = 1; } message E { string key = 1; string value = 2; }`), []string{"FIELD_KIND_CHANGED"}},
		{"nested message field changed", msg(`message M { message N { string a = 1; } N n = 1; }`), msg(`message M { message N { int64 a = 1; } N n = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED"}},
		{"enum to int32 (both numbers)", msg(`message M { E e = 1; } enum E { A = 0; }`), msg(`message M { int32 e = 1; } enum E { A = 0; }`), nil},
		{"well-known type unchanged", msg(`import "google/protobuf/timestamp.proto"; message M { google.protobuf.Timestamp t = 1; }`), msg(`import "google/protobuf/timestamp.proto"; message M { .google.protobuf.Timestamp t = 1; }`), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs := Check(Backward, protoV(t, tc.new, 0), []*Parsed{protoV(t, tc.old, 1)})
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

func TestProtobufMessages(t *testing.T) {
	old := protoV(t, "syntax = \"proto3\";\npackage p;\nmessage A { string s = 1; }\nmessage B { string x = 1; }", 4)
	cand := protoV(t, "syntax = \"proto3\";\npackage q;\nmessage A { int32 s = 1; }", 0)
	want := []string{
		`{errorType:"PACKAGE_CHANGED", description:"The package at '#/' in the new schema does not match the package in the old schema"}`,
		`{errorType:"FIELD_SCALAR_KIND_CHANGED", description:"The kind of a SCALAR field at path '#/A/1' in the new schema does not match its kind in the old schema"}`,
		`{errorType:"MESSAGE_REMOVED", description:"The new schema is missing a MESSAGE type at path '#/B' in the old schema"}`,
		`{oldSchemaVersion: 4}`,
		"{oldSchema: '" + old.Canonical() + "'}",
	}
	assertStrings(t, Check(Backward, cand, []*Parsed{old}), want)
	// FORWARD: the old schema reads the new one; the message names are
	// swapped, and the removed message is an added one (compatible).
	want = []string{
		`{errorType:"PACKAGE_CHANGED", description:"The package at '#/' in the old schema does not match the package in the new schema"}`,
		`{errorType:"FIELD_SCALAR_KIND_CHANGED", description:"The kind of a SCALAR field at path '#/A/1' in the old schema does not match its kind in the new schema"}`,
		`{oldSchemaVersion: 4}`,
		"{oldSchema: '" + old.Canonical() + "'}",
	}
	assertStrings(t, Check(Forward, cand, []*Parsed{old}), want)
}

func TestProtobufReferences(t *testing.T) {
	common1 := Schema{Type: TypeProtobuf, Text: "syntax = \"proto3\";\npackage common;\nmessage Money { int64 units = 1; string currency = 2; }"}
	common2 := Schema{Type: TypeProtobuf, Text: "syntax = \"proto3\";\npackage common;\nmessage Money { string units = 1; string currency = 2; }"}
	main := "syntax = \"proto3\";\npackage shop;\nimport \"common/money.proto\";\nmessage Item { common.Money price = 1; }"
	v1 := protoV(t, main, 1, Reference{Name: "common/money.proto", Subject: "money", Version: 1, Schema: common1})
	v2 := protoV(t, main, 0, Reference{Name: "common/money.proto", Subject: "money", Version: 2, Schema: common2})
	if v1.Canonical() != v2.Canonical() {
		t.Error("the canonical text does not include references")
	}
	msgs := Check(Backward, v2, []*Parsed{v1})
	want := []string{
		`{errorType:"FIELD_SCALAR_KIND_CHANGED", description:"The kind of a SCALAR field at path '#/Money/1' in the new schema does not match its kind in the old schema"}`,
		`{errorType:"FIELD_NAMED_TYPE_CHANGED", description:"The type of a MESSAGE field at path '#/Item/1' in the new schema does not match its type in the old schema"}`,
	}
	if len(msgs) < 2 || msgs[0] != want[0] || msgs[1] != want[1] {
		t.Errorf("got %q", msgs)
	}
	// The same subject version is not compared again.
	v1b := protoV(t, main, 0, Reference{Name: "common/money.proto", Subject: "money", Version: 1, Schema: common1})
	if msgs := Check(Full, v1b, []*Parsed{v1}); len(msgs) != 0 {
		t.Errorf("%q", msgs)
	}
}

func TestProtobufInvalid(t *testing.T) {
	tests := []struct{ in, details string }{
		{`syntax = "proto3"; message M { string s = 1 }`, "syntax error"},
		{`syntax = "proto3"; message M { Unknown u = 1; }`, "unknown type Unknown"},
		{`syntax = "proto3"; import "missing.proto"; message M {}`, "missing.proto"},
		{`syntax = "proto3"; message M { string a = 1; string b = 1; }`, "same tag 1"},
		{`syntax = "proto4";`, `syntax value must be "proto2" or "proto3"`},
		{`{"type":"record"}`, "syntax error"},
	}
	for _, tc := range tests {
		_, err := Parse(Schema{Type: TypeProtobuf, Text: tc.in})
		var ise *InvalidSchemaError
		if !errors.As(err, &ise) || !strings.Contains(ise.Details, tc.details) || err.Error() != "Invalid schema of type PROTOBUF, details: "+ise.Details {
			t.Errorf("%s: %v", tc.in, err)
		}
	}
}
