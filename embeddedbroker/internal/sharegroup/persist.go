package sharegroup

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ShareKey identifies the state of one share partition in
// __share_group_state.
type ShareKey struct {
	// GroupID is the share group.
	GroupID string
	// TopicID is the topic.
	TopicID consumergroup.TopicID
	// Partition is the partition.
	Partition int32
}

// ShareRecordKind tells a full state from a delta.
type ShareRecordKind int8

const (
	// ShareSnapshot is Kafka's ShareSnapshotKey/Value: the whole state.
	ShareSnapshot ShareRecordKind = 0
	// ShareUpdate is Kafka's ShareUpdateKey/Value: the start offset and
	// the batches that changed since the last record.
	ShareUpdate ShareRecordKind = 1
)

// ShareRecord is one record of __share_group_state, as the share
// coordinator writes it.
type ShareRecord struct {
	// Kind is ShareSnapshot or ShareUpdate.
	Kind ShareRecordKind
	// Key is the share partition.
	Key ShareKey
	// SnapshotEpoch counts the snapshots of the key; an update carries
	// the epoch of the snapshot it applies to.
	SnapshotEpoch int32
	// LeaderEpoch is the leader epoch of the partition leader that wrote
	// the state.
	LeaderEpoch int32
	// State is the whole state (ShareSnapshot) or the delta (ShareUpdate:
	// StateEpoch unused, StartOffset -1 if unchanged, the batches that
	// changed).
	State PartitionState
	// Tombstone deletes the key's state (DeleteShareGroupState).
	Tombstone bool
}

// Apply returns the state after the record: a snapshot replaces it, an
// update merges into it (its batches override the state's where they
// overlap; everything below the start offset is dropped), a tombstone
// leaves no state (StartOffset -1).
func (s PartitionState) Apply(r ShareRecord) PartitionState {
	switch {
	case r.Tombstone:
		return PartitionState{StartOffset: -1}
	case r.Kind == ShareSnapshot:
		return r.State.Clone()
	}
	start := s.StartOffset
	if r.State.StartOffset >= 0 {
		start = r.State.StartOffset
	}
	return PartitionState{StateEpoch: s.StateEpoch, StartOffset: start, Batches: overlay(s.Batches, r.State.Batches, start)}
}

// Delta returns what changed from old to cur, as the State of a
// ShareUpdate record, and whether an update can carry it: it cannot when
// the state epoch changed or cur dropped records that old had above cur's
// start offset (a reset), which take a snapshot.
func Delta(old, cur PartitionState) (PartitionState, bool) {
	if old.StateEpoch != cur.StateEpoch || old.StartOffset < 0 {
		return PartitionState{}, false
	}
	d := PartitionState{StateEpoch: cur.StateEpoch, StartOffset: -1}
	if cur.StartOffset != old.StartOffset {
		d.StartOffset = cur.StartOffset
	}
	ok := true
	sweep(old.Batches, cur.Batches, func(first, last int64, o, c *StateBatch) {
		switch {
		case c == nil:
			if last >= cur.StartOffset {
				ok = false
			}
		case o == nil || !o.sameState(*c):
			b := StateBatch{FirstOffset: first, LastOffset: last, DeliveryState: c.DeliveryState, DeliveryCount: c.DeliveryCount}
			if n := len(d.Batches); n > 0 && d.Batches[n-1].LastOffset+1 == first && d.Batches[n-1].sameState(b) {
				d.Batches[n-1].LastOffset = last
			} else {
				d.Batches = append(d.Batches, b)
			}
		}
	})
	return d, ok
}

// shareRecordVersion is the first byte of an encoded [ShareRecord].
const shareRecordVersion byte = 1

