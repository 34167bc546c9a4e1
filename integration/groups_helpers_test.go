package integration

// Consumer group acceptance tests: real clients (franz-go, sarama,
// kafka-go, kcat/librdkafka) consume as members of one group from a 3-node
// embedded cluster while members leave and join and a producer keeps
// writing, and the tests check what a group must guarantee: every record
// consumed and its offset committed, no record handed to two members of the
// same generation, order kept within a partition. This file holds what the
// groups_*_test.go files share; every name here starts with grp so that it
// does not collide with the byte-level interop tests of this package.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// grpPartitions is the partition count of every group test topic: more
// than the three members, so that each member owns several.
const grpPartitions = 6

// grpTimeout bounds one group test.
const grpTimeout = 60 * time.Second

// Client timeouts of the members: short, so that rebalances take a few
// hundred milliseconds. The cluster's group.min.session.timeout.ms is
// lowered to allow them (Kafka's minimum is 6s).
const (
	grpSession   = 2 * time.Second
	grpHeartbeat = 100 * time.Millisecond
	grpRebalance = 3 * time.Second
)

// grpProduceEvery paces the sequenced producer: one record per partition
// each tick, about 1200 records a second over 6 partitions.
const grpProduceEvery = 5 * time.Millisecond

// grpCluster starts the 3-node cluster of a group test with the given
// topics of grpPartitions partitions each. Session timeouts down to 100ms
// are allowed.
func grpCluster(t *testing.T, topics ...string) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t,
		embeddedbroker.Nodes(3),
		embeddedbroker.Topics(grpPartitions, topics...),
		embeddedbroker.BrokerConfig("group.min.session.timeout.ms", "100"),
	)
}

// grpCtx is the context of one group test, bounded by grpTimeout.
func grpCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), grpTimeout)
	t.Cleanup(cancel)
	return ctx
}

// grpAdmin returns a kadm client on addrs, closed at test end.
func grpAdmin(t *testing.T, addrs []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ClientID("grp-admin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// grpWait polls cond every 10ms until it holds; at ctx's end it fails the
// test with what and cond's last detail. It must run on the test goroutine.
func grpWait(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %s", what, detail)
		case <-tick.C:
		}
	}
}

// grpProducer produces sequenced records until stopped: each round one
// record to every partition, key "key-<p>" (so the key names its
// partition) and value the partition's sequence number, 0, 1, 2, ... It is
// idempotent with acks=all, so a partition's offsets equal its sequence
// numbers, which the ledger checks.
type grpProducer struct {
	cl    *kgo.Client
	topic string
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	hold  atomic.Bool // paused: rounds are skipped
	round sync.Mutex  // held while a round is produced

	mu   sync.Mutex
	next [grpPartitions]int64
	err  error
}

// grpStartProducer starts a sequenced producer on topic.
func grpStartProducer(t *testing.T, ctx context.Context, addrs []string, topic string) *grpProducer {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ClientID("grp-producer"),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// Find a partition's new leader soon after a node fails (the
		// default waits 5s between metadata refreshes).
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := &grpProducer{cl: cl, topic: topic, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(ctx)
	t.Cleanup(func() { p.halt() })
	return p
}

func (p *grpProducer) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(grpProduceEvery)
	defer tick.Stop()
	for {
		p.round.Lock()
		if p.hold.Load() {
			p.round.Unlock()
			select {
			case <-p.stop:
				return
			case <-tick.C:
				continue
			}
		}
		p.mu.Lock()
		seq := p.next
		p.mu.Unlock()
		recs := make([]*kgo.Record, grpPartitions)
		for i := range recs {
			recs[i] = &kgo.Record{
				Partition: int32(i),
				Key:       []byte("key-" + strconv.Itoa(i)),
				Value:     []byte(strconv.FormatInt(seq[i], 10)),
			}
		}
		err := p.cl.ProduceSync(ctx, recs...).FirstErr()
		p.mu.Lock()
		if err != nil {
			p.err = err
		} else {
			for i := range p.next {
				p.next[i]++
			}
		}
		p.mu.Unlock()
		p.round.Unlock()
		if err != nil {
			return
		}
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

// halt stops the producer and closes its client; it is idempotent.
func (p *grpProducer) halt() {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		p.cl.Close()
	})
}

