package groups

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Versions of the __consumer_offsets schemas this package writes: the ones
// Kafka 3.x writes. Keys: offset commit key v1, group metadata key v2 (the
// key version tells which kind of record it is). Values: offset commit v3
// (v1 when the commit has an explicit expiration, from OffsetCommit v2-v4),
// group metadata v3.
const (
	offsetKeyVersion         = 1
	groupKeyVersion          = 2
	offsetValueVersion       = 3
	offsetValueExpireVersion = 1
	groupValueVersion        = 3
)

func offsetKey(group string, t tp) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: t.topic, Partition: t.partition}
	return k.AppendTo(nil)
}

func offsetRecord(group string, t tp, o *offsetValue) KV {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitMs
	if o.expireMs >= 0 {
		v.Version = offsetValueExpireVersion
		v.ExpireTimestamp = o.expireMs
	}
	return KV{Key: offsetKey(group, t), Value: v.AppendTo(nil)}
}

func offsetTombstone(group string, t tp) KV {
	return KV{Key: offsetKey(group, t)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) KV {
	return KV{Key: groupKey(group)}
}

// groupRecord is the group's metadata record, as Kafka's storeGroup writes
// it: the members with their subscription for the group's protocol and
// their assignment (from assignment if non-nil, else the current one).
func (g *group) groupRecord(assignment map[string][]byte) KV {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = strOrNil(g.protocol)
	v.Leader = strOrNil(g.leader)
	v.CurrentStateTimestamp = g.stateMs
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalance / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.session / time.Millisecond)
		vm.Subscription = m.metadata(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		a := m.assignment
		if assignment != nil {
			a = assignment[m.id]
		}
		vm.Assignment = a
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return KV{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

// loader rebuilds the groups of one partition from its records, as Kafka's
// GroupMetadataManager.doLoadGroupsAndOffsets: the last record of each key
// wins, tombstones delete, offsets without group metadata make an Empty
// group that only stores offsets. Offsets of transactional batches are
// pending for their producer until its next marker: a commit marker makes
// them committed unless a later commit of the partition is there, an abort
// marker drops them; those without a marker stay pending.
type loader struct {
	c       *Coordinator
	part    *partition
	metas   map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[tp]*offsetValue
	pending map[int64]map[string]map[tp]*offsetValue // producer ID -> group -> pending offsets
	// consumer holds the consumer groups (KIP-848) the records rebuild.
	consumer map[string]*consumergroup.Group
	records  int
	skipped  int
}

func newLoader(c *Coordinator, part *partition) *loader {
	return &loader{
		c:        c,
		part:     part,
		metas:    make(map[string]*kmsg.GroupMetadataValue),
		offsets:  make(map[string]map[tp]*offsetValue),
		pending:  make(map[int64]map[string]map[tp]*offsetValue),
		consumer: make(map[string]*consumergroup.Group),
	}
}

// apply takes one record. Records it cannot decode are logged and skipped
// rather than failing the load: a partition that cannot load leaves all of
// its groups unusable.
func (l *loader) apply(r LogRecord) error {
	l.records++
	key, value := r.Key, r.Value
	if r.Control {
		return l.applyMarker(r)
	}
	if len(key) < 2 {
		return l.skip("short key", key, nil)
	}
	switch version := keyVersion(key); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return l.skip("offset commit key", key, err)
		}
		t := tp{k.Topic, k.Partition}
		if value == nil {
			if r.Transactional {
				if os := l.pending[r.ProducerID][k.Group]; os != nil {
					delete(os, t)
				}
				return nil
			}
			if os := l.offsets[k.Group]; os != nil {
				delete(os, t)
			}
			// Deviation from Kafka's loader, which keeps them: the
			// pending transactional offsets the tombstone follows are
			// dropped, as the live coordinator drops them when it
			// deletes a group or its offsets (Kafka's removeOffsets).
			for _, gs := range l.pending {
				if os := gs[k.Group]; os != nil {
					delete(os, t)
				}
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return l.skip("offset commit value", key, err)
		}
		o := &offsetValue{
			offset:      v.Offset,
			leaderEpoch: -1,
			metadata:    v.Metadata,
			commitMs:    v.CommitTimestamp,
			expireMs:    -1,
		}
		if v.Version >= 3 {
			o.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			o.expireMs = v.ExpireTimestamp
		}
		o.pos = l.c.pos.Add(1)
		byGroup := l.offsets
		if r.Transactional {
			byGroup = l.pending[r.ProducerID]
			if byGroup == nil {
				byGroup = make(map[string]map[tp]*offsetValue)
				l.pending[r.ProducerID] = byGroup
			}
		}
		os := byGroup[k.Group]
		if os == nil {
			os = make(map[tp]*offsetValue)
			byGroup[k.Group] = os
		}
		os[t] = o
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return l.skip("group metadata key", key, err)
		}
		if value == nil {
			delete(l.metas, k.Group)
			return nil
		}
		v := new(kmsg.GroupMetadataValue)
		if err := v.ReadFrom(value); err != nil {
			return l.skip("group metadata value", key, err)
		}
		l.metas[k.Group] = v
	default:
		if !isConsumerKey(version) {
			// Records of share groups and so on: not served here.
			l.skipped++
			return nil
		}
		group, rec, err := parseConsumerRecord(key, value)
		if err != nil {
			return l.skip("consumer group record", key, err)
		}
		cg := l.consumer[group]
		if cg == nil {
			if cg, err = l.c.newConsumerGroup(group); err != nil {
				return l.skip("consumer group record", key, err)
			}
			l.consumer[group] = cg
		}
		if err := cg.Replay(rec); err != nil {
			return l.skip("consumer group record", key, err)
		}
	}
	return nil
}

// applyMarker takes a control record: a commit marker makes its producer's
// pending offsets committed (each unless a later commit of the partition is
// there already), an abort marker drops them. Other control records are
// skipped.
func (l *loader) applyMarker(r LogRecord) error {
	var k kmsg.ControlRecordKey
	if err := k.ReadFrom(r.Key); err != nil {
		return l.skip("control record key", r.Key, err)
	}
	switch k.Type {
	case kmsg.ControlRecordKeyTypeCommit:
		for group, os := range l.pending[r.ProducerID] {
			for t, o := range os {
				cur := l.offsets[group]
				if cur == nil {
					cur = make(map[tp]*offsetValue)
					l.offsets[group] = cur
				}
				if c := cur[t]; c == nil || c.pos < o.pos {
					cur[t] = o
				}
			}
		}
	case kmsg.ControlRecordKeyTypeAbort:
	default:
		l.skipped++
		return nil
	}
	delete(l.pending, r.ProducerID)
	return nil
}

// pendingOf returns the offsets of the group left pending at the end of
// the log, by producer.
func (l *loader) pendingOf(group string) map[int64]map[tp]*offsetValue {
	var out map[int64]map[tp]*offsetValue
	for pid, gs := range l.pending {
		if os := gs[group]; len(os) > 0 {
			if out == nil {
				out = make(map[int64]map[tp]*offsetValue)
			}
			out[pid] = os
		}
	}
	return out
}

func (l *loader) skip(what string, key []byte, err error) error {
	l.skipped++
	l.c.log.Warn("skipping undecodable record of __consumer_offsets", "partition", l.part.ID,
		"what", what, "key", fmt.Sprintf("%x", key), "err", err)
	return nil
}

// build makes the groups.
func (l *loader) build() map[string]*group {
	gs := make(map[string]*group)
	for id, v := range l.metas {
		g := newGroup(l.c, id, l.part)
		g.generation = v.Generation
		g.protocolType = v.ProtocolType
		if v.Protocol != nil {
			g.protocol = *v.Protocol
		}
		if v.Leader != nil {
			g.leader = *v.Leader
		}
		g.stateMs = -1
		if v.Version >= 2 && v.CurrentStateTimestamp >= 0 {
			g.stateMs = v.CurrentStateTimestamp
		}
		for _, vm := range v.Members {
			m := &member{
				id:           vm.MemberID,
				instanceID:   vm.InstanceID,
				clientID:     vm.ClientID,
				clientHost:   vm.ClientHost,
				protocolType: v.ProtocolType,
				protocols:    []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
				rebalance:    millis(vm.RebalanceTimeoutMillis),
				session:      millis(vm.SessionTimeoutMillis),
				assignment:   vm.Assignment,
			}
			if v.Version == 0 {
				m.rebalance = m.session
			}
			g.add(m)
		}
		if g.leader != "" && g.members[g.leader] == nil {
			g.leader = ""
			if ms := g.sortedMembers(); len(ms) > 0 {
				g.leader = ms[0].id
			}
		}
		if len(g.members) > 0 {
			g.state = stateStable
		} else {
			g.state = stateEmpty
		}
		g.computeSubscribed()
		if os := l.offsets[id]; os != nil {
			g.offsets = os
		}
		if p := l.pendingOf(id); p != nil {
			g.pendingTxn = p
		}
		gs[g.id] = g
	}
	// Consumer groups (KIP-848): an epoch of 0 is a deleted group.
	for id, cg := range l.consumer {
		if cg.Epoch() == 0 {
			continue
		}
		if gs[id] != nil {
			l.c.log.Warn("group has both classic and consumer group records in __consumer_offsets; loading it as a classic group",
				"partition", l.part.ID, "group", id)
			continue
		}
		g := newGroup(l.c, id, l.part)
		g.cg.g = cg
		if os := l.offsets[id]; os != nil {
			g.offsets = os
		}
		if p := l.pendingOf(id); p != nil {
			g.pendingTxn = p
		}
		gs[id] = g
	}
	// Groups that only store offsets, committed or pending.
	ids := make(map[string]bool)
	for id, os := range l.offsets {
		if len(os) > 0 {
			ids[id] = true
		}
	}
	for _, byGroup := range l.pending {
		for id, os := range byGroup {
			if len(os) > 0 {
				ids[id] = true
			}
		}
	}
	for id := range ids {
		if gs[id] != nil {
			continue
		}
		g := newGroup(l.c, id, l.part)
		if os := l.offsets[id]; os != nil {
			g.offsets = os
		}
		if p := l.pendingOf(id); p != nil {
			g.pendingTxn = p
		}
		gs[g.id] = g
	}
	return gs
}

// keyVersion is the version a record key of __consumer_offsets starts
// with, which tells what kind of record it is.
func keyVersion(key []byte) int16 { return int16(binary.BigEndian.Uint16(key)) }
