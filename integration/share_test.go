package integration

// Share groups (KIP-932) on a replicated cluster: the share group's
// membership (ShareGroupHeartbeat, in __consumer_offsets) and the share
// coordinator's state (__share_group_state) survive the crash of the node
// that serves them, and a share-partition leader whose epoch is stale is
// fenced by the new coordinator.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareCluster starts the 3-node cluster of the share tests: internal
// topics of replication factor 3, few share state partitions.
func shareCluster(t *testing.T) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t,
		embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.num.partitions", "3"),
		embeddedbroker.BrokerConfig("group.share.session.timeout.ms", "6000"),
	)
}

// shareFind returns the node FindCoordinator names for key (type 0 group,
// 2 share), retrying while there is none.
func shareFind(t *testing.T, ctx context.Context, cl *kgo.Client, typ int8, key string, not int32) int32 {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType = typ
		req.CoordinatorKeys = []string{key}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Coordinators) == 1 {
			c := resp.Coordinators[0]
			if err = kerr.ErrorForCode(c.ErrorCode); err == nil && c.NodeID != not {
				return c.NodeID
			}
		}
		last = err
		waitABit(ctx)
	}
	t.Fatalf("FindCoordinator %q: %v", key, last)
	return -1
}

// waitABit paces a retry loop whose condition has no notification.
func waitABit(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
}

func shareKey(group string, topic [16]byte, p int32) string {
	return group + ":" + base64.RawURLEncoding.EncodeToString(topic[:]) + ":" + strconv.Itoa(int(p))
}

// retriable reports whether a coordinator error is one a client retries
// after looking for the coordinator again.
func retriable(err error) bool {
	return errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorLoadInProgress) ||
		errors.Is(err, kerr.CoordinatorNotAvailable)
}

// TestShareCoordinatorFailover: a share state written through the share
// coordinator is read back from the node that takes over when the
// coordinator's node crashes; a writer at a stale leader epoch is fenced
// there too.
func TestShareCoordinatorFailover(t *testing.T) {
	c := shareCluster(t)
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := [16]byte{9, 8, 7}
	key := shareKey("sg", topic, 0)

	write := func(node, leaderEpoch int32, start int64) error {
		req := kmsg.NewPtrWriteShareGroupStateRequest()
		req.GroupID = "sg"
		rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.StartOffset = 0, leaderEpoch, start
		b := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
		b.FirstOffset, b.LastOffset, b.DeliveryState, b.DeliveryCount = start, start+4, 2, 1
		rp.StateBatches = append(rp.StateBatches, b)
		rt := kmsg.NewWriteShareGroupStateRequestTopic()
		rt.TopicID, rt.Partitions = topic, []kmsg.WriteShareGroupStateRequestTopicPartition{rp}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	read := func(node int32) (kmsg.ReadShareGroupStateResponseTopicPartition, error) {
		req := kmsg.NewPtrReadShareGroupStateRequest()
		req.GroupID = "sg"
		rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch = 0, 5
		rt := kmsg.NewReadShareGroupStateRequestTopic()
		rt.TopicID, rt.Partitions = topic, []kmsg.ReadShareGroupStateRequestTopicPartition{rp}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil {
			return kmsg.ReadShareGroupStateResponseTopicPartition{}, err
		}
		p := resp.Topics[0].Partitions[0]
		return p, kerr.ErrorForCode(p.ErrorCode)
	}

	var before int32
	for {
		before = shareFind(t, ctx, cl, 2, key, -1)
		err := write(before, 5, 100)
		if err == nil {
			break
		}
		if !retriable(err) || ctx.Err() != nil {
			t.Fatalf("write: %v", err)
		}
		waitABit(ctx)
	}
	if err := c.KillNode(ctx, before); err != nil {
		t.Fatal(err)
	}
	var got kmsg.ReadShareGroupStateResponseTopicPartition
	for {
		after := shareFind(t, ctx, cl, 2, key, before)
		got, err = read(after)
		if err == nil {
			if err := write(after, 4, 200); !errors.Is(err, kerr.FencedLeaderEpoch) {
				t.Fatalf("write at a stale leader epoch on node %d: %v", after, err)
			}
			break
		}
		if !retriable(err) && !isDial(err) || ctx.Err() != nil {
			t.Fatalf("read: %v", err)
		}
		waitABit(ctx)
	}
	if got.StartOffset != 100 || len(got.StateBatches) != 1 || got.StateBatches[0].LastOffset != 104 || got.StateBatches[0].DeliveryState != 2 {
		t.Fatalf("state after failover: %+v", got)
	}
}

// isDial reports a request that failed on the connection (the node is
// down), not with a Kafka error.
func isDial(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !isKerr(err)
}

func isKerr(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke)
}

