package listener

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrInvalidListener is matched (errors.Is) by every error returned for a
// listener definition that cannot work: unknown tag attribute, bad value,
// unsupported handler signature, unresolvable placeholder, duplicate id,
// missing topics, ack mode / Acknowledgment parameter mismatch, nil handler.
var ErrInvalidListener = errors.New("listener: invalid listener")

// DefinitionError describes a listener definition that failed registration.
// Its message names where the listener was declared:
//
//	listener: main.Orders.Created: tag "topics=orders,grp=x": unknown attribute "grp"
//	listener: endpoint "audit": missing topics, pattern or partitions
//
// errors.Is(err, ErrInvalidListener) is true for every DefinitionError.
type DefinitionError struct {
	// Source is "pkg.Type.Field" for tagged struct fields, or
	// `endpoint "id"` for programmatic endpoints.
	Source string
	// Tag is the raw struct tag value, empty for programmatic endpoints.
	Tag string
	// Err is the underlying problem.
	Err error
}

// Error implements error.
func (e *DefinitionError) Error() string {
	if e.Tag != "" {
		return fmt.Sprintf("listener: %s: tag %q: %v", e.Source, e.Tag, e.Err)
	}
	return fmt.Sprintf("listener: %s: %v", e.Source, e.Err)
}

// Unwrap returns the underlying problem.
func (e *DefinitionError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidListener.
func (e *DefinitionError) Is(target error) bool { return target == ErrInvalidListener }

// DecodeError is returned by [Invoker.Decode] when the deserializer failed
// (a "poison pill"). Containers treat it as not retryable: the record goes
// straight to the recoverer (dead-letter topic) and the partition moves on.
// The deserializer's own error (for example a serde.DeserializationError)
// is reachable with errors.As through Unwrap.
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Target    reflect.Type
	Err       error
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("listener: cannot deserialize %s[%d]@%d into %v: %v", e.Topic, e.Partition, e.Offset, e.Target, e.Err)
}

// Unwrap returns the deserializer's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ValidationError is returned by [Invoker.Decode] when the payload fails
// validator/v10 validation. Containers treat it as not retryable. Err is the
// validator's error (validator.ValidationErrors in the usual case).
type ValidationError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("listener: invalid payload %s[%d]@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the validator's error.
func (e *ValidationError) Unwrap() error { return e.Err }

// PanicError is returned by [Invoker.Invoke] and [Invoker.InvokeBatch] when
// the handler panicked. The panic is recovered and treated like a returned
// error (retried, then recovered); Stack holds the goroutine stack at the
// point of the panic so that it can be logged.
type PanicError struct {
	Value any
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("listener: handler panicked: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
