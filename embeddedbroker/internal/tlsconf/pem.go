package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
)

// pemBlock is one PEM entry.
type pemBlock struct {
	label   string            // e.g. "ENCRYPTED PRIVATE KEY", blanks collapsed
	headers map[string]string // RFC 1421 headers (Proc-Type of legacy encrypted keys)
	der     []byte
}

// PEM boundaries as Kafka's PemParser takes them: any number of dashes,
// blanks around the label, and no line structure needed, so that a
// certificate chain written on one line in a properties file (with
// backslash continuations, which leave blanks where the line breaks
// were) is read as Kafka reads it.
var (
	pemBegin = regexp.MustCompile(`-+BEGIN[ \t]+([^-\r\n]*[^-\s])[ \t]*-+`)
	pemEnd   = regexp.MustCompile(`-+END[ \t]+([^-\r\n]*[^-\s])[ \t]*-+`)
)

// scanPEM returns the PEM entries of text, ignoring text outside them.
func scanPEM(text string) ([]pemBlock, error) {
	var blocks []pemBlock
	for {
		loc := pemBegin.FindStringSubmatchIndex(text)
		if loc == nil {
			return blocks, nil
		}
		label := strings.Join(strings.Fields(text[loc[2]:loc[3]]), " ")
		rest := text[loc[1]:]
		end := pemEnd.FindStringSubmatchIndex(rest)
		if end == nil {
			return nil, fmt.Errorf("PEM entry %s has no END line", label)
		}
		if got := strings.Join(strings.Fields(rest[end[2]:end[3]]), " "); got != label {
			return nil, fmt.Errorf("PEM entry %s ends with END %s", label, got)
		}
		b := pemBlock{label: label}
		var b64 strings.Builder
		for line := range strings.Lines(rest[:end[0]]) {
			if k, v, ok := strings.Cut(line, ":"); ok {
				if b.headers == nil {
					b.headers = make(map[string]string)
				}
				b.headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
				continue
			}
			for _, r := range line {
				switch {
				case r == ' ' || r == '\t' || r == '\r' || r == '\n':
				case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
					b64.WriteRune(r)
				default:
					return nil, fmt.Errorf("PEM entry %s: %q is not base64", label, r)
				}
			}
		}
		der, err := base64.StdEncoding.DecodeString(b64.String())
		if err != nil {
			return nil, fmt.Errorf("PEM entry %s: %w", label, err)
		}
		b.der = der
		blocks = append(blocks, b)
		text = rest[end[1]:]
	}
}

// parseCertificates parses the CERTIFICATE entries of text; it fails
// when there are none, as Kafka does.
func parseCertificates(text string) ([]*x509.Certificate, error) {
	blocks, err := scanPEM(text)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		switch {
		case b.label == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.der)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case strings.HasSuffix(b.label, "CERTIFICATE"):
			// Kafka's PemParser takes these for certificates too, and
			// fails to parse them.
			return nil, fmt.Errorf("PEM entry %s is not supported: only CERTIFICATE entries are", b.label)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certs, nil
}

// errNotEncrypted and errEncrypted explain a key that does not go with
// ssl.key.password.
var (
	errNotEncrypted = errors.New("ssl.key.password is set, but the private key is not encrypted (Kafka refuses this too): remove ssl.key.password or encrypt the key (PKCS#8)")
	errEncrypted    = errors.New("the private key is encrypted: set ssl.key.password")
)

// errUnsupportedKey marks keys Kafka reads and this package does not.
var errUnsupportedKey = errors.New("unsupported private key")

// parsePrivateKey parses the one private key entry of text: PKCS#8, plain
// or encrypted (with password) as Kafka takes them, and also the
// unencrypted PKCS#1 (RSA PRIVATE KEY) and SEC 1 (EC PRIVATE KEY) forms.
func parsePrivateKey(text, password string) (crypto.Signer, error) {
	blocks, err := scanPEM(text)
	if err != nil {
		return nil, err
	}
	var keys []pemBlock
	for _, b := range blocks {
		if strings.HasSuffix(b.label, "PRIVATE KEY") {
			keys = append(keys, b)
		}
	}
	switch len(keys) {
	case 0:
		return nil, errors.New("no private key found")
	case 1:
	default:
		return nil, fmt.Errorf("%d private keys found, expected one", len(keys))
	}
	b := keys[0]
	if strings.Contains(b.headers["Proc-Type"], "ENCRYPTED") {
		return nil, fmt.Errorf("%w: %s encrypted the legacy OpenSSL way (Proc-Type: 4,ENCRYPTED), which Kafka does not read either: convert it to PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)", errUnsupportedKey, b.label)
	}
	var key any
	switch b.label {
	case "PRIVATE KEY":
		if password != "" {
			return nil, errNotEncrypted
		}
		key, err = x509.ParsePKCS8PrivateKey(b.der)
	case "ENCRYPTED PRIVATE KEY":
		if password == "" {
			return nil, errEncrypted
		}
		var der []byte
		if der, err = decryptPKCS8(b.der, password); err != nil {
			return nil, err
		}
		key, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		if password != "" {
			return nil, errNotEncrypted
		}
		key, err = x509.ParsePKCS1PrivateKey(b.der)
	case "EC PRIVATE KEY":
		if password != "" {
			return nil, errNotEncrypted
		}
		key, err = x509.ParseECPrivateKey(b.der)
	default:
		return nil, fmt.Errorf("%w: %s entries are not supported: use a PKCS#8 key (BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY)", errUnsupportedKey, b.label)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.label, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	}
	return nil, fmt.Errorf("%w: a %T cannot sign a TLS handshake", errUnsupportedKey, key)
}