// TestShareGroupMembershipFailover: share group members joined with
// ShareGroupHeartbeat are still members, with their epochs, after the
// group coordinator's node crashes.
func TestShareGroupMembershipFailover(t *testing.T) {
	c := shareCluster(t)
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "share-t", 4, 3
	adm.Topics = append(adm.Topics, ct)
	if resp, err := adm.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}

	heartbeat := func(node int32, member string, epoch int32, topics []string) (*kmsg.ShareGroupHeartbeatResponse, error) {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = "sgm", member, epoch, topics
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil {
			return nil, err
		}
		return resp, kerr.ErrorForCode(resp.ErrorCode)
	}
	epochs := map[string]int32{}
	var before int32
	for _, m := range []string{"member-a", "member-b"} {
		for {
			before = shareFind(t, ctx, cl, 0, "sgm", -1)
			resp, err := heartbeat(before, m, 0, []string{"share-t"})
			if err == nil {
				epochs[m] = resp.MemberEpoch
				break
			}
			if !retriable(err) || ctx.Err() != nil {
				t.Fatalf("join of %s: %v", m, err)
			}
			waitABit(ctx)
		}
	}
	if err := c.KillNode(ctx, before); err != nil {
		t.Fatal(err)
	}
	for {
		after := shareFind(t, ctx, cl, 0, "sgm", before)
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{"sgm"}
		resp, err := req.RequestWith(ctx, cl.Broker(int(after)))
		if err == nil {
			err = kerr.ErrorForCode(resp.Groups[0].ErrorCode)
		}
		if err == nil {
			d := resp.Groups[0]
			if len(d.Members) != 2 || d.GroupEpoch != 2 {
				t.Fatalf("described after failover: %+v", d)
			}
			for _, m := range d.Members {
				if want := epochs[m.MemberID]; m.MemberEpoch != want && m.MemberEpoch != d.AssignmentEpoch {
					t.Fatalf("member %s at epoch %d, joined at %d", m.MemberID, m.MemberEpoch, want)
				}
			}
			if _, err := heartbeat(after, "member-b", epochs["member-b"], nil); err != nil {
				t.Fatalf("heartbeat after failover: %v", err)
			}
			return
		}
		if !retriable(err) && isKerr(err) || ctx.Err() != nil {
			t.Fatalf("describe: %v", err)
		}
		waitABit(ctx)
	}
}

// shareLedger counts, per record value, the deliveries and the accepts.
type shareLedger struct {
	mu        sync.Mutex
	delivered map[string]int
	accepted  map[string]int
}

func (l *shareLedger) deliver(v string, accept bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delivered[v]++
	if accept {
		l.accepted[v]++
	}
}

func (l *shareLedger) snapshot() (delivered, accepted map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.delivered), maps.Clone(l.accepted)
}

// shareStartOffsets returns the start offsets of the share partitions of
// the topic in the group, as the share coordinator has them (-1: no
// state, or not reachable now).
func shareStartOffsets(t *testing.T, ctx context.Context, cl *kgo.Client, group string, topic [16]byte, partitions int32) []int64 {
	t.Helper()
	out := make([]int64, partitions)
	for p := range partitions {
		out[p] = -1
		node := shareFind(t, ctx, cl, 2, shareKey(group, topic, p), -1)
		req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
		req.GroupID = group
		rp := kmsg.NewReadShareGroupStateSummaryRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch = p, -1
		rt := kmsg.NewReadShareGroupStateSummaryRequestTopic()
		rt.TopicID, rt.Partitions = topic, []kmsg.ReadShareGroupStateSummaryRequestTopicPartition{rp}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err == nil && resp.Topics[0].Partitions[0].ErrorCode == 0 {
			out[p] = resp.Topics[0].Partitions[0].StartOffset
		}
	}
	return out
}

