package container

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Group protocols a listener's consumers join their group with (Kafka's
// group.protocol).
const (
	// GroupProtocolClassic is the classic protocol: JoinGroup and
	// SyncGroup, the assignment computed by the client (the default).
	GroupProtocolClassic = "classic"
	// GroupProtocolConsumer is KIP-848's consumer group protocol (Kafka
	// 4.0+): the broker assigns partitions, incrementally, with no
	// stop-the-world rebalance.
	GroupProtocolConsumer = "consumer"
)

// groupProtocol is the group protocol of a listener and, for the consumer
// protocol, the broker-side assignor (Kafka's group.remote.assignor:
// uniform or range; "" lets the broker choose).
type groupProtocol struct {
	protocol, assignor string
	// classicOnly names the settings of the container's client options
	// that only the classic protocol takes (WithClassicGroupSettings).
	classicOnly []string
}

// resolveGroupProtocol combines the container default (WithGroupProtocol),
// the listener's properties (group.protocol, group.remote.assignor) and its
// groupprotocol tag attribute, each overriding the one before, and checks
// the result as Kafka's consumer does: the consumer protocol takes no
// client-side assignor or session settings.
func resolveGroupProtocol(def groupProtocol, props map[string]string, attr string) (groupProtocol, error) {
	gp := def
	if v, ok := props["group.protocol"]; ok {
		gp.protocol = v
	}
	if v, ok := props["group.remote.assignor"]; ok {
		gp.assignor = v
	}
	if attr != "" {
		gp.protocol = attr
	}
	gp.protocol = strings.ToLower(strings.TrimSpace(gp.protocol))
	gp.assignor = strings.ToLower(strings.TrimSpace(gp.assignor))
	switch gp.protocol {
	case "", GroupProtocolClassic:
		if gp.assignor != "" {
			return gp, fmt.Errorf("group.remote.assignor %q needs group.protocol=consumer", gp.assignor)
		}
		return gp, nil
	case GroupProtocolConsumer:
	default:
		return gp, fmt.Errorf("group protocol %q: want classic or consumer", gp.protocol)
	}
	switch gp.assignor {
	case "", "uniform", "range":
	default:
		return gp, fmt.Errorf("group.remote.assignor %q: want uniform or range", gp.assignor)
	}
	var set []string
	for _, k := range []string{"partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"} {
		if _, ok := props[k]; ok {
			set = append(set, k)
		}
	}
	if set = append(set, gp.classicOnly...); len(set) > 0 {
		return gp, fmt.Errorf("%s is not supported with group.protocol=consumer: the broker assigns partitions and sets the session timeout and heartbeat interval (group.consumer.*)", set[0])
	}
	return gp, nil
}

// opts returns the client options of the protocol. franz-go joins with the
// consumer protocol when asked to (kgo.ServerSideBalancer) and its first
// balancer is the sticky or range one, whose names it sends as the
// broker-side assignor (uniform, range). Against a broker without
// ConsumerGroupHeartbeat v1 franz-go falls back to the classic protocol.
func (gp groupProtocol) opts() []kgo.Opt {
	if gp.protocol != GroupProtocolConsumer {
		return nil
	}
	b := kgo.StickyBalancer()
	if gp.assignor == "range" {
		b = kgo.RangeBalancer()
	}
	return []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(b)}
}
