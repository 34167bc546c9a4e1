package integration

// The churn scenario of groups_helpers_test.go on a replicated cluster,
// with the node that coordinates the group crashed (KillNode) in the middle
// of it and restarted once another node serves the group: the acceptance
// test of replication for consumer groups. Every client of the group tests
// goes through it.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// grpOffsetsTopic is Kafka's internal topic of committed offsets and group
// metadata.
const grpOffsetsTopic = "__consumer_offsets"

// grpOffsetsPartitions is offsets.topic.num.partitions (the default, 50).
const grpOffsetsPartitions = 50

// grpOffsetsPartition is the partition of __consumer_offsets holding the
// group, as Kafka computes it: abs(groupID.hashCode()) % partitions, with
// Java's String.hashCode over UTF-16 code units and Kafka's Utils.abs,
// which maps MinInt32 to 0.
func grpOffsetsPartition(group string, partitions int32) int32 {
	var h int32
	for _, u := range utf16Units(group) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// utf16Units is s in UTF-16 code units, as Java strings hold it.
func utf16Units(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// grpReplicatedCluster starts the 3-node cluster of a coordinator kill
// test: topic has grpPartitions partitions of replication factor 3, like
// __consumer_offsets (offsets.topic.replication.factor 3), so every node
// holds a copy of everything and leads some of it. Set
// KAFKABOOT_BROKER_LOG=debug (or info) to see the brokers' log on stderr.
func grpReplicatedCluster(t *testing.T, topic string) *embeddedbroker.Cluster {
	t.Helper()
	opts := []embeddedbroker.Option{
		embeddedbroker.Nodes(3),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: grpPartitions, ReplicationFactor: 3}),
		embeddedbroker.BrokerConfig("group.min.session.timeout.ms", "100"),
	}
	if lv := os.Getenv("KAFKABOOT_BROKER_LOG"); lv != "" {
		level := slog.LevelInfo
		if lv == "debug" {
			level = slog.LevelDebug
		}
		opts = append(opts, embeddedbroker.Logger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))
	}
	return embeddedbroker.StartForTest(t, opts...)
}

// grpCoordKill is the fault a coordinator kill test injects, and what it
// saw: the node coordinating the group is killed, the test waits until
// another node coordinates the group, serves its committed offsets, and
// the group consumes (and, unless SkipCommitWhileDown, commits) while the
// node is down; then the node is restarted and the test waits until it is
// back in the ISR of the group's partition of __consumer_offsets and of
// every partition of the topic, and until, the preferred leader again, it
// coordinates the group and serves every commit made while it was down.
type grpCoordKill struct {
	C  *embeddedbroker.Cluster
	Sc *grpScenario

	// SkipCommitWhileDown leaves out waiting for a new commit while the
	// node is down, for kcat, whose group consumer commits every 5s.
	SkipCommitWhileDown bool

	// Before is the group's coordinator when the node was killed, During
	// the one elected while it was down, After the one once it was back
	// in sync (the killed node again: the preferred leader of its
	// partitions, with auto.leader.rebalance.enable).
	Before, During, After int32
	// Led is the partitions of the topic the killed node led.
	Led []int32
	// Down is how long the node was down; Failover how long after the
	// kill the controller elected the new coordinator.
	Down, Failover time.Duration
	// Committed* are the group's committed offsets before the kill, as
	// the new coordinator served them first, as it served them once the
	// group committed through it, and as the restarted node served them
	// first.
	CommittedBefore, CommittedMoved, CommittedDown, CommittedBack []int64

	mu         sync.Mutex
	killedAt   time.Time      // zero until the kill
	clientErrs map[string]int // tolerated client errors per member
	lastErr    time.Duration  // after the kill
}

// Tolerate is the scenario's Tolerate hook: client errors are accepted
// once the node is killed (dial errors, NOT_COORDINATOR, NOT_LEADER...,
// whatever a client reports while it looks for the new leaders), counted
// and logged; before it they fail the test.
func (k *grpCoordKill) Tolerate(member string, _ error) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.killedAt.IsZero() {
		return false
	}
	if k.clientErrs == nil {
		k.clientErrs = map[string]int{}
	}
	k.clientErrs[member]++
	k.lastErr = time.Since(k.killedAt)
	return true
}

