package listener

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// AckMode says when a container commits the offsets of processed records;
// the modes mirror Spring for Apache Kafka's ContainerProperties.AckMode. In
// every mode a container commits only the contiguous prefix of processed
// (or, for manual modes, acknowledged) records of a partition, and commits
// what is done on rebalance (revoke) and on graceful stop.
type AckMode uint8

const (
	// AckDefault defers to the container default (AckBatch unless
	// configured otherwise).
	AckDefault AckMode = iota
	// AckRecord commits after each record (batch listeners: after each
	// batch); the next record of the partition is processed only once
	// the commit completed.
	AckRecord
	// AckBatch commits once the records of one poll for a partition have
	// been processed.
	AckBatch
	// AckTime commits every ack-time (container option).
	AckTime
	// AckCount commits synchronously each time ack-count records
	// (container option) have been processed.
	AckCount
	// AckCountTime commits on ack-count (synchronously) or ack-time,
	// whichever comes first.
	AckCountTime
	// AckManual commits what the handler acknowledged (via
	// [Acknowledgment]) at the next commit point.
	AckManual
	// AckManualImmediate commits synchronously inside Acknowledge.
	AckManualImmediate
)

var ackModeNames = [...]string{"", "record", "batch", "time", "count", "count-time", "manual", "manual-immediate"}

// String returns the tag spelling of the mode ("" for AckDefault).
func (m AckMode) String() string {
	if int(m) < len(ackModeNames) {
		return ackModeNames[m]
	}
	return "AckMode(" + strconv.Itoa(int(m)) + ")"
}

// Manual reports whether the mode requires an Acknowledgment parameter.
func (m AckMode) Manual() bool { return m == AckManual || m == AckManualImmediate }

// ParseAckMode parses the tag spelling of an ack mode (record, batch, time,
// count, count-time, manual, manual-immediate).
func ParseAckMode(s string) (AckMode, error) {
	for i, n := range ackModeNames {
		if i > 0 && n == s {
			return AckMode(i), nil
		}
	}
	return AckDefault, fmt.Errorf("unknown ack mode %q (want record|batch|time|count|count-time|manual|manual-immediate)", s)
}

// Toggle is a tri-state switch whose zero value means "the default".
type Toggle int8

const (
	// Auto is the default: AutoStartup on; Validate on when the payload
	// type has `validate` struct tags.
	Auto Toggle = iota
	// On forces the feature on.
	On
	// Off forces the feature off.
	Off
)

// Or returns def for Auto, else whether t is On.
func (t Toggle) Or(def bool) bool {
	switch t {
	case On:
		return true
	case Off:
		return false
	}
	return def
}

// OffsetKind says how an [Offset] picks the first record of an explicitly
// assigned partition.
type OffsetKind uint8

const (
	// OffsetCommitted starts at the group's committed offset, or at the
	// client's reset offset when nothing was committed (the default).
	OffsetCommitted OffsetKind = iota
	// OffsetEarliest starts at the log start.
	OffsetEarliest
	// OffsetLatest starts at the log end (only new records).
	OffsetLatest
	// OffsetAt starts at the absolute offset Value.
	OffsetAt
	// OffsetFromEnd starts Value records before the log end (1 = the last
	// record), like Spring's negative initialOffset.
	OffsetFromEnd
)

// Offset is the initial position of an explicitly assigned partition.
// The zero value is "committed".
type Offset struct {
	Kind  OffsetKind
	Value int64
}

// String returns the tag spelling (empty for committed).
func (o Offset) String() string {
	switch o.Kind {
	case OffsetEarliest:
		return "earliest"
	case OffsetLatest:
		return "latest"
	case OffsetAt:
		return strconv.FormatInt(o.Value, 10)
	case OffsetFromEnd:
		return "-" + strconv.FormatInt(o.Value, 10)
	}
	return ""
}

// TopicPartition is an explicitly assigned partition with its initial
// offset, like Spring's @TopicPartition(partitionOffsets=...). Listeners
// with explicit partitions do not use group management: partitions are
// spread over the container's clients, and offsets are committed to Group
// (if any) with an admin commit.
type TopicPartition struct {
	Topic     string
	Partition int32
	Offset    Offset
}

// String returns the tag spelling, topic:partition[@offset].
func (tp TopicPartition) String() string {
	s := tp.Topic + ":" + strconv.Itoa(int(tp.Partition))
	if o := tp.Offset.String(); o != "" {
		s += "@" + o
	}
	return s
}

