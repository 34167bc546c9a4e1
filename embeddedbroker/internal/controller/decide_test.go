package controller

import (
	"errors"
	"log/slog"
	"math"
	"slices"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// testDecider returns a decider with broker configs cfg and topic ids
// counting up from 1.
func testDecider(t testing.TB, cfg map[string]string) *decider {
	t.Helper()
	b, err := configs.NewBroker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var next byte
	return &decider{broker: b, maxRF: math.MaxInt16, logger: slog.New(slog.DiscardHandler), newID: func() TopicID {
		next++
		return TopicID{next}
	}}
}

// must applies records to an image, failing the test on error.
func must(t testing.TB, im *Image, recs []record, err error) *Image {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := im.apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// cluster returns an image with brokers 0..n-1 registered and live.
func cluster(t testing.TB, dc *decider, n int) *Image {
	t.Helper()
	im := emptyImage("test")
	for i := range n {
		im = must(t, im, dc.registerBroker(im, Broker{ID: int32(i), Host: "h", Port: int32(9000 + i)}), nil)
	}
	return im
}

func withTopic(t testing.TB, dc *decider, im *Image, spec TopicSpec) *Image {
	t.Helper()
	_, recs, err := dc.createTopic(im, spec)
	return must(t, im, recs, err)
}

func part(t testing.TB, im *Image, topic string, p int32) Partition {
	t.Helper()
	_, st, ok := im.Partition(topic, p)
	if !ok {
		t.Fatalf("no partition %s-%d", topic, p)
	}
	return st
}

func TestCreateTopicPlacement(t *testing.T) {
	dc := testDecider(t, nil)
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "t", Partitions: 6, ReplicationFactor: 3})
	leaders := map[int32]int{}
	for i := range int32(6) {
		st := part(t, im, "t", i)
		if len(st.Replicas) != 3 || st.Leader != st.Replicas[0] || !slices.IsSorted(st.ISR) || len(st.ISR) != 3 {
			t.Fatalf("partition %d: %+v", i, st)
		}
		leaders[st.Leader]++
	}
	if len(leaders) != 3 || leaders[0] != 2 {
		t.Fatalf("leaders not spread: %v", leaders)
	}
	if im.NumPartitions() != 6 || im.NumTopics() != 1 {
		t.Fatalf("counts %d partitions, %d topics", im.NumPartitions(), im.NumTopics())
	}
}

