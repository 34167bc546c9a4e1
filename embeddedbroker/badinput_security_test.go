package embeddedbroker_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityBadInput: a garbage TLS handshake, a SCRAM exchange with a
// wrong nonce or a replayed proof, SaslAuthenticate without a handshake,
// and an oversized token each close only their own connection; the broker
// goes on serving clients on every listener.
func TestSecurityBadInput(t *testing.T) {
	c, bundle := securedCluster(t)
	sasl := c.ListenerAddrs("SASL_PLAINTEXT")[0]

	t.Run("garbage TLS handshake", func(t *testing.T) {
		rc := dialRaw(t, c.ListenerAddrs("SSL")[0])
		if _, err := rc.nc.Write([]byte("GET / HTTP/1.1\r\nHost: kafka\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if !rc.closedByPeer() {
			t.Fatal("a garbage handshake did not close the connection")
		}
	})

	handshake := func(t *testing.T, rc *rawConn, mech string) {
		t.Helper()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, mech
		if resp := rc.do(hs).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
			t.Fatalf("SaslHandshake: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	authenticate := func(t *testing.T, rc *rawConn, token []byte) *kmsg.SASLAuthenticateResponse {
		t.Helper()
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.Version, a.SASLAuthBytes = 2, token
		return rc.do(a).(*kmsg.SASLAuthenticateResponse)
	}
	mech := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()

	// A full exchange, keeping its client-final-message for the replay.
	var replay []byte
	{
		rc := dialRaw(t, sasl)
		handshake(t, rc, "SCRAM-SHA-512")
		sess, first, err := mech.Authenticate(context.Background(), sasl)
		if err != nil {
			t.Fatal(err)
		}
		resp := authenticate(t, rc, first)
		_, final, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			t.Fatal(err)
		}
		if resp := authenticate(t, rc, final); resp.ErrorCode != 0 {
			t.Fatalf("a good exchange failed: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		replay = final
	}

	t.Run("wrong nonce", func(t *testing.T) {
		rc := dialRaw(t, sasl)
		handshake(t, rc, "SCRAM-SHA-512")
		_, first, _ := mech.Authenticate(context.Background(), sasl)
		authenticate(t, rc, first)
		final := []byte("c=biws,r=not-the-nonce,p=" + strings.Repeat("A", 86) + "==")
		resp := authenticate(t, rc, final)
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || !rc.closedByPeer() {
			t.Fatalf("wrong nonce: error %v, want SASL_AUTHENTICATION_FAILED and the connection closed", kerr.ErrorForCode(resp.ErrorCode))
		}
	})
	t.Run("replayed proof", func(t *testing.T) {
		rc := dialRaw(t, sasl)
		handshake(t, rc, "SCRAM-SHA-512")
		_, first, _ := mech.Authenticate(context.Background(), sasl)
		authenticate(t, rc, first)
		resp := authenticate(t, rc, replay)
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || !rc.closedByPeer() {
			t.Fatalf("replayed proof: error %v, want SASL_AUTHENTICATION_FAILED and the connection closed", kerr.ErrorForCode(resp.ErrorCode))
		}
	})
	t.Run("authenticate without handshake", func(t *testing.T) {
		rc := dialRaw(t, sasl)
		resp := authenticate(t, rc, []byte("n,,n=alice,r=x"))
		if resp.ErrorCode != kerr.IllegalSaslState.Code || !rc.closedByPeer() {
			t.Fatalf("SaslAuthenticate first: error %v, want ILLEGAL_SASL_STATE and the connection closed", kerr.ErrorForCode(resp.ErrorCode))
		}
	})
	t.Run("oversized token", func(t *testing.T) {
		rc := dialRaw(t, sasl)
		handshake(t, rc, "SCRAM-SHA-512")
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.Version, a.SASLAuthBytes = 2, bytes.Repeat([]byte("x"), 600<<10) // over sasl.server.max.receive.size
		rc.send(a)
		if !rc.closedByPeer() {
			t.Fatal("a 600 KiB token did not close the connection")
		}
	})

	// The broker serves on.
	for _, tc := range []struct {
		listener string
		opts     []kgo.Opt
	}{
		{"SSL", []kgo.Opt{kgo.DialTLSConfig(bundle.ClientConfig())}},
		{"SASL_PLAINTEXT", []kgo.Opt{kgo.SASL(mech)}},
	} {
		if err := roundTrip(t, c.ListenerAddrs(tc.listener), tc.opts, 10); err != nil {
			t.Fatalf("%s after the bad input: %v", tc.listener, err)
		}
	}
}
