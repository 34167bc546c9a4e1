package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharecoord"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareStateTopic is the internal topic holding the share coordinators'
// state (KIP-932), as in Kafka.
const ShareStateTopic = "__share_group_state"

// coordinatorShare is FindCoordinator's key type of the share
// coordinator.
const coordinatorShare = 2

func (n *Node) newShareCoordinator() *sharecoord.Coordinator {
	return sharecoord.New(sharecoord.Config{
		NumPartitions: int32(n.cfg.Broker.Int("share.coordinator.state.topic.num.partitions")),
	}, n.log)
}

// shareStateTopicSpec is how __share_group_state is created: Kafka's
// settings (share.coordinator.state.topic.*), but compacted (Kafka's is
// deleted by retention and pruned; see package sharecoord).
func (n *Node) shareStateTopicSpec() controller.TopicSpec {
	b := n.cfg.Broker
	rf := int16(b.Int("share.coordinator.state.topic.replication.factor"))
	spec := controller.TopicSpec{
		Name:              ShareStateTopic,
		Partitions:        int32(b.Int("share.coordinator.state.topic.num.partitions")),
		ReplicationFactor: rf,
		Internal:          true,
		Configs:           map[string]string{"cleanup.policy": "compact", "compression.type": "producer"},
	}
	spec.Configs["segment.bytes"], _ = b.Get("share.coordinator.state.topic.segment.bytes")
	minISR := min(int16(b.Int("share.coordinator.state.topic.min.isr")), rf, int16(len(n.ctrl.Image().Brokers)))
	spec.Configs["min.insync.replicas"] = strconv.Itoa(int(max(1, minISR)))
	return spec
}

// shareCoordinator finds the node leading the partition of
// __share_group_state that holds a share partition's state, for
// FindCoordinator with key type SHARE, creating the topic on first use.
// The key is "group:topicId:partition" (Kafka's SharePartitionKey);
// others answer INVALID_REQUEST.
func (n *Node) shareCoordinator(ctx context.Context, key string) (int32, string, int32, int16) {
	i := strings.LastIndexByte(key, ':')
	j := strings.LastIndexByte(key[:max(i, 0)], ':')
	if i < 0 || j <= 0 {
		return -1, "", -1, kerr.InvalidRequest.Code
	}
	if _, err := strconv.ParseInt(key[i+1:], 10, 32); err != nil {
		return -1, "", -1, kerr.InvalidRequest.Code
	}
	spec := n.shareStateTopicSpec()
	return n.coordinatorFor(ctx, spec, coordkey.Partition(key, spec.Partitions), key)
}

// applyShareCoordination loads the share states of the
// __share_group_state partitions this node leads, at their leader epoch,
// and unloads those it no longer leads. n.mu is held.
func (n *Node) applyShareCoordination(img *controller.Image) {
	t, _ := img.Topic(ShareStateTopic)
	ps := n.parts[ShareStateTopic]
	for i, p := range ps {
		lead := p != nil && t != nil && leads(t, int32(i), n.cfg.ID)
		var epoch int32
		if lead {
			st, _ := t.Partition(int32(i))
			epoch = st.LeaderEpoch
		}
		cur, loaded := n.share.coordinating[int32(i)]
		switch {
		case lead && (!loaded || cur != epoch):
			if loaded {
				n.share.coord.Unload(int32(i))
			}
			n.share.coordinating[int32(i)] = epoch
			if err := n.share.coord.Load(context.Background(), int32(i), epoch, shareStateStore{p: p, epoch: epoch}, replayRecords(p)); err != nil {
				n.log.Error("loading share states", "partition", i, "err", err)
			}
		case !lead && loaded:
			delete(n.share.coordinating, int32(i))
			n.share.coord.Unload(int32(i))
		}
	}
}

// shareStateStore writes the share coordinator's records to its partition
// of __share_group_state, loaded at leader epoch epoch, acknowledged like
// an acks=all produce.
type shareStateStore struct {
	p     *partition
	epoch int32
}

func (s shareStateStore) Append(ctx context.Context, recs []sharecoord.KV) error {
	return appendCommitted(ctx, s.p, s.epoch, batch.BuildOptions{Timestamp: time.Now().UnixMilli()}, kvRecords(recs))
}

