package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"sync"
	"testing"
)

// The tests of Kafka's SslPrincipalMapperTest, ported.

func TestKafkaValidRules(t *testing.T) {
	for _, rules := range []string{
		"DEFAULT",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
		"RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
		"RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
		"RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
	} {
		if _, err := ParsePrincipalRules(rules); err != nil {
			t.Errorf("%q: %v", rules, err)
		}
	}
}

func TestKafkaInvalidRules(t *testing.T) {
	for _, tc := range []struct{ rules, want string }{
		{"default", "Invalid rule: `default`, unmatched substring: `default`"},
		{"DEFAUL", "Invalid rule: `DEFAUL`, unmatched substring: `DEFAUL`"},
		{"DEFAULT/L", "Invalid rule: `DEFAULT/L`, unmatched substring: `/L`"},
		{"DEFAULT/U", "Invalid rule: `DEFAULT/U`, unmatched substring: `/U`"},
		{"RULE:CN=(.*?),OU=ServiceUsers.*/$1", "Invalid rule: `RULE:CN=(.*?)`, unmatched substring: `RULE:CN=(.*?)`"},
		{"rule:^CN=(.*?),OU=ServiceUsers.*$/$1/", "Invalid rule: `rule:^CN=(.*?)`"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U", "Invalid rule: `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U`, unmatched substring: `/U`"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/L", "Invalid rule: `RULE:^CN=(.*?)`"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/U", "Invalid rule: `RULE:^CN=(.*?)`"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/LU", "Invalid rule: `RULE:^CN=(.*?)`"},
	} {
		_, err := ParsePrincipalRules(tc.rules)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.rules, err, tc.want)
		}
	}
}

func TestKafkaSslPrincipalMapper(t *testing.T) {
	m, err := ParsePrincipalRules(strings.Join([]string{
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
		"RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
		"DEFAULT",
	}, ", "))
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=Duke,OU=ServiceUsers,O=Org,C=US":        "duke",
		"CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US": "duke@sme",
		"cn=duke,ou=sme,dc=mycp,dc=com":             "DUKE@SME",
		"cN=duke,OU=JavaSoft,O=Sun Microsystems":    "DUKE",
		"OU=JavaSoft,O=Sun Microsystems,C=US":       "OU=JavaSoft,O=Sun Microsystems,C=US",
	} {
		if got, err := m.Name(dn); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", dn, got, err, want)
		}
	}
}

func TestKafkaRulesSplitting(t *testing.T) {
	for _, tc := range []struct{ want, rules string }{
		{"[]", ""},
		{"[DEFAULT]", "DEFAULT"},
		{"[RULE:/]", "RULE://"},
		{"[RULE:/.*]", "RULE:/.*/"},
		{"[RULE:/.*/L]", "RULE:/.*/L"},
		{"[RULE:/, DEFAULT]", "RULE://,DEFAULT"},
		{"[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "},
		{"[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  "},
		{"[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  "},
		{"[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]", "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "},
		// empty rules are ignored
		{"[]", ",   , , ,      , , ,   "},
		{"[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"},
		{"[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   "},
		{"[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"},
		// escape sequences
		{`[RULE:\/\\\(\)\n\t/\/\/]`, `RULE:\/\\\(\)\n\t/\/\//`},
		{`[RULE:\**\/+/*/L, RULE:\/*\**/**]`, `RULE:\**\/+/*/L,RULE:\/*\**/**/`},
		// rules rule
		{`[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]`,
			`RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT`},
		// a comma, then a line break
		{"[RULE:^CN=(.*?),OU=(.*?)$/$1, DEFAULT]", "RULE:^CN=(.*?),OU=(.*?)$/$1/,\n  DEFAULT"},
	} {
		m, err := ParsePrincipalRules(tc.rules)
		if err != nil {
			t.Errorf("%q: %v", tc.rules, err)
			continue
		}
		if got := m.String(); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.rules, got, tc.want)
		}
	}
}