// pause stops producing after the round in flight and returns how many
// records each partition has.
func (p *grpProducer) pause() []int64 {
	p.hold.Store(true)
	p.round.Lock()
	defer p.round.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.next[:])
}

// resume undoes pause.
func (p *grpProducer) resume() { p.hold.Store(false) }

// total is the number of records acknowledged so far.
func (p *grpProducer) total() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, c := range p.next {
		n += c
	}
	return n
}

// Stop stops the producer and returns how many records each partition got.
func (p *grpProducer) Stop(t *testing.T) []int64 {
	t.Helper()
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("sequenced producer: %v", p.err)
	}
	return slices.Clone(p.next[:])
}

// grpDelivery is one record as a member consumed it.
type grpDelivery struct {
	Member string
	// Gen is the group generation the member consumed the record in, -1
	// if the client does not expose it (kcat).
	Gen int32
	// Epoch numbers the member's assignments: the generation where the
	// client exposes it and a member cannot get one generation twice,
	// else a per-member counter of joins, sessions or assignments (sarama
	// may rejoin into the generation it had). Order is checked within one
	// (member, epoch, partition), and a record may be read twice in one
	// generation only by one member in two epochs.
	Epoch     int32
	Partition int32
	Offset    int64
	Value     string
}

// grpLedger collects the deliveries of every member of a test.
type grpLedger struct {
	mu       sync.Mutex
	ds       []grpDelivery
	byMember map[string]int
	distinct [grpPartitions]map[int64]bool
	// extraGens are generations reported by clients whose deliveries
	// cannot be labelled with one (kafka-go), for the report.
	extraGens map[int32]bool
}

// noteGeneration records a generation a client reported.
func (l *grpLedger) noteGeneration(g int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.extraGens == nil {
		l.extraGens = map[int32]bool{}
	}
	if g >= 0 {
		l.extraGens[g] = true
	}
}

// newGrpLedger returns an empty ledger.
func newGrpLedger() *grpLedger {
	l := &grpLedger{byMember: map[string]int{}}
	for i := range l.distinct {
		l.distinct[i] = map[int64]bool{}
	}
	return l
}

// add records a delivery; records of unexpected partitions are kept and
// reported by check.
func (l *grpLedger) add(d grpDelivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds = append(l.ds, d)
	l.byMember[d.Member]++
	if d.Partition >= 0 && d.Partition < grpPartitions {
		l.distinct[d.Partition][d.Offset] = true
	}
}

// count is how many records member consumed.
func (l *grpLedger) count(member string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byMember[member]
}

// covered reports whether every offset below want[p] of every partition
// was consumed, with a description of what is missing.
func (l *grpLedger) covered(want []int64) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var missing []string
	for p, n := range want {
		if got := int64(len(l.distinct[p])); got < n {
			first := int64(0)
			for l.distinct[p][first] {
				first++
			}
			missing = append(missing, fmt.Sprintf("p%d %d/%d (first missing %d)", p, got, n, first))
		}
	}
	return len(missing) == 0, "consumed distinct offsets: " + strings.Join(missing, ", ")
}

// grpStats summarizes a ledger check.
type grpStats struct {
	Produced    int64           // records produced
	Deliveries  int             // records consumed, re-deliveries included
	Redelivered int             // deliveries of an offset already consumed (in an earlier generation)
	Generations []int32         // generations records were consumed in
	PerMember   map[string]int  // deliveries per member
	Members     map[string]bool // members that consumed anything
}

