package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"hash"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	kgsasl "github.com/segmentio/kafka-go/sasl"
	kgplain "github.com/segmentio/kafka-go/sasl/plain"
	kgscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/xdg-go/scram"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// secCase is one way of connecting securely: a listener of the secured
// cluster and the credentials to use on it.
type secCase struct {
	name     string
	listener string // SSL, SASL_PLAINTEXT or SASL_SSL
	mech     string // "" for SSL
	user     string
	pass     string
}

func (c secCase) tls() bool  { return c.listener != "SASL_PLAINTEXT" }
func (c secCase) sasl() bool { return c.mech != "" }

// secCases are acceptance point 1's combinations, and the same with a
// wrong password.
var secCases = []secCase{
	{"SSL", "SSL", "", "", ""},
	{"SASL_PLAINTEXT SCRAM-SHA-512", "SASL_PLAINTEXT", "SCRAM-SHA-512", "alice", "alice-secret"},
	{"SASL_SSL SCRAM-SHA-256", "SASL_SSL", "SCRAM-SHA-256", "alice", "alice-secret"},
	{"SASL_SSL PLAIN", "SASL_SSL", "PLAIN", "bob", "bob-secret"},
}

func wrongPassword(c secCase) secCase {
	c.name += " wrong password"
	c.pass = "wrong"
	return c
}

// securedCluster is a 3-node cluster with SSL, SASL_PLAINTEXT and
// SASL_SSL listeners, a generated CA (its file path returned) and the
// users of secCases.
func securedCluster(t *testing.T, topics ...string) (*embeddedbroker.Cluster, *embeddedbroker.TLSBundle, string) {
	t.Helper()
	b, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Nodes(3),
		embeddedbroker.Listeners("SSL://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"),
		embeddedbroker.TLS(b),
		embeddedbroker.SCRAMUser("SCRAM-SHA-256", "alice", "alice-secret"),
		embeddedbroker.SCRAMUser("SCRAM-SHA-512", "alice", "alice-secret"),
		embeddedbroker.PlainUser("bob", "bob-secret"),
		embeddedbroker.Topics(1, topics...))
	return c, b, ca
}

const secRecords = 200

// secValues are the records every client writes and reads back.
func secValues(client, cs string) []string {
	out := make([]string, secRecords)
	for i := range out {
		out[i] = fmt.Sprintf("%s/%s/%d", client, cs, i)
	}
	return out
}

func topicFor(client string, c secCase) string {
	return strings.NewReplacer(" ", "-", "_", "-").Replace(strings.ToLower(client + "-" + c.name))
}

