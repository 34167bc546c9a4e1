package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kafka.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"kafka.test"},
		IsCA:         true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func newClient(t *testing.T, opts []kgo.Opt, err error) *kgo.Client {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestClientOptsTLSAndSASL(t *testing.T) {
	cert, key := writeCert(t)
	for _, mech := range []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := mustLoad(t, WithValues(map[string]any{"kafka": map[string]any{
				"bootstrap-servers": "b1:9093",
				"client-id":         "cid",
				"security": map[string]any{
					"protocol": "SASL_SSL",
					"tls":      map[string]any{"ca-file": cert, "cert-file": cert, "key-file": key, "server-name": "kafka.test"},
					"sasl":     map[string]any{"mechanism": mech, "username": "u", "password": "p"},
				},
			}}))
			opts, err := c.Kafka.ClientOpts()
			cl := newClient(t, opts, err)
			tc, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
			if !ok || tc.ServerName != "kafka.test" || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS12 {
				t.Fatalf("tls config = %+v", tc)
			}
			if got := cl.OptValue(kgo.ClientID); got != "cid" {
				t.Fatalf("client id = %v", got)
			}
			if got := cl.OptValue(kgo.SeedBrokers); got == nil {
				t.Fatal("no seeds")
			}
			if cl.OptValue(kgo.SASL) == nil {
				t.Fatal("SASL not configured")
			}
		})
	}
}

func TestClientOptsTLSErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tlsCfg := range map[string]map[string]any{
		"missing ca":  {"ca-file": filepath.Join(dir, "nope.pem")},
		"garbage ca":  {"ca-file": garbage},
		"garbage key": {"cert-file": garbage, "key-file": garbage},
	} {
		t.Run(name, func(t *testing.T) {
			c := mustLoad(t, WithValues(map[string]any{"kafka.security": map[string]any{"protocol": "SSL", "tls": tlsCfg}}))
			_, err := c.Kafka.ClientOpts()
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
			if _, err := c.Kafka.ProducerOpts(); err == nil {
				t.Fatal("ProducerOpts must fail too")
			}
			if _, err := c.Kafka.ConsumerOpts("g"); err == nil {
				t.Fatal("ConsumerOpts must fail too")
			}
		})
	}
}

func TestProducerOpts(t *testing.T) {
	c := mustLoad(t, WithFile(writeFile(t, fullYAML)), WithValues(map[string]any{
		"kafka.security":           map[string]any{"protocol": "PLAINTEXT", "tls": map[string]any{"server-name": ""}, "sasl": map[string]any{"mechanism": "", "username": "", "password": ""}},
		"kafka.producer.client-id": "producer-cid",
	}))
	opts, err := c.Kafka.ProducerOpts()
	cl := newClient(t, opts, err)
	checks := map[string]struct{ got, want any }{
		"acks":             {cl.OptValue(kgo.RequiredAcks), kgo.AllISRAcks()},
		"idempotent":       {cl.OptValue(kgo.DisableIdempotentWrite), false},
		"linger":           {cl.OptValue(kgo.ProducerLinger), 5 * time.Millisecond},
		"batch max":        {cl.OptValue(kgo.ProducerBatchMaxBytes), int32(64 << 10)},
		"retries":          {cl.OptValue(kgo.RecordRetries), int64(3)},
		"delivery timeout": {cl.OptValue(kgo.RecordDeliveryTimeout), time.Duration(0)}, // the template's
		"client id":        {cl.OptValue(kgo.ClientID), "producer-cid"},
		"max write":        {cl.OptValue(kgo.BrokerMaxWriteBytes), int32(2000000)},
		"buffered bytes":   {cl.OptValue(kgo.MaxBufferedBytes), int64(1000000)},
		"transactional id": {cl.OptValue(kgo.TransactionalID), ""},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v (%T)", name, c.got, c.got, c.want, c.want)
		}
	}

	opts, err = c.Kafka.TransactionalProducerOpts("instance-1")
	tx := newClient(t, opts, err)
	if got := tx.OptValue(kgo.TransactionalID); got != "tx-instance-1" {
		t.Errorf("transactional id = %v", got)
	}

	noPrefix := mustLoad(t)
	if _, err := noPrefix.Kafka.TransactionalProducerOpts("x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing prefix: %v", err)
	}

	// acks=0 implicitly disables idempotence and maps to NoAck.
	zero := mustLoad(t, WithValues(map[string]any{"kafka.producer.acks": 0, "kafka.producer.compression": "none"}))
	opts, err = zero.Kafka.ProducerOpts()
	cl = newClient(t, opts, err)
	if cl.OptValue(kgo.RequiredAcks) != kgo.NoAck() || cl.OptValue(kgo.DisableIdempotentWrite) != true {
		t.Errorf("acks=0: acks %v, disable idempotent %v", cl.OptValue(kgo.RequiredAcks), cl.OptValue(kgo.DisableIdempotentWrite))
	}

	// A programmatic conflict is caught by ProducerOpts as well.
	k := DefaultKafka()
	yes := true
	k.Producer.Acks, k.Producer.Idempotence = "1", &yes
	if _, err := k.ProducerOpts(); !errors.Is(err, ErrInvalid) {
		t.Errorf("idempotence+acks=1: %v", err)
	}
}

func TestConsumerOpts(t *testing.T) {
	c := mustLoad(t, WithFile(writeFile(t, fullYAML)), WithValues(map[string]any{
		"kafka.security": map[string]any{"protocol": "PLAINTEXT", "tls": map[string]any{"server-name": ""}, "sasl": map[string]any{"mechanism": "", "username": "", "password": ""}},
	}))
	opts, err := c.Kafka.ConsumerOpts("")
	cl := newClient(t, opts, err)
	checks := map[string]struct{ got, want any }{
		"group":       {cl.OptValue(kgo.ConsumerGroup), "g1"},
		"isolation":   {cl.OptValue(kgo.FetchIsolationLevel), int8(1)},
		"session":     {cl.OptValue(kgo.SessionTimeout), 30 * time.Second},
		"fetch wait":  {cl.OptValue(kgo.FetchMaxWait), 250 * time.Millisecond},
		"fetch bytes": {cl.OptValue(kgo.FetchMaxBytes), int32(1 << 20)},
		"reset":       {cl.OptValue(kgo.ConsumeResetOffset), kgo.NewOffset().AtStart()},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v (%T)", name, c.got, c.got, c.want, c.want)
		}
	}
	opts, err = c.Kafka.ConsumerOpts("explicit")
	cl = newClient(t, opts, err)
	if got := cl.OptValue(kgo.ConsumerGroup); got != "explicit" {
		t.Errorf("group = %v", got)
	}

	none := mustLoad(t, WithValues(map[string]any{"kafka.consumer.auto-offset-reset": "none"}))
	opts, err = none.Kafka.ConsumerOpts("")
	cl = newClient(t, opts, err)
	if got := cl.OptValue(kgo.ConsumerGroup); got != "" {
		t.Errorf("no group expected, got %v", got)
	}
	if got := cl.OptValue(kgo.ConsumeResetOffset); got != kgo.NoResetOffset() {
		t.Errorf("reset = %v", got)
	}
}

func TestSupportedProperties(t *testing.T) {
	if len(SupportedProducerProperties()) == 0 || len(SupportedConsumerProperties()) == 0 {
		t.Fatal("empty property lists")
	}
}
