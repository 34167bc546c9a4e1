package embeddedbroker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClientsCannotActAsBrokers sends, on a client connection, what only
// brokers may send: a replica fetch (which would move a follower's
// position and the high watermark) and transaction markers (which would end
// another producer's transaction). Both are refused, as Kafka refuses them
// without CLUSTER_ACTION, and the partition's high watermark does not move.
// A produce to each internal topic is refused too. The cluster still serves
// a produce and a fetch afterwards.
func TestClientsCannotActAsBrokers(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Logger(testLogger(t)),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "guarded", Partitions: 1, ReplicationFactor: 3}))
	waitFor(t, "full ISR", 10*time.Second, func() bool { return len(c.ISR("guarded", 0)) == 3 })
	leader := c.Leader("guarded", 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("guarded"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("one")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Bring the internal topics into being (both are created on first
	// use), so that writes to them are refused for being internal.
	rc := dialRaw(t, c.Addrs()[leader])
	for _, typ := range []int8{0, 1} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.SetVersion(3)
		fc.CoordinatorKey, fc.CoordinatorType = "x", typ
		rc.do(fc)
	}

	for _, version := range []int16{12, 15} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		follower := int32((leader + 1) % 3)
		req.ReplicaID = follower
		req.ReplicaState.ID, req.ReplicaState.Epoch = follower, -1
		req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "guarded"
		if version >= 13 {
			rt.TopicID = topicID(t, cl, "guarded")
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1000, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := rc.do(req).(*kmsg.FetchResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("replica fetch v%d from a client connection: %v", version, kerr.ErrorForCode(code))
		}
	}

	mk := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = 1, 0, false
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "guarded", Partitions: []int32{0}}}
	mk.Markers = append(mk.Markers, m)
	mresp := rc.do(mk).(*kmsg.WriteTxnMarkersResponse)
	if code := mresp.Markers[0].Topics[0].Partitions[0].ErrorCode; code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("markers from a client connection: %v", kerr.ErrorForCode(code))
	}

	for _, topic := range []string{"__consumer_offsets", "__transaction_state"} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
		if err == nil || !kerrIs(err, kerr.InvalidTopicException) {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}

	// Nothing moved: the high watermark is the one record's, and the
	// cluster serves a produce and a fetch.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("two")}, &kgo.Record{Value: []byte("END")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consumeAll(t, c.Addrs(), "guarded", kgo.ReadUncommitted()); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("read back %v", got)
	}
}

func kerrIs(err, target error) bool { return errors.Is(err, target) }

// topicID looks a topic's id up in the metadata.
func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	return resp.Topics[0].TopicID
}
