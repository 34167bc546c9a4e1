package endpoint

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	pm, err := ParseProtocolMap("EXTERNAL:SASL_SSL, internal:plaintext")
	if err != nil {
		t.Fatal(err)
	}
	eps, err := Parse("listeners", "EXTERNAL://0.0.0.0:9093,internal://[::1]:9092", pm)
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{{"EXTERNAL", SASLSSL, "0.0.0.0", 9093}, {"INTERNAL", Plaintext, "::1", 9092}}
	for i := range want {
		if eps[i] != want[i] {
			t.Errorf("endpoint %d = %+v, want %+v", i, eps[i], want[i])
		}
	}
	if got := eps[1].String(); got != "INTERNAL://[::1]:9092" {
		t.Errorf("String = %s", got)
	}
	adv, err := Parse("advertised.listeners", "EXTERNAL://broker.example.com:19093", pm)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Advertise(eps, adv)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Addr() != "broker.example.com:19093" || out[1].Addr() != "[::1]:9092" {
		t.Errorf("advertised %v", out)
	}
	if got := Offset(eps, 2); got[0].Port != 9095 || eps[0].Port != 9093 {
		t.Errorf("Offset: %v (original %v)", got, eps)
	}
}

func TestParseErrors(t *testing.T) {
	def, _ := ParseProtocolMap("")
	for _, c := range []struct{ listeners, advertised, want string }{
		{"PLAINTEXT//127.0.0.1:9092", "", "is not NAME://HOST:PORT"},
		{"FOO://127.0.0.1:9092", "", "FOO has no security protocol"},
		{"PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", "", "appears twice"},
		{"PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9092", "", "port 9092 appears twice"},
		{"PLAINTEXT://127.0.0.1:x", "", "port \"x\""},
		{"PLAINTEXT://127.0.0.1", "", "missing port"},
		{"", "", "no listener"},
		{"PLAINTEXT://0.0.0.0:9092", "PLAINTEXT://0.0.0.0:9092", "nonroutable"},
		{"PLAINTEXT://:9092", "SSL://h:9093", "SSL is not in listeners"},
	} {
		eps, err := Parse("listeners", c.listeners, def)
		if err == nil && c.advertised != "" {
			var adv []Endpoint
			if adv, err = Parse("advertised.listeners", c.advertised, def); err == nil {
				_, err = Advertise(eps, adv)
			}
		}
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q / %q: error %v, want one containing %q", c.listeners, c.advertised, err, c.want)
		}
	}
	if _, err := ParseProtocolMap("A:TLS"); err == nil || !strings.Contains(err.Error(), "unknown security protocol") {
		t.Errorf("bad protocol: %v", err)
	}
}

func TestAdvertiseDefaults(t *testing.T) {
	def, _ := ParseProtocolMap("")
	eps, _ := Parse("listeners", "PLAINTEXT://:9092,SSL://0.0.0.0:9093", def)
	out, err := Advertise(eps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Addr() != "127.0.0.1:9092" || out[1].Addr() != "127.0.0.1:9093" {
		t.Errorf("advertised %v", out)
	}
}
