package template

import (
	"maps"
	"reflect"
	"sync/atomic"

	"github.com/kafkaboot/kafkaboot/serde"
)

// serializerCache keeps, per value type, the serializer a type-dispatching
// serializer (serde.Auto, the default) chose: the last one used, whose
// check is a comparison, and a copy-on-write map of all.
type serializerCache struct {
	choose func(reflect.Type) serde.Serializer
	last   atomic.Pointer[serializerChoice]
	all    atomic.Pointer[map[reflect.Type]*serializerChoice]
}

type serializerChoice struct {
	t reflect.Type
	s serde.Serializer
}

// maxCachedTypes bounds the map (types are normally few).
const maxCachedTypes = 1024

// get returns the serializer for values of type t.
func (c *serializerCache) get(t reflect.Type) serde.Serializer {
	if l := c.last.Load(); l != nil && l.t == t {
		return l.s
	}
	m := c.all.Load()
	var ch *serializerChoice
	if m != nil {
		ch = (*m)[t]
	}
	if ch == nil {
		ch = &serializerChoice{t: t, s: c.choose(t)}
		next := make(map[reflect.Type]*serializerChoice, 1)
		if m != nil && len(*m) < maxCachedTypes {
			maps.Copy(next, *m)
		}
		next[t] = ch
		c.all.CompareAndSwap(m, &next) // a lost race only costs a recomputation
	}
	c.last.Store(ch)
	return ch.s
}
