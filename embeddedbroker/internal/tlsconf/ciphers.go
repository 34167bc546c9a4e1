package tlsconf

import (
	"crypto/tls"
	"strings"
)

// clientAuthMode is ssl.client.auth.
type clientAuthMode int

const (
	authNone clientAuthMode = iota
	authRequested
	authRequired
)

// tlsClientAuth is the crypto/tls policy of a mode: a certificate that is
// given is always verified, as the JDK does with need and want client
// auth.
func (m clientAuthMode) tlsClientAuth() tls.ClientAuthType {
	switch m {
	case authRequested:
		return tls.VerifyClientCertIfGiven
	case authRequired:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// parseClientAuth reads ssl.client.auth; Kafka's config validator takes
// the three values in lower case only.
func (s *Settings) parseClientAuth() (clientAuthMode, error) {
	switch s.ClientAuth {
	case "", "none":
		return authNone, nil
	case "requested":
		return authRequested, nil
	case "required":
		return authRequired, nil
	}
	return authNone, s.invalid("ssl.client.auth", s.ClientAuth, "must be none, requested or required")
}

// versions reads ssl.enabled.protocols and checks ssl.protocol.
func (s *Settings) versions() (minV, maxV uint16, err error) {
	protos := s.EnabledProtocols
	if len(protos) == 0 {
		protos = splitList(defaultEnabledProtos)
	}
	list := strings.Join(s.EnabledProtocols, ",")
	for _, p := range protos {
		var v uint16
		switch p {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		case "TLSv1", "TLSv1.1", "SSLv3", "SSLv2Hello":
			return 0, 0, s.unsupported("ssl.enabled.protocols", list, "%s is not supported (current JDKs disable it too): use TLSv1.2 and/or TLSv1.3", p)
		default:
			return 0, 0, s.invalid("ssl.enabled.protocols", list, "unknown protocol %q: use TLSv1.2 and/or TLSv1.3", p)
		}
		if minV == 0 || v < minV {
			minV = v
		}
		maxV = max(maxV, v)
	}
	switch s.Protocol {
	case "", "TLS", "TLSv1.2", "TLSv1.3":
	case "TLSv1", "TLSv1.1", "SSL", "SSLv2", "SSLv3":
		return 0, 0, s.unsupported("ssl.protocol", s.Protocol, "not supported: use TLSv1.3, TLSv1.2 or TLS")
	default:
		return 0, 0, s.invalid("ssl.protocol", s.Protocol, "unknown protocol: use TLSv1.3, TLSv1.2 or TLS")
	}
	return minV, maxV, nil
}

// scsvRenegotiation is the signalling suite of RFC 5746 that Java lists
// among its cipher suites; crypto/tls always signals secure renegotiation.
const scsvRenegotiation = "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"

// cipherSuites maps ssl.cipher.suites to crypto/tls suites. Java names
// suites by their IANA names, as crypto/tls does, and takes an SSL_ prefix
// for TLS_. The TLS 1.3 suites cannot be chosen in crypto/tls: naming
// any enables all three. A list without TLS 1.3 suites disables TLS 1.3,
// and one with only TLS 1.3 suites disables TLS 1.2, as in Java.
func (s *Settings) cipherSuites(minV, maxV uint16) (ids []uint16, names []string, newMin, newMax uint16, err error) {
	if len(s.CipherSuites) == 0 {
		return nil, nil, minV, maxV, nil
	}
	list := strings.Join(s.CipherSuites, ",")
	secure := make(map[string]*tls.CipherSuite)
	for _, cs := range tls.CipherSuites() {
		secure[cs.Name] = cs
	}
	insecure := make(map[string]bool)
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	tls13 := false
	for _, name := range s.CipherSuites {
		if name == scsvRenegotiation {
			continue
		}
		lookup := name
		if rest, ok := strings.CutPrefix(name, "SSL_"); ok {
			lookup = "TLS_" + rest
		}
		cs, ok := secure[lookup]
		switch {
		case ok && len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13:
			tls13 = true
		case ok:
			ids = append(ids, cs.ID)
			names = append(names, cs.Name)
		case insecure[lookup]:
			return nil, nil, 0, 0, s.unsupported("ssl.cipher.suites", list, "%s is insecure (crypto/tls.InsecureCipherSuites) and not supported", name)
		default:
			return nil, nil, 0, 0, s.invalid("ssl.cipher.suites", list, "unknown cipher suite %s: Go's crypto/tls implements %s", name, strings.Join(suiteNames(), ", "))
		}
	}
	switch {
	case len(ids) == 0 && !tls13:
		// Only the signalling suite: no suite at all.
		return nil, nil, 0, 0, s.invalid("ssl.cipher.suites", list, "no cipher suite")
	case !tls13:
		if minV > tls.VersionTLS12 {
			return nil, nil, 0, 0, s.invalid("ssl.cipher.suites", list, "has no TLS 1.3 suite, but ssl.enabled.protocols enables TLSv1.3 only")
		}
		maxV = tls.VersionTLS12
	case len(ids) == 0:
		if maxV < tls.VersionTLS13 {
			return nil, nil, 0, 0, s.invalid("ssl.cipher.suites", list, "has TLS 1.3 suites only, but ssl.enabled.protocols does not enable TLSv1.3")
		}
		minV = tls.VersionTLS13
	}
	return ids, names, minV, maxV, nil
}

// suiteNames lists the secure suites crypto/tls implements.
func suiteNames() []string {
	var out []string
	for _, cs := range tls.CipherSuites() {
		out = append(out, cs.Name)
	}
	return out
}

// suitesFit reports whether one of the TLS 1.2 suites can be used with a
// private key of the given kind: ECDHE_ECDSA suites need an ECDSA or
// Ed25519 key, the others an RSA key.
func suitesFit(names []string, rsaKey bool) bool {
	for _, n := range names {
		if strings.Contains(n, "_ECDSA_") != rsaKey {
			return true
		}
	}
	return false
}
