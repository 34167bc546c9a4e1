package embeddedbroker

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/broker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/endpoint"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sasl"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/tlsconf"
	"github.com/kafkaboot/kafkaboot/internal/jaas"
	kgoplain "github.com/twmb/franz-go/pkg/sasl/plain"
	kgoscram "github.com/twmb/franz-go/pkg/sasl/scram"
)

// Listeners sets the cluster's client listeners in Kafka's syntax, the
// listeners broker config: "SASL_SSL://127.0.0.1:9093", or several. Node
// i listens on PORT+i of each (port 0: a free port per node). The first
// listener is the one Addrs returns. Without Listeners (and without the
// listeners broker config) the cluster has one PLAINTEXT listener on
// 127.0.0.1 (FirstPort). Names other than the protocols' need
// listener.security.protocol.map, as in Kafka; advertised.listeners,
// ssl.* and sasl.* configs apply as in Kafka, also with the
// listener.name.<name>. prefix.
func Listeners(specs ...string) Option {
	return optionFunc(func(s *settings) { s.broker["listeners"] = strings.Join(specs, ",") })
}

// TLSBundle is a certificate authority and a server certificate it signed,
// generated for a cluster's TLS listeners (GenerateTLS), with what clients
// need to trust it.
type TLSBundle struct{ b *tlsconf.Bundle }

// GenerateTLS generates a CA and a server certificate for hosts (default
// localhost, 127.0.0.1 and ::1), for TLS.
func GenerateTLS(hosts ...string) (*TLSBundle, error) {
	b, err := tlsconf.Generate(hosts...)
	if err != nil {
		return nil, fmt.Errorf("embeddedbroker: %w", err)
	}
	return &TLSBundle{b}, nil
}

// CACert is the CA certificate, PEM-encoded: what a client's truststore
// (kafka.security.ssl.truststore-location, kcat's ssl.ca.location) needs.
func (t *TLSBundle) CACert() []byte { return t.b.CACert }

// ClientConfig is a TLS client configuration trusting the CA.
func (t *TLSBundle) ClientConfig() *tls.Config { return t.b.ClientConfig() }