func (s grpStats) String() string {
	names := slices.Sorted(maps.Keys(s.PerMember))
	var per []string
	for _, n := range names {
		per = append(per, fmt.Sprintf("%s=%d", n, s.PerMember[n]))
	}
	return fmt.Sprintf("produced %d, consumed %d (%d re-deliveries), generations %v, per member [%s]",
		s.Produced, s.Deliveries, s.Redelivered, s.Generations, strings.Join(per, " "))
}

// check verifies the ledger against what was produced:
//
//   - every offset of every partition below produced[p] was consumed, none
//     at or past it, and each record's value is its offset (the producer's
//     per-partition sequence number), so nothing was lost, invented or
//     reordered on the way;
//   - where generations are known, no offset was consumed twice in one
//     generation, by two members or by one member within one epoch: a
//     second delivery is only allowed in a later generation (a
//     re-delivery of records not yet committed when a partition moved), or
//     to the same member in a later epoch of the same generation (where
//     epochs count joins: a member rejoining a Stable group unchanged gets
//     the generation it had, as in Kafka, and its client may restart at
//     the committed offsets);
//   - each member read each partition in order: within one epoch of a
//     member, a partition's offsets go up by exactly one from record to
//     record (a new epoch may start anywhere, at the committed offset).
func (l *grpLedger) check(t *testing.T, produced []int64) grpStats {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := grpStats{PerMember: maps.Clone(l.byMember), Members: map[string]bool{}, Deliveries: len(l.ds)}
	for _, n := range produced {
		st.Produced += n
	}
	type key struct {
		p   int32
		off int64
	}
	seen := map[key][]grpDelivery{}
	gens := map[int32]bool{}
	type stream struct {
		member string
		p      int32
	}
	last := map[stream]grpDelivery{}
	errs := 0
	fail := func(format string, args ...any) {
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, d := range l.ds {
		st.Members[d.Member] = true
		if d.Gen >= 0 {
			gens[d.Gen] = true
		}
		if d.Partition < 0 || d.Partition >= grpPartitions {
			fail("%s consumed from partition %d, which the topic does not have", d.Member, d.Partition)
			continue
		}
		if d.Offset < 0 || d.Offset >= produced[d.Partition] {
			fail("%s consumed p%d@%d, past the %d records produced", d.Member, d.Partition, d.Offset, produced[d.Partition])
		}
		if d.Value != strconv.FormatInt(d.Offset, 10) {
			fail("%s consumed p%d@%d with value %q, want the sequence number %d", d.Member, d.Partition, d.Offset, d.Value, d.Offset)
		}
		k := key{d.Partition, d.Offset}
		if prev := seen[k]; len(prev) > 0 {
			st.Redelivered++
			for _, o := range prev {
				if d.Gen >= 0 && o.Gen == d.Gen && (o.Member != d.Member || o.Epoch == d.Epoch) {
					fail("p%d@%d consumed twice in generation %d: by %s and by %s", d.Partition, d.Offset, d.Gen, o.Member, d.Member)
				}
			}
		}
		seen[k] = append(seen[k], d)
		s := stream{d.Member, d.Partition}
		if prev, ok := last[s]; ok && prev.Epoch == d.Epoch {
			switch {
			case d.Gen >= 0 && d.Offset != prev.Offset+1:
				fail("%s read p%d out of order in epoch %d: offset %d after %d", d.Member, d.Partition, d.Epoch, d.Offset, prev.Offset)
			case d.Gen < 0 && d.Offset > prev.Offset+1:
				// Clients that do not show the generation (kcat,
				// kafka-go) may restart a partition at its committed
				// offset without a new join, so only a gap is an error.
				fail("%s skipped p%d in epoch %d: offset %d after %d", d.Member, d.Partition, d.Epoch, d.Offset, prev.Offset)
			}
		}
		last[s] = d
	}
	for p, n := range produced {
		var missing []int64
		for off := range n {
			if len(seen[key{int32(p), off}]) == 0 {
				missing = append(missing, off)
			}
		}
		if len(missing) > 0 {
			fail("p%d: %d of %d records never consumed, first %d", p, len(missing), n, missing[0])
		}
	}
	if errs > 20 {
		t.Errorf("... %d more ledger errors not shown", errs-20)
	}
	for g := range l.extraGens {
		gens[g] = true
	}
	st.Generations = slices.Sorted(maps.Keys(gens))
	return st
}

// grpEndOffsets returns the end offset of each partition of topic.
func grpEndOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) []int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	out := make([]int64, grpPartitions)
	for p := range out {
		o, ok := ends.Lookup(topic, int32(p))
		if !ok {
			t.Fatalf("ListEndOffsets: no offset for %s[%d]", topic, p)
		}
		out[p] = o.Offset
	}
	return out
}

