package integration

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// grpSaramaConfig is the config of sarama group members: Kafka 3.6 protocol
// versions, short group timeouts, fast commits and retries, and the oldest
// offset for partitions without a commit (sarama's default is the newest).
func grpSaramaConfig(name string, strategy sarama.BalanceStrategy) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = name
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = grpSession
	cfg.Consumer.Group.Heartbeat.Interval = grpHeartbeat
	cfg.Consumer.Group.Rebalance.Timeout = grpRebalance
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	return cfg
}

// grpSaramaHandler records every message of a session's claims with the
// session's generation and marks it for the next autocommit.
//
// The ledger's epoch is the member's session number, not the generation:
// a member whose Consume failed (its coordinator died) and is called
// again rejoins with its member id, and a known member rejoining a Stable
// group with unchanged metadata gets the current generation back, as in
// Kafka. The new session starts from the committed offsets, so the member
// may legitimately read records of that generation a second time.
type grpSaramaHandler struct {
	name     string
	ledger   *grpLedger
	sessions *atomic.Int32
}

func (h grpSaramaHandler) Setup(sarama.ConsumerGroupSession) error {
	h.sessions.Add(1)
	return nil
}

func (h grpSaramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h grpSaramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	gen := sess.GenerationID()
	epoch := h.sessions.Load() // Setup ran before the session's claims
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.ledger.add(grpDelivery{Member: h.name, Gen: gen, Epoch: epoch, Partition: m.Partition, Offset: m.Offset, Value: string(m.Value)})
			sess.MarkMessage(m, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}

// grpSaramaStarter starts sarama ConsumerGroup members with the strategy;
// tweaks, if any, adjust grpSaramaConfig's config. A session belongs to one
// generation, so session.GenerationID labels its records exactly.
func grpSaramaStarter(sc *grpScenario, strategy sarama.BalanceStrategy, tweaks ...func(*sarama.Config)) grpStarter {
	return func(t *testing.T, name string) func() {
		t.Helper()
		cfg := grpSaramaConfig(name, strategy)
		for _, tw := range tweaks {
			tw(cfg)
		}
		g, err := sarama.NewConsumerGroup(sc.Addrs, sc.Group, cfg)
		if err != nil {
			t.Fatalf("sarama NewConsumerGroup: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		errsDone := make(chan struct{})
		go func() {
			defer close(errsDone)
			for err := range g.Errors() {
				sc.clientErr(t, name, "sarama consumer group error", err)
			}
		}()
		go func() {
			defer close(done)
			h := grpSaramaHandler{name: name, ledger: sc.Ledger, sessions: new(atomic.Int32)}
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{sc.Topic}, h); err != nil {
					if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
						return
					}
					if !sc.clientErr(t, name, "sarama Consume", err) {
						return
					}
					select { // a tolerated error: retry after a backoff
					case <-ctx.Done():
						return
					case <-time.After(cfg.Consumer.Group.Rebalance.Retry.Backoff):
					}
				}
			}
		}()
		return grpOnce(func() {
			cancel()
			<-done
			if err := g.Close(); err != nil { // commits what was marked, leaves the group
				t.Errorf("%s: sarama Close: %v", name, err)
			}
			<-errsDone
		})
	}
}

// TestGroupSarama runs the churn scenario with sarama ConsumerGroup
// members (eager rebalances) under the range, sticky and round-robin
// strategies.
func TestGroupSarama(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy sarama.BalanceStrategy
	}{
		{"range", sarama.NewBalanceStrategyRange()},
		{"sticky", sarama.NewBalanceStrategySticky()},
		{"roundrobin", sarama.NewBalanceStrategyRoundRobin()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := grpCluster(t, "orders")
			ctx := grpCtx(t)
			sc := &grpScenario{Group: "sarama-" + tc.name, Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
			sc.Adm = grpAdmin(t, sc.Addrs)
			sc.Start = grpSaramaStarter(sc, tc.strategy)
			produced := sc.run(t, ctx)
			st := sc.Ledger.check(t, produced)
			t.Logf("sarama %s: %v", tc.name, st)
			if len(st.Generations) < 4 {
				t.Errorf("records consumed in generations %v, want at least one per membership (4)", st.Generations)
			}
		})
	}
}

// grpSaramaRange is sarama's range strategy.
func grpSaramaRange() sarama.BalanceStrategy { return sarama.NewBalanceStrategyRange() }
