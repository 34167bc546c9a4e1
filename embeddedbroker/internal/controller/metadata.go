// Package controller owns the cluster's metadata: which brokers exist, which
// topics, and for every partition its replicas, leader, leader epoch and
// in-sync replicas. Every change produces a new immutable Image, published to
// the nodes, which act on the difference (open a log, become leader, delete a
// topic's data).
//
// Controller is an interface so that the in-process controller here (Local)
// can be replaced by a Raft-replicated one later without touching the nodes.
package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
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
)

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
	// Fenced brokers are registered but not alive: they lead nothing and
	// clients are not sent to them.
	Fenced bool
}

// Partition is one partition's replication state.
type Partition struct {
	Replicas    []int32
	ISR         []int32
	Leader      int32 // -1 when no leader
	LeaderEpoch int32
	// Epoch counts every change of this partition's state (Kafka's
	// partition epoch); LeaderEpoch counts leader changes only.
	Epoch int32
}

// Topic is a topic's metadata.
type Topic struct {
	Name       string
	ID         TopicID
	Internal   bool
	Configs    map[string]string
	Partitions []Partition
}

// Image is an immutable snapshot of the cluster metadata. Never modify one:
// the controller shares them between goroutines.
type Image struct {
	// Version increases with every change.
	Version      int64
	ClusterID    string
	ControllerID int32
	Brokers      []Broker // sorted by ID
	Topics       map[string]*Topic
	ByID         map[TopicID]*Topic
	// NextProducerID is the next unallocated producer id.
	NextProducerID int64
}

// Broker returns a broker by id.
func (im *Image) Broker(id int32) (Broker, bool) {
	i, ok := slices.BinarySearchFunc(im.Brokers, id, func(b Broker, id int32) int { return int(b.ID - id) })
	if !ok {
		return Broker{}, false
	}
	return im.Brokers[i], true
}

// Partition returns a partition's state.
func (im *Image) Partition(topic string, p int32) (*Topic, *Partition, bool) {
	t, ok := im.Topics[topic]
	if !ok || p < 0 || int(p) >= len(t.Partitions) {
		return t, nil, false
	}
	return t, &t.Partitions[p], true
}

func (im *Image) clone() *Image {
	n := *im
	n.Version++
	n.Brokers = slices.Clone(im.Brokers)
	n.Topics = maps.Clone(im.Topics)
	n.ByID = maps.Clone(im.ByID)
	return &n
}

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

// Controller is the cluster metadata authority.
type Controller interface {
	// Image returns the current metadata.
	Image() *Image
	// Subscribe calls fn with every new image, in order, from a single
	// goroutine, starting with the current one; the returned func stops it.
	Subscribe(fn func(*Image)) (cancel func())
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
	// heartbeating are fenced after the session timeout.
	Heartbeat(ctx context.Context, id int32) error
	// AlterISR changes a partition's ISR at its leader's request.
	AlterISR(ctx context.Context, topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) error
	// ElectLeaders runs a preferred or unclean election (KIP-460).
	ElectLeaders(ctx context.Context, typ int8, parts []TopicPartition) (map[TopicPartition]error, error)
	// SetBrokerFenced fences or unfences a broker: fenced brokers lead
	// nothing, so the controller moves their partitions' leadership.
	SetBrokerFenced(ctx context.Context, id int32, fenced bool) error
}
