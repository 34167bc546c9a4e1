package config

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error returned by [Load], [Kafka.Validate] and the
// franz-go mapping functions that is caused by a bad configuration value
// matches [ErrInvalid] with [errors.Is]; the more specific sentinels below
// are matched as well where they apply.
var (
	// ErrInvalid is matched by every configuration error: unknown keys,
	// values of the wrong type, values failing validation and conflicting
	// settings.
	ErrInvalid = errors.New("invalid configuration")

	// ErrUnknownKey is matched (in addition to ErrInvalid) when a key
	// under "kafka." is not part of the known key tree.
	ErrUnknownKey = errors.New("unknown key")

	// ErrUnresolved is returned by [Config.Resolve] when a placeholder
	// names a key that has no value and the placeholder has no default.
	ErrUnresolved = errors.New("unresolved placeholder")
)

// FieldError describes one invalid configuration key. Key is the full
// dotted key name (e.g. "kafka.producer.acks", or
// "kafka.admin.topics[0].name" for list elements).
//
// A FieldError matches [ErrInvalid] and, when set, Err (for example
// [ErrUnknownKey] or a *strconv.NumError) with [errors.Is] / [errors.As].
// When several keys are invalid, [Load] returns them joined with
// [errors.Join]; use errors.As to get the first one.
type FieldError struct {
	// Key is the full key name.
	Key string
	// Msg is a human readable description of the problem.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error implements error: "config: <key>: <msg>".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalid and the underlying cause.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// joinErrs returns nil, the single error, or errors.Join of all errors, so
// that the common single-error case prints without decoration.
func joinErrs(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	default:
		return errors.Join(errs...)
	}
}