// grpCommitted returns the group's committed offset of each partition of
// topic, -1 where there is none.
func grpCommitted(ctx context.Context, adm *kadm.Client, group, topic string) ([]int64, error) {
	os, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = os.Error()
	}
	if err != nil {
		return nil, err
	}
	out := make([]int64, grpPartitions)
	for p := range out {
		out[p] = -1
		if o, ok := os.Lookup(topic, int32(p)); ok {
			out[p] = o.At
		}
	}
	return out, nil
}

// grpWaitCommitted waits until the group's committed offsets are want.
func grpWaitCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, want []int64) {
	t.Helper()
	grpWait(t, ctx, "committed offsets == end offsets", func() (bool, string) {
		got, err := grpCommitted(ctx, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(got, want), fmt.Sprintf("committed %v, want %v", got, want)
	})
}

// grpAssignment is a described member's assigned partitions of topic.
func grpAssignment(m kadm.DescribedGroupMember, topic string) []int32 {
	c, ok := m.Assigned.AsConsumer()
	if !ok {
		return nil
	}
	var ps []int32
	for _, t := range c.Topics {
		if t.Topic == topic {
			ps = append(ps, t.Partitions...)
		}
	}
	slices.Sort(ps)
	return ps
}

// grpDescribe describes one group.
func grpDescribe(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedGroup, error) {
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	d, ok := ds[group]
	if !ok {
		return kadm.DescribedGroup{}, fmt.Errorf("group %s not described", group)
	}
	return d, d.Err
}

// grpView is a group as either protocol's describe API shows it: a
// classic group's (DescribeGroups) or a KIP-848 consumer group's
// (ConsumerGroupDescribe).
type grpView struct {
	State   string
	Members []grpMemberView
}

// grpMemberView is one member and its assigned partitions by topic.
type grpMemberView struct {
	MemberID, ClientID string
	Assigned           map[string][]int32
}

// grpGroupView describes a group of either protocol: DescribeGroups
// answers Dead for a consumer group, which ConsumerGroupDescribe then
// describes.
func grpGroupView(ctx context.Context, adm *kadm.Client, group string) (grpView, error) {
	d, err := grpDescribe(ctx, adm, group)
	if err != nil {
		return grpView{}, err
	}
	if d.State != "Dead" {
		v := grpView{State: d.State}
		for _, m := range d.Members {
			mv := grpMemberView{MemberID: m.MemberID, ClientID: m.ClientID, Assigned: map[string][]int32{}}
			if c, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range c.Topics {
					mv.Assigned[t.Topic] = append(mv.Assigned[t.Topic], t.Partitions...)
				}
			}
			v.Members = append(v.Members, mv)
		}
		return v, nil
	}
	dcs, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return grpView{}, err
	}
	dc, ok := dcs[group]
	if !ok || dc.Err != nil {
		return grpView{State: "Dead"}, nil // neither kind of group
	}
	v := grpView{State: dc.State}
	for _, m := range dc.Members {
		mv := grpMemberView{MemberID: m.MemberID, ClientID: m.ClientID, Assigned: map[string][]int32{}}
		for t, ps := range m.Assignment {
			for p := range ps {
				mv.Assigned[t] = append(mv.Assigned[t], p)
			}
		}
		v.Members = append(v.Members, mv)
	}
	return v, nil
}

