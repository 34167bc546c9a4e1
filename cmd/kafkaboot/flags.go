package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/kafkaboot/kafkaboot/config"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bootstrapEnv names the environment variable that replaces localhost:9092
// as the default of --bootstrap-server.
const bootstrapEnv = "KAFKABOOT_BOOTSTRAP_SERVER"

// usageError is a command line mistake: run prints it with a pointer to the
// subcommand's help and exits 2.
type usageError struct {
	cmd string // "topics create"
	msg string
}

func (e *usageError) Error() string { return "kafkaboot " + e.cmd + ": " + e.msg }

func usageErrorf(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// flagSet is a flag.FlagSet that prints its help to stdout on -h and turns
// parse errors into *usageError instead of printing them itself.
type flagSet struct {
	*flag.FlagSet
	cmd      string // the subcommand path, "topics create"
	synopsis string // the usage line
	doc      string // a paragraph after the usage line
}

func newFlagSet(cmd, synopsis, doc string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), cmd: cmd, synopsis: synopsis, doc: doc}
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args. It returns flag.ErrHelp after printing the help on
// -h, a *usageError for unknown flags, bad values and positional
// arguments.
func (fs *flagSet) parse(args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.printHelp(stdout)
		return flag.ErrHelp
	case err != nil:
		return &usageError{cmd: fs.cmd, msg: err.Error()}
	case fs.NArg() > 0:
		return usageErrorf(fs.cmd, "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n", fs.synopsis)
	if fs.doc != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(fs.doc))
	}
	fmt.Fprintln(w, "Flags:")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		def := f.DefValue
		switch {
		case strings.Contains(usage, "(default"): // the usage explains it
		case name == "" && def == "false", name == "int" && def == "0", def == "":
		case name == "string" || strings.Contains(def, " "):
			usage += ` (default "` + def + `")`
		default:
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// keyValuesFlag is a repeatable k=v flag; the value may contain '='.
type keyValuesFlag []keyValue

type keyValue struct{ key, value string }

func (f *keyValuesFlag) String() string {
	parts := make([]string, len(*f))
	for i, kv := range *f {
		parts[i] = kv.key + "=" + kv.value
	}
	return strings.Join(parts, ",")
}

func (f *keyValuesFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	*f = append(*f, keyValue{k, val})
	return nil
}

func (f keyValuesFlag) asMap() map[string]string {
	m := make(map[string]string, len(f))
	for _, kv := range f {
		m[kv.key] = kv.value
	}
	return m
}

// clientFlags are the connection flags every client subcommand takes.
type clientFlags struct {
	bootstrap     string
	timeout       time.Duration
	commandConfig string
}

func (c *clientFlags) register(fs *flagSet) {
	def := "localhost:9092"
	if v, ok := os.LookupEnv(bootstrapEnv); ok && v != "" {
		def = v
	}
	fs.StringVar(&c.bootstrap, "bootstrap-server", def, "brokers to bootstrap from, as `host:port[,host:port]`; $"+bootstrapEnv+" replaces the default")
	fs.DurationVar(&c.timeout, "command-timeout", 30*time.Second, "how long to wait for the cluster's answers")
	fs.StringVar(&c.commandConfig, "command-config", "", "client properties `FILE` with the security settings (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ...), as Kafka's tools take it")
}

// seeds splits --bootstrap-server.
func (c *clientFlags) seeds() []string {
	var out []string
	for s := range strings.SplitSeq(c.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// opts returns the client options of the connection flags (the security
// settings of --command-config included) followed by extra.
func (c *clientFlags) opts(extra ...kgo.Opt) ([]kgo.Opt, error) {
	k := config.Kafka{BootstrapServers: c.seeds(), ClientID: "kafkaboot", Security: config.Security{Protocol: config.ProtocolPlaintext}}
	if c.commandConfig != "" {
		props, err := readProperties(c.commandConfig)
		if err != nil {
			return nil, fmt.Errorf("--command-config: %w", err)
		}
		if k.Security, err = config.SecurityFromProperties(props); err != nil {
			return nil, fmt.Errorf("--command-config %s: %w", c.commandConfig, err)
		}
	}
	opts, err := k.ClientOpts()
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", c.commandConfig, err)
	}
	return append(opts, extra...), nil
}

// admin opens an admin client; close it with Close.
func (c *clientFlags) admin() (*kadm.Client, error) {
	if len(c.seeds()) == 0 {
		return nil, errors.New("--bootstrap-server is empty")
	}
	opts, err := c.opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return kadm.NewClient(cl), nil
}

// session returns an admin client and ctx bounded by --command-timeout;
// done closes both.
func (c *clientFlags) session(ctx context.Context) (*kadm.Client, context.Context, func(), error) {
	adm, err := c.admin()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	return adm, ctx, func() { cancel(); adm.Close() }, nil
}

// withTimeout bounds ctx by --command-timeout.
func (c *clientFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// explain wraps err from an operation named what, adding a hint when the
// cluster could not be reached or did not answer in time, which usually
// means nothing listens at the bootstrap address.
func (c *clientFlags) explain(what string, err error) error {
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w (no answer within --command-timeout %v; is a broker running at %s?)", what, err, c.timeout, c.bootstrap)
	case errors.As(err, &opErr):
		return fmt.Errorf("%s: %w (is a broker running at %s?)", what, err, c.bootstrap)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// action is one verb of a subcommand with verbs (topics, groups).
type action struct {
	name    string
	summary string
	fn      cmdFunc
}

// dispatch runs the action args[0] of subcommand cmd.
func dispatch(ctx context.Context, cmd string, actions []action, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = a.name
	}
	if len(args) == 0 {
		return usageErrorf(cmd, "missing action, one of: %s", strings.Join(names, ", "))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, "Usage:\n  kafkaboot %s <action> [flags]\n\nActions:\n", cmd)
		for _, a := range actions {
			fmt.Fprintf(stdout, "  %-9s %s\n", a.name, a.summary)
		}
		fmt.Fprintf(stdout, "\nRun 'kafkaboot %s <action> -h' for an action's flags.\n", cmd)
		return flag.ErrHelp
	}
	for _, a := range actions {
		if a.name == args[0] {
			return a.fn(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	return usageErrorf(cmd, "unknown action %q, want one of: %s", args[0], strings.Join(names, ", "))
}

// errMessage appends a broker's error message to err, when there is one.
func errMessage(err error, msg string) error {
	if err == nil || msg == "" || strings.Contains(err.Error(), msg) {
		return err
	}
	return fmt.Errorf("%w: %s", err, msg)
}
