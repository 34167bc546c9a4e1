package integration

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// grpKafkagoGenLogger tracks a kafka-go Reader's group generation from its
// log: the Reader does not expose the generation, but its consumer group
// logs "joined group %s as member %s in generation %d" on every JoinGroup
// response, before it syncs and before the new generation's partition
// readers start. It also counts those joins: a member that rejoins a
// Stable group without a change (after a coordinator error, say) gets the
// same generation back, as from Kafka, and the Reader then restarts its
// partitions at the committed offsets, so the join, not the generation,
// numbers the member's assignments.
type grpKafkagoGenLogger struct {
	cur atomic.Int64 // generation<<32 | joins
}

func newGrpKafkagoGenLogger() *grpKafkagoGenLogger {
	l := &grpKafkagoGenLogger{}
	l.cur.Store(-1 << 32) // generation -1, no join yet
	return l
}

func (l *grpKafkagoGenLogger) Printf(format string, args ...any) {
	if format == "joined group %s as member %s in generation %d" && len(args) == 3 {
		if g, ok := args[2].(int32); ok {
			_, joins := l.label()
			l.cur.Store(int64(g)<<32 | int64(uint32(joins+1)))
		}
	}
}

// label returns the generation logged last and the number of joins so far.
func (l *grpKafkagoGenLogger) label() (gen, joins int32) {
	v := l.cur.Load()
	return int32(v >> 32), int32(uint32(v))
}

// grpKafkagoStarter starts kafka-go Readers with a GroupID and the
// balancer. Each record is labelled with the generation logged last when
// FetchMessage returned it, and with the member's join count as its epoch
// (see grpKafkagoGenLogger). The Reader discards messages buffered by an
// older generation's partition readers once the new generation subscribes,
// and the messages buffered when a generation ends are drained at once,
// long before the next JoinGroup completes, so the label is the generation
// the record was fetched in.
func grpKafkagoStarter(sc *grpScenario, balancer kafka.GroupBalancer) grpStarter {
	return func(t *testing.T, name string) func() {
		t.Helper()
		gl := newGrpKafkagoGenLogger()
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           sc.Addrs,
			GroupID:           sc.Group,
			Topic:             sc.Topic,
			Dialer:            &kafka.Dialer{ClientID: name, Timeout: 10 * time.Second},
			GroupBalancers:    []kafka.GroupBalancer{balancer},
			StartOffset:       kafka.FirstOffset,
			MinBytes:          1,
			MaxBytes:          1 << 20,
			MaxWait:           100 * time.Millisecond,
			ReadBackoffMin:    20 * time.Millisecond,
			ReadBackoffMax:    100 * time.Millisecond,
			HeartbeatInterval: grpHeartbeat,
			SessionTimeout:    grpSession,
			RebalanceTimeout:  grpRebalance,
			JoinGroupBackoff:  50 * time.Millisecond,
			CommitInterval:    100 * time.Millisecond,
			Logger:            gl,
		})
		var closing atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx := context.Background()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					if closing.Load() || errors.Is(err, io.EOF) {
						return
					}
					// The Reader reports the generation it failed to
					// start and keeps trying: a tolerated error is
					// followed by more fetches.
					if !sc.clientErr(t, name, "kafka-go FetchMessage", err) {
						return
					}
					continue
				}
				gen, joins := gl.label()
				// kafka-go does not say which generation fetched a
				// message, and its partition readers restart at the
				// committed offset after fetch errors without a new
				// join: the generation logged last is recorded for the
				// report only (Gen -1 in the ledger), so the ledger
				// checks at-least-once delivery, commits and gap-free
				// order, not "once per generation".
				_ = gen
				sc.Ledger.add(grpDelivery{Member: name, Gen: -1, Epoch: joins, Partition: int32(m.Partition), Offset: m.Offset, Value: string(m.Value)})
				sc.Ledger.noteGeneration(gen)
				if err := r.CommitMessages(ctx, m); err != nil && !closing.Load() {
					sc.clientErr(t, name, "kafka-go CommitMessages", err)
				}
			}
		}()
		return grpOnce(func() {
			closing.Store(true)
			// Close ends the generation, which commits what was queued,
			// leaves the group, and makes FetchMessage return io.EOF.
			if err := r.Close(); err != nil {
				t.Errorf("%s: kafka-go Close: %v", name, err)
			}
			<-done
		})
	}
}

// TestGroupKafkago runs the churn scenario with segmentio/kafka-go Readers
// in a group (eager rebalances) under the range and round-robin balancers.
func TestGroupKafkago(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kafka.GroupBalancer
	}{
		{"range", kafka.RangeGroupBalancer{}},
		{"roundrobin", kafka.RoundRobinGroupBalancer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := grpCluster(t, "orders")
			ctx := grpCtx(t)
			sc := &grpScenario{Group: "kafkago-" + tc.name, Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
			sc.Adm = grpAdmin(t, sc.Addrs)
			sc.Start = grpKafkagoStarter(sc, tc.balancer)
			produced := sc.run(t, ctx)
			st := sc.Ledger.check(t, produced)
			t.Logf("kafka-go %s: %v", tc.name, st)
			if len(st.Generations) < 4 {
				t.Errorf("records consumed in generations %v, want at least one per membership (4)", st.Generations)
			}
		})
	}
}

// grpKafkagoRange is kafka-go's range balancer.
func grpKafkagoRange() kafka.GroupBalancer { return kafka.RangeGroupBalancer{} }
