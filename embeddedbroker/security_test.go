package embeddedbroker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// securedCluster starts 3 nodes with an SSL, a SASL_PLAINTEXT and a
// SASL_SSL listener (after a PLAINTEXT one), a generated certificate, and
// users: alice (SCRAM-SHA-256 and -512) and bob (PLAIN).
func securedCluster(t *testing.T, opts ...embeddedbroker.Option) (*embeddedbroker.Cluster, *embeddedbroker.TLSBundle) {
	t.Helper()
	bundle, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	c := embeddedbroker.StartForTest(t, append([]embeddedbroker.Option{
		embeddedbroker.Nodes(3),
		embeddedbroker.Listeners("PLAINTEXT://127.0.0.1:0", "SSL://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"),
		embeddedbroker.TLS(bundle),
		embeddedbroker.SCRAMUser("SCRAM-SHA-256", "alice", "alice-secret"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-512", "alice", "alice-secret"),
		embeddedbroker.PlainUser("bob", "bob-secret"),
		embeddedbroker.Topics(3, "orders"),
	}, opts...)...)
	return c, bundle
}

// roundTrip produces n records to orders with opts and consumes them back
// from the start with a group, over the same listener.
func roundTrip(t *testing.T, addrs []string, opts []kgo.Opt, n int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "orders"
	p, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		return err
	}
	defer p.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(fmt.Sprintf("g-%d", time.Now().UnixNano())), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func TestSecurityFranzGo(t *testing.T) {
	c, bundle := securedCluster(t)
	tlsCfg := func() *tls.Config { return bundle.ClientConfig() }
	scram256 := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()
	scram512 := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()
	plainBob := plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism()
	total := 0
	for _, tc := range []struct {
		name, listener string
		opts           []kgo.Opt
	}{
		{"SSL", "SSL", []kgo.Opt{kgo.DialTLSConfig(tlsCfg())}},
		{"SASL_PLAINTEXT SCRAM-SHA-512", "SASL_PLAINTEXT", []kgo.Opt{kgo.SASL(scram512)}},
		{"SASL_SSL SCRAM-SHA-256", "SASL_SSL", []kgo.Opt{kgo.DialTLSConfig(tlsCfg()), kgo.SASL(scram256)}},
		{"SASL_SSL PLAIN", "SASL_SSL", []kgo.Opt{kgo.DialTLSConfig(tlsCfg()), kgo.SASL(plainBob)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs := c.ListenerAddrs(tc.listener)
			if err := roundTrip(t, addrs, tc.opts, 100); err != nil {
				t.Fatal(err)
			}
			total += 100
			// Every broker a client is sent to is on its listener.
			adm := kadm.NewClient(mustClient(t, append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, tc.opts...)...))
			md, err := adm.BrokerMetadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range md.Brokers {
				if want := addrs[b.NodeID]; fmt.Sprintf("%s:%d", b.Host, b.Port) != want {
					t.Errorf("broker %d advertised as %s:%d on %s, want %s", b.NodeID, b.Host, b.Port, tc.listener, want)
				}
			}
		})
	}
	t.Logf("%d records produced and consumed over SSL, SASL_PLAINTEXT (SCRAM-SHA-512) and SASL_SSL (SCRAM-SHA-256, PLAIN)", total)
}