// TestSecurityInterop: sarama, kafka-go and kcat produce and consume over
// SSL, SASL_PLAINTEXT (SCRAM-SHA-512) and SASL_SSL (SCRAM-SHA-256 and
// PLAIN), and fail with an authentication error on a wrong password.
func TestSecurityInterop(t *testing.T) {
	clients := []struct {
		name string
		run  func(t *testing.T, addrs []string, tlsCfg *tls.Config, ca string, cs secCase, topic string, values []string) error
	}{
		{"sarama", saramaSecure},
		{"kafka-go", kafkagoSecure},
		{"kcat", kcatSecure},
	}
	var topics []string
	for _, cl := range clients {
		for _, cs := range secCases {
			topics = append(topics, topicFor(cl.name, cs), topicFor(cl.name, wrongPassword(cs)))
		}
	}
	c, b, ca := securedCluster(t, topics...)
	for _, cl := range clients {
		for _, cs := range secCases {
			t.Run(cl.name+"/"+cs.name, func(t *testing.T) {
				if cl.name == "kcat" {
					kcatPath(t)
				}
				topic := topicFor(cl.name, cs)
				values := secValues(cl.name, cs.name)
				if err := cl.run(t, c.ListenerAddrs(cs.listener), b.ClientConfig(), ca, cs, topic, values); err != nil {
					t.Fatal(err)
				}
				t.Logf("%d records produced and consumed", len(values))
			})
			if !cs.sasl() {
				continue
			}
			bad := wrongPassword(cs)
			t.Run(cl.name+"/"+bad.name, func(t *testing.T) {
				if cl.name == "kcat" {
					kcatPath(t)
				}
				err := cl.run(t, c.ListenerAddrs(bad.listener), b.ClientConfig(), ca, bad, topicFor(cl.name, bad), secValues(cl.name, bad.name)[:1])
				if err == nil {
					t.Fatal("succeeded with a wrong password")
				}
				if !strings.Contains(strings.ToLower(err.Error()), "authentication") {
					t.Fatalf("error %v does not say authentication failed", err)
				}
				t.Logf("refused: %s", firstLine(err.Error()))
			})
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkValues compares what was read with what was written.
func checkValues(got, want []string) error {
	if len(got) != len(want) {
		return fmt.Errorf("read %d records, wrote %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("record %d is %q, want %q", i, got[i], want[i])
		}
	}
	return nil
}

// xdgClient adapts xdg-go/scram to sarama's SCRAMClient.
type xdgClient struct {
	hash func() hash.Hash
	conv *scram.ClientConversation
}

func (x *xdgClient) Begin(user, pass, authzID string) error {
	c, err := scram.HashGeneratorFcn(x.hash).NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *xdgClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgClient) Done() bool                            { return x.conv.Done() }

func saramaSecure(t *testing.T, addrs []string, tlsCfg *tls.Config, ca string, cs secCase, topic string, values []string) error {
	return saramaSecureVersion(t, addrs, tlsCfg, cs, topic, values, sarama.SASLHandshakeV1)
}

func saramaSecureVersion(t *testing.T, addrs []string, tlsCfg *tls.Config, cs secCase, topic string, values []string, handshake int16) error {
	cfg := saramaConfig(sarama.V3_6_0_0)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 1
	if cs.tls() {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tlsCfg
	}
	if cs.sasl() {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.User, cfg.Net.SASL.Password = cs.user, cs.pass
		// v1: SaslHandshake v1 and SaslAuthenticate; v0: the tokens as
		// raw frames after a SaslHandshake v0 (TestSaramaSASLHandshakeV0).
		cfg.Net.SASL.Version = handshake
		if handshake == sarama.SASLHandshakeV0 {
			cfg.ApiVersionsRequest = false // sarama's rule for v0
		}
		switch cs.mech {
		case "PLAIN":
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-256":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgClient{hash: sha256.New} }
		case "SCRAM-SHA-512":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgClient{hash: sha512.New} }
		}
	}
	p, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		return fmt.Errorf("sarama NewSyncProducer: %w", err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(values))
	for i, v := range values {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}
	}
	if err := p.SendMessages(msgs); err != nil {
		return fmt.Errorf("sarama SendMessages: %w", err)
	}
	cons, err := sarama.NewConsumer(addrs, cfg)
	if err != nil {
		return fmt.Errorf("sarama NewConsumer: %w", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("sarama ConsumePartition: %w", err)
	}
	defer pc.Close()
	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < len(values) {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			return fmt.Errorf("sarama consume: %w", err)
		case <-timeout:
			return fmt.Errorf("sarama consumed %d of %d", len(got), len(values))
		}
	}
	return checkValues(got, values)
}

func kafkagoMechanism(cs secCase) (kgsasl.Mechanism, error) {
	switch cs.mech {
	case "PLAIN":
		return kgplain.Mechanism{Username: cs.user, Password: cs.pass}, nil
	case "SCRAM-SHA-256":
		return kgscram.Mechanism(kgscram.SHA256, cs.user, cs.pass)
	case "SCRAM-SHA-512":
		return kgscram.Mechanism(kgscram.SHA512, cs.user, cs.pass)
	}
	return nil, nil
}

func kafkagoSecure(t *testing.T, addrs []string, tlsCfg *tls.Config, _ string, cs secCase, topic string, values []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mech, err := kafkagoMechanism(cs)
	if err != nil {
		return err
	}
	tr := &kafka.Transport{ClientID: "kafkaboot-interop", MetadataTTL: time.Second, SASL: mech}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: mech}
	if cs.tls() {
		tr.TLS, dialer.TLS = tlsCfg, tlsCfg
	}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: []byte(v)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("kafka-go WriteMessages: %w", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs, Topic: topic, Partition: 0, Dialer: dialer, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var got []string
	for len(got) < len(values) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka-go ReadMessage after %d: %w", len(got), err)
		}
		got = append(got, string(m.Value))
	}
	return checkValues(got, values)
}

