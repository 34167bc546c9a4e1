package quota

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock is a manual clock, starting at an arbitrary instant as Kafka's
// MockTime does.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(time.Date(2024, 10, 25, 3, 33, 1, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time        { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Sleep(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) SleepMs(ms int64)      { c.Sleep(time.Duration(ms) * time.Millisecond) }
func (c *fakeClock) config() Config        { return Config{Now: c.Now} }
func ms(d time.Duration) int64             { return d.Milliseconds() }
func user(n string) Entity                 { return Entity{User: Named(n)} }
func client(n string) Entity               { return Entity{ClientID: Named(n)} }
func userClient(u, c string) Entity        { return Entity{Named(u), Named(c)} }
func setOp(key string, v float64) kmsg.AlterClientQuotasRequestEntryOp {
	return kmsg.AlterClientQuotasRequestEntryOp{Key: key, Value: v}
}
func removeOp(key string) kmsg.AlterClientQuotasRequestEntryOp {
	return kmsg.AlterClientQuotasRequestEntryOp{Key: key, Remove: true}
}

var (
	defaultUser       = Entity{User: Default()}
	defaultClient     = Entity{ClientID: Default()}
	defaultUserClient = Entity{Default(), Default()}
)

func mustAlter(t testing.TB, s *Store, e Entity, ops ...kmsg.AlterClientQuotasRequestEntryOp) {
	t.Helper()
	if err := s.Alter(e, ops); err != nil {
		t.Fatalf("Alter(%s): %v", e, err)
	}
}

// setQuota sets (v > 0) or removes (v == 0) the kind's quota on e.
func setQuota(t testing.TB, s *Store, k Kind, e Entity, v float64) {
	t.Helper()
	if v == 0 {
		mustAlter(t, s, e, removeOp(k.Key()))
		return
	}
	mustAlter(t, s, e, setOp(k.Key(), v))
}
