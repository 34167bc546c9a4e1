package main

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestTransactions: list and describe show an open transaction (franz-go's
// default timeout, 40 s) with its partition, then its completion, and
// describe-producers the producer's open transaction at offset 0 on the
// partition's leader, then none; an unknown id is an error.
func TestTransactions(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(1, "ledger"))
	if r := kbc(t, c, "", "transactions", "list").ok(t); r.stdout != "" {
		t.Fatalf("list without transactions printed %q", r.stdout)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("cli-tx"), kgo.DefaultProduceTopic("ledger"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r := kbc(t, c, "", "transactions", "describe-producers", "--topic", "ledger").ok(t)
	if f := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1]); len(f) != 8 || f[0] != "ledger" ||
		f[1] != "0" || f[4] != "0" || f[7] != "0" {
		t.Fatalf("describe-producers with a transaction open at offset 0 printed %q", r.stdout)
	}

	r = kbc(t, c, "", "transactions", "list").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TRANSACTIONAL-ID") || !strings.HasPrefix(lines[1], "cli-tx") ||
		!strings.HasSuffix(lines[1], "Ongoing") {
		t.Fatalf("list printed %q", r.stdout)
	}
	r = kbc(t, c, "", "transactions", "describe", "--transactional-id", "cli-tx").ok(t)
	if f := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1]); len(f) != 9 || f[0] != "cli-tx" ||
		f[4] != "Ongoing" || f[5] != "40000" || f[6] == "-" || f[8] != "ledger-0" {
		t.Fatalf("describe printed %q", r.stdout)
	}
	if err := cl.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	r = kbc(t, c, "", "transactions", "describe", "--transactional-id", "cli-tx").ok(t)
	if f := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1]); len(f) != 9 || f[4] != "CompleteCommit" || f[6] != "-" || f[8] != "-" {
		t.Fatalf("describe after the commit printed %q", r.stdout)
	}
	r = kbc(t, c, "", "transactions", "describe-producers", "--topic", "ledger", "--partition", "0").ok(t)
	if f := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1]); len(f) != 8 || f[7] != "-" {
		t.Fatalf("describe-producers after the commit printed %q", r.stdout)
	}
	r = kbc(t, c, "", "transactions", "describe", "--transactional-id", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, `"nope"`) {
		t.Fatalf("unknown id: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = kbc(t, c, "", "transactions", "describe"); r.code != 2 {
		t.Fatalf("describe without an id: exit %d", r.code)
	}
}
