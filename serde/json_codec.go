package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	gojson "github.com/goccy/go-json"
)

// JSONCodec is the JSON implementation of a [JSON] serde, chosen with
// [WithJSONCodec]: [StdJSON] (encoding/json, the default) or [GoJSON]
// (github.com/goccy/go-json). The zero JSONCodec is StdJSON.
//
// GoJSON encodes in one half to two thirds of encoding/json's time and
// decodes in about two fifths (a struct of five fields, one a map; see
// BENCHMARKS.md, which also says why go-json rather than sonic,
// segmentio/encoding or json-iterator). On the package's compatibility table
// (TestJSONCodecCompatibility: embedded structs, omitempty and omitzero,
// string tags, sorted map keys, time.Time, []byte, json.Marshaler and
// encoding.TextMarshaler, HTML escaping, invalid UTF-8, NaN, cycles, big
// numbers, and inputs to decode) it writes the same bytes and decodes the
// same values, and its errors match encoding/json's error types with
// errors.As (a SyntaxError found so carries only the offset), except in
// three decoding cases: a ",string" field given an unquoted value,
// invalid base64 and an embedded pointer to an unexported struct fail
// with a *json.UnmarshalTypeError instead of a plain error. Its error
// messages are its own, and on invalid input it may fill the target
// before finding the error (Deserialize returns the error alone either
// way). It is not the default because of those differences, and because
// it relies on unsafe and on the runtime's type layout: its behaviour
// outside the table is its own.
type JSONCodec struct{ impl jsonImpl }

// StdJSON is the encoding/json codec, the default.
func StdJSON() JSONCodec { return JSONCodec{} }

// GoJSON is the github.com/goccy/go-json codec (see [JSONCodec]).
func GoJSON() JSONCodec { return JSONCodec{impl: goJSONImpl{}} }

// ParseJSONCodec returns the codec named name: "encoding/json" (or "")
// for [StdJSON], "go-json" for [GoJSON].
func ParseJSONCodec(name string) (JSONCodec, error) {
	switch name {
	case "", stdJSONName:
		return StdJSON(), nil
	case goJSONName:
		return GoJSON(), nil
	}
	return JSONCodec{}, fmt.Errorf("serde: unknown JSON codec %q (want %q or %q)", name, stdJSONName, goJSONName)
}

// String returns the codec's name, as [ParseJSONCodec] reads it.
func (c JSONCodec) String() string {
	if c.impl == nil {
		return stdJSONName
	}
	return c.impl.name()
}

const (
	stdJSONName = "encoding/json"
	goJSONName  = "go-json"
)

// WithJSONCodec makes [NewJSON] and [JSONFor] encode and decode with c
// instead of encoding/json. Other constructors ignore it (NewAuto's JSON
// part stays on encoding/json).
func WithJSONCodec(c JSONCodec) Option { return jsonCodecOption{c} }

// jsonCodecOption is read by NewJSON from its arguments; it changes
// nothing in the shared options.
type jsonCodecOption struct{ c JSONCodec }

func (jsonCodecOption) apply(*options) {}

// codecOf returns the codec chosen by the last WithJSONCodec in opts
// (nil: encoding/json).
func codecOf(opts []Option) jsonImpl {
	var impl jsonImpl
	for _, o := range opts {
		if c, ok := o.(jsonCodecOption); ok {
			impl = c.c.impl
		}
	}
	return impl
}

// jsonImpl is a JSON implementation other than encoding/json, which the
// JSON serde calls directly.
type jsonImpl interface {
	name() string
	// marshal returns the JSON encoding of v, as json.Marshal does.
	marshal(v any) ([]byte, error)
	// unmarshal decodes the one JSON value of data into ptr.
	unmarshal(data []byte, ptr any, disallowUnknown, useNumber bool) error
}

// goJSONImpl is github.com/goccy/go-json.
type goJSONImpl struct{}

func (goJSONImpl) name() string { return goJSONName }

func (goJSONImpl) marshal(v any) ([]byte, error) {
	b, err := gojson.Marshal(v)
	return b, stdError(err)
}

func (goJSONImpl) unmarshal(data []byte, ptr any, disallowUnknown, useNumber bool) error {
	if !disallowUnknown && !useNumber {
		return stdError(gojson.Unmarshal(data, ptr))
	}
	dec := gojson.NewDecoder(bytes.NewReader(data))
	if disallowUnknown {
		dec.DisallowUnknownFields()
	}
	if useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(ptr); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("empty JSON input: %w", io.ErrUnexpectedEOF)
		}
		return stdError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: data after the top-level value")
	}
	return nil
}

// stdError makes an error of go-json match encoding/json's error type of
// the same meaning with errors.As, keeping go-json's message.
func stdError(err error) error {
	var std error
	switch e := err.(type) {
	case nil:
		return nil
	case *gojson.UnsupportedTypeError:
		std = &json.UnsupportedTypeError{Type: e.Type}
	case *gojson.UnsupportedValueError:
		std = &json.UnsupportedValueError{Value: e.Value, Str: e.Str}
	case *gojson.MarshalerError:
		std = &json.MarshalerError{Type: e.Type, Err: stdError(e.Err)}
	case *gojson.UnmarshalTypeError:
		std = &json.UnmarshalTypeError{Value: e.Value, Type: e.Type, Offset: e.Offset, Struct: e.Struct, Field: e.Field}
	case *gojson.InvalidUnmarshalError:
		std = &json.InvalidUnmarshalError{Type: e.Type}
	case *gojson.SyntaxError:
		std = &json.SyntaxError{Offset: e.Offset}
	default:
		return err
	}
	return &goJSONError{err: err, std: std}
}

// goJSONError is an error of go-json that also is (errors.As) its
// encoding/json counterpart.
type goJSONError struct {
	err error // go-json's
	std error // encoding/json's type, same fields
}

func (e *goJSONError) Error() string   { return e.err.Error() }
func (e *goJSONError) Unwrap() []error { return []error{e.err, e.std} }

// isUnsupportedType reports whether a JSON encoding error says the type
// cannot be encoded.
func isUnsupportedType(err error) bool {
	var ute *json.UnsupportedTypeError
	return errors.As(err, &ute)
}
