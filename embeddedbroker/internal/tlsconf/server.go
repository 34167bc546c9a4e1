package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// ServerConfig builds a listener's TLS configuration from its ssl.*
// settings: the server certificate from the keystore, the client
// certificate policy (ssl.client.auth) and the CAs that verify client
// certificates (the truststore; without one, the system's roots, as the
// JDK falls back to its cacerts), the protocol versions and the cipher
// suites. The files are read once, now.
//
// Errors name the config at fault, quoting its value unless it is a
// password (ssl.keystore.key, ...): `ssl.keystore.location "/x.pem": no
// private key found`. They match configs.ErrInvalid, or
// configs.ErrUnsupported for what Kafka takes and the embedded broker
// does not (JKS and PKCS12 stores, ...), and wrap the os errors of
// reading files.
func ServerConfig(s Settings) (*tls.Config, error) {
	c, err := s.check()
	if err != nil {
		return nil, err
	}
	cert, err := s.keystore()
	if err != nil {
		return nil, err
	}
	roots, err := s.truststore()
	if err != nil {
		return nil, err
	}
	if c.maxV == tls.VersionTLS12 && len(c.suiteNames) > 0 {
		_, rsaKey := cert.PrivateKey.(*rsa.PrivateKey)
		if !suitesFit(c.suiteNames, rsaKey) {
			kind := "an ECDSA or Ed25519"
			if rsaKey {
				kind = "an RSA"
			}
			return nil, s.invalid("ssl.cipher.suites", strings.Join(s.CipherSuites, ","), "no suite can be used with the keystore's key (%s key) over TLS 1.2", kind)
		}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   c.clientAuth.tlsClientAuth(),
		ClientCAs:    roots,
		MinVersion:   c.minV,
		MaxVersion:   c.maxV,
		CipherSuites: c.suites,
	}, nil
}

// storeType is a store type, empty meaning PEM.
func storeType(t string) string {
	if t == "" {
		return "PEM"
	}
	return t
}

// keystore loads the server certificate as Kafka's DefaultSslEngineFactory
// does (createKeystore), with its checks in its order.
func (s *Settings) keystore() (tls.Certificate, error) {
	typ := storeType(s.KeystoreType)
	switch {
	case s.KeystoreKey != "":
		switch {
		case typ != "PEM":
			return tls.Certificate{}, s.unsupportedStore("ssl.keystore.type", s.KeystoreType, "ssl.keystore.key")
		case s.KeystoreCertificateChain == "":
			return tls.Certificate{}, s.invalid("ssl.keystore.key", "", "set, but %s is not", s.nameOf("ssl.keystore.certificate.chain"))
		case s.KeystoreLocation != "":
			return tls.Certificate{}, s.invalid("ssl.keystore.key", "", "set together with %s: set only one of them", s.nameOf("ssl.keystore.location"))
		case s.KeystorePassword != "":
			return tls.Certificate{}, s.invalid("ssl.keystore.password", "", "cannot be set with PEM, only ssl.key.password can")
		}
		return s.certificate("ssl.keystore.key", "", s.KeystoreKey, "ssl.keystore.certificate.chain", s.KeystoreCertificateChain)
	case s.KeystoreCertificateChain != "":
		return tls.Certificate{}, s.invalid("ssl.keystore.certificate.chain", "", "set, but %s is not", s.nameOf("ssl.keystore.key"))
	case s.KeystoreLocation != "":
		if typ != "PEM" {
			return tls.Certificate{}, s.unsupportedStore("ssl.keystore.type", s.KeystoreType, "ssl.keystore.location")
		}
		if s.KeystorePassword != "" {
			return tls.Certificate{}, s.invalid("ssl.keystore.password", "", "cannot be set with PEM, only ssl.key.password can")
		}
		data, err := os.ReadFile(s.KeystoreLocation)
		if err != nil {
			return tls.Certificate{}, s.wrap("ssl.keystore.location", s.KeystoreLocation, err, "")
		}
		return s.certificate("ssl.keystore.location", s.KeystoreLocation, string(data), "ssl.keystore.location", string(data))
	}
	return tls.Certificate{}, s.invalid("ssl.keystore.location", "", "not set: a TLS listener needs a certificate (ssl.keystore.type=PEM with ssl.keystore.location, or ssl.keystore.key and ssl.keystore.certificate.chain)")
}

