package kafkaboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/dig"
	"go.uber.org/fx"
)

// Cause returns the error that made an fx application fail to build or
// start, without fx's wrapping ("could not build arguments for function
// ...: failed to build ...: received non-nil error from function ..."):
// the configuration key, the listener struct, field and tag, or the
// broker's answer, in one line.
//
//	app := fx.New(kafkaboot.Module, ...)
//	if err := app.Err(); err != nil {
//		log.Fatal(kafkaboot.Cause(err))
//	}
func Cause(err error) error {
	if err == nil {
		return nil
	}
	root := dig.RootCause(err)
	// fx wraps a failed lifecycle hook as "OnStart hook added by <func>
	// failed: <err>": keep <err>.
	for {
		msg := root.Error()
		if !strings.HasPrefix(msg, "OnStart hook added by ") && !strings.HasPrefix(msg, "OnStop hook added by ") {
			return root
		}
		next := errors.Unwrap(root)
		if next == nil {
			return root
		}
		root = next
	}
}

// Run builds and runs an fx application like fx.New(opts...).Run(), but a
// failure to build or start is printed as its Cause, in one line, on
// standard error (after fx's own log, unless fx.NopLogger is among opts)
// before the process exits with status 1.
func Run(opts ...fx.Option) {
	os.Exit(run(os.Stderr, opts...))
}

func run(w io.Writer, opts ...fx.Option) int {
	app := fx.New(opts...)
	if err := app.Err(); err != nil {
		fmt.Fprintln(w, "kafkaboot:", Cause(err))
		return 1
	}
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		fmt.Fprintln(w, "kafkaboot: start:", Cause(err))
		return 1
	}
	<-app.Wait()
	stopCtx, cancel2 := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel2()
	if err := app.Stop(stopCtx); err != nil {
		fmt.Fprintln(w, "kafkaboot: stop:", Cause(err))
		return 1
	}
	return 0
}
