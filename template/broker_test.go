package template

import (
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// This file is the single place where the template tests start a broker:
// kafkaboot's embedded broker, over real sockets.

// testPartitions is the partition count of every topic startBroker creates.
const testPartitions = 3

// startBroker starts a single-node broker with the given topics
// (testPartitions partitions each, topic auto-creation disabled) and
// returns its bootstrap addresses. The broker stops when the test ends.
func startBroker(t testing.TB, topics ...string) (addrs []string) {
	t.Helper()
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Topics(testPartitions, topics...),
		embeddedbroker.BrokerConfig("auto.create.topics.enable", "false"))
	return c.Addrs()
}
