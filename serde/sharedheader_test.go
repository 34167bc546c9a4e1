package serde

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestJSONSharedTypeHeader: records serialized with nil headers share
// their type's one-element header slice, which nothing the package does
// writes into: appending copies it, and setting a header on a record
// that has it replaces the record's slice.
func TestJSONSharedTypeHeader(t *testing.T) {
	type order struct{ ID int }
	j := NewJSON()
	var a, b []kgo.RecordHeader
	if _, err := j.Serialize("t", &a, order{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Serialize("t", &b, order{2}); err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || &a[0] != &b[0] || cap(a) != 1 {
		t.Fatalf("headers %v and %v: want one shared one-element slice without room", a, b)
	}
	want := string(a[0].Value)
	SetHeader(&a, TypeIDHeader, "other")
	a = append(a, kgo.RecordHeader{Key: "x"})
	if &a[0] == &b[0] || string(b[0].Value) != want || len(b) != 1 {
		t.Fatalf("changing one record's headers changed the shared slice: %v", b)
	}
	// With headers of its own, a record gets the header in them.
	own := []kgo.RecordHeader{{Key: "trace", Value: []byte("1")}}
	if _, err := j.Serialize("t", &own, order{3}); err != nil {
		t.Fatal(err)
	}
	if len(own) != 2 || own[1].Key != TypeIDHeader || string(own[1].Value) != want {
		t.Fatalf("own headers %v", own)
	}
}