// DLTNone as an Endpoint's DLT disables dead-lettering for that listener:
// records whose retries are exhausted are logged and skipped.
const DLTNone = "none"

// Endpoint describes one listener: what to consume, how, and the handler.
// Endpoints come from struct tags ([Registry.Register]) or are built in
// code and added with [Registry.Add]; either way they are compiled once
// (placeholders resolved, attributes and handler signature checked, handler
// compiled into an [Invoker]) before a container uses them. Do not modify
// an Endpoint after it was compiled.
//
// The fields mean exactly what the tag attributes of the same name mean; see
// the package documentation. String fields (and each Topics item and
// Properties value) may contain ${...} placeholders; a Topics item that
// resolves to a list ("a;b" or "a,b") expands to several topics.
type Endpoint struct {
	ID             string
	Topics         []string
	Pattern        string
	Partitions     []TopicPartition
	Group          string
	Concurrency    int
	AutoStartup    Toggle
	Batch          bool
	AckMode        AckMode
	ErrorHandler   string
	DLT            string
	Validate       Toggle
	Properties     map[string]string
	SendTo         string
	ClientIDPrefix string
	Ordering       Ordering
	Workers        int
	// Retry (the retry attribute) sends failed records through retry
	// topics instead of retrying them in place; nil leaves it to the
	// container's default (kafka.listener.retry).
	Retry *RetryTopics
	// Transactional (the transactional attribute) runs the listener in
	// Kafka transactions: what its handler sends and the offsets of what
	// it consumed commit together (exactly-once consume-transform-produce).
	// Auto leaves it to the container (kafka.listener.transactional-id-prefix).
	Transactional Toggle
	// Cluster (the cluster attribute) names the Kafka cluster the listener
	// consumes from and publishes dead letters and replies to
	// (kafka.clusters.<name>); "" is the default cluster (kafka.*).
	Cluster string
	// GroupProtocol (the groupprotocol attribute) is the protocol the
	// listener's consumers join their group with: "classic" or
	// "consumer" (KIP-848, the broker assigns partitions); "" leaves it
	// to the container (kafka.consumer.group-protocol).
	GroupProtocol string
	// Handler is the handler func; see the package documentation for the
	// accepted signatures.
	Handler any

	source   string // "pkg.Type.Field" for tagged fields
	tag      string // raw tag, for error messages
	resolved bool   // placeholders already resolved (tags resolve while parsing)
	batchSet bool   // the tag has a batch attribute

	mu      sync.Mutex
	invoker *Invoker
}

// Source returns where the endpoint was declared: "pkg.Type.Field" for
// tagged struct fields, otherwise `endpoint "<id>"`.
func (ep *Endpoint) Source() string {
	if ep.source != "" {
		return ep.source
	}
	return fmt.Sprintf("endpoint %q", ep.ID)
}

// Invoker returns the compiled handler, or nil before [Endpoint.Compile]
// (or registration) succeeded.
func (ep *Endpoint) Invoker() *Invoker {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.invoker
}

// Started reports whether the listener should be started with the
// application (autostartup, default true).
func (ep *Endpoint) Started() bool { return ep.AutoStartup.Or(true) }

// Ordering is how a partition's records are ordered (the ordering
// attribute): by partition, the default, one record at a time in offset
// order; by key, records of different keys of one partition in parallel
// on Workers workers and records of one key strictly in order; or none,
// any record on any worker. Commits never pass a record not finished
// (only the contiguous finished prefix of a partition is committed).
type Ordering uint8

// The orderings.
const (
	OrderPartition Ordering = iota
	OrderKey
	OrderNone
)

// ParseOrdering parses partition, key or none.
func ParseOrdering(s string) (Ordering, error) {
	switch strings.ToLower(s) {
	case "partition":
		return OrderPartition, nil
	case "key":
		return OrderKey, nil
	case "none":
		return OrderNone, nil
	}
	return 0, fmt.Errorf("%q: want partition, key or none", s)
}

// String is the ordering's tag value.
func (o Ordering) String() string {
	switch o {
	case OrderKey:
		return "key"
	case OrderNone:
		return "none"
	}
	return "partition"
}

// EffectiveWorkers is the number of workers per partition: 1 with
// partition ordering, else Workers (default 16).
func (ep *Endpoint) EffectiveWorkers() int {
	if ep.Ordering == OrderPartition {
		return 1
	}
	if ep.Workers > 0 {
		return ep.Workers
	}
	return 16
}

// EffectiveConcurrency returns Concurrency, at least 1.
func (ep *Endpoint) EffectiveConcurrency() int { return max(ep.Concurrency, 1) }
