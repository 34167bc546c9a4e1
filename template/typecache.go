package template

import (
	"reflect"

	"github.com/kafkaboot/kafkaboot/internal/typecache"
	"github.com/kafkaboot/kafkaboot/serde"
)

// serializerCache keeps, per value type, the serializer a type-dispatching
// serializer (serde.Auto, the default) chose.
type serializerCache struct {
	choose func(reflect.Type) serde.Serializer
	cache  typecache.Cache[serde.Serializer]
}

// get returns the serializer for values of type t.
func (c *serializerCache) get(t reflect.Type) serde.Serializer {
	return c.cache.Get(t, 0, func() serde.Serializer { return c.choose(t) })
}
