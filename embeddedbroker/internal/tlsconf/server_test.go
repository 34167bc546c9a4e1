package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"hash"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// TestClientAuth checks ssl.client.auth with and without client
// certificates, over TLS 1.2 and 1.3, and the principals.
func TestClientAuth(t *testing.T) {
	b, other := testBundles(t)
	alice := clientCert(t, b, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}})
	foreign := clientCert(t, other, pkix.Name{CommonName: "mallory"})
	for _, tc := range []struct {
		auth    string
		cert    *tls.Certificate
		certDN  string
		force   bool // send cert even when the server asks for another CA's
		wantErr bool
		want    string // principal with DEFAULT
	}{
		{auth: "", want: Anonymous},
		{auth: "none", want: Anonymous},
		{auth: "none", cert: alice, certDN: "alice", want: Anonymous}, // not asked for
		{auth: "requested", want: Anonymous},
		{auth: "requested", cert: alice, certDN: "alice", want: "User:CN=alice,OU=eng"},
		// A client sends no certificate of a CA the server does not list.
		{auth: "requested", cert: foreign, certDN: "foreign", want: Anonymous},
		{auth: "requested", cert: foreign, certDN: "foreign-forced", force: true, wantErr: true},
		{auth: "required", wantErr: true},
		{auth: "required", cert: alice, certDN: "alice", want: "User:CN=alice,OU=eng"},
		{auth: "required", cert: foreign, certDN: "foreign", wantErr: true},
		{auth: "required", cert: foreign, certDN: "foreign-forced", force: true, wantErr: true},
	} {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tc.auth+"/"+tc.certDN+"/"+tls.VersionName(v), func(t *testing.T) {
				s := inline(b)
				s.ClientAuth = tc.auth
				client := clientConfig(b, tc.cert)
				client.MaxVersion = v
				if tc.force {
					client.Certificates = nil
					client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tc.cert, nil }
				}
				r := handshake(t, serverConfig(t, s), client)
				if tc.wantErr {
					if r.serverErr == nil || r.clientErr == nil {
						t.Fatalf("handshake succeeded: server %v, client %v", r.serverErr, r.clientErr)
					}
					return
				}
				r.mustSucceed(t)
				m, err := ParsePrincipalRules("DEFAULT")
				if err != nil {
					t.Fatal(err)
				}
				if p, err := m.Principal(r.server); err != nil || p != tc.want {
					t.Errorf("principal %q, %v; want %q", p, err, tc.want)
				}
			})
		}
	}
}

// TestPrincipalMappingHandshake checks the principal of a client
// certificate mapped by rules given as a listener's config.
func TestPrincipalMappingHandshake(t *testing.T) {
	b, _ := testBundles(t)
	props := map[string]string{
		"ssl.keystore.type":                                  "PEM",
		"ssl.keystore.certificate.chain":                     string(b.ServerCert),
		"ssl.keystore.key":                                   string(b.ServerKey),
		"ssl.truststore.type":                                "PEM",
		"ssl.truststore.certificates":                        string(b.CACert),
		"ssl.client.auth":                                    "required",
		"listener.name.mtls.ssl.principal.mapping.rules":     `RULE:^CN=(.*?),OU=(.*?)$/$1/L,DEFAULT`,
		"listener.name.internal.ssl.principal.mapping.rules": "RULE:^CN=(.*?),OU=(.*?)$/$2/U",
	}
	for _, tc := range []struct {
		listener string
		subject  pkix.Name
		want     string
		wantErr  string
	}{
		{"MTLS", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}}, "User:alice", ""},
		{"MTLS", pkix.Name{CommonName: "Alice", OrganizationalUnit: []string{"Eng"}}, "User:alice", ""},
		{"MTLS", pkix.Name{CommonName: "bob"}, "User:CN=bob", ""},
		{"INTERNAL", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}}, "User:ENG", ""},
		{"INTERNAL", pkix.Name{CommonName: "bob"}, "", "No rules apply to CN=bob, rules [RULE:^CN=(.*?),OU=(.*?)$/$2/U]"},
		{"OTHER", pkix.Name{CommonName: "bob", Country: []string{"US"}}, "User:CN=bob,C=US", ""},
	} {
		t.Run(tc.listener+"/"+tc.subject.String(), func(t *testing.T) {
			s, err := FromConfigs(props, tc.listener)
			if err != nil {
				t.Fatal(err)
			}
			r := handshake(t, serverConfig(t, s), clientConfig(b, clientCert(t, b, tc.subject)))
			r.mustSucceed(t)
			m, err := ParsePrincipalRules(s.PrincipalMappingRules)
			if err != nil {
				t.Fatal(err)
			}
			p, err := m.Principal(r.server)
			if tc.wantErr != "" {
				var nm *NoMatchingRuleError
				if !errors.As(err, &nm) || !strings.Contains(err.Error(), tc.wantErr) || nm.DN != "CN=bob" {
					t.Errorf("principal %q, error %v; want %q", p, err, tc.wantErr)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Errorf("principal %q, %v; want %q", p, err, tc.want)
			}
		})
	}
}

