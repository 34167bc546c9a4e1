package config

import (
	"errors"
	"strings"
	"testing"
)

func TestSecurityFromProperties(t *testing.T) {
	s, err := SecurityFromProperties(map[string]string{
		"security.protocol":       "sasl_ssl",
		"sasl.mechanism":          "SCRAM-SHA-512",
		"sasl.jaas.config":        `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";`,
		"ssl.truststore.type":     "PEM",
		"ssl.truststore.location": "/ca.pem",
		"bootstrap.servers":       "ignored:9092",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Protocol != ProtocolSASLSSL || s.SASL.Mechanism != MechanismScramSHA512 || s.SASL.Username != "alice" || s.SASL.Password != "alice-secret" || s.TLS.CAFile != "/ca.pem" {
		t.Errorf("security %+v", s)
	}
	for _, c := range []struct {
		props map[string]string
		key   string
	}{
		{map[string]string{"security.protocol": "TLS"}, "security.protocol"},
		{map[string]string{"sasl.mechanism": "GSSAPI"}, "sasl.mechanism"},
		{map[string]string{"sasl.jaas.config": "x"}, "sasl.jaas.config"},
		{map[string]string{"sasl.jaas.config": "com.example.Krb5LoginModule required;"}, "sasl.jaas.config"},
		{map[string]string{"ssl.truststore.type": "JKS"}, "ssl.truststore.type"},
		{map[string]string{"ssl.truststore.location": "/x.jks"}, "ssl.truststore.type"},
		{map[string]string{"ssl.endpoint.identification.algorithm": ""}, "ssl.endpoint.identification.algorithm"},
		{map[string]string{"sasl.kerberos.service.name": "kafka"}, "sasl.kerberos.service.name"},
	} {
		_, err := SecurityFromProperties(c.props)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != c.key {
			t.Errorf("%v: error %v, want one naming %s", c.props, err, c.key)
		}
		if err != nil && strings.Contains(err.Error(), "alice-secret") {
			t.Errorf("error shows a password: %v", err)
		}
	}
}
