// Command kafkaboot is kafkaboot's command line: it runs an embedded Kafka
// cluster and talks to any Kafka cluster, in the spirit of Apache Kafka's
// kafka-server-start, kafka-topics, kafka-console-producer,
// kafka-console-consumer, kafka-consumer-groups and kafka-transactions
// scripts, as one binary without a JVM.
//
//	kafkaboot broker --nodes 3                   # cluster on 127.0.0.1:9092-9094
//	kafkaboot topics create --topic orders --partitions 6
//	printf 'k1:v1\nk2:v2\n' | kafkaboot produce --topic orders --key-separator :
//	kafkaboot consume --topic orders --from-beginning --format '%k=%v\n'
//	kafkaboot groups describe --group billing
//	kafkaboot transactions describe --transactional-id payments-1
//
// Every client subcommand takes --bootstrap-server (default localhost:9092,
// or $KAFKABOOT_BOOTSTRAP_SERVER) and --command-timeout, and works against
// Apache Kafka, Redpanda or any other Kafka-wire-protocol broker just as
// well as against `kafkaboot broker`.
//
// Exit codes: 0 on success (and on -h), 1 when the operation failed, 2 on a
// usage error (unknown subcommand, bad flag, missing required flag).
//
// The subcommands are plain functions of (ctx, args, stdin, stdout, stderr)
// so that the tests run them in-process; main only wires the process's
// signals, standard streams and exit code to them. SIGINT and SIGTERM cancel
// the context: the broker shuts down, a consumer commits what it printed,
// a producer flushes what it read, and each then exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is the release version, set at link time with
// -ldflags "-X main.version=v1.2.3". Empty means: ask the build info.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cmdFunc is the shape of every subcommand: it parses args (the arguments
// after the subcommand's name), does its work until done or ctx ends, and
// returns nil, flag.ErrHelp after printing its help, a *usageError, or the
// operation's error.
type cmdFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// subcommand is one entry of the top-level dispatch table.
type subcommand struct {
	name    string
	summary string
	fn      cmdFunc
}

func subcommands() []subcommand {
	return []subcommand{
		{"broker", "run an embedded Kafka cluster (like kafka-server-start)", runBroker},
		{"topics", "create, list, describe, alter and delete topics (like kafka-topics)", runTopics},
		{"produce", "write stdin lines as records (like kafka-console-producer)", runProduce},
		{"consume", "print records (like kafka-console-consumer)", runConsume},
		{"groups", "list, describe and delete consumer groups (like kafka-consumer-groups)", runGroups},
		{"share-groups", "list, describe and delete share groups (like kafka-share-groups)", runShareGroups},
		{"transactions", "list and describe transactions (like kafka-transactions)", runTransactions},
		{"users", "list, add and delete SCRAM users (like kafka-configs --entity-type users)", runUsers},
		{"quotas", "list and set client quotas (like kafka-configs --entity-type users/clients)", runQuotas},
		{"acls", "list, add and remove ACLs (like kafka-acls)", runACLs},
		{"dlt", "list dead-letter topics and send dead letters back", runDLT},
		{"version", "print the version", runVersion},
		{"help", "print this help", nil},
	}
}

// run is the whole command line: it dispatches args[0] to its subcommand
// and maps the outcome to an exit code, printing errors to stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return 0
	}
	for _, sc := range subcommands() {
		if sc.name != args[0] || sc.fn == nil {
			continue
		}
		return exitCode(sc.fn(ctx, args[1:], stdin, stdout, stderr), stderr)
	}
	fmt.Fprintf(stderr, "kafkaboot: unknown subcommand %q\n\n", args[0])
	printUsage(stderr)
	return 2
}

// exitCode reports err on stderr and returns the exit code for it.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kafkaboot %s: %s\nRun 'kafkaboot %s -h' for usage.\n", ue.cmd, ue.msg, ue.cmd)
		return 2
	default:
		fmt.Fprintf(stderr, "kafkaboot: %v\n", err)
		return 1
	}
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("kafkaboot runs an embedded Kafka cluster and talks to any Kafka cluster.\n\n")
	b.WriteString("Usage:\n  kafkaboot <subcommand> [flags]\n\nSubcommands:\n")
	for _, sc := range subcommands() {
		fmt.Fprintf(&b, "  %-12s %s\n", sc.name, sc.summary)
	}
	b.WriteString(`
Client subcommands take --bootstrap-server host:port[,host:port] (default
localhost:9092, or $KAFKABOOT_BOOTSTRAP_SERVER) and --command-timeout.
Run 'kafkaboot <subcommand> -h' for a subcommand's flags.
`)
	io.WriteString(w, b.String())
}

func runVersion(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("version", "kafkaboot version", "Prints kafkaboot's version and the Go version it was built with.")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	fmt.Fprintf(stdout, "kafkaboot %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
