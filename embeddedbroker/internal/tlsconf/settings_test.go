package tlsconf

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// TestFromConfigs checks listener prefixes, Kafka's defaults, trimming and
// list splitting.
func TestFromConfigs(t *testing.T) {
	props := map[string]string{
		"ssl.keystore.type":                            "PEM",
		"ssl.keystore.location":                        "/etc/kafka/broker.pem",
		"listener.name.external.ssl.keystore.location": " /etc/kafka/external.pem ",
		"ssl.client.auth":                              "required",
		"listener.name.external.ssl.client.auth":       "requested",
		"listener.name.external.ssl.cipher.suites":     " TLS_AES_128_GCM_SHA256 , ,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ",
		"ssl.enabled.protocols":                        "TLSv1.3",
		"listener.name.external.ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
		// Kafka's prefix is the listener's name in lower case: this one
		// applies to no listener.
		"listener.name.INTERNAL.ssl.keystore.location": "/never.pem",
		// An empty value unsets what the unprefixed config sets.
		"listener.name.plain.ssl.keystore.location": "",
		"ssl.principal.mapping.rules":               "RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT",
	}
	for _, tc := range []struct {
		listener string
		want     Settings
	}{
		{"EXTERNAL", Settings{
			KeystoreType: "PEM", KeystoreLocation: "/etc/kafka/external.pem", TruststoreType: "JKS",
			ClientAuth: "requested", EnabledProtocols: []string{"TLSv1.2", "TLSv1.3"}, Protocol: "TLSv1.3",
			CipherSuites:          []string{"TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
			PrincipalMappingRules: "RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT",
		}},
		{"external", Settings{
			KeystoreType: "PEM", KeystoreLocation: "/etc/kafka/external.pem", TruststoreType: "JKS",
			ClientAuth: "requested", EnabledProtocols: []string{"TLSv1.2", "TLSv1.3"}, Protocol: "TLSv1.3",
			CipherSuites:          []string{"TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
			PrincipalMappingRules: "RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT",
		}},
		{"INTERNAL", Settings{
			KeystoreType: "PEM", KeystoreLocation: "/etc/kafka/broker.pem", TruststoreType: "JKS",
			ClientAuth: "required", EnabledProtocols: []string{"TLSv1.3"}, Protocol: "TLSv1.3",
			PrincipalMappingRules: "RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT",
		}},
		{"PLAIN", Settings{
			KeystoreType: "PEM", TruststoreType: "JKS",
			ClientAuth: "required", EnabledProtocols: []string{"TLSv1.3"}, Protocol: "TLSv1.3",
			PrincipalMappingRules: "RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT",
		}},
		{"", Settings{
			KeystoreType: "PEM", KeystoreLocation: "/etc/kafka/broker.pem", TruststoreType: "JKS",
			ClientAuth: "required", EnabledProtocols: []string{"TLSv1.3"}, Protocol: "TLSv1.3",
			PrincipalMappingRules: "RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT",
		}},
	} {
		t.Run(tc.listener, func(t *testing.T) {
			got, err := FromConfigs(props, tc.listener)
			if err != nil {
				t.Fatal(err)
			}
			got.given = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		got, err := FromConfigs(nil, "SSL")
		if err != nil {
			t.Fatal(err)
		}
		want := Settings{KeystoreType: "JKS", TruststoreType: "JKS", ClientAuth: "none",
			EnabledProtocols: []string{"TLSv1.2", "TLSv1.3"}, Protocol: "TLSv1.3", PrincipalMappingRules: "DEFAULT"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		// Kafka's default store type is JKS: a PEM keystore must say so.
		got.KeystoreLocation = "/etc/kafka/broker.pem"
		_, err = ServerConfig(got)
		checkErr(t, err, []error{configs.ErrUnsupported}, `ssl.keystore.type "JKS": only PEM is supported (KIP-651): set ssl.keystore.type=PEM`)
	})
}

// TestFromConfigsErrors checks that errors name the config as given,
// listener prefix included.
func TestFromConfigsErrors(t *testing.T) {
	for _, tc := range []struct {
		props    map[string]string
		listener string
		is       []error
		want     string
	}{
		{map[string]string{"listener.name.mtls.ssl.client.auth": "bogus"}, "MTLS", []error{configs.ErrInvalid},
			`listener.name.mtls.ssl.client.auth "bogus": must be none, requested or required`},
		{map[string]string{"ssl.client.auth": "bogus", "listener.name.mtls.ssl.client.auth": "none"}, "OTHER", []error{configs.ErrInvalid},
			`ssl.client.auth "bogus"`},
		{map[string]string{"listener.name.ssl.ssl.enabled.protocols": "TLSv1.2,TLSv1"}, "SSL", []error{configs.ErrUnsupported},
			`listener.name.ssl.ssl.enabled.protocols "TLSv1.2,TLSv1": TLSv1 is not supported`},
		{map[string]string{"listener.name.ssl.ssl.cipher.suites": "TLS_NOPE"}, "SSL", []error{configs.ErrInvalid},
			`listener.name.ssl.ssl.cipher.suites "TLS_NOPE": unknown cipher suite TLS_NOPE`},
		{map[string]string{"listener.name.ssl.ssl.principal.mapping.rules": "RULE:^(a)\\1$/x/"}, "SSL", []error{configs.ErrInvalid},
			`listener.name.ssl.ssl.principal.mapping.rules: rule "RULE:^(a)\\1$/x/": pattern "^(a)\\1$": backreferences are not supported`},
		{map[string]string{"ssl.protocol": "SSL"}, "SSL", []error{configs.ErrUnsupported}, `ssl.protocol "SSL": not supported`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := FromConfigs(tc.props, tc.listener)
			checkErr(t, err, tc.is, tc.want)
		})
	}
	// ServerConfig names the prefixed configs too.
	s, err := FromConfigs(map[string]string{
		"ssl.keystore.type":                            "PEM",
		"listener.name.external.ssl.keystore.location": "/nonexistent/external.pem",
	}, "EXTERNAL")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ServerConfig(s)
	checkErr(t, err, []error{configs.ErrInvalid, fs.ErrNotExist}, `listener.name.external.ssl.keystore.location "/nonexistent/external.pem": open /nonexistent/external.pem`)
	s, err = FromConfigs(map[string]string{
		"listener.name.external.ssl.keystore.type":              "PEM",
		"listener.name.external.ssl.keystore.certificate.chain": "x",
		"ssl.keystore.location":                                 "/x.pem",
		"ssl.keystore.key":                                      "y",
	}, "EXTERNAL")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ServerConfig(s)
	checkErr(t, err, []error{configs.ErrInvalid}, "ssl.keystore.key: set together with ssl.keystore.location")
	s, err = FromConfigs(map[string]string{
		"listener.name.ext.ssl.keystore.type":     "JKS",
		"listener.name.ext.ssl.keystore.location": "/ks.jks",
	}, "EXT")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ServerConfig(s)
	checkErr(t, err, []error{configs.ErrUnsupported}, `listener.name.ext.ssl.keystore.type "JKS": only PEM is supported (KIP-651): set listener.name.ext.ssl.keystore.type=PEM`)
}

// TestSettingsString checks that printing settings hides the secrets.
func TestSettingsString(t *testing.T) {
	b, _ := testBundles(t)
	s := inline(b)
	s.KeyPassword, s.KeystorePassword, s.TruststorePassword = "pw-key", "pw-ks", "pw-ts"
	s.KeystoreType, s.ClientAuth, s.CipherSuites = "PEM", "required", []string{"A", "B"}
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v", s, s, s), fmt.Sprint(&s)} {
		for _, secret := range []string{"BEGIN", "pw-key", "pw-ks", "pw-ts"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows %q", out, secret)
			}
		}
		for _, shown := range []string{"ssl.keystore.type=PEM", "ssl.client.auth=required", "ssl.cipher.suites=A,B", "ssl.keystore.key=[hidden]", "ssl.key.password=[hidden]"} {
			if !strings.Contains(out, shown) {
				t.Errorf("%q does not show %q", out, shown)
			}
		}
	}
}