// TestServerConfigErrors checks that each bad setting is refused with an
// error naming the config, of the right kind, without secrets.
func TestServerConfigErrors(t *testing.T) {
	b, other := testBundles(t)
	dir := t.TempDir()
	certOnly := writeTemp(t, dir, "cert-only.pem", b.ServerCert)
	keyOnly := writeTemp(t, dir, "key-only.pem", b.ServerKey)
	twoKeys := writeTemp(t, dir, "two-keys.pem", b.ServerCert, b.ServerKey, other.ServerKey)
	mismatch := writeTemp(t, dir, "mismatch.pem", b.ServerCert, other.ServerKey)
	badB64 := writeTemp(t, dir, "bad.pem", []byte("-----BEGIN CERTIFICATE-----\nMII*B\n-----END CERTIFICATE-----\n"), b.ServerKey)
	noEnd := writeTemp(t, dir, "noend.pem", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"))
	wrongEnd := writeTemp(t, dir, "wrongend.pem", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n"))
	trusted := writeTemp(t, dir, "trusted.pem", []byte("-----BEGIN TRUSTED CERTIFICATE-----\nMIIB\n-----END TRUSTED CERTIFICATE-----\n"))
	garbageCert := writeTemp(t, dir, "garbage.pem", pemEncode("CERTIFICATE", []byte("not DER")), b.ServerKey)
	dsa := writeTemp(t, dir, "dsa.pem", b.ServerCert, []byte("-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n"))
	encrypted := readTestdata(t, "openssl-key-aes256.pem")
	opensslCert := readTestdata(t, "openssl-cert.pem")
	invalid := []error{configs.ErrInvalid}
	unsupported := []error{configs.ErrUnsupported, configs.ErrInvalid}
	for _, tc := range []struct {
		name string
		edit func(*Settings)
		is   []error
		want []string
	}{
		{"missing keystore file", func(s *Settings) { *s = Settings{KeystoreLocation: "/nonexistent/x.pem"} },
			[]error{configs.ErrInvalid, fs.ErrNotExist}, []string{`ssl.keystore.location "/nonexistent/x.pem": open /nonexistent/x.pem: no such file or directory`}},
		{"missing truststore file", func(s *Settings) { s.TruststoreCertificates, s.TruststoreLocation = "", "/nonexistent/ca.pem" },
			[]error{configs.ErrInvalid, fs.ErrNotExist}, []string{`ssl.truststore.location "/nonexistent/ca.pem": open`}},
		{"no private key", func(s *Settings) { *s = Settings{KeystoreLocation: certOnly} },
			invalid, []string{`ssl.keystore.location "` + certOnly + `": no private key found`}},
		{"no certificate", func(s *Settings) { *s = Settings{KeystoreLocation: keyOnly} },
			invalid, []string{`ssl.keystore.location "` + keyOnly + `": no certificate found`}},
		{"two keys", func(s *Settings) { *s = Settings{KeystoreLocation: twoKeys} },
			invalid, []string{`ssl.keystore.location "` + twoKeys + `": 2 private keys found, expected one`}},
		{"key does not match (file)", func(s *Settings) { *s = Settings{KeystoreLocation: mismatch} },
			invalid, []string{`ssl.keystore.location "` + mismatch + `": the private key does not match the first certificate (CN=localhost)`}},
		{"key does not match (inline)", func(s *Settings) { s.KeystoreKey = string(other.ServerKey) },
			invalid, []string{"ssl.keystore.key: the private key does not match the first certificate of ssl.keystore.certificate.chain"}},
		{"chain in wrong order", func(s *Settings) {
			chain, _ := parseCertificates(string(b.ServerCert))
			s.KeystoreCertificateChain = string(append(pemEncode("CERTIFICATE", chain[1].Raw), pemEncode("CERTIFICATE", chain[0].Raw)...))
		}, invalid, []string{"ssl.keystore.key: the private key does not match", "which must be the server's own"}},
		{"bad base64", func(s *Settings) { *s = Settings{KeystoreLocation: badB64} },
			invalid, []string{`ssl.keystore.location "` + badB64 + `": PEM entry CERTIFICATE: '*' is not base64`}},
		{"no END", func(s *Settings) { *s = Settings{KeystoreLocation: noEnd} },
			invalid, []string{"PEM entry CERTIFICATE has no END line"}},
		{"wrong END", func(s *Settings) { *s = Settings{KeystoreLocation: wrongEnd} },
			invalid, []string{"PEM entry CERTIFICATE ends with END PRIVATE KEY"}},
		{"trusted certificate", func(s *Settings) { s.TruststoreCertificates, s.TruststoreLocation = "", trusted },
			invalid, []string{`ssl.truststore.location "` + trusted + `": PEM entry TRUSTED CERTIFICATE is not supported`}},
		{"not a certificate", func(s *Settings) { *s = Settings{KeystoreLocation: garbageCert} },
			invalid, []string{`ssl.keystore.location "` + garbageCert + `": certificate 1: x509:`}},
		{"DSA key", func(s *Settings) { *s = Settings{KeystoreLocation: dsa} },
			unsupported, []string{`ssl.keystore.location "` + dsa + `": unsupported private key: DSA PRIVATE KEY entries are not supported`}},
		{"empty truststore", func(s *Settings) { s.TruststoreCertificates = "no PEM here" },
			invalid, []string{"ssl.truststore.certificates: no certificate found"}},
		{"JKS keystore", func(s *Settings) {
			*s = Settings{KeystoreType: "JKS", KeystoreLocation: "/x.jks", KeystorePassword: "pw"}
		},
			unsupported, []string{`ssl.keystore.type "JKS": only PEM is supported (KIP-651): set ssl.keystore.type=PEM`}},
		{"PKCS12 keystore with inline key", func(s *Settings) { s.KeystoreType = "PKCS12" },
			unsupported, []string{`ssl.keystore.type "PKCS12": only PEM is supported`}},
		{"lower-case pem", func(s *Settings) { s.KeystoreType = "pem" },
			unsupported, []string{`ssl.keystore.type "pem": only PEM is supported with ssl.keystore.key`}},
		{"JKS truststore", func(s *Settings) {
			s.TruststoreType, s.TruststoreCertificates, s.TruststoreLocation = "JKS", "", "/ts.jks"
		},
			unsupported, []string{`ssl.truststore.type "JKS": only PEM is supported`}},
		{"PKCS12 truststore with inline certificates", func(s *Settings) { s.TruststoreType = "PKCS12" },
			unsupported, []string{`ssl.truststore.type "PKCS12"`}},
		{"chain without key", func(s *Settings) { s.KeystoreKey = "" },
			invalid, []string{"ssl.keystore.certificate.chain: set, but ssl.keystore.key is not"}},
		{"key without chain", func(s *Settings) { s.KeystoreCertificateChain = "" },
			invalid, []string{"ssl.keystore.key: set, but ssl.keystore.certificate.chain is not"}},
		{"key and location", func(s *Settings) { s.KeystoreLocation = "/x.pem" },
			invalid, []string{"ssl.keystore.key: set together with ssl.keystore.location"}},
		{"keystore password with PEM", func(s *Settings) { s.KeystorePassword = "pw-1" },
			invalid, []string{"ssl.keystore.password: cannot be set with PEM, only ssl.key.password can"}},
		{"keystore password with PEM file", func(s *Settings) { *s = Settings{KeystoreLocation: certOnly, KeystorePassword: "pw-1"} },
			invalid, []string{"ssl.keystore.password: cannot be set with PEM"}},
		{"truststore password with PEM", func(s *Settings) { s.TruststorePassword = "pw-2" },
			invalid, []string{"ssl.truststore.password: cannot be set with PEM"}},
		{"truststore password alone", func(s *Settings) { s.TruststoreCertificates, s.TruststorePassword = "", "pw-2" },
			invalid, []string{"ssl.truststore.password: set, but there is no truststore"}},
		{"truststore certificates and location", func(s *Settings) { s.TruststoreLocation = "/ca.pem" },
			invalid, []string{"ssl.truststore.certificates: set together with ssl.truststore.location"}},
		{"no keystore", func(s *Settings) { *s = Settings{} },
			invalid, []string{"ssl.keystore.location: not set: a TLS listener needs a certificate"}},
		{"bad client auth", func(s *Settings) { s.ClientAuth = "REQUIRED" },
			invalid, []string{`ssl.client.auth "REQUIRED": must be none, requested or required`}},
		{"other client auth", func(s *Settings) { s.ClientAuth = "want" },
			invalid, []string{`ssl.client.auth "want"`}},
		{"unknown cipher", func(s *Settings) { s.CipherSuites = []string{"TLS_AES_128_GCM_SHA256", "TLS_FOO_WITH_BAR"} },
			invalid, []string{`ssl.cipher.suites "TLS_AES_128_GCM_SHA256,TLS_FOO_WITH_BAR": unknown cipher suite TLS_FOO_WITH_BAR: Go's crypto/tls implements TLS_AES_128_GCM_SHA256,`}},
		{"cipher Go does not implement", func(s *Settings) { s.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"} },
			invalid, []string{"unknown cipher suite TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"}},
		{"insecure cipher", func(s *Settings) { s.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_RC4_128_SHA"} },
			unsupported, []string{"TLS_ECDHE_RSA_WITH_RC4_128_SHA is insecure"}},
		{"only the SCSV", func(s *Settings) { s.CipherSuites = []string{"TLS_EMPTY_RENEGOTIATION_INFO_SCSV"} },
			invalid, []string{"no cipher suite"}},
		{"TLS 1.3 suites, TLS 1.2 only", func(s *Settings) {
			s.CipherSuites, s.EnabledProtocols = []string{"TLS_AES_128_GCM_SHA256"}, []string{"TLSv1.2"}
		}, invalid, []string{"has TLS 1.3 suites only, but ssl.enabled.protocols does not enable TLSv1.3"}},
		{"TLS 1.2 suites, TLS 1.3 only", func(s *Settings) {
			s.CipherSuites, s.EnabledProtocols = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, []string{"TLSv1.3"}
		}, invalid, []string{"has no TLS 1.3 suite, but ssl.enabled.protocols enables TLSv1.3 only"}},
		{"suites that do not suit the key", func(s *Settings) {
			s.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
		}, invalid, []string{"ssl.cipher.suites \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\": no suite can be used with the keystore's key (an ECDSA or Ed25519 key) over TLS 1.2"}},
		{"TLSv1.1", func(s *Settings) { s.EnabledProtocols = []string{"TLSv1.1", "TLSv1.2"} },
			unsupported, []string{`ssl.enabled.protocols "TLSv1.1,TLSv1.2": TLSv1.1 is not supported`}},
		{"unknown protocol", func(s *Settings) { s.EnabledProtocols = []string{"TLSv9"} },
			invalid, []string{`ssl.enabled.protocols "TLSv9": unknown protocol "TLSv9"`}},
		{"ssl.protocol SSLv3", func(s *Settings) { s.Protocol = "SSLv3" },
			unsupported, []string{`ssl.protocol "SSLv3": not supported`}},
		{"ssl.protocol unknown", func(s *Settings) { s.Protocol = "TLSv1.4" },
			invalid, []string{`ssl.protocol "TLSv1.4": unknown protocol`}},
		{"bad principal rules", func(s *Settings) { s.PrincipalMappingRules = "RULE:^CN=(?=x)/y/" },
			invalid, []string{"ssl.principal.mapping.rules: rule \"RULE:^CN=(?=x)/y/\": pattern \"^CN=(?=x)\": lookaheads"}},
		{"encrypted key without password", func(s *Settings) { *s = Settings{KeystoreKey: encrypted, KeystoreCertificateChain: opensslCert} },
			invalid, []string{"ssl.keystore.key: the private key is encrypted: set ssl.key.password"}},
		{"wrong password", func(s *Settings) {
			*s = Settings{KeystoreKey: encrypted, KeystoreCertificateChain: opensslCert, KeyPassword: "pw-3"}
		}, invalid, []string{"ssl.keystore.key: cannot decrypt the private key: wrong ssl.key.password, or a corrupt key"}},
		{"password with an unencrypted key", func(s *Settings) { s.KeyPassword = "pw-4" },
			invalid, []string{"ssl.keystore.key: ssl.key.password is set, but the private key is not encrypted"}},
		{"PBES1 key", func(s *Settings) {
			*s = Settings{KeystoreKey: readTestdata(t, "openssl-key-pbes1.pem"), KeystoreCertificateChain: opensslCert, KeyPassword: "secret"}
		}, unsupported, []string{"ssl.keystore.key: unsupported private key: ENCRYPTED PRIVATE KEY: encryption scheme 1.2.840.113549.1.12.1.3 is not supported, only PBES2"}},
		{"scrypt key", func(s *Settings) {
			*s = Settings{KeystoreKey: readTestdata(t, "openssl-key-scrypt.pem"), KeystoreCertificateChain: opensslCert, KeyPassword: "secret"}
		}, unsupported, []string{"the scrypt key derivation is not supported"}},
		{"legacy encrypted key", func(s *Settings) {
			*s = Settings{KeystoreKey: readTestdata(t, "openssl-key-legacy.pem"), KeystoreCertificateChain: opensslCert, KeyPassword: "secret"}
		}, unsupported, []string{"EC PRIVATE KEY encrypted the legacy OpenSSL way (Proc-Type: 4,ENCRYPTED)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := inline(b)
			tc.edit(&s)
			cfg, err := ServerConfig(s)
			if cfg != nil {
				t.Errorf("a config with the error")
			}
			checkErr(t, err, tc.is, tc.want...)
			if err == nil {
				return
			}
			secrets := []string{"pw-1", "pw-2", "pw-3", "pw-4", "secret"}
			for _, p := range []string{string(b.ServerKey), string(other.ServerKey), string(b.ServerCert), encrypted} {
				secrets = append(secrets, strings.Split(p, "\n")[1])
			}
			for _, secret := range secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows %q", err, secret)
				}
			}
			if !slices.Contains(tc.is, configs.ErrUnsupported) && errors.Is(err, configs.ErrUnsupported) {
				t.Errorf("error %q is ErrUnsupported", err)
			}
		})
	}
}

// TestVersionsAndSuites checks ssl.enabled.protocols, ssl.protocol and
// ssl.cipher.suites, and what a handshake then negotiates.
func TestVersionsAndSuites(t *testing.T) {
	b, _ := testBundles(t)
	for _, tc := range []struct {
		name       string
		protocols  []string
		protocol   string
		suites     []string
		minV, maxV uint16
		ids        []uint16
		negotiated uint16 // suite, with a client of default settings
	}{
		{name: "defaults", minV: tls.VersionTLS12, maxV: tls.VersionTLS13, negotiated: tls.TLS_AES_128_GCM_SHA256},
		{name: "both", protocols: []string{"TLSv1.3", "TLSv1.2"}, minV: tls.VersionTLS12, maxV: tls.VersionTLS13},
		{name: "TLS 1.2 only", protocols: []string{"TLSv1.2"}, minV: tls.VersionTLS12, maxV: tls.VersionTLS12, negotiated: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{name: "TLS 1.3 only", protocols: []string{"TLSv1.3"}, minV: tls.VersionTLS13, maxV: tls.VersionTLS13},
		{name: "ssl.protocol TLSv1.2 does not cap", protocol: "TLSv1.2", minV: tls.VersionTLS12, maxV: tls.VersionTLS13},
		{name: "ssl.protocol TLS", protocol: "TLS", minV: tls.VersionTLS12, maxV: tls.VersionTLS13},
		{name: "TLS 1.2 suites disable TLS 1.3", suites: []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			minV: tls.VersionTLS12, maxV: tls.VersionTLS12, ids: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
			negotiated: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{name: "TLS 1.3 suites disable TLS 1.2", suites: []string{"TLS_AES_256_GCM_SHA384"}, minV: tls.VersionTLS13, maxV: tls.VersionTLS13},
		{name: "mixed", suites: []string{"TLS_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
			minV: tls.VersionTLS12, maxV: tls.VersionTLS13, ids: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
		{name: "Java names", suites: []string{"SSL_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"},
			minV: tls.VersionTLS12, maxV: tls.VersionTLS12, ids: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
			negotiated: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := inline(b)
			s.EnabledProtocols, s.Protocol, s.CipherSuites = tc.protocols, tc.protocol, tc.suites
			cfg := serverConfig(t, s)
			if cfg.MinVersion != tc.minV || cfg.MaxVersion != tc.maxV || !slices.Equal(cfg.CipherSuites, tc.ids) {
				t.Errorf("versions %x..%x, suites %x; want %x..%x, %x", cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites, tc.minV, tc.maxV, tc.ids)
			}
			r := handshake(t, cfg, clientConfig(b, nil))
			r.mustSucceed(t)
			if r.server.Version != tc.maxV {
				t.Errorf("negotiated %s, want %s", tls.VersionName(r.server.Version), tls.VersionName(tc.maxV))
			}
			if tc.negotiated != 0 && r.server.CipherSuite != tc.negotiated {
				t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(r.server.CipherSuite), tls.CipherSuiteName(tc.negotiated))
			}
			// A client that only speaks the version the server disabled
			// fails.
			if tc.minV == tls.VersionTLS13 || tc.maxV == tls.VersionTLS12 {
				c := clientConfig(b, nil)
				if tc.maxV == tls.VersionTLS12 {
					c.MinVersion = tls.VersionTLS13
				} else {
					c.MaxVersion = tls.VersionTLS12
				}
				if r := handshake(t, cfg, c); r.serverErr == nil {
					t.Error("a client of a disabled version connected")
				}
			}
		})
	}
}

// TestKeyFormats checks the private key forms ServerConfig reads, with
// RSA, ECDSA and Ed25519 keys, inline and from a file.
func TestKeyFormats(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemEncode("PRIVATE KEY", der)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	// openssl ecparam -genkey writes EC PARAMETERS before the key.
	sec1 := append(pemEncode("EC PARAMETERS", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}), pemEncode("EC PRIVATE KEY", ecDER)...)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		keyPE []byte
	}{
		{"RSA PKCS#8", rsaKey, pkcs8(rsaKey)},
		{"RSA PKCS#1", rsaKey, pemEncode("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))},
		{"ECDSA PKCS#8", ecKey, pkcs8(ecKey)},
		{"ECDSA SEC 1", ecKey, sec1},
		{"Ed25519 PKCS#8", edKey, pkcs8(edKey)},
	} {
		certPEM := selfSigned(t, tc.key)
		for _, where := range []string{"inline", "file"} {
			t.Run(tc.name+"/"+where, func(t *testing.T) {
				s := Settings{KeystoreKey: string(tc.keyPE), KeystoreCertificateChain: string(certPEM)}
				if where == "file" {
					s = Settings{KeystoreLocation: writeTemp(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".pem", []byte("Bag Attributes: junk before\n"), tc.keyPE, certPEM)}
				}
				cfg := serverConfig(t, s)
				for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
					c := trusting(t, certPEM)
					c.MaxVersion = v
					handshake(t, cfg, c).mustSucceed(t)
				}
			})
		}
	}
	t.Run("RSA suites with an RSA key", func(t *testing.T) {
		s := Settings{KeystoreKey: string(pkcs8(rsaKey)), KeystoreCertificateChain: string(selfSigned(t, rsaKey)),
			CipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}}
		cfg := serverConfig(t, s)
		r := handshake(t, cfg, trusting(t, []byte(s.KeystoreCertificateChain)))
		r.mustSucceed(t)
		if r.server.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
			t.Errorf("suite %s", tls.CipherSuiteName(r.server.CipherSuite))
		}
		s.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}
		_, err := ServerConfig(s)
		checkErr(t, err, []error{configs.ErrInvalid}, "(an RSA key)")
	})
}

