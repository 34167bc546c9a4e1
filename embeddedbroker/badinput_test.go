package embeddedbroker_test

import (
	"context"
	"encoding/binary"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBadFramesCloseOnlyTheirConnection sends an oversized frame, garbage,
// an unknown API key and a truncated body, each on its own connection,
// while a franz-go producer keeps producing on others: each bad connection
// is closed, the producer never fails, and a healthy raw connection opened
// before the garbage still gets answers.
func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "steady"), embeddedbroker.BrokerConfig("socket.request.max.bytes", "1048576"))
	addr := c.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("steady"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var produced, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
				failed.Add(1)
				t.Errorf("produce during bad input: %v", err)
				return
			}
			produced.Add(1)
		}
	}()

	healthy := dialRaw(t, addr)
	healthy.do(kmsg.NewPtrApiVersionsRequest())

	var huge [4]byte
	binary.BigEndian.PutUint32(huge[:], 1<<30) // 1 GiB: refused before allocation
	unknownKey := []byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	truncatedMeta := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 1)
	binary.BigEndian.PutUint32(truncatedMeta, uint32(len(truncatedMeta)-4-1))
	truncatedMeta = truncatedMeta[:len(truncatedMeta)-1]
	for name, frame := range map[string][]byte{
		"oversized":       huge[:],
		"negative size":   {0xff, 0xff, 0xff, 0xf0},
		"garbage":         {0, 0, 0, 12, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8},
		"unknown api key": unknownKey,
		"truncated body":  truncatedMeta,
	} {
		rc := dialRaw(t, addr)
		if _, err := rc.nc.Write(frame); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !rc.closedByPeer() {
			t.Fatalf("%s: connection still open", name)
		}
	}
	// The healthy connection and the producer are unaffected.
	before := produced.Load()
	healthy.do(kmsg.NewPtrMetadataRequest())
	deadline := time.Now().Add(10 * time.Second)
	for produced.Load() < before+10 && time.Now().Before(deadline) && failed.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-done
	if produced.Load() < before+10 {
		t.Fatalf("producer stalled at %d records", produced.Load())
	}
	t.Logf("produced %d records while 5 bad connections were closed", produced.Load())
}

// TestTooNewApiVersions: an ApiVersions request newer than the broker
// knows gets a v0 answer with UNSUPPORTED_VERSION and the ranges (KIP-511).
func TestTooNewApiVersions(t *testing.T) {
	c := embeddedbroker.StartForTest(t)
	rc := dialRaw(t, c.Addrs()[0])
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(100)
	b := kmsg.NewRequestFormatter().AppendRequest(nil, req, 5)
	// AppendRequest encodes at the version set; the broker only reads the
	// header, so the body's shape does not matter.
	rc.nc.Write(b)
	var sz [4]byte
	if _, err := io.ReadFull(rc.r, sz[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(rc.r, buf); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(buf[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 35 || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}
