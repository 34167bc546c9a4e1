package schemacompat

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds an order-preserving JSON tree and a writer that prints it
// the way Jackson (the JSON library Confluent Schema Registry and Apache Avro
// use) prints a JsonNode tree: compact, keys in document order, non-ASCII
// characters unescaped. Canonical strings and the JSON fragments inside error
// messages depend on those details, so encoding/json is not used.

// maxJSONDepth bounds array/object nesting, as Jackson's StreamReadConstraints
// default does (1000).
const maxJSONDepth = 1000

type jsonKind uint8

const (
	jNull jsonKind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jsonValue is a node of a parsed JSON document. Numbers keep their literal
// text so that they can be re-printed the way Jackson would print them.
type jsonValue struct {
	kind jsonKind
	b    bool
	s    string // string value, or the literal text of a number
	arr  []*jsonValue
	obj  []jsonMember
	idx  map[string]int // index of the members of a large object, built by the parser
}

type jsonMember struct {
	key string
	val *jsonValue
}

// get returns the member named key of an object, or nil.
func (v *jsonValue) get(key string) *jsonValue {
	if v == nil || v.kind != jObject {
		return nil
	}
	if v.idx != nil {
		if i, ok := v.idx[key]; ok {
			return v.obj[i].val
		}
		return nil
	}
	for _, m := range v.obj {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// has reports whether an object has a member named key.
func (v *jsonValue) has(key string) bool { return v.get(key) != nil }

// text returns the value of a JSON string, and false for any other node (the
// equivalent of Jackson's JsonNode.textValue() returning null).
func (v *jsonValue) text() (string, bool) {
	if v == nil || v.kind != jString {
		return "", false
	}
	return v.s, true
}

// isIntegral reports whether a number node is an integer literal (Jackson
// IntNode, LongNode or BigIntegerNode).
func (v *jsonValue) isIntegral() bool {
	return v != nil && v.kind == jNumber && !strings.ContainsAny(v.s, ".eE") && !isNonNumeric(v.s)
}

// int64Value returns the value of an integer literal that fits in 64 bits.
func (v *jsonValue) int64Value() (int64, bool) {
	if !v.isIntegral() {
		return 0, false
	}
	n, err := strconv.ParseInt(v.s, 10, 64)
	return n, err == nil
}

// int32Value returns the value of an integer literal that fits in 32 bits
// (Jackson's IntNode).
func (v *jsonValue) int32Value() (int32, bool) {
	n, ok := v.int64Value()
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// float64Value returns the value of a number node as a double.
func (v *jsonValue) float64Value() float64 {
	if v == nil || v.kind != jNumber {
		return 0
	}
	switch v.s {
	case "NaN":
		return math.NaN()
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	f, _ := strconv.ParseFloat(v.s, 64)
	return f
}

// bigRat returns the exact value of a finite number node.
func (v *jsonValue) bigRat() (*big.Rat, bool) {
	if v == nil || v.kind != jNumber || isNonNumeric(v.s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(v.s)
	return r, ok
}

func isNonNumeric(s string) bool {
	switch s {
	case "NaN", "Infinity", "+Infinity", "-Infinity":
		return true
	}
	return false
}

// jsonEqual reports structural equality of two JSON trees; numbers compare by
// value, object members regardless of order.
func jsonEqual(a, b *jsonValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case jNull:
		return true
	case jBool:
		return a.b == b.b
	case jString:
		return a.s == b.s
	case jNumber:
		ra, oka := a.bigRat()
		rb, okb := b.bigRat()
		if oka && okb {
			return ra.Cmp(rb) == 0
		}
		return a.s == b.s
	case jArray:
		if len(a.arr) != len(b.arr) {
			return false
		}
		for i := range a.arr {
			if !jsonEqual(a.arr[i], b.arr[i]) {
				return false
			}
		}
		return true
	case jObject:
		if len(a.obj) != len(b.obj) {
			return false
		}
		for _, m := range a.obj {
			if !jsonEqual(m.val, b.get(m.key)) {
				return false
			}
		}
		return true
	}
	return false
}

type jsonOptions struct {
	allowComments   bool // Avro's parser enables JsonParser.Feature.ALLOW_COMMENTS
	allowNonNumeric bool // Confluent's JSON Schema mapper allows NaN and Infinity
}

type jsonParser struct {
	src  string
	pos  int
	opts jsonOptions
}

// jsonSyntaxError describes malformed JSON input.
type jsonSyntaxError struct {
	msg       string
	line, col int
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("%s at line %d, column %d", e.msg, e.line, e.col)
}

// parseJSON parses a single JSON document. Trailing content other than
// whitespace (and comments when allowed) is an error.
func parseJSON(src string, opts jsonOptions) (*jsonValue, error) {
	p := &jsonParser{src: src, opts: opts}
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.pos >= len(p.src) {
		return nil, p.errorf("No content to map due to end-of-input")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, p.errorf("dangling content after end of JSON document: %q", abbreviate(strings.TrimSpace(p.src[p.pos:]), 40))
	}
	return v, nil
}

func (p *jsonParser) errorf(format string, args ...any) error {
	line, col := 1, 1
	end := min(p.pos, len(p.src))
	for _, r := range p.src[:end] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &jsonSyntaxError{msg: fmt.Sprintf(format, args...), line: line, col: col}
}

func (p *jsonParser) skipSpace() error {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; c {
		case ' ', '\t', '\n', '\r':
			p.pos++
		case '/':
			if !p.opts.allowComments {
				return p.errorf("Unexpected character ('/' (code 47)): maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)")
			}
			if p.pos+1 < len(p.src) && p.src[p.pos+1] == '/' {
				for p.pos < len(p.src) && p.src[p.pos] != '\n' {
					p.pos++
				}
			} else if p.pos+1 < len(p.src) && p.src[p.pos+1] == '*' {
				end := strings.Index(p.src[p.pos+2:], "*/")
				if end < 0 {
					p.pos = len(p.src)
					return p.errorf("Unexpected end-of-input in a comment")
				}
				p.pos += 2 + end + 2
			} else {
				return p.errorf("Unexpected character ('/' (code 47)): was expecting comment")
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *jsonParser) value(depth int) (*jsonValue, error) {
	if p.pos >= len(p.src) {
		return nil, p.errorf("Unexpected end-of-input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jString, s: s}, nil
	case c == '-' || (c >= '0' && c <= '9') || c == '+' || c == 'N' || c == 'I':
		return p.number()
	case strings.HasPrefix(p.src[p.pos:], "true"):
		p.pos += 4
		return &jsonValue{kind: jBool, b: true}, nil
	case strings.HasPrefix(p.src[p.pos:], "false"):
		p.pos += 5
		return &jsonValue{kind: jBool, b: false}, nil
	case strings.HasPrefix(p.src[p.pos:], "null"):
		p.pos += 4
		return &jsonValue{kind: jNull}, nil
	default:
		r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
		return nil, p.errorf("Unexpected character (%q (code %d)): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')", r, r)
	}
}

func (p *jsonParser) object(depth int) (*jsonValue, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("Document nesting depth (%d) exceeds the maximum allowed (%d)", depth, maxJSONDepth)
	}
	p.pos++ // '{'
	v := &jsonValue{kind: jObject}
	var seen map[string]int
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for {
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("Unexpected end-of-input: expected close marker for Object")
		}
		if p.src[p.pos] != '"' {
			return nil, p.errorf("Unexpected character (%q): was expecting double-quote to start field name", p.src[p.pos])
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("Unexpected character: was expecting a colon to separate field name and value")
		}
		p.pos++
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		val, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		// Jackson keeps the position of the first occurrence of a duplicate
		// key and the value of the last one.
		if len(v.obj) >= 8 && seen == nil {
			seen = make(map[string]int, 16)
			for i, m := range v.obj {
				seen[m.key] = i
			}
		}
		dup := -1
		if seen != nil {
			if i, ok := seen[key]; ok {
				dup = i
			}
		} else {
			for i, m := range v.obj {
				if m.key == key {
					dup = i
					break
				}
			}
		}
		if dup >= 0 {
			v.obj[dup].val = val
		} else {
			if seen != nil {
				seen[key] = len(v.obj)
			}
			v.obj = append(v.obj, jsonMember{key: key, val: val})
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("Unexpected end-of-input: expected close marker for Object")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			if len(v.obj) > 16 {
				v.idx = seen // read-only from now on: trees are shared between goroutines
			}
			return v, nil
		default:
			return nil, p.errorf("Unexpected character (%q): was expecting comma to separate Object entries", p.src[p.pos])
		}
	}
}

func (p *jsonParser) array(depth int) (*jsonValue, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("Document nesting depth (%d) exceeds the maximum allowed (%d)", depth, maxJSONDepth)
	}
	p.pos++ // '['
	v := &jsonValue{kind: jArray}
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		el, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		v.arr = append(v.arr, el)
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("Unexpected end-of-input: expected close marker for Array")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return nil, p.errorf("Unexpected character (%q): was expecting comma to separate Array entries", p.src[p.pos])
		}
	}
}

func (p *jsonParser) number() (*jsonValue, error) {
	start := p.pos
	rest := p.src[p.pos:]
	if p.opts.allowNonNumeric {
		for _, tok := range []string{"NaN", "Infinity", "+Infinity", "-Infinity"} {
			if strings.HasPrefix(rest, tok) {
				p.pos += len(tok)
				return &jsonValue{kind: jNumber, s: tok}, nil
			}
		}
	}
	i := p.pos
	if i < len(p.src) && p.src[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
			n++
		}
		return n
	}
	intStart := i
	if n := digits(); n == 0 {
		p.pos = i
		return nil, p.errorf("Unexpected character: expected digit for a number")
	} else if n > 1 && p.src[intStart] == '0' {
		p.pos = intStart
		return nil, p.errorf("Invalid numeric value: Leading zeroes not allowed")
	}
	if i < len(p.src) && p.src[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return nil, p.errorf("Unexpected character: Decimal point not followed by a digit")
		}
	}
	if i < len(p.src) && (p.src[i] == 'e' || p.src[i] == 'E') {
		i++
		if i < len(p.src) && (p.src[i] == '+' || p.src[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return nil, p.errorf("Unexpected character: Exponent indicator not followed by a digit")
		}
	}
	if i-start > 1000 {
		p.pos = start
		return nil, p.errorf("Number value length (%d) exceeds the maximum allowed (1000)", i-start)
	}
	p.pos = i
	return &jsonValue{kind: jNumber, s: p.src[start:i]}, nil
}

func (p *jsonParser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errorf("Illegal unquoted character ((CTRL-CHAR, code %d)): has to be escaped using backslash to be included in string value", c)
		}
		p.pos++
	}
	var b strings.Builder
	b.WriteString(p.src[start:p.pos])
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("Illegal unquoted character ((CTRL-CHAR, code %d)): has to be escaped using backslash to be included in string value", c)
		case c == '\\':
			p.pos++
			if p.pos >= len(p.src) {
				return "", p.errorf("Unexpected end-of-input in character escape sequence")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) && strings.HasPrefix(p.src[p.pos:], `\u`) {
					save := p.pos
					p.pos += 2
					r2, err := p.hex4()
					if err == nil {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b.WriteRune(dec)
							continue
						}
					}
					p.pos = save
				}
				b.WriteRune(r)
			default:
				return "", p.errorf("Unrecognized character escape %q", e)
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf("Unexpected end-of-input: was expecting closing quote for a string value")
}

