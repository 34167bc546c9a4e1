// Package kgolog bridges franz-go's client logs (kgo.Logger) to log/slog,
// at the level kafka.client.log-level names.
package kgolog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Logger is a kgo.Logger writing to a slog.Logger, with the attribute
// component=franz-go.
type Logger struct {
	l     *slog.Logger
	level kgo.LogLevel
	quiet func() bool
}

var _ kgo.Logger = (*Logger)(nil)

// ParseLevel maps a kafka.client.log-level value (none, error, warn, info,
// debug) to franz-go's level.
func ParseLevel(s string) (kgo.LogLevel, error) {
	switch s {
	case "none":
		return kgo.LogLevelNone, nil
	case "error":
		return kgo.LogLevelError, nil
	case "warn", "":
		return kgo.LogLevelWarn, nil
	case "info":
		return kgo.LogLevelInfo, nil
	case "debug":
		return kgo.LogLevelDebug, nil
	}
	return kgo.LogLevelNone, fmt.Errorf("kafka.client.log-level: %q is not one of none, error, warn, info, debug", s)
}

// New returns a logger passing franz-go's messages at level and above to
// l; it is nil (no logging) for kgo.LogLevelNone or a nil l. While quiet
// (if not nil) returns true, warnings and errors are logged at debug
// level: the client's connection watcher has said the brokers are
// unreachable, and franz-go would repeat it at every retry.
func New(l *slog.Logger, level kgo.LogLevel, quiet func() bool) *Logger {
	if l == nil || level == kgo.LogLevelNone {
		return nil
	}
	return &Logger{l: l.With(slog.String("component", "franz-go")), level: level, quiet: quiet}
}

// Opt returns kgo.WithLogger for New(l, level, quiet), or nil when that
// logs nothing (kgo.Opt values may not be nil: callers skip it).
func Opt(l *slog.Logger, level kgo.LogLevel, quiet func() bool) kgo.Opt {
	if lg := New(l, level, quiet); lg != nil {
		return kgo.WithLogger(lg)
	}
	return nil
}

// Level implements kgo.Logger.
func (k *Logger) Level() kgo.LogLevel { return k.level }

// Log implements kgo.Logger.
func (k *Logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	if sl > slog.LevelInfo && k.quiet != nil && k.quiet() {
		sl = slog.LevelDebug
	}
	k.l.Log(context.Background(), sl, msg, keyvals...)
}
