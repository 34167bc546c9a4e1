package controller

import (
	"fmt"
	"slices"
	"strings"
)

// record is one change to the metadata: exactly one field is set. A batch
// of records is one atomic change: it is written to the metadata log as one
// frame and applied as one step.
type record struct {
	// Cluster sets the cluster id (the first record of a new log).
	Cluster *clusterRecord `json:"cluster,omitempty"`
	// Topic creates a topic, without partitions.
	Topic *topicRecord `json:"topic,omitempty"`
	// Partition sets one partition's whole state, creating it when it is
	// the topic's next one (Kafka's PartitionRecord and
	// PartitionChangeRecord in one).
	Partition *partitionRecord `json:"partition,omitempty"`
	// Configs replaces a topic's dynamic configs.
	Configs *configRecord `json:"configs,omitempty"`
	// Remove deletes a topic.
	Remove *removeRecord `json:"remove,omitempty"`
	// ProducerIDs moves the next unallocated producer id.
	ProducerIDs *producerIDsRecord `json:"producerIds,omitempty"`
	// Scram sets or deletes a SCRAM credential.
	Scram *scramRecord `json:"scram,omitempty"`
	// Quotas replaces the client quotas.
	Quotas *quotasRecord `json:"quotas,omitempty"`
	// ACLs replaces the ACLs.
	ACLs *aclsRecord `json:"acls,omitempty"`
	// GroupConfigs replaces the dynamic configs of groups.
	GroupConfigs *groupConfigsRecord `json:"groupConfigs,omitempty"`
	// Broker registers a broker or changes its state. Broker records are
	// session state: they are not written to the metadata log (brokers
	// register again when they start), as a cluster restarted from its
	// data directory starts with every broker fenced.
	Broker *Broker `json:"-"`
}

type clusterRecord struct {
	ID string `json:"id"`
}

type topicRecord struct {
	Name     string            `json:"name"`
	ID       TopicID           `json:"id"`
	Internal bool              `json:"internal,omitempty"`
	Configs  map[string]string `json:"configs,omitempty"`
}

type partitionRecord struct {
	Topic       TopicID `json:"topic"`
	Partition   int32   `json:"partition"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leaderEpoch"`
	Epoch       int32   `json:"epoch"`
}

type configRecord struct {
	Topic   TopicID           `json:"topic"`
	Configs map[string]string `json:"configs"`
}

type removeRecord struct {
	Topic TopicID `json:"topic"`
}

type producerIDsRecord struct {
	Next int64 `json:"next"`
}

func partitionRec(id TopicID, i int32, p Partition) record {
	return record{Partition: &partitionRecord{Topic: id, Partition: i, Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Epoch: p.Epoch}}
}

func (r *partitionRecord) state() Partition {
	return Partition{Replicas: r.Replicas, ISR: r.ISR, Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, Epoch: r.Epoch}
}

// persisted reports whether the record belongs in the metadata log.
func (r *record) persisted() bool { return r.Broker == nil }

// Delta says what one change did, so that a node acts on the change only.
type Delta struct {
	// Full marks the first delta a subscriber gets, and one after it
	// missed changes (an isolated node healing): everything in the image
	// is to be taken as changed, and what the subscriber holds but the
	// image lacks as deleted.
	Full bool
	// Brokers says the broker list, a broker's state or the controller
	// changed.
	Brokers bool
	// Topics lists the topics the change touched, in the order first
	// touched.
	Topics []*TopicDelta
	// ProducerIDs says producer ids were allocated.
	ProducerIDs bool
	// Security says credentials, client quotas or ACLs changed.
	Security bool
}

// TopicDelta is what one change did to one topic.
type TopicDelta struct {
	// Topic is the topic after the change; nil when it was deleted.
	Topic *Topic
	// Old is the topic before the change; nil when it was created.
	Old *Topic
	// Partitions lists the partitions created or changed, ascending.
	Partitions []int32
	// Configs says the topic's configs changed.
	Configs bool
}

// Deleted reports whether the change deleted the topic.
func (d *TopicDelta) Deleted() bool { return d.Topic == nil }

// Created reports whether the change created the topic.
func (d *TopicDelta) Created() bool { return d.Old == nil }

// Topic returns the delta of the topic with id, if the change touched it.
func (d *Delta) Topic(id TopicID) (*TopicDelta, bool) {
	for _, t := range d.Topics {
		if (t.Topic != nil && t.Topic.ID == id) || (t.Old != nil && t.Old.ID == id) {
			return t, true
		}
	}
	return nil, false
}

