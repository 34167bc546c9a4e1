package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

const brokerDoc = `
Runs an embedded Kafka cluster of --nodes nodes in this process until
SIGINT or SIGTERM. Node i listens on 127.0.0.1:(port+i); --port 0 gives
every node a free port chosen by the system (the ready line tells which).

Without --data-dir the cluster is in memory (the default, also asked for
with --in-memory) and forgets everything when it stops. With --data-dir it
keeps its metadata and logs in DIR, and a broker started again on the same
DIR serves everything it had acknowledged.

When the cluster accepts connections, exactly one line is printed on
stdout:

  kafkaboot broker ready: 3 nodes at 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094 (in memory)

and, after a clean shutdown, "kafkaboot broker stopped". Logs go to stderr.`

// runBroker is `kafkaboot broker`.
func runBroker(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("broker", "kafkaboot broker [--nodes N] [--port P] [--data-dir DIR | --in-memory] [--topic name:partitions[:rf]]... [--config k=v]...", brokerDoc)
	var (
		nodes    = fs.Int("nodes", 1, "number of broker nodes")
		port     = fs.Int("port", 9092, "port of node 0; node i listens on port+i; 0 picks free ports")
		dataDir  = fs.String("data-dir", "", "keep the cluster's data in `DIR` (default: in memory)")
		inMemory = fs.Bool("in-memory", false, "keep all data in memory (the default)")
		logLevel = fs.String("log-level", "info", "log level on stderr: debug, info, warn or error")
		admin    = fs.String("admin-addr", "127.0.0.1:0", "serve the admin API (the log cleaner's state, for topics describe) on `host:port`; \"\" for none")
		topics   stringsFlag
		configs  keyValuesFlag
	)
	fs.Var(&topics, "topic", "create topic `name:partitions[:rf]` at start unless it exists (repeatable)")
	fs.Var(&configs, "config", "broker config `key=value`, by its Kafka name, on every node (repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *nodes < 1 {
		return usageErrorf(fs.cmd, "--nodes must be at least 1, got %d", *nodes)
	}
	if *port < 0 || (*port > 0 && *port+*nodes-1 > 65535) {
		return usageErrorf(fs.cmd, "--port %d with %d nodes is out of range", *port, *nodes)
	}
	if *dataDir != "" && *inMemory {
		return usageErrorf(fs.cmd, "--data-dir and --in-memory exclude each other")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErrorf(fs.cmd, "--log-level: %v", err)
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := []embeddedbroker.Option{
		embeddedbroker.Nodes(*nodes),
		embeddedbroker.FirstPort(*port),
		embeddedbroker.BrokerConfigs(configs.asMap()),
		embeddedbroker.Logger(logger),
	}
	if *admin != "" {
		opts = append(opts, embeddedbroker.AdminAddr(*admin))
	}
	where := "in memory"
	if *dataDir != "" {
		opts = append(opts, embeddedbroker.DataDir(*dataDir))
		where = "data: " + *dataDir
	} else {
		opts = append(opts, embeddedbroker.InMemory())
	}
	for _, t := range topics {
		spec, err := parseTopicSpec(t)
		if err != nil {
			return usageErrorf(fs.cmd, "--topic: %v", err)
		}
		opts = append(opts, embeddedbroker.Topic(spec))
	}

	c, err := embeddedbroker.Start(ctx, opts...)
	if err != nil {
		return fmt.Errorf("starting broker: %w", err)
	}
	noun := "nodes"
	if *nodes == 1 {
		noun = "node"
	}
	if u := c.AdminURL(); u != "" {
		logger.Info("admin API serving", "url", u)
	}
	fmt.Fprintf(stdout, "kafkaboot broker ready: %d %s at %s (%s)\n", *nodes, noun, strings.Join(c.Addrs(), ","), where)

	<-ctx.Done()
	if err := c.Close(); err != nil {
		return fmt.Errorf("stopping broker: %w", err)
	}
	fmt.Fprintln(stdout, "kafkaboot broker stopped")
	return nil
}

// parseTopicSpec parses name[:partitions[:rf]]. Topic names cannot hold
// ':' in Kafka, so the split is unambiguous.
func parseTopicSpec(s string) (embeddedbroker.TopicSpec, error) {
	parts := strings.Split(s, ":")
	if parts[0] == "" || len(parts) > 3 {
		return embeddedbroker.TopicSpec{}, fmt.Errorf("%q is not name:partitions[:rf]", s)
	}
	spec := embeddedbroker.TopicSpec{Name: parts[0]}
	if len(parts) > 1 {
		p, err := strconv.ParseInt(parts[1], 10, 32)
		if err != nil || p < 1 {
			return spec, fmt.Errorf("%q: partitions must be a positive number", s)
		}
		spec.Partitions = int32(p)
	}
	if len(parts) > 2 {
		rf, err := strconv.ParseInt(parts[2], 10, 16)
		if err != nil || rf < 1 {
			return spec, fmt.Errorf("%q: replication factor must be a positive number", s)
		}
		spec.ReplicationFactor = int16(rf)
	}
	return spec, nil
}