// shareStateReady waits until the share coordinator has a state for every
// partition of the topic in the group: the share partitions exist, so
// that records produced from now on are delivered whatever
// share.auto.offset.reset says.
func shareStateReady(t *testing.T, ctx context.Context, cl *kgo.Client, group string, topic [16]byte, partitions int32) {
	t.Helper()
	for slices.ContainsFunc(shareStartOffsets(t, ctx, cl, group, topic, partitions), func(o int64) bool { return o < 0 }) {
		if ctx.Err() != nil {
			t.Fatal("share states never appeared")
		}
		waitABit(ctx)
	}
}

// TestShareGroupConsumersKilled: share consumers that stop in the middle
// with records acquired (one is killed holding its records, one is
// closed) lose those records to the others once their locks expire and
// the killed one's session, then its partitions, go to the others; every record
// ends accepted exactly once, and a record every consumer releases is
// archived after the delivery count limit. Then the node of the share
// coordinator and the partition leaders are killed: the states reload,
// and nothing accepted is delivered again.
func TestShareGroupConsumersKilled(t *testing.T) {
	opts := []embeddedbroker.Option{
		embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.num.partitions", "3"),
		embeddedbroker.BrokerConfig("group.share.record.lock.duration.ms", "1000"),
		embeddedbroker.BrokerConfig("group.share.delivery.count.limit", "3"),
		embeddedbroker.BrokerConfig("group.share.session.timeout.ms", "2000"),
		embeddedbroker.BrokerConfig("group.share.heartbeat.interval.ms", "300"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "share-kill", Partitions: 3, ReplicationFactor: 3}),
	}
	if os.Getenv("KAFKABOOT_BROKER_LOG") != "" {
		opts = append(opts, embeddedbroker.Logger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	c := embeddedbroker.StartForTest(t, opts...)
	ctx := testCtx(t)
	const group, total, poisonEvery = "share-kill-group", 300, 50
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("share-kill"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var topicID [16]byte
	for {
		req := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("share-kill")
		req.Topics = append(req.Topics, mt)
		if resp, err := req.RequestWith(ctx, admin); err == nil && resp.Topics[0].ErrorCode == 0 {
			topicID = resp.Topics[0].TopicID
			break
		}
		if ctx.Err() != nil {
			t.Fatal("topic metadata never came")
		}
		waitABit(ctx)
	}

	ledger := &shareLedger{delivered: map[string]int{}, accepted: map[string]int{}}
	poison := func(v string) bool { n, _ := strconv.Atoi(v); return n%poisonEvery == 0 }
	// consume runs a share consumer until ctx ends or, if killAfter > 0,
	// until it has received killAfter records: it is then killed with
	// the rest of its records acquired and unacknowledged (its
	// connections cut, every dial refused: no acknowledgement, no
	// heartbeat, no goodbye).
	consume := func(ctx context.Context, name string, killAfter int, done chan<- struct{}) *kgo.Client {
		d := &killableDialer{}
		copts := []kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("share-kill"), kgo.ShareGroup(group), kgo.ClientID(name),
			kgo.Dialer(d.DialContext)}
		if os.Getenv("SHARE_CLIENT_LOG") != "" {
			copts = append(copts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, func() string { return name + " " })))
		}
		cl, err := kgo.NewClient(copts...)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(done)
			got := 0
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				for _, r := range fs.Records() {
					v := string(r.Value)
					got++
					if killAfter > 0 {
						// It acknowledges nothing: whatever it
						// would have, dies with it.
						ledger.deliver(v, false)
						if got >= killAfter {
							d.kill()
							return
						}
						continue
					}
					if poison(v) {
						ledger.deliver(v, false)
						r.Ack(kgo.AckRelease)
						continue
					}
					ledger.deliver(v, true)
					r.Ack(kgo.AckAccept)
				}
			}
		}()
		return cl
	}
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	dones := make([]chan struct{}, 4)
	for i := range dones {
		dones[i] = make(chan struct{})
	}
	good := consume(cctx, "good-1", 0, dones[0])
	defer good.Close()
	hung := consume(cctx, "killed", 5, dones[1])
	defer hung.Close()
	shareStateReady(t, ctx, admin, group, topicID, 3)

	for i := range total {
		admin.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), nil)
	}
	if err := admin.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A consumer that is closed in the middle.
	closedCtx, closeEarly := context.WithCancel(cctx)
	closed := consume(closedCtx, "closed", 0, dones[2])
	good2 := consume(cctx, "good-2", 0, dones[3])
	defer good2.Close()
	time.AfterFunc(300*time.Millisecond, func() { closeEarly(); closed.Close() })

	// Complete: every record but the poison ones accepted, and every
	// share partition's start offset at the end of its log (the poison
	// records archived: everything below is acknowledged or archived).
	complete := func() (bool, string) {
		_, accepted := ledger.snapshot()
		for i := range total {
			if v := strconv.Itoa(i); !poison(v) && accepted[v] == 0 {
				return false, "record " + v + " not accepted yet"
			}
		}
		starts := shareStartOffsets(t, ctx, admin, group, topicID, 3)
		var sum int64
		for _, o := range starts {
			sum += o
		}
		if sum != total {
			return false, fmt.Sprintf("share start offsets %v, want a sum of %d", starts, total)
		}
		return true, ""
	}
	for {
		ok, why := complete()
		if ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not complete: %s", why)
		}
		waitABit(ctx)
	}
	delivered, accepted := ledger.snapshot()
	for i := range total {
		v := strconv.Itoa(i)
		switch {
		case poison(v) && (accepted[v] != 0 || delivered[v] > 3):
			// A delivery the broker counted may never reach the
			// application (buffered in a consumer that hung or closed):
			// at most the limit, 3, reach it.
			t.Errorf("poison record %s: delivered %d times, accepted %d (want at most 3, 0)", v, delivered[v], accepted[v])
		case !poison(v) && accepted[v] != 1:
			t.Errorf("record %s accepted %d times", v, accepted[v])
		}
	}

	// Kill the node of the share coordinator of partition 0's state and
	// the leader of partition 0; then a new consumer gets nothing: what
	// was accepted (and archived) stays so.
	stopConsumers()
	for _, d := range dones {
		<-d
	}
	good.Close()
	good2.Close()
	hung.Close()
	coord := shareFind(t, ctx, admin, 2, shareKey(group, topicID, 0), -1)
	if err := c.KillNode(ctx, coord); err != nil {
		t.Fatal(err)
	}
	if leader := c.Leader("share-kill", 0); leader != coord && leader >= 0 {
		if err := c.KillNode(ctx, leader); err == nil {
			defer c.RestartNode(context.Background(), leader)
		}
	}
	defer c.RestartNode(context.Background(), coord)
	before, _ := ledger.snapshot()
	after := make(chan struct{})
	actx, stopAfter := context.WithTimeout(ctx, 5*time.Second)
	defer stopAfter()
	late := consume(actx, "after-kill", 0, after)
	defer late.Close()
	<-after
	now, _ := ledger.snapshot()
	for v, n := range now {
		if n != before[v] {
			t.Errorf("record %s delivered again after the kill (%d -> %d)", v, before[v], n)
		}
	}
}

