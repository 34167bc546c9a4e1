package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestGenerateHandshake checks that a generated bundle serves TLS 1.2 and
// 1.3 to a client with its ClientConfig, for each default host name.
func TestGenerateHandshake(t *testing.T) {
	b, _ := testBundles(t)
	server := serverConfig(t, inline(b))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
			t.Run(tls.VersionName(v)+"/"+host, func(t *testing.T) {
				client := b.ClientConfig()
				if client.ServerName != "" {
					t.Errorf("ClientConfig sets ServerName %q", client.ServerName)
				}
				client.ServerName = host
				client.MinVersion, client.MaxVersion = v, v
				r := handshake(t, server, client)
				r.mustSucceed(t)
				if r.server.Version != v || len(r.server.PeerCertificates) != 0 {
					t.Errorf("version %x, %d peer certificates", r.server.Version, len(r.server.PeerCertificates))
				}
				if chain := r.client.PeerCertificates; len(chain) != 2 || !slices.Contains(chain[0].DNSNames, "localhost") || !chain[1].IsCA {
					t.Errorf("client got chain %v", chain)
				}
			})
		}
	}
	t.Run("other CA", func(t *testing.T) {
		_, other := testBundles(t)
		r := handshake(t, server, clientConfig(other, nil))
		var unknown x509.UnknownAuthorityError
		if r.clientErr == nil || !errors.As(r.clientErr, &unknown) {
			t.Errorf("a client trusting another CA: %v", r.clientErr)
		}
	})
}

// TestGenerateCertificates checks the generated certificates: names, key
// usages, validity, and the chain.
func TestGenerateCertificates(t *testing.T) {
	b, err := Generate("broker.example", " 10.0.0.1 ", "[fe80::1]")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCertificates(string(b.CACert))
	if err != nil || len(ca) != 1 {
		t.Fatalf("CACert: %v %d", err, len(ca))
	}
	chain, err := parseCertificates(string(b.ServerCert))
	if err != nil || len(chain) != 2 {
		t.Fatalf("ServerCert: %v %d", err, len(chain))
	}
	leaf := chain[0]
	if !chain[1].Equal(ca[0]) || !ca[0].IsCA || !ca[0].BasicConstraintsValid || ca[0].MaxPathLen != 0 {
		t.Errorf("CA: %+v", ca[0])
	}
	if leaf.Subject.CommonName != "broker.example" || !slices.Equal(leaf.DNSNames, []string{"broker.example"}) ||
		len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !leaf.IPAddresses[1].Equal(net.ParseIP("fe80::1")) {
		t.Errorf("names: CN %q DNS %v IP %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("leaf: CA %v, EKU %v", leaf.IsCA, leaf.ExtKeyUsage)
	}
	now := time.Now()
	for _, c := range []*x509.Certificate{ca[0], leaf} {
		if c.PublicKeyAlgorithm != x509.ECDSA || c.NotBefore.After(now.Add(-59*time.Minute)) || c.NotAfter.Before(now.Add(364*24*time.Hour)) || c.NotAfter.After(now.Add(366*24*time.Hour)) {
			t.Errorf("%s: %v, valid %v to %v", c.Subject, c.PublicKeyAlgorithm, c.NotBefore, c.NotAfter)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca[0])
	for _, name := range []string{"broker.example", "10.0.0.1", "fe80::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := tls.X509KeyPair(b.ServerCert, b.ServerKey); err != nil {
		t.Errorf("key pair: %v", err)
	}
	if blocks, _ := scanPEM(string(b.ServerKey)); len(blocks) != 1 || blocks[0].label != "PRIVATE KEY" {
		t.Errorf("ServerKey is not one PKCS#8 PRIVATE KEY: %v", blocks)
	}
	// Two bundles have distinct CAs.
	other, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if oca, _ := parseCertificates(string(other.CACert)); oca[0].Subject.String() == ca[0].Subject.String() {
		t.Errorf("two CAs named %s", ca[0].Subject)
	}
	for _, bad := range [][]string{{""}, {"localhost", " "}, {"[]"}} {
		if _, err := Generate(bad...); err == nil {
			t.Errorf("Generate(%q) succeeded", bad)
		}
	}
}

// TestClientCert checks the client certificates a bundle issues.
func TestClientCert(t *testing.T) {
	b, _ := testBundles(t)
	subject := pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Example Corp"}, Country: []string{"US"}}
	certPEM, keyPEM, err := b.ClientCert(subject)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCertificates(string(certPEM))
	if err != nil || len(certs) != 1 {
		t.Fatalf("%v %d", err, len(certs))
	}
	c := certs[0]
	if got := DistinguishedName(c); got != "CN=alice,OU=eng,O=Example Corp,C=US" {
		t.Errorf("DN %q", got)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || c.IsCA {
		t.Errorf("EKU %v, CA %v", c.ExtKeyUsage, c.IsCA)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(b.CACert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("a client certificate verifies for server authentication")
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("key pair: %v", err)
	}
	// ExtraNames give each value an RDN of its own.
	certPEM, _, err = b.ClientCert(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "a"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "b"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "svc"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if certs, _ := parseCertificates(string(certPEM)); DistinguishedName(certs[0]) != "CN=svc,OU=b,OU=a" {
		t.Errorf("DN %q", DistinguishedName(certs[0]))
	}
	// Concurrent use, for the race detector.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, _, err := b.ClientCert(pkix.Name{CommonName: fmt.Sprint("user", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, _, err := b.ClientCert(pkix.Name{}); err == nil {
		t.Error("an empty subject is accepted")
	}
	if _, _, err := (&Bundle{CACert: b.CACert}).ClientCert(subject); err == nil {
		t.Error("a bundle without CA key issues certificates")
	}
}

// TestWriteFiles checks the files, their modes, and that they work as
// Kafka's PEM keystore and truststore, with mutual TLS.
func TestWriteFiles(t *testing.T) {
	b, _ := testBundles(t)
	dir := filepath.Join(t.TempDir(), "new", "tls")
	f, err := b.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{"ca.pem": 0o644, "server.pem": 0o600, "server-cert.pem": 0o644, "server-key.pem": 0o600}
	paths := map[string]string{"ca.pem": f.CA, "server.pem": f.Server, "server-cert.pem": f.ServerCert, "server-key.pem": f.ServerKey}
	for name, mode := range want {
		if paths[name] != filepath.Join(dir, name) {
			t.Errorf("%s at %q", name, paths[name])
		}
		st, err := os.Stat(paths[name])
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in dir, want 4 (no temporary files left)", len(entries))
	}
	// Writing again replaces the files.
	if _, err := b.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	s, err := FromConfigs(map[string]string{
		"ssl.keystore.type":       "PEM",
		"ssl.keystore.location":   f.Server,
		"ssl.truststore.type":     "PEM",
		"ssl.truststore.location": f.CA,
		"ssl.client.auth":         "required",
	}, "SSL")
	if err != nil {
		t.Fatal(err)
	}
	r := handshake(t, serverConfig(t, s), clientConfig(b, clientCert(t, b, pkix.Name{CommonName: "alice"})))
	r.mustSucceed(t)
	p, err := (*PrincipalMapper)(nil).Principal(r.server)
	if err != nil || p != "User:CN=alice" {
		t.Errorf("principal %q, %v", p, err)
	}
	// The separate files make the same pair.
	certPEM, _ := os.ReadFile(f.ServerCert)
	keyPEM, _ := os.ReadFile(f.ServerKey)
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Error(err)
	}
	if _, err := b.WriteFiles(f.CA); err == nil {
		t.Error("WriteFiles into a file succeeded")
	}
}
