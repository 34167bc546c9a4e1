package serde

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkaboot/kafkaboot/config"
)

// NewSRClient returns a schema registry client for kafka.schema-registry:
// its URLs (url) and basic authentication (basic-auth-user-info). opts
// are applied after those, for what configuration does not cover (an
// HTTP client with TLS or retries: sr.HTTPClient, sr.DialTLSConfig; a
// bearer token; a user agent). It fails when no URL is configured.
//
//	cl, err := serde.NewSRClient(cfg.Kafka.SchemaRegistry)
//	orders := serde.NewSRAvro(cl, serde.SROptionsFromConfig(cfg.Kafka.SchemaRegistry)...)
func NewSRClient(cfg config.SchemaRegistry, opts ...sr.ClientOpt) (*sr.Client, error) {
	if len(cfg.URL) == 0 {
		return nil, errors.New("serde: kafka.schema-registry.url is not set")
	}
	// sr.URLs rewrites its argument in place: give it a copy.
	all := []sr.ClientOpt{sr.URLs(slices.Clone(cfg.URL)...)}
	if user, password, ok := cfg.BasicAuth(); ok {
		all = append(all, sr.BasicAuth(user, password))
	}
	return sr.NewClient(append(all, opts...)...)
}

// SROptionsFromConfig returns the serde options kafka.schema-registry
// sets: [AutoRegister] (auto-register-schemas), [UseLatestVersion]
// (use-latest-version), [WithSubjectNameStrategy] (subject-name-strategy;
// an unknown name, which validation rejects, means topic) and
// [SRCacheCapacity] (cache-capacity). Append options to override them,
// such as [ForKeys] for a key serde.
func SROptionsFromConfig(cfg config.SchemaRegistry) []SROption {
	strategy, err := ParseSubjectNameStrategy(cfg.SubjectNameStrategy)
	if err != nil {
		strategy = TopicNameStrategy{}
	}
	return []SROption{
		AutoRegister(cfg.AutoRegisterSchemas),
		UseLatestVersion(cfg.UseLatestVersion),
		WithSubjectNameStrategy(strategy),
		SRCacheCapacity(cfg.CacheCapacity),
	}
}
