package sharegroup

import (
	"cmp"
	"slices"
	"strings"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Describe returns the group as ShareGroupDescribe describes it (Kafka's
// ShareGroup.asDescribedGroup), members sorted by ID. Topic names come
// from topics, else from the subscription metadata; partitions of topics
// known to neither are left out. AuthorizedOperations keeps its default;
// the caller fills it and the error code.
func (g *Group) Describe(topics consumergroup.TopicMetadata) kmsg.ShareGroupDescribeResponseGroup {
	names := make(map[consumergroup.TopicID]string, len(topics)+len(g.subMeta))
	for _, t := range g.subMeta {
		names[t.ID] = t.Name
	}
	for name, t := range topics {
		names[t.ID] = name
	}
	d := kmsg.NewShareGroupDescribeResponseGroup()
	d.GroupID = g.id
	d.GroupState = g.State().String()
	d.GroupEpoch = g.epoch
	d.AssignmentEpoch = g.assignmentEpoch
	d.Assignor = g.cfg.Assignor.Name()
	d.Members = []kmsg.ShareGroupDescribeResponseGroupMember{}
	for _, id := range sortedIDs(g.members) {
		m := g.members[id]
		dm := kmsg.NewShareGroupDescribeResponseGroupMember()
		dm.MemberID = m.ID
		if m.RackID != "" {
			dm.RackID = kmsg.StringPtr(m.RackID)
		}
		dm.MemberEpoch = m.Epoch
		dm.ClientID = m.ClientID
		dm.ClientHost = m.ClientHost
		dm.SubscribedTopicNames = slices.Clone(m.SubscribedTopicNames)
		if dm.SubscribedTopicNames == nil {
			dm.SubscribedTopicNames = []string{}
		}
		dm.Assignment.TopicPartitions = []kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition{}
		for t, ps := range m.Assigned {
			name, ok := names[t]
			if !ok {
				continue
			}
			tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			tp.TopicID, tp.Topic, tp.Partitions = t, name, slices.Clone(ps)
			dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
		}
		slices.SortFunc(dm.Assignment.TopicPartitions, func(a, b kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition) int {
			return cmp.Or(strings.Compare(a.Topic, b.Topic), compareTopicIDs(a.TopicID, b.TopicID))
		})
		d.Members = append(d.Members, dm)
	}
	return d
}
