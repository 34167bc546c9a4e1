package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestListenerOverrides(t *testing.T) {
	c, err := Load(WithEnviron(nil), WithValues(map[string]any{
		"kafka.listener.back-off.type":                  "exponential",
		"kafka.listener.back-off.interval":              "100ms",
		"kafka.listener.back-off.max-retries":           5,
		"kafka.listeners.orders.concurrency":            3,
		"kafka.listeners.orders.ack-mode":               "MANUAL_IMMEDIATE",
		"kafka.listeners.orders.dlt":                    "orders.failed",
		"kafka.listeners.orders.back-off.max-retries":   0,
		"kafka.listeners.orders.retry.enabled":          true,
		"kafka.listeners.orders.retry.attempts":         4,
		"kafka.listeners.payments.back-off.type":        "fixed",
		"kafka.listeners.payments.back-off.interval":    "1s",
		"kafka.listeners.payments.back-off.max-retries": -1,
	}))
	if err != nil {
		t.Fatal(err)
	}
	k := &c.Kafka
	o := k.Listeners["orders"]
	if *o.Concurrency != 3 || *o.AckMode != "manual-immediate" || *o.DLT != "orders.failed" {
		t.Errorf("orders: %+v", o)
	}
	if b := k.BackOffFor("orders"); b != (BackOff{Type: "exponential", Interval: 100 * time.Millisecond, Multiplier: 2, MaxRetries: 0}) {
		t.Errorf("orders back off %+v", b)
	}
	if b := k.BackOffFor("payments"); b != (BackOff{Type: "fixed", Interval: time.Second, Multiplier: 2, MaxRetries: -1}) {
		t.Errorf("payments back off %+v", b)
	}
	if b := k.BackOffFor("other"); b.MaxRetries != 5 || b.Type != "exponential" {
		t.Errorf("default back off %+v", b)
	}
	if r := k.RetryFor("orders"); !r.Enabled || r.Attempts != 4 || r.Delay != time.Second {
		t.Errorf("orders retry %+v", r)
	}
	if r := k.RetryFor("payments"); r.Enabled {
		t.Errorf("payments retry %+v", r)
	}

	for values, want := range map[string]string{
		"kafka.listeners.orders.ack-mode=sometimes":   `kafka.listeners[orders].ack-mode: must be one of`,
		"kafka.listeners.orders.concurrency=0":        `kafka.listeners[orders].concurrency: must be >= 1, got 0`,
		"kafka.listeners.orders.back-off.type=linear": `kafka.listeners[orders].back-off.type: must be one of fixed exponential`,
		"kafka.listeners.orders.colour=blue":          `kafka.listeners.orders.colour: unknown key`,
		"kafka.listener.back-off.max-retries=-2":      `kafka.listener.back-off.max-retries: must be >= -1, got -2`,
	} {
		key, val, _ := strings.Cut(values, "=")
		_, err := Load(WithEnviron(nil), WithValues(map[string]any{key: val}))
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: %v; want %q", values, err, want)
		}
	}
}