// TestEncryptedKeys checks keys encrypted by OpenSSL with PBES2
// (openssl pkcs8 -topk8 -v2 ...), decrypted with ssl.key.password.
func TestEncryptedKeys(t *testing.T) {
	certPEM := readTestdata(t, "openssl-cert.pem")
	dir := t.TempDir()
	for _, name := range []string{"aes256", "aes128sha1", "des3"} {
		t.Run(name, func(t *testing.T) {
			keyPEM := readTestdata(t, "openssl-key-"+name+".pem")
			for _, s := range []Settings{
				{KeystoreKey: keyPEM, KeystoreCertificateChain: certPEM, KeyPassword: "secret"},
				{KeystoreLocation: writeTemp(t, dir, name+".pem", []byte(certPEM), []byte(keyPEM)), KeyPassword: "secret"},
			} {
				handshake(t, serverConfig(t, s), trusting(t, []byte(certPEM))).mustSucceed(t)
			}
		})
	}
}

// encryptPKCS8 encrypts a private key as OpenSSL's pkcs8 -topk8 -v2
// does: PBES2, PBKDF2 with the given PRF, and the given CBC cipher.
func encryptPKCS8(t *testing.T, key crypto.Signer, password string, prf asn1.ObjectIdentifier, newHash func() hash.Hash, cipherOID asn1.ObjectIdentifier, keyLen int) string {
	t.Helper()
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	salt, iv := make([]byte, 16), make([]byte, aes.BlockSize)
	rand.Read(salt)
	rand.Read(iv)
	k, err := pbkdf2.Key(newHash, password, salt, 1000, keyLen)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(n)}, n)...)
	cipherText := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(cipherText, plain)
	must := func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kdf := must(asn1.Marshal(pbkdf2Params{Salt: salt, IterationCount: 1000, KeyLength: keyLen, PRF: pkix.AlgorithmIdentifier{Algorithm: prf, Parameters: asn1.NullRawValue}}))
	ivDER := must(asn1.Marshal(iv))
	params := must(asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: cipherOID, Parameters: asn1.RawValue{FullBytes: ivDER}},
	}))
	der := must(asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: cipherText,
	}))
	return string(pemEncode("ENCRYPTED PRIVATE KEY", der))
}

