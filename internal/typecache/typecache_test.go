package typecache

import (
	"reflect"
	"testing"
)

// TestGet: a value is computed once per type and generation, and again
// when the generation moves.
func TestGet(t *testing.T) {
	var c Cache[string]
	calls := 0
	get := func(typ reflect.Type, gen uint64) string {
		return c.Get(typ, gen, func() string { calls++; return typ.String() })
	}
	ti, ts := reflect.TypeFor[int](), reflect.TypeFor[string]()
	for range 3 {
		if get(ti, 0) != "int" || get(ts, 0) != "string" {
			t.Fatal("wrong value")
		}
	}
	if calls != 2 {
		t.Fatalf("%d computations for 2 types", calls)
	}
	get(ti, 1)
	get(ti, 1)
	if calls != 3 {
		t.Fatalf("%d computations after a new generation, want 3", calls)
	}
}
