package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestUsersAndQuotas: users add, list and delete SCRAM credentials, and
// the new user authenticates; quotas set and list; all over SASL_SSL with
// --command-config, as Kafka's tools take it.
func TestUsersAndQuotas(t *testing.T) {
	bundle, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, _, err := bundle.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Listeners("SASL_SSL://127.0.0.1:0"), embeddedbroker.TLS(bundle),
		embeddedbroker.SCRAMUser("SCRAM-SHA-512", "admin", "admin-secret"))
	props := func(user, pass, mech string) string {
		path := filepath.Join(dir, user+".properties")
		body := "security.protocol=SASL_SSL\nsasl.mechanism=" + mech + "\n" +
			"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user + "\" password=\"" + pass + "\";\n" +
			"ssl.truststore.type=PEM\nssl.truststore.location=" + ca + "\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	admin := props("admin", "admin-secret", "SCRAM-SHA-512")
	run := func(stdin string, args ...string) result {
		t.Helper()
		return kb(t, stdin, append(args, "--bootstrap-server", strings.Join(c.Addrs(), ","), "--command-timeout", "10s", "--command-config", admin)...)
	}

	r := run("carol-secret\n", "users", "add", "--user", "carol", "--mechanism", "SCRAM-SHA-256", "--password-stdin").ok(t)
	if !strings.Contains(r.stdout, `Stored the SCRAM-SHA-256 credential of user "carol"`) {
		t.Fatalf("users add printed %q", r.stdout)
	}
	r = run("", "users", "list").ok(t)
	want := "USER   MECHANISM      ITERATIONS\nadmin  SCRAM-SHA-512  4096\ncarol  SCRAM-SHA-256  4096\n"
	if r.stdout != want {
		t.Fatalf("users list printed\n%s\nwant\n%s", r.stdout, want)
	}
	if strings.Contains(r.stdout+r.stderr, "carol-secret") {
		t.Fatal("a password was printed")
	}
	// carol authenticates with her new password, and not with another.
	carol := props("carol", "carol-secret", "SCRAM-SHA-256")
	kb(t, "", "topics", "list", "--bootstrap-server", strings.Join(c.Addrs(), ","), "--command-timeout", "10s", "--command-config", carol).ok(t)
	bad := props("carol", "wrong", "SCRAM-SHA-256")
	if r := kb(t, "", "topics", "list", "--bootstrap-server", strings.Join(c.Addrs(), ","), "--command-timeout", "10s", "--command-config", bad); r.code == 0 ||
		!strings.Contains(r.stderr, "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("a wrong password: exit %d, stderr %q", r.code, r.stderr)
	}

	run("", "quotas", "set", "--user", "carol", "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152").ok(t)
	run("", "quotas", "set", "--client-defaults", "--add-config", "request_percentage=50").ok(t)
	r = run("", "quotas", "list").ok(t)
	want = "ENTITY               QUOTA               VALUE\nclient-id=<default>  request_percentage  50\nuser=carol           consumer_byte_rate  2097152\nuser=carol           producer_byte_rate  1048576\n"
	if r.stdout != want {
		t.Fatalf("quotas list printed\n%s\nwant\n%s", r.stdout, want)
	}
	run("", "quotas", "set", "--user", "carol", "--delete-config", "consumer_byte_rate").ok(t)
	if r := run("", "quotas", "list", "--user", "carol").ok(t); strings.Contains(r.stdout, "consumer_byte_rate") || !strings.Contains(r.stdout, "producer_byte_rate") {
		t.Fatalf("quotas list --user carol after a delete printed %q", r.stdout)
	}
	if r := run("", "quotas", "set", "--user", "carol", "--add-config", "producer_byte_rate=-1"); r.code == 0 || !strings.Contains(r.stderr, "INVALID_REQUEST") {
		t.Fatalf("a negative quota: exit %d, stderr %q", r.code, r.stderr)
	}

	run("", "users", "delete", "--user", "carol", "--mechanism", "SCRAM-SHA-256").ok(t)
	if r := run("", "users", "list", "--user", "carol"); r.code == 0 || !strings.Contains(r.stderr, "RESOURCE_NOT_FOUND") {
		t.Fatalf("listing a deleted user: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestParseAddScram: kafka-storage's --add-scram syntax.
func TestParseAddScram(t *testing.T) {
	mech, name, pass, err := parseAddScram(`SCRAM-SHA-256=[name=alice,password="alice-secret"]`)
	if err != nil || mech != "SCRAM-SHA-256" || name != "alice" || pass != "alice-secret" {
		t.Fatalf("parseAddScram = %s %s %s %v", mech, name, pass, err)
	}
	for _, bad := range []string{"SCRAM-SHA-1=[name=a,password=b]", "SCRAM-SHA-256=name=a", "SCRAM-SHA-256=[name=a]", "SCRAM-SHA-256=[name=a,password=b,iterations=8192]", "SCRAM-SHA-256=[name=a,password=b,salt=x]"} {
		if _, _, _, err := parseAddScram(bad); err == nil {
			t.Errorf("parseAddScram(%q) succeeded", bad)
		}
	}
}

// TestBrokerSecurityFlags: a broker started with --config-file (a Kafka
// server.properties, KRaft entries and the controller listener included),
// --listener, --add-scram and --generate-tls serves clients over
// SASL_SSL with the stored credential and PLAIN users from the JAAS
// config, which reach it with --command-config.
func TestBrokerSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	serverProps := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(serverProps, []byte(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
controller.listener.names=CONTROLLER
listeners=CONTROLLER://127.0.0.1:0
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
    user_bob="bob-secret";
num.network.threads=3
log.segment.bytes=1048576
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "tls")
	bootstrap, _, stop := startBroker(t, "--config-file", serverProps, "--listener", "SASL_SSL://127.0.0.1:0",
		"--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]", "--generate-tls", tlsDir)
	defer stop()
	ca := filepath.Join(tlsDir, "ca.pem")
	for _, login := range []struct{ mech, module, user, pass string }{
		{"SCRAM-SHA-256", "scram.ScramLoginModule", "alice", "alice-secret"},
		{"PLAIN", "plain.PlainLoginModule", "bob", "bob-secret"},
	} {
		path := filepath.Join(dir, login.user+".properties")
		body := "security.protocol=SASL_SSL\nsasl.mechanism=" + login.mech + "\nsasl.jaas.config=org.apache.kafka.common.security." + login.module +
			" required username=\"" + login.user + "\" password=\"" + login.pass + "\";\nssl.truststore.type=PEM\nssl.truststore.location=" + ca + "\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		kb(t, "", "topics", "create", "--topic", "t-"+login.user, "--bootstrap-server", bootstrap, "--command-timeout", "10s", "--command-config", path).ok(t)
	}
}

// TestACLsCommand: acls add, list and remove against a cluster with Kafka's
// authorizer, as its super user.
func TestACLsCommand(t *testing.T) {
	dir := t.TempDir()
	c := embeddedbroker.StartForTest(t, embeddedbroker.Listeners("SASL_PLAINTEXT://127.0.0.1:0"),
		embeddedbroker.BrokerConfig("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		embeddedbroker.BrokerConfig("super.users", "User:admin"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-256", "admin", "admin-secret"))
	props := filepath.Join(dir, "admin.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"admin-secret\";\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) result {
		t.Helper()
		return kb(t, "", append(args, "--bootstrap-server", strings.Join(c.Addrs(), ","), "--command-timeout", "10s", "--command-config", props)...)
	}
	r := run("acls", "add", "--allow-principal", "User:alice", "--operation", "Write", "--operation", "Describe", "--topic", "orders").ok(t)
	if !strings.Contains(r.stdout, "Added 2 ACLs for TOPIC orders (literal)") {
		t.Fatalf("acls add printed %q", r.stdout)
	}
	run("acls", "add", "--deny-principal", "User:mallory", "--operation", "All", "--topic", "ord", "--resource-pattern-type", "prefixed").ok(t)
	// kafka-acls' host flags: the allowed principal from --allow-host, the
	// denied one from --deny-host.
	run("acls", "add", "--allow-principal", "User:bob", "--allow-host", "10.0.0.1", "--deny-principal", "User:eve", "--deny-host", "10.0.0.2",
		"--operation", "Read", "--group", "billing").ok(t)
	r = run("acls", "list", "--group", "billing").ok(t)
	rows := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		rows[strings.Join(strings.Fields(line)[:4], " ")] = true
	}
	if !rows["User:bob 10.0.0.1 READ ALLOW"] || !rows["User:eve 10.0.0.2 READ DENY"] || len(rows) != 3 {
		t.Fatalf("acls list --group billing printed\n%s", r.stdout)
	}
	run("acls", "remove", "--group", "billing").ok(t)
	r = run("acls", "list", "--topic", "orders", "--resource-pattern-type", "match").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "PRINCIPAL") || !strings.Contains(r.stdout, "User:mallory  *     ALL") {
		t.Fatalf("acls list --resource-pattern-type match printed\n%s", r.stdout)
	}
	r = run("acls", "remove", "--allow-principal", "User:alice", "--operation", "Write").ok(t)
	if n := strings.Count(r.stdout, "User:alice"); n != 1 {
		t.Fatalf("acls remove printed\n%s", r.stdout)
	}
	r = run("acls", "list").ok(t)
	if n := len(strings.Split(strings.TrimSpace(r.stdout), "\n")); n != 3 {
		t.Fatalf("acls list after remove printed\n%s", r.stdout)
	}
	if r := run("acls", "add", "--allow-principal", "alice", "--operation", "Read", "--topic", "orders"); r.code == 0 || !strings.Contains(r.stderr, "INVALID_REQUEST") {
		t.Fatalf("a principal without a type: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestFranzGoSCRAMSuite: a broker started from the command line with
// --listener SASL_PLAINTEXT and --add-scram serves franz-go's own SCRAM
// (and OAUTHBEARER) tests, KGO_TEST_SCRAM_SEEDS and KGO_TEST_SCRAM, which
// skip without such a broker.
func TestFranzGoSCRAMSuite(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run franz-go's tests with")
	}
	// A free port for the SASL listener (the ready line names only the
	// first listener's addresses).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	saslAddr := ln.Addr().String()
	ln.Close()
	bootstrap, _, stop := startBroker(t, "--listener", "PLAINTEXT://127.0.0.1:0", "--listener", "SASL_PLAINTEXT://"+saslAddr,
		"--add-scram", "SCRAM-SHA-256=[name=testuser,password=testpass]", "--config", "sasl.enabled.mechanisms=SCRAM-SHA-256,OAUTHBEARER")
	defer stop()
	cmd := exec.CommandContext(t.Context(), gobin, "test", "-count=1", "-v", "-run", "^(TestSCRAMAuth|TestSCRAMAuthBadCredentials|TestOAuthAuth)$", "github.com/twmb/franz-go/pkg/kgo")
	cmd.Env = append(os.Environ(), "KGO_SEEDS="+bootstrap, "KGO_TEST_RF=1", "KGO_TEST_SCRAM_SEEDS="+saslAddr,
		"KGO_TEST_SCRAM=testuser:testpass", "KGO_TEST_OAUTH_SEEDS="+saslAddr)
	out, err := cmd.CombinedOutput()
	t.Logf("franz-go's tests:\n%s", out)
	if err != nil {
		t.Fatalf("franz-go's SCRAM tests failed: %v", err)
	}
	for _, name := range []string{"TestSCRAMAuth", "TestSCRAMAuthBadCredentials", "TestOAuthAuth"} {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass (skipped?)", name)
		}
	}
}
