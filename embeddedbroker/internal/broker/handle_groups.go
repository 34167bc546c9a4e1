package broker

import (
	"context"
	"net"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/groups"
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
	return groups.New(groups.Config{
		NumPartitions:                 int32(b.Int("offsets.topic.num.partitions")),
		InitialRebalanceDelay:         b.Millis("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:             b.Millis("group.min.session.timeout.ms"),
		MaxSessionTimeout:             b.Millis("group.max.session.timeout.ms"),
		OffsetsRetention:              time.Duration(b.Int("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheckInterval: b.Millis("offsets.retention.check.interval.ms"),
		MaxGroupSize:                  int(b.Int("group.max.size")),
		Topics:                        topicsView{n.ctrl},
		Now:                           n.cfg.Now,
	}, n.log)
}

// topicsView answers the coordinator's questions from the metadata image,
// without the node's lock (the coordinator is called under it).
type topicsView struct{ ctrl controller.Controller }

func (v topicsView) PartitionExists(topic string, p int32) bool {
	_, _, ok := v.ctrl.Image().Partition(topic, p)
	return ok
}

func (v topicsView) TopicName(id [16]byte) (string, bool) {
	t, ok := v.ctrl.Image().ByID[controller.TopicID(id)]
	if !ok {
		return "", false
	}
	return t.Name, true
}

func (v topicsView) TopicID(name string) ([16]byte, bool) {
	t, ok := v.ctrl.Image().Topics[name]
	if !ok {
		return [16]byte{}, false
	}
	return t.ID, true
}

// applyCoordination loads the groups of the __consumer_offsets partitions
// this node leads and unloads those it no longer leads. n.mu is held.
func (n *Node) applyCoordination(img *controller.Image) {
	t := img.Topics[OffsetsTopic]
	ps := n.parts[OffsetsTopic]
	for i, p := range ps {
		lead := p != nil && t != nil && i < len(t.Partitions) && t.Partitions[i].Leader == n.cfg.ID
		switch {
		case lead && !n.coordinating[int32(i)]:
			n.coordinating[int32(i)] = true
			store := offsetsStore{p: p}
			replay := func(fn func(key, value []byte) error) error {
				return p.log.Scan(p.log.StartOffset(), func(b []byte) error {
					h, err := batch.ParseHeader(b)
					if err != nil || h.Control() {
						return err
					}
					var ferr error
					err = batch.ForEachRecord(b, func(r batch.Record) bool {
						ferr = fn(r.Key, r.Value)
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
	rs := make([]batch.Record, len(recs))
	for i, kv := range recs {
		rs[i] = batch.Record{Key: kv.Key, Value: kv.Value}
	}
	b := batch.Build(batch.BuildOptions{Timestamp: time.Now().UnixMilli()}, rs...)
	res, err := s.p.appendInternal(b)
	if err != nil {
		if code := errCode(err); code == kerr.NotLeaderForPartition.Code {
			return kerr.NotLeaderForPartition
		}
		return kerr.KafkaStorageError
	}
	switch s.p.waitCommitted(ctx, res.lastOffset+1, res.epoch, time.Now().Add(30*time.Second)) {
	case commitLostLeadership:
		return kerr.NotLeaderForPartition
	case commitTimeout:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return kerr.RequestTimedOut
	}
	return nil
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
		if req.CoordinatorType != coordinatorGroup {
			// Not retriable, so that a transactional producer fails at
			// once instead of retrying until its timeout.
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			msg := "transactions are not supported by this broker yet"
			c.ErrorMessage = &msg
		} else {
			c.NodeID, c.Host, c.Port, c.ErrorCode = n.groupCoordinator(ctx, key)
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
	img := n.ctrl.Image()
	t, ok := img.Topics[OffsetsTopic]
	if !ok {
		b := n.cfg.Broker
		spec := controller.TopicSpec{
			Name:              OffsetsTopic,
			Partitions:        int32(b.Int("offsets.topic.num.partitions")),
			ReplicationFactor: int16(b.Int("offsets.topic.replication.factor")),
			Internal:          true,
			Configs:           map[string]string{"cleanup.policy": "compact"},
		}
		spec.Configs["segment.bytes"], _ = b.Get("offsets.topic.segment.bytes")
		if _, err := n.ctrl.CreateTopic(ctx, spec, false); err != nil && !isExists(err) {
			n.log.Warn("creating "+OffsetsTopic, "err", err)
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code
		}
		img = n.ctrl.Image()
		if t, ok = img.Topics[OffsetsTopic]; !ok {
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code
		}
	}
	p := groups.PartitionFor(group, int32(len(t.Partitions)))
	leader := t.Partitions[p].Leader
	b, ok := img.Broker(leader)
	if leader < 0 || !ok || b.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	return b.ID, b.Host, b.Port, 0
}

func (n *Node) handleGroupRequest(ctx context.Context, c *wire.Conn, req *wire.Request) wire.Pending {
	if !groups.Handles(req.Key) {
		return nil // not served: versions() keeps such keys out
	}
	host, _, _ := net.SplitHostPort(c.RemoteAddr())
	gctx := groups.WithClient(ctx, req.ClientID, "/"+host)
	return func() kmsg.Response { return n.groups.Handle(gctx, req.Body) }
}
