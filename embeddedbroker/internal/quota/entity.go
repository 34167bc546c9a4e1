package quota

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Entity types as they appear in DescribeClientQuotas and AlterClientQuotas
// (Kafka's ClientQuotaEntity.USER, CLIENT_ID and IP).
const (
	EntityUser     = "user"
	EntityClientID = "client-id"
	EntityIP       = "ip"
)

// Error is a request error with the Kafka error code a response carries.
// errors.Is(err, kerr.InvalidRequest) works on it.
type Error struct {
	Err     *kerr.Error // the Kafka error code
	Message string      // Kafka's error message for the response
}

// Error implements error.
func (e *Error) Error() string { return "quota: " + e.Err.Message + ": " + e.Message }

// Unwrap returns the Kafka error.
func (e *Error) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &Error{Err: kerr.InvalidRequest, Message: fmt.Sprintf(format, args...)}
}

type componentKind uint8

const (
	absent componentKind = iota
	defaultName
	named
)

// Component is the user or the client-id half of an Entity: absent (the
// zero value), the <default> entity, or a specific name. It is comparable.
type Component struct {
	kind componentKind
	name string
}

// Named returns the component for a specific user or client-id.
func Named(name string) Component { return Component{kind: named, name: name} }

// Default returns the <default> component (a nil name on the wire).
func Default() Component { return Component{kind: defaultName} }

// IsSet reports whether the entity has this component.
func (c Component) IsSet() bool { return c.kind != absent }

// IsDefault reports whether the component is <default>.
func (c Component) IsDefault() bool { return c.kind == defaultName }

// Name returns the specific name, or "" for the default or an absent
// component.
func (c Component) Name() string { return c.name }

// wire returns the component as a nullable entity name.
func (c Component) wire() *string {
	if c.kind == defaultName {
		return nil
	}
	n := c.name
	return &n
}

func (c Component) path() string {
	if c.kind == defaultName {
		return "<default>"
	}
	return c.name
}

// compare orders absent < default < named, names bytewise.
func (c Component) compare(o Component) int {
	if c.kind != o.kind {
		return int(c.kind) - int(o.kind)
	}
	return strings.Compare(c.name, o.name)
}

// Entity is what a client quota is configured for: a user, a client-id, or
// both, each a specific name or <default>. It is comparable.
type Entity struct {
	User     Component
	ClientID Component
}

// String returns Kafka's configuration path for the entity, as in the
// precedence list: /config/users/<user>/clients/<client-id>,
// /config/users/<default>, /config/clients/<default>, ...
func (e Entity) String() string {
	var b strings.Builder
	b.WriteString("/config")
	if e.User.IsSet() {
		b.WriteString("/users/")
		b.WriteString(e.User.path())
	}
	if e.ClientID.IsSet() {
		b.WriteString("/clients/")
		b.WriteString(e.ClientID.path())
	}
	return b.String()
}

// level is the entity's place in Kafka's precedence (1 most specific .. 8),
// 0 for an entity with no component.
func (e Entity) level() int {
	u, c := e.User.kind, e.ClientID.kind
	switch {
	case u == named && c == named:
		return 1
	case u == named && c == defaultName:
		return 2
	case u == named && c == absent:
		return 3
	case u == defaultName && c == named:
		return 4
	case u == defaultName && c == defaultName:
		return 5
	case u == defaultName && c == absent:
		return 6
	case u == absent && c == named:
		return 7
	case u == absent && c == defaultName:
		return 8
	}
	return 0
}

func (e Entity) compare(o Entity) int {
	if c := e.User.compare(o.User); c != 0 {
		return c
	}
	return e.ClientID.compare(o.ClientID)
}

// validate is ClientQuotaControlManager.validateEntity for an already typed
// entity: at least one component, and no empty name.
func (e Entity) validate() error {
	if !e.User.IsSet() && !e.ClientID.IsSet() {
		return invalid("Invalid empty client quota entity")
	}
	if e.User.kind == named && e.User.name == "" {
		return invalid("Empty %s not supported", EntityUser)
	}
	if e.ClientID.kind == named && e.ClientID.name == "" {
		return invalid("Empty %s not supported", EntityClientID)
	}
	return nil
}

// ParseEntity converts an AlterClientQuotas entity (a list of type and
// nullable name; nil is <default>) into an Entity, validating it as Kafka's
// controller does: INVALID_REQUEST for an empty list, a repeated or unknown
// type, an empty name, or ip combined with user or client-id. An ip entity
// on its own is INVALID_REQUEST too: the embedded broker has no IP
// (connection_creation_rate) quotas.
//
// The other entity lists of the two APIs have the same fields, so a
// []kmsg.DescribeClientQuotasResponseEntryEntity converts element-wise.
func ParseEntity(es []kmsg.AlterClientQuotasRequestEntryEntity) (Entity, error) {
	var e Entity
	if len(es) == 0 {
		return e, invalid("Invalid empty client quota entity")
	}
	var seenIP bool
	for _, c := range es {
		var dst *Component
		switch c.Type {
		case EntityUser:
			dst = &e.User
		case EntityClientID:
			dst = &e.ClientID
		case EntityIP:
			if seenIP {
				return Entity{}, invalid("Invalid client quota entity, duplicate entity entry %s", c.Type)
			}
			seenIP = true
		default:
			return Entity{}, invalid("Unhandled client quota entity type: %s", c.Type)
		}
		if dst != nil {
			if dst.IsSet() {
				return Entity{}, invalid("Invalid client quota entity, duplicate entity entry %s", c.Type)
			}
			if c.Name == nil {
				*dst = Default()
			} else {
				*dst = Named(*c.Name)
			}
		}
		if c.Name != nil && *c.Name == "" {
			return Entity{}, invalid("Empty %s not supported", c.Type)
		}
	}
	if seenIP {
		if e.User.IsSet() || e.ClientID.IsSet() {
			return Entity{}, invalid("Invalid quota entity combination, IP entity should not be combined with User or ClientId")
		}
		return Entity{}, invalid("IP quota entities (connection_creation_rate) are not supported by the embedded broker")
	}
	return e, nil
}

// AlterEntity returns the entity as an AlterClientQuotas entity list, user
// first; ParseEntity inverts it.
func (e Entity) AlterEntity() []kmsg.AlterClientQuotasRequestEntryEntity {
	out := make([]kmsg.AlterClientQuotasRequestEntryEntity, 0, 2)
	if e.User.IsSet() {
		out = append(out, kmsg.AlterClientQuotasRequestEntryEntity{Type: EntityUser, Name: e.User.wire()})
	}
	if e.ClientID.IsSet() {
		out = append(out, kmsg.AlterClientQuotasRequestEntryEntity{Type: EntityClientID, Name: e.ClientID.wire()})
	}
	return out
}

// describeEntity returns the entity as a DescribeClientQuotas response list.
func (e Entity) describeEntity() []kmsg.DescribeClientQuotasResponseEntryEntity {
	a := e.AlterEntity()
	out := make([]kmsg.DescribeClientQuotasResponseEntryEntity, len(a))
	for i := range a {
		out[i] = kmsg.DescribeClientQuotasResponseEntryEntity(a[i])
	}
	return out
}