// TestPBES2Variants checks the PBKDF2 PRFs and AES key sizes the OpenSSL
// fixtures do not use.
func TestPBES2Variants(t *testing.T) {
	b, _ := testBundles(t)
	key, err := parsePrivateKey(string(b.ServerKey), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		prf    asn1.ObjectIdentifier
		hash   func() hash.Hash
		cipher asn1.ObjectIdentifier
		keyLen int
	}{
		{"SHA-224 AES-128", oidHMACSHA224, sha256.New224, oidAES128CBC, 16},
		{"SHA-384 AES-192", oidHMACSHA384, sha512.New384, oidAES192CBC, 24},
		{"SHA-512 AES-256", oidHMACSHA512, sha512.New, oidAES256CBC, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := inline(b)
			s.KeystoreKey, s.KeyPassword = encryptPKCS8(t, key, "pässwörd", tc.prf, tc.hash, tc.cipher, tc.keyLen), "pässwörd"
			handshake(t, serverConfig(t, s), clientConfig(b, nil)).mustSucceed(t)
			s.KeyPassword = "passwort"
			_, err := ServerConfig(s)
			checkErr(t, err, []error{configs.ErrInvalid}, "cannot decrypt the private key")
		})
	}
}

// TestOneLinePEM checks PEM written on one line, as a properties value
// continued with backslashes becomes, and with CRLF line ends.
func TestOneLinePEM(t *testing.T) {
	b, _ := testBundles(t)
	oneLine := func(p []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(p)), "\n", " ") }
	crlf := func(p []byte) string { return strings.ReplaceAll(string(p), "\n", "\r\n") }
	for _, tc := range []struct {
		name string
		conv func([]byte) string
	}{{"one line", oneLine}, {"CRLF", crlf}} {
		t.Run(tc.name, func(t *testing.T) {
			props := map[string]string{
				"ssl.keystore.type":              "PEM",
				"ssl.keystore.certificate.chain": tc.conv(b.ServerCert),
				"ssl.keystore.key":               tc.conv(b.ServerKey),
				"ssl.truststore.type":            "PEM",
				"ssl.truststore.certificates":    tc.conv(b.CACert),
			}
			s, err := FromConfigs(props, "SSL")
			if err != nil {
				t.Fatal(err)
			}
			handshake(t, serverConfig(t, s), clientConfig(b, nil)).mustSucceed(t)
			s.KeystoreKey, s.KeystoreCertificateChain = "", ""
			s.KeystoreLocation = writeTemp(t, t.TempDir(), "ks.pem", []byte(tc.conv(b.ServerKey)+" "+tc.conv(b.ServerCert)))
			handshake(t, serverConfig(t, s), clientConfig(b, nil)).mustSucceed(t)
		})
	}
}
