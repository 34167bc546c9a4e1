package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	resourceTopic  = 2
	resourceBroker = 4
)

func (n *Node) handleCreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	var total int64
	for _, rt := range req.Topics {
		seen[rt.Topic]++
		if rt.NumPartitions > 0 {
			total += int64(rt.NumPartitions)
		} else {
			total += int64(len(rt.ReplicaAssignment))
		}
	}
	if total > controller.MaxPartitionsPerRequest {
		// Kafka fails the whole request (KAFKA-17870): no topic of it
		// is created.
		err := fmt.Errorf("%w: excessively large number of partitions per request: %d, at most %d", controller.ErrPolicyViolation, total, controller.MaxPartitionsPerRequest)
		for _, rt := range req.Topics {
			out := kmsg.NewCreateTopicsResponseTopic()
			out.Topic = rt.Topic
			out.NumPartitions, out.ReplicationFactor = -1, -1
			out.ErrorCode, out.ErrorMessage = errCode(err), errMessage(err)
			resp.Topics = append(resp.Topics, out)
		}
		return resp
	}
	for _, rt := range req.Topics {
		out := kmsg.NewCreateTopicsResponseTopic()
		out.Topic = rt.Topic
		out.NumPartitions, out.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			out.ErrorCode = kerr.InvalidRequest.Code
			out.ErrorMessage = errMessage(fmt.Errorf("topic %q appears more than once in the request", rt.Topic))
			resp.Topics = append(resp.Topics, out)
			continue
		}
		spec := controller.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
		for _, c := range rt.Configs {
			if c.Value != nil {
				spec.Configs[c.Name] = *c.Value
			}
		}
		if len(rt.ReplicaAssignment) > 0 {
			slices.SortFunc(rt.ReplicaAssignment, func(a, b kmsg.CreateTopicsRequestTopicReplicaAssignment) int { return int(a.Partition - b.Partition) })
			for i, a := range rt.ReplicaAssignment {
				if a.Partition != int32(i) {
					spec.Assignment = nil
					out.ErrorCode = kerr.InvalidReplicaAssignment.Code
					break
				}
				spec.Assignment = append(spec.Assignment, a.Replicas)
			}
			if out.ErrorCode != 0 {
				resp.Topics = append(resp.Topics, out)
				continue
			}
		}
		t, err := n.ctrl.CreateTopic(ctx, spec, req.ValidateOnly)
		if err != nil {
			out.ErrorCode = errCode(err)
			out.ErrorMessage = errMessage(err)
			resp.Topics = append(resp.Topics, out)
			continue
		}
		out.TopicID = t.ID
		out.NumPartitions = t.NumPartitions()
		out.ReplicationFactor = t.ReplicationFactor()
		for _, v := range n.topicConfigs(t.Configs, nil) {
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			val := v.Value
			c.Name, c.Value, c.Source, c.IsSensitive = v.Def.Name, &val, int8(v.Source), false
			out.Configs = append(out.Configs, c)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

// topicConfigs resolves a topic's configs, all or the named ones.
func (n *Node) topicConfigs(cfg map[string]string, names []string) []configs.Value {
	var out []configs.Value
	if names == nil {
		for _, d := range configs.TopicDefs() {
			out = append(out, n.cfg.Broker.Topic(cfg, d.Name))
		}
		return out
	}
	for _, name := range names {
		if v := n.cfg.Broker.Topic(cfg, name); v.Def != nil {
			out = append(out, v)
		}
	}
	return out
}

// errDeletionDisabled refuses DeleteTopics with delete.topic.enable=false.
var errDeletionDisabled = errors.New("topic deletion is disabled (delete.topic.enable=false)")

func (n *Node) handleDeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	// Kafka refuses the whole request: TOPIC_DELETION_DISABLED, or
	// INVALID_REQUEST for versions before 3, which lack that error.
	disabled := int16(0)
	if !n.cfg.Broker.Bool("delete.topic.enable") {
		disabled = kerr.TopicDeletionDisabled.Code
		if req.Version < 3 {
			disabled = kerr.InvalidRequest.Code
		}
	}
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for _, name := range req.TopicNames {
			targets = append(targets, target{name: &name})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	for _, tg := range targets {
		out := kmsg.NewDeleteTopicsResponseTopic()
		out.Topic, out.TopicID = tg.name, tg.id
		if disabled != 0 {
			out.ErrorCode, out.ErrorMessage = disabled, errMessage(errDeletionDisabled)
			resp.Topics = append(resp.Topics, out)
			continue
		}
		img := n.ctrl.Image()
		var name string
		if tg.name != nil {
			name = *tg.name
			if t, ok := img.Topic(name); ok {
				out.TopicID = t.ID
			}
		} else if t, ok := img.TopicByID(controller.TopicID(tg.id)); ok {
			name = t.Name
			out.Topic = &t.Name
		} else {
			out.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, out)
			continue
		}
		if err := n.ctrl.DeleteTopic(ctx, name); err != nil {
			out.ErrorCode = errCode(err)
			out.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func (n *Node) handleCreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	var total int64
	img := n.ctrl.Image()
	for _, rt := range req.Topics {
		if t, ok := img.Topic(rt.Topic); ok && rt.Count > t.NumPartitions() {
			total += int64(rt.Count - t.NumPartitions())
		}
	}
	for _, rt := range req.Topics {
		if total > controller.MaxPartitionsPerRequest {
			out := kmsg.NewCreatePartitionsResponseTopic()
			out.Topic = rt.Topic
			err := fmt.Errorf("%w: excessively large number of partitions per request: %d, at most %d", controller.ErrPolicyViolation, total, controller.MaxPartitionsPerRequest)
			out.ErrorCode, out.ErrorMessage = errCode(err), errMessage(err)
			resp.Topics = append(resp.Topics, out)
			continue
		}
		out := kmsg.NewCreatePartitionsResponseTopic()
		out.Topic = rt.Topic
		var assign [][]int32
		for _, a := range rt.Assignment {
			assign = append(assign, a.Replicas)
		}
		if err := n.ctrl.CreatePartitions(ctx, rt.Topic, rt.Count, assign, req.ValidateOnly); err != nil {
			out.ErrorCode = errCode(err)
			out.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func (n *Node) handleDescribeConfigs(req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := n.ctrl.Image()
	for _, rr := range req.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
		add := func(name, value string, src kmsg.ConfigSource, d *configs.Def, synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym) {
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			v := value
			c.Name, c.Value, c.Source = name, &v, src
			c.IsDefault = src == kmsg.ConfigSourceDefaultConfig
			c.ConfigType = d.Type
			if req.IncludeDocumentation && d.Doc != "" {
				doc := d.Doc
				c.Documentation = &doc
			}
			if req.IncludeSynonyms {
				c.ConfigSynonyms = synonyms
			}
			if d.Type == kmsg.ConfigTypePassword {
				// Kafka never shows a password, only that it is one.
				c.Value, c.IsSensitive = nil, true
				for i := range c.ConfigSynonyms {
					c.ConfigSynonyms[i].Value = nil
				}
			}
			out.Configs = append(out.Configs, c)
		}
		switch rr.ResourceType {
		case resourceGroup:
			n.describeGroupConfigs(img, rr, add)
		case resourceTopic:
			t, ok := img.Topic(rr.ResourceName)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, v := range n.topicConfigs(t.Configs, rr.ConfigNames) {
				var syn []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
				if v.Source == kmsg.ConfigSourceDynamicTopicConfig {
					syn = append(syn, synonym(v.Def.Name, v.Value, v.Source))
				}
				if bv, set := n.cfg.Broker.Get(v.Def.Broker); set {
					syn = append(syn, synonym(v.Def.Broker, bv, kmsg.ConfigSourceStaticBrokerConfig))
				}
				if bd, ok := configs.BrokerDef(v.Def.Broker); ok {
					syn = append(syn, synonym(v.Def.Broker, bd.Default, kmsg.ConfigSourceDefaultConfig))
				}
				add(v.Def.Name, v.Value, v.Source, v.Def, syn)
			}
		case resourceBroker:
			if rr.ResourceName != "" {
				id, err := strconv.Atoi(rr.ResourceName)
				if _, ok := img.Broker(int32(id)); err != nil || !ok {
					out.ErrorCode = kerr.InvalidRequest.Code
					out.ErrorMessage = errMessage(fmt.Errorf("unknown broker %q", rr.ResourceName))
					break
				}
			}
			for _, d := range configs.BrokerDefs() {
				if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, d.Name) {
					continue
				}
				v, set := n.cfg.Broker.Get(d.Name)
				src := kmsg.ConfigSourceDefaultConfig
				if set {
					src = kmsg.ConfigSourceStaticBrokerConfig
				}
				add(d.Name, v, src, &d, []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{synonym(d.Name, v, src)})
			}
			if u := n.cfg.AdminURL; u != "" && (rr.ConfigNames == nil || slices.Contains(rr.ConfigNames, AdminURLConfig)) {
				d := configs.Def{Name: AdminURLConfig, Type: kmsg.ConfigTypeString, Doc: "The embedded cluster's admin API (kafkaboot, not Kafka); read-only."}
				add(d.Name, u, kmsg.ConfigSourceStaticBrokerConfig, &d, []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{synonym(d.Name, u, kmsg.ConfigSourceStaticBrokerConfig)})
				out.Configs[len(out.Configs)-1].ReadOnly = true
			}
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			out.ErrorMessage = errMessage(fmt.Errorf("resource type %d is not supported", rr.ResourceType))
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

// AdminURLConfig is the read-only broker config naming the embedded
// cluster's admin API, when it has one.
const AdminURLConfig = "kafkaboot.admin.url"

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	v := value
	s.Name, s.Value, s.Source = name, &v, src
	return s
}

var errBrokerConfigsStatic = errors.New("broker configs are static in the embedded broker; only topic configs can be altered")

func (n *Node) handleAlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if rr.ResourceType != resourceTopic {
			err = errBrokerConfigsStatic
		} else {
			cfg := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value != nil {
					cfg[c.Name] = *c.Value
				}
			}
			err = n.ctrl.AlterTopicConfigs(ctx, rr.ResourceName, cfg, req.ValidateOnly)
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = alterErr(err)
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

func alterErr(err error) (int16, *string) {
	if errors.Is(err, errBrokerConfigsStatic) {
		return kerr.InvalidRequest.Code, errMessage(err)
	}
	return errCode(err), errMessage(err)
}

// Incremental config operations (KIP-339).
const (
	opSet = iota
	opDelete
	opAppend
	opSubtract
)

func (n *Node) handleIncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	img := n.ctrl.Image()
	for _, rr := range req.Resources {
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
		err := func() error {
			if rr.ResourceType == resourceGroup {
				return n.alterGroupConfigs(ctx, rr, req.ValidateOnly)
			}
			if rr.ResourceType != resourceTopic {
				return errBrokerConfigsStatic
			}
			t, ok := img.Topic(rr.ResourceName)
			if !ok {
				return fmt.Errorf("%w: %q", controller.ErrUnknownTopic, rr.ResourceName)
			}
			cfg := maps.Clone(t.Configs)
			for _, c := range rr.Configs {
				d, ok := configs.TopicDef(c.Name)
				if !ok {
					return fmt.Errorf("%w: topic config %q", configs.ErrUnknown, c.Name)
				}
				val := ""
				if c.Value != nil {
					val = *c.Value
				}
				switch c.Op {
				case opSet:
					cfg[c.Name] = val
				case opDelete:
					delete(cfg, c.Name)
				case opAppend, opSubtract:
					if d.Type != kmsg.ConfigTypeList {
						return fmt.Errorf("%w: %s is not a list; APPEND and SUBTRACT apply to lists", configs.ErrInvalid, c.Name)
					}
					cur := configs.SplitList(n.cfg.Broker.TopicString(cfg, c.Name))
					for _, e := range configs.SplitList(val) {
						if c.Op == opAppend && !slices.Contains(cur, e) {
							cur = append(cur, e)
						} else if c.Op == opSubtract {
							cur = slices.DeleteFunc(cur, func(x string) bool { return x == e })
						}
					}
					cfg[c.Name] = strings.Join(cur, ",")
				default:
					return fmt.Errorf("%w: unknown operation %d", configs.ErrInvalid, c.Op)
				}
			}
			return n.ctrl.AlterTopicConfigs(ctx, rr.ResourceName, cfg, req.ValidateOnly)
		}()
		if err != nil {
			out.ErrorCode, out.ErrorMessage = alterErr(err)
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

// producerIDBlock is how many producer ids a node reserves at a time.
const producerIDBlock = 1000

func (n *Node) handleInitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	// Transactional producers are the transaction coordinator's (see
	// Handle). Like Kafka, an idempotent producer always gets a fresh id
	// at epoch 0, also when it asks to bump the epoch of its current one
	// (KIP-360).
	id, err := n.allocateProducerID(ctx)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

func isExists(err error) bool { return errors.Is(err, controller.ErrTopicExists) }

func (n *Node) handleElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	var parts []controller.TopicPartition
	if req.Topics != nil {
		parts = []controller.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	results, err := n.ctrl.ElectLeaders(ctx, req.ElectionType, parts)
	if err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	byTopic := map[string]int{}
	for tp, err := range results {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = tp.Topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition = tp.Partition
		switch {
		case err == nil:
		case errors.Is(err, controller.ErrElectionNotNeeded):
			p.ErrorCode = kerr.ElectionNotNeeded.Code
		case errors.Is(err, controller.ErrPreferredLeaderNotAvailable):
			p.ErrorCode = kerr.PreferredLeaderNotAvailable.Code
		case errors.Is(err, controller.ErrEligibleLeadersNotAvailable):
			p.ErrorCode = kerr.EligibleLeadersNotAvailable.Code
		default:
			p.ErrorCode = errCode(err)
		}
		if err != nil {
			p.ErrorMessage = errMessage(err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return resp
}
