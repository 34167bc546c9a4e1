package embeddedbroker

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/endpoint"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/schemaregistry"
)

// SchemaRegistry serves a Confluent-compatible Schema Registry on addr
// (host:port; port 0 picks a free one), in the cluster's process: the
// REST API that Confluent's clients, franz-go's sr package and the serde
// package's registry serializers use, with subjects, versions, ids,
// references and compatibility levels (Avro, Protobuf and JSON Schema).
// Its state is the compacted _schemas topic, in Confluent's record format,
// replicated like any topic: schemas survive node failures and, with
// DataDir, restarts. SchemaRegistryURL says where it is.
func SchemaRegistry(addr string) Option {
	return optionFunc(func(s *settings) { s.registryAddr = addr })
}

// SchemaRegistryURL returns the schema registry's base URL
// ("http://127.0.0.1:PORT"), or "" without SchemaRegistry.
func (c *Cluster) SchemaRegistryURL() string {
	if c.registry == nil {
		return ""
	}
	return "http://" + c.registry.srv.Addr()
}

// registryServer is the running schema registry.
type registryServer struct {
	store *schemaregistry.Store
	srv   *schemaregistry.Server
}

func (c *Cluster) startRegistry(ctx context.Context) error {
	var addrs []string
	for i, spec := range c.plan.specs {
		if spec.Protocol == endpoint.Plaintext {
			addrs = c.ListenerAddrs(c.plan.bind[i].Name)
			break
		}
	}
	if addrs == nil {
		return fmt.Errorf("embeddedbroker: the schema registry needs a PLAINTEXT client listener (its own client does not authenticate yet)")
	}
	ln, err := net.Listen("tcp", c.s.registryAddr)
	if err != nil {
		return fmt.Errorf("embeddedbroker: schema registry: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rf := int16(min(len(c.nodes), 3))
	store, err := schemaregistry.OpenStore(ctx, []kgo.Opt{kgo.SeedBrokers(addrs...)}, rf, c.logger.With("component", "schema-registry"))
	if err != nil {
		ln.Close()
		return fmt.Errorf("embeddedbroker: %w", err)
	}
	reg := schemaregistry.New(store)
	c.registry = &registryServer{store: store, srv: schemaregistry.Serve(ln, reg, c.logger)}
	return nil
}

func (r *registryServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.srv.Close(ctx)
	r.store.Close()
}