// grpWaitStable waits until DescribeGroups shows the group Stable with n
// members that together own every partition of topic, each exactly once,
// and each member at least one (with grpPartitions >= n). A cooperative
// rebalance passes through a Stable generation that withholds partitions
// being moved; this waits past it.
func grpWaitStable(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, n int) grpView {
	t.Helper()
	var last grpView
	grpWait(t, ctx, fmt.Sprintf("group %s Stable with %d members owning all partitions", group, n), func() (bool, string) {
		d, err := grpGroupView(ctx, adm, group)
		if err != nil {
			return false, err.Error()
		}
		last = d
		owners := map[int32]int{}
		var desc []string
		empty := false
		for _, m := range d.Members {
			ps := slices.Sorted(slices.Values(m.Assigned[topic]))
			empty = empty || len(ps) == 0
			for _, p := range ps {
				owners[p]++
			}
			desc = append(desc, fmt.Sprintf("%s:%v", m.ClientID, ps))
		}
		detail := fmt.Sprintf("state %s, members %v", d.State, desc)
		for p, c := range owners {
			if c > 1 {
				t.Errorf("group %s: partition %d assigned to %d members at once: %s", group, p, c, detail)
			}
		}
		return d.State == "Stable" && len(d.Members) == n && len(owners) == grpPartitions && !empty, detail
	})
	return last
}

// grpStarter starts a group member named name that consumes topic into the
// ledger; the returned function makes it leave the group gracefully
// (committing what it consumed, as the client does on close) and returns
// once it has left. It is also called at test cleanup, so it must be
// idempotent.
type grpStarter func(t *testing.T, name string) (leave func())

// grpOnce makes f idempotent.
func grpOnce(f func()) func() {
	var once sync.Once
	return func() { once.Do(f) }
}

// grpScenario is the churn all interop group tests go through.
type grpScenario struct {
	Group, Topic string
	Addrs        []string
	Adm          *kadm.Client
	Ledger       *grpLedger
	Start        grpStarter

	// QuiesceLeaves pauses the producer while a member leaves, until
	// every record produced so far is consumed. kcat needs it: on SIGTERM
	// it drops the record it is polling without printing it, although
	// librdkafka already stored its offset, which the final commit then
	// covers; with nothing left to consume there is no such record. Joins
	// still happen while records flow.
	QuiesceLeaves bool

	// CommitOnLeave skips waiting for the live members to commit the end
	// offsets before they leave: only the commit of their close is
	// checked. kcat needs it: its -X applies auto.commit.interval.ms to
	// librdkafka's legacy topic property of that name, so the group
	// consumer keeps autocommitting every 5s, too slow to wait for.
	CommitOnLeave bool

	// Disrupt, if set, runs once on the test goroutine after membership
	// change number DisruptAfter has settled (1: m1, m2, m3 joined; 2: m1
	// left; 3: m4 joined; 4: m2 left while m5 joined), while the producer
	// writes and the members consume: a fault to inject, such as killing a
	// node. The scenario then waits again, as after a membership change,
	// until the group is Stable with every partition owned and every live
	// member consuming, before it goes on with the next change.
	Disrupt      func(t *testing.T, ctx context.Context)
	DisruptAfter int

	// Tolerate, if set, is shown the errors the members' clients report
	// (fetch, commit and consume errors), which otherwise fail the test;
	// those it accepts are logged and the member goes on (retrying where
	// the client gave up). Where Disrupt injects a fault, clients report
	// errors while they look for a partition's new leader or the group's
	// new coordinator; the ledger and the committed offsets still decide
	// whether the group kept its guarantees.
	Tolerate func(member string, err error) bool
}

// clientErr reports an error of member's client: a test failure unless
// Tolerate accepts it, which it returns.
func (s *grpScenario) clientErr(t *testing.T, member, what string, err error) bool {
	if s.Tolerate != nil && s.Tolerate(member, err) {
		t.Logf("%s: %s (tolerated): %v", member, what, err)
		return true
	}
	t.Errorf("%s: %s: %v", member, what, err)
	return false
}