// MarshalBinary encodes the record: a version byte, the kind, the
// tombstone flag, the key and, unless a tombstone, the epochs and state,
// integers as varints.
func (r ShareRecord) MarshalBinary() ([]byte, error) {
	if r.Kind != ShareSnapshot && r.Kind != ShareUpdate {
		return nil, fmt.Errorf("sharegroup: unknown share record kind %d", r.Kind)
	}
	b := []byte{shareRecordVersion, byte(r.Kind), 0}
	if r.Tombstone {
		b[2] = 1
	}
	b = binary.AppendUvarint(b, uint64(len(r.Key.GroupID)))
	b = append(b, r.Key.GroupID...)
	b = append(b, r.Key.TopicID[:]...)
	b = binary.AppendVarint(b, int64(r.Key.Partition))
	if r.Tombstone {
		return b, nil
	}
	for _, v := range []int64{int64(r.SnapshotEpoch), int64(r.LeaderEpoch), int64(r.State.StateEpoch), r.State.StartOffset} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(r.State.Batches)))
	for _, sb := range r.State.Batches {
		b = binary.AppendVarint(b, sb.FirstOffset)
		b = binary.AppendVarint(b, sb.LastOffset-sb.FirstOffset)
		b = append(b, byte(sb.DeliveryState))
		b = binary.AppendVarint(b, int64(sb.DeliveryCount))
	}
	return b, nil
}

// ErrBadShareRecord is wrapped by the errors of [ShareRecord.UnmarshalBinary].
var ErrBadShareRecord = errors.New("sharegroup: malformed share record")

