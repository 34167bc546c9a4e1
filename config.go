package kafkaboot

import (
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
)

// ConfigParams are the inputs of NewConfig under fx.
type ConfigParams struct {
	fx.In
	// Options are the config.Options given with ConfigOptions.
	Options [][]config.Option `group:"kafkaboot.config"`
}

// ConfigOptions adds options to the configuration Module loads, for
// example a file or test values:
//
//	kafkaboot.ConfigOptions(config.WithFile("app.yaml"))
func ConfigOptions(opts ...config.Option) fx.Option {
	return fx.Provide(fx.Annotate(func() []config.Option { return opts }, fx.ResultTags(`group:"kafkaboot.config"`)))
}

// NewConfig loads the configuration: defaults, the YAML file named by
// KAFKABOOT_CONFIG (or given with config.WithFile), the environment, then
// the given options. Unknown kafka.* keys and invalid values fail with the
// key's name.
func NewConfig(opts ...config.Option) (*config.Config, error) {
	return config.Load(opts...)
}

func provideConfig(p ConfigParams) (*config.Config, error) {
	var opts []config.Option
	for _, o := range p.Options {
		opts = append(opts, o...)
	}
	return NewConfig(opts...)
}
