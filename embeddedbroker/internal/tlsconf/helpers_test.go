package tlsconf

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bundles are generated once per test binary: key generation is cheap,
// but most tests need the same two CAs.
var bundles = sync.OnceValues(func() ([2]*Bundle, error) {
	a, err := Generate()
	if err != nil {
		return [2]*Bundle{}, err
	}
	b, err := Generate()
	return [2]*Bundle{a, b}, err
})

// testBundles returns two bundles with different CAs.
func testBundles(t *testing.T) (main, other *Bundle) {
	t.Helper()
	b, err := bundles()
	if err != nil {
		t.Fatal(err)
	}
	return b[0], b[1]
}

// inline is Settings with b's server certificate and CA given inline.
func inline(b *Bundle) Settings {
	return Settings{
		KeystoreCertificateChain: string(b.ServerCert),
		KeystoreKey:              string(b.ServerKey),
		TruststoreCertificates:   string(b.CACert),
	}
}

// serverConfig is ServerConfig, failing the test on error.
func serverConfig(t *testing.T, s Settings) *tls.Config {
	t.Helper()
	cfg, err := ServerConfig(s)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	return cfg
}

// clientConfig is b's client configuration for localhost, with a client
// certificate when cert is not nil.
func clientConfig(b *Bundle, cert *tls.Certificate) *tls.Config {
	c := b.ClientConfig()
	c.ServerName = "localhost"
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// clientCert issues a client certificate from b.
func clientCert(t *testing.T, b *Bundle, subject pkix.Name) *tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := b.ClientCert(subject)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// handshakeResult is what both ends of a TLS connection saw.
type handshakeResult struct {
	serverErr, clientErr error
	server               tls.ConnectionState
	client               tls.ConnectionState
}

// handshake connects a TLS client to a TLS server over loopback TCP and
// exchanges a byte each way, so that a TLS 1.3 client also sees the
// server's refusal of its certificate, which comes after the client's
// handshake is done.
func handshake(t *testing.T, server, client *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type side struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan side, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- side{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, server)
		if err := tc.Handshake(); err != nil {
			done <- side{err: err}
			return
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(tc, b); err != nil {
			done <- side{err: err}
			return
		}
		_, err = tc.Write(b)
		done <- side{state: tc.ConnectionState(), err: err}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, client)
	var r handshakeResult
	if r.clientErr = tc.Handshake(); r.clientErr == nil {
		if _, r.clientErr = tc.Write([]byte{1}); r.clientErr == nil {
			_, r.clientErr = io.ReadFull(tc, make([]byte, 1))
		}
	}
	r.client = tc.ConnectionState()
	tc.Close()
	s := <-done
	r.server, r.serverErr = s.state, s.err
	return r
}

// mustSucceed fails the test unless both ends succeeded.
func (r handshakeResult) mustSucceed(t *testing.T) {
	t.Helper()
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("handshake failed: server: %v; client: %v", r.serverErr, r.clientErr)
	}
}

// selfSigned makes a certificate for localhost with key, PEM-encoded.
func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pemEncode("CERTIFICATE", der)
}

// trusting is a client configuration for localhost trusting certPEM.
func trusting(t *testing.T, certPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("no certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// writeTemp writes data into a file of dir and returns its path.
func writeTemp(t *testing.T, dir, name string, data ...[]byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	if err := os.WriteFile(p, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readTestdata reads a file of testdata.
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkErr checks that err is not nil, matches each of is with
// errors.Is, and contains each of want.
func checkErr(t *testing.T, err error, is []error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, target := range is {
		if !errors.Is(err, target) {
			t.Errorf("error %q is not %v", err, target)
		}
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
