package controller

import (
	"context"
	"errors"
	"maps"
	"testing"
)

// TestGroupConfigsSurviveRestart: group configs set, changed and removed
// read back, and survive a restart from the log and from a checkpoint.
func TestGroupConfigsSurviveRestart(t *testing.T) {
	for _, checkpoint := range []bool{false, true} {
		dir := t.TempDir()
		mod := func(c *LocalConfig) {
			if checkpoint {
				c.SnapshotBytes = 200
			}
		}
		l := newLocal(t, dir, 1, mod)
		ctx := context.Background()
		set := func(group string, cfg map[string]string) {
			t.Helper()
			if err := l.AlterGroupConfigs(ctx, group, func(cur map[string]string) (map[string]string, error) {
				maps.Copy(cur, cfg)
				return cur, nil
			}, false); err != nil {
				t.Fatal(err)
			}
		}
		set("g", map[string]string{"share.auto.offset.reset": "earliest"})
		set("g", map[string]string{"share.record.lock.duration.ms": "15000"})
		set("h", map[string]string{"share.auto.offset.reset": "latest"})
		if err := l.AlterGroupConfigs(ctx, "h", func(map[string]string) (map[string]string, error) { return nil, nil }, false); err != nil {
			t.Fatal(err)
		}
		bad := errors.New("refused")
		if err := l.AlterGroupConfigs(ctx, "g", func(map[string]string) (map[string]string, error) { return nil, bad }, false); !errors.Is(err, bad) {
			t.Fatalf("refused update: %v", err)
		}
		if err := l.AlterGroupConfigs(ctx, "g", func(map[string]string) (map[string]string, error) { return map[string]string{}, nil }, true); err != nil {
			t.Fatalf("validate only: %v", err)
		}
		want := map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "15000"}
		check := func(im *Image, when string) {
			t.Helper()
			if got := im.GroupConfigs("g"); !maps.Equal(got, want) {
				t.Fatalf("%s: group g configs %v, want %v", when, got, want)
			}
			if got := im.GroupConfigs("h"); len(got) != 0 {
				t.Fatalf("%s: group h configs %v, want none", when, got)
			}
		}
		check(l.Image(), "before restart")
		if checkpoint {
			l.journal.snapWG.Wait()
		}
		r := newLocal(t, dir, 0, mod)
		check(r.Image(), "after restart")
		must2(t, r.Close())
	}
}
