// Package configs defines the Kafka broker and topic configurations the
// embedded broker knows: their names, types, defaults, the broker config a
// topic config falls back to, and how values are validated. DescribeConfigs,
// CreateTopics, AlterConfigs and the log storage all read from here, so a
// config means the same thing everywhere.
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
	// Min bounds numeric values from below.
	Min *float64
}

func minOf(v float64) *float64 { return &v }

// Validate checks a value against the definition.
func (d *Def) Validate(v string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrInvalid, d.Name, v, why)
	}
	var num float64
	switch d.Type {
	case kmsg.ConfigTypeBoolean:
		if v != "true" && v != "false" {
			return bad("must be true or false")
		}
		return nil
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
		return nil
	default:
		if len(d.Enum) > 0 && !slices.Contains(d.Enum, v) {
			return bad("must be one of " + strings.Join(d.Enum, ", "))
		}
		return nil
	}
	if d.Min != nil && num < *d.Min {
		return bad(fmt.Sprintf("must be at least %v", *d.Min))
	}
	return nil
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

var topicDefs = []Def{
	{Name: "cleanup.policy", Type: kmsg.ConfigTypeList, Default: "delete", Broker: "log.cleanup.policy", Enum: []string{"delete", "compact"}, Doc: "delete: segments past retention are removed; compact: records need keys."},
	{Name: "compression.type", Type: kmsg.ConfigTypeString, Default: "producer", Broker: "compression.type", Enum: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}, Doc: "Only producer is honoured: batches are stored as the producer compressed them."},
	{Name: "delete.retention.ms", Type: kmsg.ConfigTypeLong, Default: "86400000", Broker: "log.cleaner.delete.retention.ms", Min: minOf(0)},
	{Name: "file.delete.delay.ms", Type: kmsg.ConfigTypeLong, Default: "60000", Broker: "log.segment.delete.delay.ms", Min: minOf(0)},
	{Name: "flush.messages", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.flush.interval.messages", Min: minOf(1), Doc: "1 fsyncs every append; any other value leaves it to flush.ms."},
	{Name: "flush.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.flush.interval.ms", Min: minOf(0), Doc: "fsync interval; the maximum means never (the OS decides)."},
	{Name: "index.interval.bytes", Type: kmsg.ConfigTypeInt, Default: "4096", Broker: "log.index.interval.bytes", Min: minOf(0)},
	{Name: "max.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.cleaner.max.compaction.lag.ms", Min: minOf(1)},
	{Name: "max.message.bytes", Type: kmsg.ConfigTypeInt, Default: "1048588", Broker: "message.max.bytes", Min: minOf(0)},
	{Name: "message.timestamp.type", Type: kmsg.ConfigTypeString, Default: "CreateTime", Broker: "log.message.timestamp.type", Enum: []string{"CreateTime", "LogAppendTime"}},
	{Name: "message.timestamp.before.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.message.timestamp.before.max.ms", Min: minOf(0)},
	{Name: "message.timestamp.after.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Broker: "log.message.timestamp.after.max.ms", Min: minOf(0)},
	{Name: "min.cleanable.dirty.ratio", Type: kmsg.ConfigTypeDouble, Default: "0.5", Broker: "log.cleaner.min.cleanable.ratio", Min: minOf(0)},
	{Name: "min.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: "0", Broker: "log.cleaner.min.compaction.lag.ms", Min: minOf(0)},
	{Name: "min.insync.replicas", Type: kmsg.ConfigTypeInt, Default: "1", Broker: "min.insync.replicas", Min: minOf(1)},
	{Name: "preallocate", Type: kmsg.ConfigTypeBoolean, Default: "false", Broker: "log.preallocate"},
	{Name: "retention.bytes", Type: kmsg.ConfigTypeLong, Default: "-1", Broker: "log.retention.bytes"},
	{Name: "retention.ms", Type: kmsg.ConfigTypeLong, Default: week, Broker: "log.retention.ms", Min: minOf(-1)},
	{Name: "segment.bytes", Type: kmsg.ConfigTypeInt, Default: "1073741824", Broker: "log.segment.bytes", Min: minOf(14)},
	{Name: "segment.index.bytes", Type: kmsg.ConfigTypeInt, Default: "10485760", Broker: "log.index.size.max.bytes", Min: minOf(4)},
	{Name: "segment.jitter.ms", Type: kmsg.ConfigTypeLong, Default: "0", Broker: "log.roll.jitter.ms", Min: minOf(0)},
	{Name: "segment.ms", Type: kmsg.ConfigTypeLong, Default: week, Broker: "log.roll.ms", Min: minOf(1)},
	{Name: "unclean.leader.election.enable", Type: kmsg.ConfigTypeBoolean, Default: "false", Broker: "unclean.leader.election.enable"},
}

var brokerDefs = []Def{
	{Name: "auto.create.topics.enable", Type: kmsg.ConfigTypeBoolean, Default: "true"},
	{Name: "auto.leader.rebalance.enable", Type: kmsg.ConfigTypeBoolean, Default: "true"},
	{Name: "broker.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "100", Min: minOf(1), Doc: "100 here (Kafka: 2000)."},
	{Name: "broker.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "600", Min: minOf(1), Doc: "A broker silent this long is fenced and its partitions get new leaders; 600 here (Kafka: 9000) so failover takes under a second."},
	{Name: "compression.type", Type: kmsg.ConfigTypeString, Default: "producer", Enum: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}},
	{Name: "connections.max.idle.ms", Type: kmsg.ConfigTypeLong, Default: "600000", Min: minOf(-1), Doc: "A connection silent this long is closed; -1 never closes idle connections."},
	{Name: "default.replication.factor", Type: kmsg.ConfigTypeInt, Default: "1", Min: minOf(1)},
	{Name: "delete.topic.enable", Type: kmsg.ConfigTypeBoolean, Default: "true"},
	{Name: "fetch.max.bytes", Type: kmsg.ConfigTypeInt, Default: "57671680", Min: minOf(1024)},
	{Name: "group.initial.rebalance.delay.ms", Type: kmsg.ConfigTypeInt, Default: "0", Min: minOf(0), Doc: "0 here (Kafka: 3000) so that tests rebalance at once."},
	{Name: "group.max.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "1800000", Min: minOf(0)},
	{Name: "group.max.size", Type: kmsg.ConfigTypeInt, Default: "2147483647", Min: minOf(1)},
	{Name: "group.min.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "6000", Min: minOf(0)},
	{Name: "log.cleaner.delete.retention.ms", Type: kmsg.ConfigTypeLong, Default: "86400000"},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: maxLong},
	{Name: "log.cleaner.min.cleanable.ratio", Type: kmsg.ConfigTypeDouble, Default: "0.5"},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: "0"},
	{Name: "log.cleanup.policy", Type: kmsg.ConfigTypeList, Default: "delete", Enum: []string{"delete", "compact"}},
	{Name: "log.flush.interval.messages", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(1)},
	{Name: "log.flush.interval.ms", Type: kmsg.ConfigTypeLong, Default: maxLong, Min: minOf(0)},
	{Name: "log.index.interval.bytes", Type: kmsg.ConfigTypeInt, Default: "4096", Min: minOf(0)},
	{Name: "log.index.size.max.bytes", Type: kmsg.ConfigTypeInt, Default: "10485760", Min: minOf(4)},
	{Name: "log.message.timestamp.after.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong},
	{Name: "log.message.timestamp.before.max.ms", Type: kmsg.ConfigTypeLong, Default: maxLong},
	{Name: "log.message.timestamp.type", Type: kmsg.ConfigTypeString, Default: "CreateTime", Enum: []string{"CreateTime", "LogAppendTime"}},
	{Name: "log.preallocate", Type: kmsg.ConfigTypeBoolean, Default: "false"},
	{Name: "log.retention.bytes", Type: kmsg.ConfigTypeLong, Default: "-1"},
	{Name: "log.retention.check.interval.ms", Type: kmsg.ConfigTypeLong, Default: "300000", Min: minOf(1)},
	{Name: "log.retention.ms", Type: kmsg.ConfigTypeLong, Default: week, Min: minOf(-1)},
	{Name: "log.roll.jitter.ms", Type: kmsg.ConfigTypeLong, Default: "0"},
	{Name: "log.roll.ms", Type: kmsg.ConfigTypeLong, Default: week, Min: minOf(1)},
	{Name: "log.segment.bytes", Type: kmsg.ConfigTypeInt, Default: "1073741824", Min: minOf(14)},
	{Name: "log.segment.delete.delay.ms", Type: kmsg.ConfigTypeLong, Default: "60000"},
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
}

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

// BrokerDef returns the definition of a broker config.
func BrokerDef(name string) (*Def, bool) { d, ok := brokerIndex[name]; return d, ok }

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
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
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
	n, _ := strconv.ParseInt(b.Topic(topicCfg, name).Value, 10, 64)
	return n
}

// TopicString resolves a string topic config.
func (b *Broker) TopicString(topicCfg map[string]string, name string) string {
	return b.Topic(topicCfg, name).Value
}

// Compacted reports whether a topic's cleanup.policy includes compact.
func (b *Broker) Compacted(topicCfg map[string]string) bool {
	return slices.Contains(SplitList(b.TopicString(topicCfg, "cleanup.policy")), "compact")
}
