package embeddedbroker_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"

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
		b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, a, 99)
		// The broker may close the connection before the frame is
		// written whole: a failed write is the answer too.
		if _, err := rc.nc.Write(b); err != nil {
			return
		}
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

// connectCount counts a client's new broker connections.
type connectCount struct{ n atomic.Int64 }

func (c *connectCount) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		c.n.Add(1)
	}
}

// TestReauthentication (KIP-368): with connections.max.reauth.ms a
// successful SaslAuthenticate tells the client its session's lifetime; a
// client that re-authenticates in time keeps its connection (franz-go,
// producing through several lifetimes on the same connections), and a
// request after the session ended closes the connection.
func TestReauthentication(t *testing.T) {
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Listeners("SASL_PLAINTEXT://127.0.0.1:0"),
		embeddedbroker.BrokerConfig("connections.max.reauth.ms", "300"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-512", "alice", "alice-secret"),
		embeddedbroker.Topics(1, "orders"))
	addr := c.Addrs()[0]
	mech := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()

	rc := dialRaw(t, addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "SCRAM-SHA-512"
	rc.do(hs)
	sess, first, _ := mech.Authenticate(context.Background(), addr)
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.Version, a.SASLAuthBytes = 1, first
	resp := rc.do(a).(*kmsg.SASLAuthenticateResponse)
	_, final, err := sess.Challenge(resp.SASLAuthBytes)
	if err != nil {
		t.Fatal(err)
	}
	a = kmsg.NewPtrSASLAuthenticateRequest()
	a.Version, a.SASLAuthBytes = 1, final
	resp = rc.do(a).(*kmsg.SASLAuthenticateResponse)
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > 300 {
		t.Fatalf("SaslAuthenticate: error %d, session lifetime %d ms, want (0, 300]", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	<-time.After(time.Duration(resp.SessionLifetimeMillis+50) * time.Millisecond) // let the session end
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	rc.send(md)
	if !rc.closedByPeer() {
		t.Fatal("a request after the session ended was served")
	}

	var cc connectCount
	cl := mustClient(t, kgo.SeedBrokers(addr), kgo.SASL(mech), kgo.WithHooks(&cc))
	ctx := context.Background()
	deadline := time.Now().Add(time.Second) // more than three session lifetimes
	n := 0
	for time.Now().Before(deadline) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		n++
	}
	// franz-go keeps a connection per kind of request (metadata, produce);
	// a renewal that came too late under load would cost one more.
	if got := cc.n.Load(); got > 6 {
		t.Errorf("%d connections for %d produces over a second: sessions were not renewed in place", got, n)
	}
	t.Logf("%d produces over 1 s with 300 ms sessions on %d connections", n, cc.n.Load())
}
