package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Anonymous is Kafka's principal of a TLS client without a certificate.
const Anonymous = "User:ANONYMOUS"

// Kafka's SslPrincipalMapper parses rules with these two Java regular
// expressions (RULE_PATTERN, RULE_SPLITTER):
//
//	(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)
//	\s*(RULE_PATTERN)\s*(,\s*|$)
//
// They are written here for Go with Java's meaning of ".", "\s" and "$"
// (after Java's trim), and Go's regexp finds what java.util.regex does
// with them: both pick the leftmost match a backtracking engine would.
const (
	javaSpace   = `[ \t\n\x0B\f\r]`
	rulePattern = `(DEFAULT)|RULE:((\\` + javaDot + `|[^\\/])*)/((\\` + javaDot + `|[^\\/])*)/([LU]?)` + javaDot + `*?|(` + javaDot + `*?)`
)

var (
	ruleSplitter = regexp.MustCompile(javaSpace + `*(` + rulePattern + `)` + javaSpace + `*(,` + javaSpace + `*|\z)`)
	ruleParser   = regexp.MustCompile(`\A(?:` + rulePattern + `)`)
)

// PrincipalMapper maps the distinguished name of a client certificate to a
// principal name by ssl.principal.mapping.rules, as Kafka's
// SslPrincipalMapper does. It is immutable and safe for concurrent use; a
// nil *PrincipalMapper applies the DEFAULT rule.
type PrincipalMapper struct {
	rules []principalRule
}

// principalRule is one rule: DEFAULT, or RULE:pattern/replacement/[LU].
type principalRule struct {
	isDefault   bool
	pattern     string // as written, for String
	replacement string // as written, for String
	re          *regexp.Regexp
	whole       *regexp.Regexp // re, matching the whole name only
	at          *regexp.Regexp // re after one character of context
	parts       []replacementPart
	lower       bool
	upper       bool
}

// replacementPart is a piece of a compiled replacement: literal text, or
// (group >= 0) a capturing group.
type replacementPart struct {
	literal string
	group   int
}

// ParsePrincipalRules parses ssl.principal.mapping.rules: rules separated
// by commas (blanks around them, line breaks included, are ignored), each
// "DEFAULT" or "RULE:pattern/replacement/" with an optional L or U after
// the last slash to lower- or upper-case the result; a "/" in the pattern
// or replacement is written "\/". Empty rules are ignored, so that ""
// gives a mapper with no rules, which maps no name (as in Kafka, whose
// default is "DEFAULT").
//
// Patterns are Java regular expressions run by Go's RE2 engine (see the
// package documentation for the differences); one that uses a Java
// feature RE2 lacks (lookarounds, backreferences, possessive quantifiers,
// atomic groups) or that would mean something else in Go is refused, as
// is text Kafka would silently skip (a rule followed by a line break
// without a comma) and a replacement whose group references Java would
// fail on at every match.
func ParsePrincipalRules(rules string) (*PrincipalMapper, error) {
	text := javaTrim(rules)
	m := &PrincipalMapper{}
	at := 0
	for _, loc := range ruleSplitter.FindAllStringSubmatchIndex(text, -1) {
		if skipped := text[at:loc[0]]; strings.TrimSpace(skipped) != "" {
			return nil, fmt.Errorf("rules %q: Kafka would ignore %q: separate rules with commas", rules, skipped)
		}
		at = loc[1]
		r, ok, err := parseRule(text[loc[2]:loc[3]])
		if err != nil {
			return nil, err
		}
		if ok {
			m.rules = append(m.rules, r)
		}
	}
	if skipped := text[at:]; strings.TrimSpace(skipped) != "" {
		return nil, fmt.Errorf("rules %q: Kafka would ignore %q: separate rules with commas", rules, skipped)
	}
	return m, nil
}

