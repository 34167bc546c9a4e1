package groups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
)

// The key versions of the records of KIP-848 consumer groups in
// __consumer_offsets: Kafka's (the key version tells which kind of record
// it is; CoordinatorRecordType). A key is Kafka's too: the version, the
// group ID and, for the records of one member or regular expression, the
// member ID or the expression, as int16-length strings.
const (
	cgMetadataKey         = 3  // ConsumerGroupMetadataKey
	cgPartitionMetaKey    = 4  // ConsumerGroupPartitionMetadataKey
	cgMemberKey           = 5  // ConsumerGroupMemberMetadataKey
	cgTargetMetaKey       = 6  // ConsumerGroupTargetAssignmentMetadataKey
	cgTargetMemberKey     = 7  // ConsumerGroupTargetAssignmentMemberKey
	cgCurrentAssignKey    = 8  // ConsumerGroupCurrentMemberAssignmentKey
	cgRegularExpressKey   = 16 // ConsumerGroupRegularExpressionKey
	consumerRecordVersion = 0  // the version of this package's value encoding
)

// isConsumerKey reports whether a key version is one of a consumer group's.
func isConsumerKey(version int16) bool {
	return version >= cgMetadataKey && version <= cgCurrentAssignKey || version == cgRegularExpressKey
}

// Deviation from Kafka: the values are this package's own binary encoding
// (a version, then the record's fields), not Kafka's generated schemas,
// which franz-go's kmsg does not carry; only this broker reads them. Keys
// are byte for byte Kafka's, so that compaction keeps the same records.

// consumerRecord encodes one record of a consumer group's state.
func consumerRecord(group string, r consumergroup.Record) KV {
	var w recWriter
	var kv KV
	switch r := r.(type) {
	case consumergroup.GroupEpochRecord:
		kv.Key = consumerKey(cgMetadataKey, group)
		if !r.Tombstone {
			kv.Value = w.header().i32(r.Epoch).b
		}
	case consumergroup.SubscriptionMetadataRecord:
		kv.Key = consumerKey(cgPartitionMetaKey, group)
		if !r.Tombstone {
			w.header().i32(int32(len(r.Topics)))
			for _, t := range r.Topics {
				w.id(t.ID).str(t.Name).i32(t.Partitions)
			}
			kv.Value = w.b
		}
	case consumergroup.RegexRecord:
		kv.Key = consumerKey(cgRegularExpressKey, group, r.Regex)
		if !r.Tombstone {
			kv.Value = w.header().strs(r.Topics).b
		}
	case consumergroup.MemberSubscriptionRecord:
		kv.Key = consumerKey(cgMemberKey, group, r.MemberID)
		if !r.Tombstone {
			kv.Value = w.header().str(r.InstanceID).str(r.RackID).str(r.ClientID).str(r.ClientHost).
				strs(r.SubscribedTopicNames).str(r.SubscribedTopicRegex).i32(r.RebalanceTimeoutMs).str(r.ServerAssignor).b
		}
	case consumergroup.TargetAssignmentMemberRecord:
		kv.Key = consumerKey(cgTargetMemberKey, group, r.MemberID)
		if !r.Tombstone {
			kv.Value = w.header().assignment(r.Partitions).b
		}
	case consumergroup.TargetAssignmentMetadataRecord:
		kv.Key = consumerKey(cgTargetMetaKey, group)
		if !r.Tombstone {
			kv.Value = w.header().i32(r.AssignmentEpoch).b
		}
	case consumergroup.CurrentAssignmentRecord:
		kv.Key = consumerKey(cgCurrentAssignKey, group, r.MemberID)
		if !r.Tombstone {
			kv.Value = w.header().i32(r.MemberEpoch).i32(r.PreviousMemberEpoch).i32(int32(r.State)).
				assignment(r.AssignedPartitions).assignment(r.PartitionsPendingRevocation).epochs(r.AssignedPartitions, r.AssignedEpochs, r.MemberEpoch).b
		}
	default:
		panic(fmt.Sprintf("groups: unknown consumer group record %T", r))
	}
	return kv
}

// consumerRecords encodes records in order.
func consumerRecords(group string, rs []consumergroup.Record) []KV {
	kvs := make([]KV, len(rs))
	for i, r := range rs {
		kvs[i] = consumerRecord(group, r)
	}
	return kvs
}

