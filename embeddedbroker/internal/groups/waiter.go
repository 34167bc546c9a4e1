package groups

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// waiter carries the response to a request whose answer may come later,
// from whoever completes the rebalance step it waits for. Sending never
// blocks and only the first response counts.
type waiter[T any] struct {
	version int16
	ch      chan T
}

func newWaiter[T any](version int16) *waiter[T] {
	return &waiter[T]{version: version, ch: make(chan T, 1)}
}

func (w *waiter[T]) send(v T) {
	select {
	case w.ch <- v:
	default:
	}
}

// wait returns the response, or onDone's if ctx ends first.
func (w *waiter[T]) wait(ctx context.Context, onDone func() T) T {
	select {
	case v := <-w.ch:
		return v
	default:
	}
	select {
	case v := <-w.ch:
		return v
	case <-ctx.Done():
		return onDone()
	}
}

// generateMemberID returns a member ID as Kafka makes them: the group
// instance ID for static members, else the client ID, a dash and a random
// UUID.
func generateMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + randomUUID()
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func joinError(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.MemberID = memberID
	r.Generation = -1
	return r
}

func syncError(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.MemberAssignment = []byte{}
	return r
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// joinResponse is a successful JoinGroup response for the current
// generation; withMembers adds every member's metadata, for the leader.
func (g *group) joinResponse(version int16, memberID string, withMembers bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = g.generation
	r.ProtocolType = strOrNil(g.protocolType)
	r.Protocol = strOrNil(g.protocol)
	r.LeaderID = g.leader
	r.MemberID = memberID
	if withMembers {
		ms := g.sortedMembers()
		r.Members = make([]kmsg.JoinGroupResponseMember, 0, len(ms))
		for _, m := range ms {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = m.id
			rm.InstanceID = m.instanceID
			rm.ProtocolMetadata = m.metadata(g.protocol)
			r.Members = append(r.Members, rm)
		}
	}
	return r
}

// emptyConsumerAssignment is a serialized ConsumerMemberAssignment with no
// partitions.
var emptyConsumerAssignment = new(kmsg.ConsumerMemberAssignment).AppendTo(nil)

// syncResponse is a successful SyncGroup response with the member's
// assignment.
//
// Deviation from Kafka: a "consumer" group member that the leader assigned
// nothing at all (no bytes) gets an encoded empty ConsumerMemberAssignment
// instead of zero bytes, which some clients fail to decode. Leaders of the
// usual clients always send encoded assignments, so this only matters for
// members the leader did not know about.
func (g *group) syncResponse(version int16, m *member) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ProtocolType = strOrNil(g.protocolType)
	r.Protocol = strOrNil(g.protocol)
	r.MemberAssignment = m.assignment
	if len(r.MemberAssignment) == 0 {
		r.MemberAssignment = []byte{}
		if g.protocolType == consumerProtocolType {
			r.MemberAssignment = append([]byte(nil), emptyConsumerAssignment...)
		}
	}
	return r
}
