package embeddedbroker

import (
	"context"
	"testing"
)

// StartForTest starts a cluster for a test or benchmark and closes it when
// the test ends; a start failure fails the test at once.
//
//	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(3, "orders"))
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
func StartForTest(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	c, err := Start(context.Background(), opts...)
	if err != nil {
		tb.Fatalf("embeddedbroker: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("embeddedbroker: close: %v", err)
		}
	})
	return c
}
