package broker

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/groups"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/txn"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the internal topic holding committed offsets and group
// metadata, as in Kafka.
const OffsetsTopic = "__consumer_offsets"

// Coordinator key types of FindCoordinator.
const (
	coordinatorGroup = 0
	coordinatorTxn   = 1
)

func (n *Node) newGroupCoordinator() *groups.Coordinator {
	b := n.cfg.Broker
	// Transactional offset commits complete when their producer's marker
	// lands on the group's partition of __consumer_offsets.
	prev := n.txnMarkerHook
	n.txnMarkerHook = func(topic string, partition int32, producerID int64, commit bool) {
		if prev != nil {
			prev(topic, partition, producerID, commit)
		}
		if topic == OffsetsTopic {
			n.groups.CompleteTxn(partition, producerID, commit)
		}
	}
	return groups.New(groups.Config{
		NumPartitions:                 int32(b.Int("offsets.topic.num.partitions")),
		InitialRebalanceDelay:         b.Millis("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:             b.Millis("group.min.session.timeout.ms"),
		MaxSessionTimeout:             b.Millis("group.max.session.timeout.ms"),
		OffsetsRetention:              time.Duration(b.Int("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheckInterval: b.Millis("offsets.retention.check.interval.ms"),
		MaxGroupSize:                  int(b.Int("group.max.size")),
		Topics:                        &topicsView{ctrl: n.ctrl, node: n},
		Consumer: consumergroup.Config{
			SessionTimeout:    b.Millis("group.consumer.session.timeout.ms"),
			HeartbeatInterval: b.Millis("group.consumer.heartbeat.interval.ms"),
			MaxSize:           int(b.Int("group.consumer.max.size")),
		},
		Now: n.cfg.Now,
	}, n.log)
}

// topicsView answers the coordinator's questions from the metadata image,
// without the node's lock (the coordinator is called under it).
type topicsView struct {
	ctrl controller.Controller
	// node authorizes (nil: everything is allowed).
	node *Node

	mu     sync.Mutex
	img    *controller.Image // the image subscribable was built from
	topics consumergroup.TopicMetadata
}

// Subscribable returns the image's topics, built once per image; with an
// authorizer, only those the request's principal may describe. Internal
// topics are in, as in Kafka, whose regular expressions match them too.
func (v *topicsView) Subscribable(ctx context.Context) consumergroup.TopicMetadata {
	img := v.ctrl.Image()
	v.mu.Lock()
	if v.img != img {
		v.img = img
		v.topics = make(consumergroup.TopicMetadata, img.NumTopics())
		for t := range img.Topics() {
			v.topics[t.Name] = consumergroup.Topic{ID: t.ID, Name: t.Name, Partitions: t.NumPartitions()}
		}
	}
	all := v.topics
	v.mu.Unlock()
	if v.node == nil || !v.node.authz.on || fromBroker(ctx) {
		return all
	}
	out := make(consumergroup.TopicMetadata, len(all))
	for name, t := range all {
		if v.node.may(ctx, opDescribe, resTopic, name) {
			out[name] = t
		}
	}
	return out
}

func (v *topicsView) PartitionExists(topic string, p int32) bool {
	_, _, ok := v.ctrl.Image().Partition(topic, p)
	return ok
}

func (v *topicsView) TopicName(id [16]byte) (string, bool) {
	t, ok := v.ctrl.Image().TopicByID(controller.TopicID(id))
	if !ok {
		return "", false
	}
	return t.Name, true
}

func (v *topicsView) TopicID(name string) ([16]byte, bool) {
	t, ok := v.ctrl.Image().Topic(name)
	if !ok {
		return [16]byte{}, false
	}
	return t.ID, true
}

// applyCoordination loads the groups of the __consumer_offsets partitions
// this node leads and unloads those it no longer leads. n.mu is held.
func (n *Node) applyCoordination(img *controller.Image) {
	t, _ := img.Topic(OffsetsTopic)
	ps := n.parts[OffsetsTopic]
	for i, p := range ps {
		lead := p != nil && t != nil && leads(t, int32(i), n.cfg.ID)
		switch {
		case lead && !n.coordinating[int32(i)]:
			n.coordinating[int32(i)] = true
			store := offsetsStore{p: p}
			// Every batch, markers and aborted transactions included:
			// the coordinator resolves transactional offsets itself.
			replay := func(fn func(groups.LogRecord) error) error {
				return p.log.Scan(p.log.StartOffset(), func(b []byte) error {
					h, err := batch.ParseHeader(b)
					if err != nil {
						return err
					}
					var ferr error
					err = batch.ForEachRecord(b, func(r batch.Record) bool {
						ferr = fn(groups.LogRecord{
							Key:           r.Key,
							Value:         r.Value,
							ProducerID:    h.ProducerID,
							Transactional: h.Transactional(),
							Control:       h.Control(),
						})
						return ferr == nil
					})
					if err != nil {
						return err
					}
					return ferr
				})
			}
			if err := n.groups.Load(context.Background(), int32(i), store, replay); err != nil {
				n.log.Error("loading groups", "partition", i, "err", err)
			}
		case !lead && n.coordinating[int32(i)]:
			delete(n.coordinating, int32(i))
			n.groups.Unload(int32(i))
		}
	}
}

// offsetsStore writes the coordinator's records to its partition of
// __consumer_offsets, acknowledged like an acks=all produce.
type offsetsStore struct{ p *partition }

func (s offsetsStore) Append(ctx context.Context, recs []groups.KV) error {
	return s.append(ctx, batch.BuildOptions{Timestamp: time.Now().UnixMilli()}, recs)
}

// AppendTxn writes the records of a TxnOffsetCommit as a transactional batch
// of the producer. Producer errors of the append (e.g. an old epoch) are
// returned as their Kafka error, which the client is answered.
func (s offsetsStore) AppendTxn(ctx context.Context, producerID int64, producerEpoch int16, recs []groups.KV) error {
	return s.append(ctx, batch.BuildOptions{
		Timestamp:     time.Now().UnixMilli(),
		Producer:      &batch.Producer{ID: producerID, Epoch: producerEpoch, BaseSequence: -1},
		Transactional: true,
	}, recs)
}

func (s offsetsStore) append(ctx context.Context, opts batch.BuildOptions, recs []groups.KV) error {
	return appendCommitted(ctx, s.p, -1, opts, kvRecords(recs))
}

func (n *Node) handleFindCoordinator(ctx context.Context, req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		switch req.CoordinatorType {
		case coordinatorGroup:
			c.NodeID, c.Host, c.Port, c.ErrorCode = n.groupCoordinator(ctx, key)
		case coordinatorTxn:
			c.NodeID, c.Host, c.Port, c.ErrorCode = n.txnCoordinator(ctx, key)
		default:
			c.ErrorCode = kerr.InvalidRequest.Code
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}

// groupCoordinator finds the node leading the group's partition of
// __consumer_offsets, creating the topic on first use as Kafka does.
func (n *Node) groupCoordinator(ctx context.Context, group string) (int32, string, int32, int16) {
	spec := n.offsetsTopicSpec()
	return n.coordinatorFor(ctx, spec, coordkey.Partition(group, spec.Partitions), group)
}

// offsetsTopicSpec is how __consumer_offsets is created.
func (n *Node) offsetsTopicSpec() controller.TopicSpec {
	b := n.cfg.Broker
	spec := controller.TopicSpec{
		Name:              OffsetsTopic,
		Partitions:        int32(b.Int("offsets.topic.num.partitions")),
		ReplicationFactor: int16(b.Int("offsets.topic.replication.factor")),
		Internal:          true,
		// As Kafka: compression.type set on the topic, so that a
		// broker-wide compression.type does not reach the
		// coordinator's own writes.
		Configs: map[string]string{"cleanup.policy": "compact", "compression.type": "producer"},
	}
	spec.Configs["segment.bytes"], _ = b.Get("offsets.topic.segment.bytes")
	return spec
}

// internalTopicSpec is how an internal topic is created, also when a
// client's metadata request names it first (Kafka's auto-creation makes
// internal topics with their own settings, never as plain topics).
func (n *Node) internalTopicSpec(name string) (controller.TopicSpec, bool) {
	switch name {
	case OffsetsTopic:
		return n.offsetsTopicSpec(), true
	case TxnStateTopic:
		return n.txnStateTopicSpec(), true
	}
	return controller.TopicSpec{}, false
}

// coordinatorFor finds the node leading the partition of the internal
// topic spec.Name that holds key (a group or transactional id), creating
// the topic from spec on first use, as Kafka does. partition is key's
// partition under spec's partition count; an existing topic's own count
// is used instead.
func (n *Node) coordinatorFor(ctx context.Context, spec controller.TopicSpec, partition int32, key string) (int32, string, int32, int16) {
	img := n.ctrl.Image()
	t, ok := img.Topic(spec.Name)
	if !ok {
		if _, err := n.ctrl.CreateTopic(ctx, spec, false); err != nil && !isExists(err) {
			n.log.Warn("creating "+spec.Name, "err", err)
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code
		}
		img = n.ctrl.Image()
		if t, ok = img.Topic(spec.Name); !ok {
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code
		}
	}
	if t.NumPartitions() != spec.Partitions {
		partition = coordkey.Partition(key, t.NumPartitions())
	}
	st, _ := t.Partition(partition)
	leader := st.Leader
	b, ok := img.Broker(leader)
	if leader < 0 || !ok || b.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	host, port, ok := b.Endpoint(listenerName(ctx))
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	return b.ID, host, port, 0
}

func (n *Node) handleGroupRequest(ctx context.Context, c *wire.Conn, req *wire.Request) wire.Pending {
	if txn.Handles(req.Key) {
		return func() kmsg.Response { return n.txns.Handle(ctx, req.Body) }
	}
	if !groups.Handles(req.Key) {
		return nil // not served: versions() keeps such keys out
	}
	host, _, _ := net.SplitHostPort(c.RemoteAddr())
	gctx := groups.WithClient(ctx, req.ClientID, "/"+host)
	return func() kmsg.Response { return n.groups.Handle(gctx, req.Body) }
}

// leads reports whether broker id leads partition i of t.
func leads(t *controller.Topic, i, id int32) bool {
	st, ok := t.Partition(i)
	return ok && st.Leader == id
}
