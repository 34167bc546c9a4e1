package embeddedbroker

import (
	"log/slog"
	"maps"
)

// Option configures a Cluster. Options are applied in order; later ones
// win.
type Option interface {
	apply(*settings)
}

type optionFunc func(*settings)

func (f optionFunc) apply(s *settings) { f(s) }

// TopicSpec describes a topic to create when the cluster starts.
type TopicSpec struct {
	Name string
	// Partitions defaults to the broker's num.partitions (1) when 0.
	Partitions int32
	// ReplicationFactor defaults to the broker's default.replication.factor
	// (1) when 0.
	ReplicationFactor int16
	// Configs are topic configs such as cleanup.policy or retention.ms.
	Configs map[string]string
}

type settings struct {
	nodes     int
	firstPort int
	host      string
	dataDir   string
	topics    []TopicSpec
	broker    map[string]string
	logger    *slog.Logger
	adminAddr string
	// registryAddr: serve the schema registry there.
	registryAddr string

	maxOpenFiles int

	tls   *TLSBundle
	scram []scramUser
	plain map[string]string

	// socketReplication makes followers fetch over the inter-broker
	// listeners even though the nodes share the process (tests and
	// benchmarks of that path).
	socketReplication bool
}

func defaults() settings {
	return settings{nodes: 1, host: "127.0.0.1", broker: map[string]string{}}
}

// Nodes sets the number of broker nodes (default 1). Node i has broker id i
// and its own listener and storage.
func Nodes(n int) Option { return optionFunc(func(s *settings) { s.nodes = n }) }

// FirstPort makes node i listen on port p+i on 127.0.0.1. The default, 0,
// gives every node a free port chosen by the system. It sets the default
// PLAINTEXT listener's port; Listeners replaces that listener.
func FirstPort(p int) Option { return optionFunc(func(s *settings) { s.firstPort = p }) }

// DataDir keeps the cluster's data in dir: the metadata at its top and each
// node's logs in dir/node-<id>. A cluster started again on the same dir
// serves everything it had acknowledged. Without DataDir the cluster is
// in memory and forgets everything at Close.
func DataDir(dir string) Option { return optionFunc(func(s *settings) { s.dataDir = dir }) }

// InMemory keeps all data in memory (the default), undoing an earlier
// DataDir.
func InMemory() Option { return optionFunc(func(s *settings) { s.dataDir = "" }) }

// Topic creates a topic at start, unless it exists already (a cluster
// restarted on its data directory keeps its topics).
func Topic(spec TopicSpec) Option {
	return optionFunc(func(s *settings) { s.topics = append(s.topics, spec) })
}

// Topics creates topics with the given partitions and the default
// replication factor.
func Topics(partitions int32, names ...string) Option {
	return optionFunc(func(s *settings) {
		for _, n := range names {
			s.topics = append(s.topics, TopicSpec{Name: n, Partitions: partitions})
		}
	})
}

// BrokerConfig sets a broker config on every node, by its Kafka name, for
// example "auto.create.topics.enable" or "log.segment.bytes". Unknown names
// and invalid values make Start fail.
func BrokerConfig(name, value string) Option {
	return optionFunc(func(s *settings) { s.broker[name] = value })
}

// BrokerConfigs sets several broker configs.
func BrokerConfigs(cfg map[string]string) Option {
	return optionFunc(func(s *settings) { maps.Copy(s.broker, cfg) })
}

// Logger sets the logger (default: discard). Each node logs with a "node"
// attribute.
func Logger(l *slog.Logger) Option { return optionFunc(func(s *settings) { s.logger = l }) }

// MaxOpenFiles bounds the log segment files an on-disk cluster (DataDir)
// keeps open at once, across all its nodes. A segment file is opened when
// a produce, fetch or fsync needs it and stays open until the bound makes
// the cluster close the least recently used idle one; n <= 0 (the default)
// means half the process's RLIMIT_NOFILE soft limit, leaving the other
// half to connections. This is not a Kafka config: a Kafka broker keeps
// every segment open and needs a file limit above its segment count, which
// tens of thousands of partitions in one process would exceed.
func MaxOpenFiles(n int) Option { return optionFunc(func(s *settings) { s.maxOpenFiles = n }) }
