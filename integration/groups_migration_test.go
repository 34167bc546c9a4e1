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