// callCoordinator sends a request of the share coordinator about key to
// the node that leads key's partition of __share_group_state: in process
// when that is this node, else over the inter-broker listener, as Kafka's
// persister does. It retries while the coordinator moves or loads, until
// ctx ends (at most 10 seconds), and returns the response.
func (s *shareNode) callCoordinator(ctx context.Context, key sharePartKey, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ckey := sharecoord.Key(key.group, key.topic, key.partition)
	var last error
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		resp, err := s.callOnce(ctx, ckey, req)
		if err == nil {
			c := code(resp)
			switch c {
			case kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code:
				err = kerr.ErrorForCode(c)
			default:
				return resp, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("share coordinator of %s: %w (last: %w)", ckey, ctx.Err(), last)
		case <-time.After(backoff):
		}
	}
}

func (s *shareNode) callOnce(ctx context.Context, ckey string, req kmsg.Request) (kmsg.Response, error) {
	n := s.n
	id, _, _, code := n.shareCoordinator(ctx, ckey)
	if code != 0 {
		return nil, kerr.ErrorForCode(code)
	}
	if id == n.cfg.ID {
		return s.coord.Handle(ctx, req), nil
	}
	b, ok := n.ctrl.Image().Broker(id)
	if !ok || b.Fenced {
		return nil, kerr.CoordinatorNotAvailable
	}
	addr := interBrokerAddr(b)
	for _, reuse := range []bool{true, false} {
		c, reused, err := n.peers.get(n, addr, reuse)
		if err != nil {
			return nil, err
		}
		dl, _ := ctx.Deadline()
		c.nc.SetDeadline(dl)
		stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
		resp, err := c.do(req)
		if !stop() || err != nil {
			c.close()
			if err != nil && reused && ctx.Err() == nil {
				continue // an idle connection that died with its peer
			}
			return resp, err
		}
		n.peers.put(addr, c)
		return resp, nil
	}
	return nil, kerr.CoordinatorNotAvailable
}

// readState is ReadShareGroupState of one share partition, at the
// leader's epoch.
func (s *shareNode) readState(ctx context.Context, key sharePartKey, leaderEpoch int32) (sharegroup.PartitionState, error) {
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = key.group
	rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = key.partition, leaderEpoch
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = key.topic, []kmsg.ReadShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.ReadShareGroupStateRequestTopic{rt}
	part := func(r kmsg.Response) *kmsg.ReadShareGroupStateResponseTopicPartition {
		out, _ := r.(*kmsg.ReadShareGroupStateResponse)
		if out == nil || len(out.Topics) != 1 || len(out.Topics[0].Partitions) != 1 {
			return nil
		}
		return &out.Topics[0].Partitions[0]
	}
	resp, err := s.callCoordinator(ctx, key, req, func(r kmsg.Response) int16 {
		if p := part(r); p != nil {
			return p.ErrorCode
		}
		return kerr.UnknownServerError.Code
	})
	if err != nil {
		return sharegroup.PartitionState{}, err
	}
	p := part(resp)
	if p == nil {
		return sharegroup.PartitionState{}, kerr.UnknownServerError
	}
	if p.ErrorCode != 0 {
		return sharegroup.PartitionState{}, fmt.Errorf("read share state: %w: %s", kerr.ErrorForCode(p.ErrorCode), derefStr(p.ErrorMessage))
	}
	st := sharegroup.PartitionState{StateEpoch: p.StateEpoch, StartOffset: p.StartOffset}
	for _, b := range p.StateBatches {
		st.Batches = append(st.Batches, sharegroup.StateBatch{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset,
			DeliveryState: sharegroup.RecordState(b.DeliveryState), DeliveryCount: b.DeliveryCount})
	}
	return st, nil
}