// Disrupt kills the coordinator's node and restarts it; it is the
// scenario's Disrupt hook.
func (k *grpCoordKill) Disrupt(t *testing.T, ctx context.Context) {
	t.Helper()
	sc, c := k.Sc, k.C
	op := grpOffsetsPartition(sc.Group, grpOffsetsPartitions)
	adm := grpAdmin(t, sc.Addrs)
	fc := adm.FindGroupCoordinators(ctx, sc.Group)[sc.Group]
	if fc.Err != nil {
		t.Fatalf("FindGroupCoordinators: %v", fc.Err)
	}
	k.Before = fc.NodeID
	if l := c.Leader(grpOffsetsTopic, op); l != k.Before {
		t.Fatalf("FindCoordinator names node %d, but node %d leads %s[%d], the group's partition", k.Before, l, grpOffsetsTopic, op)
	}
	if isr := c.ISR(grpOffsetsTopic, op); len(isr) != 3 {
		t.Fatalf("%s[%d] has ISR %v, want all 3 nodes", grpOffsetsTopic, op, isr)
	}
	for p := range int32(grpPartitions) {
		if isr := c.ISR(sc.Topic, p); len(isr) != 3 {
			t.Fatalf("%s[%d] has ISR %v, want all 3 nodes", sc.Topic, p, isr)
		}
		if c.Leader(sc.Topic, p) == k.Before {
			k.Led = append(k.Led, p)
		}
	}
	before, err := grpCommitted(ctx, adm, sc.Group, sc.Topic)
	if err != nil {
		t.Fatalf("FetchOffsets before the kill: %v", err)
	}
	k.CommittedBefore = before

	killed := time.Now()
	k.mu.Lock()
	k.killedAt = killed
	k.mu.Unlock()
	if err := c.KillNode(ctx, k.Before); err != nil {
		t.Fatalf("KillNode(%d): %v", k.Before, err)
	}
	grpWait(t, ctx, "another node leading the group's partition and the killed node's partitions", func() (bool, string) {
		l := c.Leader(grpOffsetsTopic, op)
		var still []int32
		for _, p := range k.Led {
			if lp := c.Leader(sc.Topic, p); lp < 0 || lp == k.Before {
				still = append(still, p)
			}
		}
		return l >= 0 && l != k.Before && len(still) == 0, fmt.Sprintf("%s[%d] led by %d, %s partitions %v still without a new leader", grpOffsetsTopic, op, l, sc.Topic, still)
	})
	k.Failover = time.Since(killed)
	k.During = c.Leader(grpOffsetsTopic, op)

	// A new admin client: the first one would keep the dead node as the
	// group's coordinator until a request to it fails.
	adm = grpAdmin(t, sc.Addrs)
	grpWait(t, ctx, "FindCoordinator naming the new coordinator", func() (bool, string) {
		fc := adm.FindGroupCoordinators(ctx, sc.Group)[sc.Group]
		return fc.Err == nil && fc.NodeID == k.During, fmt.Sprintf("node %d, err %v", fc.NodeID, fc.Err)
	})
	// The new coordinator replayed its copy of the group's partition:
	// every commit acknowledged before the kill is there.
	grpWait(t, ctx, "the new coordinator serving the commits made before the kill", func() (bool, string) {
		got, err := grpCommitted(ctx, adm, sc.Group, sc.Topic)
		if err != nil {
			return false, err.Error()
		}
		k.CommittedMoved = got
		for p := range got {
			if got[p] < before[p] {
				return false, fmt.Sprintf("committed %v, before the kill %v", got, before)
			}
		}
		return true, ""
	})
	d, err := grpGroupView(ctx, adm, sc.Group)
	if err != nil {
		t.Fatalf("DescribeGroups on the new coordinator: %v", err)
	}
	t.Logf("node %d killed; node %d coordinates the group after %v, which it reloaded %s with %d members", k.Before, k.During, k.Failover.Round(time.Millisecond), d.State, len(d.Members))

	// The group goes on without the node: records are consumed and, but
	// for kcat, committed through the new coordinator.
	consumed := sc.Ledger.total()
	grpWait(t, ctx, "the group consuming while the coordinator's node is down", func() (bool, string) {
		n := sc.Ledger.total()
		return n >= consumed+300, fmt.Sprintf("%d records consumed since the failover", n-consumed)
	})
	if !k.SkipCommitWhileDown {
		grpWait(t, ctx, "the group committing while the coordinator's node is down", func() (bool, string) {
			got, err := grpCommitted(ctx, adm, sc.Group, sc.Topic)
			if err != nil {
				return false, err.Error()
			}
			k.CommittedDown = got
			return grpSum(got) > grpSum(k.CommittedMoved), fmt.Sprintf("committed %v, at the failover %v", got, k.CommittedMoved)
		})
	}

	if err := c.RestartNode(ctx, k.Before); err != nil {
		t.Fatalf("RestartNode(%d): %v", k.Before, err)
	}
	k.Down = time.Since(killed)
	grpWait(t, ctx, "the restarted node back in every ISR", func() (bool, string) {
		var out []string
		if isr := c.ISR(grpOffsetsTopic, op); !slices.Contains(isr, k.Before) {
			out = append(out, fmt.Sprintf("%s[%d] %v", grpOffsetsTopic, op, isr))
		}
		for p := range int32(grpPartitions) {
			if isr := c.ISR(sc.Topic, p); !slices.Contains(isr, k.Before) {
				out = append(out, fmt.Sprintf("%s[%d] %v", sc.Topic, p, isr))
			}
		}
		return len(out) == 0, "ISRs without it: " + strings.Join(out, ", ")
	})
	// auto.leader.rebalance.enable gives the leadership back to the
	// preferred replicas, the restarted node's partitions among them: the
	// coordinator moves a second time, to a node that replays a log it
	// rebuilt after the crash.
	grpWait(t, ctx, "the restarted node coordinating the group again", func() (bool, string) {
		l := c.Leader(grpOffsetsTopic, op)
		return l == k.Before, fmt.Sprintf("%s[%d] led by %d", grpOffsetsTopic, op, l)
	})
	k.After = c.Leader(grpOffsetsTopic, op)
	floor := k.CommittedMoved
	if k.CommittedDown != nil {
		floor = k.CommittedDown
	}
	grpWait(t, ctx, "the group served by the restarted node", func() (bool, string) {
		fc := adm.FindGroupCoordinators(ctx, sc.Group)[sc.Group]
		if fc.Err != nil || fc.NodeID != k.After {
			return false, fmt.Sprintf("FindCoordinator: node %d, err %v", fc.NodeID, fc.Err)
		}
		got, err := grpCommitted(ctx, adm, sc.Group, sc.Topic)
		if err != nil {
			return false, err.Error()
		}
		for p := range got {
			if got[p] < floor[p] {
				return false, fmt.Sprintf("committed %v, while the node was down %v", got, floor)
			}
		}
		k.CommittedBack = got
		return true, ""
	})
	t.Logf("node %d restarted after %v down and back in sync; node %d coordinates the group", k.Before, k.Down.Round(time.Millisecond), k.After)
}

