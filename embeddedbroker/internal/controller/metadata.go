// Package controller owns the cluster's metadata: which brokers exist, which
// topics, and for every partition its replicas, leader, leader epoch and
// in-sync replicas.
//
// The metadata is a log of records, as in Kafka's KRaft: a topic created,
// a partition's state changed, configs replaced, a topic removed, producer
// ids allocated, a broker registered or fenced. Every change is one batch of
// records, appended to the metadata log (on disk when the controller has a
// directory) and then applied to the current Image, which yields the next
// Image and a Delta naming what changed. Nodes receive both and act on the
// Delta only (open a log, become leader, delete a topic's data), so the cost
// of a change is the size of the change, not of the cluster: images are
// persistent (copy-on-write trees sharing everything a change does not
// touch), and a change to one partition of a 50 000-partition cluster
// copies a few tree nodes.
//
// The decisions (which records an operation produces, given an image) are
// pure functions of the image and the broker configs (decide.go), and
// applying records is deterministic (records.go); Local adds what needs
// clocks, locks and files: the metadata log and its snapshots (journal.go),
// broker liveness, and publication to subscribers. Controller is an
// interface so that a Raft-replicated controller can replace Local later
// without touching the nodes.
package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"iter"
	"slices"

	"github.com/benbjohnson/immutable"
)

// Sentinel errors; the broker maps them to Kafka error codes.
var (
	ErrTopicExists           = errors.New("controller: topic already exists")
	ErrUnknownTopic          = errors.New("controller: unknown topic")
	ErrInvalidTopic          = errors.New("controller: invalid topic name")
	ErrInvalidPartitions     = errors.New("controller: invalid number of partitions")
	ErrInvalidReplication    = errors.New("controller: invalid replication factor")
	ErrInvalidReplicaAssign  = errors.New("controller: invalid replica assignment")
	ErrInvalidConfig         = errors.New("controller: invalid config")
	ErrClosed                = errors.New("controller: closed")
	ErrBrokerNotAvailable    = errors.New("controller: no broker available")
	ErrInternalTopicReadOnly = errors.New("controller: internal topics cannot be deleted")
	// ErrPolicyViolation refuses a request larger than the controller
	// takes in one change (POLICY_VIOLATION), as Kafka refuses creating
	// more than MaxPartitionsPerRequest partitions at once (KAFKA-17870).
	ErrPolicyViolation = errors.New("controller: policy violation")
)

// MaxPartitionsPerRequest is the most partitions one CreateTopics or
// CreatePartitions request may create, over all its topics: Kafka's limit
// (KAFKA-17870, KAFKA-19673), which keeps every change one bounded batch.
const MaxPartitionsPerRequest = 10_000

// TopicID is a topic's UUID (KIP-516).
type TopicID [16]byte

// NewTopicID returns a random version-4 UUID.
func NewTopicID() TopicID {
	var id TopicID
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// Broker is one broker node as the controller sees it.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack *string
	// Listeners are the broker's client listeners, by name, as
	// advertised; Host and Port are the first one's.
	Listeners []Endpoint
	// InterBroker is the host:port of the broker's inter-broker listener,
	// where the other brokers fetch from it and send it transaction
	// markers; clients never see it.
	InterBroker string
	// Fenced brokers are registered but not alive: they lead nothing and
	// clients are not sent to them.
	Fenced bool
}

// Partition is one partition's replication state. Its slices are shared
// between images: never modify them.
type Partition struct {
	Replicas    []int32
	ISR         []int32
	Leader      int32 // -1 when no leader
	LeaderEpoch int32
	// Epoch counts every change of this partition's state (Kafka's
	// partition epoch); LeaderEpoch counts leader changes only.
	Epoch int32
}

// Hosts reports whether broker id holds a replica of the partition.
func (p *Partition) Hosts(id int32) bool { return slices.Contains(p.Replicas, id) }

// Topic is a topic's metadata. Topics are immutable once published: a
// change makes a new Topic that shares what did not change.
type Topic struct {
	Name     string
	ID       TopicID
	Internal bool
	// Configs are the topic's dynamic configs; never modify the map.
	Configs map[string]string
	parts   *immutable.List[Partition]
}

