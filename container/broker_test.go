package container

import (
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// startBroker starts kafkaboot's embedded broker for one test with the
// given topics (name -> partition count) and returns its bootstrap
// addresses; it is stopped when the test ends. All broker startup of this
// package's tests goes through here.
func startBroker(t testing.TB, topics map[string]int32) []string {
	t.Helper()
	opts := []embeddedbroker.Option{embeddedbroker.Nodes(3)}
	for name, n := range topics {
		opts = append(opts, embeddedbroker.Topics(n, name))
	}
	return embeddedbroker.StartForTest(t, opts...).Addrs()
}
