package embeddedbroker_test

import (
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdempotentProduceProtocol resends batches at the protocol level and
// checks the broker's answers: a duplicate within the last five batches
// gets its original offset and no error; a sequence gap gets
// OUT_OF_ORDER_SEQUENCE_NUMBER; a stale epoch gets INVALID_PRODUCER_EPOCH;
// nothing refused or duplicated is appended.
func TestIdempotentProduceProtocol(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "idem"))
	rc := dialRaw(t, c.Addrs()[0])

	init := kmsg.NewPtrInitProducerIDRequest()
	init.SetVersion(4)
	ir := rc.do(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 || ir.ProducerID < 0 {
		t.Fatalf("InitProducerID: error %d id %d", ir.ErrorCode, ir.ProducerID)
	}
	pid := ir.ProducerID

	produce := func(epoch int16, seq int32, n int) (int64, int16) {
		t.Helper()
		recs := make([]batch.Record, n)
		for i := range recs {
			recs[i].Value = []byte{byte(seq), byte(i)}
		}
		b := batch.Build(batch.BuildOptions{Producer: &batch.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}}, recs...)
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = -1
		req.TimeoutMillis = 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "idem", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: b}}}}
		resp := rc.do(req).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		return p.BaseOffset, p.ErrorCode
	}
	endOffset := func() int64 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(7)
		req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "idem", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
		return rc.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].Offset
	}

	steps := []struct {
		name    string
		epoch   int16
		seq     int32
		n       int
		wantOff int64
		wantErr *kerr.Error
		wantEnd int64
	}{
		{"first batch", 0, 0, 3, 0, nil, 3},
		{"duplicate of the last batch", 0, 0, 3, 0, nil, 3},
		{"next batch", 0, 3, 2, 3, nil, 5},
		{"gap", 0, 7, 1, -1, kerr.OutOfOrderSequenceNumber, 5},
		{"duplicate of an older batch in the window", 0, 0, 3, 0, nil, 5},
		{"in order after the gap", 0, 5, 1, 5, nil, 6},
		{"new epoch starts at 0", 1, 0, 1, 6, nil, 7},
		{"stale epoch is fenced", 0, 6, 1, -1, kerr.InvalidProducerEpoch, 7},
		{"new epoch not at 0", 2, 4, 1, -1, kerr.OutOfOrderSequenceNumber, 7},
	}
	for _, s := range steps {
		off, code := produce(s.epoch, s.seq, s.n)
		wantCode := int16(0)
		if s.wantErr != nil {
			wantCode = s.wantErr.Code
		}
		if code != wantCode {
			t.Fatalf("%s: error %v, want %v", s.name, kerr.ErrorForCode(code), s.wantErr)
		}
		if s.wantErr == nil && off != s.wantOff {
			t.Fatalf("%s: offset %d, want %d", s.name, off, s.wantOff)
		}
		if end := endOffset(); end != s.wantEnd {
			t.Fatalf("%s: log end %d, want %d", s.name, end, s.wantEnd)
		}
	}

	// Only the last five batches are remembered: after six more, the
	// first batch of epoch 1 is out of the window and its resend is out
	// of order rather than a duplicate.
	seq := int32(1)
	for i := 0; i < 6; i++ {
		if _, code := produce(1, seq, 1); code != 0 {
			t.Fatalf("batch %d: %v", i, kerr.ErrorForCode(code))
		}
		seq++
	}
	if _, code := produce(1, 0, 1); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("resend outside the window: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	if off, code := produce(1, 6, 1); code != 0 || off != 12 {
		t.Fatalf("resend of a batch in the window: offset %d error %v, want 12 and none", off, kerr.ErrorForCode(code))
	}
}
