package groups

import (
	"errors"
	"fmt"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
)

// The key versions of the records of KIP-932 share groups in
// __consumer_offsets: Kafka's (CoordinatorRecordType). As for consumer
// groups (consumer_records.go), the keys are byte for byte Kafka's and the
// values this package's own encoding (consumerRecordVersion, recWriter).
const (
	sgPartitionMetaKey = 9  // ShareGroupPartitionMetadataKey
	sgMemberKey        = 10 // ShareGroupMemberMetadataKey
	sgMetadataKey      = 11 // ShareGroupMetadataKey
	sgTargetMetaKey    = 12 // ShareGroupTargetAssignmentMetadataKey
	sgTargetMemberKey  = 13 // ShareGroupTargetAssignmentMemberKey
	sgCurrentAssignKey = 14 // ShareGroupCurrentMemberAssignmentKey
	sgStatePartMetaKey = 15 // ShareGroupStatePartitionMetadataKey: the initialized partitions
)

// isShareKey reports whether a key version is one of a share group's.
func isShareKey(version int16) bool {
	return version >= sgPartitionMetaKey && version <= sgStatePartMetaKey
}

// shareRecord encodes one record of a share group's state.
func shareRecord(group string, r sharegroup.Record) KV {
	var w recWriter
	var kv KV
	switch r := r.(type) {
	case sharegroup.GroupEpochRecord:
		kv.Key = consumerKey(sgMetadataKey, group)
		if !r.Tombstone {
			kv.Value = w.header().i32(r.Epoch).b
		}
	case sharegroup.SubscriptionMetadataRecord:
		kv.Key = consumerKey(sgPartitionMetaKey, group)
		if !r.Tombstone {
			w.header().i32(int32(len(r.Topics)))
			for _, t := range r.Topics {
				w.id(t.ID).str(t.Name).i32(t.Partitions)
			}
			kv.Value = w.b
		}
	case sharegroup.MemberSubscriptionRecord:
		kv.Key = consumerKey(sgMemberKey, group, r.MemberID)
		if !r.Tombstone {
			kv.Value = w.header().str(r.RackID).str(r.ClientID).str(r.ClientHost).strs(r.SubscribedTopicNames).b
		}
	case sharegroup.TargetAssignmentMemberRecord:
		kv.Key = consumerKey(sgTargetMemberKey, group, r.MemberID)
		if !r.Tombstone {
			kv.Value = w.header().assignment(r.Partitions).b
		}
	case sharegroup.TargetAssignmentMetadataRecord:
		kv.Key = consumerKey(sgTargetMetaKey, group)
		if !r.Tombstone {
			kv.Value = w.header().i32(r.AssignmentEpoch).b
		}
	case sharegroup.CurrentAssignmentRecord:
		kv.Key = consumerKey(sgCurrentAssignKey, group, r.MemberID)
		if !r.Tombstone {
			kv.Value = w.header().i32(r.MemberEpoch).i32(r.PreviousMemberEpoch).assignment(r.AssignedPartitions).b
		}
	default:
		panic(fmt.Sprintf("groups: unknown share group record %T", r))
	}
	return kv
}

// shareRecords encodes records in order.
func shareRecords(group string, rs []sharegroup.Record) []KV {
	kvs := make([]KV, len(rs))
	for i, r := range rs {
		kvs[i] = shareRecord(group, r)
	}
	return kvs
}

// errSkipRecord is returned by parseShareRecord for the records that are
// not sharegroup records (ShareGroupStatePartitionMetadata: see
// parseInitializedRecord).
var errSkipRecord = errors.New("record not kept")

// parseShareRecord decodes a record of a share group: its group and the
// record (a tombstone for a nil value).
func parseShareRecord(key, value []byte) (string, sharegroup.Record, error) {
	version, group, sub, v, err := readRecordHead("share group", key, value, hasShareSub)
	if err != nil {
		return "", nil, err
	}
	if version == sgStatePartMetaKey {
		return group, nil, errSkipRecord
	}
	tomb := value == nil
	var r sharegroup.Record
	switch version {
	case sgMetadataKey:
		rec := sharegroup.GroupEpochRecord{Tombstone: tomb}
		if !tomb {
			rec.Epoch = v.i32()
		}
		r = rec
	case sgPartitionMetaKey:
		rec := sharegroup.SubscriptionMetadataRecord{Tombstone: tomb}
		if !tomb {
			for n := v.count(); n > 0 && v.err == nil; n-- {
				rec.Topics = append(rec.Topics, consumergroup.Topic{ID: v.id(), Name: v.str(), Partitions: v.i32()})
			}
		}
		r = rec
	case sgMemberKey:
		rec := sharegroup.MemberSubscriptionRecord{MemberID: sub, Tombstone: tomb}
		if !tomb {
			rec.RackID, rec.ClientID, rec.ClientHost = v.str(), v.str(), v.str()
			rec.SubscribedTopicNames = v.strs()
		}
		r = rec
	case sgTargetMemberKey:
		rec := sharegroup.TargetAssignmentMemberRecord{MemberID: sub, Tombstone: tomb}
		if !tomb {
			rec.Partitions = v.assignment()
		}
		r = rec
	case sgTargetMetaKey:
		rec := sharegroup.TargetAssignmentMetadataRecord{Tombstone: tomb}
		if !tomb {
			rec.AssignmentEpoch = v.i32()
		}
		r = rec
	case sgCurrentAssignKey:
		rec := sharegroup.CurrentAssignmentRecord{MemberID: sub, Tombstone: tomb}
		if !tomb {
			rec.MemberEpoch, rec.PreviousMemberEpoch = v.i32(), v.i32()
			rec.AssignedPartitions = v.assignment()
		}
		r = rec
	default:
		return "", nil, fmt.Errorf("key version %d is not a share group's", version)
	}
	if err := v.end("share group", version); err != nil {
		return "", nil, err
	}
	return group, r, nil
}

// initializedRecord is the ShareGroupStatePartitionMetadata record of a
// share group: its initialized partitions (Kafka's InitializedTopics;
// its DeletingTopics are not kept), a tombstone when there are none.
func initializedRecord(group string, a consumergroup.Assignment) KV {
	kv := KV{Key: consumerKey(sgStatePartMetaKey, group)}
	if len(a) > 0 {
		var w recWriter
		kv.Value = w.header().assignment(a).b
	}
	return kv
}

// parseInitializedRecord decodes a ShareGroupStatePartitionMetadata
// record: the group and its initialized partitions (nil for a tombstone).
func parseInitializedRecord(key, value []byte) (string, consumergroup.Assignment, error) {
	version, group, _, v, err := readRecordHead("share group state partition metadata", key, value, hasShareSub)
	switch {
	case err != nil:
		return "", nil, err
	case version != sgStatePartMetaKey:
		return "", nil, fmt.Errorf("key version %d is not a share group state partition metadata key", version)
	case value == nil:
		return group, nil, nil
	}
	a := v.assignment()
	if err := v.end("share group state partition metadata", version); err != nil {
		return "", nil, err
	}
	return group, a, nil
}

// hasShareSub reports whether a share group key of the version names a
// member.
func hasShareSub(version int16) bool {
	switch version {
	case sgMemberKey, sgTargetMemberKey, sgCurrentAssignKey:
		return true
	}
	return false
}
