package embeddedbroker

import "fmt"

// InterBrokerAddr is node id's inter-broker listener, for tests that speak
// as a broker (transaction markers, replica fetches).
func (c *Cluster) InterBrokerAddr(id int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ibAddr[id]
}

// ScanReplica calls fn with every batch of node id's replica of
// topic/partition, from its log start, for tests that compare replicas.
func (c *Cluster) ScanReplica(id int32, topic string, partition int32, fn func(b []byte) error) error {
	c.mu.Lock()
	n, err := c.node(id)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("node %d is stopped", id)
	}
	return n.ScanReplica(topic, partition, fn)
}

// ReplicateOverSockets makes followers fetch from their leaders over the
// inter-broker listeners, as nodes in different processes would, rather
// than by calling them in process: for tests and benchmarks of that path.
var ReplicateOverSockets Option = optionFunc(func(s *settings) { s.socketReplication = true })
