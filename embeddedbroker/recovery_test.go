package embeddedbroker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashRecoveryDamagedTail writes records to a disk-backed node, stops
// it, damages the tail of the segment file (a torn write, or flipped bytes
// in the last batch), starts it again on the same data, and reads back every
// record before the damage; new records continue right after them.
func TestCrashRecoveryDamagedTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"torn tail", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, st.Size()-7); err != nil {
				t.Fatal(err)
			}
		}},
		{"corrupt last batch", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-3] ^= 0xff // inside the last record: its CRC no longer matches
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage appended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 1, 0, 0, 0, 0, 0, 2, 9, 9})
			f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const n = 50
			c, err := embeddedbroker.Start(ctx, embeddedbroker.DataDir(dir), embeddedbroker.Topics(1, "crash"))
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("crash"))
			if err != nil {
				t.Fatal(err)
			}
			for i := range n { // one batch per record
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			cl.Close()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}

			tc.damage(t, filepath.Join(dir, "node-0", "crash-0", "00000000000000000000.log"))

			c, err = embeddedbroker.Start(ctx, embeddedbroker.DataDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := n - 1 // the damaged last batch is dropped
			if tc.name == "garbage appended" {
				want = n
			}
			cl, err = kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("crash"),
				kgo.ConsumeTopics("crash"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			r := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")})
			if err := r.FirstErr(); err != nil {
				t.Fatal(err)
			}
			if off := r[0].Record.Offset; off != int64(want) {
				t.Fatalf("new record at offset %d, want %d", off, want)
			}
			var got []string
			for len(got) < want+1 {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if r.Offset != int64(len(got)) {
						t.Fatalf("offset %d at position %d", r.Offset, len(got))
					}
					got = append(got, string(r.Value))
				})
			}
			for i := 0; i < want; i++ {
				if got[i] != fmt.Sprint(i) {
					t.Fatalf("record %d = %q", i, got[i])
				}
			}
			if got[want] != "after" {
				t.Fatalf("last record %q", got[want])
			}
			t.Logf("%d records read back before the damage, new record at offset %d", want, want)
		})
	}
}
