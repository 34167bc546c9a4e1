package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
)

// Group configs (KIP-848, KIP-932: the GROUP config resource of
// IncrementalAlterConfigs and DescribeConfigs) are metadata, as in Kafka
// (ConfigRecord of resource type GROUP): the dynamic configs of every
// group, kept as one snapshot like the client quotas and ACLs. The
// controller does not interpret them; the broker validates them.

// groupConfigsRecord replaces the group configs with a snapshot: a JSON
// object of group IDs to objects of config names to values.
type groupConfigsRecord struct {
	Snapshot json.RawMessage `json:"snapshot"`
}

// GroupConfigs returns the dynamic configs set on a group (nil if none).
// The map is the caller's.
func (im *Image) GroupConfigs(group string) map[string]string {
	all, err := parseGroupConfigs(im.groupConfigs)
	if err != nil {
		return nil
	}
	return all[group]
}

func parseGroupConfigs(b []byte) (map[string]map[string]string, error) {
	all := map[string]map[string]string{}
	if len(b) == 0 {
		return all, nil
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("controller: group configs: %w", err)
	}
	return all, nil
}

// AlterGroupConfigs replaces the dynamic configs of a group with what
// update returns given the current ones (empty when none are set), in
// one metadata change made under the controller's lock; an empty result
// removes the group's configs. With validateOnly nothing changes.
func (l *Local) AlterGroupConfigs(_ context.Context, group string, update func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	return l.change(func(im *Image) ([]record, error) {
		all, err := parseGroupConfigs(im.groupConfigs)
		if err != nil {
			return nil, err
		}
		cur := maps.Clone(all[group])
		if cur == nil {
			cur = map[string]string{}
		}
		next, err := update(cur)
		if err != nil || validateOnly {
			return nil, err
		}
		if len(next) == 0 {
			delete(all, group)
		} else {
			all[group] = next
		}
		b, err := json.Marshal(all)
		if err != nil {
			return nil, fmt.Errorf("controller: group configs: %w", err)
		}
		return []record{{GroupConfigs: &groupConfigsRecord{Snapshot: b}}}, nil
	})
}
