package acl

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchAuthorizer holds 10,000 topic bindings: 5,000 LITERAL (4,000 ALLOW,
// 1,000 DENY) and 5,000 PREFIXED (4,000 flat, 1,000 nested two deep), for
// 50 principals, plus a wildcard binding.
func benchAuthorizer() *Authorizer {
	a := New(Options{SuperUsers: []string{"User:admin"}})
	var bs []Binding
	for i := range 4000 {
		op := READ
		if i%2 == 1 {
			op = WRITE
		}
		bs = append(bs, acl(TOPIC, fmt.Sprintf("topic-%05d", i), LITERAL, fmt.Sprintf("User:u%d", i%50), "*", op, ALLOW))
	}
	for i := range 1000 {
		bs = append(bs, acl(TOPIC, fmt.Sprintf("topic-%05d", i*4), LITERAL, fmt.Sprintf("User:u%d", (i+7)%50), "*", ALL, DENY))
	}
	for i := range 4000 {
		bs = append(bs, acl(TOPIC, fmt.Sprintf("pfx-%04d-", i), PREFIXED, fmt.Sprintf("User:u%d", i%50), "*", READ, ALLOW))
	}
	for i := range 100 {
		bs = append(bs, acl(TOPIC, fmt.Sprintf("team-%02d-", i), PREFIXED, "User:*", "*", DESCRIBE, ALLOW))
	}
	for i := range 900 {
		bs = append(bs, acl(TOPIC, fmt.Sprintf("team-%02d-svc-%02d-", i%100, i/100), PREFIXED, fmt.Sprintf("User:u%d", i%50), "10.0.0.1", WRITE, ALLOW))
	}
	bs = append(bs, acl(TOPIC, "*", LITERAL, "User:monitor", "*", DESCRIBE, ALLOW))
	if n := a.Add(bs...); n != 10001 {
		panic(fmt.Sprint("bench bindings: ", n))
	}
	return a
}

func BenchmarkAuthorize(b *testing.B) {
	a := benchAuthorizer()
	for _, c := range []struct {
		name      string
		principal string
		host      string
		op        kmsg.ACLOperation
		resource  string
		want      bool
	}{
		{"literal-allow", "User:u34", "10.1.2.3", READ, "topic-01234", true},
		{"literal-deny", "User:u8", "10.1.2.3", READ, "topic-00004", false},
		{"literal-implied-describe", "User:u35", "10.1.2.3", DESCRIBE, "topic-01235", true},
		{"prefixed-allow", "User:u17", "10.1.2.3", READ, "pfx-2017-orders", true},
		{"nested-prefixed-allow", "User:u17", "10.0.0.1", WRITE, "team-17-svc-00-payments", true},
		{"applies-not-matching", "User:u1", "10.1.2.3", READ, "topic-01234", false},
		{"no-binding-applies", "User:u1", "10.1.2.3", READ, "other-topic", false},
		{"host-as-mapped-address", "User:u17", "::ffff:10.0.0.1", WRITE, "team-17-svc-00-payments", true},
		{"super-user", "User:admin", "10.1.2.3", ALTER, "topic-00004", true},
	} {
		if got := a.Authorize(c.principal, c.host, c.op, TOPIC, c.resource); got != c.want {
			b.Fatalf("%s: Authorize = %v, want %v", c.name, got, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(c.principal, c.host, c.op, TOPIC, c.resource)
			}
		})
	}
	b.Run("parallel-mix", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				switch i % 3 {
				case 0:
					a.Authorize("User:u34", "10.1.2.3", READ, TOPIC, "topic-01234")
				case 1:
					a.Authorize("User:u17", "10.1.2.3", READ, TOPIC, "pfx-2017-orders")
				default:
					a.Authorize("User:u17", "10.0.0.1", WRITE, TOPIC, "team-17-svc-00-payments")
				}
				i++
			}
		})
	})
}

func BenchmarkAuthorizeAny(b *testing.B) {
	a := benchAuthorizer()
	b.ReportAllocs()
	for b.Loop() {
		a.AuthorizeAny("User:u49", "10.1.2.3", WRITE, TOPIC)
	}
}