// run drives the group through membership changes while the sequenced
// producer writes: three members m1-m3 join; m1 leaves; m4 joins; m2
// leaves while m5 joins. After each change it waits until DescribeGroups
// shows the new membership Stable, owning every partition, and every live
// member has consumed at least 50 more records; Disrupt, if set, runs after
// change DisruptAfter and is followed by the same wait. Then the producer stops,
// the members consume to the end and commit it, and they leave. It returns
// what was produced per partition after checking that the committed
// offsets equal the end offsets, before and after the members left.
func (s grpScenario) run(t *testing.T, ctx context.Context) []int64 {
	t.Helper()
	prod := grpStartProducer(t, ctx, s.Addrs, s.Topic)
	live := map[string]func(){}
	var order []string
	join := func(name string) {
		leave := s.Start(t, name)
		t.Cleanup(leave)
		live[name] = leave
		order = append(order, name)
	}
	quiesce := func(name string) func() {
		if !s.QuiesceLeaves {
			return func() {}
		}
		want := prod.pause()
		grpWait(t, ctx, "every record consumed before "+name+" leaves", func() (bool, string) { return s.Ledger.covered(want) })
		return prod.resume
	}
	leave := func(name string) {
		defer quiesce(name)()
		live[name]()
		delete(live, name)
		order = slices.DeleteFunc(order, func(n string) bool { return n == name })
	}
	settle := func(step string) {
		t.Helper()
		grpWaitStable(t, ctx, s.Adm, s.Group, s.Topic, len(live))
		base := map[string]int{}
		for n := range live {
			base[n] = s.Ledger.count(n)
		}
		grpWait(t, ctx, "every member consuming after "+step, func() (bool, string) {
			var lagging []string
			for n := range live {
				if s.Ledger.count(n) < base[n]+50 {
					lagging = append(lagging, n)
				}
			}
			slices.Sort(lagging)
			return len(lagging) == 0, fmt.Sprintf("members without progress: %v", lagging)
		})
		t.Logf("%s: stable with %v, %d records produced so far", step, slices.Sorted(maps.Keys(live)), prod.total())
	}
	changes := 0
	changed := func(step string) {
		t.Helper()
		settle(step)
		if changes++; s.Disrupt != nil && changes == s.DisruptAfter {
			s.Disrupt(t, ctx)
			settle("disruption after " + step)
		}
	}

	join("m1")
	join("m2")
	join("m3")
	changed("m1, m2, m3 joined")
	leave("m1")
	changed("m1 left")
	join("m4")
	changed("m4 joined")
	resume := quiesce("m2")
	var wg sync.WaitGroup
	leaveM2 := live["m2"]
	wg.Go(leaveM2)
	join("m5")
	wg.Wait()
	resume()
	delete(live, "m2")
	order = slices.DeleteFunc(order, func(n string) bool { return n == "m2" })
	changed("m2 left while m5 joined")

	produced := prod.Stop(t)
	ends := grpEndOffsets(t, ctx, s.Adm, s.Topic)
	if !slices.Equal(ends, produced) {
		t.Fatalf("end offsets %v, but the producer had %v acknowledged", ends, produced)
	}
	grpWait(t, ctx, "every record consumed", func() (bool, string) { return s.Ledger.covered(produced) })
	if !s.CommitOnLeave {
		grpWaitCommitted(t, ctx, s.Adm, s.Group, s.Topic, produced)
	}
	for _, n := range slices.Clone(order) {
		leave(n)
	}
	got, err := grpCommitted(ctx, s.Adm, s.Group, s.Topic)
	if err != nil {
		t.Fatalf("FetchOffsets after the members left: %v", err)
	}
	if !slices.Equal(got, produced) {
		t.Errorf("after the members left: committed %v, want the end offsets %v", got, produced)
	}
	d, err := grpGroupView(ctx, s.Adm, s.Group)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Errorf("after the members left: group %s with %d members, want Empty", d.State, len(d.Members))
	}
	return produced
}
