package configs

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Security broker configs: listeners, TLS and SASL, by Kafka's names.
//
//	Broker config                                   State
//	listeners, advertised.listeners,
//	listener.security.protocol.map                  honoured; with N nodes, node i listens on PORT+i
//	inter.broker.listener.name,
//	security.inter.broker.protocol,
//	sasl.mechanism.inter.broker.protocol            honoured: the nodes fetch and send markers on that listener,
//	                                                authenticating as its clients (TLS with the listener's own
//	                                                truststore and keystore; SASL with the username and password
//	                                                of the listener's JAAS config); unset, they use an internal
//	                                                loopback listener of their own (Kafka: the PLAINTEXT one)
//	ssl.keystore.type, ssl.truststore.type          PEM only (Kafka's default JKS is refused when a listener uses TLS)
//	ssl.keystore.location, ssl.keystore.key,
//	ssl.keystore.certificate.chain, ssl.key.password,
//	ssl.truststore.location, ssl.truststore.certificates,
//	ssl.client.auth, ssl.enabled.protocols,
//	ssl.protocol, ssl.cipher.suites,
//	ssl.principal.mapping.rules                     honoured
//	sasl.enabled.mechanisms                         PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured
//	                                                JWTs); default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 (Kafka: GSSAPI,
//	                                                which needs Kerberos and is not supported)
//	sasl.jaas.config                                PlainLoginModule's user_<name>="<password>" options are the
//	                                                PLAIN users; the other login modules need no options here
//	sasl.server.max.receive.size                    honoured
//	connections.max.reauth.ms                       honoured (KIP-368)
//	quota.window.num, quota.window.size.seconds     honoured (client quotas)
//	authorizer.class.name, super.users,
//	allow.everyone.if.no.acl.found                  honoured (ACLs); Kafka's two authorizers' names only; the
//	                                                authorizer is also on when a listener authenticates, and then
//	                                                allow.everyone.if.no.acl.found defaults to true
//
// Each of the ssl.*, sasl.* and connections.max.reauth.ms configs may be
// given for one listener with Kafka's prefix, listener.name.<name>.<config>
// (and sasl.jaas.config as listener.name.<name>.<mechanism>.sasl.jaas.config).
// Passwords (Kafka's PASSWORD type) are never shown by DescribeConfigs nor
// quoted in errors.
var securityDefs = []Def{
	{Name: "allow.everyone.if.no.acl.found", Type: kmsg.ConfigTypeBoolean, Default: "false", Doc: "Unset with an authorizer turned on by an authenticating listener (no authorizer.class.name), a resource without ACLs is open to every authenticated principal."},
	{Name: "authorizer.class.name", Type: kmsg.ConfigTypeString, Enum: []string{"", "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"}, Doc: "Kafka's ACL authorizer; on anyway when a listener authenticates."},
	{Name: "advertised.listeners", Type: kmsg.ConfigTypeString, Doc: "Listeners to tell clients, NAME://HOST:PORT; default: listeners, with 127.0.0.1 for an empty or 0.0.0.0 host."},
	{Name: "connections.max.reauth.ms", Type: kmsg.ConfigTypeLong, Default: "0", Min: minOf(0), PerListener: true, Doc: "A SASL session's longest life before the client must re-authenticate (KIP-368); 0: forever."},
	{Name: "inter.broker.listener.name", Type: kmsg.ConfigTypeString, Doc: "The listener the nodes replicate and send transaction markers on, as its clients; unset (and security.inter.broker.protocol unset): an internal loopback listener of their own."},
	{Name: "listener.security.protocol.map", Type: kmsg.ConfigTypeString, Default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"},
	{Name: "listeners", Type: kmsg.ConfigTypeString, Doc: "Client listeners, NAME://HOST:PORT,...; default: PLAINTEXT on 127.0.0.1 (the cluster's FirstPort, or any port)."},
	{Name: "quota.window.num", Type: kmsg.ConfigTypeInt, Default: "11", Min: minOf(1), Doc: "Samples a client quota's rate is measured over."},
	{Name: "quota.window.size.seconds", Type: kmsg.ConfigTypeInt, Default: "1", Min: minOf(1), Doc: "Length of one quota sample."},
	{Name: "sasl.enabled.mechanisms", Type: kmsg.ConfigTypeList, Default: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", Enum: []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"}, PerListener: true, Doc: "GSSAPI (Kerberos) is not supported."},
	{Name: "sasl.jaas.config", Type: kmsg.ConfigTypePassword, PerListener: true, Doc: "PlainLoginModule's user_<name>=\"<password>\" options are the PLAIN users."},
	{Name: "sasl.server.max.receive.size", Type: kmsg.ConfigTypeInt, Default: "524288", Min: minOf(1), PerListener: true},
	{Name: "sasl.mechanism.inter.broker.protocol", Type: kmsg.ConfigTypeString, Default: "GSSAPI", Enum: []string{"GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, Doc: "GSSAPI is not supported: set it with a SASL inter-broker listener."},
	{Name: "security.inter.broker.protocol", Type: kmsg.ConfigTypeString, Default: "PLAINTEXT", Enum: []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}, Doc: "Set, without inter.broker.listener.name: the nodes talk on the listener of that name."},
	{Name: "super.users", Type: kmsg.ConfigTypeString, Doc: "Principals allowed everything, User:admin;User:ops."},
	{Name: "ssl.cipher.suites", Type: kmsg.ConfigTypeList, PerListener: true},
	{Name: "ssl.client.auth", Type: kmsg.ConfigTypeString, Default: "none", Enum: []string{"none", "requested", "required"}, PerListener: true},
	{Name: "ssl.enabled.protocols", Type: kmsg.ConfigTypeList, Default: "TLSv1.2,TLSv1.3", Enum: []string{"TLSv1.2", "TLSv1.3"}, PerListener: true},
	{Name: "ssl.key.password", Type: kmsg.ConfigTypePassword, PerListener: true},
	{Name: "ssl.keystore.certificate.chain", Type: kmsg.ConfigTypePassword, PerListener: true},
	{Name: "ssl.keystore.key", Type: kmsg.ConfigTypePassword, PerListener: true},
	{Name: "ssl.keystore.location", Type: kmsg.ConfigTypeString, PerListener: true},
	{Name: "ssl.keystore.password", Type: kmsg.ConfigTypePassword, PerListener: true},
	{Name: "ssl.keystore.type", Type: kmsg.ConfigTypeString, Default: "JKS", Enum: []string{"JKS", "PKCS12", "PEM"}, PerListener: true, Doc: "Only PEM is supported; set it on every TLS listener."},
	{Name: "ssl.principal.mapping.rules", Type: kmsg.ConfigTypeString, Default: "DEFAULT", PerListener: true},
	{Name: "ssl.protocol", Type: kmsg.ConfigTypeString, Default: "TLSv1.3", Enum: []string{"TLS", "TLSv1.2", "TLSv1.3"}, PerListener: true},
	{Name: "ssl.truststore.certificates", Type: kmsg.ConfigTypePassword, PerListener: true},
	{Name: "ssl.truststore.location", Type: kmsg.ConfigTypeString, PerListener: true},
	{Name: "ssl.truststore.password", Type: kmsg.ConfigTypePassword, PerListener: true},
	{Name: "ssl.truststore.type", Type: kmsg.ConfigTypeString, Default: "JKS", Enum: []string{"JKS", "PKCS12", "PEM"}, PerListener: true, Doc: "Only PEM is supported."},
}

// withSecurity returns defs and the security defs, sorted by name.
func withSecurity(defs []Def) []Def {
	all := append(slices.Clone(defs), securityDefs...)
	slices.SortFunc(all, func(a, b Def) int { return cmp.Compare(a.Name, b.Name) })
	return all
}

// listenerPrefix starts the name of a config given for one listener.
const listenerPrefix = "listener.name."

// SplitListenerConfig splits a listener-prefixed config name,
// listener.name.<listener>.<config>, into the listener's name (upper
// case) and the config's own name; a <mechanism>.sasl.jaas.config config
// yields the mechanism too. ok is false for a name without the prefix.
func SplitListenerConfig(name string) (listener, mechanism, config string, ok bool) {
	rest, found := strings.CutPrefix(name, listenerPrefix)
	if !found {
		return "", "", "", false
	}
	listener, config, found = strings.Cut(rest, ".")
	if !found || listener == "" {
		return "", "", "", false
	}
	if mech, found := strings.CutSuffix(config, ".sasl.jaas.config"); found && !strings.Contains(mech, ".") {
		return strings.ToUpper(listener), strings.ToUpper(mech), "sasl.jaas.config", true
	}
	return strings.ToUpper(listener), "", config, true
}

// ListenerValue returns config's value for one listener: the
// listener-prefixed one when set, else the broker-wide one (or default),
// as Kafka resolves listener overrides.
func (b *Broker) ListenerValue(listener, config string) string {
	prefix := listenerPrefix + strings.ToLower(listener) + "."
	if v, ok := b.set[prefix+config]; ok {
		return v
	}
	v, _ := b.Get(config)
	return v
}

// JAASConfig returns the sasl.jaas.config for a listener and mechanism:
// listener.name.<l>.<mechanism>.sasl.jaas.config, then the listener's
// sasl.jaas.config, then the broker's.
func (b *Broker) JAASConfig(listener, mechanism string) string {
	prefix := listenerPrefix + strings.ToLower(listener) + "."
	if v, ok := b.set[prefix+strings.ToLower(mechanism)+".sasl.jaas.config"]; ok {
		return v
	}
	return b.ListenerValue(listener, "sasl.jaas.config")
}
