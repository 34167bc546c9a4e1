// Package connwatch follows a franz-go client's connections to its
// brokers, through the client's hooks: the last error a connection attempt
// met, whether the brokers are unreachable now, and, said out loud, one WARN
// naming the cause when they become unreachable (repeated at a bounded
// rate while they stay so) and one INFO when they are reachable again.
// Callers that give up waiting on the client (a send whose context ended)
// name the cause from here, so that an error says more than "context
// deadline exceeded".
package connwatch

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultRepeat is how often the WARN is repeated while the brokers stay
// unreachable.
const DefaultRepeat = 30 * time.Second

// Watcher is a kgo hook (kgo.WithHooks) that follows the client's broker
// connections. Its zero value is not usable; use New.
type Watcher struct {
	name   string
	logger *slog.Logger
	repeat time.Duration
	now    func() time.Time

	mu        sync.Mutex
	lastErr   error
	down      bool
	downSince time.Time
	lastWarn  time.Time
}

var _ kgo.HookBrokerConnect = (*Watcher)(nil)

// New returns a watcher for the client called name (for example
// "producer" or a listener id), logging to logger (nil: nothing logged).
func New(name string, logger *slog.Logger) *Watcher {
	return &Watcher{name: name, logger: logger, repeat: DefaultRepeat, now: time.Now}
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (w *Watcher) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	now := w.now()
	w.mu.Lock()
	if err != nil {
		w.lastErr = err
		warn := !w.down || now.Sub(w.lastWarn) >= w.repeat
		if !w.down {
			w.down, w.downSince = true, now
		}
		since := w.downSince
		if warn {
			w.lastWarn = now
		}
		w.mu.Unlock()
		if warn && w.logger != nil {
			w.logger.Warn("kafka brokers unreachable", "client", w.name, "broker", addr, "since", since.Format(time.RFC3339), "err", err)
		}
		return
	}
	wasDown, since := w.down, w.downSince
	w.down, w.lastErr = false, nil
	w.mu.Unlock()
	if wasDown && w.logger != nil {
		w.logger.Info("kafka brokers reachable again", "client", w.name, "broker", addr, "after", now.Sub(since).Round(time.Millisecond))
	}
}

// LastError returns the error of the last failed connection attempt since
// the last successful one, or nil.
func (w *Watcher) LastError() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// IsDown reports whether the last connection attempt failed (false for
// a nil watcher).
func (w *Watcher) IsDown() bool {
	if w == nil {
		return false
	}
	down, _ := w.Down()
	return down
}

// Down reports whether the last connection attempt failed, and since when
// attempts have been failing.
func (w *Watcher) Down() (bool, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.down, w.downSince
}
