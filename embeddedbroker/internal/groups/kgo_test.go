package groups

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// miniBroker is a one-node Kafka wire server just capable enough for
// franz-go's consumer group and admin clients: it serves the group APIs
// through the Coordinator and fakes metadata, list offsets and (always
// empty) fetches for topic "t". Requests of a connection are served one at
// a time, as Kafka does.
type miniBroker struct {
	c     *Coordinator
	ln    net.Listener
	host  string
	port  int32
	parts int32

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startMiniBroker(t *testing.T, c *Coordinator, parts int32) *miniBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithCancel(context.Background())
	b := &miniBroker{c: c, ln: ln, host: host, port: int32(p), parts: parts, ctx: ctx, cancel: cancel}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(b.close)
	return b
}

func (b *miniBroker) addr() string { return net.JoinHostPort(b.host, strconv.Itoa(int(b.port))) }

func (b *miniBroker) close() {
	b.cancel()
	b.ln.Close()
	b.wg.Wait()
}

func (b *miniBroker) serve() {
	defer b.wg.Done()
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go b.serveConn(conn)
	}
}

func (b *miniBroker) serveConn(conn net.Conn) {
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	go func() { <-ctx.Done(); conn.Close() }()
	var size [4]byte
	for {
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(conn, body); err != nil {
			return
		}
		r := kbin.Reader{Src: body}
		key, version, corr := r.Int16(), r.Int16(), r.Int32()
		clientID := r.NullableString()
		req := kmsg.RequestForKey(key)
		if req == nil {
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			for n := r.Uvarint(); n > 0; n-- {
				r.Uvarint()
				r.Span(int(r.Uvarint()))
			}
		}
		if !r.Ok() || req.ReadFrom(r.Src) != nil {
			return
		}
		cid := ""
		if clientID != nil {
			cid = *clientID
		}
		resp := b.handle(WithClient(ctx, cid, "/127.0.0.1"), req)
		if resp == nil {
			return
		}
		resp.SetVersion(version)
		out := binary.BigEndian.AppendUint32(make([]byte, 4), uint32(corr))
		if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
			out = append(out, 0) // response header tags
		}
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// maxVersions are the versions the mini broker advertises: every version
// kmsg knows for the group APIs, but none that needs topic IDs.
var maxVersions = map[kmsg.Key]int16{
	kmsg.ApiVersions:     (&kmsg.ApiVersionsRequest{}).MaxVersion(),
	kmsg.Metadata:        (&kmsg.MetadataRequest{}).MaxVersion(),
	kmsg.FindCoordinator: (&kmsg.FindCoordinatorRequest{}).MaxVersion(),
	kmsg.ListOffsets:     (&kmsg.ListOffsetsRequest{}).MaxVersion(),
	kmsg.Fetch:           12,
	kmsg.JoinGroup:       (&kmsg.JoinGroupRequest{}).MaxVersion(),
	kmsg.SyncGroup:       (&kmsg.SyncGroupRequest{}).MaxVersion(),
	kmsg.Heartbeat:       (&kmsg.HeartbeatRequest{}).MaxVersion(),
	kmsg.LeaveGroup:      (&kmsg.LeaveGroupRequest{}).MaxVersion(),
	kmsg.OffsetCommit:    9,
	kmsg.OffsetFetch:     9,
	kmsg.ListGroups:      (&kmsg.ListGroupsRequest{}).MaxVersion(),
	kmsg.DescribeGroups:  (&kmsg.DescribeGroupsRequest{}).MaxVersion(),
	kmsg.DeleteGroups:    (&kmsg.DeleteGroupsRequest{}).MaxVersion(),
	kmsg.OffsetDelete:    (&kmsg.OffsetDeleteRequest{}).MaxVersion(),
}

func (b *miniBroker) handle(ctx context.Context, req kmsg.Request) kmsg.Response {
	if Handles(req.Key()) {
		return b.c.Handle(ctx, req)
	}
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
		for k, v := range maxVersions {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k.Int16(), MaxVersion: v})
		}
		return resp
	case *kmsg.MetadataRequest:
		resp := r.ResponseKind().(*kmsg.MetadataResponse)
		resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: b.host, Port: b.port}}
		resp.ClusterID = kmsg.StringPtr("mini")
		resp.ControllerID = 0
		topics := []string{"t"}
		if r.Topics != nil {
			topics = nil
			for _, t := range r.Topics {
				if t.Topic != nil {
					topics = append(topics, *t.Topic)
				}
			}
		}
		for _, name := range topics {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			if name != "t" {
				mt.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			mt.TopicID = [16]byte{1}
			for p := range b.parts {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition, mp.Leader, mp.Replicas, mp.ISR = p, 0, []int32{0}, []int32{0}
				mt.Partitions = append(mt.Partitions, mp)
			}
			resp.Topics = append(resp.Topics, mt)
		}
		return resp
	case *kmsg.FindCoordinatorRequest:
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.NodeID, resp.Host, resp.Port = 0, b.host, b.port
		keys := r.CoordinatorKeys
		if r.Version < 4 {
			keys = []string{r.CoordinatorKey}
		}
		for _, k := range keys {
			resp.Coordinators = append(resp.Coordinators, kmsg.FindCoordinatorResponseCoordinator{Key: k, NodeID: 0, Host: b.host, Port: b.port})
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.Offset, rp.Timestamp = p.Partition, 0, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.FetchRequest:
		// Nothing to fetch, ever: wait like a broker with no data.
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(r.MaxWaitMillis)*time.Millisecond, 200*time.Millisecond)):
		}
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return nil
}

