package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// resourceGroup is the GROUP config resource type (KIP-848, KIP-932).
const resourceGroup = 32

// groupConfigDefs are the dynamic group configs this broker takes: the
// share group ones of Kafka's GroupConfig (4.1, and KIP-1240's
// share.delivery.count.limit and share.partition.max.record.locks), each
// with the broker config that gives its default. Kafka's consumer.* and
// streams.* group configs, share.isolation.level (read_committed is not
// served to share groups) and share.renew.acknowledge.enable are not
// taken (INVALID_CONFIG). The share partition configs apply to the share
// partitions a leader loads after the change (Kafka applies them at
// once).
var groupConfigDefs = []configs.Def{
	{Name: "share.auto.offset.reset", Type: kmsg.ConfigTypeString, Default: "latest",
		Doc: "Where a share group starts reading a partition it has no state for: latest, earliest or by_duration:<ISO-8601 duration>."},
	{Name: "share.delivery.count.limit", Type: kmsg.ConfigTypeInt, Broker: "group.share.delivery.count.limit", Min: minF(2), Max: minF(10),
		Doc: "How many times the share group delivers a record before archiving it (KIP-1240)."},
	{Name: "share.partition.max.record.locks", Type: kmsg.ConfigTypeInt, Broker: "group.share.partition.max.record.locks", Min: minF(100), Max: minF(10000),
		Doc: "The in-flight records of one of the share group's partitions at most (KIP-1240)."},
	{Name: "share.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Broker: "group.share.heartbeat.interval.ms", Min: minF(1),
		Doc: "The share group's heartbeat interval; applies to groups loaded or created after the change."},
	{Name: "share.record.lock.duration.ms", Type: kmsg.ConfigTypeInt, Broker: "group.share.record.lock.duration.ms", Min: minF(1000), Max: minF(3600000),
		Doc: "How long a member holds the records it acquired; applies to share partitions loaded after the change."},
	{Name: "share.session.timeout.ms", Type: kmsg.ConfigTypeInt, Broker: "group.share.session.timeout.ms", Min: minF(1),
		Doc: "The share group's session timeout; applies to groups loaded or created after the change."},
}

func minF(v float64) *float64 { return &v }

func groupConfigDef(name string) (*configs.Def, bool) {
	i := slices.IndexFunc(groupConfigDefs, func(d configs.Def) bool { return d.Name == name })
	if i < 0 {
		return nil, false
	}
	return &groupConfigDefs[i], true
}

// groupConfigDefault is a group config's value when the group does not
// set it: its broker synonym's.
func (n *Node) groupConfigDefault(d *configs.Def) (string, kmsg.ConfigSource) {
	if d.Broker == "" {
		return d.Default, kmsg.ConfigSourceDefaultConfig
	}
	v, set := n.cfg.Broker.Get(d.Broker)
	if set {
		return v, kmsg.ConfigSourceStaticBrokerConfig
	}
	return v, kmsg.ConfigSourceDefaultConfig
}

// groupConfig returns a group config's effective value.
func (n *Node) groupConfig(img *controller.Image, group, name string) string {
	if v, ok := img.GroupConfigs(group)[name]; ok {
		return v
	}
	d, _ := groupConfigDef(name)
	v, _ := n.groupConfigDefault(d)
	return v
}

// groupConfigMillis returns a millisecond group config as a duration.
func (n *Node) groupConfigMillis(img *controller.Image, group, name string) time.Duration {
	ms, err := strconv.ParseInt(n.groupConfig(img, group, name), 10, 64)
	if err != nil {
		return 0
	}
	return configs.Millis(ms)
}

// describeGroupConfigs answers DescribeConfigs for a GROUP resource: every
// group config, set or not (Kafka describes a group whether it exists or
// not).
func (n *Node) describeGroupConfigs(img *controller.Image, rr kmsg.DescribeConfigsRequestResource,
	add func(name, value string, src kmsg.ConfigSource, d *configs.Def, synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym)) {
	set := img.GroupConfigs(rr.ResourceName)
	for i := range groupConfigDefs {
		d := &groupConfigDefs[i]
		if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, d.Name) {
			continue
		}
		def, defSrc := n.groupConfigDefault(d)
		var syn []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		v, src := def, defSrc
		if gv, ok := set[d.Name]; ok {
			v, src = gv, kmsg.ConfigSourceGroupConfig
			syn = append(syn, synonym(d.Name, gv, src))
		}
		if d.Broker != "" {
			syn = append(syn, synonym(d.Broker, def, defSrc))
		}
		add(d.Name, v, src, d, syn)
	}
}

// alterGroupConfigs applies IncrementalAlterConfigs to a GROUP resource:
// SET and DELETE of the group configs, validated (names, types, ranges,
// share.auto.offset.reset's syntax, the heartbeat interval below the
// session timeout), stored in the cluster metadata.
func (n *Node) alterGroupConfigs(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if rr.ResourceName == "" {
		return fmt.Errorf("%w: empty group name", configs.ErrInvalid)
	}
	return n.ctrl.AlterGroupConfigs(ctx, rr.ResourceName, func(cur map[string]string) (map[string]string, error) {
		for _, c := range rr.Configs {
			d, ok := groupConfigDef(c.Name)
			if !ok {
				return nil, fmt.Errorf("%w: group config %q", configs.ErrUnknown, c.Name)
			}
			switch c.Op {
			case opSet:
				if c.Value == nil {
					return nil, fmt.Errorf("%w: group config %s set to null", configs.ErrInvalid, c.Name)
				}
				if err := d.Validate(*c.Value); err != nil {
					return nil, err
				}
				if d.Name == "share.auto.offset.reset" {
					if _, err := sharegroup.ParseAutoOffsetReset(*c.Value); err != nil {
						return nil, fmt.Errorf("%w: group config share.auto.offset.reset: %w", configs.ErrInvalid, err)
					}
				}
				cur[c.Name] = *c.Value
			case opDelete:
				delete(cur, c.Name)
			default:
				return nil, fmt.Errorf("%w: group config %s: only SET and DELETE apply", configs.ErrInvalid, c.Name)
			}
		}
		eff := func(name string) int64 {
			v, ok := cur[name]
			if !ok {
				d, _ := groupConfigDef(name)
				v, _ = n.groupConfigDefault(d)
			}
			i, _ := strconv.ParseInt(v, 10, 64)
			return i
		}
		if hb, s := eff("share.heartbeat.interval.ms"), eff("share.session.timeout.ms"); hb >= s {
			return nil, fmt.Errorf("%w: group %s: share.heartbeat.interval.ms (%d) must be less than share.session.timeout.ms (%d)",
				configs.ErrInvalid, rr.ResourceName, hb, s)
		}
		return cur, nil
	}, validateOnly)
}
