// Package tlsconf is the TLS side of the embedded broker's SSL and
// SASL_SSL listeners: Kafka's ssl.* settings made into a crypto/tls
// server configuration (Settings, FromConfigs, ServerConfig), the
// principal of a client certificate (DistinguishedName, PrincipalMapper),
// and a CA with server and client certificates for tests and local runs
// (Generate, Bundle).
//
// # Following Kafka
//
// The behaviour is that of Apache Kafka's DefaultSslEngineFactory (with
// PEM stores, KIP-651), DefaultKafkaPrincipalBuilder and
// SslPrincipalMapper on a current JDK:
//
//   - Configs: a listener's ssl.* configs are those of
//     listener.name.<listener in lower case>.<config> where set, else of
//     <config>, config by config; values are trimmed and lists split at
//     commas as Kafka's ConfigDef does. ssl.keystore.type and
//     ssl.truststore.type default to JKS as in Kafka, so a listener must
//     say PEM.
//   - Keystore: ssl.keystore.location (one PEM file with the private key
//     and the certificate chain) or ssl.keystore.key with
//     ssl.keystore.certificate.chain, with Kafka's checks in Kafka's
//     order: the inline key needs the chain and excludes the location,
//     ssl.keystore.password is refused with PEM, exactly one private key.
//     PEM entries are found as Kafka's PemParser finds them, so a chain
//     written on one line (a properties value continued with
//     backslashes) is read. ssl.key.password decrypts an encrypted
//     PKCS#8 key (BEGIN ENCRYPTED PRIVATE KEY; PBES2 with PBKDF2 and
//     AES-CBC or 3DES, as OpenSSL writes it); set with an unencrypted key
//     it is refused, as in Kafka.
//   - Truststore: ssl.truststore.location or ssl.truststore.certificates,
//     PEM CA certificates, which verify client certificates; without one,
//     the system's roots do, as the JDK falls back to its cacerts.
//   - ssl.client.auth: none (no certificate asked for), requested (asked
//     for; one that is sent must verify) or required; only these three
//     lower-case values, as Kafka's validator takes.
//   - ssl.enabled.protocols: TLSv1.2 and TLSv1.3 become crypto/tls's
//     minimum and maximum versions.
//   - ssl.protocol is the protocol of Java's SSLContext, which on a JDK
//     only sets a client's default versions: a server's are those of
//     ssl.enabled.protocols whatever it is. So it is checked (TLSv1.3,
//     TLSv1.2 or TLS) and otherwise has no effect here either; it is not
//     a minimum, nor a maximum.
//   - ssl.cipher.suites: IANA names, which Java and crypto/tls share (an
//     SSL_ prefix taken for TLS_, and TLS_EMPTY_RENEGOTIATION_INFO_SCSV
//     ignored, crypto/tls always signalling secure renegotiation). As in
//     Java, a list without TLS 1.3 suites disables TLS 1.3 and one with
//     only TLS 1.3 suites disables TLS 1.2.
//   - Principals: User:ANONYMOUS without a client certificate, else
//     "User:" and the certificate's subject as Java's
//     X500Principal.getName() renders it (DistinguishedName), mapped by
//     ssl.principal.mapping.rules. The rules are split and parsed with
//     Kafka's own regular expressions, their patterns matched against
//     the whole name and their replacements applied as Java's
//     String.replaceAll does: "$n" taking the longest existing group
//     number, "${name}", "\" escapes, the NiFi handling of references to
//     missing groups that Kafka has, and the empty match Java replaces
//     after a match ("RULE:.*/x/" gives "xx", as in Kafka). L and U
//     lower- and upper-case with Java's full mapping ("ß" is "SS"). The
//     results were checked against Kafka's SslPrincipalMapper and Java's
//     X500Principal on JDK 17 and 25; SslPrincipalMapperTest's cases are
//     among the tests.
//
// # Deviations from Kafka
//
//   - Only PEM stores: JKS and PKCS12 (Kafka's default type, JKS,
//     included) are refused with configs.ErrUnsupported, naming the
//     config. Private keys: besides PKCS#8 (all Kafka reads), the
//     unencrypted PKCS#1 (RSA PRIVATE KEY) and SEC 1 (EC PRIVATE KEY)
//     forms are read; Ed25519 keys work, DSA keys do not. Keys encrypted
//     with PBES1, PKCS#12 schemes or scrypt, and the legacy OpenSSL
//     encryption (Proc-Type: 4,ENCRYPTED), which Kafka does not read
//     either, are refused.
//   - Refused at once rather than failing every handshake later: a TLS
//     listener without a keystore, a private key that does not match the
//     first certificate of the chain, and ssl.cipher.suites with no TLS
//     1.2 suite that suits the key when TLS 1.3 is off.
//   - TLSv1, TLSv1.1, SSLv3 and SSLv2Hello in ssl.enabled.protocols, and
//     the older ssl.protocol values, are refused (current JDKs disable
//     them too); Kafka takes the names. Cipher suites crypto/tls does not
//     implement, or lists as insecure (RC4, 3DES, RSA key exchange,
//     CBC-SHA256), are
//     refused, naming the suite. crypto/tls cannot choose among the TLS
//     1.3 suites: naming any of them enables all three. The order of the
//     suites is not a preference (crypto/tls chooses).
//   - ssl.principal.mapping.rules are checked when parsed: a replacement
//     Java would fail on at every match (a reference to a group the
//     pattern does not have, "${name}" of no group, a "$" without a group
//     index) is refused, where Kafka fails each authentication the rule
//     applies to. Text Kafka skips silently (two rules separated by a line
//     break without a comma: Kafka drops the first) is refused too.
//   - Patterns are Java regular expressions run by Go's RE2 engine. What
//     RE2 lacks is refused with an error that says so: lookaheads and
//     lookbehinds, backreferences, possessive quantifiers, atomic groups,
//     and Java-only syntax Go rejects (\p{javaLowerCase}, \G, \Z, ...).
//     Java syntax that RE2 would read with another meaning is refused
//     too: a character class inside a class (a union in Java),
//     intersections (&&), the U flag (ungreedy in Go), \v. "." keeps
//     Java's meaning (no line terminator: \n, \r, U+0085, U+2028,
//     U+2029). Remaining differences, none of which a certificate
//     subject is likely to meet: (?i) folds Unicode case in Go and only
//     ASCII in Java (without (?u)); \b is ASCII in Go and Unicode in Java;
//     \s lacks the vertical tab in Go; Java's "$" also matches before a
//     final line terminator; RE2 repeats at most 1000 times.
//   - L lower-cases a word-final Σ to σ, where Java writes ς; characters
//     whose case mapping changed between Unicode versions follow Go's
//     tables.
//   - DistinguishedName decodes T61String as ISO-8859-1 and BMPString as
//     UTF-16, as current JDKs do (JDK 25 was checked); JDK 17 decodes
//     both as UTF-8, so that a BMPString subject gives another principal
//     on a JDK 17 broker. Certificates crypto/x509 cannot parse (subject strings of
//     types it does not know, invalid UTF-8) fail the handshake here.
//   - Certificates are read once, by ServerConfig: the broker does not
//     reload changed stores (Kafka reloads them on AlterConfigs).
//   - The JDK-specific configs are not read: ssl.provider,
//     ssl.engine.factory.class, ssl.keymanager.algorithm,
//     ssl.trustmanager.algorithm, ssl.secure.random.implementation (and
//     ssl.endpoint.identification.algorithm, a client's); the configs
//     package does not define them, so a broker refuses them as unknown.
package tlsconf
