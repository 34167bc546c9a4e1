package consumergroup

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// memberTypeConsumer is ConsumerGroupDescribe v1's MemberType of a member
// of the consumer protocol (classic members are 0).
const memberTypeConsumer int8 = 1

// Describe returns the group as ConsumerGroupDescribe describes it
// (Kafka's asDescribedGroup), members sorted by ID. Topic names come from
// topics, else from the subscription metadata; partitions of topics known
// to neither are left out, as Kafka leaves out topics not in its image.
// AuthorizedOperations keeps its default (not requested); the caller
// fills it, and the error code, as it sees fit.
func (g *Group) Describe(topics TopicMetadata) kmsg.ConsumerGroupDescribeResponseGroup {
	names := make(map[TopicID]string, len(topics)+len(g.subMeta))
	for _, t := range g.subMeta {
		names[t.ID] = t.Name
	}
	for name, t := range topics {
		names[t.ID] = name
	}
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.Group = g.id
	d.State = g.State().String()
	d.Epoch = g.epoch
	d.AssignmentEpoch = g.assignmentEpoch
	d.AssignorName = g.AssignorName()
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID = m.ID
		dm.InstanceID = optional(m.InstanceID)
		dm.RackID = optional(m.RackID)
		dm.MemberEpoch = m.Epoch
		dm.ClientID = m.ClientID
		dm.ClientHost = m.ClientHost
		dm.SubscribedTopics = slices.Clone(m.SubscribedTopicNames)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		dm.SubscribedTopicRegex = optional(m.SubscribedTopicRegex)
		dm.Assignment = describeAssignment(m.Assigned, names)
		dm.TargetAssignment = describeAssignment(g.target[id], names)
		dm.MemberType = memberTypeConsumer
		d.Members = append(d.Members, dm)
	}
	return d
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func describeAssignment(a Assignment, names map[TopicID]string) kmsg.Assignment {
	da := kmsg.NewAssignment()
	da.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for t, ps := range a {
		name, ok := names[t]
		if !ok {
			continue
		}
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID = t
		tp.Topic = name
		tp.Partitions = slices.Clone(ps)
		da.TopicPartitions = append(da.TopicPartitions, tp)
	}
	slices.SortFunc(da.TopicPartitions, func(a, b kmsg.AssignmentTopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), compareIDs(a.TopicID, b.TopicID))
	})
	return da
}
