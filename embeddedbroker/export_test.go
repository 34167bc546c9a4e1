package embeddedbroker

// InterBrokerAddr is node id's inter-broker listener, for tests that speak
// as a broker (transaction markers, replica fetches).
func (c *Cluster) InterBrokerAddr(id int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ibAddr[id]
}