// UnmarshalBinary decodes a record MarshalBinary encoded.
func (r *ShareRecord) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.byte(); d.err == nil && v != shareRecordVersion {
		return fmt.Errorf("unknown version %d: %w", v, ErrBadShareRecord)
	}
	var out ShareRecord
	out.Kind = ShareRecordKind(d.byte())
	out.Tombstone = d.byte() == 1
	out.Key.GroupID = string(d.bytes(int(d.uvarint())))
	copy(out.Key.TopicID[:], d.bytes(16))
	out.Key.Partition = int32(d.varint())
	if !out.Tombstone {
		out.SnapshotEpoch = int32(d.varint())
		out.LeaderEpoch = int32(d.varint())
		out.State.StateEpoch = int32(d.varint())
		out.State.StartOffset = d.varint()
		n := d.uvarint()
		if n > uint64(len(data)) {
			d.fail()
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			var sb StateBatch
			sb.FirstOffset = d.varint()
			sb.LastOffset = sb.FirstOffset + d.varint()
			sb.DeliveryState = RecordState(d.byte())
			sb.DeliveryCount = int16(d.varint())
			out.State.Batches = append(out.State.Batches, sb)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail()
	}
	if d.err != nil {
		return d.err
	}
	if out.Kind != ShareSnapshot && out.Kind != ShareUpdate {
		return fmt.Errorf("unknown kind %d: %w", out.Kind, ErrBadShareRecord)
	}
	*r = out
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or trailing bytes: %w", ErrBadShareRecord)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// DefaultUpdatesPerSnapshot is how many updates the share coordinator
// writes for a key between two snapshots
// (share.coordinator.snapshot.update.records.per.snapshot).
const DefaultUpdatesPerSnapshot = 500

// StateStore is the share coordinator's view of the share states of the
// partitions it owns (Kafka's ShareCoordinatorShard): it decides the
// records that WriteShareGroupState appends, fences writers with stale
// leader or state epochs, and rebuilds itself from the records by Replay.
// Like the rest of the package, it does no I/O.
type StateStore struct {
	// UpdatesPerSnapshot is how many updates follow a snapshot before the
	// next write is a snapshot again; 0 is [DefaultUpdatesPerSnapshot].
	UpdatesPerSnapshot int

	keys map[ShareKey]*stored
}

type stored struct {
	state         PartitionState
	leaderEpoch   int32
	snapshotEpoch int32
	updates       int
}

// Read returns a key's state (ReadShareGroupState), StartOffset -1 if it
// has none, and records leaderEpoch as the key's leader epoch; a smaller
// one than recorded is FENCED_LEADER_EPOCH.
func (st *StateStore) Read(key ShareKey, leaderEpoch int32) (PartitionState, error) {
	s := st.keys[key]
	if s == nil {
		return PartitionState{StartOffset: -1}, nil
	}
	if leaderEpoch < s.leaderEpoch {
		return PartitionState{}, newError(kerr.FencedLeaderEpoch, "Request leader epoch %d smaller than last recorded %d.", leaderEpoch, s.leaderEpoch)
	}
	s.leaderEpoch = leaderEpoch
	return s.state.Clone(), nil
}

// Write returns the record that persists a key's new state
// (WriteShareGroupState): a snapshot for a new key, after
// UpdatesPerSnapshot updates, or when an update cannot carry the change;
// otherwise an update. It refuses smaller leader or state epochs than
// recorded (FENCED_LEADER_EPOCH, FENCED_STATE_EPOCH) and invalid states
// (INVALID_REQUEST). The caller appends the record and then calls
// [StateStore.Replay] with it.
func (st *StateStore) Write(key ShareKey, leaderEpoch int32, state PartitionState) (ShareRecord, error) {
	if err := state.Validate(); err != nil || state.StartOffset < 0 {
		return ShareRecord{}, newError(kerr.InvalidRequest, "Invalid share state for %s-%d: %v.", key.GroupID, key.Partition, err)
	}
	s := st.keys[key]
	rec := ShareRecord{Kind: ShareSnapshot, Key: key, LeaderEpoch: leaderEpoch, State: state.Clone()}
	if s == nil {
		return rec, nil
	}
	switch {
	case leaderEpoch < s.leaderEpoch:
		return ShareRecord{}, newError(kerr.FencedLeaderEpoch, "Request leader epoch %d smaller than last recorded %d.", leaderEpoch, s.leaderEpoch)
	case state.StateEpoch < s.state.StateEpoch:
		return ShareRecord{}, newError(kerr.FencedStateEpoch, "Request state epoch %d smaller than last recorded %d.", state.StateEpoch, s.state.StateEpoch)
	}
	rec.SnapshotEpoch = s.snapshotEpoch + 1
	limit := st.UpdatesPerSnapshot
	if limit <= 0 {
		limit = DefaultUpdatesPerSnapshot
	}
	if s.updates < limit {
		if d, ok := Delta(s.state, state); ok {
			rec.Kind, rec.SnapshotEpoch, rec.State = ShareUpdate, s.snapshotEpoch, d
		}
	}
	return rec, nil
}

// Delete returns the tombstone that deletes a key's state.
func (st *StateStore) Delete(key ShareKey) ShareRecord {
	return ShareRecord{Key: key, Tombstone: true}
}

// Replay applies a record, written by Write or Delete, to the store.
func (st *StateStore) Replay(r ShareRecord) error {
	if st.keys == nil {
		st.keys = make(map[ShareKey]*stored)
	}
	s := st.keys[r.Key]
	switch {
	case r.Tombstone:
		delete(st.keys, r.Key)
		return nil
	case r.Kind == ShareSnapshot:
		if err := r.State.Validate(); err != nil {
			return err
		}
		if s == nil {
			s = &stored{}
			st.keys[r.Key] = s
		}
		s.state, s.snapshotEpoch, s.updates = r.State.Clone(), r.SnapshotEpoch, 0
	case s == nil:
		return fmt.Errorf("sharegroup: share update for %v without a snapshot: %w", r.Key, ErrBadShareRecord)
	default:
		s.state = s.state.Apply(r)
		s.updates++
	}
	s.leaderEpoch = max(s.leaderEpoch, r.LeaderEpoch)
	return nil
}

// Snapshot returns one snapshot record per key: what rebuilds the store
// at once, keys in no particular order.
func (st *StateStore) Snapshot() []ShareRecord {
	out := make([]ShareRecord, 0, len(st.keys))
	for k, s := range st.keys {
		out = append(out, ShareRecord{Kind: ShareSnapshot, Key: k, SnapshotEpoch: s.snapshotEpoch, LeaderEpoch: s.leaderEpoch, State: s.state.Clone()})
	}
	return out
}
