package listener

import "github.com/kafkaboot/kafkaboot/serde"

// Deserializer turns the raw value bytes of a record into a value of the
// handler's payload type; it is serde.Deserializer. Implementations must be
// safe for concurrent use: a container calls Deserialize from one goroutine
// per assigned partition. A result of type *T for payload type T is
// dereferenced; a nil result becomes the zero value of T.
type Deserializer = serde.Deserializer

// Serializer turns a value into record bytes (possibly adding headers); it
// is serde.Serializer. Containers use it to serialize replies (sendto).
type Serializer = serde.Serializer