// parseRule parses one rule as SslPrincipalMapper.parseRules does; ok is
// false for an empty rule.
func parseRule(rule string) (r principalRule, ok bool, err error) {
	loc := ruleParser.FindStringSubmatchIndex(rule)
	if loc == nil {
		return r, false, fmt.Errorf("Invalid rule: %s", rule)
	}
	if loc[1] != len(rule) {
		// Kafka's message.
		return r, false, fmt.Errorf("Invalid rule: `%s`, unmatched substring: `%s`", rule, rule[loc[1]:])
	}
	switch {
	case loc[2] >= 0:
		return principalRule{isDefault: true}, true, nil
	case loc[4] >= 0:
		r.pattern = rule[loc[4]:loc[5]]
		r.replacement = rule[loc[8]:loc[9]]
		flag := rule[loc[12]:loc[13]]
		r.lower, r.upper = flag == "L", flag == "U"
		if err := r.compile(); err != nil {
			return r, false, fmt.Errorf("rule %q: %w", rule, err)
		}
		return r, true, nil
	}
	return r, false, nil // empty
}

// compile compiles the pattern and the replacement.
func (r *principalRule) compile() error {
	if err := checkJavaOnly(r.pattern); err != nil {
		return fmt.Errorf("pattern %q: %w", r.pattern, err)
	}
	parsed, err := syntax.Parse(r.pattern, syntax.Perl)
	if err != nil {
		return fmt.Errorf("pattern %q is not valid in Go's RE2 syntax: %w", r.pattern, err)
	}
	text, err := javaDots(r.pattern, parsed)
	if err != nil {
		return fmt.Errorf("pattern %q: %w", r.pattern, err)
	}
	// re finds the matches, as Java's find does; whole is Java's
	// Matcher.matches; at is the match starting one character into a
	// text, with that character as context, for String.replaceAll's
	// empty matches (see apply).
	re, err := regexp.Compile(text)
	if err == nil {
		r.whole, err = regexp.Compile(`\A(?:` + text + `)\z`)
	}
	if err == nil {
		r.at, err = regexp.Compile(`\A(?s:.)(?:` + text + `)`)
	}
	if err != nil {
		return fmt.Errorf("pattern %q: %w", r.pattern, err)
	}
	r.re = re
	escaped, err := escapeLiteralBackReferences(r.replacement, re.NumSubexp())
	if err == nil {
		r.parts, err = compileReplacement(escaped, re)
	}
	if err != nil {
		return fmt.Errorf("replacement %q: %w", r.replacement, err)
	}
	return nil
}

// javaDot is Java's "." without DOTALL: any character but a line
// terminator, where Go's "." excludes \n only.
const javaDot = `[^\n\r\x{85}\x{2028}\x{2029}]`

// dotMarker stands for a "." while a parsed pattern is printed: a
// literal that syntax.Regexp.String writes as dotMarkerText, which
// nothing else prints as.
const (
	dotMarker     = '\U0010FFFD'
	dotMarkerText = `\x{10fffd}`
)

