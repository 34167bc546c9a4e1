package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// apiRange is a served version range.
type apiRange struct{ min, max int16 }

// served lists the APIs this broker answers and their versions. The floors
// are deliberately lower than Kafka 4's: old clients still in use speak the
// group APIs from v0, OffsetCommit from v2 and OffsetFetch from v1, and
// Produce is advertised from v0 because older librdkafka disables
// compression when Produce's minimum is above 0 (KAFKA-18659); the produce
// path rejects message formats older than v2 per batch instead. Ceilings are
// the newest versions whose semantics are implemented here.
var served = map[kmsg.Key]apiRange{
	kmsg.Produce:                      {0, 12},
	kmsg.Fetch:                        {4, 16}, // v0-v3 carry message formats v0/v1, which are not stored here
	kmsg.ListOffsets:                  {0, 9},
	kmsg.Metadata:                     {0, 12},
	kmsg.OffsetCommit:                 {2, 9},
	kmsg.OffsetFetch:                  {1, 9},
	kmsg.FindCoordinator:              {0, 6},
	kmsg.JoinGroup:                    {0, 9},
	kmsg.Heartbeat:                    {0, 4},
	kmsg.LeaveGroup:                   {0, 5},
	kmsg.SyncGroup:                    {0, 5},
	kmsg.DescribeGroups:               {0, 5},
	kmsg.ListGroups:                   {0, 5},
	kmsg.ApiVersions:                  {0, 4},
	kmsg.CreateTopics:                 {0, 7},
	kmsg.DeleteTopics:                 {0, 6},
	kmsg.DeleteRecords:                {0, 2},
	kmsg.InitProducerID:               {0, 5},
	kmsg.OffsetForLeaderEpoch:         {0, 4},
	kmsg.DescribeConfigs:              {0, 4},
	kmsg.AlterConfigs:                 {0, 2},
	kmsg.CreatePartitions:             {0, 3},
	kmsg.DeleteGroups:                 {0, 2},
	kmsg.IncrementalAlterConfigs:      {0, 1},
	kmsg.OffsetDelete:                 {0, 0},
	kmsg.SASLHandshake:                {0, 1},
	kmsg.SASLAuthenticate:             {0, 2},
	kmsg.DescribeUserSCRAMCredentials: {0, 0},
	kmsg.AlterUserSCRAMCredentials:    {0, 0},
	kmsg.DescribeClientQuotas:         {0, 1},
	kmsg.DescribeACLs:                 {0, 3},
	kmsg.CreateACLs:                   {0, 3},
	kmsg.DeleteACLs:                   {0, 3},
	kmsg.AlterClientQuotas:            {0, 1},
	kmsg.DescribeCluster:              {0, 1},
	kmsg.ElectLeaders:                 {0, 2},
	kmsg.WriteTxnMarkers:              {0, 1},
	kmsg.AddPartitionsToTxn:           {0, 3}, // v4+ is the broker-to-broker form (KIP-890)
	kmsg.AddOffsetsToTxn:              {0, 3},
	kmsg.EndTxn:                       {0, 3},
	kmsg.DescribeTransactions:         {0, 0},
	kmsg.ListTransactions:             {0, 0},
	kmsg.DescribeProducers:            {0, 0},
	kmsg.TxnOffsetCommit:              {0, 4}, // v5+ expects the broker to add the partition itself (KIP-890)
	kmsg.ConsumerGroupHeartbeat:       {0, 1},
	kmsg.ConsumerGroupDescribe:        {0, 1},
}

// versions is the wire.Versions of this broker, capped by what kmsg knows.
func versions(key int16) (lo, hi int16, ok bool) {
	r, ok := served[kmsg.Key(key)]
	if !ok {
		return 0, 0, false
	}
	req := kmsg.RequestForKey(key)
	if req == nil {
		return 0, 0, false
	}
	return r.min, min(r.max, req.MaxVersion()), true
}