// killableDialer dials for a client until kill, which closes the
// connections it dialed and refuses every later dial: the client is cut
// off as if its process died.
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (d *killableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	dead := d.dead
	d.mu.Unlock()
	if dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		c.Close()
		return nil, errors.New("killed")
	}
	d.conns = append(d.conns, c)
	return c, nil
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// TestShareGroupConfigs: the GROUP config resource takes the share group
// configs, validated, describes them with their source, and
// share.auto.offset.reset=earliest makes a new share group read a
// partition from its start.
func TestShareGroupConfigs(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.num.partitions", "3"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "share-cfg", Partitions: 2, ReplicationFactor: 3}))
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("share-cfg"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	alter := func(group string, kv ...string) error {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		for i := 0; i < len(kv); i += 2 {
			cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			cfg.Name, cfg.Value = kv[i], kmsg.StringPtr(kv[i+1])
			res.Configs = append(res.Configs, cfg)
		}
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
	}
	for _, bad := range [][]string{
		{"share.auto.offset.reset", "sideways"},
		{"share.record.lock.duration.ms", "10"},
		{"share.heartbeat.interval.ms", "50000", "share.session.timeout.ms", "45000"},
		{"share.no.such.config", "1"},
		{"share.delivery.count.limit", "11"},
	} {
		if err := alter("cfg-group", bad...); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("alter %v: %v, want INVALID_CONFIG", bad, err)
		}
	}
	if err := alter("cfg-group", "share.auto.offset.reset", "earliest", "share.record.lock.duration.ms", "20000", "share.delivery.count.limit", "4"); err != nil {
		t.Fatalf("alter: %v", err)
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dres := kmsg.NewDescribeConfigsRequestResource()
	dres.ResourceType, dres.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "cfg-group"
	dreq.Resources = append(dreq.Resources, dres)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || dresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe: %v %+v", err, dresp)
	}
	got := map[string]string{}
	for _, cfg := range dresp.Resources[0].Configs {
		if cfg.Source == kmsg.ConfigSourceGroupConfig {
			got[cfg.Name] = *cfg.Value
		}
	}
	if want := map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "20000", "share.delivery.count.limit": "4"}; !maps.Equal(got, want) {
		t.Fatalf("described group configs %v, want %v", got, want)
	}

	// Records produced before the group exists are read with earliest.
	for i := range 10 {
		cl.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("share-cfg"), kgo.ShareGroup("cfg-group"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for len(seen) < 10 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		for _, r := range fs.Records() {
			seen[string(r.Value)] = true
			r.Ack(kgo.AckAccept)
		}
	}
	if len(seen) != 10 {
		t.Fatalf("consumed %d of 10 records produced before the group", len(seen))
	}
}