func TestSecurityWrongPassword(t *testing.T) {
	c, bundle := securedCluster(t)
	for _, tc := range []struct {
		name, listener string
		mech           sasl.Mechanism
		tls            bool
	}{
		{"SCRAM-SHA-512", "SASL_PLAINTEXT", scram.Auth{User: "alice", Pass: "wrong"}.AsSha512Mechanism(), false},
		{"SCRAM-SHA-256 unknown user", "SASL_SSL", scram.Auth{User: "mallory", Pass: "x"}.AsSha256Mechanism(), true},
		{"PLAIN", "SASL_SSL", plain.Auth{User: "bob", Pass: "wrong"}.AsMechanism(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kgo.Opt{kgo.SeedBrokers(c.ListenerAddrs(tc.listener)...), kgo.SASL(tc.mech)}
			if tc.tls {
				opts = append(opts, kgo.DialTLSConfig(bundle.ClientConfig()))
			}
			cl := mustClient(t, opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := cl.Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSecurityUnauthenticatedRequests: on a SASL listener, a request other
// than ApiVersions and the SASL ones closes the connection unanswered.
func TestSecurityUnauthenticatedRequests(t *testing.T) {
	c, _ := securedCluster(t)
	addr := c.ListenerAddrs("SASL_PLAINTEXT")[0]
	rc := dialRaw(t, addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
	if resp := rc.do(av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions before authentication: error %d", resp.ErrorCode)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	rc.send(md)
	if !rc.closedByPeer() {
		t.Fatal("a Metadata request before authentication was not closed")
	}
	// The broker goes on serving.
	if err := roundTrip(t, c.ListenerAddrs("SASL_PLAINTEXT"), []kgo.Opt{kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism())}, 1); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("listener address %s", addr)
	}
}

// TestAdvertisedListeners: nodes bound to every interface advertise the
// host of advertised.listeners (port 0 there: the bound port), which
// clients then use.
func TestAdvertisedListeners(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(2),
		embeddedbroker.Listeners("PLAINTEXT://0.0.0.0:0"),
		embeddedbroker.BrokerConfig("advertised.listeners", "PLAINTEXT://localhost:0"),
		embeddedbroker.Topics(2, "orders"))
	addrs := c.Addrs()
	for _, a := range addrs {
		if !strings.HasPrefix(a, "localhost:") {
			t.Fatalf("advertised %v, want localhost:<port>", addrs)
		}
	}
	md, err := kadm.NewClient(mustClient(t, kgo.SeedBrokers(addrs...))).BrokerMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range md.Brokers {
		if got := fmt.Sprintf("%s:%d", b.Host, b.Port); got != addrs[b.NodeID] {
			t.Errorf("broker %d advertised as %s, want %s", b.NodeID, got, addrs[b.NodeID])
		}
	}
	if err := roundTrip(t, addrs, nil, 10); err != nil {
		t.Fatal(err)
	}
}

// TestMutualTLSPrincipal: with ssl.client.auth=required a client needs a
// certificate the cluster's CA signed; its subject, mapped by
// ssl.principal.mapping.rules, is the principal ACLs name.
func TestMutualTLSPrincipal(t *testing.T) {
	bundle, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Listeners("SSL://127.0.0.1:0"),
		embeddedbroker.TLS(bundle),
		embeddedbroker.BrokerConfig("ssl.client.auth", "required"),
		embeddedbroker.BrokerConfig("ssl.principal.mapping.rules", "RULE:^CN=(.*?)$/$1/L,DEFAULT"),
		embeddedbroker.BrokerConfig("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		embeddedbroker.BrokerConfig("super.users", "User:admin"),
		embeddedbroker.Topics(1, "orders", "payments"))
	ctx := context.Background()
	withCert := func(cn string) kgo.Opt {
		cert, err := bundle.ClientCert(cn)
		if err != nil {
			t.Fatal(err)
		}
		cfg := bundle.ClientConfig()
		cfg.Certificates = []tls.Certificate{cert}
		return kgo.DialTLSConfig(cfg)
	}
	admin := kadm.NewClient(mustClient(t, kgo.SeedBrokers(c.Addrs()...), withCert("Admin")))
	if _, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite)); err != nil {
		t.Fatal(err)
	}
	alice := mustClient(t, kgo.SeedBrokers(c.Addrs()...), withCert("Alice"), kgo.RequestRetries(1))
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("User:alice (CN=Alice) produce to orders: %v", err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("User:alice produce to payments: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	anon := mustClient(t, kgo.SeedBrokers(c.Addrs()...), kgo.DialTLSConfig(bundle.ClientConfig()))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := anon.Ping(pctx); err == nil {
		t.Fatal("a client without a certificate connected with ssl.client.auth=required")
	} else {
		t.Logf("without a certificate: %v", err)
	}
}

// TestInterBrokerListener: with inter.broker.listener.name the nodes
// replicate and send transaction markers on that listener as its clients:
// over SASL_SSL with SCRAM, as a super user, with Kafka's authorizer on
// (a follower without CLUSTER_ACTION could not fetch); and over SSL with
// client certificates required. acks=all writes to a topic of replication
// factor 3 and a transaction succeed, which needs both.
func TestInterBrokerListener(t *testing.T) {
	bundle, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []embeddedbroker.Option
		cl   []kgo.Opt
	}{
		{"SASL_SSL", []embeddedbroker.Option{
			embeddedbroker.Listeners("SASL_SSL://127.0.0.1:0"),
			embeddedbroker.BrokerConfig("inter.broker.listener.name", "SASL_SSL"),
			embeddedbroker.BrokerConfig("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
			embeddedbroker.BrokerConfig("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
				`org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`),
			embeddedbroker.BrokerConfig("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
			embeddedbroker.BrokerConfig("super.users", "User:broker;User:admin"),
			embeddedbroker.SCRAMUser("SCRAM-SHA-512", "broker", "broker-secret"),
			embeddedbroker.SCRAMUser("SCRAM-SHA-512", "admin", "admin-secret"),
		}, []kgo.Opt{kgo.DialTLSConfig(bundle.ClientConfig()), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism())}},
		{"SSL with client certificates", []embeddedbroker.Option{
			embeddedbroker.Listeners("SSL://127.0.0.1:0"),
			embeddedbroker.BrokerConfig("ssl.client.auth", "required"),
			embeddedbroker.BrokerConfig("security.inter.broker.protocol", "SSL"),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.cl
			if opts == nil {
				cert, err := bundle.ClientCert("client")
				if err != nil {
					t.Fatal(err)
				}
				cfg := bundle.ClientConfig()
				cfg.Certificates = []tls.Certificate{cert}
				opts = []kgo.Opt{kgo.DialTLSConfig(cfg)}
			}
			c := embeddedbroker.StartForTest(t, append([]embeddedbroker.Option{embeddedbroker.Nodes(3), embeddedbroker.TLS(bundle),
				embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 3,
					Configs: map[string]string{"min.insync.replicas": "3"}})}, tc.opts...)...)
			if err := roundTrip(t, c.Addrs(), opts, 100); err != nil {
				t.Fatal(err)
			}
			for p := range int32(3) {
				if isr := c.ISR("orders", p); len(isr) != 3 {
					t.Errorf("orders-%d ISR %v, want all 3 nodes", p, isr)
				}
			}
			txn := mustClient(t, append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("ib-tx")}, opts...)...)
			ctx := context.Background()
			if err := txn.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := txn.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("t")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatalf("commit (markers between the nodes): %v", err)
			}
		})
	}
}