// javaDots returns the pattern with Java's meaning of "." (javaDot), as
// text that can be wrapped in a group: the parsed pattern printed, each
// "." written as javaDot, or the pattern itself when it has no "." nor
// \Q (which could leave the rest of the text quoted). The dots are not
// made character classes in the tree: String takes milliseconds over a
// class that large.
func javaDots(pattern string, parsed *syntax.Regexp) (string, error) {
	dots := false
	var mark func(re *syntax.Regexp) error
	mark = func(re *syntax.Regexp) error {
		switch re.Op {
		case syntax.OpAnyCharNotNL:
			re.Op, re.Rune, re.Flags, dots = syntax.OpLiteral, []rune{dotMarker}, 0, true
		case syntax.OpLiteral, syntax.OpCharClass:
			if slices.Contains(re.Rune, dotMarker) {
				return errors.New("U+10FFFD is not supported in patterns")
			}
		}
		for _, sub := range re.Sub {
			if err := mark(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := mark(parsed); err != nil {
		return "", err
	}
	if !dots && !strings.Contains(pattern, `\Q`) {
		return pattern, nil
	}
	return strings.ReplaceAll(parsed.String(), dotMarkerText, javaDot), nil
}

// backReference is SslPrincipalMapper's BACK_REFERENCE_PATTERN.
var backReference = regexp.MustCompile(`\$(\d+)`)

// escapeLiteralBackReferences is SslPrincipalMapper's method of that name
// (from Apache NiFi), ported as it is: a $n naming a group the pattern
// does not have (after dropping trailing digits while it is 10 or more) is
// made literal, "\$n". Like the original it finds the references in the
// unescaped replacement and inserts the backslashes at those positions in
// the string it is changing, so that with two or more such references the
// later backslashes land one character early per earlier one; Java then
// fails on the result, and compileReplacement refuses it.
func escapeLiteralBackReferences(unescaped string, groups int) (string, error) {
	if groups == 0 {
		return unescaped, nil
	}
	value := []rune(unescaped)
	for _, m := range backReference.FindAllStringSubmatchIndex(unescaped, -1) {
		num := unescaped[m[2]:m[3]]
		if strings.HasPrefix(num, "0") {
			continue
		}
		idx, err := strconv.ParseInt(num, 10, 32)
		if err != nil {
			// Java's Integer.parseInt throws: every match would fail.
			return "", fmt.Errorf("group reference $%s is too large", num)
		}
		for idx > int64(groups) && idx >= 10 {
			idx /= 10
		}
		if idx > int64(groups) {
			// Java's indexes count UTF-16 units; runes differ from them
			// only past U+FFFF.
			start := utf8.RuneCountInString(unescaped[:m[2]])
			value = append(value[:start-1:start-1], append([]rune{'\\'}, value[start-1:]...)...)
		}
	}
	return string(value), nil
}

// compileReplacement parses a replacement as java.util.regex.Matcher's
// appendReplacement does: "\c" is c, "$n" the longest group number that
// exists (its first digit always counts), "${name}" a named group. What
// Java throws on at every match is refused here.
func compileReplacement(repl string, re *regexp.Regexp) ([]replacementPart, error) {
	var parts []replacementPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replacementPart{literal: lit.String(), group: -1})
			lit.Reset()
		}
	}
	groups := re.NumSubexp()
	for i := 0; i < len(repl); {
		c := repl[i]
		switch c {
		case '\\':
			i++
			if i == len(repl) {
				return nil, errors.New("character to be escaped is missing")
			}
			_, n := utf8.DecodeRuneInString(repl[i:])
			lit.WriteString(repl[i : i+n])
			i += n
		case '$':
			i++
			if i == len(repl) {
				return nil, errors.New("illegal group reference: group index is missing")
			}
			var ref int
			if repl[i] == '{' {
				i++
				j := i
				for j < len(repl) && isASCIIAlnum(repl[j]) {
					j++
				}
				name := repl[i:j]
				switch {
				case name == "":
					return nil, errors.New("named capturing group has 0 length name")
				case j == len(repl) || repl[j] != '}':
					return nil, errors.New("named capturing group is missing trailing '}'")
				case name[0] >= '0' && name[0] <= '9':
					return nil, fmt.Errorf("capturing group name {%s} starts with digit character", name)
				}
				if ref = re.SubexpIndex(name); ref < 0 {
					return nil, fmt.Errorf("no group with name {%s}", name)
				}
				i = j + 1
			} else {
				if repl[i] < '0' || repl[i] > '9' {
					return nil, errors.New("illegal group reference")
				}
				ref = int(repl[i] - '0')
				i++
				for i < len(repl) && repl[i] >= '0' && repl[i] <= '9' {
					next := ref*10 + int(repl[i]-'0')
					if next > groups {
						break
					}
					ref = next
					i++
				}
				if ref > groups {
					return nil, fmt.Errorf("no group %d: the pattern has %d", ref, groups)
				}
			}
			flush()
			parts = append(parts, replacementPart{group: ref})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return parts, nil
}

// checkJavaOnly refuses the Java regex features RE2 does not have with a
// clearer message than Go's parser gives, and those Go would accept with
// another meaning.
func checkJavaOnly(p string) error {
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		next := byte(0)
		if i+1 < len(p) {
			next = p[i+1]
		}
		switch {
		case c == '\\':
			switch {
			case next == 'Q':
				end := strings.Index(p[i+2:], `\E`)
				if end < 0 {
					return nil
				}
				i += 2 + end + 1
				continue
			case !inClass && next >= '1' && next <= '9', next == 'k' && i+2 < len(p) && p[i+2] == '<':
				return errors.New("backreferences are not supported by Go's RE2 regexp engine")
			case next == 'v':
				return errors.New(`\v is vertical whitespace in Java but a vertical tab in Go: write the characters meant ([\n\x0B\f\r\x{85}\x{2028}\x{2029}] or \x0B)`)
			}
			i++
		case inClass:
			switch {
			case c == ']':
				inClass = false
			case c == '[':
				return errors.New("a character class inside a character class is a union in Java, but a literal '[' (or a POSIX class) in Go: write one class")
			case c == '&' && next == '&':
				return errors.New("character class intersections (&&) are not supported by Go's RE2 regexp engine")
			}
		case c == '[':
			inClass = true
			// A ']' first in the class (after an optional '^') is a
			// literal, in Java as in Go.
			if next == '^' {
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
			}
		case c == '(' && next == '?':
			rest := p[i+2:]
			switch {
			case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"):
				return errors.New("lookaheads ((?=...), (?!...)) are not supported by Go's RE2 regexp engine")
			case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"):
				return errors.New("lookbehinds ((?<=...), (?<!...)) are not supported by Go's RE2 regexp engine")
			case strings.HasPrefix(rest, ">"):
				return errors.New("atomic groups ((?>...)) are not supported by Go's RE2 regexp engine")
			}
			flags := rest
			if end := strings.IndexAny(flags, ":)"); end >= 0 {
				flags = flags[:end]
			}
			if !strings.HasPrefix(flags, "<") && !strings.HasPrefix(flags, "P<") && strings.Contains(flags, "U") {
				return errors.New("flag U is UNICODE_CHARACTER_CLASS in Java but ungreedy in Go: remove it")
			}
		case (c == '*' || c == '+' || c == '?' || c == '}' && quantifierEnds(p[:i+1])) && next == '+':
			return errors.New("possessive quantifiers (*+, ++, ?+, {n}+) are not supported by Go's RE2 regexp engine")
		}
	}
	return nil
}

// counted is a {n}, {n,} or {n,m} quantifier at the end of a pattern.
var counted = regexp.MustCompile(`\{[0-9]+(,[0-9]*)?\}$`)

// quantifierEnds reports whether p ends with a counted quantifier.
func quantifierEnds(p string) bool { return counted.MatchString(p) }

// isASCIIAlnum is Java's ASCII.isLower || isUpper || isDigit.
func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// apply maps name by the rule; ok is false when the rule does not match.
func (r *principalRule) apply(name string) (string, bool) {
	if r.isDefault {
		return name, true
	}
	if !r.whole.MatchString(name) {
		return "", false
	}
	// String.replaceAll: every match Java's find loop finds, left to
	// right. Go's FindAll finds the same, but for an empty match right
	// where a previous match ended, which Java keeps and Go drops: "a*"
	// replaced by "-" in "aaa" is "--" in Java. So after each non-empty
	// match, at looks for the match starting where it ended.
	var b strings.Builder
	at := 0
	emit := func(m []int, shift int) {
		b.WriteString(name[at:m[0]])
		for _, p := range r.parts {
			switch {
			case p.group < 0:
				b.WriteString(p.literal)
			case p.group == 0:
				b.WriteString(name[m[0]:m[1]])
			case m[2*p.group] >= 0:
				b.WriteString(name[m[2*p.group]+shift : m[2*p.group+1]+shift])
			}
		}
		at = m[1]
	}
	for _, m := range r.re.FindAllStringSubmatchIndex(name, -1) {
		emit(m, 0)
		if end := m[1]; end > m[0] {
			_, w := utf8.DecodeLastRuneInString(name[:end])
			if e := r.at.FindStringSubmatchIndex(name[end-w:]); e != nil && e[1] == w {
				e[0], e[1] = end, end
				emit(e, end-w)
			}
		}
	}
	b.WriteString(name[at:])
	out := b.String()
	switch {
	case r.lower:
		out = javaLower(out)
	case r.upper:
		out = javaUpper(out)
	}
	return out, true
}

// String is the rule as Kafka's Rule.toString writes it.
func (r *principalRule) String() string {
	if r.isDefault {
		return "DEFAULT"
	}
	s := "RULE:" + r.pattern + "/" + r.replacement
	switch {
	case r.lower:
		s += "/L"
	case r.upper:
		s += "/U"
	}
	return s
}

// NoMatchingRuleError is the error of a name no rule applies to (Kafka's
// SslPrincipalMapper.NoMatchingRule).
type NoMatchingRuleError struct {
	// DN is the distinguished name.
	DN string
	// Rules are the mapper's rules, as PrincipalMapper.String shows them.
	Rules string
}

// Error is Kafka's message: "No rules apply to <dn>, rules [<rules>]".
func (e *NoMatchingRuleError) Error() string {
	return "No rules apply to " + e.DN + ", rules " + e.Rules
}

// Name maps a distinguished name (DistinguishedName of a certificate) to a
// principal name: the result of the first rule that matches, DEFAULT
// matching any name and keeping it whole. A RULE matches when its pattern
// matches the whole name; its result is then the name with every match of
// the pattern replaced (Java's String.replaceAll), lower- or upper-cased
// with L or U. With no matching rule the error is a
// *NoMatchingRuleError.
func (m *PrincipalMapper) Name(dn string) (string, error) {
	if m == nil {
		return dn, nil
	}
	for i := range m.rules {
		if name, ok := m.rules[i].apply(dn); ok {
			return name, nil
		}
	}
	return "", &NoMatchingRuleError{DN: dn, Rules: m.String()}
}

// String lists the rules as Kafka's SslPrincipalMapper does in its
// messages: "[RULE:^CN=(.*?),OU=(.*?)$/$1/L, DEFAULT]".
func (m *PrincipalMapper) String() string {
	if m == nil {
		return "[DEFAULT]"
	}
	s := make([]string, len(m.rules))
	for i := range m.rules {
		s[i] = m.rules[i].String()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Principal returns the principal of a TLS connection as Kafka's
// DefaultKafkaPrincipalBuilder does: "User:" and the mapped name of the
// subject of the client's certificate, or User:ANONYMOUS when the client
// sent none. A certificate that crypto/tls did not verify (a
// configuration that does not verify client certificates, unlike
// ServerConfig's) is an error, as is a handshake not yet complete.
func (m *PrincipalMapper) Principal(state tls.ConnectionState) (string, error) {
	if !state.HandshakeComplete {
		return "", errors.New("tlsconf: principal: the TLS handshake is not complete")
	}
	if len(state.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	if len(state.VerifiedChains) == 0 {
		return "", errors.New("tlsconf: principal: the client certificate was not verified")
	}
	name, err := m.Name(DistinguishedName(state.PeerCertificates[0]))
	if err != nil {
		return "", fmt.Errorf("tlsconf: principal: %w", err)
	}
	return "User:" + name, nil
}