// unsupportedStore refuses a store type other than PEM.
func (s *Settings) unsupportedStore(config, typ, with string) error {
	if typ == "JKS" || typ == "PKCS12" {
		return s.unsupported(config, typ, "only PEM is supported (KIP-651): set %s=PEM and convert the store to PEM (keytool -importkeystore to PKCS12, then openssl pkcs12 -nodes)", s.nameOf(config))
	}
	return s.unsupported(config, typ, "only PEM is supported with %s", s.nameOf(with))
}

// certificate parses a private key and a certificate chain, and checks
// that the key is that of the first certificate.
func (s *Settings) certificate(keyConfig, value, keyPEM, chainConfig, chainPEM string) (tls.Certificate, error) {
	// value is the path of a PEM file, which errors quote; inline PEM
	// (a password config) never is.
	certs, err := parseCertificates(chainPEM)
	if err != nil {
		return tls.Certificate{}, s.wrap(chainConfig, value, err, "")
	}
	key, err := parsePrivateKey(keyPEM, s.KeyPassword)
	if err != nil {
		if errors.Is(err, errUnsupportedKey) {
			return tls.Certificate{}, s.newConfigError(configs.ErrUnsupported, keyConfig, value, err, "")
		}
		return tls.Certificate{}, s.wrap(keyConfig, value, err, "")
	}
	leaf := certs[0]
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return tls.Certificate{}, s.unsupported(chainConfig, value, "the first certificate has a %s key: only RSA, ECDSA and Ed25519 keys are supported", leaf.PublicKeyAlgorithm)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		where := "the first certificate"
		if chainConfig != keyConfig {
			where = "the first certificate of " + s.nameOf(chainConfig)
		}
		return tls.Certificate{}, s.invalid(keyConfig, value, "the private key does not match %s (%s), which must be the server's own", where, leaf.Subject)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range certs {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}

// truststore loads the CAs of client certificates as Kafka's
// createTruststore does; nil without a truststore.
func (s *Settings) truststore() (*x509.CertPool, error) {
	typ := storeType(s.TruststoreType)
	var text, config, value string
	switch {
	case s.TruststoreCertificates != "":
		switch {
		case typ != "PEM":
			return nil, s.unsupportedStore("ssl.truststore.type", s.TruststoreType, "ssl.truststore.certificates")
		case s.TruststoreLocation != "":
			return nil, s.invalid("ssl.truststore.certificates", "", "set together with %s: set only one of them", s.nameOf("ssl.truststore.location"))
		case s.TruststorePassword != "":
			return nil, s.invalid("ssl.truststore.password", "", "cannot be set with PEM")
		}
		text, config = s.TruststoreCertificates, "ssl.truststore.certificates"
	case s.TruststoreLocation != "":
		if typ != "PEM" {
			return nil, s.unsupportedStore("ssl.truststore.type", s.TruststoreType, "ssl.truststore.location")
		}
		if s.TruststorePassword != "" {
			return nil, s.invalid("ssl.truststore.password", "", "cannot be set with PEM")
		}
		data, err := os.ReadFile(s.TruststoreLocation)
		if err != nil {
			return nil, s.wrap("ssl.truststore.location", s.TruststoreLocation, err, "")
		}
		text, config, value = string(data), "ssl.truststore.location", s.TruststoreLocation
	case s.TruststorePassword != "":
		return nil, s.invalid("ssl.truststore.password", "", "set, but there is no truststore")
	default:
		return nil, nil
	}
	certs, err := parseCertificates(text)
	if err != nil {
		return nil, s.wrap(config, value, err, "")
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