// Object identifiers of PKCS#5 (RFC 8018) and of the ciphers PBES2 uses.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// encryptedPrivateKeyInfo is PKCS#8's EncryptedPrivateKeyInfo.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

// pbes2Params are RFC 8018's PBES2-params.
type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

// pbkdf2Params are RFC 8018's PBKDF2-params, with a specified salt.
type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// maxIterations bounds PBKDF2's work, so that a corrupt key cannot hang
// the broker's start.
const maxIterations = 10_000_000

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo encrypted with PBES2
// (PBKDF2 with HMAC-SHA-1 or SHA-2, and AES-CBC or 3DES-CBC): what
// OpenSSL writes by default (openssl pkcs8 -topk8, genpkey -aes256) and
// Java reads. The older PBES1 and PKCS#12 schemes, and scrypt, are not
// supported.
func decryptPKCS8(der []byte, password string) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: not a PKCS#8 EncryptedPrivateKeyInfo")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: ENCRYPTED PRIVATE KEY: encryption scheme %s is not supported, only PBES2 (openssl pkcs8 -topk8 -v2 aes-256-cbc)", errUnsupportedKey, info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: bad PBES2 parameters: %w", err)
	}
	kdf := params.KeyDerivationFunc
	if kdf.Algorithm.Equal(oidScrypt) {
		return nil, fmt.Errorf("%w: ENCRYPTED PRIVATE KEY: the scrypt key derivation is not supported, only PBKDF2", errUnsupportedKey)
	}
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("%w: ENCRYPTED PRIVATE KEY: key derivation %s is not supported, only PBKDF2", errUnsupportedKey, kdf.Algorithm)
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &kp); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: bad PBKDF2 parameters (only a specified salt is supported): %w", err)
	}
	if kp.IterationCount < 1 || kp.IterationCount > maxIterations {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: PBKDF2 iteration count %d out of range 1..%d", kp.IterationCount, maxIterations)
	}
	var prf func() hash.Hash
	switch alg := kp.PRF.Algorithm; {
	case len(alg) == 0 || alg.Equal(oidHMACSHA1):
		prf = sha1.New
	case alg.Equal(oidHMACSHA224):
		prf = sha256.New224
	case alg.Equal(oidHMACSHA256):
		prf = sha256.New
	case alg.Equal(oidHMACSHA384):
		prf = sha512.New384
	case alg.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, fmt.Errorf("%w: ENCRYPTED PRIVATE KEY: PBKDF2 PRF %s is not supported", errUnsupportedKey, alg)
	}
	scheme := params.EncryptionScheme
	var keyLen int
	var newBlock func([]byte) (cipher.Block, error)
	switch {
	case scheme.Algorithm.Equal(oidAES128CBC):
		keyLen, newBlock = 16, aes.NewCipher
	case scheme.Algorithm.Equal(oidAES192CBC):
		keyLen, newBlock = 24, aes.NewCipher
	case scheme.Algorithm.Equal(oidAES256CBC):
		keyLen, newBlock = 32, aes.NewCipher
	case scheme.Algorithm.Equal(oidDESEDE3CBC):
		keyLen, newBlock = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("%w: ENCRYPTED PRIVATE KEY: cipher %s is not supported, only AES-CBC and DES-EDE3-CBC", errUnsupportedKey, scheme.Algorithm)
	}
	if kp.KeyLength != 0 && kp.KeyLength != keyLen {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: PBKDF2 key length %d does not fit the cipher (%d)", kp.KeyLength, keyLen)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(scheme.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: bad cipher IV: %w", err)
	}
	key, err := pbkdf2.Key(prf, password, kp.Salt, kp.IterationCount, keyLen)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: %w", err)
	}
	block, err := newBlock(key)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: %w", err)
	}
	bs := block.BlockSize()
	data := info.EncryptedData
	if len(iv) != bs || len(data) == 0 || len(data)%bs != 0 {
		return nil, errors.New("ENCRYPTED PRIVATE KEY: malformed ciphertext or IV")
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	// PKCS#7 padding; a wrong password shows here, or in the parse.
	n := int(plain[len(plain)-1])
	if n == 0 || n > bs || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, errWrongPassword
	}
	plain = plain[:len(plain)-n]
	if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil {
		return nil, errWrongPassword
	}
	return plain, nil
}

// errWrongPassword is a key that does not decrypt.
var errWrongPassword = errors.New("cannot decrypt the private key: wrong ssl.key.password, or a corrupt key")
