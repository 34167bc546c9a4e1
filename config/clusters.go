package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Several clusters
//
// kafka.clusters.<name> configures another Kafka cluster an application
// uses (an events cluster and an analytics cluster, or the two sides of a
// migration): each is a whole kafka.* tree whose keys default to the top
// level's, except kafka.admin.topics and kafka.listeners, which belong to
// one cluster and are not inherited, and kafka.bootstrap-servers, which a
// cluster must give. Clusters are read from files and values (the
// environment variables map to the top level only). Validation is the
// same, with keys named kafka.clusters.<name>.*.
//
//	kafka:
//	  bootstrap-servers: events-1:9092
//	  clusters:
//	    analytics:
//	      bootstrap-servers: analytics-1:9092
//	      producer:
//	        compression: zstd

// ClusterNames returns the names of the kafka.clusters entries, sorted.
func (c *Config) ClusterNames() []string { return slices.Sorted(maps.Keys(c.clusters)) }

// ForCluster returns the configuration of cluster name: the same keys,
// with Kafka the cluster's kafka.* tree ("" is the top-level cluster, c
// itself). It fails with a *FieldError naming kafka.clusters.<name> when
// there is no such cluster.
func (c *Config) ForCluster(name string) (*Config, error) {
	if name == "" {
		return c, nil
	}
	kc, ok := c.clusters[name]
	if !ok {
		known := "none configured"
		if names := c.ClusterNames(); len(names) > 0 {
			known = "known: " + strings.Join(names, ", ")
		}
		return nil, &FieldError{Key: "kafka.clusters." + name, Msg: fmt.Sprintf("no such cluster (%s)", known), Err: ErrUnknownKey}
	}
	out := *c
	out.Kafka = *kc
	return &out, nil
}

// loadClusters decodes and validates the kafka.clusters entries over the
// top-level tree top.
func loadClusters(raw any, top *Kafka) (map[string]*Kafka, error) {
	m, ok := raw.(map[string]any)
	if raw != nil && !ok {
		return nil, &FieldError{Key: "kafka.clusters", Msg: "expected a map of cluster names to kafka trees"}
	}
	out := map[string]*Kafka{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m)) {
		prefix := "kafka.clusters." + name
		sub, ok := m[name].(map[string]any)
		if !ok {
			errs = append(errs, &FieldError{Key: prefix, Msg: "expected a map (a kafka.* tree)"})
			continue
		}
		if _, nested := sub["clusters"]; nested {
			errs = append(errs, &FieldError{Key: prefix + ".clusters", Msg: "clusters cannot be nested", Err: ErrUnknownKey})
			continue
		}
		if _, ok := sub["bootstrap-servers"]; !ok {
			errs = append(errs, &FieldError{Key: prefix + ".bootstrap-servers", Msg: "is required (a cluster does not inherit the top level's)"})
			continue
		}
		kc := *top
		kc.BootstrapServers = nil
		kc.Admin.Topics = nil
		kc.Listeners = nil
		var d decoder
		d.decode(prefix, sub, reflectValueOf(&kc))
		if err := joinErrs(d.errs); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := kc.Validate(); err != nil {
			errs = append(errs, reroot(err, prefix))
			continue
		}
		out[name] = &kc
	}
	return out, errors.Join(errs...)
}

// reroot renames the kafka.* keys of a validation error to prefix.*.
func reroot(err error, prefix string) error {
	var fes []error
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			cp := *fe
			if rest, ok := strings.CutPrefix(cp.Key, "kafka"); ok {
				cp.Key = prefix + rest
			}
			fes = append(fes, &cp)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		fes = append(fes, e)
	}
	walk(err)
	return joinErrs(fes)
}
