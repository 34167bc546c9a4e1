// Package txscope carries the transactional client of a listener
// container's transaction in a context: the handlers of a transactional
// listener get it in their context, and the template and the container's
// own publishing (dead letters, replies, retry forwards) send through it,
// so that what a handler sends commits with the offsets of the records it
// consumed (consume-transform-produce).
package txscope

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

type key struct{}

// WithClient returns ctx carrying cl, a client in a transaction.
func WithClient(ctx context.Context, cl *kgo.Client) context.Context {
	return context.WithValue(ctx, key{}, cl)
}

// Client returns the transactional client carried by ctx, or nil.
func Client(ctx context.Context) *kgo.Client {
	if ctx == nil {
		return nil
	}
	cl, _ := ctx.Value(key{}).(*kgo.Client)
	return cl
}
