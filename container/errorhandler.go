package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BackOff decides whether, and after how long, a failed delivery is
// retried. failures is the number of failed deliveries of the record so far
// (1 after the first failure) and elapsed the time since the first failure.
// Implementations must be safe for concurrent use (they are shared by the
// partition workers); the ones in this package are stateless values.
type BackOff interface {
	Next(failures int, elapsed time.Duration) (delay time.Duration, retry bool)
}

// Unlimited as a back off's MaxRetries puts no limit on the number of
// retries.
const Unlimited = -1

// The back offs share one meaning of MaxRetries: the number of retries
// after the first failed delivery; 0 means none (the record is recovered
// after one failure), Unlimited means no limit on the count. As in
// Spring's FixedBackOff(interval, maxAttempts), where maxAttempts also
// counts retries.

// FixedBackOff retries MaxRetries times (see Unlimited), waiting Interval
// before each retry.
type FixedBackOff struct {
	Interval   time.Duration
	MaxRetries int
}

// Next implements BackOff.
func (b FixedBackOff) Next(failures int, _ time.Duration) (time.Duration, bool) {
	if b.MaxRetries != Unlimited && failures > b.MaxRetries {
		return 0, false
	}
	return b.Interval, true
}

// ExponentialBackOff retries MaxRetries times (see Unlimited), waiting
// Initial, then Initial*Multiplier, ... capped at MaxInterval (0:
// uncapped); with MaxElapsed > 0 it also stops once the next wait would
// end more than MaxElapsed after the first failure. With MaxRetries
// Unlimited and no MaxElapsed it retries forever, which blocks the
// partition until the handler succeeds. Multiplier <= 1 means 2.
type ExponentialBackOff struct {
	Initial     time.Duration
	Multiplier  float64
	MaxInterval time.Duration
	MaxElapsed  time.Duration
	MaxRetries  int
}

// Next implements BackOff.
func (b ExponentialBackOff) Next(failures int, elapsed time.Duration) (time.Duration, bool) {
	if b.MaxRetries != Unlimited && failures > b.MaxRetries {
		return 0, false
	}
	mult := b.Multiplier
	if mult <= 1 {
		mult = 2
	}
	d := float64(b.Initial) * math.Pow(mult, float64(failures-1))
	if b.MaxInterval > 0 && d > float64(b.MaxInterval) {
		d = float64(b.MaxInterval)
	}
	if d > math.MaxInt64/2 {
		d = math.MaxInt64 / 2
	}
	delay := time.Duration(d)
	if b.MaxElapsed > 0 && elapsed+delay > b.MaxElapsed {
		return 0, false
	}
	return delay, true
}

// DefaultBackOff returns the back off of an ErrorHandler without one: 9
// retries without delay (10 deliveries), as Spring's DefaultErrorHandler.
func DefaultBackOff() BackOff { return FixedBackOff{Interval: 0, MaxRetries: 9} }

// ErrorHandler is the container's error handler, the counterpart of
// Spring's DefaultErrorHandler: a failed delivery is retried in place (the
// partition waits; other partitions go on) following BackOff; errors that
// are not retryable skip the retries; once retries are over, the
// Recoverer gets the record (by default it is published to the dead-letter
// topic) and the record counts as processed and is committed.
//
// If the Recoverer fails (for example the dead-letter topic cannot be
// written), the record is NOT committed: the container waits
// RecoveryRetryInterval and delivers it again from scratch (handler,
// retries, recovery), so a record is never silently dropped; the partition
// stays blocked until recovery succeeds.
//
// Never retried: *listener.DecodeError and *serde.DeserializationError
// (deserialization failures, "poison pills"; but a decode that failed
// because the schema registry could not be reached is retried), *listener.ValidationError, errors wrapped with [NotRetryable],
// errors matching (errors.Is) one of NotRetryableErrors, and errors for which
// Classify returns false.
//
// An ErrorHandler is used by value semantics: do not modify it once a
// container uses it.
type ErrorHandler struct {
	// BackOff decides the retries; nil means DefaultBackOff().
	BackOff BackOff
	// Recoverer handles records whose retries are exhausted; nil means the
	// container default: a DeadLetterRecoverer over the container's
	// publisher if it has one, else a LoggingRecoverer.
	Recoverer Recoverer
	// NotRetryableErrors are errors (matched with errors.Is) that go
	// straight to the Recoverer.
	NotRetryableErrors []error
	// Classify, if set, is consulted after the built-in rules: returning
	// false makes err not retryable.
	Classify func(err error) bool
	// RecoveryRetryInterval is the wait after a failed recovery before the
	// record is delivered again; 0 means 1s.
	RecoveryRetryInterval time.Duration
}

func (h *ErrorHandler) backOff() BackOff {
	if h.BackOff == nil {
		return DefaultBackOff()
	}
	return h.BackOff
}