// writeState is WriteShareGroupState of one share partition, at the
// leader's epoch.
func (s *shareNode) writeState(ctx context.Context, key sharePartKey, leaderEpoch int32, st sharegroup.PartitionState) error {
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.Version = 0
	req.GroupID = key.group
	rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.StateEpoch, rp.StartOffset = key.partition, leaderEpoch, st.StateEpoch, st.StartOffset
	for _, b := range st.Batches {
		rb := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
		rb.FirstOffset, rb.LastOffset, rb.DeliveryState, rb.DeliveryCount = b.FirstOffset, b.LastOffset, int8(b.DeliveryState), b.DeliveryCount
		rp.StateBatches = append(rp.StateBatches, rb)
	}
	rt := kmsg.NewWriteShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = key.topic, []kmsg.WriteShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.WriteShareGroupStateRequestTopic{rt}
	code := func(r kmsg.Response) int16 {
		out, _ := r.(*kmsg.WriteShareGroupStateResponse)
		if out == nil || len(out.Topics) != 1 || len(out.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError.Code
		}
		return out.Topics[0].Partitions[0].ErrorCode
	}
	resp, err := s.callCoordinator(ctx, key, req, code)
	if err != nil {
		return err
	}
	if c := code(resp); c != 0 {
		return fmt.Errorf("write share state: %w", kerr.ErrorForCode(c))
	}
	return nil
}

// sharePersister is the share coordinator as the group coordinator calls
// it (groups.SharePersister), through callCoordinator.
type sharePersister struct{ n *Node }

// Summary implements groups.SharePersister.
func (p sharePersister) Summary(ctx context.Context, group string, topic [16]byte, partition int32) (int32, int64, int32, error) {
	req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	req.GroupID = group
	rp := kmsg.NewReadShareGroupStateSummaryRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = partition, -1
	rt := kmsg.NewReadShareGroupStateSummaryRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.ReadShareGroupStateSummaryRequestTopicPartition{rp}
	req.Topics = []kmsg.ReadShareGroupStateSummaryRequestTopic{rt}
	part := func(r kmsg.Response) *kmsg.ReadShareGroupStateSummaryResponseTopicPartition {
		out, _ := r.(*kmsg.ReadShareGroupStateSummaryResponse)
		if out == nil || len(out.Topics) != 1 || len(out.Topics[0].Partitions) != 1 {
			return nil
		}
		return &out.Topics[0].Partitions[0]
	}
	resp, err := p.n.share.callCoordinator(ctx, sharePartKey{group, topic, partition}, req, func(r kmsg.Response) int16 {
		if x := part(r); x != nil {
			return x.ErrorCode
		}
		return kerr.UnknownServerError.Code
	})
	if err != nil {
		return 0, -1, -1, err
	}
	x := part(resp)
	if x == nil {
		return 0, -1, -1, kerr.UnknownServerError
	}
	if x.ErrorCode != 0 {
		return 0, -1, -1, kerr.ErrorForCode(x.ErrorCode)
	}
	return x.StateEpoch, x.StartOffset, x.LeaderEpoch, nil
}

// Initialize implements groups.SharePersister.
func (p sharePersister) Initialize(ctx context.Context, group string, topic [16]byte, partition, stateEpoch int32, startOffset int64) error {
	req := kmsg.NewPtrInitializeShareGroupStateRequest()
	req.GroupID = group
	rp := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
	rp.Partition, rp.StateEpoch, rp.StartOffset = partition, stateEpoch, startOffset
	rt := kmsg.NewInitializeShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.InitializeShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.InitializeShareGroupStateRequestTopic{rt}
	code := func(r kmsg.Response) int16 {
		out, _ := r.(*kmsg.InitializeShareGroupStateResponse)
		if out == nil || len(out.Topics) != 1 || len(out.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError.Code
		}
		return out.Topics[0].Partitions[0].ErrorCode
	}
	resp, err := p.n.share.callCoordinator(ctx, sharePartKey{group, topic, partition}, req, code)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(code(resp))
}

// Delete implements groups.SharePersister.
func (p sharePersister) Delete(ctx context.Context, group string, topic [16]byte, partition int32) error {
	req := kmsg.NewPtrDeleteShareGroupStateRequest()
	req.GroupID = group
	rp := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
	rp.Partition = partition
	rt := kmsg.NewDeleteShareGroupStateRequestTopic()
	rt.TopicID, rt.Partitions = topic, []kmsg.DeleteShareGroupStateRequestTopicPartition{rp}
	req.Topics = []kmsg.DeleteShareGroupStateRequestTopic{rt}
	code := func(r kmsg.Response) int16 {
		out, _ := r.(*kmsg.DeleteShareGroupStateResponse)
		if out == nil || len(out.Topics) != 1 || len(out.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError.Code
		}
		return out.Topics[0].Partitions[0].ErrorCode
	}
	resp, err := p.n.share.callCoordinator(ctx, sharePartKey{group, topic, partition}, req, code)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(code(resp))
}
