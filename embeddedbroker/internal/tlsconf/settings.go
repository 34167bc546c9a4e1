package tlsconf

import (
	"fmt"
	"strings"
)

// Kafka's defaults of the ssl.* configs FromConfigs fills in.
const (
	defaultStoreType     = "JKS"
	defaultClientAuth    = "none"
	defaultProtocol      = "TLSv1.3"
	defaultMappingRules  = "DEFAULT"
	defaultEnabledProtos = "TLSv1.2,TLSv1.3"
)

// Settings are a listener's ssl.* configs, by Kafka's names (in the
// comments). ServerConfig reads the zero value of a field as Kafka's
// default, except for the two store types, where empty means PEM (the
// only type supported); FromConfigs fills in Kafka's defaults, JKS
// included, so that a listener configured from Kafka properties must say
// ssl.keystore.type=PEM as it must in Kafka.
type Settings struct {
	// KeystoreType is ssl.keystore.type: only PEM is supported (KIP-651);
	// JKS and PKCS12 are refused.
	KeystoreType string
	// KeystoreLocation is ssl.keystore.location: a PEM file holding the
	// private key and the certificate chain, the server's own first.
	KeystoreLocation string
	// KeystoreCertificateChain is ssl.keystore.certificate.chain: the
	// certificate chain itself, PEM, instead of a file.
	KeystoreCertificateChain string
	// KeystoreKey is ssl.keystore.key: the private key itself, PEM, with
	// KeystoreCertificateChain.
	KeystoreKey string
	// KeystorePassword is ssl.keystore.password: refused with PEM, as in
	// Kafka (use KeyPassword).
	KeystorePassword string
	// KeyPassword is ssl.key.password: the password of an encrypted
	// PKCS#8 private key (BEGIN ENCRYPTED PRIVATE KEY, PBES2).
	KeyPassword string
	// TruststoreType is ssl.truststore.type: only PEM is supported.
	TruststoreType string
	// TruststoreLocation is ssl.truststore.location: a PEM file of the CA
	// certificates client certificates are verified with.
	TruststoreLocation string
	// TruststoreCertificates is ssl.truststore.certificates: those
	// certificates themselves, PEM.
	TruststoreCertificates string
	// TruststorePassword is ssl.truststore.password: refused with PEM, as
	// in Kafka.
	TruststorePassword string
	// ClientAuth is ssl.client.auth: none (the default), requested or
	// required.
	ClientAuth string
	// EnabledProtocols is ssl.enabled.protocols: TLSv1.2 and/or TLSv1.3
	// (the default: both).
	EnabledProtocols []string
	// Protocol is ssl.protocol, the protocol of Java's SSLContext:
	// TLSv1.3 (the default), TLSv1.2 or TLS. It is checked but does not
	// limit a server's versions, as with Kafka on a JDK (see the package
	// documentation).
	Protocol string
	// CipherSuites is ssl.cipher.suites, by their IANA (and Java) names;
	// empty means Go's defaults.
	CipherSuites []string
	// PrincipalMappingRules is ssl.principal.mapping.rules (Kafka's
	// default: DEFAULT, which FromConfigs fills in; empty means no rules,
	// as in Kafka). ServerConfig only checks it: ParsePrincipalRules makes
	// the mapper.
	PrincipalMappingRules string

	// given maps Kafka's name of a config to the property it was read
	// from, when that was a listener-prefixed one (FromConfigs), so that
	// errors name what the user wrote.
	given map[string]string
}

// nameOf is the name of config as given: listener-prefixed when it came
// with the prefix.
func (s *Settings) nameOf(config string) string {
	if n, ok := s.given[config]; ok {
		return n
	}
	return config
}

