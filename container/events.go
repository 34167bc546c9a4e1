package container

import (
	"time"
)

// Event is a container lifecycle event (Spring's ListenerContainer
// events): StartedEvent, StoppedEvent, FailedEvent,
// PartitionsAssignedEvent, PartitionsRevokedEvent, PartitionsLostEvent,
// IdleEvent and NonResponsiveEvent. Register listeners with
// WithEventListener.
type Event interface {
	// Listener returns the id of the listener whose container emitted it.
	Listener() string
}

// StartedEvent: the container started (its clients exist; joining the
// group goes on in the background).
type StartedEvent struct{ ListenerID string }

// StoppedEvent: the container stopped; Err is Stop's error, if any.
type StoppedEvent struct {
	ListenerID string
	Err        error
}

// FailedEvent: the container could not start, or stopped on an error
// retrying cannot cure (the broker refused its principal: an
// authorization error); it is in StateFailed until it is started again.
type FailedEvent struct {
	ListenerID string
	Err        error
}

// PartitionsAssignedEvent: a member was given partitions (after their
// workers started).
type PartitionsAssignedEvent struct {
	ListenerID string
	Member     int
	Partitions map[string][]int32
}

// PartitionsRevokedEvent: partitions were taken from a member in a
// rebalance, after their in-flight records finished and were committed.
type PartitionsRevokedEvent struct {
	ListenerID string
	Member     int
	Partitions map[string][]int32
}

// PartitionsLostEvent: a member lost partitions without a rebalance (its
// session expired, or the group was fenced); nothing could be committed.
type PartitionsLostEvent struct {
	ListenerID string
	Member     int
	Partitions map[string][]int32
}

// NonResponsiveEvent: a handler has been busy with one record (or batch)
// for at least the monitor interval (WithMonitorInterval): the monitor saw
// the same call running at two of its ticks. Spring's
// NonResponsiveConsumerEvent. It is emitted at every further tick while
// the call lasts; the partition makes no progress meanwhile.
type NonResponsiveEvent struct {
	ListenerID string
	Topic      string
	Partition  int32
	Offset     int64
	// Busy is how long the handler call has been running at least: the
	// monitor ticks it was seen at since the first, times the interval.
	Busy time.Duration
}

// Listener implements Event.
func (e StartedEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e StoppedEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e FailedEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e PartitionsAssignedEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e PartitionsRevokedEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e PartitionsLostEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e IdleEvent) Listener() string { return e.ListenerID }

// Listener implements Event.
func (e NonResponsiveEvent) Listener() string { return e.ListenerID }

// WithEventListener registers fn for the container's lifecycle events
// (repeatable). Events are delivered synchronously on the goroutine where
// they happen (rebalance callbacks delay the rebalance; the monitor's
// events delay the next tick): keep fn fast and do not call the
// container's Stop from it. Idle events need WithIdleEvents (or
// kafka.listener.idle-interval) for their interval.
func WithEventListener(fn func(Event)) Option {
	return optFunc(func(o *options) {
		if fn != nil {
			o.onEvent = append(o.onEvent, fn)
		}
	})
}

// WithMonitorInterval sets how often the container checks for handlers
// stuck on one record (default 30 s, Spring's monitorInterval): a call
// seen running at two checks in a row (so for at least the interval, at
// most twice) gets a WARN log and a NonResponsiveEvent, and again at each
// further check. A negative interval disables the check.
func WithMonitorInterval(d time.Duration) Option {
	return optFunc(func(o *options) { o.monitorInterval = d })
}

// emit delivers e to the event listeners.
func (c *Container) emit(e Event) {
	for _, fn := range c.o.onEvent {
		fn(e)
	}
}
