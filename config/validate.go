package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// validate is created once and is immutable afterwards (validator caches
// struct metadata internally and is safe for concurrent use).
var validate = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string { return tagName(f) })
	return v
})

// normalize canonicalizes case-insensitive enumerations so that e.g.
// ack-mode MANUAL_IMMEDIATE and protocol sasl_ssl are accepted.
func (k *Kafka) normalize() {
	k.Security.Protocol = strings.ToUpper(strings.TrimSpace(k.Security.Protocol))
	k.Security.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(k.Security.SASL.Mechanism))
	k.Producer.Acks = strings.ToLower(strings.TrimSpace(k.Producer.Acks))
	k.Producer.Compression = strings.ToLower(strings.TrimSpace(k.Producer.Compression))
	k.Consumer.AutoOffsetReset = strings.ToLower(strings.TrimSpace(k.Consumer.AutoOffsetReset))
	k.Consumer.IsolationLevel = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k.Consumer.IsolationLevel)), "-", "_")
	k.Listener.AckMode = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k.Listener.AckMode)), "_", "-")
	k.Listener.Type = strings.ToLower(strings.TrimSpace(k.Listener.Type))
	k.normalizeListeners()
}

// Validate checks k: field constraints (enumerations, ranges, host:port
// seeds), cross-field rules (idempotence vs acks, TLS/SASL vs protocol,
// ack-mode vs ack-count/ack-time, duplicate admin topics) and the supported
// client properties. Enumerations are canonicalized in place first (for
// example ack-mode MANUAL_IMMEDIATE becomes manual-immediate), which is why
// Validate has a pointer receiver.
//
// The returned error is nil, a [*FieldError] or several joined with
// [errors.Join]; it always matches [ErrInvalid]. [Load] calls Validate;
// call it yourself for a programmatically built Kafka.
func (k *Kafka) Validate() error {
	k.normalize()
	var errs []error
	if err := validate().Struct(k); err != nil {
		var verrs validator.ValidationErrors
		if !errors.As(err, &verrs) {
			return &FieldError{Key: "kafka", Msg: err.Error(), Err: err}
		}
		for _, fe := range verrs {
			errs = append(errs, fieldErr("kafka", fe))
		}
	}
	errs = append(errs, k.crossCheck()...)
	return joinErrs(errs)
}

// fieldErr converts a validator error; root replaces the root type name of
// the namespace ("Kafka.producer.acks" -> "kafka.producer.acks").
func fieldErr(root string, fe validator.FieldError) error {
	key := root
	if _, rest, ok := strings.Cut(fe.Namespace(), "."); ok {
		key += "." + rest
	}
	var msg string
	switch fe.Tag() {
	case "oneof":
		msg = fmt.Sprintf("must be one of %s, got %s", fe.Param(), quoteVal(fe.Value()))
	case "required":
		msg = "is required"
	case "min":
		if fe.Kind() == reflect.Slice {
			msg = fmt.Sprintf("must have at least %s element(s)", fe.Param())
		} else {
			msg = fmt.Sprintf("must be at least %s, got %v", fe.Param(), fe.Value())
		}
	case "gte":
		msg = fmt.Sprintf("must be >= %s, got %v", fe.Param(), fe.Value())
	case "gt":
		msg = fmt.Sprintf("must be > %s, got %v", fe.Param(), fe.Value())
	case "lte":
		msg = fmt.Sprintf("must be <= %s, got %v", fe.Param(), fe.Value())
	case "hostname_port":
		msg = fmt.Sprintf("must be host:port, got %s", quoteVal(fe.Value()))
	default:
		msg = fmt.Sprintf("failed %q validation, got %v", fe.Tag(), fe.Value())
	}
	return &FieldError{Key: key, Msg: msg}
}