// String shows the settings with the values of passwords, inline keys and
// certificates hidden.
func (s Settings) String() string {
	var b strings.Builder
	b.WriteString("tlsconf.Settings{")
	first := true
	add := func(config, value string) {
		if value == "" {
			return
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		if isSecret(config) {
			value = "[hidden]"
		}
		fmt.Fprintf(&b, "%s=%s", s.nameOf(config), value)
	}
	add("ssl.keystore.type", s.KeystoreType)
	add("ssl.keystore.location", s.KeystoreLocation)
	add("ssl.keystore.certificate.chain", s.KeystoreCertificateChain)
	add("ssl.keystore.key", s.KeystoreKey)
	add("ssl.keystore.password", s.KeystorePassword)
	add("ssl.key.password", s.KeyPassword)
	add("ssl.truststore.type", s.TruststoreType)
	add("ssl.truststore.location", s.TruststoreLocation)
	add("ssl.truststore.certificates", s.TruststoreCertificates)
	add("ssl.truststore.password", s.TruststorePassword)
	add("ssl.client.auth", s.ClientAuth)
	add("ssl.enabled.protocols", strings.Join(s.EnabledProtocols, ","))
	add("ssl.protocol", s.Protocol)
	add("ssl.cipher.suites", strings.Join(s.CipherSuites, ","))
	add("ssl.principal.mapping.rules", s.PrincipalMappingRules)
	b.WriteByte('}')
	return b.String()
}

// GoString is String, so that %#v hides the secrets too.
func (s Settings) GoString() string { return s.String() }

// FromConfigs extracts a listener's Settings from a flat map of Kafka
// properties as Kafka resolves them: listener.name.<listener name in lower
// case>.<config> overrides <config>, config by config; configs that are
// set in neither take Kafka's defaults (ssl.keystore.type and
// ssl.truststore.type JKS, ssl.client.auth none, ssl.enabled.protocols
// TLSv1.2,TLSv1.3, ssl.protocol TLSv1.3, ssl.principal.mapping.rules
// DEFAULT). Values are trimmed and lists split at commas as Kafka's
// ConfigDef does; an empty value is an unset one. An empty listenerName
// reads the unprefixed configs only.
//
// It checks what can be checked without reading files (the values of
// ssl.client.auth, ssl.enabled.protocols, ssl.protocol, ssl.cipher.suites
// and ssl.principal.mapping.rules); ServerConfig checks the rest. Errors
// name the config as given.
func FromConfigs(props map[string]string, listenerName string) (Settings, error) {
	var s Settings
	prefix := ""
	if listenerName != "" {
		prefix = "listener.name." + strings.ToLower(listenerName) + "."
	}
	get := func(config, def string) string {
		if prefix != "" {
			if v, ok := props[prefix+config]; ok {
				if s.given == nil {
					s.given = make(map[string]string)
				}
				s.given[config] = prefix + config
				return javaTrim(v)
			}
		}
		if v, ok := props[config]; ok {
			return javaTrim(v)
		}
		return def
	}
	s.KeystoreType = get("ssl.keystore.type", defaultStoreType)
	s.KeystoreLocation = get("ssl.keystore.location", "")
	s.KeystoreCertificateChain = get("ssl.keystore.certificate.chain", "")
	s.KeystoreKey = get("ssl.keystore.key", "")
	s.KeystorePassword = get("ssl.keystore.password", "")
	s.KeyPassword = get("ssl.key.password", "")
	s.TruststoreType = get("ssl.truststore.type", defaultStoreType)
	s.TruststoreLocation = get("ssl.truststore.location", "")
	s.TruststoreCertificates = get("ssl.truststore.certificates", "")
	s.TruststorePassword = get("ssl.truststore.password", "")
	s.ClientAuth = get("ssl.client.auth", defaultClientAuth)
	s.EnabledProtocols = splitList(get("ssl.enabled.protocols", defaultEnabledProtos))
	s.Protocol = get("ssl.protocol", defaultProtocol)
	s.CipherSuites = splitList(get("ssl.cipher.suites", ""))
	s.PrincipalMappingRules = get("ssl.principal.mapping.rules", defaultMappingRules)
	if _, err := s.check(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// javaTrim trims s as Java's String.trim does (and Kafka's ConfigDef with
// it): every character up to U+0020 at both ends.
func javaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// splitList splits a list value at commas, trimming blanks and dropping
// empty elements.
func splitList(v string) []string {
	var out []string
	for e := range strings.SplitSeq(v, ",") {
		if e = javaTrim(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// checked is what check derives from the settings that need no files.
type checked struct {
	clientAuth   clientAuthMode
	minV, maxV   uint16
	suites       []uint16
	suiteNames   []string // the TLS 1.2 suites of suites, by name
	mappingRules *PrincipalMapper
}

// check checks the settings that need no files to read.
func (s *Settings) check() (checked, error) {
	var c checked
	var err error
	if c.clientAuth, err = s.parseClientAuth(); err != nil {
		return c, err
	}
	if c.minV, c.maxV, err = s.versions(); err != nil {
		return c, err
	}
	if c.suites, c.suiteNames, c.minV, c.maxV, err = s.cipherSuites(c.minV, c.maxV); err != nil {
		return c, err
	}
	if c.mappingRules, err = ParsePrincipalRules(s.PrincipalMappingRules); err != nil {
		return c, s.wrap("ssl.principal.mapping.rules", "", err, "")
	}
	return c, nil
}