func consumerKey(version int16, group string, sub ...string) []byte {
	var w recWriter
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(version))
	w.str(group)
	for _, s := range sub {
		w.str(s)
	}
	return w.b
}

// parseConsumerRecord decodes a record of a consumer group: its group and
// the record (a tombstone for a nil value).
func parseConsumerRecord(key, value []byte) (string, consumergroup.Record, error) {
	version, group, sub, v, err := readRecordHead("consumer group", key, value, func(version int16) bool {
		switch version {
		case cgMemberKey, cgTargetMemberKey, cgCurrentAssignKey, cgRegularExpressKey:
			return true
		}
		return false
	})
	if err != nil {
		return "", nil, err
	}
	tomb := value == nil
	var r consumergroup.Record
	switch version {
	case cgMetadataKey:
		rec := consumergroup.GroupEpochRecord{Tombstone: tomb}
		if !tomb {
			rec.Epoch = v.i32()
		}
		r = rec
	case cgPartitionMetaKey:
		rec := consumergroup.SubscriptionMetadataRecord{Tombstone: tomb}
		if !tomb {
			for n := v.count(); n > 0 && v.err == nil; n-- {
				rec.Topics = append(rec.Topics, consumergroup.Topic{ID: v.id(), Name: v.str(), Partitions: v.i32()})
			}
		}
		r = rec
	case cgRegularExpressKey:
		rec := consumergroup.RegexRecord{Regex: sub, Tombstone: tomb}
		if !tomb {
			rec.Topics = v.strs()
		}
		r = rec
	case cgMemberKey:
		rec := consumergroup.MemberSubscriptionRecord{MemberID: sub, Tombstone: tomb}
		if !tomb {
			rec.InstanceID, rec.RackID, rec.ClientID, rec.ClientHost = v.str(), v.str(), v.str(), v.str()
			rec.SubscribedTopicNames = v.strs()
			rec.SubscribedTopicRegex = v.str()
			rec.RebalanceTimeoutMs = v.i32()
			rec.ServerAssignor = v.str()
		}
		r = rec
	case cgTargetMemberKey:
		rec := consumergroup.TargetAssignmentMemberRecord{MemberID: sub, Tombstone: tomb}
		if !tomb {
			rec.Partitions = v.assignment()
		}
		r = rec
	case cgTargetMetaKey:
		rec := consumergroup.TargetAssignmentMetadataRecord{Tombstone: tomb}
		if !tomb {
			rec.AssignmentEpoch = v.i32()
		}
		r = rec
	case cgCurrentAssignKey:
		rec := consumergroup.CurrentAssignmentRecord{MemberID: sub, Tombstone: tomb}
		if !tomb {
			rec.MemberEpoch, rec.PreviousMemberEpoch = v.i32(), v.i32()
			rec.State = consumergroup.MemberState(v.i32())
			rec.AssignedPartitions = v.assignment()
			rec.PartitionsPendingRevocation = v.assignment()
			rec.AssignedEpochs = v.epochs(rec.AssignedPartitions)
		}
		r = rec
	default:
		return "", nil, fmt.Errorf("key version %d is not a consumer group's", version)
	}
	if err := v.end("consumer group", version); err != nil {
		return "", nil, err
	}
	return group, r, nil
}

// readRecordHead reads a record's key (its version, the group and, where
// hasSub says the version has one, a member ID or expression) and the
// version of its value, which must be this package's (a tombstone, a nil
// value, has none); what names the kind of record in errors. The reader
// returned is at the value's fields.
func readRecordHead(what string, key, value []byte, hasSub func(version int16) bool) (int16, string, string, *recReader, error) {
	k := recReader{b: key}
	version := k.i16()
	group := k.str()
	var sub string
	if hasSub(version) {
		sub = k.str()
	}
	if k.err != nil || len(k.b) != 0 {
		return 0, "", "", nil, fmt.Errorf("%s key of version %d: %w", what, version, errors.Join(k.err, errTrailing(k.b)))
	}
	v := &recReader{b: value}
	if value != nil {
		if vv := v.i16(); vv != consumerRecordVersion {
			return 0, "", "", nil, fmt.Errorf("%s value of version %d: unknown", what, vv)
		}
	}
	return version, group, sub, v, nil
}

