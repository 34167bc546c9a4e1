package consumergroup

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// refusal is a request the group refuses: the Kafka error code the
// response carries, with Kafka's message for it. errors.Is matches it
// against the kerr error (and against the cause of an internal error).
type refusal struct {
	code  *kerr.Error
	msg   string
	cause error
}

// Error returns the Kafka error's name and the message.
func (r *refusal) Error() string {
	return fmt.Sprintf("consumergroup: %s: %s", r.code.Message, r.msg)
}

// Unwrap returns the kerr error, and the cause of an internal error.
func (r *refusal) Unwrap() []error {
	if r.cause != nil {
		return []error{r.code, r.cause}
	}
	return []error{r.code}
}

func refuse(code *kerr.Error, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// internalError is a record the group failed to apply to itself: a bug,
// after which its state is not what its records say.
func internalError(err error) error {
	return &refusal{code: kerr.UnknownServerError, msg: err.Error(), cause: err}
}

// codeAndMessage returns the Kafka error code and message of an error.
func codeAndMessage(err error) (int16, string) {
	var r *refusal
	if errors.As(err, &r) {
		return r.code.Code, r.msg
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code, err.Error()
	}
	return kerr.UnknownServerError.Code, err.Error()
}
