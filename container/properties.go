package container

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrInvalidProperty is wrapped by New's error for a listener property
// that is unknown or has a bad value.
var ErrInvalidProperty = errors.New("container: invalid listener property")

// Properties lists the Kafka consumer property names a listener's
// properties attribute accepts, mapped to kgo options (Java client
// names, as in Spring's properties attribute):
//
//	fetch.max.bytes, fetch.min.bytes, fetch.max.wait.ms,
//	max.partition.fetch.bytes, session.timeout.ms, heartbeat.interval.ms,
//	max.poll.interval.ms (kgo RebalanceTimeout), auto.offset.reset
//	(earliest|latest|none), isolation.level (read_committed|
//	read_uncommitted), client.id, client.rack, group.instance.id (member i
//	gets "<id>-<i>"), partition.assignment.strategy (range|roundrobin|
//	sticky|cooperative-sticky, comma separated), max.poll.records.
func Properties() []string {
	names := make([]string, 0, len(propertyFuncs)+1)
	for k := range propertyFuncs {
		names = append(names, k)
	}
	names = append(names, "max.poll.records", "group.protocol", "group.remote.assignor")
	sort.Strings(names)
	return names
}

type propFunc func(v string, member int) (kgo.Opt, error)

func intProp(fn func(int32) kgo.Opt) propFunc {
	return func(v string, _ int) (kgo.Opt, error) {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("want a non-negative integer, got %q", v)
		}
		return fn(int32(n)), nil
	}
}

func msProp[O kgo.Opt](fn func(time.Duration) O) propFunc {
	return func(v string, _ int) (kgo.Opt, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("want milliseconds, got %q", v)
		}
		return fn(time.Duration(n) * time.Millisecond), nil
	}
}

var propertyFuncs = map[string]propFunc{
	"fetch.max.bytes":           intProp(func(n int32) kgo.Opt { return kgo.FetchMaxBytes(n) }),
	"fetch.min.bytes":           intProp(func(n int32) kgo.Opt { return kgo.FetchMinBytes(n) }),
	"max.partition.fetch.bytes": intProp(func(n int32) kgo.Opt { return kgo.FetchMaxPartitionBytes(n) }),
	"fetch.max.wait.ms":         msProp(kgo.FetchMaxWait),
	"session.timeout.ms":        msProp(kgo.SessionTimeout),
	"heartbeat.interval.ms":     msProp(kgo.HeartbeatInterval),
	"max.poll.interval.ms":      msProp(kgo.RebalanceTimeout),
	"auto.offset.reset": func(v string, _ int) (kgo.Opt, error) {
		switch strings.ToLower(v) {
		case "earliest":
			return kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), nil
		case "latest":
			return kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), nil
		case "none":
			return kgo.ConsumeResetOffset(kgo.NoResetOffset()), nil
		}
		return nil, fmt.Errorf("want earliest|latest|none, got %q", v)
	},
	"isolation.level": func(v string, _ int) (kgo.Opt, error) {
		switch strings.ToLower(v) {
		case "read_committed":
			return kgo.FetchIsolationLevel(kgo.ReadCommitted()), nil
		case "read_uncommitted":
			return kgo.FetchIsolationLevel(kgo.ReadUncommitted()), nil
		}
		return nil, fmt.Errorf("want read_committed|read_uncommitted, got %q", v)
	},
	"client.id":   func(v string, _ int) (kgo.Opt, error) { return kgo.ClientID(v), nil },
	"client.rack": func(v string, _ int) (kgo.Opt, error) { return kgo.Rack(v), nil },
	"group.instance.id": func(v string, member int) (kgo.Opt, error) {
		return kgo.InstanceID(v + "-" + strconv.Itoa(member)), nil
	},
	"partition.assignment.strategy": func(v string, _ int) (kgo.Opt, error) {
		var bs []kgo.GroupBalancer
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
			switch strings.ToLower(s) {
			case "range":
				bs = append(bs, kgo.RangeBalancer())
			case "roundrobin":
				bs = append(bs, kgo.RoundRobinBalancer())
			case "sticky":
				bs = append(bs, kgo.StickyBalancer())
			case "cooperative-sticky":
				bs = append(bs, kgo.CooperativeStickyBalancer())
			default:
				return nil, fmt.Errorf("unknown strategy %q (want range|roundrobin|sticky|cooperative-sticky)", s)
			}
		}
		if len(bs) == 0 {
			return nil, errors.New("empty strategy list")
		}
		return kgo.Balancers(bs...), nil
	},
}

// propertyOpts converts listener properties for member i; maxPoll is set
// from max.poll.records (0 if absent).
func propertyOpts(props map[string]string, member int) (opts []kgo.Opt, maxPoll int, err error) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := props[k]
		if k == "group.protocol" || k == "group.remote.assignor" {
			continue // see resolveGroupProtocol
		}
		if k == "max.poll.records" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, 0, fmt.Errorf("%w: %s=%s: want a positive integer", ErrInvalidProperty, k, v)
			}
			maxPoll = n
			continue
		}
		fn, ok := propertyFuncs[k]
		if !ok {
			return nil, 0, fmt.Errorf("%w: unknown property %q (known: %s)", ErrInvalidProperty, k, strings.Join(Properties(), ", "))
		}
		o, err := fn(v, member)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %s: %w", ErrInvalidProperty, k, err)
		}
		opts = append(opts, o)
	}
	return opts, maxPoll, nil
}