// end reports a value read short or with bytes left over.
func (r *recReader) end(what string, version int16) error {
	if r.err != nil || len(r.b) != 0 {
		return fmt.Errorf("%s value of key version %d: %w", what, version, errors.Join(r.err, errTrailing(r.b)))
	}
	return nil
}

func errTrailing(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return fmt.Errorf("%d trailing bytes", len(b))
}

// recWriter appends fields: int32s big endian, strings and string lists
// with an int16 and int32 length, assignments as a count of topics, each
// its ID and its partitions.
type recWriter struct{ b []byte }

func (w *recWriter) header() *recWriter {
	w.b = binary.BigEndian.AppendUint16(w.b, consumerRecordVersion)
	return w
}

func (w *recWriter) i32(v int32) *recWriter {
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(v))
	return w
}

func (w *recWriter) str(s string) *recWriter {
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(s)))
	w.b = append(w.b, s...)
	return w
}

func (w *recWriter) strs(ss []string) *recWriter {
	w.i32(int32(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
	return w
}

func (w *recWriter) id(id consumergroup.TopicID) *recWriter {
	w.b = append(w.b, id[:]...)
	return w
}

func (w *recWriter) assignment(a consumergroup.Assignment) *recWriter {
	ids := sortedIDs(a)
	w.i32(int32(len(ids)))
	for _, id := range ids {
		w.id(id).i32(int32(len(a[id])))
		for _, p := range a[id] {
			w.i32(p)
		}
	}
	return w
}

// epochs writes the assignment epoch of each partition of a, in the order
// assignment writes them (a partition missing from e: def).
func (w *recWriter) epochs(a consumergroup.Assignment, e map[consumergroup.TopicID]map[int32]int32, def int32) *recWriter {
	for _, id := range sortedIDs(a) {
		for _, p := range a[id] {
			v, ok := e[id][p]
			if !ok {
				v = def
			}
			w.i32(v)
		}
	}
	return w
}

func sortedIDs(a consumergroup.Assignment) []consumergroup.TopicID {
	ids := make([]consumergroup.TopicID, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y consumergroup.TopicID) int { return slices.Compare(x[:], y[:]) })
	return ids
}

// recReader reads what recWriter wrote; the first error sticks and later
// reads return zero values.
type recReader struct {
	b   []byte
	err error
}

var errShort = errors.New("record too short")

func (r *recReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *recReader) i16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *recReader) i32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

// count reads a length that must fit in what is left (each element takes
// at least a byte), so that a corrupt length cannot allocate much.
func (r *recReader) count() int {
	n := int(r.i32())
	if r.err == nil && (n < 0 || n > len(r.b)) {
		r.err = fmt.Errorf("length %d with %d bytes left", n, len(r.b))
		return 0
	}
	return n
}

func (r *recReader) str() string {
	n := int(uint16(r.i16()))
	return string(r.take(n))
}

func (r *recReader) strs() []string {
	n := r.count()
	var out []string
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, r.str())
	}
	return out
}

func (r *recReader) id() consumergroup.TopicID {
	var id consumergroup.TopicID
	copy(id[:], r.take(16))
	return id
}

func (r *recReader) assignment() consumergroup.Assignment {
	n := r.count()
	if n == 0 {
		return nil
	}
	a := make(consumergroup.Assignment, n)
	for ; n > 0 && r.err == nil; n-- {
		id := r.id()
		k := r.count()
		if r.err == nil && 4*k > len(r.b) {
			r.err = fmt.Errorf("%d partitions with %d bytes left", k, len(r.b))
		}
		ps := make([]int32, 0, k)
		for ; k > 0 && r.err == nil; k-- {
			ps = append(ps, r.i32())
		}
		a[id] = ps
	}
	return a
}

// epochs reads what recWriter.epochs wrote for a.
func (r *recReader) epochs(a consumergroup.Assignment) map[consumergroup.TopicID]map[int32]int32 {
	if len(a) == 0 {
		return nil
	}
	out := make(map[consumergroup.TopicID]map[int32]int32, len(a))
	for _, id := range sortedIDs(a) {
		m := make(map[int32]int32, len(a[id]))
		for _, p := range a[id] {
			m[p] = r.i32()
		}
		out[id] = m
	}
	return out
}
