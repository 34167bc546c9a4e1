package broker

import (
	"context"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator key types of FindCoordinator.
const (
	coordinatorGroup = 0
	coordinatorTxn   = 1
)

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
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
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

func (n *Node) groupCoordinator(ctx context.Context, group string) (int32, string, int32, int16) {
	return -1, "", -1, kerr.CoordinatorNotAvailable.Code
}

func (n *Node) handleGroupRequest(ctx context.Context, req *wire.Request) wire.Pending {
	return nil
}
