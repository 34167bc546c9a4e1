package embeddedbroker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
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

// TestCreateTopicsOfHugePartitionCounts asks for 2^31-1 partitions, to
// validate only and for real, in CreateTopics and CreatePartitions: each
// is refused with POLICY_VIOLATION at once (Kafka's 10 000 per request),
// nothing of that size is allocated, and the cluster goes on serving.
func TestCreateTopicsOfHugePartitionCounts(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(1, "small"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("small"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, validate := range []bool{true, false} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.ValidateOnly = validate
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "huge", math.MaxInt32, 1
		req.Topics = append(req.Topics, rt)
		// Two topics within the limit each, over it together: the whole
		// request fails.
		for _, name := range []string{"half-a", "half-b"} {
			h := kmsg.NewCreateTopicsRequestTopic()
			h.Topic, h.NumPartitions, h.ReplicationFactor = name, 6000, 1
			req.Topics = append(req.Topics, h)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range resp.Topics {
			if rt.ErrorCode != kerr.PolicyViolation.Code {
				t.Fatalf("validate=%v: %s: %v", validate, rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
			}
		}
		cp := kmsg.NewPtrCreatePartitionsRequest()
		cp.ValidateOnly = validate
		ct := kmsg.NewCreatePartitionsRequestTopic()
		ct.Topic, ct.Count = "small", math.MaxInt32
		cp.Topics = append(cp.Topics, ct)
		cresp, err := cp.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := cresp.Topics[0].ErrorCode; code != kerr.PolicyViolation.Code {
			t.Fatalf("validate=%v: CreatePartitions to 2^31-1: %v", validate, kerr.ErrorForCode(code))
		}
	}
	md := kmsg.NewPtrMetadataRequest()
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mresp.Topics {
		if *mt.Topic != "small" || len(mt.Partitions) != 1 {
			t.Fatalf("after the refusals: topic %s with %d partitions", *mt.Topic, len(mt.Partitions))
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("still")}, &kgo.Record{Value: []byte("END")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consumeAll(t, c.Addrs(), "small", kgo.ReadUncommitted()); len(got) != 1 || got[0] != "still" {
		t.Fatalf("read back %v", got)
	}
}

// TestSecondProcessOnTheDataDir starts a cluster on a data directory, then
// runs this test binary again as a second process that starts a cluster on
// the same directory: it fails at start with an error naming the
// directory, and the first cluster goes on serving.
func TestSecondProcessOnTheDataDir(t *testing.T) {
	if dir := os.Getenv("KAFKABOOT_SECOND_PROCESS_DIR"); dir != "" {
		c, err := embeddedbroker.Start(context.Background(), embeddedbroker.DataDir(dir))
		if err == nil {
			c.Close()
			fmt.Print("started")
			os.Exit(0)
		}
		fmt.Print(err)
		os.Exit(3)
	}
	dir := t.TempDir()
	c := embeddedbroker.StartForTest(t, embeddedbroker.DataDir(dir), embeddedbroker.Topics(1, "owned"))
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondProcessOnTheDataDir$")
	cmd.Env = append(os.Environ(), "KAFKABOOT_SECOND_PROCESS_DIR="+dir)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), dir) || !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("second process: %v, %q", err, out)
	}
	t.Logf("second process refused: %s", out)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("owned"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("mine")}, &kgo.Record{Value: []byte("END")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consumeAll(t, c.Addrs(), "owned", kgo.ReadUncommitted()); len(got) != 1 || got[0] != "mine" {
		t.Fatalf("read back %v", got)
	}
}
