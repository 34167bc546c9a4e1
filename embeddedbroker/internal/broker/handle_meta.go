package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleApiVersions(req *wire.Request, body *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.UnsupportedVersion {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	}
	keys := make([]int, 0, len(served))
	for k := range served {
		keys = append(keys, int(k))
	}
	slices.Sort(keys)
	for _, k := range keys {
		lo, hi, ok := versions(int16(k))
		if !ok {
			continue
		}
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(k), MinVersion: lo, MaxVersion: hi})
	}
	return resp
}

func (n *Node) handleMetadata(ctx context.Context, req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := n.ctrl.Image()
	listener := listenerName(ctx)
	for _, b := range img.Brokers {
		host, port, ok := b.Endpoint(listener)
		if b.Fenced || !ok {
			continue
		}
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: b.ID, Host: host, Port: port, Rack: b.Rack})
	}
	cid := img.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = img.ControllerID

	var names []string
	switch {
	case req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0):
		names = make([]string, 0, img.NumTopics())
		for t := range img.Topics() {
			names = append(names, t.Name)
		}
	default:
		for _, t := range req.Topics {
			switch {
			case t.Topic != nil:
				names = append(names, *t.Topic)
			case t.TopicID != [16]byte{}:
				if name, ok := n.topicNameIn(img, t.TopicID); ok {
					names = append(names, name)
				} else {
					mt := kmsg.NewMetadataResponseTopic()
					mt.TopicID = t.TopicID
					mt.ErrorCode = kerr.UnknownTopicID.Code
					resp.Topics = append(resp.Topics, mt)
				}
			}
		}
	}
	autoCreate := n.cfg.Broker.Bool("auto.create.topics.enable") && (req.Version < 4 || req.AllowAutoTopicCreation) && req.Topics != nil
	for _, name := range names {
		t, ok := img.Topic(name)
		if !ok && autoCreate && controller.ValidateTopicName(name) == nil {
			spec, internal := n.internalTopicSpec(name)
			if !internal {
				spec = controller.TopicSpec{Name: name, Partitions: -1, ReplicationFactor: -1}
			}
			created, err := n.ctrl.CreateTopic(ctx, spec, false)
			if err == nil || errors.Is(err, controller.ErrTopicExists) {
				img = n.ctrl.Image()
				t, ok = img.Topic(name)
				if !ok {
					ok = true
					t = created
				}
			}
		}
		mt := kmsg.NewMetadataResponseTopic()
		tn := name
		mt.Topic = &tn
		if !ok || t == nil {
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if controller.ValidateTopicName(name) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		mt.TopicID = t.ID
		mt.IsInternal = t.Internal
		mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, t.NumPartitions())
		for i, st := range t.Partitions() {
			mt.Partitions = append(mt.Partitions, metadataPartition(img, i, &st))
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func metadataPartition(img *controller.Image, i int32, st *controller.Partition) kmsg.MetadataResponseTopicPartition {
	mp := kmsg.NewMetadataResponseTopicPartition()
	mp.Partition = i
	mp.Leader = st.Leader
	mp.LeaderEpoch = st.LeaderEpoch
	mp.Replicas = slices.Clone(st.Replicas)
	mp.ISR = slices.Clone(st.ISR)
	for _, r := range st.Replicas {
		if b, ok := img.Broker(r); !ok || b.Fenced {
			mp.OfflineReplicas = append(mp.OfflineReplicas, r)
		}
	}
	if st.Leader < 0 {
		mp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return mp
}

func (n *Node) topicNameIn(img *controller.Image, id [16]byte) (string, bool) {
	t, ok := img.TopicByID(controller.TopicID(id))
	if !ok {
		return "", false
	}
	return t.Name, true
}

func (n *Node) handleDescribeCluster(ctx context.Context, req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	img := n.ctrl.Image()
	if req.EndpointType > 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp
	}
	resp.EndpointType = 1
	resp.ClusterID = img.ClusterID
	resp.ControllerID = img.ControllerID
	listener := listenerName(ctx)
	for _, b := range img.Brokers {
		host, port, ok := b.Endpoint(listener)
		if b.Fenced || !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.ID, host, port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
