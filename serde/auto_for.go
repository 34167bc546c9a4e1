package serde

import "reflect"

// SerializerFor returns the serializer a uses for the values of type t
// (see [Auto]): its Protobuf part, [String], [Bytes], or its JSON part
// made for t (which keeps t's type header at hand; given a value of
// another type it serializes it as the JSON part does). A caller
// serializing many values of few types can keep it and call it directly,
// which spares Auto's choice per value; like Auto, each of them writes a
// nil value or a typed nil pointer as a tombstone. t must not be nil.
func (a *Auto) SerializerFor(t reflect.Type) Serializer {
	return chosen(&a.lastSer, &a.sers, t, a.serializerFor)
}
