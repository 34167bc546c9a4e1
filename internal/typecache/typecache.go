// Package typecache keeps a value computed per Go type, for lookups on a
// per-record path: the last entry used, whose check is a comparison, and a
// copy-on-write map of the others, read without a lock.
package typecache

import (
	"maps"
	"reflect"
	"sync/atomic"
)

// maxTypes bounds the map (types are normally few; this bounds memory for
// programs that see many generated types).
const maxTypes = 1024

// Cache maps types to values of V. The zero value is ready to use and safe
// for concurrent use.
type Cache[V any] struct {
	last atomic.Pointer[entry[V]]
	all  atomic.Pointer[map[reflect.Type]*entry[V]]
}

type entry[V any] struct {
	t   reflect.Type
	gen uint64
	v   V
}

// Get returns t's value as of generation gen, computing it with compute
// when there is none or it was computed for another generation (callers
// without generations pass 0). Two goroutines may both compute a missing
// value; one of them is kept.
func (c *Cache[V]) Get(t reflect.Type, gen uint64, compute func() V) V {
	if l := c.last.Load(); l != nil && l.t == t && l.gen == gen {
		return l.v // the common case: one type
	}
	m := c.all.Load()
	var e *entry[V]
	if m != nil {
		e = (*m)[t]
	}
	if e == nil || e.gen != gen {
		e = &entry[V]{t: t, gen: gen, v: compute()}
		next := make(map[reflect.Type]*entry[V], 1)
		if m != nil && len(*m) < maxTypes {
			maps.Copy(next, *m)
		}
		next[t] = e
		c.all.CompareAndSwap(m, &next) // a lost race only costs a recomputation
	}
	c.last.Store(e)
	return e.v
}
