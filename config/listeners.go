package config

import (
	"strings"
	"time"
)

// BackOff is kafka.listener.back-off: how a failed delivery is retried in
// place before the record goes to the dead-letter topic (the container's
// error handler; Spring's DefaultErrorHandler back off). MaxRetries has
// one meaning for both kinds: the retries after the first failure, 0 none,
// -1 no limit.
type BackOff struct {
	// Type (kafka.listener.back-off.type) is fixed (the default) or
	// exponential.
	Type string `koanf:"type" validate:"oneof=fixed exponential"`
	// Interval (kafka.listener.back-off.interval) is the wait before each
	// retry (fixed) or before the first (exponential). Default 0.
	Interval time.Duration `koanf:"interval" validate:"gte=0"`
	// Multiplier (kafka.listener.back-off.multiplier) grows an exponential
	// wait; default 2.
	Multiplier float64 `koanf:"multiplier" validate:"gte=0"`
	// MaxInterval (kafka.listener.back-off.max-interval) caps an
	// exponential wait; 0: no cap.
	MaxInterval time.Duration `koanf:"max-interval" validate:"gte=0"`
	// MaxElapsed (kafka.listener.back-off.max-elapsed) ends exponential
	// retries once the next wait would end this long after the first
	// failure; 0: no limit.
	MaxElapsed time.Duration `koanf:"max-elapsed" validate:"gte=0"`
	// MaxRetries (kafka.listener.back-off.max-retries) is the number of
	// retries: 0 none, -1 no limit. Default 9 (10 deliveries, Spring's
	// default).
	MaxRetries int `koanf:"max-retries" validate:"gte=-1"`
}

// ListenerOverride is kafka.listeners.<id>: settings of the listener with
// that id (its id attribute, or the default "pkg.Type.Field", which
// cannot be a key because of its dots: give such a listener an id), over
// its tag and the kafka.listener defaults. Every field is optional.
type ListenerOverride struct {
	// Concurrency is the listener's number of consumers (its concurrency
	// attribute).
	Concurrency *int `koanf:"concurrency" validate:"omitempty,gte=1"`
	// AckMode is its ack mode (its ack attribute).
	AckMode *string `koanf:"ack-mode" validate:"omitempty,oneof=record batch time count count-time manual manual-immediate"`
	// AutoStartup starts it with the application or not (autostartup).
	AutoStartup *bool `koanf:"auto-startup"`
	// DLT is its dead-letter topic, or none (its dlt attribute).
	DLT *string `koanf:"dlt"`
	// Transactional runs it in transactions (its transactional attribute).
	Transactional *bool `koanf:"transactional"`
	// BackOff is its in-place retries, over kafka.listener.back-off.
	BackOff *BackOffOverride `koanf:"back-off"`
	// Retry is its retry topics, over kafka.listener.retry (its retry
	// attribute).
	Retry *RetryOverride `koanf:"retry"`
}

// BackOffOverride is kafka.listeners.<id>.back-off: the fields of
// [BackOff] given for one listener; the others come from
// kafka.listener.back-off.
type BackOffOverride struct {
	Type        *string        `koanf:"type" validate:"omitempty,oneof=fixed exponential"`
	Interval    *time.Duration `koanf:"interval" validate:"omitempty,gte=0"`
	Multiplier  *float64       `koanf:"multiplier" validate:"omitempty,gte=0"`
	MaxInterval *time.Duration `koanf:"max-interval" validate:"omitempty,gte=0"`
	MaxElapsed  *time.Duration `koanf:"max-elapsed" validate:"omitempty,gte=0"`
	MaxRetries  *int           `koanf:"max-retries" validate:"omitempty,gte=-1"`
}

// RetryOverride is kafka.listeners.<id>.retry: the fields of
// [ListenerRetry] given for one listener; the others come from
// kafka.listener.retry. Enabled turns retry topics on or off for the
// listener whatever kafka.listener.retry.enabled says.
type RetryOverride struct {
	Enabled    *bool          `koanf:"enabled"`
	Attempts   *int           `koanf:"attempts" validate:"omitempty,gte=2"`
	Delay      *time.Duration `koanf:"delay" validate:"omitempty,gt=0"`
	Multiplier *float64       `koanf:"multiplier" validate:"omitempty,gte=0"`
	MaxDelay   *time.Duration `koanf:"max-delay" validate:"omitempty,gt=0"`
}

// BackOffFor returns listener id's back off: kafka.listener.back-off with
// kafka.listeners.<id>.back-off over it.
func (k *Kafka) BackOffFor(id string) BackOff {
	b := k.Listener.BackOff
	o := k.Listeners[id].BackOff
	if o == nil {
		return b
	}
	set(&b.Type, o.Type)
	set(&b.Interval, o.Interval)
	set(&b.Multiplier, o.Multiplier)
	set(&b.MaxInterval, o.MaxInterval)
	set(&b.MaxElapsed, o.MaxElapsed)
	set(&b.MaxRetries, o.MaxRetries)
	return b
}

// RetryFor returns listener id's retry topics configuration:
// kafka.listener.retry with kafka.listeners.<id>.retry over it.
func (k *Kafka) RetryFor(id string) ListenerRetry {
	r := k.Listener.Retry
	o := k.Listeners[id].Retry
	if o == nil {
		return r
	}
	set(&r.Enabled, o.Enabled)
	set(&r.Attempts, o.Attempts)
	set(&r.Delay, o.Delay)
	set(&r.Multiplier, o.Multiplier)
	set(&r.MaxDelay, o.MaxDelay)
	return r
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// normalizeListeners canonicalizes the ack modes of kafka.listeners.
func (k *Kafka) normalizeListeners() {
	k.Listener.BackOff.Type = strings.ToLower(strings.TrimSpace(k.Listener.BackOff.Type))
	for id, o := range k.Listeners {
		if o.AckMode != nil {
			m := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(*o.AckMode)), "_", "-")
			o.AckMode = &m
		}
		if o.BackOff != nil && o.BackOff.Type != nil {
			t := strings.ToLower(strings.TrimSpace(*o.BackOff.Type))
			o.BackOff.Type = &t
		}
		k.Listeners[id] = o
	}
}
