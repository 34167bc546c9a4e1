package broker

import (
	"context"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/acl"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharecoord"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization, as Kafka's StandardAuthorizer and KafkaApis apply it.
//
// The authorizer is on when authorizer.class.name names Kafka's
// (org.apache.kafka.metadata.authorizer.StandardAuthorizer, or the older
// kafka.security.authorizer.AclAuthorizer), and also when a client
// listener authenticates (SASL_PLAINTEXT, SASL_SSL, or SSL with
// ssl.client.auth=required): then, unless allow.everyone.if.no.acl.found
// is set, a resource no ACL applies to is open to everyone authenticated,
// where Kafka's default would shut it, so that a secured embedded cluster
// works before its first ACL. super.users may do everything.
//
// Every request is checked here, before the node serves it, with the
// operation and resource Kafka checks and the error Kafka answers: an
// item the principal may not touch (a topic of a produce, a group of a
// DescribeGroups) gets its error and is left out of what the node
// handles; a request refused as a whole gets its error in every item.
// Topics a principal may not describe are left out of Metadata and
// OffsetFetch answers that list everything, as in Kafka. Requests on the
// nodes' own listener (replication, transaction markers) are not checked.

// authorizer is a node's authorization state.
type authorizer struct {
	on bool
	a  *acl.Authorizer
}

// Names authorizer.class.name accepts: Kafka's authorizers.
const (
	standardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	aclAuthorizer      = "kafka.security.authorizer.AclAuthorizer"
)

// newAuthorizer reads the authorizer configs; listenersAuthenticate says
// whether a client listener authenticates its clients.
func newAuthorizer(b *configs.Broker, listenersAuthenticate bool) (*authorizer, error) {
	class, _ := b.Get("authorizer.class.name")
	on := class != "" || listenersAuthenticate
	users, _ := b.Get("super.users")
	supers, err := acl.ParseSuperUsers(users)
	if err != nil {
		return nil, err
	}
	allowAll, set := b.Get("allow.everyone.if.no.acl.found")
	everyone := allowAll == "true" || (!set && class == "")
	return &authorizer{on: on, a: acl.New(acl.Options{SuperUsers: supers, AllowEveryoneIfNoACLFound: everyone})}, nil
}

// authenticates reports whether a listener authenticates its clients.
func (l *Listener) authenticates() bool {
	if l.Protocol.SASL() {
		return true
	}
	return l.TLS != nil && l.TLS.ClientAuth >= 4 // tls.RequireAndVerifyClientCert
}

// may reports whether the request's principal may do op on a resource.
func (n *Node) may(ctx context.Context, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	if !n.authz.on || fromBroker(ctx) {
		return true
	}
	return n.authz.a.Authorize(principalOf(ctx), hostOf(ctx), op, typ, name)
}

// mayAny reports whether the principal may do op on some resource of typ.
func (n *Node) mayAny(ctx context.Context, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool {
	if !n.authz.on || fromBroker(ctx) {
		return true
	}
	return n.authz.a.AuthorizeAny(principalOf(ctx), hostOf(ctx), op, typ)
}

const (
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDel             = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
	opClusterAction   = kmsg.ACLOperationClusterAction

	resTopic = kmsg.ACLResourceTypeTopic
	resGroup = kmsg.ACLResourceTypeGroup
	resClust = kmsg.ACLResourceTypeCluster
	resTxnID = kmsg.ACLResourceTypeTransactionalId
)

func (n *Node) mayCluster(ctx context.Context, op kmsg.ACLOperation) bool {
	return n.may(ctx, op, resClust, acl.ClusterName)
}

// topicOf names a topic given by name or, from the versions that carry
// ids, by id.
func (n *Node) topicOf(name string, id [16]byte) string {
	if id != [16]byte{} {
		if t, ok := n.topicName(id); ok {
			return t
		}
	}
	return name
}

// authorize checks a request and serves what it may do.
func (n *Node) authorize(ctx context.Context, c *wire.Conn, req *wire.Request) wire.Pending {
	if !n.authz.on {
		return n.Handle(ctx, c, req)
	}
	serve := func() wire.Pending { return n.Handle(ctx, c, req) }
	refuse := func(code int16) wire.Pending { return done(errorResponse(req.Body, code)) }
	switch r := req.Body.(type) {
	case *kmsg.ProduceRequest:
		if r.TransactionID != nil && !n.may(ctx, opWrite, resTxnID, *r.TransactionID) {
			return refuse(kerr.TransactionalIDAuthorizationFailed.Code)
		}
		denied := refused(&r.Topics, func(t kmsg.ProduceRequestTopic) bool {
			return n.may(ctx, opWrite, resTopic, n.topicOf(t.Topic, t.TopicID))
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.ProduceResponse)
			for _, t := range denied {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.FetchRequest:
		denied := refused(&r.Topics, func(t kmsg.FetchRequestTopic) bool {
			return n.may(ctx, opRead, resTopic, n.topicOf(t.Topic, t.TopicID))
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := fetchResponseOf(resp)
			for _, t := range denied {
				rt := kmsg.NewFetchResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
					rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.ListOffsetsRequest:
		denied := refused(&r.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return n.may(ctx, opDescribe, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.ListOffsetsResponse)
			for _, t := range denied {
				rt := kmsg.NewListOffsetsResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewListOffsetsResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset, rp.Timestamp = p.Partition, kerr.TopicAuthorizationFailed.Code, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.OffsetForLeaderEpochRequest:
		denied := refused(&r.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool { return n.may(ctx, opDescribe, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetForLeaderEpochResponse)
			for _, t := range denied {
				rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, kerr.TopicAuthorizationFailed.Code, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.MetadataRequest:
		return n.authorizeMetadata(ctx, r, serve)
	case *kmsg.OffsetCommitRequest:
		if !n.may(ctx, opRead, resGroup, r.Group) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		denied := refused(&r.Topics, func(t kmsg.OffsetCommitRequestTopic) bool {
			return n.may(ctx, opRead, resTopic, n.topicOf(t.Topic, t.TopicID))
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetCommitResponse)
			for _, t := range denied {
				rt := kmsg.NewOffsetCommitResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetCommitResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.OffsetFetchRequest:
		return n.authorizeOffsetFetch(ctx, r, serve)
	case *kmsg.FindCoordinatorRequest:
		typ, code := resGroup, kerr.GroupAuthorizationFailed.Code
		if r.CoordinatorType == 1 {
			typ, code = resTxnID, kerr.TransactionalIDAuthorizationFailed.Code
		}
		if r.CoordinatorType == coordinatorShare {
			// Kafka: CLUSTER_ACTION on the cluster for share
			// coordinator keys, which only brokers look up.
			if n.mayCluster(ctx, opClusterAction) {
				return serve()
			}
			code := kerr.ClusterAuthorizationFailed.Code
			if r.Version < 4 {
				return refuse(code)
			}
			resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
			addDeniedCoordinators(resp, r.CoordinatorKeys, code)
			return done(resp)
		}
		if r.Version < 4 {
			if !n.may(ctx, opDescribe, typ, r.CoordinatorKey) {
				return refuse(code)
			}
			return serve()
		}
		denied := refused(&r.CoordinatorKeys, func(k string) bool { return n.may(ctx, opDescribe, typ, k) })
		if len(r.CoordinatorKeys) == 0 {
			resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
			addDeniedCoordinators(resp, denied, code)
			return done(resp)
		}
		return merge(serve(), func(resp kmsg.Response) { addDeniedCoordinators(resp.(*kmsg.FindCoordinatorResponse), denied, code) })
	case *kmsg.JoinGroupRequest:
		return n.groupOp(ctx, opRead, r.Group, refuse, serve)
	case *kmsg.SyncGroupRequest:
		return n.groupOp(ctx, opRead, r.Group, refuse, serve)
	case *kmsg.HeartbeatRequest:
		return n.groupOp(ctx, opRead, r.Group, refuse, serve)
	case *kmsg.LeaveGroupRequest:
		return n.groupOp(ctx, opRead, r.Group, refuse, serve)
	case *kmsg.OffsetDeleteRequest:
		if !n.may(ctx, opDel, resGroup, r.Group) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		denied := refused(&r.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool { return n.may(ctx, opRead, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetDeleteResponse)
			for _, t := range denied {
				rt := kmsg.NewOffsetDeleteResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetDeleteResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.ConsumerGroupHeartbeatRequest:
		// Kafka's handleConsumerGroupHeartbeat: READ on the group,
		// DESCRIBE on every topic subscribed by name.
		if !n.may(ctx, opRead, resGroup, r.Group) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		for _, t := range r.SubscribedTopicNames {
			if !n.may(ctx, opDescribe, resTopic, t) {
				return refuse(kerr.TopicAuthorizationFailed.Code)
			}
		}
		return serve()
	case *kmsg.ShareFetchRequest:
		// Kafka's handleShareFetchRequest: READ on the group, and READ
		// on each topic, whose partitions answer
		// TOPIC_AUTHORIZATION_FAILED (and stay out of the share
		// session) without it.
		if r.GroupID == nil || !n.may(ctx, opRead, resGroup, *r.GroupID) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		denied := refused(&r.Topics, func(t kmsg.ShareFetchRequestTopic) bool {
			name, ok := n.topicName(t.TopicID)
			return !ok || n.may(ctx, opRead, resTopic, name)
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.ShareFetchResponse)
			for _, t := range denied {
				rt := kmsg.NewShareFetchResponseTopic()
				rt.TopicID = t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewShareFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Records = p.Partition, kerr.TopicAuthorizationFailed.Code, []byte{}
					if len(p.AcknowledgementBatches) > 0 {
						rp.AcknowledgeErrorCode = kerr.TopicAuthorizationFailed.Code
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.ShareAcknowledgeRequest:
		// As ShareFetch.
		if r.GroupID == nil || !n.may(ctx, opRead, resGroup, *r.GroupID) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		denied := refused(&r.Topics, func(t kmsg.ShareAcknowledgeRequestTopic) bool {
			name, ok := n.topicName(t.TopicID)
			return !ok || n.may(ctx, opRead, resTopic, name)
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.ShareAcknowledgeResponse)
			for _, t := range denied {
				rt := kmsg.NewShareAcknowledgeResponseTopic()
				rt.TopicID = t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.InitializeShareGroupStateRequest, *kmsg.ReadShareGroupStateRequest, *kmsg.WriteShareGroupStateRequest,
		*kmsg.DeleteShareGroupStateRequest, *kmsg.ReadShareGroupStateSummaryRequest:
		// Kafka's share coordinator RPCs: CLUSTER_ACTION, as for the
		// other requests brokers send each other.
		if !n.mayCluster(ctx, opClusterAction) {
			return done(sharecoord.ErrorResponse(r, kerr.ClusterAuthorizationFailed.Code))
		}
		return serve()
	case *kmsg.ShareGroupHeartbeatRequest:
		// Kafka's handleShareGroupHeartbeat: READ on the group, DESCRIBE
		// on every subscribed topic.
		if !n.may(ctx, opRead, resGroup, r.GroupID) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		for _, t := range r.SubscribedTopicNames {
			if !n.may(ctx, opDescribe, resTopic, t) {
				return refuse(kerr.TopicAuthorizationFailed.Code)
			}
		}
		return serve()
	case *kmsg.DescribeShareGroupOffsetsRequest:
		// Kafka: DESCRIBE on the group (and on the topics; deviation: not
		// checked per topic here).
		for _, g := range r.Groups {
			if !n.may(ctx, opDescribe, resGroup, g.GroupID) {
				return refuse(kerr.GroupAuthorizationFailed.Code)
			}
		}
		return serve()
	case *kmsg.AlterShareGroupOffsetsRequest:
		// Kafka: READ on the group and the topics.
		if !n.may(ctx, opRead, resGroup, r.GroupID) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		for _, t := range r.Topics {
			if !n.may(ctx, opRead, resTopic, t.Topic) {
				return refuse(kerr.TopicAuthorizationFailed.Code)
			}
		}
		return serve()
	case *kmsg.DeleteShareGroupOffsetsRequest:
		// Kafka: DELETE on the group, READ on the topics.
		if !n.may(ctx, opDel, resGroup, r.GroupID) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		for _, t := range r.Topics {
			if !n.may(ctx, opRead, resTopic, t.Topic) {
				return refuse(kerr.TopicAuthorizationFailed.Code)
			}
		}
		return serve()
	case *kmsg.ShareGroupDescribeRequest:
		denied := refused(&r.GroupIDs, func(g string) bool { return n.may(ctx, opDescribe, resGroup, g) })
		add := func(resp kmsg.Response) {
			out := resp.(*kmsg.ShareGroupDescribeResponse)
			for _, g := range denied {
				rg := kmsg.NewShareGroupDescribeResponseGroup()
				rg.GroupID, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
				out.Groups = append(out.Groups, rg)
			}
		}
		if len(r.GroupIDs) == 0 {
			resp := r.ResponseKind()
			add(resp)
			return done(resp)
		}
		return merge(serve(), add)
	case *kmsg.ConsumerGroupDescribeRequest:
		denied := refused(&r.Groups, func(g string) bool { return n.may(ctx, opDescribe, resGroup, g) })
		add := func(resp kmsg.Response) {
			out := resp.(*kmsg.ConsumerGroupDescribeResponse)
			for _, g := range denied {
				rg := kmsg.NewConsumerGroupDescribeResponseGroup()
				rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
				out.Groups = append(out.Groups, rg)
			}
		}
		if len(r.Groups) == 0 {
			resp := r.ResponseKind()
			add(resp)
			return done(resp)
		}
		return merge(serve(), add)
	case *kmsg.DescribeGroupsRequest:
		denied := refused(&r.Groups, func(g string) bool { return n.may(ctx, opDescribe, resGroup, g) })
		add := func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeGroupsResponse)
			for _, g := range denied {
				rg := kmsg.NewDescribeGroupsResponseGroup()
				rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
				out.Groups = append(out.Groups, rg)
			}
		}
		if len(r.Groups) == 0 {
			resp := r.ResponseKind()
			add(resp)
			return done(resp)
		}
		return merge(serve(), add)
	case *kmsg.ListGroupsRequest:
		if n.mayCluster(ctx, opDescribe) {
			return serve()
		}
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.ListGroupsResponse)
			out.Groups = slices.DeleteFunc(out.Groups, func(g kmsg.ListGroupsResponseGroup) bool { return !n.may(ctx, opDescribe, resGroup, g.Group) })
		})
	case *kmsg.DeleteGroupsRequest:
		denied := refused(&r.Groups, func(g string) bool { return n.may(ctx, opDel, resGroup, g) })
		add := func(resp kmsg.Response) {
			out := resp.(*kmsg.DeleteGroupsResponse)
			for _, g := range denied {
				rg := kmsg.NewDeleteGroupsResponseGroup()
				rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
				out.Groups = append(out.Groups, rg)
			}
		}
		if len(r.Groups) == 0 {
			resp := r.ResponseKind()
			add(resp)
			return done(resp)
		}
		return merge(serve(), add)
	case *kmsg.CreateTopicsRequest:
		if n.mayCluster(ctx, opCreate) {
			return serve()
		}
		denied := refused(&r.Topics, func(t kmsg.CreateTopicsRequestTopic) bool { return n.may(ctx, opCreate, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.CreateTopicsResponse)
			for _, t := range denied {
				rt := kmsg.NewCreateTopicsResponseTopic()
				rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
				rt.ErrorMessage = kmsg.StringPtr("Authorization failed.")
				rt.NumPartitions, rt.ReplicationFactor = -1, -1
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.DeleteTopicsRequest:
		var denied []kmsg.DeleteTopicsRequestTopic
		r.Topics = slices.DeleteFunc(r.Topics, func(t kmsg.DeleteTopicsRequestTopic) bool {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			ok := n.may(ctx, opDel, resTopic, n.topicOf(name, t.TopicID))
			if !ok {
				denied = append(denied, t)
			}
			return !ok
		})
		var deniedNames []string
		for _, t := range r.TopicNames {
			if !n.may(ctx, opDel, resTopic, t) {
				deniedNames = append(deniedNames, t)
			}
		}
		r.TopicNames = slices.DeleteFunc(r.TopicNames, func(t string) bool { return slices.Contains(deniedNames, t) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.DeleteTopicsResponse)
			add := func(name *string, id [16]byte) {
				rt := kmsg.NewDeleteTopicsResponseTopic()
				rt.Topic, rt.TopicID, rt.ErrorCode = name, id, kerr.TopicAuthorizationFailed.Code
				out.Topics = append(out.Topics, rt)
			}
			for _, t := range denied {
				add(t.Topic, t.TopicID)
			}
			for _, t := range deniedNames {
				add(kmsg.StringPtr(t), [16]byte{})
			}
		})
	case *kmsg.CreatePartitionsRequest:
		denied := refused(&r.Topics, func(t kmsg.CreatePartitionsRequestTopic) bool { return n.may(ctx, opAlter, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.CreatePartitionsResponse)
			for _, t := range denied {
				rt := kmsg.NewCreatePartitionsResponseTopic()
				rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.DeleteRecordsRequest:
		denied := refused(&r.Topics, func(t kmsg.DeleteRecordsRequestTopic) bool { return n.may(ctx, opDel, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.DeleteRecordsResponse)
			for _, t := range denied {
				rt := kmsg.NewDeleteRecordsResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewDeleteRecordsResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, kerr.TopicAuthorizationFailed.Code, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.DescribeConfigsRequest:
		var denied []configRes
		r.Resources = slices.DeleteFunc(r.Resources, func(x kmsg.DescribeConfigsRequestResource) bool {
			return n.denyConfig(ctx, opDescribeConfigs, x.ResourceType, x.ResourceName, &denied)
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeConfigsResponse)
			for _, d := range denied {
				rr := kmsg.NewDescribeConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.typ, d.name, d.code
				out.Resources = append(out.Resources, rr)
			}
		})
	case *kmsg.AlterConfigsRequest:
		var denied []configRes
		r.Resources = slices.DeleteFunc(r.Resources, func(x kmsg.AlterConfigsRequestResource) bool {
			return n.denyConfig(ctx, opAlterConfigs, x.ResourceType, x.ResourceName, &denied)
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.AlterConfigsResponse)
			for _, d := range denied {
				rr := kmsg.NewAlterConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.typ, d.name, d.code
				out.Resources = append(out.Resources, rr)
			}
		})
	case *kmsg.IncrementalAlterConfigsRequest:
		var denied []configRes
		r.Resources = slices.DeleteFunc(r.Resources, func(x kmsg.IncrementalAlterConfigsRequestResource) bool {
			return n.denyConfig(ctx, opAlterConfigs, x.ResourceType, x.ResourceName, &denied)
		})
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.IncrementalAlterConfigsResponse)
			for _, d := range denied {
				rr := kmsg.NewIncrementalAlterConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.typ, d.name, d.code
				out.Resources = append(out.Resources, rr)
			}
		})
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID != nil {
			if !n.may(ctx, opWrite, resTxnID, *r.TransactionalID) {
				return refuse(kerr.TransactionalIDAuthorizationFailed.Code)
			}
			return serve()
		}
		if !n.mayCluster(ctx, opIdempotentWrite) && !n.mayAny(ctx, opWrite, resTopic) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.AddPartitionsToTxnRequest:
		if r.Version >= 4 {
			return serve() // the brokers' own batched form
		}
		if !n.may(ctx, opWrite, resTxnID, r.TransactionalID) {
			return refuse(kerr.TransactionalIDAuthorizationFailed.Code)
		}
		for _, t := range r.Topics {
			if !n.may(ctx, opWrite, resTopic, t.Topic) {
				// Kafka adds none: the denied topics fail, the others
				// are not attempted.
				resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
				for _, t := range r.Topics {
					code := kerr.OperationNotAttempted.Code
					if !n.may(ctx, opWrite, resTopic, t.Topic) {
						code = kerr.TopicAuthorizationFailed.Code
					}
					rt := kmsg.NewAddPartitionsToTxnResponseTopic()
					rt.Topic = t.Topic
					for _, p := range t.Partitions {
						rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
						rp.Partition, rp.ErrorCode = p, code
						rt.Partitions = append(rt.Partitions, rp)
					}
					resp.Topics = append(resp.Topics, rt)
				}
				return done(resp)
			}
		}
		return serve()
	case *kmsg.AddOffsetsToTxnRequest:
		if !n.may(ctx, opWrite, resTxnID, r.TransactionalID) {
			return refuse(kerr.TransactionalIDAuthorizationFailed.Code)
		}
		if !n.may(ctx, opRead, resGroup, r.Group) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.EndTxnRequest:
		if !n.may(ctx, opWrite, resTxnID, r.TransactionalID) {
			return refuse(kerr.TransactionalIDAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.TxnOffsetCommitRequest:
		if !n.may(ctx, opWrite, resTxnID, r.TransactionalID) {
			return refuse(kerr.TransactionalIDAuthorizationFailed.Code)
		}
		if !n.may(ctx, opRead, resGroup, r.Group) {
			return refuse(kerr.GroupAuthorizationFailed.Code)
		}
		for _, t := range r.Topics {
			if !n.may(ctx, opRead, resTopic, t.Topic) {
				return refuse(kerr.TopicAuthorizationFailed.Code)
			}
		}
		return serve()
	case *kmsg.DescribeProducersRequest:
		denied := refused(&r.Topics, func(t kmsg.DescribeProducersRequestTopic) bool { return n.may(ctx, opRead, resTopic, t.Topic) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeProducersResponse)
			for _, t := range denied {
				rt := kmsg.NewDescribeProducersResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewDescribeProducersResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.TopicAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				out.Topics = append(out.Topics, rt)
			}
		})
	case *kmsg.DescribeTransactionsRequest:
		denied := refused(&r.TransactionalIDs, func(id string) bool { return n.may(ctx, opDescribe, resTxnID, id) })
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeTransactionsResponse)
			for _, id := range denied {
				rt := kmsg.NewDescribeTransactionsResponseTransactionState()
				rt.TransactionalID, rt.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
				out.TransactionStates = append(out.TransactionStates, rt)
			}
		})
	case *kmsg.ListTransactionsRequest:
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.ListTransactionsResponse)
			out.TransactionStates = slices.DeleteFunc(out.TransactionStates, func(s kmsg.ListTransactionsResponseTransactionState) bool {
				return !n.may(ctx, opDescribe, resTxnID, s.TransactionalID)
			})
		})
	case *kmsg.ElectLeadersRequest:
		if !n.mayCluster(ctx, opAlter) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		if !n.mayCluster(ctx, opDescribe) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		if !n.mayCluster(ctx, opAlter) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.DescribeClientQuotasRequest:
		if !n.mayCluster(ctx, opDescribeConfigs) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.AlterClientQuotasRequest:
		if !n.mayCluster(ctx, opAlterConfigs) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.DescribeACLsRequest:
		if !n.mayCluster(ctx, opDescribe) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	case *kmsg.CreateACLsRequest, *kmsg.DeleteACLsRequest:
		if !n.mayCluster(ctx, opAlter) {
			return refuse(kerr.ClusterAuthorizationFailed.Code)
		}
		return serve()
	}
	return serve()
}

// refused removes from items those the principal may not touch (allowed
// false) and returns them, in order.
func refused[T any](items *[]T, allowed func(T) bool) (denied []T) {
	*items = slices.DeleteFunc(*items, func(x T) bool {
		if allowed(x) {
			return false
		}
		denied = append(denied, x)
		return true
	})
	return denied
}

// groupOp refuses a group request the principal may not do op on.
func (n *Node) groupOp(ctx context.Context, op kmsg.ACLOperation, group string, refuse func(int16) wire.Pending, serve func() wire.Pending) wire.Pending {
	if !n.may(ctx, op, resGroup, group) {
		return refuse(kerr.GroupAuthorizationFailed.Code)
	}
	return serve()
}

func addDeniedCoordinators(resp *kmsg.FindCoordinatorResponse, keys []string, code int16) {
	for _, k := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port, c.ErrorCode = k, -1, -1, code
		resp.Coordinators = append(resp.Coordinators, c)
	}
}

// merge runs add on p's response, when it has one.
func merge(p wire.Pending, add func(kmsg.Response)) wire.Pending {
	if p == nil {
		return nil
	}
	return func() kmsg.Response {
		resp := p()
		if resp != nil {
			add(resp)
		}
		return resp
	}
}

// errorResponse is req's response with code in every error field Kafka
// sets for a request refused as a whole.
func errorResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		out := resp.(*kmsg.ProduceResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	case *kmsg.OffsetCommitRequest:
		out := resp.(*kmsg.OffsetCommitResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	case *kmsg.TxnOffsetCommitRequest:
		out := resp.(*kmsg.TxnOffsetCommitResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	case *kmsg.FindCoordinatorRequest:
		out := resp.(*kmsg.FindCoordinatorResponse)
		out.ErrorCode, out.NodeID, out.Port = code, -1, -1
	case *kmsg.JoinGroupRequest:
		out := resp.(*kmsg.JoinGroupResponse)
		out.ErrorCode, out.Generation = code, -1
	case *kmsg.SyncGroupRequest:
		resp.(*kmsg.SyncGroupResponse).ErrorCode = code
	case *kmsg.HeartbeatRequest:
		resp.(*kmsg.HeartbeatResponse).ErrorCode = code
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode = code
	case *kmsg.ShareGroupHeartbeatRequest:
		resp.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode = code
	case *kmsg.ShareFetchRequest:
		resp.(*kmsg.ShareFetchResponse).ErrorCode = code
	case *kmsg.DescribeShareGroupOffsetsRequest:
		out := resp.(*kmsg.DescribeShareGroupOffsetsResponse)
		for _, g := range r.Groups {
			rg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
			rg.GroupID, rg.ErrorCode = g.GroupID, code
			out.Groups = append(out.Groups, rg)
		}
	case *kmsg.AlterShareGroupOffsetsRequest:
		resp.(*kmsg.AlterShareGroupOffsetsResponse).ErrorCode = code
	case *kmsg.DeleteShareGroupOffsetsRequest:
		resp.(*kmsg.DeleteShareGroupOffsetsResponse).ErrorCode = code
	case *kmsg.ShareAcknowledgeRequest:
		resp.(*kmsg.ShareAcknowledgeResponse).ErrorCode = code
	case *kmsg.LeaveGroupRequest:
		resp.(*kmsg.LeaveGroupResponse).ErrorCode = code
	case *kmsg.OffsetDeleteRequest:
		resp.(*kmsg.OffsetDeleteResponse).ErrorCode = code
	case *kmsg.InitProducerIDRequest:
		out := resp.(*kmsg.InitProducerIDResponse)
		out.ErrorCode, out.ProducerID, out.ProducerEpoch = code, -1, -1
	case *kmsg.AddPartitionsToTxnRequest:
		out := resp.(*kmsg.AddPartitionsToTxnResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	case *kmsg.AddOffsetsToTxnRequest:
		resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode = code
	case *kmsg.EndTxnRequest:
		resp.(*kmsg.EndTxnResponse).ErrorCode = code
	case *kmsg.ElectLeadersRequest:
		resp.(*kmsg.ElectLeadersResponse).ErrorCode = code
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		resp.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode = code
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		out := resp.(*kmsg.AlterUserSCRAMCredentialsResponse)
		users := map[string]bool{}
		for _, d := range r.Deletions {
			users[d.Name] = true
		}
		for _, u := range r.Upsertions {
			users[u.Name] = true
		}
		for u := range users {
			rr := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			rr.User, rr.ErrorCode = u, code
			out.Results = append(out.Results, rr)
		}
	case *kmsg.DescribeClientQuotasRequest:
		resp.(*kmsg.DescribeClientQuotasResponse).ErrorCode = code
	case *kmsg.AlterClientQuotasRequest:
		out := resp.(*kmsg.AlterClientQuotasResponse)
		for _, e := range r.Entries {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			for _, c := range e.Entity {
				re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity(c))
			}
			re.ErrorCode = code
			out.Entries = append(out.Entries, re)
		}
	case *kmsg.DescribeACLsRequest:
		resp.(*kmsg.DescribeACLsResponse).ErrorCode = code
	case *kmsg.CreateACLsRequest:
		out := resp.(*kmsg.CreateACLsResponse)
		for range r.Creations {
			rc := kmsg.NewCreateACLsResponseResult()
			rc.ErrorCode = code
			out.Results = append(out.Results, rc)
		}
	case *kmsg.DeleteACLsRequest:
		out := resp.(*kmsg.DeleteACLsResponse)
		for range r.Filters {
			rf := kmsg.NewDeleteACLsResponseResult()
			rf.ErrorCode = code
			out.Results = append(out.Results, rf)
		}
	}
	return resp
}

// authorizeMetadata leaves the topics the principal may not describe out
// of a Metadata answer listing them all, answers TOPIC_AUTHORIZATION_FAILED
// for those it names, and creates a missing topic only with CREATE on the
// cluster or the topic (UNKNOWN_TOPIC_OR_PARTITION otherwise).
func (n *Node) authorizeMetadata(ctx context.Context, r *kmsg.MetadataRequest, serve func() wire.Pending) wire.Pending {
	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	img := n.ctrl.Image()
	var denied, uncreatable []kmsg.MetadataRequestTopic
	if !all {
		mayCreate := n.mayCluster(ctx, opCreate)
		r.Topics = slices.DeleteFunc(r.Topics, func(t kmsg.MetadataRequestTopic) bool {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			name = n.topicOf(name, t.TopicID)
			if !n.may(ctx, opDescribe, resTopic, name) {
				denied = append(denied, t)
				return true
			}
			if _, exists := img.Topic(name); !exists && r.AllowAutoTopicCreation && !mayCreate && !n.may(ctx, opCreate, resTopic, name) {
				uncreatable = append(uncreatable, t)
				return true
			}
			return false
		})
	}
	return merge(serve(), func(resp kmsg.Response) {
		out := resp.(*kmsg.MetadataResponse)
		if all {
			out.Topics = slices.DeleteFunc(out.Topics, func(t kmsg.MetadataResponseTopic) bool {
				return t.Topic == nil || !n.may(ctx, opDescribe, resTopic, *t.Topic)
			})
			return
		}
		add := func(ts []kmsg.MetadataRequestTopic, code int16) {
			for _, t := range ts {
				rt := kmsg.NewMetadataResponseTopic()
				rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, code
				out.Topics = append(out.Topics, rt)
			}
		}
		add(denied, kerr.TopicAuthorizationFailed.Code)
		add(uncreatable, kerr.UnknownTopicOrPartition.Code)
	})
}

// authorizeOffsetFetch checks DESCRIBE on each group and on the topics of
// the answer: a topic the principal may not describe is answered
// TOPIC_AUTHORIZATION_FAILED when named, and left out when all are asked.
func (n *Node) authorizeOffsetFetch(ctx context.Context, r *kmsg.OffsetFetchRequest, serve func() wire.Pending) wire.Pending {
	if r.Version < 8 {
		if !n.may(ctx, opDescribe, resGroup, r.Group) {
			resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return done(resp)
		}
		return merge(serve(), func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetFetchResponse)
			filterOffsetTopics(ctx, n, r.Topics == nil, &out.Topics)
		})
	}
	var denied []string
	r.Groups = slices.DeleteFunc(r.Groups, func(g kmsg.OffsetFetchRequestGroup) bool {
		ok := n.may(ctx, opDescribe, resGroup, g.Group)
		if !ok {
			denied = append(denied, g.Group)
		}
		return !ok
	})
	allTopics := map[string]bool{}
	for _, g := range r.Groups {
		allTopics[g.Group] = g.Topics == nil
	}
	add := func(resp kmsg.Response) {
		out := resp.(*kmsg.OffsetFetchResponse)
		for i := range out.Groups {
			g := &out.Groups[i]
			for j := range g.Topics {
				t := &g.Topics[j]
				if n.may(ctx, opDescribe, resTopic, n.topicOf(t.Topic, t.TopicID)) {
					continue
				}
				for k := range t.Partitions {
					t.Partitions[k].ErrorCode, t.Partitions[k].Offset = kerr.TopicAuthorizationFailed.Code, -1
				}
			}
			if allTopics[g.Group] {
				g.Topics = slices.DeleteFunc(g.Topics, func(t kmsg.OffsetFetchResponseGroupTopic) bool {
					return !n.may(ctx, opDescribe, resTopic, n.topicOf(t.Topic, t.TopicID))
				})
			}
		}
		for _, g := range denied {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			out.Groups = append(out.Groups, rg)
		}
	}
	if len(r.Groups) == 0 {
		resp := r.ResponseKind()
		add(resp)
		return done(resp)
	}
	return merge(serve(), add)
}

// filterOffsetTopics marks (or, for an answer about all topics, drops)
// the topics of a pre-v8 OffsetFetch answer the principal may not
// describe.
func filterOffsetTopics(ctx context.Context, n *Node, all bool, ts *[]kmsg.OffsetFetchResponseTopic) {
	if all {
		*ts = slices.DeleteFunc(*ts, func(t kmsg.OffsetFetchResponseTopic) bool { return !n.may(ctx, opDescribe, resTopic, t.Topic) })
		return
	}
	for i := range *ts {
		t := &(*ts)[i]
		if n.may(ctx, opDescribe, resTopic, t.Topic) {
			continue
		}
		for k := range t.Partitions {
			t.Partitions[k].ErrorCode, t.Partitions[k].Offset = kerr.TopicAuthorizationFailed.Code, -1
		}
	}
}

// configRes is a config resource refused, with its error.
type configRes struct {
	typ  kmsg.ConfigResourceType
	name string
	code int16
}

// denyConfig reports whether op on a config resource (a topic, or the
// cluster for a broker's configs) is refused, noting it in denied.
func (n *Node) denyConfig(ctx context.Context, op kmsg.ACLOperation, typ kmsg.ConfigResourceType, name string, denied *[]configRes) bool {
	ok, code := true, int16(0)
	switch typ {
	case resourceTopic:
		ok, code = n.may(ctx, op, resTopic, name), kerr.TopicAuthorizationFailed.Code
	case resourceGroup:
		// Kafka: DESCRIBE_CONFIGS or ALTER_CONFIGS on the group.
		ok, code = n.may(ctx, op, resGroup, name), kerr.GroupAuthorizationFailed.Code
	default:
		ok, code = n.mayCluster(ctx, op), kerr.ClusterAuthorizationFailed.Code
	}
	if !ok {
		*denied = append(*denied, configRes{typ, name, code})
	}
	return !ok
}

// applyACLs loads changed ACLs from the metadata.
func (n *Node) applyACLs(img *controller.Image) {
	b := img.ACLs()
	if b == nil {
		b = acl.New(acl.Options{}).Snapshot()
	}
	if err := n.authz.a.Restore(b); err != nil {
		n.log.Error("loading ACLs from the metadata", "err", err)
	}
}