// kgoMember is a franz-go group consumer and the partitions it owns.
type kgoMember struct {
	cl *kgo.Client
	mu sync.Mutex
	// owned is what the client's callbacks say it owns.
	owned map[int32]bool
}

func (m *kgoMember) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p := range m.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func newKgoMember(t *testing.T, addr, group, name string, extra ...kgo.Opt) *kgoMember {
	m := &kgoMember{owned: make(map[int32]bool)}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics("t"),
		kgo.SessionTimeout(3 * time.Second),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			for _, p := range a["t"] {
				m.owned[p] = true
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r["t"] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r["t"] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	t.Cleanup(cl.Close) // closing twice is fine
	go func() {
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
		}
	}()
	return m
}

// kgoConverged reports whether the members own every partition exactly
// once, each some (a cooperative rebalance goes through a generation where
// the new members own nothing yet), and the coordinator has the group
// Stable with all of them.
func kgoConverged(t *testing.T, adm *kadm.Client, group string, ms []*kgoMember, parts int32) bool {
	var all []int32
	for _, m := range ms {
		ps := m.partitions()
		if len(ps) == 0 {
			return false
		}
		all = append(all, ps...)
	}
	slices.Sort(all)
	if int32(len(all)) != parts {
		return false
	}
	for i, p := range all {
		if p != int32(i) {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false
	}
	g := dg[group]
	return g.Err == nil && g.State == "Stable" && len(g.Members) == len(ms)
}

// TestFranzGoConsumerGroup runs real franz-go group consumers (the
// cooperative-sticky balancer, its default) and admin client against the
// coordinator through a minimal wire server.
func TestFranzGoConsumerGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real clients")
	}
	const parts = 6
	cfg := testConfig()
	cfg.Topics = miniTopics{parts}
	e := newEnv(t, cfg)
	b := startMiniBroker(t, e.c, parts)

	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()), kgo.ClientID("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var ms []*kgoMember
	for _, n := range []string{"k1", "k2", "k3"} {
		ms = append(ms, newKgoMember(t, b.addr(), "g", n))
	}
	eventually(t, "three franz-go members to converge", 20*time.Second, func() bool {
		return kgoConverged(t, adm, "g", ms, parts)
	})

	// A member commits through the group (generation checked), the admin
	// reads it back.
	var commitErr error
	p0 := ms[0].partitions()[0]
	ms[0].cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"t": {p0: {Epoch: 0, Offset: 42}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if err == nil {
				commitErr = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
			}
		})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("t", p0); !ok || o.At != 42 || o.Err != nil {
		t.Fatalf("fetched %+v", o)
	}

	// One member leaves (franz-go sends LeaveGroup on close): the other
	// two take over.
	ms[2].cl.Close()
	ms = ms[:2]
	eventually(t, "two franz-go members to converge", 20*time.Second, func() bool {
		return kgoConverged(t, adm, "g", ms, parts)
	})

	// Admin operations on a simple group.
	os := make(kadm.Offsets)
	os.Add(kadm.Offset{Topic: "t", Partition: 1, At: 7, LeaderEpoch: -1})
	if resps, err := adm.CommitOffsets(ctx, "simple", os); err != nil || resps.Error() != nil {
		t.Fatalf("commit: %v %v", err, resps.Error())
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil || !slices.Contains(listed.Groups(), "simple") || !slices.Contains(listed.Groups(), "g") {
		t.Fatalf("list groups: %v %v", listed.Groups(), err)
	}
	dels, err := adm.DeleteOffsets(ctx, "g", kadm.TopicsSet{"t": {0: {}}})
	if err != nil || dels.Error() == nil {
		t.Fatalf("deleting offsets of a subscribed topic: %v %+v", err, dels)
	}
	deleted, err := adm.DeleteGroups(ctx, "simple", "g")
	if err != nil || deleted["simple"].Err != nil || deleted["g"].Err == nil {
		t.Fatalf("delete groups: %v %+v", err, deleted)
	}
}

