package embeddedbroker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestFetchPartitionErrorAnswersAtOnce checks that a long-polling fetch
// with a partition error is answered at once, as Kafka's delayed fetch
// completes on any partition error, rather than after MaxWait. A follower
// whose fetch reaches a leader that has not yet applied its leadership
// gets such errors; parked for the whole wait, it would hold the
// partition's high watermark (and every acks=all write) that long.
//
// MaxWait is one minute and the raw connection's deadline 20 s: a parked
// fetch fails the test.
func TestFetchPartitionErrorAnswersAtOnce(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "quiet"))
	for _, tc := range []struct {
		name      string
		partition int32
		epoch     int32
		want      int16
	}{
		{"unknown partition", 7, -1, kerr.UnknownTopicOrPartition.Code},
		{"future leader epoch", 0, 42, kerr.UnknownLeaderEpoch.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, c.Addrs()[0])
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(12)
			req.ReplicaID = -1
			req.MaxWaitMillis = 60_000
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			req.SessionEpoch = -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "quiet"
			for _, p := range []struct{ id, epoch int32 }{{0, -1}, {tc.partition, tc.epoch}} {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.CurrentLeaderEpoch, fp.PartitionMaxBytes = p.id, p.epoch, 1<<20
				ft.Partitions = append(ft.Partitions, fp)
			}
			req.Topics = append(req.Topics, ft)
			resp := rc.do(req).(*kmsg.FetchResponse)
			got := resp.Topics[0].Partitions[1]
			if got.ErrorCode != tc.want {
				t.Fatalf("partition %d: error %v, want %v", got.Partition, kerr.ErrorForCode(got.ErrorCode), kerr.ErrorForCode(tc.want))
			}
			if ok := resp.Topics[0].Partitions[0]; ok.ErrorCode != 0 || len(ok.RecordBatches) != 0 {
				t.Fatalf("quiet partition: error %d, %d bytes", ok.ErrorCode, len(ok.RecordBatches))
			}
		})
	}
}
