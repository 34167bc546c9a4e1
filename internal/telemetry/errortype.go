package telemetry

import (
	"context"
	"errors"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrorTypeOther is the error.type of an error nothing better describes.
const ErrorTypeOther = "_OTHER"

// maxErrorDepth bounds the walk of an error tree (and breaks cycles).
const maxErrorDepth = 32

// ErrorType is the error.type value of err, chosen to keep the cardinality
// of metric series low. In order of preference:
//
//   - "context.DeadlineExceeded" or "context.Canceled" when errors.Is finds
//     either;
//   - the Kafka error name (the Message of a *kerr.Error, for example
//     "NOT_LEADER_FOR_PARTITION") anywhere in the tree;
//   - "kgo.ErrRecordTimeout", "kgo.ErrRecordRetries", "kgo.ErrMaxBuffered",
//     "kgo.ErrAborting" or "kgo.ErrClientClosed" for those franz-go
//     sentinels;
//   - the Go type name (as %T prints it) of the innermost error in the tree
//     whose type says something: the wrappers of package fmt and errors and
//     the plain errors.New type are skipped;
//   - [ErrorTypeOther].
//
// ErrorType returns "" for a nil err. It does not allocate.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	}
	var s errScan
	s.visit(err, 0)
	switch {
	case s.kafka != "":
		return s.kafka
	case s.sentinel != "":
		return s.sentinel
	case s.typ != "":
		return s.typ
	}
	return ErrorTypeOther
}

// errScan collects, in one depth-first walk, what ErrorType may return.
type errScan struct {
	kafka    string // first *kerr.Error's name
	sentinel string // first franz-go sentinel
	typ      string // innermost telling type name
}

func (s *errScan) visit(err error, depth int) {
	if err == nil || depth > maxErrorDepth {
		return
	}
	if ke, ok := err.(*kerr.Error); ok && s.kafka == "" && ke != nil {
		s.kafka = ke.Message
	}
	if s.sentinel == "" {
		s.sentinel = kgoSentinel(err)
	}
	// reflect's String reads the name from the binary: no allocation,
	// unlike fmt.Sprintf("%T").
	if name := reflect.TypeOf(err).String(); !untoldType(name) {
		s.typ = name
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		s.visit(u.Unwrap(), depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			s.visit(e, depth+1)
		}
	}
}

// untoldType reports whether an error type name says nothing about the
// error: the plain errors.New type and the wrappers of fmt and errors.
func untoldType(name string) bool {
	switch name {
	case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		return true
	}
	return false
}

func kgoSentinel(err error) string {
	switch err {
	case kgo.ErrRecordTimeout:
		return "kgo.ErrRecordTimeout"
	case kgo.ErrRecordRetries:
		return "kgo.ErrRecordRetries"
	case kgo.ErrMaxBuffered:
		return "kgo.ErrMaxBuffered"
	case kgo.ErrAborting:
		return "kgo.ErrAborting"
	case kgo.ErrClientClosed:
		return "kgo.ErrClientClosed"
	}
	return ""
}
