package batch

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestRecompressRoundTrip recompresses batches between every pair of codecs
// and checks that the result validates, decodes with franz-go's consumer
// decompressor to the same records, and keeps every header field but the
// length, codec and CRC.
func TestRecompressRoundTrip(t *testing.T) {
	recs := sampleRecords()
	for _, from := range allCodecs {
		for _, to := range allCodecs {
			for _, tc := range []struct {
				name string
				opts BuildOptions
			}{
				{"plain", BuildOptions{Timestamp: 1_700_000_000_000}},
				{"idempotent", BuildOptions{Timestamp: 1, Producer: &Producer{ID: 12, Epoch: 3, BaseSequence: 42}}},
				{"transactional", BuildOptions{Timestamp: 2, Transactional: true, Producer: &Producer{ID: 9, Epoch: 1, BaseSequence: 7}}},
				{"log-append-time", BuildOptions{Timestamp: 4, LogAppendTime: true}},
			} {
				t.Run(from.String()+"-"+to.String()+"/"+tc.name, func(t *testing.T) {
					tc.opts.Codec = from
					b := Build(tc.opts, recs...)
					SetBaseOffset(b, 1000)
					SetPartitionLeaderEpoch(b, 5)
					orig := bytes.Clone(b)
					before, err := Validate(b, ValidateOptions{})
					if err != nil {
						t.Fatal(err)
					}
					out, err := Recompress(b, to, 0)
					if err != nil {
						t.Fatalf("Recompress: %v", err)
					}
					if !bytes.Equal(b, orig) {
						t.Fatal("Recompress changed its input")
					}
					if from == to && &out[0] != &b[0] {
						t.Fatal("same codec: want the batch itself back")
					}
					after, err := Validate(out, ValidateOptions{})
					if err != nil {
						t.Fatalf("Validate after recompression: %v", err)
					}
					if after.Codec() != to || after.Size() != len(out) || after.CRC != CRC(out) {
						t.Fatalf("header after: %+v", after)
					}
					// Everything else is unchanged.
					want := before
					want.Length, want.CRC = after.Length, after.CRC
					want.Attributes = before.Attributes&^AttrCompressionMask | int16(to)
					if after != want {
						t.Fatalf("header\n got %+v\nwant %+v", after, want)
					}
					got, err := Records(out)
					if err != nil {
						t.Fatal(err)
					}
					equalRecords(t, got, recs)
					rb, krecs := parseWithKmsg(t, out)
					if rb.ProducerID != before.ProducerID || rb.FirstSequence != before.BaseSequence || len(krecs) != len(recs) {
						t.Fatalf("kmsg: %+v, %d records", rb, len(krecs))
					}
				})
			}
		}
	}
}

func TestRecompressErrors(t *testing.T) {
	b := Build(BuildOptions{Codec: CodecGzip}, Record{Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 1<<16)})
	if _, err := Recompress(b, CodecZstd, 1000); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decompressing past the bound: %v, want ErrCorrupt", err)
	}
	if _, err := Recompress(b[:len(b)-1], CodecZstd, 0); err == nil {
		t.Fatal("truncated batch accepted")
	}
	if _, err := Recompress(b, Codec(6), 0); err == nil {
		t.Fatal("unknown target codec accepted")
	}
}

func TestTimestampRule(t *testing.T) {
	const now = 1_700_000_000_000
	const hour = 3_600_000
	rule := func(before, after int64) TimestampRule {
		return TimestampRule{Check: true, Now: now, BeforeMaxMs: before, AfterMaxMs: after}
	}
	build := func(first int64, deltas ...int64) []byte {
		recs := make([]Record, len(deltas))
		for i, d := range deltas {
			recs[i] = Record{Key: []byte("k"), Value: []byte("v"), TimestampDelta: d}
		}
		return Build(BuildOptions{Timestamp: first}, recs...)
	}
	tests := []struct {
		name string
		b    []byte
		rule TimestampRule
		bad  string // "" when valid, else a substring of the error
	}{
		{"unbounded", build(0, 0, math.MaxInt64/2), rule(math.MaxInt64, math.MaxInt64), ""},
		{"zero rule", build(0, 0), TimestampRule{}, ""},
		{"within", build(now-hour, 0, hour, 2*hour), rule(hour, hour), ""},
		{"exactly the bounds", build(now-hour, 0, 2*hour), rule(hour, hour), ""},
		{"one ms too old", build(now-hour-1, 0), rule(hour, math.MaxInt64), "timestamp 1699996399999 of message with offset 0 is out of range; the timestamp should be within [1699996400000, 9223372036854775807]"},
		{"second record too new", build(now, 0, hour+1), rule(math.MaxInt64, hour), "record 1: timestamp 1700003600001 of message with offset 1"},
		{"before 0 refuses the past", build(now-1, 0), rule(0, math.MaxInt64), "out of range"},
		{"no timestamp (-1) is not checked", build(-1, 0), rule(0, 0), ""},
		{"far past does not overflow", build(math.MinInt64+5, 0), rule(hour, math.MaxInt64), "out of range"},
		{"far past, no bound", build(math.MinInt64+5, 0), rule(math.MaxInt64, hour), ""},
		{"far future does not overflow", build(math.MaxInt64-5, 0), rule(math.MaxInt64, hour), "out of range"},
		{"LogAppendTime topic ignores bounds", build(0, 0), TimestampRule{Check: true, LogAppendTime: true, Now: now, BeforeMaxMs: 0, AfterMaxMs: 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []Codec{CodecNone, CodecLZ4} {
				b := tt.b
				if c != CodecNone {
					var err error
					if b, err = Recompress(b, c, 0); err != nil {
						t.Fatal(err)
					}
				}
				_, err := Validate(b, ValidateOptions{Timestamps: tt.rule})
				if tt.bad == "" {
					if err != nil {
						t.Fatalf("%v: %v", c, err)
					}
					continue
				}
				if !errors.Is(err, ErrInvalidTimestamp) || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("%v: %v, want ErrInvalidTimestamp saying %q", c, err, tt.bad)
				}
			}
		})
	}
}

