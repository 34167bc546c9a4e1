package template

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestFuture covers the lazily created Done channel: Done before and after
// completion, Get with and without Done, and concurrent waiters.
func TestFuture(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		run  func(t *testing.T, f *Future)
	}{
		{"done before completion", func(t *testing.T, f *Future) {
			done := f.Done()
			select {
			case <-done:
				t.Fatal("done before completion")
			default:
			}
			f.record().Offset = 7
			f.complete(nil)
			<-done
			if f.Done() != done {
				t.Fatal("Done returned another channel")
			}
			if res, err := f.Get(context.Background()); err != nil || res.Offset != 7 {
				t.Fatalf("Get = %v, %v", res, err)
			}
		}},
		{"done after completion", func(t *testing.T, f *Future) {
			f.complete(boom)
			<-f.Done()
			if _, err := f.Get(context.Background()); !errors.Is(err, boom) {
				t.Fatalf("Get err = %v", err)
			}
		}},
		{"get waits", func(t *testing.T, f *Future) {
			f.record().Offset = 1
			go f.complete(nil) // before or while Get waits

			if res, err := f.Get(context.Background()); err != nil || res.Offset != 1 {
				t.Fatalf("Get = %v, %v", res, err)
			}
		}},
		{"get cancelled", func(t *testing.T, f *Future) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := f.Get(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Get err = %v", err)
			}
		}},
		{"concurrent waiters", func(t *testing.T, f *Future) {
			f.record().Offset = 3
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					if i%2 == 0 {
						<-f.Done()
					}
					if res, err := f.Get(context.Background()); err != nil || res.Offset != 3 {
						t.Errorf("Get = %v, %v", res, err)
					}
				})
			}
			f.complete(nil)
			wg.Wait()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &new(asyncSend).f) })
	}
}

// TestFutureDoneRace races Done against the completion (a success, the
// promise's one-step success, a failure: the failure and Done may both
// add the future's extension): whichever comes first, the channel Done
// returned must be closed and Get must give the outcome.
func TestFutureDoneRace(t *testing.T) {
	boom := errors.New("boom")
	completions := []struct {
		name     string
		complete func(f *Future)
		err      error
	}{
		{"complete", func(f *Future) { f.complete(nil) }, nil},
		{"finish", func(f *Future) { f.finish() }, nil},
		{"fail", func(f *Future) { f.complete(boom) }, boom},
	}
	for _, c := range completions {
		for range 3000 {
			f := &new(asyncSend).f
			f.record().Offset = 1
			go c.complete(f)
			select {
			case <-f.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: Done never closed", c.name)
			}
			res, err := f.Get(context.Background())
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("%s: Get err = %v", c.name, err)
				}
			} else if err != nil || res.Offset != 1 {
				t.Fatalf("%s: Get = %v, %v", c.name, res, err)
			}
		}
	}
}