func TestCreateTopicRefusals(t *testing.T) {
	dc := testDecider(t, nil)
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "a.b", Partitions: 1, ReplicationFactor: 1})
	for _, tt := range []struct {
		name string
		spec TopicSpec
		want error
	}{
		{"exists", TopicSpec{Name: "a.b", Partitions: 1, ReplicationFactor: 1}, ErrTopicExists},
		{"collides on . and _", TopicSpec{Name: "a_b", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{"2^31-1 partitions", TopicSpec{Name: "huge", Partitions: math.MaxInt32, ReplicationFactor: 1}, ErrPolicyViolation},
		{"10001 partitions", TopicSpec{Name: "big", Partitions: MaxPartitionsPerRequest + 1, ReplicationFactor: 1}, ErrPolicyViolation},
		{"zero partitions", TopicSpec{Name: "z", Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions},
		{"rf above brokers", TopicSpec{Name: "r", Partitions: 1, ReplicationFactor: 4}, ErrInvalidReplication},
		{"bad name", TopicSpec{Name: "a b", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{"bad config", TopicSpec{Name: "c", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "x"}}, ErrInvalidConfig},
		{"assignment and count", TopicSpec{Name: "x", Partitions: 1, Assignment: [][]int32{{0}}}, ErrInvalidReplicaAssign},
		{"assignment of unknown broker", TopicSpec{Name: "x", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{7}}}, ErrInvalidReplicaAssign},
	} {
		if _, _, err := dc.createTopic(im, tt.spec); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, _, err := dc.createTopic(im, TopicSpec{Name: "ok", Partitions: MaxPartitionsPerRequest, ReplicationFactor: 3}); err != nil {
		t.Fatalf("exactly the limit: %v", err)
	}
	// Deleting the topic frees its name for the colliding one.
	recs, err := dc.deleteTopic(im, "a.b")
	im = must(t, im, recs, err)
	if _, _, err := dc.createTopic(im, TopicSpec{Name: "a_b", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestCreatePartitionsLimit(t *testing.T) {
	dc := testDecider(t, nil)
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 2})
	if _, err := dc.createPartitions(im, "t", math.MaxInt32, nil); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("2^31-1: %v", err)
	}
	recs, err := dc.createPartitions(im, "t", 5, nil)
	im = must(t, im, recs, err)
	tp, _ := im.Topic("t")
	if tp.NumPartitions() != 5 || im.NumPartitions() != 5 || tp.ReplicationFactor() != 2 {
		t.Fatalf("%d partitions, rf %d", tp.NumPartitions(), tp.ReplicationFactor())
	}
}

func TestFenceAndUnfence(t *testing.T) {
	dc := testDecider(t, nil)
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 3})
	im = withTopic(t, dc, im, TopicSpec{Name: "one", Partitions: 1, ReplicationFactor: 1}) // on broker 1 (placement starts at topic count)
	before := part(t, im, "t", 0)
	if before.Leader != 0 {
		t.Fatalf("t-0 led by %d", before.Leader)
	}
	recs, err := dc.setFenced(im, 0, true)
	fenced := must(t, im, recs, err)
	for i := range int32(3) {
		st := part(t, fenced, "t", i)
		if st.Leader == 0 || slices.Contains(st.ISR, 0) {
			t.Fatalf("t-%d after fencing 0: %+v", i, st)
		}
	}
	if st := part(t, fenced, "t", 0); st.LeaderEpoch != before.LeaderEpoch+1 || st.Epoch != before.Epoch+1 {
		t.Fatalf("epochs after fence: %+v (before %+v)", st, before)
	}
	// Only broker 0's partitions are touched: "one" lives on broker 1.
	for _, r := range recs {
		if r.Partition != nil && r.Partition.Topic != (TopicID{1}) {
			t.Fatalf("fence of broker 0 touched %+v", r.Partition)
		}
	}
	if fenced.ControllerID != 1 {
		t.Fatalf("controller %d after fencing 0", fenced.ControllerID)
	}
	// Unfenced, broker 0 is not yet in the ISR: nothing moves back until
	// it catches up (AlterPartitions).
	recs, err = dc.setFenced(fenced, 0, false)
	back := must(t, fenced, recs, err)
	if st := part(t, back, "t", 0); st.Leader == 0 {
		t.Fatalf("t-0 led by 0 before it rejoined the ISR: %+v", st)
	}
	// The leader adds 0 back: with auto.leader.rebalance.enable, the
	// preferred replica leads again in the same change.
	st := part(t, back, "t", 0)
	recs, errs := dc.alterPartitions(back, st.Leader, []ISRChange{{Topic: TopicID{1}, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: []int32{0, 1, 2}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	back = must(t, back, recs, nil)
	if st := part(t, back, "t", 0); st.Leader != 0 || len(st.ISR) != 3 {
		t.Fatalf("after expansion: %+v", st)
	}
}

func TestLastISRMemberKeepsData(t *testing.T) {
	dc := testDecider(t, nil)
	im := withTopic(t, dc, cluster(t, dc, 2), TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1})
	recs, err := dc.setFenced(im, 0, true)
	im = must(t, im, recs, err)
	st := part(t, im, "t", 0)
	if st.Leader != -1 || !slices.Equal(st.ISR, []int32{0}) {
		t.Fatalf("offline partition: %+v", st)
	}
	recs, err = dc.setFenced(im, 0, false)
	im = must(t, im, recs, err)
	if st := part(t, im, "t", 0); st.Leader != 0 {
		t.Fatalf("back online: %+v", st)
	}
}

func TestUncleanElectionOnFence(t *testing.T) {
	dc := testDecider(t, map[string]string{"unclean.leader.election.enable": "true"})
	im := withTopic(t, dc, cluster(t, dc, 2), TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 2})
	st := part(t, im, "t", 0)
	// Shrink the ISR to the leader, then fence the leader.
	recs, errs := dc.alterPartitions(im, st.Leader, []ISRChange{{Topic: TopicID{1}, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: []int32{st.Leader}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	im = must(t, im, recs, nil)
	recs, err := dc.setFenced(im, st.Leader, true)
	im = must(t, im, recs, err)
	got := part(t, im, "t", 0)
	if got.Leader == st.Leader || got.Leader < 0 || !slices.Equal(got.ISR, []int32{got.Leader}) {
		t.Fatalf("unclean election: %+v", got)
	}
}

func TestRegisterKnownBrokerLeavesISRs(t *testing.T) {
	dc := testDecider(t, map[string]string{"auto.leader.rebalance.enable": "false"})
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 3})
	im = must(t, im, dc.registerBroker(im, Broker{ID: 1, Host: "h", Port: 9999}), nil)
	b, _ := im.Broker(1)
	if b.Fenced || b.Port != 9999 {
		t.Fatalf("broker 1: %+v", b)
	}
	for i := range int32(3) {
		if st := part(t, im, "t", i); slices.Contains(st.ISR, 1) || st.Leader == 1 {
			t.Fatalf("t-%d still counts the restarted broker: %+v", i, st)
		}
	}
}

func TestAlterPartitionsChecks(t *testing.T) {
	dc := testDecider(t, nil)
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 3})
	st := part(t, im, "t", 0)
	recs, err := dc.setFenced(im, 2, true)
	im = must(t, im, recs, err)
	st = part(t, im, "t", 0)
	id := TopicID{1}
	_, errs := dc.alterPartitions(im, st.Leader, []ISRChange{
		{Topic: id, Partition: 0, LeaderEpoch: st.LeaderEpoch - 1, PartitionEpoch: st.Epoch, ISR: st.ISR},
		{Topic: id, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch - 1, ISR: st.ISR},
		{Topic: id, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: []int32{0, 1, 2}}, // 2 is fenced
		{Topic: TopicID{9}, Partition: 0, ISR: []int32{0}},
		{Topic: id, Partition: 7, ISR: []int32{0}},
	})
	for i, want := range []error{ErrStaleLeader, ErrStalePartitionEpoch, ErrIneligibleReplica, ErrUnknownTopic, ErrUnknownTopic} {
		if !errors.Is(errs[i], want) {
			t.Errorf("change %d: %v, want %v", i, errs[i], want)
		}
	}
	// One request, many partitions: one change.
	st1 := part(t, im, "t", 1)
	recs, errs = dc.alterPartitions(im, st.Leader, []ISRChange{
		{Topic: id, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: []int32{st.Leader}},
	})
	if errs[0] != nil || len(recs) != 1 {
		t.Fatalf("%v, %d records", errs[0], len(recs))
	}
	if st1.Leader != st.Leader {
		return
	}
	recs, errs = dc.alterPartitions(im, st.Leader, []ISRChange{
		{Topic: id, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: []int32{st.Leader}},
		{Topic: id, Partition: 1, LeaderEpoch: st1.LeaderEpoch, PartitionEpoch: st1.Epoch, ISR: []int32{st.Leader}},
	})
	if errs[0] != nil || errs[1] != nil || len(recs) != 2 {
		t.Fatalf("%v, %d records", errs, len(recs))
	}
}

func TestElectLeaders(t *testing.T) {
	dc := testDecider(t, map[string]string{"auto.leader.rebalance.enable": "false"})
	im := withTopic(t, dc, cluster(t, dc, 3), TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 3})
	recs, err := dc.setFenced(im, 0, true)
	im = must(t, im, recs, err)
	recs, err = dc.setFenced(im, 0, false)
	im = must(t, im, recs, err)
	// Broker 0 is live but out of the ISRs: not available as leader.
	_, out, err := dc.electLeaders(im, ElectPreferred, []TopicPartition{{"t", 0}, {"t", 1}, {"x", 0}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(out[TopicPartition{"t", 0}], ErrPreferredLeaderNotAvailable) || !errors.Is(out[TopicPartition{"t", 1}], ErrElectionNotNeeded) || !errors.Is(out[TopicPartition{"x", 0}], ErrUnknownTopic) {
		t.Fatalf("outcomes %v", out)
	}
	// Every partition at once: one change.
	recs, out, err = dc.electLeaders(im, ElectPreferred, nil)
	if err != nil || len(out) != 3 || len(recs) != 0 {
		t.Fatalf("all: %v, %v, %d records", err, out, len(recs))
	}
	if _, _, err := dc.electLeaders(im, 5, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad type: %v", err)
	}
}

func TestApplyDelta(t *testing.T) {
	dc := testDecider(t, nil)
	im := cluster(t, dc, 3)
	_, recs, err := dc.createTopic(im, TopicSpec{Name: "t", Partitions: 4, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	next, d, err := im.apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Topics) != 1 || !d.Topics[0].Created() || !slices.Equal(d.Topics[0].Partitions, []int32{0, 1, 2, 3}) || d.Brokers {
		t.Fatalf("create delta %+v", d.Topics[0])
	}
	if next.Version != im.Version+1 {
		t.Fatalf("version %d after %d", next.Version, im.Version)
	}
	// The old image is untouched.
	if _, ok := im.Topic("t"); ok {
		t.Fatal("apply changed the image it was applied to")
	}
	recs, err = dc.setFenced(next, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	_, d, err = next.apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Brokers || len(d.Topics) != 1 || d.Topics[0].Created() || len(d.Topics[0].Partitions) == 0 {
		t.Fatalf("fence delta %+v", d)
	}
	recs, err = dc.deleteTopic(next, "t")
	if err != nil {
		t.Fatal(err)
	}
	gone, d, err := next.apply(recs)
	if err != nil || len(d.Topics) != 1 || !d.Topics[0].Deleted() || d.Topics[0].Old.Name != "t" || gone.NumPartitions() != 0 {
		t.Fatalf("delete delta %+v, %v", d, err)
	}
	// Records that do not fit the image are refused.
	if _, _, err := gone.apply([]record{partitionRec(TopicID{1}, 0, Partition{})}); err == nil {
		t.Fatal("partition record of a deleted topic applied")
	}
}
