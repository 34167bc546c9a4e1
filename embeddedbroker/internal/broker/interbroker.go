package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
)

// InterBroker makes one of the client listeners the nodes' own
// (inter.broker.listener.name): followers fetch from leaders and
// transaction coordinators send markers on it, as clients of it, with its
// security. Without it each node serves the others on an internal
// PLAINTEXT listener of its own, on the loopback interface.
type InterBroker struct {
	// Listener is the listener's name.
	Listener string
	// TLS is the client side of an SSL or SASL_SSL listener: the CA to
	// trust, and the node's certificate when the listener requires one.
	TLS *tls.Config
	// SASL is the mechanism (sasl.mechanism.inter.broker.protocol) with
	// the node's credentials, for a SASL listener.
	SASL kgosasl.Mechanism
}

// dialPeer connects to another node's inter-broker listener at addr and
// authenticates as the listener requires.
func (n *Node) dialPeer(addr string) (*replicaConn, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	ib := n.cfg.InterBroker
	if ib != nil && ib.TLS != nil {
		cfg := ib.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(nc, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c := &replicaConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10),
		f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("broker-" + strconv.Itoa(int(n.cfg.ID)) + "-fetcher"))}
	if ib != nil && ib.SASL != nil {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.authenticate(ib.SASL, addr); err != nil {
			nc.Close()
			return nil, fmt.Errorf("SASL with %s: %w", addr, err)
		}
		nc.SetDeadline(time.Time{})
	}
	return c, nil
}

// authenticate runs a SASL exchange (SaslHandshake v1, SaslAuthenticate)
// as the client mech.
func (c *replicaConn) authenticate(mech kgosasl.Mechanism, addr string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = mech.Name()
	resp, err := c.do(hs)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	sess, msg, err := mech.Authenticate(context.Background(), host)
	if err != nil {
		return err
	}
	for {
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.SetVersion(1)
		a.SASLAuthBytes = msg
		resp, err := c.do(a)
		if err != nil {
			return err
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
			if ar.ErrorMessage != nil {
				return fmt.Errorf("%w: %s", err, *ar.ErrorMessage)
			}
			return err
		}
		done, next, err := sess.Challenge(ar.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		msg = next
	}
}
