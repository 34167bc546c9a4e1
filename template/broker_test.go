package template

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// This file is the single place where the template tests start a broker.
// It currently uses franz-go's kfake; switch it to kafkaboot's embedded
// broker here (and only here) once that is usable.

// testPartitions is the partition count of every topic startBroker creates.
const testPartitions = 3

// brokerSupportsTransactions tells the transaction tests whether the test
// broker implements transactions (kfake does; set it to false for a broker
// that does not, and the tests then only check that errors are clean).
const brokerSupportsTransactions = true

// startBroker starts a single-node broker with the given topics
// (testPartitions partitions each, topic auto-creation disabled) and
// returns its bootstrap addresses. The broker stops when the test ends.
func startBroker(t testing.TB, topics ...string) (addrs []string) {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(testPartitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}