// A producer may not mark a batch LogAppendTime (Kafka's LogValidator), but
// on a CreateTime topic such a batch with a timestamp in range passes, as
// in Kafka, where its records all carry the max timestamp.
func TestTimestampRuleLogAppendTimeBatch(t *testing.T) {
	const now = 1_700_000_000_000
	lat := Build(BuildOptions{Timestamp: now}, Record{Key: []byte("k")})
	SetLogAppendTime(lat, now)
	for _, tt := range []struct {
		name string
		rule TimestampRule
		ok   bool
	}{
		{"not checked", TimestampRule{}, true},
		{"CreateTime topic, unbounded", TimestampRule{Check: true, Now: now, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}, true},
		{"CreateTime topic, max timestamp out of range", TimestampRule{Check: true, Now: now + 10, BeforeMaxMs: 5, AfterMaxMs: 5}, false},
		{"LogAppendTime topic", TimestampRule{Check: true, LogAppendTime: true, Now: now, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}, false},
	} {
		_, err := Validate(lat, ValidateOptions{Timestamps: tt.rule})
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidTimestamp)) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	noTS := Build(BuildOptions{Timestamp: -1}, Record{Key: []byte("k")})
	SetLogAppendTime(noTS, -1)
	_, err := Validate(noTS, ValidateOptions{Timestamps: TimestampRule{Check: true, BeforeMaxMs: math.MaxInt64, AfterMaxMs: math.MaxInt64}})
	if !errors.Is(err, ErrInvalidTimestamp) || !strings.Contains(err.Error(), "LogAppendTime") {
		t.Fatalf("LogAppendTime batch without a timestamp: %v", err)
	}
}

// Corruption is reported before a bad timestamp, and a bad timestamp before
// a null key, as Kafka orders them.
func TestTimestampPrecedence(t *testing.T) {
	b := Build(BuildOptions{Timestamp: 0}, Record{Key: nil, Value: []byte("v")})
	rule := TimestampRule{Check: true, Now: 1 << 40, BeforeMaxMs: 1, AfterMaxMs: 1}
	if _, err := Validate(b, ValidateOptions{RequireKeys: true, Timestamps: rule}); !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("timestamp and null key: %v, want ErrInvalidTimestamp", err)
	}
	b[len(b)-1] ^= 0xff
	if _, err := Validate(b, ValidateOptions{RequireKeys: true, Timestamps: rule}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt, bad timestamp and null key: %v, want ErrCorrupt", err)
	}
}

// The timestamp rule must not make the uncompressed validation path
// allocate.
func TestValidateTimestampsNoAlloc(t *testing.T) {
	b := Build(BuildOptions{Timestamp: 1000}, valueRecords(50, 100)...)
	opts := ValidateOptions{Timestamps: TimestampRule{Check: true, Now: 1000, BeforeMaxMs: 10_000, AfterMaxMs: 10_000}}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := Validate(b, opts); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// BenchmarkValidateTimestamps measures what the timestamp rule adds to
// Validate of an uncompressed batch of 100 1 KiB records: compare the
// "bounded" run with the "unchecked" one of the same run.
func BenchmarkValidateTimestamps(b *testing.B) {
	bt := Build(BuildOptions{Timestamp: 1000}, valueRecords(100, 1024)...)
	for _, tc := range []struct {
		name string
		rule TimestampRule
	}{
		{"unchecked", TimestampRule{}},
		{"bounded", TimestampRule{Check: true, Now: 1000, BeforeMaxMs: 1 << 20, AfterMaxMs: 1 << 20}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bt)))
			for b.Loop() {
				if _, err := Validate(bt, ValidateOptions{Timestamps: tc.rule}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecompress measures the cost of compression.type on a batch of
// 100 1 KiB records produced in one codec and stored in another; the
// "validate" runs are the baseline every produced batch pays anyway.
func BenchmarkRecompress(b *testing.B) {
	recs := valueRecords(100, 1024)
	for _, from := range allCodecs {
		bt := Build(BuildOptions{Codec: from}, recs...)
		b.Run(from.String()+"/validate", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bt)))
			for b.Loop() {
				if _, err := Validate(bt, ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, to := range allCodecs {
			if to == from {
				continue
			}
			b.Run(from.String()+"/to-"+to.String(), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(bt)))
				for b.Loop() {
					if _, err := Recompress(bt, to, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
