package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Validity of generated certificates: from an hour ago, so that clocks a
// little behind accept them, for a year.
const (
	backdate = time.Hour
	validity = 365 * 24 * time.Hour
)

// Bundle is a generated CA with a server certificate it signed, all
// PEM-encoded. The CA's private key stays in the bundle (unexported), to
// issue client certificates with ClientCert. A Bundle is safe for
// concurrent use.
type Bundle struct {
	// CACert is the CA certificate: the truststore of clients (and of
	// the server, for client certificates).
	CACert []byte
	// ServerCert is the server's certificate chain: its certificate,
	// then the CA's.
	ServerCert []byte
	// ServerKey is the server's private key, PKCS#8, unencrypted.
	ServerKey []byte

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// Generate creates a CA and a server certificate signed by it, both with
// ECDSA P-256 keys and valid from an hour ago for a year. The server
// certificate names hosts, DNS names or IP addresses ("[::1]" is taken for
// "::1"), in its subject alternative names and the first in its common
// name; without hosts, "localhost", "127.0.0.1" and "::1". It may also
// serve as a client certificate (as a broker's does for inter-broker
// TLS).
func Generate(hosts ...string) (*Bundle, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if h == "" {
			return nil, errors.New("tlsconf: generate: empty host name")
		}
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, h)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generate: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// A name of its own, so that the CAs of two bundles differ.
		Subject:               pkix.Name{Organization: []string{"kafkaboot"}, CommonName: "kafkaboot test CA " + hex.EncodeToString(serial.Bytes()[:4])},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generate CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generate CA: %w", err)
	}
	b := &Bundle{CACert: pemEncode("CERTIFICATE", der), ca: ca, caKey: caKey}
	certPEM, keyPEM, err := b.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: strings.Trim(hosts[0], "[] ")},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generate server certificate: %w", err)
	}
	b.ServerCert = append(certPEM, b.CACert...)
	b.ServerKey = keyPEM
	return b, nil
}

// newSerial is a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: serial number: %w", err)
	}
	return n.SetBit(n, 127, 1), nil // 16 bytes, never zero
}

// issue signs a certificate from tmpl (subject, names, extended key
// usages) for a new ECDSA P-256 key, valid as the CA is or less; it
// returns the certificate and the key (PKCS#8), PEM-encoded.
func (b *Bundle) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	if b == nil || b.caKey == nil || b.ca == nil {
		return nil, nil, errors.New("the bundle has no CA key: make it with Generate")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(b.ca.NotAfter) {
		tmpl.NotAfter = b.ca.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.ca, &key.PublicKey, b.caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemEncode("CERTIFICATE", der), pemEncode("PRIVATE KEY", keyDER), nil
}

// ClientCert issues a client certificate (extended key usage clientAuth)
// with the given subject, signed by the bundle's CA, and returns the
// certificate and its private key (PKCS#8, unencrypted), PEM-encoded; the
// certificate alone, not the chain. Under the DEFAULT principal mapping
// rule its principal is "User:" and DistinguishedName of the subject, for
// pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}}
// "User:CN=alice,OU=eng". Note that crypto/x509 puts several values of
// one attribute of a pkix.Name (two OUs) in one multi-valued RDN, shown
// "OU=a+OU=b"; ExtraNames gives each its own RDN.
func (b *Bundle) ClientCert(subject pkix.Name) (certPEM, keyPEM []byte, err error) {
	if len(subject.ToRDNSequence()) == 0 {
		return nil, nil, errors.New("tlsconf: client certificate: empty subject")
	}
	certPEM, keyPEM, err = b.issue(&x509.Certificate{
		Subject:     subject,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: client certificate: %w", err)
	}
	return certPEM, keyPEM, nil
}

// ClientConfig returns a new TLS client configuration that trusts the
// bundle's CA (and nothing else), with TLS 1.2 at least. ServerName is
// unset: clients set it, or crypto/tls takes the dialed host.
func (b *Bundle) ClientConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.CACert)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Files are the paths WriteFiles wrote.
type Files struct {
	// CA is ca.pem, the CA certificate: a truststore
	// (ssl.truststore.location with ssl.truststore.type=PEM).
	CA string
	// Server is server.pem, the server's certificate chain and private
	// key in one file, as Kafka's PEM keystore takes them
	// (ssl.keystore.location with ssl.keystore.type=PEM).
	Server string
	// ServerCert is server-cert.pem, the chain alone, and ServerKey
	// server-key.pem, the key alone, for tools that want them apart.
	ServerCert, ServerKey string
}

// WriteFiles writes the bundle's PEM files into dir, creating it if need
// be and replacing files of the same names: ca.pem, server.pem (chain and
// key), server-cert.pem and server-key.pem. Files with the private key
// are readable by their owner only.
func (b *Bundle) WriteFiles(dir string) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("tlsconf: write files: %w", err)
	}
	f := Files{
		CA:         filepath.Join(dir, "ca.pem"),
		Server:     filepath.Join(dir, "server.pem"),
		ServerCert: filepath.Join(dir, "server-cert.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
	}
	server := append(append([]byte(nil), b.ServerCert...), b.ServerKey...)
	for _, w := range []struct {
		path string
		data []byte
		perm fs.FileMode
	}{
		{f.CA, b.CACert, 0o644},
		{f.Server, server, 0o600},
		{f.ServerCert, b.ServerCert, 0o644},
		{f.ServerKey, b.ServerKey, 0o600},
	} {
		if err := writeFile(w.path, w.data, w.perm); err != nil {
			return Files{}, fmt.Errorf("tlsconf: write files: %w", err)
		}
	}
	return f, nil
}

// writeFile replaces path with data atomically, with mode perm.
func writeFile(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	done = true
	return nil
}

// pemEncode is one PEM block.
func pemEncode(label string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: label, Bytes: der})
}