// kcatSecure produces with kcat -P and consumes with kcat -C, with
// librdkafka's security properties.
func kcatSecure(t *testing.T, addrs []string, _ *tls.Config, ca string, cs secCase, topic string, values []string) error {
	ctx := context.Background()
	path := kcatPath(t)
	args := []string{"-b", strings.Join(addrs, ","), "-t", topic}
	proto := map[string]string{"SSL": "ssl", "SASL_PLAINTEXT": "sasl_plaintext", "SASL_SSL": "sasl_ssl"}[cs.listener]
	args = append(args, "-X", "security.protocol="+proto)
	if cs.tls() {
		args = append(args, "-X", "ssl.ca.location="+ca)
	}
	if cs.sasl() {
		args = append(args, "-X", "sasl.mechanisms="+cs.mech, "-X", "sasl.username="+cs.user, "-X", "sasl.password="+cs.pass)
	}
	in := strings.Join(values, "\n") + "\n"
	prod := append(slices.Clone(args), "-P", "-X", "acks=all", "-X", "message.timeout.ms=10000")
	if _, err := runKcatSecure(ctx, path, []byte(in), prod...); err != nil {
		return err
	}
	cons := append(slices.Clone(args), "-C", "-p", "0", "-o", "beginning", "-e", "-c", fmt.Sprint(len(values)), "-f", "%s\n")
	out, err := runKcatSecure(ctx, path, nil, cons...)
	if err != nil {
		return err
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	return checkValues(got, values)
}

// runKcatSecure is runKcat for the security tests: librdkafka reports a
// refused authentication on stderr and may keep retrying, so the run is
// bounded more tightly and its stderr returned in the error.
func runKcatSecure(ctx context.Context, path string, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	s := stderr.String()
	if err != nil || strings.Contains(s, "ERROR") || strings.Contains(s, "failed") {
		return nil, fmt.Errorf("kcat %s: %v\nstderr:\n%s", filepath.Base(path), err, s)
	}
	return stdout.Bytes(), nil
}

// TestSaramaSASLHandshakeV0: sarama with SaslHandshake v0, whose tokens
// travel as raw frames rather than SaslAuthenticate requests, for SCRAM
// and PLAIN, and a wrong password refused.
func TestSaramaSASLHandshakeV0(t *testing.T) {
	cases := []secCase{secCases[1], secCases[3]}
	var topics []string
	for _, cs := range cases {
		topics = append(topics, topicFor("sarama-v0", cs))
	}
	c, b, _ := securedCluster(t, topics...)
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			if err := saramaSecureVersion(t, c.ListenerAddrs(cs.listener), b.ClientConfig(), cs, topicFor("sarama-v0", cs), secValues("sarama-v0", cs.name), sarama.SASLHandshakeV0); err != nil {
				t.Fatal(err)
			}
			bad := wrongPassword(cs)
			if err := saramaSecureVersion(t, c.ListenerAddrs(bad.listener), b.ClientConfig(), bad, topicFor("sarama-v0", cs), secValues("sarama-v0", cs.name)[:1], sarama.SASLHandshakeV0); err == nil {
				t.Fatal("a wrong password was accepted")
			} else {
				t.Logf("wrong password: %s", firstLine(err.Error()))
			}
		})
	}
}