// apply applies one batch of records to im and returns the next image and
// what changed. It validates what the records reference and returns an
// error, changing nothing, for a batch that does not fit the image: a log
// replayed over the wrong snapshot, or a bug in decide.
func (im *Image) apply(recs []record) (*Image, *Delta, error) {
	n := *im
	n.Version++
	d := &Delta{}
	touched := map[TopicID]*TopicDelta{}
	touch := func(old, cur *Topic) *TopicDelta {
		id := cur.ID
		if td, ok := touched[id]; ok {
			td.Topic = cur
			return td
		}
		td := &TopicDelta{Topic: cur, Old: old}
		touched[id] = td
		d.Topics = append(d.Topics, td)
		return td
	}
	setTopic := func(t *Topic) {
		n.topics = n.topics.Set(t.Name, t)
		n.byID = n.byID.Set(t.ID, t)
	}
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Cluster != nil:
			n.ClusterID = r.Cluster.ID
		case r.Topic != nil:
			tr := r.Topic
			if _, ok := n.topics.Get(tr.Name); ok {
				return nil, nil, fmt.Errorf("controller: record creates topic %q, which exists", tr.Name)
			}
			if _, ok := n.byID.Get(tr.ID); ok {
				return nil, nil, fmt.Errorf("controller: record creates topic %q with the id %v of an existing topic", tr.Name, tr.ID)
			}
			cfg := tr.Configs
			if cfg == nil {
				cfg = map[string]string{}
			}
			t := &Topic{Name: tr.Name, ID: tr.ID, Internal: tr.Internal, Configs: cfg, parts: emptyParts}
			setTopic(t)
			n.collisions = n.collisions.Set(collisionKey(t.Name), t.Name)
			touch(nil, t)
		case r.Partition != nil:
			pr := r.Partition
			t, ok := n.byID.Get(pr.Topic)
			if !ok {
				return nil, nil, fmt.Errorf("controller: partition record for unknown topic %v", pr.Topic)
			}
			count := t.NumPartitions()
			if pr.Partition < 0 || pr.Partition > count {
				return nil, nil, fmt.Errorf("controller: partition record %s-%d; the topic has %d", t.Name, pr.Partition, count)
			}
			if pr.Partition == count {
				n.partitions++
			}
			nt := t.withPartition(pr.Partition, pr.state())
			setTopic(nt)
			td := touch(t, nt)
			td.Partitions = append(td.Partitions, pr.Partition)
		case r.Configs != nil:
			t, ok := n.byID.Get(r.Configs.Topic)
			if !ok {
				return nil, nil, fmt.Errorf("controller: config record for unknown topic %v", r.Configs.Topic)
			}
			nt := *t
			nt.Configs = r.Configs.Configs
			if nt.Configs == nil {
				nt.Configs = map[string]string{}
			}
			setTopic(&nt)
			touch(t, &nt).Configs = true
		case r.Remove != nil:
			t, ok := n.byID.Get(r.Remove.Topic)
			if !ok {
				return nil, nil, fmt.Errorf("controller: remove record for unknown topic %v", r.Remove.Topic)
			}
			n.topics = n.topics.Delete(t.Name)
			n.byID = n.byID.Delete(t.ID)
			n.collisions = n.collisions.Delete(collisionKey(t.Name))
			n.partitions -= int(t.NumPartitions())
			if td, ok := touched[t.ID]; ok {
				td.Topic, td.Partitions, td.Configs = nil, nil, false
				if td.Old == nil {
					// Created and removed in one change: nothing to see.
					d.Topics = slices.DeleteFunc(d.Topics, func(x *TopicDelta) bool { return x == td })
				}
			} else {
				td := &TopicDelta{Old: t}
				touched[t.ID] = td
				d.Topics = append(d.Topics, td)
			}
		case r.ProducerIDs != nil:
			if r.ProducerIDs.Next < n.NextProducerID {
				return nil, nil, fmt.Errorf("controller: producer ids moved back from %d to %d", n.NextProducerID, r.ProducerIDs.Next)
			}
			n.NextProducerID = r.ProducerIDs.Next
			d.ProducerIDs = true
		case r.Scram != nil:
			if err := n.applyScram(r.Scram, d); err != nil {
				return nil, nil, err
			}
		case r.Quotas != nil:
			n.quotas = r.Quotas.Snapshot
			d.Security = true
		case r.ACLs != nil:
			n.acls = r.ACLs.Snapshot
			d.Security = true
		case r.GroupConfigs != nil:
			n.groupConfigs = r.GroupConfigs.Snapshot
		case r.Broker != nil:
			b := *r.Broker
			i, found := slices.BinarySearchFunc(n.Brokers, b.ID, func(x Broker, id int32) int { return int(x.ID - id) })
			n.Brokers = slices.Clone(n.Brokers)
			if found {
				n.Brokers[i] = b
			} else {
				n.Brokers = slices.Insert(n.Brokers, i, b)
			}
			d.Brokers = true
		default:
			return nil, nil, fmt.Errorf("controller: empty record")
		}
	}
	if d.Brokers {
		// The controller is the lowest-numbered live broker, as stable
		// as a rule can be without a vote.
		if !n.alive(n.ControllerID) {
			n.ControllerID = -1
			for _, b := range n.Brokers {
				if !b.Fenced {
					n.ControllerID = b.ID
					break
				}
			}
		}
	}
	for _, td := range d.Topics {
		slices.Sort(td.Partitions)
		td.Partitions = slices.Compact(td.Partitions)
	}
	return &n, d, nil
}

var emptyParts = newPartList()

// collisionKey is a topic name as Kafka compares them for collisions:
// '.' and '_' are the same.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// FullDelta is the delta that stands for a whole image.
func FullDelta(im *Image) *Delta {
	d := &Delta{Full: true, Brokers: true, ProducerIDs: true, Security: true}
	for t := range im.Topics() {
		td := &TopicDelta{Topic: t, Configs: true, Partitions: make([]int32, t.NumPartitions())}
		for i := range td.Partitions {
			td.Partitions[i] = int32(i)
		}
		d.Topics = append(d.Topics, td)
	}
	return d
}