func TestKafkaCommaWithWhitespace(t *testing.T) {
	m, err := ParsePrincipalRules(`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.Name(`CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`); err != nil || got != `Tkac\, Adam` {
		t.Errorf("%q, %v", got, err)
	}
}

// TestPrincipalMapperAsKafka checks names mapped as Kafka's
// SslPrincipalMapper maps them: each want was produced by Kafka's class
// on JDK 17 and 25.
func TestPrincipalMapperAsKafka(t *testing.T) {
	noRule := func(dn, rules string) string { return "No rules apply to " + dn + ", rules " + rules }
	for _, tc := range []struct {
		rules, dn, want, wantErr string
	}{
		{rules: `RULE:^CN=(.*?),OU=(.*?)$/$1/L,DEFAULT`, dn: "CN=Alice,OU=eng", want: "alice"},
		{rules: `RULE:^CN=(.*?),OU=(.*?)$/$1/L,DEFAULT`, dn: "CN=Alice", want: "CN=Alice"},
		// Replacements: group references, NiFi's literal $n, escapes.
		{rules: `RULE:^CN=(.*?)$/$1@$2/`, dn: "CN=alice", want: "alice@$2"},
		{rules: `RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$4@x/`, dn: "CN=a,OU=b,O=c", want: "$4@x"},
		{rules: `RULE:^CN=(.*?)$/$12/`, dn: "CN=alice", want: "alice2"},
		{rules: `RULE:^CN=(.*?)$/$0!/`, dn: "CN=alice", want: "CN=alice!"},
		{rules: `RULE:^CN=(.*?)$/$01/`, dn: "CN=alice", want: "alice"},
		{rules: `RULE:^CN=(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.*)$/$12-$13-$1a/`, dn: "CN=abcdefghijklmn", want: "lmn-a3-aa"},
		{rules: `RULE:^CN=(x)?(.*)$/[$1]$2/`, dn: "CN=ab", want: "[]ab"},
		{rules: `RULE:^CN=(?<user>[^,]*)$/${user}/U`, dn: "CN=alice", want: "ALICE"},
		{rules: `RULE:^CN=([^,]*)$/a\/b\$1\\/`, dn: "CN=alice", want: `a/b$1\`},
		{rules: `RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U`, dn: "cn=a,ou=b,dc=c,dc=d", want: "A@B"},
		{rules: `RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/`, dn: "CN=bob,OU=x", want: "bob"},
		{rules: `RULE:^CN=([a-c]+)$/$1/, RULE:^(CN=.*)$/[$1]/L`, dn: "CN=Zed", want: "[cn=zed]"},
		// replaceAll: every match, Java's empty matches included.
		{rules: `RULE:CN=(.*?)/$1/`, dn: "CN=alice", want: "alice"},
		{rules: `RULE:CN=([a-z]*)/<$1>/`, dn: "CN=alice", want: "<alice>"},
		{rules: `RULE:.*/x/`, dn: "CN=alice", want: "xx"},
		{rules: `RULE:(.*)/[$1]/`, dn: "CN=alice", want: "[CN=alice][]"},
		{rules: `RULE:a*/-/`, dn: "aaa", want: "--"},
		{rules: `RULE:(\w*)/<$1>/`, dn: "abc", want: "<abc><>"},
		{rules: `RULE:[a-z]*/-/`, dn: "abc", want: "--"},
		{rules: `RULE:^[a-z]*/-/`, dn: "abc", want: "-"},
		{rules: `RULE:(?m)^[a-z]*$/-/`, dn: "abc", want: "-"},
		{rules: `RULE:(a|)*/-/`, dn: "aa", want: "--"},
		{rules: `RULE:(a|)*?/-/`, dn: "aa", want: "-a-a-"},
		{rules: `RULE:(\w*)\b/[$1]/`, dn: "ab", want: "[ab][]"},
		{rules: `RULE:(?:ab|a|)*/($0)/`, dn: "aab", want: "(aab)()"},
		{rules: `RULE:x*|y/-/`, dn: "y", want: "-y-"},
		{rules: `RULE:(é*)/<$1>/`, dn: "éé", want: "<éé><>"},
		{rules: `RULE:\/\\\(\)\n\t/\/\//`, dn: "/\\()\n\t", want: "//"},
		{rules: `RULE:\**\/+/*/L,RULE:\/*\**/**/`, dn: "**//", want: "*"},
		{rules: `RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT`, dn: ",RULE:,", want: ",RULE:,/"},
		// Patterns.
		{rules: `RULE:(?i)^cn=(.*)$/$1/`, dn: "CN=Alice", want: "Alice"},
		{rules: `RULE:^CN=\Qa.b\E$/ok/`, dn: "CN=a.b", want: "ok"},
		{rules: `RULE:^CN=\Qa.b$/ok/`, dn: "CN=a.b$", want: "ok"},
		{rules: `RULE:^CN=(.*)$/$1/`, dn: `CN=a\,b`, want: `a\,b`},
		{rules: `RULE:^CN=a}+$/x/`, dn: "CN=a}}", want: "x"},
		{rules: `RULE:^CN=[]a]+$/x/`, dn: "CN=a]", want: "x"},
		{rules: `RULE:^CN=[^]a]+$/x/`, dn: "CN=bc", want: "x"},
		{rules: "RULE:(?s)^CN=(.*)$/$1/", dn: "CN=a\rb", want: "a\rb"},
		{rules: "RULE:^CN=(.*)$/$1/", dn: "CN=a\rb", wantErr: noRule("CN=a\rb", "[RULE:^CN=(.*)$/$1]")},
		{rules: `RULE:^CN=(\w+)$/$1/`, dn: "CN=Jürgen", wantErr: noRule("CN=Jürgen", `[RULE:^CN=(\w+)$/$1]`)},
		{rules: `RULE:^$/empty/`, dn: "", want: "empty"},
		{rules: `RULE:\b/|/`, dn: "", wantErr: noRule("", `[RULE:\b/|]`)},
		// Case: Java's full mapping.
		{rules: `RULE:^CN=(.*)$/$1/U`, dn: "CN=straße", want: "STRASSE"},
		{rules: `RULE:^CN=(.*)$/$1/U`, dn: "CN=ﬁx ǰ ß", want: "FIX J̌ SS"},
		{rules: `RULE:^CN=(.*)$/$1/L`, dn: "CN=İstanbul", want: "i̇stanbul"},
		{rules: `RULE:^CN=(.*)$/$1/L`, dn: "CN=İI", want: "i̇i"},
		// No rule.
		{rules: "", dn: "CN=alice", wantErr: noRule("CN=alice", "[]")},
		{rules: `RULE:^CN=bob$/bob/`, dn: "CN=alice", wantErr: noRule("CN=alice", "[RULE:^CN=bob$/bob]")},
		{rules: `RULE://`, dn: "x", wantErr: noRule("x", "[RULE:/]")},
		{rules: "DEFAULT", dn: "", want: ""},
	} {
		m, err := ParsePrincipalRules(tc.rules)
		if err != nil {
			t.Errorf("%q: %v", tc.rules, err)
			continue
		}
		got, err := m.Name(tc.dn)
		if tc.wantErr != "" {
			var nm *NoMatchingRuleError
			if !errors.As(err, &nm) || err.Error() != tc.wantErr || nm.DN != tc.dn {
				t.Errorf("%q on %q: %q, %v; want error %q", tc.rules, tc.dn, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q on %q: %q, %v; want %q", tc.rules, tc.dn, got, err, tc.want)
		}
	}
}

// TestPrincipalRulesRefused checks the rules refused here: those Kafka
// would fail on at every match, text it would ignore, and Java regex
// features RE2 lacks or reads otherwise.
func TestPrincipalRulesRefused(t *testing.T) {
	for _, tc := range []struct{ rules, want string }{
		// Kafka: IndexOutOfBoundsException at every match.
		{`RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$4@$5/`, `replacement "$4@$5": no group 5: the pattern has 3`},
		{`RULE:^CN=[^,]*$/$1/`, `no group 1: the pattern has 0`},
		{`RULE:^CN=(.*?)$/$5$6/`, `no group 6`},
		// Kafka: IllegalArgumentException at every match.
		{`RULE:^CN=(?<user>[^,]*)$/${nope}/U`, `no group with name {nope}`},
		{`RULE:^CN=(?<user>[^,]*)$/${}/`, `named capturing group has 0 length name`},
		{`RULE:^CN=(?<user>[^,]*)$/${user/`, `named capturing group is missing trailing '}'`},
		{`RULE:^CN=(?<user>[^,]*)$/${1a}/`, `capturing group name {1a} starts with digit character`},
		{`RULE:^CN=([^,]*)$/$/`, `illegal group reference: group index is missing`},
		{`RULE:^CN=([^,]*)$/$x/`, `illegal group reference`},
		// Kafka: NumberFormatException at every match.
		{`RULE:^CN=(.*)$/$99999999999/`, `group reference $99999999999 is too large`},
		// Kafka ignores the first rule.
		{"RULE:^CN=alice$/a/\nDEFAULT", `Kafka would ignore "RULE:^CN=alice$/a/": separate rules with commas`},
		// RE2 lacks these.
		{`RULE:^CN=(?=a).*$/x/`, `lookaheads`},
		{`RULE:^CN=(?!a).*$/x/`, `lookaheads`},
		{`RULE:^.*(?<=a)$/x/`, `lookbehinds`},
		{`RULE:^.*(?<!a)$/x/`, `lookbehinds`},
		{`RULE:^CN=(?>a+)$/x/`, `atomic groups`},
		{`RULE:^CN=(a)\1$/x/`, `backreferences`},
		{`RULE:^CN=(?<n>a)\k<n>$/x/`, `backreferences`},
		{`RULE:^CN=a*+$/x/`, `possessive quantifiers`},
		{`RULE:^CN=a{2}+$/x/`, `possessive quantifiers`},
		{`RULE:^CN=\p{javaLowerCase}+$/x/`, `not valid in Go's RE2 syntax`},
		{`RULE:^CN=a\Z/x/`, `not valid in Go's RE2 syntax`},
		// Go would read these otherwise.
		{`RULE:^CN=[a[bc]]+$/x/`, `a character class inside a character class`},
		{`RULE:^CN=[[:alpha:]]+$/x/`, `a character class inside a character class`},
		{`RULE:^CN=[a-z&&[^b]]+$/x/`, `intersections`},
		{`RULE:(?U)^CN=(.*)$/$1/`, `flag U`},
		{`RULE:(?iU:^CN=(.*))$/$1/`, `flag U`},
		{`RULE:^CN=\v$/x/`, `\v is vertical whitespace in Java`},
	} {
		_, err := ParsePrincipalRules(tc.rules)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.rules, err, tc.want)
		}
	}
	// What looks like those and is not.
	for _, rules := range []string{
		`RULE:^CN=\(?=a\)$/x/`,     // escaped parentheses
		`RULE:^CN=[(?=]+$/x/`,      // in a class
		`RULE:^CN=\Q(?=a)\E$/x/`,   // quoted
		`RULE:^CN=\Q[a[b]]&&\1/x/`, // quoted to the end
		`RULE:^CN=[\[a]+$/x/`,      // an escaped [ in a class
		`RULE:^CN=(?P<u>a)$/$1/`,   // Go's named group
		`RULE:^CN=(?i:a)$/x/`,      // flags without U
		`RULE:^CN=a\++$/x/`,        // an escaped +, repeated
	} {
		if _, err := ParsePrincipalRules(rules); err != nil {
			t.Errorf("%q: %v", rules, err)
		}
	}
}

