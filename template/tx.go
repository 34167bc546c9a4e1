package template

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaboot/kafkaboot/internal/txscope"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ExecuteInTransaction runs fn inside a Kafka transaction on the template's
// transactional client: BeginTransaction, fn, then Flush and
// EndTransaction(TryCommit) if fn returned nil, or AbortBufferedRecords and
// EndTransaction(TryAbort) if fn failed or panicked (the panic is
// re-raised after the abort). Records sent through the template passed to
// fn (which is t) belong to the transaction; consumers with
// isolation-level read_committed see them only after the commit.
//
// The error wraps fn's error ("template: transaction aborted: ...") or the
// commit error; if aborting fails too, both are joined. A failed commit is
// followed by an abort attempt.
//
// Transactions on one client are sequential: calls on the same template
// are serialized. Do not use the same transactional client from several
// templates, or send on this template outside ExecuteInTransaction (such
// sends fail with franz-go's "not in a transaction" error, or silently
// join a concurrent transaction).
//
// In the handler of a transactional listener (ctx is the handler's),
// fn runs in the listener's transaction instead, which commits with the
// consumed offsets; an error from fn fails the handler call and aborts
// that transaction, as Spring's nested transactions join the
// container's.
func (t *Template) ExecuteInTransaction(ctx context.Context, fn func(ctx context.Context, t *Template) error) error {
	if txscope.Client(ctx) != nil {
		if err := fn(ctx, t); err != nil {
			return fmt.Errorf("template: transaction aborted: %w", err)
		}
		return nil
	}
	if !t.transactional {
		return fmt.Errorf("template: execute in transaction: %w", ErrNotTransactional)
	}
	t.txMu.Lock()
	defer t.txMu.Unlock()

	if err := t.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("template: begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = t.abort(ctx)
			panic(p)
		}
	}()

	if ferr := fn(ctx, t); ferr != nil {
		ferr = fmt.Errorf("template: transaction aborted: %w", ferr)
		if aerr := t.abort(ctx); aerr != nil {
			return errors.Join(ferr, aerr)
		}
		return ferr
	}
	if ferr := t.cl.Flush(ctx); ferr != nil {
		ferr = fmt.Errorf("template: transaction flush: %w", t.cause(ferr))
		if aerr := t.abort(ctx); aerr != nil {
			return errors.Join(ferr, aerr)
		}
		return ferr
	}
	if cerr := t.cl.EndTransaction(ctx, kgo.TryCommit); cerr != nil {
		cerr = fmt.Errorf("template: commit transaction: %w", t.cause(cerr))
		// As franz-go recommends, a failed or unconfirmed commit is
		// followed by an abort, which fences anything still open.
		if aerr := t.cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			return errors.Join(cerr, fmt.Errorf("template: abort transaction: %w", t.cause(aerr)))
		}
		return cerr
	}
	return nil
}

func (t *Template) abort(ctx context.Context) error {
	if err := t.cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("template: abort buffered records: %w", t.cause(err))
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("template: abort transaction: %w", t.cause(err))
	}
	return nil
}

// cause adds the last broker-side error to a context error: a call that
// ran out of time says why.
func (t *Template) cause(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return withCause(err, t.watch.LastError())
	}
	return err
}
