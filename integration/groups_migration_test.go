package integration

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupClassicInConsumerGroup runs the churn scenario with members of
// both protocols in one group, as Kafka 4 allows: m1 joins first with
// KIP-848's consumer protocol (the group is a consumer group), then
// classic members (franz-go cooperative-sticky m2, sarama range m5) join
// it next to consumer-protocol members (m3, m4). The broker's assignor
// assigns the classic members too; they give up partitions by rejoining.
func TestGroupClassicInConsumerGroup(t *testing.T) {
	c := grpCluster(t, "orders")
	ctx := grpCtx(t)
	sc := &grpScenario{Group: "mixed-protocols", Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
	sc.Adm = grpAdmin(t, sc.Addrs)
	sc.Start = grpMixedProtocolsStarter(sc, ctx)
	produced := sc.run(t, ctx)
	st := sc.Ledger.check(t, produced)
	t.Logf("848 m1, m3, m4 with classic m2 (franz-go cooperative-sticky) and m5 (sarama range) in one group: %v", st)
	for _, m := range []string{"m2", "m5"} {
		if st.PerMember[m] == 0 {
			t.Errorf("classic member %s consumed nothing", m)
		}
	}
}

// grpMixedProtocolsStarter starts m1, m3 and m4 as franz-go members of
// KIP-848's consumer protocol, m2 as a classic franz-go member
// (cooperative-sticky) and m5 as a classic sarama member (range). m1 is
// consuming before the start returns, so that the group is a consumer
// group when the classic members join.
func grpMixedProtocolsStarter(sc *grpScenario, ctx context.Context) grpStarter {
	consumer := grpFranzStarter(sc, kgo.StickyBalancer(), kgo.ServerSideBalancer())
	classic := grpFranzStarter(sc, kgo.CooperativeStickyBalancer())
	sarama := grpSaramaStarter(sc, grpSaramaRange(), func(cfg *sarama.Config) {
		cfg.Consumer.Retry.Backoff = 50 * time.Millisecond
		cfg.Metadata.RefreshFrequency = time.Second
	})
	return func(t *testing.T, name string) func() {
		switch name {
		case "m1":
			leave := consumer(t, name)
			grpWait(t, ctx, "m1 consuming", func() (bool, string) { return sc.Ledger.count("m1") > 0, "m1 has consumed nothing" })
			return leave
		case "m2":
			return classic(t, name)
		case "m5":
			return sarama(t, name)
		}
		return consumer(t, name)
	}
}

// TestGroupUpgradeOnline runs the churn scenario on a group that starts
// classic (franz-go cooperative-sticky m1 and m2) and becomes a consumer
// group when the consumer-protocol member m3 joins it (Kafka 4's online
// upgrade): the classic members keep their partitions and go on in the
// consumer group, m4 joins with the consumer protocol, and sarama's m5
// joins as a classic member after the upgrade.
func TestGroupUpgradeOnline(t *testing.T) {
	c := grpCluster(t, "orders")
	ctx := grpCtx(t)
	sc := &grpScenario{Group: "upgrade", Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
	sc.Adm = grpAdmin(t, sc.Addrs)
	consumer := grpFranzStarter(sc, kgo.StickyBalancer(), kgo.ServerSideBalancer())
	classic := grpFranzStarter(sc, kgo.CooperativeStickyBalancer())
	sarama := grpSaramaStarter(sc, grpSaramaRange())
	sc.Start = func(t *testing.T, name string) func() {
		switch name {
		case "m1", "m2":
			return classic(t, name)
		case "m3":
			// The classic group must be Stable: m1 and m2 consuming.
			grpWait(t, ctx, "m1 and m2 consuming", func() (bool, string) {
				return sc.Ledger.count("m1") > 0 && sc.Ledger.count("m2") > 0, "a classic member has consumed nothing"
			})
			typ := grpGroupType(t, ctx, sc, "upgrade")
			leave := consumer(t, name)
			grpWait(t, ctx, "the group converted", func() (bool, string) {
				now := grpGroupType(t, ctx, sc, "upgrade")
				return now == "consumer", "group type " + now
			})
			t.Logf("group type %s before m3 joined, consumer after", typ)
			return leave
		case "m5":
			return sarama(t, name)
		}
		return consumer(t, name)
	}
	produced := sc.run(t, ctx)
	st := sc.Ledger.check(t, produced)
	t.Logf("classic m1, m2 upgraded by 848 m3, then 848 m4 and classic sarama m5: %v", st)
}

// grpGroupType is the group's type as ListGroups shows it.
func grpGroupType(t *testing.T, ctx context.Context, sc *grpScenario, group string) string {
	t.Helper()
	ls, err := sc.Adm.ListGroups(ctx)
	if err != nil {
		return err.Error()
	}
	return ls[group].GroupType
}