// NumPartitions is the topic's partition count.
func (t *Topic) NumPartitions() int32 {
	if t.parts == nil {
		return 0
	}
	return int32(t.parts.Len())
}

// Partition returns partition i's state.
func (t *Topic) Partition(i int32) (Partition, bool) {
	if i < 0 || i >= t.NumPartitions() {
		return Partition{}, false
	}
	return t.parts.Get(int(i)), true
}

// Partitions yields every partition's index and state, in order.
func (t *Topic) Partitions() iter.Seq2[int32, Partition] {
	return func(yield func(int32, Partition) bool) {
		if t.parts == nil {
			return
		}
		it := t.parts.Iterator()
		for !it.Done() {
			i, p := it.Next()
			if !yield(int32(i), p) {
				return
			}
		}
	}
}

// ReplicationFactor is the replica count of the topic's first partition.
func (t *Topic) ReplicationFactor() int16 {
	p, ok := t.Partition(0)
	if !ok {
		return 0
	}
	return int16(len(p.Replicas))
}

// withPartition returns a copy of t with partition i set to p (appended
// when i is the partition count).
func (t *Topic) withPartition(i int32, p Partition) *Topic {
	n := *t
	if i == t.NumPartitions() {
		n.parts = t.parts.Append(p)
	} else {
		n.parts = t.parts.Set(int(i), p)
	}
	return &n
}

// Image is an immutable snapshot of the cluster metadata. Never modify one:
// the controller shares them between goroutines, and successive images
// share structure.
type Image struct {
	// Version increases with every change; it is the offset of the last
	// batch of the metadata log applied.
	Version      int64
	ClusterID    string
	ControllerID int32
	Brokers      []Broker // sorted by ID; never modify
	// NextProducerID is the next unallocated producer id.
	NextProducerID int64

	topics *immutable.SortedMap[string, *Topic]
	byID   *immutable.Map[TopicID, *Topic]
	// collisions maps a topic name with '.' replaced by '_' to the topic
	// holding it: Kafka refuses names that differ only there, as they
	// collide in metric names.
	collisions *immutable.Map[string, string]
	partitions int
	// scram holds the SCRAM credentials; never modified, replaced on
	// change.
	scram map[ScramKey]ScramCredential
	// quotas is the client quotas' quota.Store snapshot, acls the ACLs'
	// acl.Authorizer snapshot.
	quotas, acls []byte
	// groupConfigs is the groups' dynamic configs (groupconfigs.go).
	groupConfigs []byte
}

// emptyImage returns the image of a cluster without topics or brokers.
func emptyImage(clusterID string) *Image {
	return &Image{
		ClusterID:    clusterID,
		ControllerID: -1,
		topics:       immutable.NewSortedMap[string, *Topic](nil),
		byID:         immutable.NewMap[TopicID, *Topic](topicIDHasher{}),
		collisions:   immutable.NewMap[string, string](nil),
	}
}

// Broker returns a broker by id.
func (im *Image) Broker(id int32) (Broker, bool) {
	i, ok := slices.BinarySearchFunc(im.Brokers, id, func(b Broker, id int32) int { return int(b.ID - id) })
	if !ok {
		return Broker{}, false
	}
	return im.Brokers[i], true
}

// alive reports whether broker id is registered and not fenced.
func (im *Image) alive(id int32) bool {
	b, ok := im.Broker(id)
	return ok && !b.Fenced
}

// Topic returns a topic by name.
func (im *Image) Topic(name string) (*Topic, bool) { return im.topics.Get(name) }

// TopicByID returns a topic by id.
func (im *Image) TopicByID(id TopicID) (*Topic, bool) { return im.byID.Get(id) }

// Topics yields every topic, sorted by name.
func (im *Image) Topics() iter.Seq[*Topic] {
	return func(yield func(*Topic) bool) {
		it := im.topics.Iterator()
		for !it.Done() {
			_, t, _ := it.Next()
			if !yield(t) {
				return
			}
		}
	}
}

// NumTopics is the number of topics.
func (im *Image) NumTopics() int { return im.topics.Len() }

// NumPartitions is the number of partitions over all topics.
func (im *Image) NumPartitions() int { return im.partitions }

