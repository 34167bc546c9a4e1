// Package configs defines the Kafka broker and topic configurations the
// embedded broker knows: their names, types, defaults, the broker config a
// topic config falls back to, and how values are validated. DescribeConfigs,
// CreateTopics, AlterConfigs and the log storage all read from here, so a
// config means the same thing everywhere.
//
// Every config defined here either works as in Kafka or is refused, unless
// it has a value that means what the embedded broker does anyway, with an
// error that names it and says why (ErrUnsupported; INVALID_CONFIG for a
// client, a failed start for a broker config). A name not defined here is
// ErrUnknown. The state of each config:
//
//	Topic config (broker synonym)                   State
//	cleanup.policy (log.cleanup.policy)             honoured: retention applies only with delete in the list;
//	                                                compact makes keys mandatory and the log cleaner compacts
//	compression.type (compression.type)             honoured: a batch in another codec is recompressed on append
//	delete.retention.ms (log.cleaner.delete.retention.ms)       honoured by the log cleaner
//	file.delete.delay.ms (log.segment.delete.delay.ms)          refused unless default or 0: segment files are deleted at once
//	flush.messages (log.flush.interval.messages)    honoured: fsync once that many records are unsynced
//	flush.ms (log.flush.interval.ms)                honoured: background fsync at that interval
//	index.interval.bytes (log.index.interval.bytes) honoured
//	max.compaction.lag.ms (log.cleaner.max.compaction.lag.ms)   honoured by the log cleaner
//	max.message.bytes (message.max.bytes)           honoured, also after recompression
//	message.timestamp.after.max.ms (log.…)          honoured (KIP-937): INVALID_TIMESTAMP
//	message.timestamp.before.max.ms (log.…)         honoured (KIP-937): INVALID_TIMESTAMP
//	message.timestamp.type (log.…)                  honoured
//	min.cleanable.dirty.ratio (log.cleaner.min.cleanable.ratio) honoured by the log cleaner
//	min.compaction.lag.ms (log.cleaner.min.compaction.lag.ms)   honoured by the log cleaner
//	min.insync.replicas (min.insync.replicas)       honoured
//	preallocate (log.preallocate)                   refused unless false: segment files are not preallocated
//	retention.bytes (log.retention.bytes)           honoured with cleanup.policy delete (0 keeps only the active segment)
//	retention.ms (log.retention.ms)                 honoured with cleanup.policy delete (0 keeps only the active segment)
//	segment.bytes (log.segment.bytes)               honoured
//	segment.index.bytes (log.index.size.max.bytes)  honoured: a segment rolls when its offset or time index is full
//	segment.jitter.ms (log.roll.jitter.ms)          honoured: a random jitter per segment is taken off segment.ms
//	segment.ms (log.roll.ms)                        honoured
//	unclean.leader.election.enable (same name)      honoured
//
//	Broker config                                   State
//	auto.create.topics.enable                       honoured (Metadata requests)
//	auto.leader.rebalance.enable                    honoured (controller)
//	broker.heartbeat.interval.ms                    honoured
//	broker.session.timeout.ms                       honoured
//	connections.max.idle.ms                         honoured by the connection-limit work of issue 10
//	default.replication.factor, num.partitions      honoured (CreateTopics without them, auto-creation)
//	delete.topic.enable                             honoured: false answers DeleteTopics with TOPIC_DELETION_DISABLED
//	fetch.max.bytes                                 honoured: caps every fetch response
//	group.*                                         honoured (group coordinator)
//	log.* synonyms above, compression.type,
//	message.max.bytes, min.insync.replicas,
//	unclean.leader.election.enable                  as their topic configs, for topics that do not set them
//	log.cleaner.* (enable, threads, backoff.ms,
//	dedupe.buffer.size, io.max.bytes.per.second)     honoured by the log cleaner
//	log.retention.check.interval.ms                 honoured
//	max.connections, max.connections.per.ip         honoured by the connection-limit work of issue 10
//	metadata.log.max.record.bytes.between.snapshots honoured by the metadata-log work of issue 10
//	offsets.*, transaction.*, transactional.id.*    honoured (group and transaction coordinators)
//	producer.id.expiration.*                        honoured by the producer-state work of issue 10
//	replica.lag.time.max.ms                         honoured
//	socket.request.max.bytes                        honoured
package configs

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrUnknown is returned for a config name that is not defined.
var ErrUnknown = errors.New("configs: unknown config")

