package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
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

(followed by "; schema registry at http://127.0.0.1:PORT" with
--schema-registry-port)
and, after a clean shutdown, "kafkaboot broker stopped". Logs go to stderr.

Security, with Kafka's names (the Kafka security documentation applies):

  --listener SASL_PLAINTEXT://127.0.0.1:9192 --listener SSL://0.0.0.0:9292
      client listeners (repeatable; replaces the default PLAINTEXT one and
      --port). With --nodes N, node i listens on PORT+i of each. Other
      names need listener.security.protocol.map; advertised.listeners,
      ssl.* and sasl.* are --config (or --config-file) entries.
  --config-file server.properties
      broker configs from a Kafka properties file; --config entries win.
      log.dirs becomes --data-dir; KRaft and thread settings (node.id,
      process.roles, controller.*, num.*.threads) do not apply to an
      embedded cluster and are skipped, as are the controller listeners.
  --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]'
      store a SCRAM credential at start (kafka-storage format's syntax;
      repeatable).
  --generate-tls DIR
      generate a CA and a server certificate into DIR (ca.pem, server.pem)
      and serve every TLS listener without an ssl.keystore config with
      them; clients trust DIR/ca.pem.

Schemas: --schema-registry-port 8081 serves a Confluent-compatible schema
registry (REST API at http://127.0.0.1:8081) whose state is the cluster's
_schemas topic (the ready line says its URL).

SASL users for PLAIN come from the JAAS config, as in Kafka:
  --config 'listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'`

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
		srPort   = fs.Int("schema-registry-port", -1, "serve a Confluent-compatible schema registry on 127.0.0.1:`PORT` (0: a free port); -1 for none")
		cfgFile  = fs.String("config-file", "", "broker configs from a Kafka properties `FILE`; --config entries win")
		genTLS   = fs.String("generate-tls", "", "generate a CA and server certificate into `DIR` for the TLS listeners")
		topics   stringsFlag
		configs  keyValuesFlag
		lsnrs    stringsFlag
		scrams   stringsFlag
	)
	fs.Var(&topics, "topic", "create topic `name:partitions[:rf]` at start unless it exists (repeatable)")
	fs.Var(&configs, "config", "broker config `key=value`, by its Kafka name, on every node (repeatable)")
	fs.Var(&lsnrs, "listener", "client listener `NAME://HOST:PORT` (repeatable; replaces the default PLAINTEXT one)")
	fs.Var(&scrams, "add-scram", "SCRAM credential `MECHANISM=[name=N,password=P]` to store at start (repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	portSet := false
	fs.Visit(func(f *flag.Flag) { portSet = portSet || f.Name == "port" })
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
	bcfg := map[string]string{}
	if *cfgFile != "" {
		props, err := readProperties(*cfgFile)
		if err != nil {
			return usageErrorf(fs.cmd, "--config-file: %v", err)
		}
		var skipped []string
		if bcfg, skipped, err = serverProperties(props, dataDir); err != nil {
			return usageErrorf(fs.cmd, "--config-file: %v", err)
		}
		if len(skipped) > 0 {
			logger.Info("config file entries that do not apply to an embedded cluster, skipped", "file", *cfgFile, "keys", strings.Join(skipped, ","))
		}
	}
	maps.Copy(bcfg, configs.asMap())
	if len(lsnrs) > 0 {
		if portSet {
			return usageErrorf(fs.cmd, "--port sets the default PLAINTEXT listener; with --listener give each listener's port")
		}
		bcfg["listeners"] = strings.Join(lsnrs, ",")
	}
	opts := []embeddedbroker.Option{
		embeddedbroker.Nodes(*nodes),
		embeddedbroker.FirstPort(*port),
		embeddedbroker.BrokerConfigs(bcfg),
		embeddedbroker.Logger(logger),
	}
	for _, s := range scrams {
		mech, name, password, err := parseAddScram(s)
		if err != nil {
			return usageErrorf(fs.cmd, "--add-scram: %v", err)
		}
		opts = append(opts, embeddedbroker.SCRAMUser(mech, name, password))
	}
	if *genTLS != "" {
		b, err := embeddedbroker.GenerateTLS()
		if err != nil {
			return err
		}
		ca, server, err := b.WriteFiles(*genTLS)
		if err != nil {
			return err
		}
		logger.Info("TLS certificates generated", "ca", ca, "server", server)
		opts = append(opts, embeddedbroker.TLS(b))
	}
	if *srPort >= 0 {
		opts = append(opts, embeddedbroker.SchemaRegistry("127.0.0.1:"+strconv.Itoa(*srPort)))
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
	if u := c.SchemaRegistryURL(); u != "" {
		logger.Info("schema registry serving", "url", u)
	}
	registry := ""
	if u := c.SchemaRegistryURL(); u != "" {
		registry = "; schema registry at " + u
	}
	fmt.Fprintf(stdout, "kafkaboot broker ready: %d %s at %s (%s)%s\n", *nodes, noun, strings.Join(c.Addrs(), ","), where, registry)
	if len(lsnrs) > 1 {
		for _, l := range lsnrs[1:] {
			name, _, _ := strings.Cut(l, "://")
			logger.Info("listener", "name", strings.ToUpper(name), "addrs", strings.Join(c.ListenerAddrs(name), ","))
		}
	}

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

// parseAddScram parses kafka-storage's --add-scram value:
// MECHANISM=[name=alice,password=alice-secret], values optionally in
// double quotes. Only 4096 iterations, kafka-storage's default, are
// supported; a given salt or salted password is refused.
func parseAddScram(s string) (mechanism, name, password string, err error) {
	mech, body, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(body, "[") || !strings.HasSuffix(body, "]") {
		return "", "", "", fmt.Errorf("%q is not MECHANISM=[name=N,password=P]", s)
	}
	mechanism = strings.ToUpper(strings.TrimSpace(mech))
	if mechanism != "SCRAM-SHA-256" && mechanism != "SCRAM-SHA-512" {
		return "", "", "", fmt.Errorf("mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", mech)
	}
	for _, kv := range strings.Split(body[1:len(body)-1], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", "", "", fmt.Errorf("%q is not key=value", kv)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "name":
			name = v
		case "password":
			password = v
		case "iterations":
			if v != "4096" {
				return "", "", "", fmt.Errorf("iterations=%s: only 4096 is supported here", v)
			}
		default:
			return "", "", "", fmt.Errorf("%q: only name, password and iterations are supported", k)
		}
	}
	if name == "" || password == "" {
		return "", "", "", fmt.Errorf("%q needs a name and a password", s)
	}
	return mechanism, name, password, nil
}

// skippedServerProperties are server.properties entries an embedded
// cluster has no use for: KRaft's roles and quorum (its controller is in
// process), node ids (nodes are numbered 0..N-1) and thread and socket
// buffer sizes.
var skippedServerProperties = map[string]bool{
	"node.id": true, "broker.id": true, "process.roles": true,
	"controller.quorum.voters": true, "controller.quorum.bootstrap.servers": true, "controller.listener.names": true,
	"num.network.threads": true, "num.io.threads": true, "num.recovery.threads.per.data.dir": true,
	"num.replica.fetchers": true, "background.threads": true,
	"socket.send.buffer.bytes": true, "socket.receive.buffer.bytes": true,
	"log.dir": true, "log.dirs": true,
}

// serverProperties turns a server.properties file into broker configs:
// log.dirs (its first directory) becomes the data directory unless
// --data-dir is given, the listeners named in controller.listener.names
// are dropped from listeners, and the entries an embedded cluster has no
// use for are returned in skipped.
func serverProperties(props map[string]string, dataDir *string) (cfg map[string]string, skipped []string, err error) {
	cfg = map[string]string{}
	for k, v := range props {
		if skippedServerProperties[k] {
			skipped = append(skipped, k)
			continue
		}
		cfg[k] = v
	}
	slices.Sort(skipped)
	dirs := props["log.dirs"]
	if dirs == "" {
		dirs = props["log.dir"]
	}
	if dirs != "" && *dataDir == "" {
		*dataDir, _, _ = strings.Cut(dirs, ",")
	}
	if names := props["controller.listener.names"]; names != "" && cfg["listeners"] != "" {
		drop := map[string]bool{}
		for _, n := range strings.Split(names, ",") {
			drop[strings.ToUpper(strings.TrimSpace(n))] = true
		}
		var keep []string
		for _, l := range strings.Split(cfg["listeners"], ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(l), "://")
			if !drop[strings.ToUpper(name)] {
				keep = append(keep, strings.TrimSpace(l))
			}
		}
		cfg["listeners"] = strings.Join(keep, ",")
	}
	return cfg, skipped, nil
}
