package tlsconf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// isSecret reports whether config is of Kafka's PASSWORD type: the values
// of those are never quoted in errors nor shown by Settings.String.
func isSecret(config string) bool {
	switch config {
	case "ssl.key.password", "ssl.keystore.certificate.chain", "ssl.keystore.key",
		"ssl.keystore.password", "ssl.truststore.certificates", "ssl.truststore.password":
		return true
	}
	return false
}

// configError is an error about one config. Its message names the config
// as it was given (with its listener prefix, if it came with one) and
// quotes its value, unless the config is a password; errors.Is matches
// it with its kind (configs.ErrInvalid or configs.ErrUnsupported) and
// with its cause.
type configError struct {
	name  string // as given, perhaps listener-prefixed
	value string // quoted in the message unless empty or secret
	msg   string
	kind  error
	cause error
}

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString(e.name)
	if e.value != "" {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(e.value))
	}
	if e.msg != "" {
		b.WriteString(": ")
		b.WriteString(e.msg)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *configError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// newConfigError makes the error of config (Kafka's name) in s.
func (s *Settings) newConfigError(kind error, config, value string, cause error, format string, args ...any) error {
	if isSecret(config) {
		value = ""
	}
	return &configError{name: s.nameOf(config), value: value, msg: fmt.Sprintf(format, args...), kind: kind, cause: cause}
}

// invalid is the error of a value Kafka refuses too (or that cannot work).
func (s *Settings) invalid(config, value, format string, args ...any) error {
	return s.newConfigError(configs.ErrInvalid, config, value, nil, format, args...)
}

// unsupported is the error of a value Kafka accepts but the embedded
// broker does not.
func (s *Settings) unsupported(config, value, format string, args ...any) error {
	return s.newConfigError(configs.ErrUnsupported, config, value, nil, format, args...)
}

// wrap is invalid with a cause.
func (s *Settings) wrap(config, value string, cause error, format string, args ...any) error {
	return s.newConfigError(configs.ErrInvalid, config, value, cause, format, args...)
}