func quoteVal(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func (k *Kafka) crossCheck() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	// Producer: idempotence requires acks=all (KIP-679 semantics).
	p := &k.Producer
	allAcks := p.Acks == "all" || p.Acks == "-1"
	if p.Idempotence != nil && *p.Idempotence && !allAcks {
		add("kafka.producer.idempotence", "idempotence requires kafka.producer.acks=all, got acks %q (set idempotence to false or acks to all)", p.Acks)
	}
	if p.TransactionalIDPrefix != "" {
		if p.Idempotence != nil && !*p.Idempotence {
			add("kafka.producer.transactional-id-prefix", "transactions require kafka.producer.idempotence=true")
		} else if !allAcks {
			add("kafka.producer.transactional-id-prefix", "transactions require kafka.producer.acks=all, got %q", p.Acks)
		}
	}

	// Security.
	s := &k.Security
	tlsOn := s.Protocol == ProtocolSSL || s.Protocol == ProtocolSASLSSL
	saslOn := s.Protocol == ProtocolSASLPlaintext || s.Protocol == ProtocolSASLSSL
	if !tlsOn {
		for _, f := range []struct{ key, val string }{
			{"ca-file", s.TLS.CAFile}, {"cert-file", s.TLS.CertFile},
			{"key-file", s.TLS.KeyFile}, {"server-name", s.TLS.ServerName},
		} {
			if f.val != "" {
				add("kafka.security.tls."+f.key, "set but kafka.security.protocol is %s (use SSL or SASL_SSL)", s.Protocol)
			}
		}
		if s.TLS.InsecureSkipVerify {
			add("kafka.security.tls.insecure-skip-verify", "set but kafka.security.protocol is %s (use SSL or SASL_SSL)", s.Protocol)
		}
	}
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		if s.TLS.CertFile == "" {
			add("kafka.security.tls.cert-file", "is required when kafka.security.tls.key-file is set")
		} else {
			add("kafka.security.tls.key-file", "is required when kafka.security.tls.cert-file is set")
		}
	}
	if saslOn {
		if s.SASL.Mechanism == "" {
			add("kafka.security.sasl.mechanism", "is required when kafka.security.protocol is %s", s.Protocol)
		}
		if s.SASL.Username == "" {
			add("kafka.security.sasl.username", "is required when kafka.security.protocol is %s", s.Protocol)
		}
	} else if s.SASL.Mechanism != "" || s.SASL.Username != "" || s.SASL.Password != "" {
		add("kafka.security.sasl", "set but kafka.security.protocol is %s (use SASL_PLAINTEXT or SASL_SSL)", s.Protocol)
	}

	// Listener.
	l := &k.Listener
	if l.TransactionalIDPrefix != "" {
		if p.Idempotence != nil && !*p.Idempotence {
			add("kafka.listener.transactional-id-prefix", "transactions require kafka.producer.idempotence=true")
		} else if !allAcks {
			add("kafka.listener.transactional-id-prefix", "transactions require kafka.producer.acks=all, got %q", p.Acks)
		}
	}
	if (l.AckMode == AckModeCount || l.AckMode == AckModeCountTime) && l.AckCount <= 0 {
		add("kafka.listener.ack-count", "must be > 0 with kafka.listener.ack-mode=%s, got %d", l.AckMode, l.AckCount)
	}
	if (l.AckMode == AckModeTime || l.AckMode == AckModeCountTime) && l.AckTime <= 0 {
		add("kafka.listener.ack-time", "must be > 0 with kafka.listener.ack-mode=%s, got %v", l.AckMode, l.AckTime)
	}

	// Admin topics.
	seen := map[string]int{}
	for i, t := range k.Admin.Topics {
		key := fmt.Sprintf("kafka.admin.topics[%d].name", i)
		if t.Name == "" {
			continue // reported by "required"
		}
		if err := checkTopicName(t.Name); err != nil {
			add(key, "%v", err)
		}
		if j, dup := seen[t.Name]; dup {
			add(key, "duplicate topic %q (also kafka.admin.topics[%d])", t.Name, j)
		}
		seen[t.Name] = i
	}

	// Client properties.
	if _, err := propertyOpts("kafka.producer.properties", p.Properties, producerProps); err != nil {
		errs = append(errs, err)
	}
	if _, err := propertyOpts("kafka.consumer.properties", k.Consumer.Properties, consumerProps); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkTopicName applies Kafka's topic name rules.
func checkTopicName(name string) error {
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name longer than 249 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q contains %q; only [a-zA-Z0-9._-] are allowed", name, r)
		}
	}
	return nil
}