func (p *jsonParser) hex4() (rune, error) {
	if p.pos+4 > len(p.src) {
		return 0, p.errorf("Unexpected end-of-input in character escape sequence")
	}
	n, err := strconv.ParseUint(p.src[p.pos:p.pos+4], 16, 32)
	if err != nil {
		return 0, p.errorf("Unexpected character in character escape sequence: expected a hex-digit")
	}
	p.pos += 4
	return rune(n), nil
}

// numberStyle selects how numbers are printed.
type numberStyle uint8

const (
	// numbersAsDouble prints non-integer numbers the way Jackson prints a
	// DoubleNode (Java's Double.toString), as Avro's default ObjectMapper
	// reads floating point numbers as doubles.
	numbersAsDouble numberStyle = iota
	// numbersAsBigDecimal prints non-integer numbers the way Jackson prints
	// an exact DecimalNode (BigDecimal.toString), as Confluent's JSON Schema
	// mapper reads them (USE_BIG_DECIMAL_FOR_FLOATS, exact big decimals).
	numbersAsBigDecimal
)

// writeJSON appends v to b the way Jackson serializes a JsonNode compactly.
func writeJSON(b *strings.Builder, v *jsonValue, style numberStyle) {
	switch v.kind {
	case jNull:
		b.WriteString("null")
	case jBool:
		if v.b {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case jString:
		writeJSONString(b, v.s)
	case jNumber:
		b.WriteString(formatNumber(v.s, style))
	case jArray:
		b.WriteByte('[')
		for i, el := range v.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, el, style)
		}
		b.WriteByte(']')
	case jObject:
		b.WriteByte('{')
		for i, m := range v.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, m.key)
			b.WriteByte(':')
			writeJSON(b, m.val, style)
		}
		b.WriteByte('}')
	}
}

