package config

import (
	"errors"
	"strconv"
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
//
// Errors of [Load] also say where the key was set, when they can: File
// and Line for a key of a YAML file, Env for an environment variable, and
// Alias for a key set by its Spring Boot name. An error about no key has
// an empty Key: a YAML syntax error (File and Line) or an environment
// variable that sets no key (Env).
type FieldError struct {
	// Key is the full key name.
	Key string
	// Msg is a human readable description of the problem.
	Msg string
	// Err is the underlying cause, if any.
	Err error
	// File is the YAML file that set Key, or that failed to parse.
	File string
	// Line is the 1-based line of Key, or of the syntax error, in File;
	// 0 if not known.
	Line int
	// Env is the environment variable that set Key (the full name, with
	// the [WithEnvPrefix] prefix), or the variable the error is about.
	Env string
	// Alias is the name Key was set as when it was set by an alias
	// ("kafka.retry.topic.delay" for kafka.listener.retry.delay; see the
	// package documentation).
	Alias string

	located bool // where it was set has been looked up
}

// Error implements error: "config: <key>: <msg>", followed by where the
// key was set when known ("(app.yaml line 3)", "(set as
// kafka.retry.topic.delay, app.yaml line 7)", "(environment variable
// KAFKA_PRODUCER_ACKS)"). Without a key: "config: environment variable
// <name> <msg>" or "config: <file> line <n>: <msg>".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	switch {
	case e.Key != "":
		b.WriteString(e.Key)
		b.WriteString(": ")
		b.WriteString(e.Msg)
		var where []string
		if e.Alias != "" && e.Env == "" {
			where = append(where, "set as "+e.Alias)
		}
		if e.Env != "" {
			where = append(where, "environment variable "+e.Env)
		}
		if e.File != "" {
			where = append(where, e.fileLine())
		}
		if len(where) > 0 {
			b.WriteString(" (")
			b.WriteString(strings.Join(where, ", "))
			b.WriteString(")")
		}
	case e.Env != "":
		b.WriteString("environment variable ")
		b.WriteString(e.Env)
		b.WriteString(" ")
		b.WriteString(e.Msg)
	case e.File != "":
		b.WriteString(e.fileLine())
		b.WriteString(": ")
		b.WriteString(e.Msg)
	default:
		b.WriteString(e.Msg)
	}
	return b.String()
}

func (e *FieldError) fileLine() string {
	if e.Line > 0 {
		return e.File + " line " + strconv.Itoa(e.Line)
	}
	return e.File
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
