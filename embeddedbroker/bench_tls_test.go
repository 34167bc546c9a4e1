package embeddedbroker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/internal/benchrun"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTLS measures what TLS costs the embedded broker: one cluster
// (3 nodes, in memory) with a PLAINTEXT and an SSL listener, and for each
// a producer (acks=all, idempotent, uncompressed) writing blocks of 2,000
// records of 1 KiB of random bytes, and a consumer reading 20,000 such
// records from the start of a filled topic with a fresh client per round.
// Every round runs the four variants in a shuffled order; reported are
// MiB/s of each and the median over rounds of SSL's throughput relative
// to PLAINTEXT's (ratio-produce-ssl, ratio-fetch-ssl; 1 means free).
//
//	go test -run '^$' -bench TLS -benchtime 20x ./embeddedbroker/
func BenchmarkTLS(b *testing.B) {
	bundle, err := embeddedbroker.GenerateTLS()
	if err != nil {
		b.Fatal(err)
	}
	c := embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.TLS(bundle),
		embeddedbroker.Listeners("PLAINTEXT://127.0.0.1:0", "SSL://127.0.0.1:0"),
		embeddedbroker.Topics(6, "produce-plain", "produce-ssl", "fetch"))
	const (
		block   = 2000
		fetchN  = 20000
		recSize = 1 << 10
	)
	value := make([]byte, recSize)
	rand.Read(value) // incompressible, as encrypted or compressed payloads are
	listeners := map[string][]kgo.Opt{
		"plain": {kgo.SeedBrokers(c.ListenerAddrs("PLAINTEXT")...)},
		"ssl":   {kgo.SeedBrokers(c.ListenerAddrs("SSL")...), kgo.DialTLSConfig(bundle.ClientConfig())},
	}
	newClient := func(l string, extra ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression())}, listeners[l]...), extra...)...)
		if err != nil {
			b.Fatal(err)
		}
		return cl
	}
	filler := newClient("plain", kgo.DefaultProduceTopic("fetch"))
	produceN(b, filler, fetchN, value)
	filler.Close()
	producers := map[string]*kgo.Client{
		"plain": newClient("plain", kgo.DefaultProduceTopic("produce-plain")),
		"ssl":   newClient("ssl", kgo.DefaultProduceTopic("produce-ssl")),
	}
	for _, p := range producers {
		b.Cleanup(p.Close)
	}
	consume := func(l string) {
		cl := newClient(l, kgo.ConsumeTopics("fetch"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		got := 0
		for got < fetchN {
			fs := cl.PollFetches(context.Background())
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if !bytes.Equal(r.Value, value) {
					b.Fatal("a record came back changed")
				}
				got++
			})
		}
	}
	variants := []benchrun.Variant{
		{Name: "produce-plain", Run: func() { produceN(b, producers["plain"], block, value) }},
		{Name: "produce-ssl", Run: func() { produceN(b, producers["ssl"], block, value) }},
		{Name: "fetch-plain", Run: func() { consume("plain") }},
		{Name: "fetch-ssl", Run: func() { consume("ssl") }},
	}
	s := benchrun.Run(b, variants)
	mib := func(k, n int) float64 {
		return float64(n*recSize*s.Rounds()) / (1 << 20) / s.Total(k).Seconds()
	}
	for k, v := range variants {
		n := block
		if k >= 2 {
			n = fetchN
		}
		b.ReportMetric(mib(k, n), v.Name+"-MiB/s")
	}
	produce, fetch := s.MedianRatio([]int{1}, []int{0}), s.MedianRatio([]int{3}, []int{2})
	b.ReportMetric(produce, "ratio-produce-ssl")
	b.ReportMetric(fetch, "ratio-fetch-ssl")
	b.ReportMetric(s.MedianCPURatio([]int{1}, []int{0}), "cpu-ratio-produce-ssl")
	b.ReportMetric(s.MedianCPURatio([]int{3}, []int{2}), "cpu-ratio-fetch-ssl")
	b.Logf("SSL throughput relative to PLAINTEXT: produce %.3f (%.0f vs %.0f MiB/s), fetch %.3f (%.0f vs %.0f MiB/s)",
		produce, mib(1, block), mib(0, block), fetch, mib(3, fetchN), mib(2, fetchN))
}
