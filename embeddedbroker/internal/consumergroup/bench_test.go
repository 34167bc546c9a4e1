package consumergroup

import (
	"fmt"
	"testing"
)

// BenchmarkHeartbeat is a steady-state heartbeat in a stable group of 300
// members sharing 2000 partitions.
func BenchmarkHeartbeat(b *testing.B) {
	e := newEnv(b, Config{}, topicsOf(map[byte]int32{1: 500, 2: 500, 3: 500, 4: 500}))
	var cs []*client
	for i := range 300 {
		c := newClient(fmt.Sprintf("m%04d", i), "t1", "t2", "t3", "t4")
		cs = append(cs, c)
		e.mustBeat(c)
	}
	e.converge(cs...)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e.mustBeat(cs[i%len(cs)])
	}
}

// BenchmarkJoin is a member joining a stable group of 300 members sharing
// 2000 partitions: a new target assignment for all.
func BenchmarkJoin(b *testing.B) {
	e := newEnv(b, Config{}, topicsOf(map[byte]int32{1: 500, 2: 500, 3: 500, 4: 500}))
	var cs []*client
	for i := range 300 {
		c := newClient(fmt.Sprintf("m%04d", i), "t1", "t2", "t3", "t4")
		cs = append(cs, c)
		e.mustBeat(c)
	}
	e.converge(cs...)
	for i := 0; b.Loop(); i++ {
		c := newClient(fmt.Sprintf("new%d", i), "t1", "t2", "t3", "t4")
		e.mustBeat(c)
		req := c.request(1)
		req.MemberEpoch = LeaveEpoch
		e.mustHeartbeat(req)
	}
}
