package groups

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file serves the share group offset admin APIs of KIP-932
// (DescribeShareGroupOffsets, AlterShareGroupOffsets,
// DeleteShareGroupOffsets) on the group coordinator, over the share
// coordinator (Config.SharePersister), as Kafka's GroupCoordinatorService
// does over its Persister.
//
// The partitions a share group has state for are the group's initialized
// partitions (Kafka's ShareGroupStatePartitionMetadata record, key version
// 15): those AlterShareGroupOffsets set, and, for "all topics", the
// partitions of the topics the group subscribes to. Deviation: Kafka also
// records the partitions it initializes when it assigns them; here
// assigned partitions get their state from their leader at the first
// fetch, and describing "all topics" takes the subscribed topics instead.

// SharePersister is the share coordinator as the group coordinator uses
// it. Errors are Kafka errors (kerr) where the coordinator answered one.
type SharePersister interface {
	// Summary returns a share partition's state epoch, start offset (-1
	// without state) and the leader epoch recorded with it.
	Summary(ctx context.Context, group string, topic [16]byte, partition int32) (stateEpoch int32, startOffset int64, leaderEpoch int32, err error)
	// Initialize sets a share partition's state: the start offset, no
	// in-flight records, the given state epoch.
	Initialize(ctx context.Context, group string, topic [16]byte, partition int32, stateEpoch int32, startOffset int64) error
	// Delete deletes a share partition's state.
	Delete(ctx context.Context, group string, topic [16]byte, partition int32) error
}

// shareTopicsToDescribe returns the topics of a share group whose offsets
// DescribeShareGroupOffsets reports for "all topics": the initialized
// ones and the subscribed ones, by name. The group must be locked.
func (g *group) shareTopicsToDescribe() map[string][]int32 {
	out := map[string][]int32{}
	for _, t := range g.sg.g.SubscriptionMetadata() {
		for p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p)
		}
	}
	if g.c.cfg.Topics != nil {
		for id, ps := range g.sg.initialized {
			if name, ok := g.c.cfg.Topics.TopicName(id); ok {
				for _, p := range ps {
					if !slices.Contains(out[name], p) {
						out[name] = append(out[name], p)
					}
				}
			}
		}
	}
	return out
}

func (c *Coordinator) topicID(name string) ([16]byte, bool) {
	if c.cfg.Topics == nil {
		return [16]byte{}, false
	}
	return c.cfg.Topics.TopicID(name)
}