// TestShareSessionEpochs: ShareFetch and ShareAcknowledge keep KIP-932's
// share session epochs: 0 opens, each request must carry the next epoch,
// -1 closes (releasing the member's records), others are refused.
func TestShareSessionEpochs(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(1),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.num.partitions", "1"),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.replication.factor", "1"),
		embeddedbroker.BrokerConfig("offsets.topic.replication.factor", "1"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "share-epochs", Partitions: 1, ReplicationFactor: 1}))
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("share-epochs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topicID := shareTopicID(t, ctx, cl, "share-epochs")
	fetch := func(member string, epoch int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchResponse {
		t.Helper()
		req := shareFetchRequest("epochs", member, epoch, 50, topicID, acks)
		resp, err := req.RequestWith(ctx, cl.Broker(0))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := fetch("m", 3); r.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch without a session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := fetch("m", 0); r.ErrorCode != 0 {
		t.Fatalf("open: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The share partition starts at the end (latest): produce now.
	for i := range 5 {
		cl.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r := fetch("m", 2); r.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("skipped epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	var acquired []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	epoch := int32(1)
	for len(acquired) == 0 && ctx.Err() == nil {
		r := fetch("m", epoch)
		if r.ErrorCode != 0 {
			t.Fatalf("fetch at epoch %d: %v", epoch, kerr.ErrorForCode(r.ErrorCode))
		}
		epoch++
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				acquired = append(acquired, rp.AcquiredRecords...)
			}
		}
	}
	if len(acquired) != 1 || acquired[0].FirstOffset != 0 || acquired[0].LastOffset != 4 || acquired[0].DeliveryCount != 1 {
		t.Fatalf("acquired %+v", acquired)
	}
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.GroupID, ack.MemberID, ack.ShareSessionEpoch = kmsg.StringPtr("epochs"), kmsg.StringPtr("m"), 0
	if resp, err := ack.RequestWith(ctx, cl.Broker(0)); err != nil || resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("ShareAcknowledge at epoch 0: %v %v", err, resp)
	}
	// Accept 0-1 and close the session: 2-4 are released, and another
	// member gets them, delivered a second time.
	b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = 0, 1, []int8{1}
	if r := fetch("m", -1, b); r.ErrorCode != 0 || r.Topics[0].Partitions[0].AcknowledgeErrorCode != 0 || len(r.Topics[0].Partitions[0].AcquiredRecords) != 0 {
		t.Fatalf("close with acknowledgements: %+v", r)
	}
	if r := fetch("m", epoch); r.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch after close: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	r := fetch("other", 0)
	got := r.Topics[0].Partitions[0].AcquiredRecords
	if len(got) != 1 || got[0].FirstOffset != 2 || got[0].LastOffset != 4 || got[0].DeliveryCount != 2 {
		t.Fatalf("after the close, the other member acquired %+v", got)
	}
}

// TestShareAckStateWriteFails: an acknowledgement whose state write fails
// (the node of the share coordinator crashed, and the state partition,
// of replication factor 1, has no other replica) is answered with
// COORDINATOR_NOT_AVAILABLE and rolled back, as Kafka's SharePartition
// does: the records stay acquired by the member and no other member gets
// them. Once the coordinator is back, the member accepts the records
// whose acceptance failed again (INVALID_RECORD_STATE had the failed
// acknowledgement stood) and leaves with those whose release failed,
// which another member gets, delivered a second time, and accepts: every
// record accepted once, none lost. Both ways of acknowledging are tried:
// in a ShareFetch of the same partition (written with its acquisitions)
// and in a ShareAcknowledge.
func TestShareAckStateWriteFails(t *testing.T) {
	const topic = "share-ackfail"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.num.partitions", "3"),
		embeddedbroker.BrokerConfig("share.coordinator.state.topic.replication.factor", "1"),
		embeddedbroker.BrokerConfig("group.share.record.lock.duration.ms", "60000"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3}))
	ctx := testCtx(t)
	// A failed write is answered once the leader gives up on the
	// coordinator (10 seconds): the client waits longer.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic), kgo.RequestTimeoutOverhead(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topicID := shareTopicID(t, ctx, cl, topic)
	// A group whose share coordinator is not the partition's leader: the
	// leader survives the coordinator's crash.
	leader := c.Leader(topic, 0)
	var group string
	var coord int32
	for i := 0; ; i++ {
		group = fmt.Sprintf("ackfail-%d", i)
		if coord = shareFind(t, ctx, cl, 2, shareKey(group, topicID, 0), -1); coord != leader {
			break
		}
	}
	type batch = kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch
	fetch := func(member string, epoch int32, acks ...batch) kmsg.ShareFetchResponseTopicPartition {
		t.Helper()
		req := shareFetchRequest(group, member, epoch, 100, topicID, acks)
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ShareFetch of %s at epoch %d: %v %+v", member, epoch, kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	acknowledge := func(member string, epoch int32, first, last int64, typ int8) int16 {
		t.Helper()
		req := kmsg.NewPtrShareAcknowledgeRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), epoch
		rt := kmsg.NewShareAcknowledgeRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
		b := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{typ}
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, b)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("ShareAcknowledge of %s at epoch %d: %v", member, epoch, kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	ackBatch := func(first, last int64, typ int8) batch {
		b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
		b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{typ}
		return b
	}

	// The share partition starts at the end (latest): open the session,
	// then produce, then acquire.
	if p := fetch("m", 0); p.ErrorCode != 0 {
		t.Fatalf("open: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	for i := range 6 {
		cl.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	epoch := int32(1)
	var acquired int64
	for acquired < 6 && ctx.Err() == nil {
		p := fetch("m", epoch)
		epoch++
		if p.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		for _, a := range p.AcquiredRecords {
			acquired += a.LastOffset - a.FirstOffset + 1
		}
	}

	if err := c.KillNode(ctx, coord); err != nil {
		t.Fatal(err)
	}
	// Accept 0-2 in a ShareFetch and release 3-5 in a ShareAcknowledge:
	// neither can be written.
	if p := fetch("m", epoch, ackBatch(0, 2, 1)); p.AcknowledgeErrorCode != kerr.CoordinatorNotAvailable.Code || len(p.AcquiredRecords) != 0 {
		t.Fatalf("ShareFetch acknowledging with the coordinator down: %v, acquired %+v", kerr.ErrorForCode(p.AcknowledgeErrorCode), p.AcquiredRecords)
	}
	epoch++
	if code := acknowledge("m", epoch, 3, 5, 2); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("ShareAcknowledge with the coordinator down: %v", kerr.ErrorForCode(code))
	}
	epoch++
	// Nothing was released: another member gets nothing.
	if p := fetch("other", 0); p.ErrorCode != 0 || len(p.AcquiredRecords) != 0 {
		t.Fatalf("another member got %+v (%v)", p.AcquiredRecords, kerr.ErrorForCode(p.ErrorCode))
	}

	if err := c.RestartNode(ctx, coord); err != nil {
		t.Fatal(err)
	}
	// The records are still the member's: accepting 0-2 again succeeds
	// once the state can be written (the leader's write waits for the
	// coordinator up to 10 seconds; retried while it answers that it is
	// not available).
	for {
		code := acknowledge("m", epoch, 0, 2, 1)
		epoch++
		if code == 0 {
			break
		}
		if code != kerr.CoordinatorNotAvailable.Code || ctx.Err() != nil {
			t.Fatalf("acknowledging again after the restart: %v", kerr.ErrorForCode(code))
		}
	}
	// The member goes away with 3-5, whose release failed: they go to the
	// other member, delivered a second time, which accepts them.
	if p := fetch("m", -1); p.ErrorCode != 0 {
		t.Fatalf("closing the session: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	p := fetch("other", 1)
	if got := p.AcquiredRecords; len(got) != 1 || got[0].FirstOffset != 3 || got[0].LastOffset != 5 || got[0].DeliveryCount != 2 {
		t.Fatalf("the other member acquired %+v (%v), want 3-5 delivered twice", got, kerr.ErrorForCode(p.ErrorCode))
	}
	if p := fetch("other", 2, ackBatch(3, 5, 1)); p.AcknowledgeErrorCode != 0 {
		t.Fatalf("the other member's acceptance: %v", kerr.ErrorForCode(p.AcknowledgeErrorCode))
	}
	// The state says so (-1 while the restarted coordinator loads).
	for {
		got := shareStartOffsets(t, ctx, cl, group, topicID, 1)[0]
		if got == 6 {
			break
		}
		if got >= 0 || ctx.Err() != nil {
			t.Fatalf("share start offset after the acceptance: %d, want 6", got)
		}
		waitABit(ctx)
	}
}

// shareTopicID waits for the topic's metadata and returns its ID.
func shareTopicID(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	for {
		req := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, mt)
		if resp, err := req.RequestWith(ctx, cl); err == nil && resp.Topics[0].ErrorCode == 0 && resp.Topics[0].TopicID != ([16]byte{}) {
			return resp.Topics[0].TopicID
		}
		if ctx.Err() != nil {
			t.Fatal("no topic metadata")
		}
		waitABit(ctx)
	}
}

// shareFetchRequest is a ShareFetch of partition 0 of the topic by member
// of group at the session epoch, with the acknowledgements.
func shareFetchRequest(group, member string, epoch, maxWaitMillis int32, topicID [16]byte, acks []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchRequest {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), epoch
	req.MaxWaitMillis, req.MaxRecords, req.BatchSize = maxWaitMillis, 100, 100
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = topicID
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.AcknowledgementBatches = acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
