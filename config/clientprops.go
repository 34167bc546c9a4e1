package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kafkaboot/kafkaboot/internal/jaas"
)

// SecurityFromProperties reads the security settings of a Kafka client
// properties file, what Kafka's command line tools take with
// --command-config:
//
//	security.protocol=SASL_SSL
//	sasl.mechanism=SCRAM-SHA-256
//	sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";
//	ssl.truststore.type=PEM
//	ssl.truststore.location=/path/ca.pem
//	ssl.keystore.type=PEM
//	ssl.keystore.location=/path/client.pem
//
// TLS files must be PEM (the keystore holds the certificate chain and the
// private key, as Kafka's PEM keystore does), and
// ssl.endpoint.identification.algorithm may only be https, the default:
// the host name check cannot be turned off. Other security keys
// (ssl.*, sasl.*) are refused by name; keys outside them are ignored, as
// Kafka's clients ignore properties they do not use.
func SecurityFromProperties(props map[string]string) (Security, error) {
	s := Security{Protocol: ProtocolPlaintext}
	bad := func(key, msg string, args ...any) (Security, error) {
		return Security{}, &FieldError{Key: key, Msg: fmt.Sprintf(msg, args...)}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		switch k {
		case "security.protocol":
			s.Protocol = strings.ToUpper(v)
			if !slices.Contains([]string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}, s.Protocol) {
				return bad(k, "must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got %q", v)
			}
		case "sasl.mechanism":
			s.SASL.Mechanism = strings.ToUpper(v)
			if !slices.Contains([]string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}, s.SASL.Mechanism) {
				return bad(k, "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", v)
			}
		case "sasl.jaas.config":
			e, err := jaas.Parse(v)
			if err != nil {
				return bad(k, "%v", err)
			}
			if !e.Is("PlainLoginModule") && !e.Is("ScramLoginModule") {
				return bad(k, "login module %s: want PlainLoginModule or ScramLoginModule", e.Module)
			}
			s.SASL.Username, s.SASL.Password = e.Options["username"], e.Options["password"]
		case "ssl.truststore.type", "ssl.keystore.type":
			if !strings.EqualFold(v, "PEM") {
				return bad(k, "only PEM files are supported, got %q", v)
			}
		case "ssl.truststore.location":
			s.TLS.CAFile = v
		case "ssl.keystore.location":
			s.TLS.CertFile, s.TLS.KeyFile = v, v
		case "ssl.endpoint.identification.algorithm":
			if !strings.EqualFold(v, "https") {
				return bad(k, "only https (the default: the broker's certificate must name its host) is supported, got %q", v)
			}
		default:
			if strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.") {
				return bad(k, "is not supported (supported: security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ssl.keystore.location, their .type PEM, ssl.endpoint.identification.algorithm)")
			}
		}
	}
	if (props["ssl.truststore.location"] != "" || props["ssl.keystore.location"] != "") && props["ssl.truststore.type"] == "" && props["ssl.keystore.type"] == "" {
		return bad("ssl.truststore.type", "set ssl.truststore.type=PEM (and ssl.keystore.type=PEM): Kafka's default type, JKS, is not supported")
	}
	return s, nil
}
