package acl

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type snapshot struct {
	Version int            `json:"version"`
	ACLs    []snapshotBind `json:"acls"`
}

// snapshotBind is a Binding with its enums by name, so that the encoding
// reads as Kafka's and does not depend on the numeric codes.
type snapshotBind struct {
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  string `json:"patternType"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permissionType"`
}

// Snapshot encodes every binding held, deterministically (JSON, bindings in
// the order of Bindings, enums by name): equal contents give equal bytes.
func (a *Authorizer) Snapshot() []byte {
	bs := a.Bindings(AnyFilter())
	snap := snapshot{Version: 1, ACLs: make([]snapshotBind, len(bs))}
	for i, b := range bs {
		snap.ACLs[i] = snapshotBind{
			ResourceType: b.ResourceType.String(),
			ResourceName: b.ResourceName,
			PatternType:  b.PatternType.String(),
			Principal:    b.Principal,
			Host:         b.Host,
			Operation:    b.Operation.String(),
			Permission:   b.Permission.String(),
		}
	}
	out, err := json.Marshal(snap)
	if err != nil { // strings and ints only: cannot happen
		panic(err)
	}
	return out
}

// Restore replaces the bindings held with those of a Snapshot; on error
// nothing changes. Every binding must be one Add would store (definite
// resource type, pattern type, operation and permission); Restore does not
// otherwise Validate, so that what was accepted once loads again.
func (a *Authorizer) Restore(b []byte) error {
	var snap snapshot
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return fmt.Errorf("acl: decoding snapshot: %w", err)
	}
	if snap.Version != 1 {
		return fmt.Errorf("acl: unsupported snapshot version %d", snap.Version)
	}
	n := New(Options{})
	for i, sb := range snap.ACLs {
		bind, err := sb.binding()
		if err != nil {
			return fmt.Errorf("acl: snapshot binding %d: %w", i, err)
		}
		if !storable(bind) {
			return fmt.Errorf("acl: snapshot binding %d (%s) cannot be stored", i, bind)
		}
		if n.addLocked(bind) {
			n.count++
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.types, a.count = n.types, n.count
	return nil
}

func (sb snapshotBind) binding() (Binding, error) {
	t, err := kmsg.ParseACLResourceType(sb.ResourceType)
	if err != nil {
		return Binding{}, err
	}
	p, err := kmsg.ParseACLResourcePatternType(sb.PatternType)
	if err != nil {
		return Binding{}, err
	}
	op, err := kmsg.ParseACLOperation(sb.Operation)
	if err != nil {
		return Binding{}, err
	}
	perm, err := kmsg.ParseACLPermissionType(sb.Permission)
	if err != nil {
		return Binding{}, err
	}
	return Binding{t, sb.ResourceName, p, sb.Principal, sb.Host, op, perm}, nil
}
