package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"math/big"
)

// Iteration counts of SCRAM credentials, as Kafka's ScramMechanism and
// AlterUserScramCredentials have them.
const (
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
	DefaultScramIterations = 4096
)

// ScramCredential is what a broker stores for a SCRAM user: never the
// password. Its String method hides the salt and keys.
type ScramCredential struct {
	// Mechanism is ScramSHA256 or ScramSHA512.
	Mechanism string
	// Salt salts the password: the server sends it to the client.
	Salt []byte
	// StoredKey is H(HMAC(SaltedPassword, "Client Key")): the server
	// checks the client's proof with it.
	StoredKey []byte
	// ServerKey is HMAC(SaltedPassword, "Server Key"): the server signs
	// its final message with it.
	ServerKey []byte
	// Iterations is the PBKDF2 iteration count of SaltedPassword.
	Iterations int32
}

// String describes c without its salt and keys.
func (c ScramCredential) String() string {
	return fmt.Sprintf("ScramCredential(mechanism=%s, iterations=%d, salt=[hidden], storedKey=[hidden], serverKey=[hidden])", c.Mechanism, c.Iterations)
}

// GoString is String, so that %#v hides the salt and keys too.
func (c ScramCredential) GoString() string { return c.String() }

// scramHash returns the hash of a SCRAM mechanism.
func scramHash(mechanism string) (func() hash.Hash, error) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, nil
	case ScramSHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("%w: %q is not a SCRAM mechanism", ErrUnsupportedMechanism, mechanism)
}

// checkIterations refuses the iteration counts Kafka's controller
// refuses, with its words.
func checkIterations(mechanism string, iterations int64) error {
	if iterations < MinScramIterations {
		return fmt.Errorf("%w: Too few iterations: %d, the minimum for %s is %d", ErrUnacceptableCredential, iterations, mechanism, MinScramIterations)
	}
	if iterations > MaxScramIterations {
		return fmt.Errorf("%w: Too many iterations: %d, the maximum for %s is %d", ErrUnacceptableCredential, iterations, mechanism, MaxScramIterations)
	}
	return nil
}

// NewScramCredential salts and hashes password for mechanism (ScramSHA256
// or ScramSHA512) with iterations PBKDF2 iterations: 0 means
// DefaultScramIterations, and Kafka accepts MinScramIterations to
// MaxScramIterations. The salt is made as Kafka's ScramFormatter makes
// it: the ASCII base-36 digits of a random 130-bit number. An empty
// password is refused.
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	h, err := scramHash(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	if iterations == 0 {
		iterations = DefaultScramIterations
	}
	if err := checkIterations(mechanism, int64(iterations)); err != nil {
		return ScramCredential{}, err
	}
	if password == "" {
		return ScramCredential{}, fmt.Errorf("%w: empty password", ErrUnacceptableCredential)
	}
	salt, err := randomSalt()
	if err != nil {
		return ScramCredential{}, err
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return ScramCredential{}, fmt.Errorf("sasl: salting password: %w", err)
	}
	return deriveCredential(mechanism, h, salt, salted, int32(iterations)), nil
}

// ScramCredentialFromSalted makes the credential AlterUserScramCredentials
// carries, a salt and SaltedPassword = Hi(password, salt, iterations),
// into what the broker stores. Besides the iteration bounds of
// NewScramCredential, it refuses an empty salt and a salted password
// whose length is not the mechanism's hash size (no client could log in
// with it).
func ScramCredentialFromSalted(mechanism string, salt, saltedPassword []byte, iterations int32) (ScramCredential, error) {
	h, err := scramHash(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	if err := checkIterations(mechanism, int64(iterations)); err != nil {
		return ScramCredential{}, err
	}
	if len(salt) == 0 {
		return ScramCredential{}, fmt.Errorf("%w: empty salt", ErrUnacceptableCredential)
	}
	if n := h().Size(); len(saltedPassword) != n {
		return ScramCredential{}, fmt.Errorf("%w: salted password of %d bytes, %s needs %d", ErrUnacceptableCredential, len(saltedPassword), mechanism, n)
	}
	return deriveCredential(mechanism, h, append([]byte(nil), salt...), saltedPassword, iterations), nil
}

// deriveCredential derives the stored and server keys from a salted
// password.
func deriveCredential(mechanism string, h func() hash.Hash, salt, salted []byte, iterations int32) ScramCredential {
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{
		Mechanism:  mechanism,
		Salt:       salt,
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, []byte("Server Key")),
		Iterations: iterations,
	}
}

// hmacSum is HMAC(key, msg).
func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// randomSalt makes a salt as Kafka's ScramFormatter.secureRandomBytes
// does: new BigInteger(130, random).toString(36), in ASCII.
func randomSalt() ([]byte, error) {
	var b [17]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("sasl: making a salt: %w", err)
	}
	return salt130(b[:]), nil
}

// salt130 makes a salt from the first 130 bits of b (at least 17 bytes):
// their base-36 digits.
func salt130(b []byte) []byte {
	var x [17]byte
	copy(x[:], b)
	x[0] &= 0x03 // 17 bytes are 136 bits: keep 130
	return []byte(new(big.Int).SetBytes(x[:]).Text(36))
}
