package embeddedbroker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// aclCluster starts a cluster whose listener authenticates with
// SCRAM-SHA-512, with Kafka's authorizer (no access without an ACL),
// admin as super user and alice as an ordinary user.
func aclCluster(t *testing.T, dir string) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t,
		embeddedbroker.DataDir(dir),
		embeddedbroker.Listeners("SASL_PLAINTEXT://127.0.0.1:0"),
		embeddedbroker.BrokerConfig("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		embeddedbroker.BrokerConfig("super.users", "User:admin"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-512", "admin", "admin-secret"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-512", "alice", "alice-secret"),
		embeddedbroker.Topics(1, "orders", "payments"))
}

func scramClient(t *testing.T, c *embeddedbroker.Cluster, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return mustClient(t, append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...),
		kgo.SASL(scram.Auth{User: user, Pass: user + "-secret"}.AsSha512Mechanism()),
		kgo.RetryTimeout(2 * time.Second), kgo.RequestRetries(1)}, opts...)...)
}

// TestACLs: a user allowed to write orders and read group billing can do
// only that, and gets Kafka's authorization error for everything else; the
// super user can do everything; the ACLs survive a restart.
func TestACLs(t *testing.T) {
	dir := t.TempDir()
	c := aclCluster(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := kadm.NewClient(scramClient(t, c, "admin"))
	b := kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite)
	if _, err := admin.CreateACLs(ctx, b); err != nil {
		t.Fatal(err)
	}
	b = kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("billing").Operations(kadm.OpRead)
	if _, err := admin.CreateACLs(ctx, b); err != nil {
		t.Fatal(err)
	}
	checkAlice(ctx, t, c)

	// The super user does what alice may not.
	if err := scramClient(t, c, "admin").ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: []byte("x")}).FirstErr(); err != nil {
		t.Errorf("admin produce to payments: %v", err)
	}
	if resp, err := admin.CreateTopic(ctx, 1, 1, nil, "admin-topic"); err != nil || resp.Err != nil {
		t.Errorf("admin create topic: %v %v", err, resp.Err)
	}
	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil || len(described) != 1 || len(described[0].Described) != 2 {
		t.Fatalf("admin DescribeACLs: %v %+v", err, described)
	}

	// After a restart on the same data, the ACLs are the same.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = aclCluster(t, dir)
	admin = kadm.NewClient(scramClient(t, c, "admin"))
	again, err := admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil || len(again) != 1 || len(again[0].Described) != 2 {
		t.Fatalf("DescribeACLs after a restart: %v %+v", err, again)
	}
	checkAlice(ctx, t, c)
}

func isAuthErr(err, want error) bool { return errors.Is(err, want) }

// checkAlice runs what alice may and may not do.
func checkAlice(ctx context.Context, t *testing.T, c *embeddedbroker.Cluster) {
	t.Helper()
	alice := scramClient(t, c, "alice")
	adm := kadm.NewClient(alice)
	n := 0
	check := func(what string, err, want error) {
		t.Helper()
		n++
		if want == nil {
			if err != nil {
				t.Errorf("alice %s: %v, want success", what, err)
			}
			return
		}
		if !isAuthErr(err, want) {
			t.Errorf("alice %s: %v, want %v", what, err, want)
		}
	}
	check("produce to orders", alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("o")}).FirstErr(), nil)
	check("produce to payments", alice.ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: []byte("p")}).FirstErr(), kerr.TopicAuthorizationFailed)

	md, err := adm.Metadata(ctx)
	check("metadata", err, nil)
	if len(md.Topics) != 1 || md.Topics["orders"].Topic != "orders" {
		t.Errorf("alice sees topics %v, want orders only", md.Topics.Names())
	}
	tds, err := adm.ListTopics(ctx, "payments")
	if err == nil {
		err = tds["payments"].Err
	}
	check("describe payments", err, kerr.TopicAuthorizationFailed)

	resp, err := adm.CreateTopic(ctx, 1, 1, nil, "alice-topic")
	if err == nil {
		err = resp.Err
	}
	check("create a topic", err, kerr.TopicAuthorizationFailed)
	dresp, err := adm.DeleteTopic(ctx, "orders")
	if err == nil {
		err = dresp.Err
	}
	check("delete orders", err, kerr.TopicAuthorizationFailed)
	cfgs, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err == nil {
		err = cfgs[0].Err
	}
	check("describe orders' configs", err, kerr.TopicAuthorizationFailed)
	bcfgs, err := adm.DescribeBrokerConfigs(ctx)
	if err == nil {
		err = bcfgs[0].Err
	}
	check("describe broker configs", err, kerr.ClusterAuthorizationFailed)
	dacls, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny).Allow().Deny().AllowHosts().DenyHosts())
	if err == nil && len(dacls) == 1 {
		err = dacls[0].Err
	}
	check("describe ACLs", err, kerr.ClusterAuthorizationFailed)
	created, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("payments").Operations(kadm.OpRead))
	if err == nil && len(created) == 1 {
		err = created[0].Err
	}
	check("create an ACL", err, kerr.ClusterAuthorizationFailed)
	_, err = adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "x"}})
	check("alter SCRAM credentials", err, kerr.ClusterAuthorizationFailed)
	_, err = adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}})
	check("describe quotas", err, kerr.ClusterAuthorizationFailed)

	// Reading orders needs READ on the topic, which alice lacks; the group
	// billing she may use, others not.
	reader := scramClient(t, c, "alice", kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	fs := reader.PollFetches(fctx)
	fcancel()
	var ferr error
	fs.EachError(func(_ string, _ int32, err error) {
		if ferr == nil || errors.Is(err, kerr.TopicAuthorizationFailed) {
			ferr = err
		}
	})
	check("fetch orders", ferr, kerr.TopicAuthorizationFailed)
	offs, err := adm.FetchOffsets(ctx, "billing")
	check("fetch offsets of group billing", err, nil)
	_ = offs
	_, err = adm.FetchOffsets(ctx, "audit")
	check("fetch offsets of group audit", err, kerr.GroupAuthorizationFailed)
	committed, err := adm.CommitOffsets(ctx, "billing", kadm.OffsetsFromRecords(kgo.Record{Topic: "orders", Partition: 0, Offset: 0}))
	if err == nil {
		err = committed.Error()
	}
	check("commit an offset of orders in billing", err, kerr.TopicAuthorizationFailed)

	txn := scramClient(t, c, "alice", kgo.TransactionalID("alice-tx"))
	check("begin a transaction", errors.Join(txn.BeginTransaction(), txn.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("t")}).FirstErr()), kerr.TransactionalIDAuthorizationFailed)
	t.Logf("alice: %d operations checked", n)
}
