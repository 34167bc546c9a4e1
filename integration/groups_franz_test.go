package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// grpFranzOpts are the group options every franz-go member here uses:
// short timeouts, frequent autocommits, and rebalances blocked while a
// poll's records are processed, so that the generation read after a poll
// is the one the records were fetched in.
func grpFranzOpts(addrs []string, group, topic, name string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(grpSession),
		kgo.HeartbeatInterval(grpHeartbeat),
		kgo.RebalanceTimeout(grpRebalance),
		kgo.AutoCommitInterval(100 * time.Millisecond),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// Refresh metadata soon after a node restarts (the default waits 5s).
		kgo.MetadataMinAge(250 * time.Millisecond),
	}
}

// grpFranzStarter starts franz-go group members with the balancer. The
// generation of each record is the client's GroupMetadata generation read
// right after the poll that returned it: with BlockRebalanceOnPoll, no
// revoke can happen between the fetch and that read, so a partition the
// member returns records of is one it owns in that generation (an eager
// balancer revokes everything before it rejoins; a cooperative one only
// gives a moved partition to its new owner one generation after the old
// owner revoked it).
func grpFranzStarter(sc *grpScenario, balancer kgo.GroupBalancer, extra ...kgo.Opt) grpStarter {
	return func(t *testing.T, name string) func() {
		t.Helper()
		opts := append(grpFranzOpts(sc.Addrs, sc.Group, sc.Topic, name), kgo.Balancers(balancer))
		opts = append(opts, extra...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil || fs.IsClientClosed() {
					cl.AllowRebalance()
					return
				}
				_, gen := cl.GroupMetadata()
				fs.EachError(func(topic string, p int32, err error) {
					if !errors.Is(err, context.Canceled) {
						sc.clientErr(t, name, fmt.Sprintf("fetch error on %s[%d]", topic, p), err)
					}
				})
				fs.EachRecord(func(r *kgo.Record) {
					sc.Ledger.add(grpDelivery{Member: name, Gen: gen, Epoch: gen, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
				})
				cl.AllowRebalance()
			}
		}()
		return grpOnce(func() {
			cancel()
			<-done
			cl.Close() // leaves the group after committing what was polled
		})
	}
}

// TestGroupFranz runs the churn scenario with franz-go members, once with
// the cooperative-sticky balancer (incremental rebalances: members keep
// consuming the partitions that do not move), once with the eager range
// balancer, and with KIP-848's consumer protocol, where the broker assigns
// (franz-go's sticky balancer asks for the uniform assignor, its range
// balancer for the range one). Member epochs stand for generations there.
func TestGroupFranz(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
		extra    []kgo.Opt
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), nil},
		{"range", kgo.RangeBalancer(), nil},
		{"848-uniform", kgo.StickyBalancer(), []kgo.Opt{kgo.ServerSideBalancer()}},
		{"848-range", kgo.RangeBalancer(), []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := grpCluster(t, "orders")
			ctx := grpCtx(t)
			sc := &grpScenario{Group: "franz-" + tc.name, Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
			sc.Adm = grpAdmin(t, sc.Addrs)
			sc.Start = grpFranzStarter(sc, tc.balancer, tc.extra...)
			produced := sc.run(t, ctx)
			st := sc.Ledger.check(t, produced)
			t.Logf("franz-go %s: %v", tc.name, st)
			if len(st.Generations) < 4 {
				t.Errorf("records consumed in generations %v, want at least one per membership (4)", st.Generations)
			}
		})
	}
}

// TestGroupMixedClients runs the churn scenario with members of different
// clients in one group, all speaking the "range" protocol: franz-go (m1,
// m4), sarama (m2, m5) and kafka-go (m3). The leader's client computes the
// assignment for the others, so each client must read the others' member
// metadata and assignments.
func TestGroupMixedClients(t *testing.T) {
	c := grpCluster(t, "orders")
	ctx := grpCtx(t)
	sc := &grpScenario{Group: "mixed", Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
	sc.Adm = grpAdmin(t, sc.Addrs)
	franzMember := grpFranzStarter(sc, kgo.RangeBalancer())
	saramaMember := grpSaramaStarter(sc, grpSaramaRange())
	kafkagoMember := grpKafkagoStarter(sc, grpKafkagoRange())
	sc.Start = func(t *testing.T, name string) func() {
		switch name {
		case "m2", "m5":
			return saramaMember(t, name)
		case "m3":
			return kafkagoMember(t, name)
		}
		return franzMember(t, name)
	}
	produced := sc.run(t, ctx)
	st := sc.Ledger.check(t, produced)
	t.Logf("mixed franz-go/sarama/kafka-go: %v", st)
	if len(st.Generations) < 4 {
		t.Errorf("records consumed in generations %v, want at least one per membership (4)", st.Generations)
	}
}
