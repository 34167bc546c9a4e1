package kafkaboot

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/template"
)

// Clusters are the Kafka clusters of an application: the default one
// (kafka.*) and those of kafka.clusters.<name>, each with its producer
// factory (its clients configured by its own tree) and its
// kafka.admin.topics. A listener with the cluster attribute consumes from
// its cluster and publishes dead letters and replies there. Under fx,
// Module provides Clusters, and Cluster(name) provides a cluster's template
// and producer factory named after it.
type Clusters struct {
	cfg       *config.Config
	main      *template.ProducerFactory
	factories map[string]*template.ProducerFactory
	mu        sync.Mutex
	tmplOpts  []template.Option
	templates map[string]*template.Template
	// registries are the schema registry serdes by configuration.
	regMu      sync.Mutex
	registries []*registrySerdes
}

// Config returns cluster name's configuration ("" is the default cluster).
func (c *Clusters) Config(name string) (*config.Config, error) { return c.cfg.ForCluster(name) }

// ProducerFactory returns cluster name's producer factory ("" is the
// default cluster's).
func (c *Clusters) ProducerFactory(name string) (*template.ProducerFactory, error) {
	if name == "" {
		return c.main, nil
	}
	if f, ok := c.factories[name]; ok {
		return f, nil
	}
	_, err := c.cfg.ForCluster(name)
	if err == nil {
		err = fmt.Errorf("kafkaboot: cluster %q has no producer factory", name)
	}
	return nil, err
}

// Template returns cluster name's template (with the options of
// TemplateOptions), the same one on every call.
func (c *Clusters) Template(name string) (*template.Template, error) {
	f, err := c.ProducerFactory(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.templates[name]; ok {
		return t, nil
	}
	cfg, err := c.cfg.ForCluster(name)
	if err != nil {
		return nil, err
	}
	opts, err := c.registry(name).templateOpts(cfg, c.tmplOpts)
	if err != nil {
		return nil, err
	}
	t := f.Template(opts...)
	if c.templates == nil {
		c.templates = map[string]*template.Template{}
	}
	c.templates[name] = t
	return t, nil
}

// ClustersParams are the inputs of Clusters under fx.
type ClustersParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Main      *template.ProducerFactory
	Logger    *slog.Logger `optional:"true"`
	Telemetry Telemetry
	Producer  [][]kgo.Opt         `group:"kafkaboot.producer"`
	Templates [][]template.Option `group:"kafkaboot.template"`
}

func provideClusters(p ClustersParams) (*Clusters, error) {
	c := &Clusters{cfg: p.Config, main: p.Main, factories: map[string]*template.ProducerFactory{}}
	for _, o := range p.Templates {
		c.tmplOpts = append(c.tmplOpts, o...)
	}
	if t := p.Config.Kafka.Template.DefaultTopic; t != "" {
		c.tmplOpts = append([]template.Option{template.WithDefaultTopic(t)}, c.tmplOpts...)
	}
	for _, name := range p.Config.ClusterNames() {
		ccfg, err := p.Config.ForCluster(name)
		if err != nil {
			return nil, err
		}
		f, err := newProducerFactory(p.Lifecycle, ccfg, p.Logger, p.Telemetry, p.Producer)
		if err != nil {
			return nil, fmt.Errorf("kafkaboot: cluster %q: %w", name, err)
		}
		c.factories[name] = f
		a := NewAdmin(ccfg, f.Client())
		p.Lifecycle.Append(fx.StartHook(func(ctx context.Context) error {
			if err := a.Start(ctx); err != nil {
				return fmt.Errorf("cluster %q: %w", name, err)
			}
			return nil
		}))
	}
	return c, nil
}

// Cluster provides cluster name's (kafka.clusters.<name>) template and
// producer factory under fx, named after it:
//
//	kafkaboot.Cluster("analytics"),
//	fx.Invoke(fx.Annotate(func(t *template.Template) { ... }, fx.ParamTags(`name:"analytics"`)))
//
// The application fails to start when the configuration has no such
// cluster.
func Cluster(name string) fx.Option {
	tag := fmt.Sprintf(`name:%q`, name)
	return fx.Options(
		fx.Provide(fx.Annotate(func(c *Clusters) (*template.Template, error) { return c.Template(name) }, fx.ResultTags(tag))),
		fx.Provide(fx.Annotate(func(c *Clusters) (*template.ProducerFactory, error) { return c.ProducerFactory(name) }, fx.ResultTags(tag))),
		fx.Invoke(fx.Annotate(func(*template.Template) {}, fx.ParamTags(tag))),
	)
}
