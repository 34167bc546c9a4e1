package kafkaboot

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Admin creates the topics of kafka.admin.topics, like Spring's KafkaAdmin
// with NewTopic beans: at Start, the topics that do not exist are created;
// existing ones are left as they are.
type Admin struct {
	cfg    *config.Config
	client *kgo.Client
}

// NewAdmin returns an admin that talks through client (any client of the
// cluster; the producer factory's is used under fx).
func NewAdmin(cfg *config.Config, client *kgo.Client) *Admin {
	return &Admin{cfg: cfg, client: client}
}

// Start creates the configured topics when kafka.admin.auto-create is set.
func (a *Admin) Start(ctx context.Context) error {
	adm := a.cfg.Kafka.Admin
	if !adm.AutoCreate || len(adm.Topics) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, adm.OperationTimeout)
	defer cancel()
	cl := kadm.NewClient(a.client)
	for _, t := range adm.Topics {
		parts, rf := t.Partitions, t.ReplicationFactor
		if parts == 0 {
			parts = -1
		}
		if rf == 0 {
			rf = -1
		}
		var cfgs map[string]*string
		if len(t.Configs) > 0 {
			cfgs = map[string]*string{}
			for k, v := range t.Configs {
				cfgs[k] = kadm.StringPtr(v)
			}
		}
		resp, err := cl.CreateTopic(ctx, parts, rf, cfgs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafkaboot: creating topic %q (kafka.admin.topics): %w", t.Name, err)
		}
	}
	return nil
}