// TestPrincipal checks Principal's answers without a handshake.
func TestPrincipal(t *testing.T) {
	b, _ := testBundles(t)
	certPEM, _, err := b.ClientCert(pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCertificates(string(certPEM) + string(b.CACert))
	if err != nil {
		t.Fatal(err)
	}
	verified := tls.ConnectionState{HandshakeComplete: true, PeerCertificates: certs[:1], VerifiedChains: [][]*x509.Certificate{certs}}
	m, err := ParsePrincipalRules(`RULE:^CN=(.*?),OU=(.*?)$/$1/L,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		m       *PrincipalMapper
		state   tls.ConnectionState
		want    string
		wantErr string
	}{
		{"rules", m, verified, "User:alice", ""},
		{"nil mapper is DEFAULT", nil, verified, "User:CN=alice,OU=eng", ""},
		{"no certificate", m, tls.ConnectionState{HandshakeComplete: true}, "User:ANONYMOUS", ""},
		{"unverified", m, tls.ConnectionState{HandshakeComplete: true, PeerCertificates: certs[:1]}, "", "not verified"},
		{"handshake not complete", m, tls.ConnectionState{}, "", "not complete"},
		{"no rule", &PrincipalMapper{}, verified, "", "tlsconf: principal: No rules apply to CN=alice,OU=eng, rules []"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.Principal(tc.state)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
	var nm *NoMatchingRuleError
	if _, err := (&PrincipalMapper{}).Principal(verified); !errors.As(err, &nm) || nm.DN != "CN=alice,OU=eng" {
		t.Errorf("%v is not a *NoMatchingRuleError", err)
	}
	if s := (*PrincipalMapper)(nil).String(); s != "[DEFAULT]" {
		t.Errorf("nil mapper: %s", s)
	}
}

// TestPrincipalMapperConcurrent uses one mapper from many goroutines, for
// the race detector.
func TestPrincipalMapperConcurrent(t *testing.T) {
	m, err := ParsePrincipalRules(`RULE:^CN=(.*?),OU=(.*?)$/$1@$2/U,RULE:.*/x/,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				want, dn := "ALICE@ENG", "CN=alice,OU=eng"
				if i%2 == 1 {
					want, dn = "xx", "CN=bob"
				}
				if got, err := m.Name(dn); err != nil || got != want {
					t.Errorf("%q: %q, %v", dn, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