// ErrInvalid is returned for a value a config does not accept.
var ErrInvalid = errors.New("configs: invalid value")

// ErrUnsupported is returned, wrapped, for a valid Kafka value of a config
// whose feature the embedded broker does not have (see the package
// documentation). It wraps ErrInvalid.
var ErrUnsupported = fmt.Errorf("%w: not supported by the embedded broker", ErrInvalid)

// Def defines one config.
type Def struct {
	Name    string
	Type    kmsg.ConfigType
	Default string
	// Broker is, for a topic config, the broker config that supplies its
	// default (Kafka's "synonym").
	Broker string
	Doc    string
	// Enum, when set, lists the accepted values (each element of a list).
	Enum []string
	// Min and Max bound numeric values.
	Min, Max *float64
	// Only, when not nil, lists the only values the embedded broker
	// accepts (compared as numbers for numeric types): the default, and
	// perhaps a value that means what the broker does anyway. Refused
	// says why the others are refused, for the error.
	Only    []string
	Refused string
	// PerListener configs may also be given for one listener, prefixed
	// with listener.name.<name>.
	PerListener bool
}

func minOf(v float64) *float64 { return &v }

// maxOf is minOf's counterpart, for Def.Max.
func maxOf(v float64) *float64 { return &v }

// Validate checks a value against the definition.
func (d *Def) Validate(v string) error {
	bad := func(why string) error {
		if d.Type == kmsg.ConfigTypePassword {
			return fmt.Errorf("%w: %s=[hidden]: %s", ErrInvalid, d.Name, why)
		}
		return fmt.Errorf("%w: %s=%q: %s", ErrInvalid, d.Name, v, why)
	}
	var num float64
	switch d.Type {
	case kmsg.ConfigTypeBoolean:
		if v != "true" && v != "false" {
			return bad("must be true or false")
		}
		return d.supported(v)
	case kmsg.ConfigTypeInt, kmsg.ConfigTypeShort:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return bad("must be a 32-bit integer")
		}
		num = float64(n)
	case kmsg.ConfigTypeLong:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad("must be a 64-bit integer")
		}
		num = float64(n)
	case kmsg.ConfigTypeDouble:
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return bad("must be a number")
		}
		num = n
	case kmsg.ConfigTypeList:
		if len(d.Enum) > 0 {
			for _, e := range SplitList(v) {
				if !slices.Contains(d.Enum, e) {
					return bad("elements must be among " + strings.Join(d.Enum, ", "))
				}
			}
		}
		return d.supported(v)
	default:
		if len(d.Enum) > 0 && !slices.Contains(d.Enum, v) {
			return bad("must be one of " + strings.Join(d.Enum, ", "))
		}
		return d.supported(v)
	}
	if d.Min != nil && num < *d.Min {
		return bad(fmt.Sprintf("must be at least %v", *d.Min))
	}
	if d.Max != nil && num > *d.Max {
		return bad(fmt.Sprintf("must be at most %v", *d.Max))
	}
	return d.supported(v)
}

