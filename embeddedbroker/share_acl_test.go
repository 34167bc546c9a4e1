package embeddedbroker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShareACLs: the share group APIs are authorized as Kafka authorizes
// them: READ on the group (ShareGroupHeartbeat, ShareFetch,
// ShareAcknowledge), DESCRIBE on the subscribed topics, READ on the
// fetched topics (per partition), CLUSTER_ACTION for the share
// coordinator's RPCs and its FindCoordinator key type.
func TestShareACLs(t *testing.T) {
	c := aclCluster(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adminCl := scramClient(t, c, "admin")
	admin := kadm.NewClient(adminCl)
	b := kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("billing").Operations(kadm.OpRead)
	if _, err := admin.CreateACLs(ctx, b); err != nil {
		t.Fatal(err)
	}
	b = kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpDescribe)
	if _, err := admin.CreateACLs(ctx, b); err != nil {
		t.Fatal(err)
	}
	topics, err := admin.ListTopics(ctx, "orders")
	if err != nil || topics["orders"].Err != nil {
		t.Fatalf("list topics: %v %v", err, topics)
	}
	ordersID := [16]byte(topics["orders"].ID)
	alice := scramClient(t, c, "alice")

	hb := func(group string, topics ...string) int16 {
		t.Helper()
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = group, "m-1", 0, topics
		resp, err := req.RequestWith(ctx, alice)
		if ke, ok := errors.AsType[*kerr.Error](err); ok {
			return ke.Code // refused finding the coordinator
		}
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return resp.ErrorCode
	}
	if code := hb("other", "orders"); code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("heartbeat to a group without READ: %v", kerr.ErrorForCode(code))
	}
	if code := hb("billing", "payments"); code != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("heartbeat subscribing a topic without DESCRIBE: %v", kerr.ErrorForCode(code))
	}
	if code := hb("billing", "orders"); code != 0 {
		t.Errorf("heartbeat: %v", kerr.ErrorForCode(code))
	}

	// DESCRIBE is not READ: fetching orders is refused, per partition.
	fetch := kmsg.NewPtrShareFetchRequest()
	fetch.GroupID, fetch.MemberID, fetch.ShareSessionEpoch = kmsg.StringPtr("billing"), kmsg.StringPtr("m-1"), 0
	fetch.MaxWaitMillis, fetch.MaxRecords = 10, 10
	ft := kmsg.NewShareFetchRequestTopic()
	ft.TopicID = ordersID
	ft.Partitions = []kmsg.ShareFetchRequestTopicPartition{kmsg.NewShareFetchRequestTopicPartition()}
	fetch.Topics = append(fetch.Topics, ft)
	fresp, err := fetch.RequestWith(ctx, alice.Broker(0))
	if err != nil {
		t.Fatal(err)
	}
	if fresp.ErrorCode != 0 || len(fresp.Topics) != 1 || fresp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("share fetch of a topic without READ: %+v", fresp)
	}

	read := kmsg.NewPtrReadShareGroupStateRequest()
	read.GroupID = "billing"
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID = ordersID
	rt.Partitions = []kmsg.ReadShareGroupStateRequestTopicPartition{kmsg.NewReadShareGroupStateRequestTopicPartition()}
	read.Topics = append(read.Topics, rt)
	rresp, err := read.RequestWith(ctx, alice.Broker(0))
	if err != nil {
		t.Fatal(err)
	}
	if got := rresp.Topics[0].Partitions[0].ErrorCode; got != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("ReadShareGroupState without CLUSTER_ACTION: %v", kerr.ErrorForCode(got))
	}
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorType = 2
	find.CoordinatorKeys = []string{"billing:AAAAAAAAAAAAAAAAAAAAAA:0"}
	findResp, err := find.RequestWith(ctx, alice.Broker(0))
	if err != nil {
		t.Fatal(err)
	}
	if findResp.ErrorCode != kerr.ClusterAuthorizationFailed.Code && (len(findResp.Coordinators) == 0 || findResp.Coordinators[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code) {
		t.Errorf("FindCoordinator of a share key without CLUSTER_ACTION: %+v", findResp)
	}
	// The super user finds it.
	findResp, err = find.RequestWith(ctx, adminCl.Broker(0))
	if err != nil || findResp.Coordinators[0].ErrorCode != 0 {
		t.Errorf("FindCoordinator of a share key as the super user: %v %+v", err, findResp)
	}
}
