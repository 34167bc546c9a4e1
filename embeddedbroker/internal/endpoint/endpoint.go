// Package endpoint parses Kafka's listener configs: listeners,
// advertised.listeners and listener.security.protocol.map, in Kafka's
// syntax and with its rules (the checks of KafkaConfig and
// CoreUtils.listenerListToEndPoints).
//
//	listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093
//	advertised.listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://broker.example.com:9093
//	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
//
// A listener's name is its own (EXTERNAL, INTERNAL, ...) and its security
// protocol comes from the map, whose default maps each protocol's name to
// itself. Where Kafka binds an empty host to every interface and
// advertises the machine's canonical host name, the embedded broker does
// the same for binding and advertises 127.0.0.1 (it runs where its
// clients run); advertising 0.0.0.0 is refused as in Kafka.
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is a security protocol.
type Protocol string

// The security protocols (Kafka's SecurityProtocol).
const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// TLS reports whether the protocol encrypts with TLS.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL reports whether the protocol authenticates with SASL.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

// ParseProtocol parses a security protocol's name (case-insensitive, as
// Kafka's SecurityProtocol.forName).
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(strings.TrimSpace(s))); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", ErrInvalid, s)
}

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("endpoint: invalid listener config")

// DefaultProtocolMap is listener.security.protocol.map's default.
const DefaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

// Endpoint is one listener: a name, a security protocol and an address.
type Endpoint struct {
	Name     string // upper case, as Kafka's ListenerName.normalised
	Protocol Protocol
	Host     string // empty: every interface
	Port     int
}

// Addr is the endpoint's host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// String is the endpoint in the listeners syntax, NAME://host:port.
func (e Endpoint) String() string { return e.Name + "://" + e.Addr() }

// ParseProtocolMap parses listener.security.protocol.map: a comma
// separated list of NAME:PROTOCOL. An empty s is the default map.
func ParseProtocolMap(s string) (map[string]Protocol, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultProtocolMap
	}
	m := map[string]Protocol{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, proto, ok := strings.Cut(item, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%w: listener.security.protocol.map: %q is not NAME:PROTOCOL", ErrInvalid, item)
		}
		p, err := ParseProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("listener.security.protocol.map: %w", err)
		}
		name = strings.ToUpper(strings.TrimSpace(name))
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%w: listener.security.protocol.map: listener %s mapped twice", ErrInvalid, name)
		}
		m[name] = p
	}
	return m, nil
}

// Parse parses a listeners or advertised.listeners value (config names
// which, for the errors): comma-separated NAME://HOST:PORT, with [::1] for
// IPv6 hosts. Every name must be in protocols (ParseProtocolMap), and
// names and ports must be unique, as Kafka requires (port 0, a port the
// system chooses, may repeat).
func Parse(config, s string, protocols map[string]Protocol) ([]Endpoint, error) {
	var eps []Endpoint
	names, ports := map[string]bool{}, map[int]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %s: %q is not NAME://HOST:PORT", ErrInvalid, config, item)
		}
		name = strings.ToUpper(name)
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %q: %v", ErrInvalid, config, item, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("%w: %s: %q: port %q is not a number from 0 to 65535", ErrInvalid, config, item, portStr)
		}
		proto, ok := protocols[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s: listener %s has no security protocol in listener.security.protocol.map", ErrInvalid, config, name)
		}
		if names[name] {
			return nil, fmt.Errorf("%w: %s: listener %s appears twice; each listener must have a different name", ErrInvalid, config, name)
		}
		if port != 0 && ports[port] {
			return nil, fmt.Errorf("%w: %s: port %d appears twice; each listener must have a different port", ErrInvalid, config, port)
		}
		names[name], ports[port] = true, true
		eps = append(eps, Endpoint{Name: name, Protocol: proto, Host: host, Port: port})
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w: %s: no listener", ErrInvalid, config)
	}
	return eps, nil
}

// Advertise returns what each listener advertises: the advertised
// endpoint of the same name when advertised has one, else the listener's
// own address with 127.0.0.1 for an empty or unspecified host. Every
// advertised name must be a listener, and no advertised host may be
// unspecified (0.0.0.0, ::), as in Kafka.
func Advertise(listeners, advertised []Endpoint) ([]Endpoint, error) {
	byName := map[string]Endpoint{}
	for _, a := range advertised {
		if unspecified(a.Host) {
			return nil, fmt.Errorf("%w: advertised.listeners: %s cannot use the nonroutable meta-address %q; use a routable address", ErrInvalid, a.Name, a.Host)
		}
		byName[a.Name] = a
	}
	out := make([]Endpoint, len(listeners))
	for i, l := range listeners {
		a, ok := byName[l.Name]
		if ok {
			if a.Protocol != l.Protocol {
				return nil, fmt.Errorf("%w: advertised.listeners: %s has protocol %s, its listener %s", ErrInvalid, a.Name, a.Protocol, l.Protocol)
			}
			delete(byName, l.Name)
		} else {
			a = l
			if a.Host == "" || unspecified(a.Host) {
				a.Host = "127.0.0.1"
			}
		}
		out[i] = a
	}
	for name := range byName {
		return nil, fmt.Errorf("%w: advertised.listeners: %s is not in listeners", ErrInvalid, name)
	}
	return out, nil
}

// unspecified reports whether host is 0.0.0.0 or ::.
func unspecified(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// Offset returns eps with every non-zero port moved up by i: node i of an
// embedded cluster listens on PORT+i of each listener.
func Offset(eps []Endpoint, i int) []Endpoint {
	out := make([]Endpoint, len(eps))
	for k, e := range eps {
		if e.Port != 0 {
			e.Port += i
		}
		out[k] = e
	}
	return out
}
