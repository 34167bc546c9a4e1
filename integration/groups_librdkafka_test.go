//go:build cgo

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The librdkafka of Debian's kcat (2.0.2) predates KIP-848; confluent-kafka-go
// links a librdkafka of its own (2.11 here), whose consumer speaks the
// consumer group protocol with group.protocol=consumer. These tests run it
// as a member of the churn scenario. They need cgo (the build tag above).

// grpLibrdkafkaStarter starts confluent-kafka-go consumers with
// group.protocol=consumer. librdkafka does not show the member epoch:
// records are labelled with generation -1 (the "not twice in one
// generation" check is left out, as for kcat) and with a per-member
// counter of the assignments it was given, within which order is checked.
func grpLibrdkafkaStarter(sc *grpScenario) grpStarter {
	return func(t *testing.T, name string) func() {
		t.Helper()
		c, err := kafka.NewConsumer(&kafka.ConfigMap{
			"bootstrap.servers":                  strings.Join(sc.Addrs, ","),
			"group.id":                           sc.Group,
			"group.protocol":                     "consumer",
			"client.id":                          name,
			"auto.offset.reset":                  "earliest",
			"auto.commit.interval.ms":            100,
			"fetch.wait.max.ms":                  100,
			"topic.metadata.refresh.interval.ms": 1000,
			"log_level":                          3, // errors only: librdkafka warns that its KIP-848 consumer is a preview
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		epoch := int32(0)
		rebalanced := func(_ *kafka.Consumer, ev kafka.Event) error {
			if a, ok := ev.(kafka.AssignedPartitions); ok && len(a.Partitions) > 0 {
				epoch++ // on the polling goroutine, as every callback
			}
			return nil // librdkafka's own (incremental) assign and unassign
		}
		if err := c.SubscribeTopics([]string{sc.Topic}, rebalanced); err != nil {
			t.Fatalf("%s: subscribe: %v", name, err)
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			leaving := false
			for {
				if !leaving {
					select {
					case <-stop:
						// Leave by unsubscribing and keep polling until the
						// partitions are revoked: Close polls too, but drops
						// what it polls, while librdkafka has already moved
						// its position past it (as kcat on SIGTERM).
						leaving = true
						if err := c.Unsubscribe(); err != nil {
							t.Errorf("%s: unsubscribe: %v", name, err)
							return
						}
					default:
					}
				}
				switch e := c.Poll(50).(type) {
				case *kafka.Message:
					if e.TopicPartition.Error != nil {
						sc.clientErr(t, name, "consume error", e.TopicPartition.Error)
						continue
					}
					sc.Ledger.add(grpDelivery{Member: name, Gen: -1, Epoch: epoch,
						Partition: e.TopicPartition.Partition, Offset: int64(e.TopicPartition.Offset), Value: string(e.Value)})
				case kafka.Error:
					sc.clientErr(t, name, "client error", e)
				case nil:
					if a, err := c.Assignment(); leaving && err == nil && len(a) == 0 {
						return
					}
				}
			}
		}()
		return grpOnce(func() {
			close(stop)
			<-done
			// Close commits the offsets of the records polled (the
			// revocation committed them already) and leaves the group (a
			// heartbeat at member epoch -1).
			if err := c.Close(); err != nil {
				t.Errorf("%s: close: %v", name, err)
			}
		})
	}
}

// TestGroupLibrdkafka848 runs the churn scenario with librdkafka's KIP-848
// consumer: all members librdkafka, then librdkafka and franz-go members
// (franz-go with the consumer protocol too) in one group.
func TestGroupLibrdkafka848(t *testing.T) {
	if n, v := kafka.LibraryVersion(); n < 0x020a0000 {
		t.Skipf("librdkafka %s: its KIP-848 consumer is a preview from 2.10 on", v)
	}
	for _, tc := range []struct {
		name  string
		franz map[string]bool // the members that are franz-go's
	}{
		{"librdkafka", nil},
		{"librdkafka+franz-go", map[string]bool{"m2": true, "m4": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := grpCluster(t, "orders")
			ctx := grpCtx(t)
			sc := &grpScenario{Group: "rdk-" + tc.name, Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger()}
			sc.Adm = grpAdmin(t, sc.Addrs)
			rdk := grpLibrdkafkaStarter(sc)
			franz := grpFranzStarter(sc, kgo.StickyBalancer(), kgo.ServerSideBalancer())
			sc.Start = func(t *testing.T, name string) func() {
				if tc.franz[name] {
					return franz(t, name)
				}
				return rdk(t, name)
			}
			start := time.Now()
			produced := sc.run(t, ctx)
			st := sc.Ledger.check(t, produced)
			_, v := kafka.LibraryVersion()
			t.Logf("librdkafka %s (group.protocol=consumer) %s: %v in %v", v, tc.name, st, time.Since(start).Round(time.Millisecond))
		})
	}
}