// TestFranzGoStaticMember restarts a franz-go static member: the group
// does not rebalance and the member gets its partitions back.
func TestFranzGoStaticMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real clients")
	}
	const parts = 4
	cfg := testConfig()
	cfg.Topics = miniTopics{parts}
	e := newEnv(t, cfg)
	b := startMiniBroker(t, e.c, parts)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	s1 := newKgoMember(t, b.addr(), "g", "s1", kgo.InstanceID("s1"))
	s2 := newKgoMember(t, b.addr(), "g", "s2", kgo.InstanceID("s2"))
	eventually(t, "static members to converge", 20*time.Second, func() bool {
		return kgoConverged(t, adm, "g", []*kgoMember{s1, s2}, parts)
	})
	gen := e.describeGen("g")

	// Restart the follower. (A restarted static leader is told to skip
	// the assignment, KIP-814, but franz-go computes a plan anyway and
	// rejoins if it differs from its old assignment, which the sticky
	// balancers' plan for a member that no longer reports its owned
	// partitions may well do. Kafka behaves the same.)
	g, _ := e.c.acquire("g", false)
	leader := *g.members[g.leader].instanceID
	g.mu.Unlock()
	follower, other := s2, s1
	if leader == "s2" {
		follower, other = s1, s2
	}
	name := "s1"
	if follower == s2 {
		name = "s2"
	}
	before := follower.partitions()
	follower.cl.Close() // a static member does not leave the group on close
	follower = newKgoMember(t, b.addr(), "g", name, kgo.InstanceID(name))
	eventually(t, "restarted static member to get its partitions back", 20*time.Second, func() bool {
		return slices.Equal(follower.partitions(), before) && kgoConverged(t, adm, "g", []*kgoMember{follower, other}, parts)
	})
	if g := e.describeGen("g"); g != gen {
		t.Fatalf("static member restart rebalanced: generation %d -> %d", gen, g)
	}
}

// miniTopics is topic "t" with n partitions.
type miniTopics struct{ n int32 }

func (m miniTopics) PartitionExists(topic string, p int32) bool {
	return topic == "t" && p >= 0 && p < m.n
}
func (miniTopics) TopicName([16]byte) (string, bool) { return "", false }
func (miniTopics) TopicID(string) ([16]byte, bool)   { return [16]byte{}, false }
func (m miniTopics) Subscribable(context.Context) consumergroup.TopicMetadata {
	return consumergroup.TopicMetadata{"t": {ID: [16]byte{1}, Name: "t", Partitions: m.n}}
}
