// Package sasl is the server side of the SASL mechanisms of the embedded
// broker: PLAIN (RFC 4616), SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802,
// RFC 7677) and OAUTHBEARER (RFC 7628) with unsecured JWS tokens.
//
// The broker makes a Session with NewSession when a client's SaslHandshake
// names a mechanism, passes each client token (SaslAuthenticate's
// auth_bytes, or a raw frame after SaslHandshake v0) to Session.Step, and
// sends back what Step returns: the next server token, or, on error,
// SASL_AUTHENTICATION_FAILED with err.Error() as the message. Users come
// from a Store the broker implements; SCRAM users are stored as a
// ScramCredential (NewScramCredential, or ScramCredentialFromSalted for
// AlterUserScramCredentials), never as a password.
//
// # Following Kafka
//
// The behaviour is that of Apache Kafka's PlainSaslServer,
// ScramSaslServer and OAuthBearerSaslServer with the default
// OAuthBearerUnsecuredValidatorCallbackHandler, as seen by a client:
//
//   - Messages: Kafka sends the message of a SaslAuthenticationException
//     to the client and replaces that of any other SaslException with
//     "Authentication failed during authentication due to invalid
//     credentials with SASL mechanism <name>" (re-authentication with
//     Config.Reauthentication). Step's errors are those messages: PLAIN's
//     ("Authentication failed: Invalid username or password", "Invalid
//     SASL/PLAIN response: expected 3 tokens, got N", ...) and the
//     authorization id mismatches are Kafka's own; every other SCRAM and
//     OAUTHBEARER failure gets the generic one. FailureDetail gives the
//     reason, for the broker's logs.
//   - PLAIN: "[authzid] NUL authcid NUL passwd", split at the first three
//     NULs; the authzid, if any, must equal the user name, checked after
//     the password as Kafka does.
//   - SCRAM: the grammar of Kafka's ScramMessages: gs2 header "n," only
//     (no channel binding: "y" and "p=" are refused, where RFC 5802 would
//     let a server without channel binding accept "y"); user names and
//     authorization ids of ASCII characters with "=2C" and "=3D" escapes
//     (RFC 5802 allows UTF-8); extensions named by letters, unknown ones
//     ignored. The authorization id must equal the user name. Stored
//     credentials need at least 4096 iterations; new ones 4096 to 16384,
//     with salts made like Kafka's (the base-36 digits of a random 130-bit
//     number).
//   - OAUTHBEARER: the client's initial response as Kafka's
//     OAuthBearerClientInitialResponse parses it, extensions accepted and
//     ignored as the unsecured validator does; the token checked like
//     OAuthBearerUnsecuredJws and OAuthBearerValidationUtils do (alg
//     "none", empty signature, principal claim, "exp", optional "iat" not
//     in the future, "exp" after "iat", clock skew, required scope, a
//     string scope claim being one scope item). A token that fails gets
//     Kafka's JSON error ({"status":"invalid_token"}, or
//     "insufficient_scope" with the required scope) as a challenge; the
//     client answers %x01 and Step then fails with that JSON as message.
//     Session.Expiry is the token's "exp", rounded to milliseconds.
//
// # Deviations from Kafka
//
//   - SCRAM, unknown user: Kafka fails the client-first message at once
//     (with the generic message); here the exchange goes on with a made-up
//     credential, so that an unknown user fails at the client-final
//     message exactly as a wrong password does, after the same work (the
//     made-up credential is computed for known users too). With
//     Config.ScramFakeCredentialKey the made-up salt is stable per user
//     name, as a real one is.
//   - SCRAM, delegation tokens are not supported: a client-first message
//     with tokenauth=true is refused with a message saying so.
//   - SCRAM is stricter where RFC 5802 is: the client-final message's c=
//     must be the base64 of the client's gs2 header (Kafka does not check
//     it), and a mandatory extension (m=) fails (Kafka ignores it). Its r=
//     need only end with the combined nonce, as in Kafka: librdkafka
//     repeats the client nonce in front of it. The AuthMessage is
//     made of the client's own bytes, where Kafka rebuilds it (dropping the
//     client-final message's extensions, reordering the first's); the
//     authorization id is compared unescaped.
//   - SCRAM server nonces are 24 random bytes in base64 rather than
//     Kafka's base-36 130-bit numbers.
//   - A stored SCRAM credential for another mechanism, without salt or
//     with keys of the wrong size is refused (a broker bug, logged through
//     FailureDetail). NewScramCredential refuses an empty password;
//     ScramCredentialFromSalted an empty salt and a salted password that
//     is not the hash's size, with which nobody could log in.
//   - OAUTHBEARER: token parts may be base64url (RFC 7515, and what Kafka's
//     own unsecured login module makes) as well as the standard alphabet
//     Kafka's parser decodes. Claims are typed strictly: the principal
//     must be a JSON string, "exp" and "iat" JSON numbers, where Kafka
//     turns booleans and null into strings; a header without alg, JSON
//     with trailing data and numbers out of float64 range are invalid
//     tokens.
//   - OAUTHBEARER: after the JSON error, anything but %x01 fails too
//     (Kafka takes it as a new initial response).
//   - PLAIN: a message that is not UTF-8 is refused (Java decodes it with
//     replacement characters).
//   - Config.MaxTokenSize bounds each token and exceeding it is an
//     authentication failure with a message; Kafka's
//     sasl.server.max.receive.size bounds frames and closes the
//     connection.
//   - A Step after the exchange ended fails with a message rather than
//     Kafka's IllegalSaslStateException.
package sasl