func (h *ErrorHandler) recoveryInterval() time.Duration {
	if h.RecoveryRetryInterval <= 0 {
		return time.Second
	}
	return h.RecoveryRetryInterval
}

// Retryable reports whether err may be retried under h's rules.
func (h *ErrorHandler) Retryable(err error) bool {
	if !retryableByDefault(err) {
		return false
	}
	for _, target := range h.NotRetryableErrors {
		if errors.Is(err, target) {
			return false
		}
	}
	if h.Classify != nil && !h.Classify(err) {
		return false
	}
	return true
}

func retryableByDefault(err error) bool {
	if errors.Is(err, serde.ErrRegistryUnavailable) {
		// The record may be fine; the schema registry is not reachable
		// (a decode needing a schema it has not fetched yet).
		return true
	}
	var (
		de *listener.DecodeError
		se *serde.DeserializationError
		ve *listener.ValidationError
		nr *notRetryableError
	)
	return !errors.As(err, &de) && !errors.As(err, &se) && !errors.As(err, &ve) && !errors.As(err, &nr)
}

type notRetryableError struct{ err error }

func (e *notRetryableError) Error() string { return e.err.Error() }
func (e *notRetryableError) Unwrap() error { return e.err }

// NotRetryable wraps err so that the error handler skips retries and
// recovers the record (dead-letter topic) at once. errors.Is/As still see
// err. NotRetryable(nil) is nil.
func NotRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &notRetryableError{err}
}

// IsNotRetryable reports whether err is never retried by any ErrorHandler:
// it was wrapped with NotRetryable, or is a deserialization or validation
// failure.
func IsNotRetryable(err error) bool { return !retryableByDefault(err) }

// BatchListenerFailedError, returned by a batch handler, says which record
// of the batch failed, like Spring's BatchListenerFailedException: the
// records before Index count as processed (and are committed), the failing
// record is retried following the back off, together with the rest of the
// batch (the handler is called again with the batch starting at the
// failing record); once its retries are over it alone goes to the
// Recoverer, and the remaining records are delivered as a new batch.
//
// Any other error from a batch handler fails the whole batch: it is retried
// following the back off and, once retries are over, the Recoverer gets
// every record of the batch (the DeadLetterRecoverer publishes each).
type BatchListenerFailedError struct {
	Index int
	Err   error
}

// BatchFailed returns a *BatchListenerFailedError.
func BatchFailed(index int, err error) error {
	return &BatchListenerFailedError{Index: index, Err: err}
}

// Error implements error.
func (e *BatchListenerFailedError) Error() string {
	return fmt.Sprintf("batch listener failed at index %d: %v", e.Index, e.Err)
}

// Unwrap returns the cause.
func (e *BatchListenerFailedError) Unwrap() error { return e.Err }

// Failure describes records whose delivery failed; it is handed to a
// Recoverer.
type Failure struct {
	// ListenerID and Group identify the listener.
	ListenerID string
	Group      string
	// DLT is the listener's dlt attribute: "" (default naming), a topic,
	// or listener.DLTNone.
	DLT string
	// Records are the failed records as consumed (raw key, value,
	// headers): one for record listeners; for batch listeners the failing
	// record, or the whole batch.
	Records []*kgo.Record
	// Err is the last error.
	Err error
	// Attempts is the number of failed deliveries.
	Attempts int
	// FirstFailure is when the first delivery failed.
	FirstFailure time.Time

	// outcome, set by the container's own recoverers, is the metrics
	// outcome of a successful recovery when it is not the default.
	outcome string
}

// Recoverer handles records whose retries are exhausted (or that are not
// retryable). Returning nil means the records are dealt with and may be
// committed; returning an error keeps them uncommitted and makes the
// container deliver them again after the handler's
// RecoveryRetryInterval. Recover is called from partition workers
// concurrently; implementations must be safe for concurrent use.
type Recoverer interface {
	Recover(ctx context.Context, f *Failure) error
}

// RecovererFunc adapts a func to Recoverer.
type RecovererFunc func(ctx context.Context, f *Failure) error

// Recover implements Recoverer.
func (fn RecovererFunc) Recover(ctx context.Context, f *Failure) error { return fn(ctx, f) }

// LoggingRecoverer logs the failed records at error level and skips them.
// It is the default recoverer of containers without a publisher.
type LoggingRecoverer struct{ Logger *slog.Logger }

// Recover implements Recoverer.
func (l LoggingRecoverer) Recover(_ context.Context, f *Failure) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	for _, r := range f.Records {
		log.Error("kafka listener: skipping failed record", "listener", f.ListenerID, "group", f.Group,
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "attempts", f.Attempts, "err", f.Err)
	}
	return nil
}
