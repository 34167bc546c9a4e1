package container

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestAuthorizationFailureStops: a listener whose principal the broker's
// ACLs refuse stops once, in StateFailed with the broker's error and a
// FailedEvent, rather than retrying for ever: for a group it may not
// read, and for a topic it may not read.
func TestAuthorizationFailureStops(t *testing.T) {
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Listeners("SASL_PLAINTEXT://127.0.0.1:0"),
		embeddedbroker.BrokerConfig("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		embeddedbroker.BrokerConfig("super.users", "User:admin"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-256", "admin", "admin-secret"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-256", "alice", "alice-secret"),
		embeddedbroker.Topics(1, "orders", "payments"))
	ctx := context.Background()
	login := func(user string) kgo.Opt {
		return kgo.SASL(scram.Auth{User: user, Pass: user + "-secret"}.AsSha256Mechanism())
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), login("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpRead),
		kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("billing").Operations(kadm.OpRead),
	} {
		if _, err := adm.CreateACLs(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, group, topic string
		want               error
	}{
		{"group not allowed", "audit", "orders", kerr.GroupAuthorizationFailed},
		{"topic not allowed", "billing", "payments", kerr.TopicAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failed atomic.Int32
			done := make(chan error, 1)
			ctr, err := New(&listener.Endpoint{ID: "l", Group: tc.group, Topics: []string{tc.topic},
				Handler: listener.Func[string](func(context.Context, string) error { return nil })},
				WithClientOpts(kgo.SeedBrokers(c.Addrs()...), login("alice"), kgo.FetchMaxWait(50*time.Millisecond)),
				WithLogger(testLogger()),
				WithEventListener(func(e Event) {
					if f, ok := e.(FailedEvent); ok && failed.Add(1) == 1 {
						done <- f.Err
					}
				}))
			if err != nil {
				t.Fatal(err)
			}
			if err := ctr.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer ctr.Stop(ctx)
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("failed with %v, want %v", err, tc.want)
				}
				t.Logf("failed: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("the container did not fail")
			}
			waitFor(t, 10*time.Second, func() bool { return ctr.Status().State == StateFailed }, "state %v, want failed", ctr.Status().State)
			if st := ctr.Status(); !errors.Is(st.Err, tc.want) {
				t.Errorf("status error %v", st.Err)
			}
			if n := failed.Load(); n != 1 {
				t.Errorf("%d FailedEvents, want 1", n)
			}
		})
	}
}