// Partition returns a partition's state and its topic.
func (im *Image) Partition(topic string, p int32) (*Topic, Partition, bool) {
	t, ok := im.topics.Get(topic)
	if !ok {
		return nil, Partition{}, false
	}
	st, ok := t.Partition(p)
	return t, st, ok
}

// topicIDHasher hashes topic ids for the persistent map.
type topicIDHasher struct{}

func (topicIDHasher) Hash(id TopicID) uint32 {
	// The ids are random: their first bytes are as good as any hash.
	return uint32(id[0])<<24 | uint32(id[1])<<16 | uint32(id[2])<<8 | uint32(id[3])
}

func (topicIDHasher) Equal(a, b TopicID) bool { return a == b }

// TopicSpec asks for a topic.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: the broker default
	ReplicationFactor int16 // -1: the broker default
	// Assignment, when set, gives each partition's replicas explicitly.
	Assignment [][]int32
	Configs    map[string]string
	Internal   bool
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ISRChange is one partition's ISR change asked for by its leader (one
// entry of Kafka's AlterPartition request). The leader names the topic by
// id, its leader epoch and the partition epoch it read: a stale one is
// refused, so two leaders can never both change the ISR, nor a request for
// a deleted topic change its namesake.
type ISRChange struct {
	Topic          TopicID
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// Controller is the cluster metadata authority.
type Controller interface {
	// Image returns the current metadata.
	Image() *Image
	// Subscribe calls fn with every new image and the delta that made it,
	// in order, one call at a time, starting with the current image and a
	// full delta; every subscriber has applied a change before the call
	// that made it returns. The returned func stops it.
	Subscribe(fn func(*Image, *Delta)) (cancel func())
	// CreateTopic creates a topic (or only validates the request).
	CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (*Topic, error)
	// DeleteTopic deletes a topic.
	DeleteTopic(ctx context.Context, name string) error
	// CreatePartitions grows a topic to count partitions.
	CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error
	// AlterTopicConfigs replaces a topic's dynamic configs with cfg.
	AlterTopicConfigs(ctx context.Context, name string, cfg map[string]string, validateOnly bool) error
	// AllocateProducerIDs reserves n producer ids and returns the first.
	AllocateProducerIDs(ctx context.Context, n int64) (int64, error)
	// RegisterBroker adds a broker, or updates its address, unfenced.
	RegisterBroker(ctx context.Context, b Broker) error
	// Heartbeat tells the controller a broker is alive; brokers that stop
	// heartbeating are fenced after the session timeout. It never waits
	// for other metadata work, except to unfence a fenced broker.
	Heartbeat(ctx context.Context, id int32) error
	// AlterPartitions changes the ISRs of partitions led by leader, all in
	// one metadata change (Kafka's AlterPartition), and returns each
	// change's outcome in order: nil, or an error wrapping
	// ErrStaleLeader, ErrStalePartitionEpoch, ErrIneligibleReplica or
	// ErrUnknownTopic.
	AlterPartitions(ctx context.Context, leader int32, changes []ISRChange) ([]error, error)
	// ElectLeaders runs a preferred or unclean election (KIP-460).
	ElectLeaders(ctx context.Context, typ int8, parts []TopicPartition) (map[TopicPartition]error, error)
	// SetBrokerFenced fences or unfences a broker: fenced brokers lead
	// nothing, so the controller moves their partitions' leadership.
	SetBrokerFenced(ctx context.Context, id int32, fenced bool) error
	// AlterScramCredentials upserts and deletes SCRAM credentials in one
	// change; each change's outcome is returned in order.
	AlterScramCredentials(ctx context.Context, changes []ScramChange) ([]error, error)
	// UpdateClientQuotas replaces the client quotas (a quota.Store
	// snapshot) with update's result, atomically.
	UpdateClientQuotas(ctx context.Context, update func(cur []byte) ([]byte, error)) error
	// UpdateACLs replaces the ACLs (an acl.Authorizer snapshot) with
	// update's result, atomically.
	UpdateACLs(ctx context.Context, update func(cur []byte) ([]byte, error)) error
	// AlterGroupConfigs replaces a group's dynamic configs with update's
	// result given the current ones, atomically (validateOnly: checks
	// only).
	AlterGroupConfigs(ctx context.Context, group string, update func(cur map[string]string) (map[string]string, error), validateOnly bool) error
}
