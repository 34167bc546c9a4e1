package jaas

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	e, err := Parse(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin secret;=" user_alice="alice-secret" unquoted=v ;`)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Is("PlainLoginModule") || e.Flag != "required" {
		t.Errorf("entry %+v", e)
	}
	want := map[string]string{"username": "admin", "password": "admin secret;=", "user_alice": "alice-secret", "unquoted": "v"}
	for k, v := range want {
		if e.Options[k] != v {
			t.Errorf("%s = %q, want %q", k, e.Options[k], v)
		}
	}
	for _, bad := range []string{
		"", "Module", "Module maybe;", `Module required user="x"`, `Module required user="x;`, `Module required =x;`, `Module required user;`,
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", bad, err)
		}
	}
}
