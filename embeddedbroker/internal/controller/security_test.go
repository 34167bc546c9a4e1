package controller

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// TestScramCredentialsSurviveRestart: credentials, client quotas and ACLs
// are metadata, kept by the metadata log and by checkpoints.
func TestScramCredentialsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	for _, snapshot := range []bool{false, true} {
		dir := t.TempDir()
		mod := func(c *LocalConfig) {
			if snapshot {
				c.SnapshotBytes = 1 // a checkpoint after every change
			}
		}
		l := newLocal(t, dir, 1, mod)
		alice := ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: 4096}
		errs, err := l.AlterScramCredentials(ctx, []ScramChange{
			{ScramKey: ScramKey{"alice", "SCRAM-SHA-256"}, Cred: alice},
			{ScramKey: ScramKey{"bob", "SCRAM-SHA-512"}, Cred: alice},
			{ScramKey: ScramKey{"carol", "SCRAM-SHA-256"}, Delete: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrNoSuchCredential) {
			t.Fatalf("outcomes %v", errs)
		}
		if _, err := l.AlterScramCredentials(ctx, []ScramChange{{ScramKey: ScramKey{"bob", "SCRAM-SHA-512"}, Delete: true}}); err != nil {
			t.Fatal(err)
		}
		set := func(b []byte) func([]byte) ([]byte, error) { return func([]byte) ([]byte, error) { return b, nil } }
		if err := l.UpdateClientQuotas(ctx, set([]byte(`{"q":1}`))); err != nil {
			t.Fatal(err)
		}
		if err := l.UpdateACLs(ctx, set([]byte(`{"a":1}`))); err != nil {
			t.Fatal(err)
		}
		if snapshot {
			l.journal.snapWG.Wait()
		}
		must2(t, l.Close())
		r := newLocal(t, dir, 0, mod)
		got, ok := r.Image().ScramCredential("alice", "SCRAM-SHA-256")
		if !ok || !reflect.DeepEqual(got, alice) {
			t.Errorf("snapshot %v: alice after restart = %+v, %v", snapshot, got, ok)
		}
		if keys := r.Image().ScramCredentials(); len(keys) != 1 {
			t.Errorf("snapshot %v: credentials after restart %v, want alice's only", snapshot, keys)
		}
		if q, a := string(r.Image().ClientQuotas()), string(r.Image().ACLs()); q != `{"q":1}` || a != `{"a":1}` {
			t.Errorf("snapshot %v: quotas %s, ACLs %s after restart", snapshot, q, a)
		}
		must2(t, r.Close())
	}
}

func TestBrokerEndpoint(t *testing.T) {
	b := Broker{Host: "127.0.0.1", Port: 9092, Listeners: []Endpoint{{"PLAINTEXT", "127.0.0.1", 9092}, {"SASL_SSL", "broker.example.com", 9093}}}
	if h, p, ok := b.Endpoint("SASL_SSL"); !ok || h != "broker.example.com" || p != 9093 {
		t.Errorf("SASL_SSL endpoint %s:%d %v", h, p, ok)
	}
	if _, _, ok := b.Endpoint("SSL"); ok {
		t.Error("an endpoint for a listener the broker lacks")
	}
	if h, p, ok := b.Endpoint(""); !ok || h != "127.0.0.1" || p != 9092 {
		t.Errorf("default endpoint %s:%d", h, p)
	}
}
