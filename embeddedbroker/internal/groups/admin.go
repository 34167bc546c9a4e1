package groups

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group types ListGroups v5 reports (KIP-848).
const (
	classicGroupType  = "classic"
	consumerGroupType = "consumer"
)

// allGroupOperations is the bit field of the ACL operations a group
// supports (READ, DELETE, DESCRIBE), reported by DescribeGroups v3+ when
// asked: without an authorizer everything is allowed.
const allGroupOperations = 1<<3 | 1<<6 | 1<<8

// handleListGroups lists the groups of the loaded partitions, filtered by
// state (v4+, case-insensitive as in Kafka) and type (v5+: "classic" or
// "consumer"). While a partition loads the response carries
// COORDINATOR_LOAD_IN_PROGRESS with the groups of the others.
func (c *Coordinator) handleListGroups(req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gs, loading := c.snapshot()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	filtered := func(filter []string, v string) bool {
		return len(filter) > 0 && !slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, g := range gs {
		g.mu.Lock()
		if g.removed || g.state == stateDead {
			g.mu.Unlock()
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = g.protocolType
		lg.GroupState = g.state.String()
		lg.GroupType = classicGroupType
		if g.isConsumer() {
			lg.ProtocolType = consumerProtocolType
			lg.GroupState = g.cg.g.State().String()
			lg.GroupType = consumerGroupType
		}
		g.mu.Unlock()
		if filtered(req.TypesFilter, lg.GroupType) || filtered(req.StatesFilter, lg.GroupState) {
			continue
		}
		resp.Groups = append(resp.Groups, lg)
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

// handleDescribeGroups is Kafka's handleDescribeGroup: a Stable group shows
// its protocol and every member's metadata and assignment; other states
// show the members only. Unknown groups are Dead (v6+: GROUP_ID_NOT_FOUND).
func (c *Coordinator) handleDescribeGroups(req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		g, code := c.acquire(id, false)
		switch {
		case code != 0:
			dg.ErrorCode = code
		case g == nil || g.isConsumer():
			// Kafka 4 describes only classic groups here; consumer
			// groups answer ConsumerGroupDescribe.
			msg := "Group " + id + " not found."
			if g != nil {
				msg = "Group " + id + " is not a classic group."
				g.mu.Unlock()
			}
			dg.State = stateDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				dg.ErrorMessage = kmsg.StringPtr(msg)
			}
		default:
			dg.State = g.state.String()
			dg.ProtocolType = g.protocolType
			stable := g.state == stateStable
			if stable {
				dg.Protocol = g.protocol
			}
			for _, m := range g.sortedMembers() {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID = m.id
				dm.InstanceID = m.instanceID
				dm.ClientID = m.clientID
				dm.ClientHost = m.clientHost
				dm.ProtocolMetadata = []byte{}
				dm.MemberAssignment = []byte{}
				if stable {
					if md := m.metadata(g.protocol); md != nil {
						dm.ProtocolMetadata = md
					}
					if m.assignment != nil {
						dm.MemberAssignment = m.assignment
					}
				}
				dg.Members = append(dg.Members, dm)
			}
			g.mu.Unlock()
		}
		if req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = allGroupOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// handleDeleteGroups is Kafka's handleDeleteGroups: only Empty groups are
// deleted (NON_EMPTY_GROUP otherwise), with tombstones for their offsets
// and metadata, answered once these are durable.
func (c *Coordinator) handleDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	codes := make([]int16, len(req.Groups))
	dones := make([]<-chan int16, len(req.Groups))
	for i, id := range req.Groups {
		codes[i], dones[i] = c.deleteGroup(id)
	}
	for i, done := range dones {
		if done == nil {
			continue
		}
		select {
		case codes[i] = <-done:
		case <-ctx.Done():
			codes[i] = kerr.RequestTimedOut.Code
		}
	}
	for i, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = codes[i]
		if req.Version >= 3 && codes[i] != 0 {
			if e := kerr.ErrorForCode(codes[i]); e != nil {
				dg.ErrorMessage = kmsg.StringPtr(e.Error())
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) (int16, <-chan int16) {
	g, code := c.acquire(id, false)
	switch {
	case code != 0:
		return code, nil
	case g == nil:
		return kerr.GroupIDNotFound.Code, nil
	}
	defer g.mu.Unlock()
	switch {
	case g.state == stateDead:
		return kerr.GroupIDNotFound.Code, nil
	case g.state != stateEmpty || g.hasMembers():
		return kerr.NonEmptyGroup.Code, nil
	case g.cg.broken:
		return kerr.CoordinatorNotAvailable.Code, nil
	}

	// Tombstone every offset, including commits still being written:
	// those are appended before the tombstones, which then win. Pending
	// transactional offsets do not keep the group from being deleted (as
	// in Kafka, where they do not make it non-empty); they are dropped with
	// the group, and tombstoned too so that a replay of the log, which
	// drops the pending offsets a tombstone follows, does not bring them
	// back when their transaction commits.
	keys := make(map[tp]bool, len(g.offsets)+len(g.pendingCommits))
	for t := range g.offsets {
		keys[t] = true
	}
	for t := range g.pendingCommits {
		keys[t] = true
	}
	for _, os := range g.pendingTxn {
		for t := range os {
			keys[t] = true
		}
	}
	ts := make([]tp, 0, len(keys))
	for t := range keys {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b tp) int {
		if n := strings.Compare(a.topic, b.topic); n != 0 {
			return n
		}
		return int(a.partition) - int(b.partition)
	})
	var recs []KV
	for _, t := range ts {
		recs = append(recs, offsetTombstone(g.id, t))
	}
	if g.generation > 0 {
		recs = append(recs, groupTombstone(g.id))
	}
	cgRecs, err := g.consumerTombstones()
	if err != nil {
		return kerr.NonEmptyGroup.Code, nil
	}
	recs = append(recs, cgRecs...)
	prevStateMs := g.stateMs
	g.transition(stateDead)
	if len(recs) == 0 {
		g.removeFromCoordinator()
		return 0, nil
	}
	done := make(chan int16, 1)
	g.write(recs, func(err error) {
		switch {
		case g.unloaded:
			done <- kerr.NotCoordinator.Code
		case err != nil:
			g.c.log.Warn("failed to write group tombstones", "group", g.id, "err", err)
			if g.state == stateDead && !g.removed {
				g.state, g.stateMs = stateEmpty, prevStateMs
			}
			done <- storeErrCode(err, false)
		default:
			g.c.log.Info("deleted group", "group", g.id, "offsets", len(ts))
			clear(g.offsets)
			clear(g.pendingTxn)
			g.removeFromCoordinator()
			done <- 0
		}
	})
	return 0, done
}