// String summarizes what the kill did.
func (k *grpCoordKill) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := "no client errors"
	if len(k.clientErrs) > 0 {
		errs = fmt.Sprintf("client errors tolerated %v, the last %v after the kill", k.clientErrs, k.lastErr.Round(time.Millisecond))
	}
	return fmt.Sprintf("coordinator node %d killed (it led %s partitions %v), node %d took over after %v, node %d coordinates after the restart (%v down); committed before the kill %v, served by the new coordinator %v, while down %v, by the restarted node %v; %s",
		k.Before, k.Sc.Topic, k.Led, k.During, k.Failover.Round(time.Millisecond), k.After, k.Down.Round(time.Millisecond),
		k.CommittedBefore, k.CommittedMoved, k.CommittedDown, k.CommittedBack, errs)
}

// grpSum adds offsets up.
func grpSum(os []int64) int64 {
	var n int64
	for _, o := range os {
		n += o
	}
	return n
}

// total is how many records the ledger holds, re-deliveries included.
func (l *grpLedger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ds)
}

// TestGroupCoordinatorKill runs the churn scenario of every client on a
// topic of replication factor 3 and kills the group coordinator's node
// after the second membership change (m1 left), while records flow: the
// controller fences the node after broker.session.timeout.ms, another
// replica of the group's partition of __consumer_offsets becomes its
// leader and reloads the group from its copy, and the leadership of the
// topic partitions the node led moves too. The test waits until the group
// consumes and commits through the new coordinator, restarts the node,
// waits until it is back in sync (the preferred leader again, so the
// coordinator moves a second time), and the scenario goes on. The final
// checks are the churn scenario's: every record consumed, committed ==
// end offsets, no record twice in one generation, order kept within an
// assignment.
func TestGroupCoordinatorKill(t *testing.T) {
	const topic = "orders"
	for _, tc := range []struct {
		name string
		// start sets the scenario's starter (and client concessions).
		start func(t *testing.T, sc *grpScenario, k *grpCoordKill)
		gens  bool // the client exposes generations
	}{
		{"franz-cooperative-sticky", func(t *testing.T, sc *grpScenario, k *grpCoordKill) {
			sc.Start = grpFranzStarter(sc, kgo.CooperativeStickyBalancer())
		}, true},
		{"franz-range", func(t *testing.T, sc *grpScenario, k *grpCoordKill) {
			sc.Start = grpFranzStarter(sc, kgo.RangeBalancer())
		}, true},
		{"franz-848", func(t *testing.T, sc *grpScenario, k *grpCoordKill) {
			sc.Start = grpFranzStarter(sc, kgo.StickyBalancer(), kgo.ServerSideBalancer())
		}, true},
		{"sarama-range", func(t *testing.T, sc *grpScenario, k *grpCoordKill) {
			sc.Start = grpSaramaStarter(sc, grpSaramaRange(), func(cfg *sarama.Config) {
				// Move to a partition's new leader, and refresh
				// metadata, soon after the node dies (the
				// defaults wait 2s and 10min).
				cfg.Consumer.Retry.Backoff = 50 * time.Millisecond
				cfg.Metadata.RefreshFrequency = time.Second
			})
		}, true},
		{"kafkago-range", func(t *testing.T, sc *grpScenario, k *grpCoordKill) {
			sc.Start = grpKafkagoStarter(sc, kafka.RangeGroupBalancer{})
		}, true},
		{"kcat-range", func(t *testing.T, sc *grpScenario, k *grpCoordKill) {
			path := grpKcatPath(t)
			logs := &grpKcatLogs{}
			sc.QuiesceLeaves, sc.CommitOnLeave = true, true
			k.SkipCommitWhileDown = true
			sc.Start = grpKcatStarter(sc, path, "range", logs)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("kcat output other than records:\n%s", logs)
				}
			})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := grpReplicatedCluster(t, topic)
			ctx := grpCtx(t)
			sc := &grpScenario{Group: "kill-" + tc.name, Topic: topic, Addrs: c.Addrs(), Ledger: newGrpLedger()}
			sc.Adm = grpAdmin(t, sc.Addrs)
			k := &grpCoordKill{C: c, Sc: sc}
			sc.Disrupt, sc.DisruptAfter, sc.Tolerate = k.Disrupt, 2, k.Tolerate
			tc.start(t, sc, k)
			produced := sc.run(t, ctx)
			st := sc.Ledger.check(t, produced)
			if k.Before == k.During {
				t.Errorf("the coordinator stayed on node %d", k.Before)
			}
			t.Logf("%s: %v; committed at the end %v = end offsets; %v", tc.name, st, produced, k)
			if tc.gens && len(st.Generations) < 4 {
				t.Errorf("records consumed in generations %v, want at least one per membership (4)", st.Generations)
			}
		})
	}
}
