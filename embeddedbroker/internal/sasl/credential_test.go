package sasl

import (
	"bytes"
	"crypto/pbkdf2"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestNewScramCredential checks iteration bounds, the salt and the keys.
func TestNewScramCredential(t *testing.T) {
	salt36 := regexp.MustCompile(`^[0-9a-z]{1,26}$`)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		c, err := NewScramCredential(mech, "pw", 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.Mechanism != mech || c.Iterations != DefaultScramIterations || !salt36.Match(c.Salt) || len(c.Salt) < 20 {
			t.Errorf("%s: %v salt %q", mech, c, c.Salt)
		}
		// The keys are those of the salted password.
		h := hashOf(mech)
		salted, _ := pbkdf2.Key(h, "pw", c.Salt, 4096, h().Size())
		want, err := ScramCredentialFromSalted(mech, c.Salt, salted, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.StoredKey, want.StoredKey) || !bytes.Equal(c.ServerKey, want.ServerKey) || len(c.StoredKey) != h().Size() {
			t.Errorf("%s: keys differ from the salted password's", mech)
		}
		c2, _ := NewScramCredential(mech, "pw", MaxScramIterations)
		if bytes.Equal(c.Salt, c2.Salt) || c2.Iterations != MaxScramIterations {
			t.Errorf("%s: salts repeat or iterations %d", mech, c2.Iterations)
		}
		for _, it := range []int{-1, 1, MinScramIterations - 1, MaxScramIterations + 1, 1 << 40} {
			_, err := NewScramCredential(mech, "pw", it)
			if !errors.Is(err, ErrUnacceptableCredential) || !strings.Contains(err.Error(), "iterations") {
				t.Errorf("%s, %d iterations: %v", mech, it, err)
			}
		}
		if _, err := NewScramCredential(mech, "", 0); !errors.Is(err, ErrUnacceptableCredential) {
			t.Errorf("empty password: %v", err)
		}
	}
	for _, mech := range []string{"SCRAM-SHA-1", Plain, "scram-sha-256"} {
		if _, err := NewScramCredential(mech, "pw", 0); !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("%s: %v", mech, err)
		}
	}
}

// TestScramCredentialFromSalted checks what it refuses and that it
// copies the salt.
func TestScramCredentialFromSalted(t *testing.T) {
	salt := []byte("salt")
	salted := bytes.Repeat([]byte{7}, 32)
	c, err := ScramCredentialFromSalted(ScramSHA256, salt, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	salt[0] = 'X'
	if string(c.Salt) != "salt" {
		t.Error("salt not copied")
	}
	for name, f := range map[string]func() error{
		"few iterations":  func() error { _, err := ScramCredentialFromSalted(ScramSHA256, salt, salted, 4095); return err },
		"many iterations": func() error { _, err := ScramCredentialFromSalted(ScramSHA256, salt, salted, 16385); return err },
		"empty salt":      func() error { _, err := ScramCredentialFromSalted(ScramSHA256, nil, salted, 4096); return err },
		"short salted":    func() error { _, err := ScramCredentialFromSalted(ScramSHA256, salt, salted[:31], 4096); return err },
		"salted for 256":  func() error { _, err := ScramCredentialFromSalted(ScramSHA512, salt, salted, 4096); return err },
	} {
		if err := f(); !errors.Is(err, ErrUnacceptableCredential) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ScramCredentialFromSalted("MD5", salt, salted, 4096); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("MD5: %v", err)
	}
}

// TestScramCredentialHidesSecrets checks that formatting a credential
// does not show its salt or keys.
func TestScramCredentialHidesSecrets(t *testing.T) {
	c, err := NewScramCredential(ScramSHA256, "pw", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		for _, secret := range [][]byte{c.Salt, c.StoredKey, c.ServerKey} {
			for _, form := range []string{string(secret), fmt.Sprint(secret), fmt.Sprintf("%x", secret), b64(secret)} {
				if strings.Contains(out, form) {
					t.Errorf("%s shows a secret: %s", verb, out)
				}
			}
		}
		if !strings.Contains(out, "SCRAM-SHA-256") || !strings.Contains(out, "4096") {
			t.Errorf("%s: %s", verb, out)
		}
	}
}
