package sharegroup

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error is a request the package refuses, or an internal failure: the
// Kafka error a response carries and the message that goes with it.
// errors.Is matches it against its kerr error.
type Error struct {
	// Code is the Kafka error.
	Code *kerr.Error
	// Message is the response's error message, Kafka's where Kafka has
	// one.
	Message string
	// Cause is set for internal errors: the failure behind them.
	Cause error
}

// Error returns the Kafka error's name and the message.
func (e *Error) Error() string {
	return "sharegroup: " + e.Code.Message + ": " + e.Message
}

// Unwrap returns the kerr error, and the cause if any.
func (e *Error) Unwrap() []error {
	errs := []error{e.Code}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

func newError(code *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// bug wraps a record the group failed to apply to itself.
func bug(cause error) *Error {
	return &Error{Code: kerr.UnknownServerError, Message: cause.Error(), Cause: cause}
}

// responseError returns the code and message a response carries for err.
func responseError(err error) (int16, string) {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code.Code, e.Message
	}
	return kerr.UnknownServerError.Code, err.Error()
}
