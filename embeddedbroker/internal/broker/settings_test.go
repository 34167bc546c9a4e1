package broker

import (
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// TestSettingsFor checks that topic configs, and the broker configs that
// stand in for them, reach the partition and its log.
func TestSettingsFor(t *testing.T) {
	broker := func(set map[string]string) *Node {
		b, err := configs.NewBroker(set)
		if err != nil {
			t.Fatal(err)
		}
		return &Node{cfg: Config{Broker: b, Now: time.Now}}
	}
	n := broker(nil)
	def := n.settingsFor(&controller.Topic{})
	if def.recompress || def.timestampBeforeMaxMs != 1<<63-1 || def.log.SegmentJitter != 0 || def.log.IndexBytes != 10<<20 ||
		def.log.FlushMessages != 0 || def.log.Fsync != logstore.FsyncNever || def.log.RetentionMs != 7*24*time.Hour || def.log.RetentionBytes != -1 {
		t.Fatalf("defaults: %+v", def)
	}

	tests := []struct {
		name   string
		broker map[string]string
		topic  map[string]string
		check  func(s *partitionSettings) bool
	}{
		{"compression", nil, map[string]string{"compression.type": "snappy"},
			func(s *partitionSettings) bool { return s.recompress && s.codec == batch.CodecSnappy }},
		{"compression uncompressed", nil, map[string]string{"compression.type": "uncompressed"},
			func(s *partitionSettings) bool { return s.recompress && s.codec == batch.CodecNone }},
		{"compression from broker", map[string]string{"compression.type": "zstd"}, nil,
			func(s *partitionSettings) bool { return s.recompress && s.codec == batch.CodecZstd }},
		{"topic producer over broker zstd", map[string]string{"compression.type": "zstd"}, map[string]string{"compression.type": "producer"},
			func(s *partitionSettings) bool { return !s.recompress }},
		{"timestamps", map[string]string{"log.message.timestamp.after.max.ms": "5"}, map[string]string{"message.timestamp.before.max.ms": "7"},
			func(s *partitionSettings) bool { return s.timestampBeforeMaxMs == 7 && s.timestampAfterMaxMs == 5 }},
		{"jitter", nil, map[string]string{"segment.jitter.ms": "1500"},
			func(s *partitionSettings) bool { return s.log.SegmentJitter == 1500*time.Millisecond }},
		{"jitter from broker", map[string]string{"log.roll.jitter.ms": "20"}, nil,
			func(s *partitionSettings) bool { return s.log.SegmentJitter == 20*time.Millisecond }},
		{"index bytes", map[string]string{"log.index.size.max.bytes": "4096"}, nil,
			func(s *partitionSettings) bool { return s.log.IndexBytes == 4096 }},
		{"flush.messages 1", nil, map[string]string{"flush.messages": "1"},
			func(s *partitionSettings) bool {
				return s.log.Fsync == logstore.FsyncAlways && s.log.FlushMessages == 0
			}},
		{"flush.messages 100", nil, map[string]string{"flush.messages": "100", "flush.ms": "1000"},
			func(s *partitionSettings) bool {
				return s.log.FlushMessages == 100 && s.log.Fsync == logstore.FsyncInterval(time.Second)
			}},
		{"retention 0", nil, map[string]string{"retention.ms": "0", "retention.bytes": "0"},
			func(s *partitionSettings) bool {
				return s.log.RetentionMs == logstore.RetainNothing && s.log.RetentionBytes == logstore.RetainNothing
			}},
		{"retention", nil, map[string]string{"retention.ms": "1000", "retention.bytes": "5000"},
			func(s *partitionSettings) bool {
				return s.log.RetentionMs == time.Second && s.log.RetentionBytes == 5000
			}},
		{"compact keeps everything", nil, map[string]string{"cleanup.policy": "compact", "retention.ms": "1", "retention.bytes": "0"},
			func(s *partitionSettings) bool {
				return s.requireKeys && s.log.RetentionMs == -1 && s.log.RetentionBytes == -1
			}},
		{"compact from broker keeps everything", map[string]string{"log.cleanup.policy": "compact", "log.retention.ms": "1"}, nil,
			func(s *partitionSettings) bool { return s.requireKeys && s.log.RetentionMs == -1 }},
		{"compact,delete", nil, map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "1"},
			func(s *partitionSettings) bool { return s.requireKeys && s.log.RetentionMs == time.Millisecond }},
		{"empty policy keeps everything", nil, map[string]string{"cleanup.policy": "", "retention.ms": "1"},
			func(s *partitionSettings) bool { return !s.requireKeys && s.log.RetentionMs == -1 }},
	}
	for _, tt := range tests {
		s := broker(tt.broker).settingsFor(&controller.Topic{Configs: tt.topic})
		if !tt.check(s) {
			t.Errorf("%s: %+v", tt.name, s)
		}
		if !s.equal(s) || (tt.name != "topic producer over broker zstd" && s.equal(def)) {
			t.Errorf("%s: equal does not tell the settings from the defaults", tt.name)
		}
	}
}