// ClientCert issues a client certificate with subject CN=commonName, for
// mutual TLS (ssl.client.auth=required); its principal is
// User:CN=<commonName> under the DEFAULT ssl.principal.mapping.rules.
func (t *TLSBundle) ClientCert(commonName string) (tls.Certificate, error) {
	certPEM, keyPEM, err := t.b.ClientCert(pkix.Name{CommonName: commonName})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("embeddedbroker: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// WriteFiles writes the bundle's PEM files into dir: ca.pem (the CA), and
// server.pem (the server's certificate chain and key, as Kafka's PEM
// keystore holds them); it returns their paths.
func (t *TLSBundle) WriteFiles(dir string) (caPath, serverPath string, err error) {
	f, err := t.b.WriteFiles(dir)
	if err != nil {
		return "", "", fmt.Errorf("embeddedbroker: %w", err)
	}
	return f.CA, f.Server, nil
}

// TLS makes b the certificate of every TLS listener (SSL, SASL_SSL) that
// has no ssl.keystore.* config of its own; its CA is then the truststore
// of client certificates (ssl.client.auth).
func TLS(b *TLSBundle) Option {
	return optionFunc(func(s *settings) { s.tls = b })
}

// SCRAMUser stores a SCRAM credential when the cluster starts, as Kafka's
// kafka-storage format --add-scram does: mechanism is SCRAM-SHA-256 or
// SCRAM-SHA-512, with 4096 iterations. The password itself is not kept.
func SCRAMUser(mechanism, name, password string) Option {
	return optionFunc(func(s *settings) {
		s.scram = append(s.scram, scramUser{mechanism: mechanism, name: name, password: password})
	})
}

// PlainUser adds a user SASL/PLAIN accepts, as a user_<name>="<password>"
// option of Kafka's PlainLoginModule does.
func PlainUser(name, password string) Option {
	return optionFunc(func(s *settings) {
		if s.plain == nil {
			s.plain = map[string]string{}
		}
		s.plain[name] = password
	})
}

type scramUser struct{ mechanism, name, password string }

// listenerPlan is the cluster's client listeners as configured, node 0's
// addresses (node i adds i to every non-zero port).
type listenerPlan struct {
	bind, advertise []endpoint.Endpoint
	// explicit says which listeners advertise an address of their own
	// (advertised.listeners); the others advertise where they listen.
	explicit []bool
	specs    []broker.Listener // security of each listener; Net and Advertised unset
	plain    map[string]string
	// interBroker is the nodes' client side of inter.broker.listener.name;
	// nil: they talk on internal listeners of their own.
	interBroker *broker.InterBroker
}

// planListeners reads the listener configs, the TLS and SASL settings of
// each listener and the PLAIN users.
func (s *settings) planListeners(bcfg *configs.Broker) (*listenerPlan, error) {
	protocols, err := endpoint.ParseProtocolMap(bcfg.ListenerValue("", "listener.security.protocol.map"))
	if err != nil {
		return nil, err
	}
	spec, _ := bcfg.Get("listeners")
	if spec == "" {
		spec = "PLAINTEXT://" + net.JoinHostPort(s.host, strconv.Itoa(s.firstPort))
	}
	bind, err := endpoint.Parse("listeners", spec, protocols)
	if err != nil {
		return nil, err
	}
	var adv []endpoint.Endpoint
	if a, _ := bcfg.Get("advertised.listeners"); a != "" {
		if adv, err = endpoint.Parse("advertised.listeners", a, protocols); err != nil {
			return nil, err
		}
	}
	advertise, err := endpoint.Advertise(bind, adv)
	if err != nil {
		return nil, err
	}
	p := &listenerPlan{bind: bind, advertise: advertise, plain: maps.Clone(s.plain)}
	if p.plain == nil {
		p.plain = map[string]string{}
	}
	for _, e := range bind {
		explicit := false
		for _, a := range adv {
			explicit = explicit || a.Name == e.Name
		}
		p.explicit = append(p.explicit, explicit)
		l, err := s.listenerSecurity(bcfg, e, p.plain)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", e.Name, err)
		}
		p.specs = append(p.specs, l)
	}
	if p.interBroker, err = s.interBroker(bcfg, bind); err != nil {
		return nil, err
	}
	return p, nil
}

// interBroker reads inter.broker.listener.name (or, without it, an
// explicitly set security.inter.broker.protocol naming a listener) and
// builds the nodes' client side of that listener: TLS trusting the
// listener's truststore (or the generated CA) with the listener's own
// certificate, SASL with sasl.mechanism.inter.broker.protocol and the
// username and password of the listener's JAAS config.
func (s *settings) interBroker(bcfg *configs.Broker, bind []endpoint.Endpoint) (*broker.InterBroker, error) {
	name, _ := bcfg.Get("inter.broker.listener.name")
	if name == "" {
		if proto, set := bcfg.Get("security.inter.broker.protocol"); set {
			name = proto
		}
	}
	if name == "" {
		return nil, nil
	}
	name = strings.ToUpper(name)
	var e *endpoint.Endpoint
	for i := range bind {
		if bind[i].Name == name {
			e = &bind[i]
		}
	}
	if e == nil {
		return nil, fmt.Errorf("inter.broker.listener.name: %s is not in listeners", name)
	}
	ib := &broker.InterBroker{Listener: name}
	if e.Protocol.TLS() {
		ts, err := s.tlsSettings(bcfg, *e)
		if err != nil {
			return nil, err
		}
		server, err := tlsconf.ServerConfig(ts)
		if err != nil {
			return nil, err
		}
		roots := server.ClientCAs
		if roots == nil {
			// No client authentication on the listener: its truststore,
			// if any, or the generated CA, verifies the nodes' peers.
			ts.ClientAuth = "required"
			if withTrust, err := tlsconf.ServerConfig(ts); err == nil {
				roots = withTrust.ClientCAs
			}
		}
		if roots == nil {
			return nil, fmt.Errorf("inter.broker.listener.name %s: the nodes need a truststore to verify each other (ssl.truststore.location or embeddedbroker.TLS)", name)
		}
		ib.TLS = &tls.Config{RootCAs: roots, Certificates: server.Certificates, MinVersion: tls.VersionTLS12}
	}
	if e.Protocol.SASL() {
		mech, _ := bcfg.Get("sasl.mechanism.inter.broker.protocol")
		cfg := bcfg.JAASConfig(name, mech)
		if mech == "GSSAPI" || cfg == "" {
			return nil, fmt.Errorf("inter.broker.listener.name %s: set sasl.mechanism.inter.broker.protocol (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and the listener's JAAS config with the nodes' username and password", name)
		}
		entry, err := jaas.Parse(cfg)
		if err != nil {
			return nil, fmt.Errorf("sasl.jaas.config for %s: %w", mech, err)
		}
		user, pass := entry.Options["username"], entry.Options["password"]
		if user == "" {
			return nil, fmt.Errorf("inter.broker.listener.name %s: the JAAS config for %s has no username and password for the nodes", name, mech)
		}
		switch mech {
		case sasl.Plain:
			ib.SASL = kgoplain.Auth{User: user, Pass: pass}.AsMechanism()
		case sasl.ScramSHA256:
			ib.SASL = kgoscram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		case sasl.ScramSHA512:
			ib.SASL = kgoscram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		}
	}
	return ib, nil
}

// listenerSecurity is one listener's TLS and SASL settings.
func (s *settings) listenerSecurity(bcfg *configs.Broker, e endpoint.Endpoint, plain map[string]string) (broker.Listener, error) {
	l := broker.Listener{Name: e.Name, Protocol: e.Protocol}
	name := e.Name
	if e.Protocol.TLS() {
		ts, err := s.tlsSettings(bcfg, e)
		if err != nil {
			return l, err
		}
		if l.TLS, err = tlsconf.ServerConfig(ts); err != nil {
			return l, err
		}
		mapper, err := tlsconf.ParsePrincipalRules(bcfg.ListenerValue(name, "ssl.principal.mapping.rules"))
		if err != nil {
			return l, fmt.Errorf("ssl.principal.mapping.rules: %w", err)
		}
		l.Principal = mapper.Principal
	}
	if e.Protocol.SASL() {
		l.Mechanisms = configs.SplitList(bcfg.ListenerValue(name, "sasl.enabled.mechanisms"))
		size, _ := strconv.ParseInt(bcfg.ListenerValue(name, "sasl.server.max.receive.size"), 10, 32)
		l.MaxReceive = int32(size)
		ms, _ := strconv.ParseInt(bcfg.ListenerValue(name, "connections.max.reauth.ms"), 10, 64)
		l.Reauth = time.Duration(ms) * time.Millisecond
		for _, mech := range l.Mechanisms {
			cfg := bcfg.JAASConfig(name, mech)
			if cfg == "" {
				continue
			}
			entry, err := jaas.Parse(cfg)
			if err != nil {
				return l, fmt.Errorf("sasl.jaas.config for %s: %w", mech, err)
			}
			opts := entry.Options
			switch mech {
			case sasl.Plain:
				if !entry.Is("PlainLoginModule") {
					return l, fmt.Errorf("sasl.jaas.config for PLAIN: login module %s, want org.apache.kafka.common.security.plain.PlainLoginModule", entry.Module)
				}
				for k, v := range opts {
					if user, ok := strings.CutPrefix(k, "user_"); ok {
						plain[user] = v
					}
				}
			case sasl.OAuthBearer:
				l.SASL.OAuthPrincipalClaim = opts["unsecuredValidatorPrincipalClaimName"]
				l.SASL.OAuthScopeClaim = opts["unsecuredValidatorScopeClaimName"]
				if v := opts["unsecuredValidatorRequiredScope"]; v != "" {
					l.SASL.OAuthRequiredScope = strings.Fields(v)
				}
				if v := opts["unsecuredValidatorAllowableClockSkewMs"]; v != "" {
					ms, err := strconv.Atoi(v)
					if err != nil || ms < 0 {
						return l, fmt.Errorf("sasl.jaas.config for OAUTHBEARER: unsecuredValidatorAllowableClockSkewMs=%q is not a number of milliseconds", v)
					}
					l.SASL.OAuthClockSkew = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	return l, nil
}

// tlsSettings are a TLS listener's ssl.* settings: its own configs, or the
// generated bundle (TLS) standing in for its keystore and truststore when
// it has no keystore configured.
func (s *settings) tlsSettings(bcfg *configs.Broker, e endpoint.Endpoint) (tlsconf.Settings, error) {
	props := s.broker
	if !hasKeystore(bcfg, e.Name) {
		if s.tls == nil {
			return tlsconf.Settings{}, fmt.Errorf("%s needs a certificate: set ssl.keystore.type=PEM and ssl.keystore.location (or the listener.name.%s. ones), or use embeddedbroker.TLS",
				e.Protocol, strings.ToLower(e.Name))
		}
		prefix := "listener.name." + strings.ToLower(e.Name) + "."
		props = maps.Clone(s.broker)
		props[prefix+"ssl.keystore.type"] = "PEM"
		props[prefix+"ssl.keystore.certificate.chain"] = string(s.tls.b.ServerCert)
		props[prefix+"ssl.keystore.key"] = string(s.tls.b.ServerKey)
		props[prefix+"ssl.truststore.type"] = "PEM"
		props[prefix+"ssl.truststore.certificates"] = string(s.tls.b.CACert)
	}
	return tlsconf.FromConfigs(props, e.Name)
}

// hasKeystore reports whether a listener has a keystore configured.
func hasKeystore(bcfg *configs.Broker, listener string) bool {
	return bcfg.ListenerValue(listener, "ssl.keystore.location") != "" || bcfg.ListenerValue(listener, "ssl.keystore.certificate.chain") != ""
}

// listen opens node id's client listeners, on the addresses of its last
// start when it had one, and returns them with what each advertises.
func (c *Cluster) listen(id int32) ([]broker.Listener, error) {
	p := c.plan
	bind := endpoint.Offset(p.bind, int(id))
	adv := endpoint.Offset(p.advertise, int(id))
	if c.bound[id] == nil {
		c.bound[id] = make([]string, len(bind))
	}
	out := make([]broker.Listener, len(bind))
	for k, e := range bind {
		addr := c.bound[id][k]
		if addr == "" {
			addr = e.Addr()
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range out[:k] {
				l.Net.Close()
			}
			return nil, fmt.Errorf("embeddedbroker: node %d: listener %s: %w", id, e.Name, err)
		}
		c.bound[id][k] = ln.Addr().String()
		a := adv[k]
		if !p.explicit[k] || a.Port == 0 {
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			a.Port, _ = strconv.Atoi(port)
		}
		l := p.specs[k]
		l.Net, l.Advertised = ln, a.Addr()
		out[k] = l
	}
	return out, nil
}

// addScramUsers stores the credentials of the SCRAMUser options.
func (c *Cluster) addScramUsers(ctx context.Context) error {
	if len(c.s.scram) == 0 {
		return nil
	}
	changes := make([]controller.ScramChange, 0, len(c.s.scram))
	for _, u := range c.s.scram {
		cred, err := sasl.NewScramCredential(u.mechanism, u.password, 4096)
		if err != nil {
			return fmt.Errorf("embeddedbroker: SCRAM user %q: %w", u.name, err)
		}
		changes = append(changes, controller.ScramChange{ScramKey: controller.ScramKey{User: u.name, Mechanism: u.mechanism},
			Cred: controller.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}})
	}
	_, err := c.ctrl.AlterScramCredentials(ctx, changes)
	return err
}

// ListenerAddrs returns the nodes' advertised host:port addresses on the
// listener named name (as in Listeners, upper case), node 0 first; nil
// when there is no such listener.
func (c *Cluster) ListenerAddrs(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = strings.ToUpper(name)
	k := -1
	for i, e := range c.plan.bind {
		if e.Name == name {
			k = i
		}
	}
	if k < 0 {
		return nil
	}
	out := make([]string, len(c.advertised))
	for i := range c.advertised {
		if c.advertised[i] != nil {
			out[i] = c.advertised[i][k]
		}
	}
	return out
}