// handleDescribeShareGroupOffsets is Kafka's describeShareGroupOffsets.
func (c *Coordinator) handleDescribeShareGroupOffsets(ctx context.Context, req *kmsg.DescribeShareGroupOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		out := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		out.GroupID = rg.GroupID
		g, code := c.acquire(rg.GroupID, false)
		var topics map[string][]int32
		switch {
		case code != 0:
			out.ErrorCode = code
		case g == nil:
			out.ErrorCode = kerr.GroupIDNotFound.Code
		case !g.isShare() || g.state == stateDead:
			g.mu.Unlock()
			out.ErrorCode = kerr.GroupIDNotFound.Code
			out.ErrorMessage = kmsg.StringPtr("Group " + rg.GroupID + " is not a share group.")
		default:
			if rg.Topics == nil {
				topics = g.shareTopicsToDescribe()
			} else {
				topics = map[string][]int32{}
				for _, t := range rg.Topics {
					topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
				}
			}
			g.mu.Unlock()
		}
		if out.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, out)
			continue
		}
		names := slices.Sorted(maps.Keys(topics))
		for _, name := range names {
			rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			rt.Topic = name
			id, known := c.topicID(name)
			rt.TopicID = id
			ps := slices.Clone(topics[name])
			slices.Sort(ps)
			for _, p := range ps {
				rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
				rp.Partition = p
				switch {
				case !known:
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case c.cfg.SharePersister == nil:
					rp.StartOffset, rp.LeaderEpoch = -1, -1
				default:
					_, start, leaderEpoch, err := c.cfg.SharePersister.Summary(ctx, rg.GroupID, id, p)
					if err != nil {
						rp.ErrorCode, rp.ErrorMessage = persisterCode(err), kmsg.StringPtr(err.Error())
						break
					}
					rp.StartOffset, rp.LeaderEpoch = start, leaderEpoch
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
		resp.Groups = append(resp.Groups, out)
	}
	return resp
}

// persisterCode is the code a partition answers for a failed call of the
// share coordinator.
func persisterCode(err error) int16 {
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// shareAdminGroup returns the share group for an offsets admin request,
// locked: created (empty) if create and the ID is free, refused with
// GROUP_ID_NOT_FOUND if it is another type's, NON_EMPTY_GROUP if it has
// members.
func (c *Coordinator) shareAdminGroup(id string, create bool) (*group, int16, string) {
	g, code := c.acquire(id, create)
	switch {
	case code != 0:
		return nil, code, ""
	case g == nil:
		return nil, kerr.GroupIDNotFound.Code, "Group " + id + " not found."
	}
	fail := func(code int16, msg string) (*group, int16, string) {
		g.maybeDropUnused()
		g.mu.Unlock()
		return nil, code, msg
	}
	if g.state == stateDead {
		return fail(kerr.GroupIDNotFound.Code, "")
	}
	if !g.isShare() {
		if !create || !g.unusedByOthers() {
			return fail(kerr.GroupIDNotFound.Code, "Group "+id+" is not a share group.")
		}
		sg, err := c.newShareGroup(id)
		if err != nil {
			return fail(kerr.UnknownServerError.Code, err.Error())
		}
		g.sg.g = sg
	}
	switch {
	case g.sg.broken:
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	case g.sg.g.Len() > 0:
		return fail(kerr.NonEmptyGroup.Code, "The group has members: its offsets can be changed only while it is empty.")
	}
	return g, 0, ""
}

// handleAlterShareGroupOffsets is Kafka's alterShareGroupOffsets: the
// group must be empty (it is created if it does not exist); each
// partition's state is set to the start offset under a new state epoch,
// and the partition is recorded as initialized.
func (c *Coordinator) handleAlterShareGroupOffsets(ctx context.Context, req *kmsg.AlterShareGroupOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	g, code, msg := c.shareAdminGroup(req.GroupID, true)
	if code != 0 {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	g.mu.Unlock()
	done := consumergroup.Assignment{}
	for _, t := range req.Topics {
		rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		id, known := c.topicID(t.Topic)
		rt.TopicID = id
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			err := func() error {
				switch {
				case !known || c.cfg.Topics != nil && !c.cfg.Topics.PartitionExists(t.Topic, p.Partition):
					return kerr.UnknownTopicOrPartition
				case p.StartOffset < 0:
					return kerr.InvalidRequest
				case c.cfg.SharePersister == nil:
					return kerr.UnsupportedVersion
				}
				stateEpoch, _, _, err := c.cfg.SharePersister.Summary(ctx, req.GroupID, id, p.Partition)
				if err != nil {
					return err
				}
				return c.cfg.SharePersister.Initialize(ctx, req.GroupID, id, p.Partition, stateEpoch+1, p.StartOffset)
			}()
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = persisterCode(err), kmsg.StringPtr(err.Error())
			} else {
				done[id] = append(done[id], p.Partition)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if code := c.updateInitialized(ctx, req.GroupID, func(init consumergroup.Assignment) {
		for id, ps := range done {
			for _, p := range ps {
				if !slices.Contains(init[id], p) {
					init[id] = append(init[id], p)
				}
			}
		}
	}); code != 0 {
		resp.ErrorCode = code
	}
	return resp
}

// handleDeleteShareGroupOffsets is Kafka's deleteShareGroupOffsets: the
// group must be empty; the states of every partition of each topic are
// deleted and the topic is no longer initialized.
func (c *Coordinator) handleDeleteShareGroupOffsets(ctx context.Context, req *kmsg.DeleteShareGroupOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	g, code, msg := c.shareAdminGroup(req.GroupID, false)
	if code != 0 {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	g.mu.Unlock()
	var subscribable consumergroup.TopicMetadata
	if c.cfg.Topics != nil {
		subscribable = c.cfg.Topics.Subscribable(ctx)
	}
	var deleted [][16]byte
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		meta, known := subscribable[t.Topic]
		rt.TopicID = meta.ID
		err := func() error {
			switch {
			case !known:
				return kerr.UnknownTopicOrPartition
			case c.cfg.SharePersister == nil:
				return kerr.UnsupportedVersion
			}
			for p := range meta.Partitions {
				if err := c.cfg.SharePersister.Delete(ctx, req.GroupID, meta.ID, p); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = persisterCode(err), kmsg.StringPtr(err.Error())
		} else {
			deleted = append(deleted, meta.ID)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if code := c.updateInitialized(ctx, req.GroupID, func(init consumergroup.Assignment) {
		for _, id := range deleted {
			delete(init, id)
		}
	}); code != 0 {
		resp.ErrorCode = code
	}
	return resp
}

// updateInitialized changes the share group's initialized partitions with
// fn and writes them (the ShareGroupStatePartitionMetadata record) if they
// changed, waiting until that is durable.
func (c *Coordinator) updateInitialized(ctx context.Context, id string, fn func(consumergroup.Assignment)) int16 {
	g, code := c.acquire(id, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	if !g.isShare() {
		g.mu.Unlock()
		return kerr.GroupIDNotFound.Code
	}
	next := g.sg.initialized.Clone()
	if next == nil {
		next = consumergroup.Assignment{}
	}
	fn(next)
	for id, ps := range next {
		if len(ps) == 0 {
			delete(next, id)
		} else {
			slices.Sort(ps)
		}
	}
	if equalAssignments(next, g.sg.initialized) {
		g.mu.Unlock()
		return 0
	}
	g.sg.initialized = next
	done := g.writeShare([]KV{initializedRecord(g.id, next)}, nil)
	g.mu.Unlock()
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
		return kerr.RequestTimedOut.Code
	}
}

func equalAssignments(a, b consumergroup.Assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for id, ps := range a {
		if !slices.Equal(ps, b[id]) {
			return false
		}
	}
	return true
}