// jsonString returns the compact Jackson serialization of v.
func jsonString(v *jsonValue, style numberStyle) string {
	if v == nil {
		return "null"
	}
	var b strings.Builder
	writeJSON(&b, v, style)
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// writeJSONString writes a quoted string with Jackson's default escaping:
// quote, backslash and control characters only.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[last:i])
		last = i + 1
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xF])
		}
	}
	b.WriteString(s[last:])
	b.WriteByte('"')
}

// formatNumber prints a JSON number literal the way Jackson re-serializes
// the node it was read into.
func formatNumber(lit string, style numberStyle) string {
	if isNonNumeric(lit) {
		// DoubleNode NaN/Infinity: Jackson quotes non-numeric numbers.
		if lit == "+Infinity" {
			lit = "Infinity"
		}
		return `"` + lit + `"`
	}
	if !strings.ContainsAny(lit, ".eE") {
		// IntNode, LongNode or BigIntegerNode: canonical integer digits.
		n, ok := new(big.Int).SetString(lit, 10)
		if !ok {
			return lit
		}
		return n.String()
	}
	if style == numbersAsBigDecimal {
		return bigDecimalString(lit)
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !math.IsInf(f, 0) {
		return lit
	}
	return javaDoubleString(f)
}

// javaDoubleString formats f like Java's Double.toString.
func javaDoubleString(f float64) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"Infinity"`
	case math.IsInf(f, -1):
		return `"-Infinity"`
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	neg := f < 0
	abs := math.Abs(f)
	// Shortest digits and decimal exponent.
	e := strconv.FormatFloat(abs, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if abs >= 1e-3 && abs < 1e7 {
		// Plain notation with at least one fractional digit.
		point := exp + 1 // number of digits before the decimal point
		switch {
		case point <= 0:
			out = "0." + strings.Repeat("0", -point) + digits
		case point >= len(digits):
			out = digits + strings.Repeat("0", point-len(digits)) + ".0"
		default:
			out = digits[:point] + "." + digits[point:]
		}
	} else {
		frac := digits[1:]
		if frac == "" {
			frac = "0"
		}
		out = digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
	}
	if neg {
		return "-" + out
	}
	return out
}

// bigDecimalString formats a JSON number literal like Java's
// new BigDecimal(literal).toString().
func bigDecimalString(lit string) string {
	neg := strings.HasPrefix(lit, "-")
	lit = strings.TrimPrefix(lit, "-")
	mant, expPart, hasExp := strings.Cut(strings.ToLower(lit), "e")
	exp := 0
	if hasExp {
		n, err := strconv.Atoi(expPart)
		if err != nil {
			return lit
		}
		exp = n
	}
	intPart, fracPart, _ := strings.Cut(mant, ".")
	coeff := strings.TrimLeft(intPart+fracPart, "0")
	if coeff == "" {
		coeff = "0"
	}
	scale := len(fracPart) - exp
	adjusted := -scale + (len(coeff) - 1)
	var out string
	if scale >= 0 && adjusted >= -6 {
		if scale == 0 {
			out = coeff
		} else if len(coeff) > scale {
			out = coeff[:len(coeff)-scale] + "." + coeff[len(coeff)-scale:]
		} else {
			out = "0." + strings.Repeat("0", scale-len(coeff)) + coeff
		}
	} else {
		out = coeff[:1]
		if len(coeff) > 1 {
			out += "." + coeff[1:]
		}
		out += "E"
		if adjusted >= 0 {
			out += "+"
		}
		out += strconv.Itoa(adjusted)
	}
	if neg && coeff != "0" {
		return "-" + out // BigDecimal has no negative zero
	}
	return out
}

// abbreviate shortens s to at most n bytes (on a rune boundary).
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// javaStringPrefix returns the prefix of s holding at most n UTF-16 code
// units (Java's String.substring(0, n), without splitting surrogate pairs).
func javaStringPrefix(s string, n int) (string, bool) {
	units := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if units+w > n {
			return s[:i], true
		}
		units += w
	}
	return s, false
}