// supported checks v against Only.
func (d *Def) supported(v string) error {
	if d.Only == nil {
		return nil
	}
	for _, o := range d.Only {
		if sameValue(d.Type, o, v) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s=%q: %s, so it accepts only %s", ErrUnsupported, d.Name, v, d.Refused, strings.Join(d.Only, " or "))
}

// sameValue compares two valid values of a config type.
func sameValue(t kmsg.ConfigType, a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch t {
	case kmsg.ConfigTypeInt, kmsg.ConfigTypeShort, kmsg.ConfigTypeLong:
		x, errX := strconv.ParseInt(a, 10, 64)
		y, errY := strconv.ParseInt(b, 10, 64)
		return errX == nil && errY == nil && x == y
	case kmsg.ConfigTypeDouble:
		x, errX := strconv.ParseFloat(a, 64)
		y, errY := strconv.ParseFloat(b, 64)
		return errX == nil && errY == nil && x == y
	}
	return a == b
}

// SplitList splits a comma-separated list value, trimming blanks.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

const (
	maxLong = "9223372036854775807"
	week    = "604800000"
)

// Why configs are refused (Def.Refused).
const (
	noPrealloc = "the embedded broker does not preallocate segment files"
	noDelay    = "the embedded broker deletes segment files at once (as 0 says)"
)

var topicDefs = []Def{
	{Name: "cleanup.policy", Type: kmsg.ConfigTypeList, Default: "delete", Broker: "log.cleanup.policy", Enum: []string{"delete", "compact"}, Doc: "A list: with delete, segments past retention.ms or retention.bytes are removed; with compact, records need keys and the log cleaner keeps the latest record of each key."},
	{Name: "compression.type", Type: kmsg.ConfigTypeString, Default: "producer", Broker: "compression.type", Enum: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}, Doc: "producer stores batches as the producer compressed them; a codec recompresses every produced batch in another codec on append."},
	{Name: "delete.retention.ms", Type: kmsg.ConfigTypeLong, Default: "86400000", Broker: "log.cleaner.delete.retention.ms", Min: minOf(0), Doc: "How long the cleaner keeps tombstones (and the markers of transactions it removed) after the cleaning that first kept them, for consumers to see them."},
	{Name: "file.delete.delay.ms", Type: kmsg.ConfigTypeLong, Default: "60000", Broker: "log.segment.delete.delay.ms", Min: minOf(0), Only: []string{"60000", "0"}, Refused: noDelay, Doc: "Only the default or 0: segment files are deleted at once."},
	{Name: "flush.messages", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.flush.interval.messages", Min: minOf(1), Doc: "fsync once this many records are not yet fsynced; 1 fsyncs every append."},
	{Name: "flush.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.flush.interval.ms", Min: minOf(0), Doc: "fsync interval; the maximum means never (the OS decides)."},
	{Name: "index.interval.bytes", Type: kmsg.ConfigTypeInt, Default: "4096", Broker: "log.index.interval.bytes", Min: minOf(0)},
	{Name: "max.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.cleaner.max.compaction.lag.ms", Min: minOf(1), Doc: "A compacted log whose oldest uncleaned record is older than this is cleaned whatever its dirty ratio."},
	{Name: "max.message.bytes", Type: kmsg.ConfigTypeInt, Default: "1048588", Broker: "message.max.bytes", Min: minOf(0)},
	{Name: "message.timestamp.type", Type: kmsg.ConfigTypeString, Default: "CreateTime", Broker: "log.message.timestamp.type", Enum: []string{"CreateTime", "LogAppendTime"}},
	{Name: "message.timestamp.before.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.message.timestamp.before.max.ms", Min: minOf(0), Doc: "With CreateTime, a batch holding a record timestamp more than this before the broker's time is refused (INVALID_TIMESTAMP)."},
	{Name: "message.timestamp.after.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.message.timestamp.after.max.ms", Min: minOf(0), Doc: "With CreateTime, a batch holding a record timestamp more than this after the broker's time is refused (INVALID_TIMESTAMP)."},
	{Name: "min.cleanable.dirty.ratio", Type: kmsg.ConfigTypeDouble, Default: "0.5", Broker: "log.cleaner.min.cleanable.ratio", Min: minOf(0), Max: maxOf(1), Doc: "A compacted log is cleaned once its uncleaned bytes are at least this share of its cleanable bytes."},
	{Name: "min.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: "0", Broker: "log.cleaner.min.compaction.lag.ms", Min: minOf(0), Doc: "Records younger than this are never compacted."},
	{Name: "min.insync.replicas", Type: kmsg.ConfigTypeInt, Default: "1", Broker: "min.insync.replicas", Min: minOf(1)},
	{Name: "preallocate", Type: kmsg.ConfigTypeBoolean, Default: "false", Broker: "log.preallocate", Only: []string{"false"}, Refused: noPrealloc, Doc: "Only false: " + noPrealloc + "."},
	{Name: "retention.bytes", Type: kmsg.ConfigTypeLong, Default: "-1", Broker: "log.retention.bytes", Doc: "With cleanup.policy delete, the oldest segments go while the rest still hold this much; -1 means no limit."},
	{Name: "retention.ms", Type: kmsg.ConfigTypeLong, Default: week, Broker: "log.retention.ms", Min: minOf(-1), Doc: "With cleanup.policy delete, a segment whose newest timestamp is older than this goes; -1 means no limit."},
	{Name: "segment.bytes", Type: kmsg.ConfigTypeInt, Default: "1073741824", Broker: "log.segment.bytes", Min: minOf(14)},
	{Name: "segment.index.bytes", Type: kmsg.ConfigTypeInt, Default: "10485760", Broker: "log.index.size.max.bytes", Min: minOf(4), Doc: "A segment rolls when its offset index (8 bytes an entry) or time index (12 bytes an entry, one kept for the roll) would outgrow this."},
	{Name: "segment.jitter.ms", Type: kmsg.ConfigTypeLong, Default: "0", Broker: "log.roll.jitter.ms", Min: minOf(0), Doc: "Each segment rolls by time a random amount below this (and below segment.ms) early."},
	{Name: "segment.ms", Type: kmsg.ConfigTypeLong, Default: week, Broker: "log.roll.ms", Min: minOf(1)},
	{Name: "unclean.leader.election.enable", Type: kmsg.ConfigTypeBoolean, Default: "false", Broker: "unclean.leader.election.enable"},
}

var brokerDefs = withSecurity([]Def{
	{Name: "auto.create.topics.enable", Type: kmsg.ConfigTypeBoolean, Default: "true"},
	{Name: "auto.leader.rebalance.enable", Type: kmsg.ConfigTypeBoolean, Default: "true"},
	{Name: "broker.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "100", Min: minOf(1), Doc: "100 here (Kafka: 2000)."},
	{Name: "broker.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "600", Min: minOf(1), Doc: "A broker silent this long is fenced and its partitions get new leaders; 600 here (Kafka: 9000) so failover takes under a second."},
	{Name: "compression.type", Type: kmsg.ConfigTypeString, Default: "producer", Enum: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}},
	{Name: "connections.max.idle.ms", Type: kmsg.ConfigTypeLong, Default: "600000", Min: minOf(-1), Doc: "A connection silent this long is closed; -1 never closes idle connections."},
	{Name: "default.replication.factor", Type: kmsg.ConfigTypeInt, Default: "1", Min: minOf(1)},
	{Name: "delete.topic.enable", Type: kmsg.ConfigTypeBoolean, Default: "true", Doc: "false refuses every DeleteTopics (TOPIC_DELETION_DISABLED)."},
	{Name: "fetch.max.bytes", Type: kmsg.ConfigTypeInt, Default: "57671680", Min: minOf(1024), Doc: "The most a fetch response holds, whatever the request asks (at least one batch)."},
	{Name: "group.consumer.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "1000", Min: minOf(1), Doc: "The heartbeat interval of KIP-848 consumer groups: how soon members learn of a new assignment. 1000 here (Kafka: 5000) so that tests rebalance quickly; must be below group.consumer.session.timeout.ms."},
	{Name: "group.consumer.max.size", Type: kmsg.ConfigTypeInt, Default: "2147483647", Min: minOf(1)},
	{Name: "group.consumer.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "45000", Min: minOf(1)},
	{Name: "group.initial.rebalance.delay.ms", Type: kmsg.ConfigTypeInt, Default: "0", Min: minOf(0), Doc: "0 here (Kafka: 3000) so that tests rebalance at once."},
	{Name: "group.max.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "1800000", Min: minOf(0)},
	{Name: "group.max.size", Type: kmsg.ConfigTypeInt, Default: "2147483647", Min: minOf(1)},
	{Name: "group.min.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "6000", Min: minOf(0)},
	{Name: "log.cleaner.backoff.ms", Type: kmsg.ConfigTypeLong, Default: "15000", Min: minOf(0), Doc: "How long an idle cleaner goroutine sleeps before it looks for dirty logs again."},
	{Name: "log.cleaner.dedupe.buffer.size", Type: kmsg.ConfigTypeLong, Default: "134217728", Min: minOf(1024), Doc: "Memory for the cleaners' offset maps, shared by the log.cleaner.threads goroutines: how many keys one cleaning can deduplicate."},
	{Name: "log.cleaner.delete.retention.ms", Type: kmsg.ConfigTypeLong, Default: "86400000", Min: minOf(0)},
	{Name: "log.cleaner.enable", Type: kmsg.ConfigTypeBoolean, Default: "true", Doc: "false runs no cleaner: compacted topics keep everything."},
	{Name: "log.cleaner.io.max.bytes.per.second", Type: kmsg.ConfigTypeDouble, Default: "1.7976931348623157E308", Min: minOf(1), Doc: "The cleaners' read rate, over all their goroutines."},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(1)},
	{Name: "log.cleaner.min.cleanable.ratio", Type: kmsg.ConfigTypeDouble, Default: "0.5", Min: minOf(0), Max: maxOf(1)},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: "0", Min: minOf(0)},
	{Name: "log.cleaner.threads", Type: kmsg.ConfigTypeInt, Default: "1", Min: minOf(0), Doc: "Cleaner goroutines per node; 0 runs none."},
	{Name: "log.cleanup.policy", Type: kmsg.ConfigTypeList, Default: "delete", Enum: []string{"delete", "compact"}},
	{Name: "log.flush.interval.messages", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(1)},
	{Name: "log.flush.interval.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(0)},
	{Name: "log.index.interval.bytes", Type: kmsg.ConfigTypeInt, Default: "4096", Min: minOf(0)},
	{Name: "log.index.size.max.bytes", Type: kmsg.ConfigTypeInt, Default: "10485760", Min: minOf(4)},
	{Name: "log.message.timestamp.after.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(0)},
	{Name: "log.message.timestamp.before.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(0)},
	{Name: "log.message.timestamp.type", Type: kmsg.ConfigTypeString, Default: "CreateTime", Enum: []string{"CreateTime", "LogAppendTime"}},
	{Name: "log.preallocate", Type: kmsg.ConfigTypeBoolean, Default: "false", Only: []string{"false"}, Refused: noPrealloc, Doc: "Only false: " + noPrealloc + "."},
	{Name: "log.retention.bytes", Type: kmsg.ConfigTypeLong, Default: "-1"},
	{Name: "log.retention.check.interval.ms", Type: kmsg.ConfigTypeLong, Default: "300000", Min: minOf(1)},
	{Name: "log.retention.ms", Type: kmsg.ConfigTypeLong, Default: week, Min: minOf(-1)},
	{Name: "log.roll.jitter.ms", Type: kmsg.ConfigTypeLong, Default: "0", Min: minOf(0)},
	{Name: "log.roll.ms", Type: kmsg.ConfigTypeLong, Default: week, Min: minOf(1)},
	{Name: "log.segment.bytes", Type: kmsg.ConfigTypeInt, Default: "1073741824", Min: minOf(14)},
	{Name: "log.segment.delete.delay.ms", Type: kmsg.ConfigTypeLong, Default: "60000", Min: minOf(0), Only: []string{"60000", "0"}, Refused: noDelay, Doc: "Only the default or 0: segment files are deleted at once."},
	{Name: "max.connections", Type: kmsg.ConfigTypeInt, Default: "2147483647", Min: minOf(0), Doc: "Client connections a node accepts at once; connections beyond it are closed at once. The nodes' own replication connections do not count."},
	{Name: "max.connections.per.ip", Type: kmsg.ConfigTypeInt, Default: "2147483647", Min: minOf(0), Doc: "Client connections a node accepts at once from one IP address; connections beyond it are closed at once."},
	{Name: "max.incremental.fetch.session.cache.slots", Type: kmsg.ConfigTypeInt, Default: "1000", Min: minOf(0), Doc: "Fetch sessions (KIP-227) a node keeps at once; 0 declines every session, so that clients send full fetches."},
	{Name: "message.max.bytes", Type: kmsg.ConfigTypeInt, Default: "1048588", Min: minOf(0)},
	{Name: "metadata.log.max.record.bytes.between.snapshots", Type: kmsg.ConfigTypeLong, Default: "20971520", Min: minOf(1), Doc: "The controller writes a snapshot of the cluster metadata after this many bytes of metadata records, so that a restart replays only the records since."},
	{Name: "min.insync.replicas", Type: kmsg.ConfigTypeInt, Default: "1", Min: minOf(1)},
	{Name: "num.partitions", Type: kmsg.ConfigTypeInt, Default: "1", Min: minOf(1)},
	{Name: "offsets.retention.check.interval.ms", Type: kmsg.ConfigTypeLong, Default: "600000", Min: minOf(1)},
	{Name: "offsets.retention.minutes", Type: kmsg.ConfigTypeInt, Default: "10080", Min: minOf(1)},
	{Name: "offsets.topic.num.partitions", Type: kmsg.ConfigTypeInt, Default: "50", Min: minOf(1)},
	{Name: "offsets.topic.replication.factor", Type: kmsg.ConfigTypeShort, Default: "3", Min: minOf(1), Doc: "Capped at what the cluster can provide."},
	{Name: "offsets.topic.segment.bytes", Type: kmsg.ConfigTypeInt, Default: "104857600", Min: minOf(14)},
	{Name: "producer.id.expiration.check.interval.ms", Type: kmsg.ConfigTypeInt, Default: "600000", Min: minOf(1)},
	{Name: "producer.id.expiration.ms", Type: kmsg.ConfigTypeInt, Default: "86400000", Min: minOf(1), Doc: "A partition forgets an idempotent producer this long after its last write."},
	{Name: "replica.lag.time.max.ms", Type: kmsg.ConfigTypeLong, Default: "30000", Min: minOf(1)},
	{Name: "socket.request.max.bytes", Type: kmsg.ConfigTypeInt, Default: "104857600", Min: minOf(1024)},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: kmsg.ConfigTypeInt, Default: "10000", Min: minOf(1)},
	{Name: "transaction.max.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "900000", Min: minOf(1)},
	{Name: "transaction.state.log.min.isr", Type: kmsg.ConfigTypeInt, Default: "2", Min: minOf(1), Doc: "Capped at the replication factor of the topic."},
	{Name: "transaction.state.log.num.partitions", Type: kmsg.ConfigTypeInt, Default: "50", Min: minOf(1)},
	{Name: "transaction.state.log.replication.factor", Type: kmsg.ConfigTypeShort, Default: "3", Min: minOf(1), Doc: "Capped at what the cluster can provide."},
	{Name: "transaction.state.log.segment.bytes", Type: kmsg.ConfigTypeInt, Default: "104857600", Min: minOf(14)},
	{Name: "transactional.id.expiration.ms", Type: kmsg.ConfigTypeInt, Default: "604800000", Min: minOf(1)},
	{Name: "unclean.leader.election.enable", Type: kmsg.ConfigTypeBoolean, Default: "false"},
})

var (
	topicIndex  = index(topicDefs)
	brokerIndex = index(brokerDefs)
)

func index(defs []Def) map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for i := range defs {
		m[defs[i].Name] = &defs[i]
	}
	return m
}

// TopicDef returns the definition of a topic config.
func TopicDef(name string) (*Def, bool) { d, ok := topicIndex[name]; return d, ok }

// BrokerDef returns the definition of a broker config; for a
// listener-prefixed name (listener.name.<l>.<config>), that of <config>
// when it may be given per listener.
func BrokerDef(name string) (*Def, bool) {
	if d, ok := brokerIndex[name]; ok {
		return d, true
	}
	if _, _, config, ok := SplitListenerConfig(name); ok {
		if d, ok := brokerIndex[config]; ok && d.PerListener {
			return d, true
		}
	}
	return nil, false
}

// TopicDefs returns every topic config definition, sorted by name.
func TopicDefs() []Def { return topicDefs }

// BrokerDefs returns every broker config definition, sorted by name.
func BrokerDefs() []Def { return brokerDefs }

// ValidateTopic checks a set of topic configs, naming the first bad one.
func ValidateTopic(cfg map[string]string) error {
	for k, v := range cfg {
		d, ok := TopicDef(k)
		if !ok {
			return fmt.Errorf("%w: topic config %q", ErrUnknown, k)
		}
		if err := d.Validate(v); err != nil {
			return err
		}
	}
	return nil
}

// Broker is a broker's static configuration: the values set at start over
// the defaults. It is immutable once built.
type Broker struct {
	set map[string]string
}

// NewBroker validates the given broker configs and returns them.
func NewBroker(set map[string]string) (*Broker, error) {
	b := &Broker{set: make(map[string]string, len(set))}
	for k, v := range set {
		d, ok := BrokerDef(k)
		if !ok {
			return nil, fmt.Errorf("%w: broker config %q", ErrUnknown, k)
		}
		if err := d.Validate(v); err != nil {
			return nil, err
		}
		b.set[k] = v
	}
	if hb, s := b.Int("group.consumer.heartbeat.interval.ms"), b.Int("group.consumer.session.timeout.ms"); hb >= s {
		return nil, fmt.Errorf("%w: group.consumer.heartbeat.interval.ms (%d) must be less than group.consumer.session.timeout.ms (%d)", ErrInvalid, hb, s)
	}
	return b, nil
}

// Get returns a broker config's value and whether it was set explicitly.
func (b *Broker) Get(name string) (string, bool) {
	if v, ok := b.set[name]; ok {
		return v, true
	}
	if d, ok := BrokerDef(name); ok {
		return d.Default, false
	}
	return "", false
}

// Int returns a numeric broker config; it panics on an undefined name, which
// is a programming error.
func (b *Broker) Int(name string) int64 {
	v, _ := b.Get(name)
	if _, ok := BrokerDef(name); !ok {
		panic("configs: undefined broker config " + name)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

// Float returns a numeric broker config as a float64 (a DOUBLE).
func (b *Broker) Float(name string) float64 {
	v, _ := b.Get(name)
	if _, ok := BrokerDef(name); !ok {
		panic("configs: undefined broker config " + name)
	}
	f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return f
}

// TopicFloat returns a numeric topic config as a float64.
func (b *Broker) TopicFloat(topicCfg map[string]string, name string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(b.Topic(topicCfg, name).Value), 64)
	return f
}

// Bool returns a boolean broker config.
func (b *Broker) Bool(name string) bool { v, _ := b.Get(name); return v == "true" }

// Millis returns a broker config in milliseconds as a duration.
func (b *Broker) Millis(name string) time.Duration { return Millis(b.Int(name)) }

// Millis converts milliseconds to a duration, saturating at the maximum
// (Kafka uses Long.MAX_VALUE for "never").
func Millis(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

// Value is a topic config's effective value and where it came from.
type Value struct {
	Def    *Def
	Value  string
	Source kmsg.ConfigSource
}

// Topic resolves a topic config: the topic's own value if set, else the
// broker's, else the default.
func (b *Broker) Topic(topicCfg map[string]string, name string) Value {
	d, ok := TopicDef(name)
	if !ok {
		return Value{}
	}
	if v, ok := topicCfg[name]; ok {
		return Value{d, v, kmsg.ConfigSourceDynamicTopicConfig}
	}
	if v, ok := b.set[d.Broker]; ok {
		return Value{d, v, kmsg.ConfigSourceStaticBrokerConfig}
	}
	if bd, ok := BrokerDef(d.Broker); ok {
		return Value{d, bd.Default, kmsg.ConfigSourceDefaultConfig}
	}
	return Value{d, d.Default, kmsg.ConfigSourceDefaultConfig}
}

// TopicInt resolves a numeric topic config.
func (b *Broker) TopicInt(topicCfg map[string]string, name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(b.Topic(topicCfg, name).Value), 10, 64)
	return n
}

// TopicString resolves a string topic config.
func (b *Broker) TopicString(topicCfg map[string]string, name string) string {
	return b.Topic(topicCfg, name).Value
}

// Compacted reports whether a topic's cleanup.policy includes compact:
// its records need keys.
func (b *Broker) Compacted(topicCfg map[string]string) bool {
	return slices.Contains(SplitList(b.TopicString(topicCfg, "cleanup.policy")), "compact")
}

// Deletes reports whether a topic's cleanup.policy includes delete: only
// then do retention.ms and retention.bytes remove its old segments.
func (b *Broker) Deletes(topicCfg map[string]string) bool {
	return slices.Contains(SplitList(b.TopicString(topicCfg, "cleanup.policy")), "delete")
}
