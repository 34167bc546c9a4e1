package schemacompat

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// The Avro support mirrors Apache Avro's Java implementation (1.12), which
// Confluent Schema Registry uses: the parser builds the same schema graph as
// org.apache.avro.Schema.Parser (named types shared, forward references
// resolved, properties kept in order), the canonical text is
// Schema.toString(referencedSchemas, false) as in Confluent's
// AvroSchema.canonicalString(), and the compatibility check follows
// org.apache.avro.SchemaCompatibility. hamba/avro additionally validates the
// resolved schema (names, namespaces, aliases, unions, logical types).

type avroKind uint8

const (
	avroNull avroKind = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroArray
	avroMap
	avroUnion
	avroFixed
	avroUnresolved
)

var avroKindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "union", "fixed", "unresolved"}

// String returns the Java Schema.Type name (upper case), as used in Avro's
// incompatibility messages.
func (k avroKind) String() string { return strings.ToUpper(avroKindNames[k]) }

var avroPrimitives = map[string]avroKind{
	"null": avroNull, "boolean": avroBoolean, "int": avroInt, "long": avroLong,
	"float": avroFloat, "double": avroDouble, "bytes": avroBytes, "string": avroString,
}

// avroName is a (name, namespace) pair; an empty space is the null namespace.
type avroName struct {
	name, space string
}

func (n avroName) full() string {
	if n.space == "" {
		return n.name
	}
	return n.space + "." + n.name
}

// qualified is Java's Name.getQualified(defaultSpace).
func (n avroName) qualified(defaultSpace string) string {
	if n.space != "" && n.space == defaultSpace {
		for _, t := range avroKindNames[:avroUnresolved] {
			if t == n.name {
				return n.full()
			}
		}
		return n.name
	}
	return n.full()
}

// newAvroName splits a possibly dotted name, as Java's Schema.Name does.
func newAvroName(name, space string) avroName {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		space, name = name[:i], name[i+1:]
	}
	return avroName{name: name, space: space}
}

// avroNode is a schema node. Named types are shared by every use; every
// other occurrence is its own node, as in Java.
type avroNode struct {
	kind avroKind
	avroName
	doc         *string
	aliases     []avroName
	isError     bool
	fields      []*avroField
	fieldByName map[string]*avroField
	symbols     []string
	enumDefault *string
	size        int
	elem        *avroNode // array items or map values
	types       []*avroNode
	props       []jsonMember
}

func (n *avroNode) named() bool {
	return n.kind == avroRecord || n.kind == avroEnum || n.kind == avroFixed
}

// fullName is Java's Schema.getFullName().
func (n *avroNode) fullName() string {
	if n.named() || n.kind == avroUnresolved {
		return n.full()
	}
	return avroKindNames[n.kind]
}

type avroField struct {
	name    string
	schema  *avroNode
	doc     *string
	def     *jsonValue
	order   string // "ascending", "descending" or "ignore"
	aliases []string
	props   []jsonMember
	pos     int
}

// avroParsed is a parsed Avro schema.
type avroParsed struct {
	root *avroNode
}

var (
	schemaReserved = map[string]bool{"doc": true, "fields": true, "items": true, "name": true, "namespace": true, "size": true, "symbols": true, "values": true, "type": true, "aliases": true}
	enumReserved   = map[string]bool{"doc": true, "fields": true, "items": true, "name": true, "namespace": true, "size": true, "symbols": true, "values": true, "type": true, "aliases": true, "default": true}
	fieldReserved  = map[string]bool{"default": true, "doc": true, "name": true, "order": true, "type": true, "aliases": true}
)

// avroError is a parse failure with Java's message.
type avroError struct{ msg string }

func (e *avroError) Error() string { return e.msg }

func avroErrorf(format string, args ...any) *avroError {
	return &avroError{msg: fmt.Sprintf(format, args...)}
}

// avroParser is Java's ParseContext: named types known from earlier
// (referenced) schemas, and those defined by the schema being parsed.
type avroParser struct {
	old          map[string]*avroNode
	cur          map[string]*avroNode
	placeholders []*avroNode
	depth        int
}

func newAvroParser() *avroParser {
	return &avroParser{old: map[string]*avroNode{}, cur: map[string]*avroNode{}}
}

// parseAvro parses the references in order and then the schema, and returns
// the schema, its canonical text, or the reason it is invalid.
func parseAvro(text string, refs []flatRef) (*avroParsed, string, string) {
	ap := newAvroParser()
	known := map[string]bool{}
	for _, r := range refs {
		root, err := ap.parseDocument(r.text)
		if err != nil {
			return nil, "", err.Error()
		}
		known[root.fullName()] = true
	}
	root, err := ap.parseDocument(text)
	if err != nil {
		return nil, "", err.Error()
	}
	if err := validateWithHamba(root); err != nil {
		return nil, "", err.Error()
	}
	return &avroParsed{root: root}, avroToString(root, known), ""
}

// parseDocument parses one schema text and commits its named types.
func (ap *avroParser) parseDocument(text string) (*avroNode, error) {
	doc, err := parseJSON(text, jsonOptions{allowComments: true})
	if err != nil {
		return nil, avroErrorf("%s", err)
	}
	ap.placeholders = ap.placeholders[:0]
	root, err := ap.parse(doc, "")
	if err != nil {
		return nil, err
	}
	if root, err = ap.resolve(root); err != nil {
		return nil, err
	}
	for k, v := range ap.cur {
		ap.old[k] = v
	}
	clear(ap.cur)
	return root, nil
}

func (ap *avroParser) lookup(full string) *avroNode {
	if n := ap.old[full]; n != nil {
		return n
	}
	return ap.cur[full]
}

// find is Java's ParseContext.find: a primitive, a known named type, or a
// placeholder resolved once the whole document is parsed.
func (ap *avroParser) find(name, space string) *avroNode {
	if k, ok := avroPrimitives[name]; ok {
		return &avroNode{kind: k}
	}
	full := name
	if space != "" && !strings.Contains(name, ".") {
		full = space + "." + name
	}
	if n := ap.lookup(full); n != nil {
		return n
	}
	if n := ap.lookup(name); n != nil {
		return n
	}
	p := &avroNode{kind: avroUnresolved, avroName: avroName{name: full}}
	ap.placeholders = append(ap.placeholders, p)
	return p
}

func (ap *avroParser) parse(v *jsonValue, space string) (*avroNode, error) {
	ap.depth++
	defer func() { ap.depth-- }()
	if ap.depth > maxJSONDepth {
		return nil, avroErrorf("schema nesting depth exceeds %d", maxJSONDepth)
	}
	switch v.kind {
	case jString:
		return ap.find(v.s, space), nil
	case jArray:
		return ap.parseUnion(v, space)
	case jObject:
	default:
		return nil, avroErrorf("Schema not yet supported: %s", jsonString(v, numbersAsDouble))
	}
	typ, ok := v.get("type").text()
	if !ok {
		return nil, avroErrorf("No type: %s", jsonString(v, numbersAsDouble))
	}
	if k, ok := avroPrimitives[typ]; ok {
		n := &avroNode{kind: k}
		n.props = parseProps(v, schemaReserved)
		return n, nil
	}
	switch typ {
	case "record", "error":
		return ap.parseRecord(v, space, typ == "error")
	case "enum":
		return ap.parseEnum(v, space)
	case "array", "map":
		key, what := "items", "Array has no items type: "
		kind := avroArray
		if typ == "map" {
			key, what, kind = "values", "Map has no values type: ", avroMap
		}
		sub := v.get(key)
		if sub == nil {
			return nil, avroErrorf("%s%s", what, jsonString(v, numbersAsDouble))
		}
		elem, err := ap.parse(sub, space)
		if err != nil {
			return nil, err
		}
		n := &avroNode{kind: kind, elem: elem}
		n.props = parseProps(v, schemaReserved)
		return n, nil
	case "fixed":
		return ap.parseFixed(v, space)
	}
	// Avro 1.12 resolves {"type": "SomeName"} to the named type.
	return ap.find(typ, space), nil
}

func parseProps(v *jsonValue, reserved map[string]bool) []jsonMember {
	var props []jsonMember
	for _, m := range v.obj {
		if !reserved[m.key] {
			props = append(props, m)
		}
	}
	return props
}

func (ap *avroParser) parseName(v *jsonValue, space string) (avroName, error) {
	if ns, ok := v.get("namespace").text(); ok {
		space = ns
	}
	name, ok := v.get("name").text()
	if !ok {
		return avroName{}, avroErrorf("No name in schema: %s", jsonString(v, numbersAsDouble))
	}
	n := newAvroName(name, space)
	if err := validateAvroName(n.name); err != nil {
		return avroName{}, err
	}
	if _, ok := avroPrimitives[n.full()]; ok {
		return avroName{}, avroErrorf("Schemas may not be named after primitives: %s", n.full())
	}
	return n, nil
}

// validateAvroName is Java's NameValidator.STRICT_VALIDATOR, which Confluent
// applies to new schemas.
func validateAvroName(name string) error {
	if name == "" {
		return avroErrorf("Empty name")
	}
	if c := name[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return avroErrorf("Illegal initial character: %s", name)
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return avroErrorf("Illegal character in: %s", name)
		}
	}
	return nil
}

func validateFullName(full string) error {
	parts := strings.Split(full, ".")
	for i, p := range parts {
		what := "Name"
		if i < len(parts)-1 {
			what = "Namespace part"
		}
		if err := validateAvroName(p); err != nil {
			return avroErrorf("%s \"%s\" is invalid: %s", what, p, err)
		}
	}
	return nil
}

func (ap *avroParser) parseAliases(v *jsonValue) ([]string, bool, error) {
	a := v.get("aliases")
	if a == nil {
		return nil, false, nil
	}
	if a.kind != jArray {
		return nil, false, avroErrorf("aliases not an array: %s", jsonString(v, numbersAsDouble))
	}
	var out []string
	seen := map[string]bool{}
	for _, el := range a.arr {
		s, ok := el.text()
		if !ok {
			return nil, false, avroErrorf("alias not a string: %s", jsonString(el, numbersAsDouble))
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, true, nil
}

func (ap *avroParser) namedAliases(v *jsonValue, n *avroNode) error {
	aliases, _, err := ap.parseAliases(v)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		an := newAvroName(a, n.space)
		if err := validateAvroName(an.name); err != nil {
			return err
		}
		dup := false
		for _, have := range n.aliases {
			if have.full() == an.full() {
				dup = true
			}
		}
		if !dup {
			n.aliases = append(n.aliases, an)
		}
	}
	return nil
}

// define registers a named type, as ParseContext.put: redefining a name with
// a different definition is an error.
func (ap *avroParser) define(n *avroNode) error {
	full := n.full()
	if err := validateFullName(full); err != nil {
		return err
	}
	if prev := ap.lookup(full); prev != nil && prev != n {
		if avroToString(prev, nil) != avroToString(n, nil) {
			return avroErrorf("Can't redefine: %s", full)
		}
		return nil
	}
	ap.cur[full] = n
	return nil
}

func (ap *avroParser) parseRecord(v *jsonValue, space string, isError bool) (*avroNode, error) {
	name, err := ap.parseName(v, space)
	if err != nil {
		return nil, err
	}
	n := &avroNode{kind: avroRecord, avroName: name, isError: isError}
	if d, ok := v.get("doc").text(); ok {
		n.doc = &d
	}
	fieldsNode := v.get("fields")
	if fieldsNode == nil || fieldsNode.kind != jArray {
		return nil, avroErrorf("Record has no fields: %s", jsonString(v, numbersAsDouble))
	}
	n.fieldByName = make(map[string]*avroField, len(fieldsNode.arr))
	for i, fv := range fieldsNode.arr {
		f, err := ap.parseField(fv, name.space)
		if err != nil {
			return nil, err
		}
		f.pos = i
		if prev, dup := n.fieldByName[f.name]; dup {
			return nil, avroErrorf("Duplicate field %s in record %s: %s type:%s pos:%d and %s type:%s pos:%d.",
				f.name, name.full(), f.name, f.schema.kind, f.pos, prev.name, prev.schema.kind, prev.pos)
		}
		n.fieldByName[f.name] = f
		n.fields = append(n.fields, f)
	}
	n.props = parseProps(v, schemaReserved)
	if err := ap.namedAliases(v, n); err != nil {
		return nil, err
	}
	if err := ap.define(n); err != nil {
		return nil, err
	}
	return n, nil
}

func (ap *avroParser) parseField(v *jsonValue, space string) (*avroField, error) {
	name, ok := v.get("name").text()
	if !ok {
		return nil, avroErrorf("No field name: %s", jsonString(v, numbersAsDouble))
	}
	f := &avroField{name: name, order: "ascending"}
	if d, ok := v.get("doc").text(); ok {
		f.doc = &d
	}
	typeNode := v.get("type")
	if typeNode == nil {
		return nil, avroErrorf("No field type: %s", jsonString(v, numbersAsDouble))
	}
	schema, err := ap.parse(typeNode, space)
	if err != nil {
		return nil, err
	}
	f.schema = schema
	if o := v.get("order"); o != nil {
		s, ok := o.text()
		if !ok {
			return nil, avroErrorf("Cannot invoke \"String.toUpperCase(java.util.Locale)\" because the return value of \"com.fasterxml.jackson.databind.JsonNode.textValue()\" is null")
		}
		switch strings.ToUpper(s) {
		case "ASCENDING", "DESCENDING", "IGNORE":
			f.order = strings.ToLower(s)
		default:
			return nil, avroErrorf("No enum constant org.apache.avro.Schema.Field.Order.%s", strings.ToUpper(s))
		}
	}
	if def := v.get("default"); def != nil {
		if (schema.kind == avroFloat || schema.kind == avroDouble) && def.kind == jString {
			d, err := javaParseDouble(def.s)
			if err != nil {
				return nil, err
			}
			def = d
		}
		f.def = def
	}
	if err := validateAvroName(name); err != nil {
		return nil, err
	}
	f.props = parseProps(v, fieldReserved)
	f.aliases, _, err = ap.parseAliases(v)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// javaParseDouble converts a textual default of a float or double field the
// way Java's Double.parseDouble does, into a DoubleNode.
func javaParseDouble(s string) (*jsonValue, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimRight(t, "fFdD")
	var f float64
	switch strings.TrimLeft(t, "+-") {
	case "NaN":
		f = math.NaN()
	case "Infinity":
		f = math.Inf(1)
		if strings.HasPrefix(t, "-") {
			f = math.Inf(-1)
		}
	default:
		var err error
		f, err = strconv.ParseFloat(t, 64)
		if err != nil && !math.IsInf(f, 0) || strings.ContainsAny(strings.ToLower(t), "ni_") {
			return nil, avroErrorf("For input string: \"%s\"", s)
		}
	}
	var lit string
	switch {
	case math.IsNaN(f):
		lit = "NaN"
	case math.IsInf(f, 1):
		lit = "Infinity"
	case math.IsInf(f, -1):
		lit = "-Infinity"
	default:
		lit = strconv.FormatFloat(f, 'e', -1, 64)
	}
	return &jsonValue{kind: jNumber, s: lit}, nil
}

func (ap *avroParser) parseEnum(v *jsonValue, space string) (*avroNode, error) {
	name, err := ap.parseName(v, space)
	if err != nil {
		return nil, err
	}
	n := &avroNode{kind: avroEnum, avroName: name}
	if d, ok := v.get("doc").text(); ok {
		n.doc = &d
	}
	symbols := v.get("symbols")
	if symbols == nil || symbols.kind != jArray {
		return nil, avroErrorf("Enum has no symbols: %s", jsonString(v, numbersAsDouble))
	}
	seen := make(map[string]bool, len(symbols.arr))
	for _, s := range symbols.arr {
		sym, ok := s.text()
		if !ok {
			return nil, avroErrorf("Null name")
		}
		if err := validateAvroName(sym); err != nil {
			return nil, err
		}
		if seen[sym] {
			return nil, avroErrorf("Duplicate enum symbol: %s", sym)
		}
		seen[sym] = true
		n.symbols = append(n.symbols, sym)
	}
	if d, ok := v.get("default").text(); ok {
		if !seen[d] {
			return nil, avroErrorf("The Enum Default: %s is not in the enum symbol set: [%s]", d, strings.Join(n.symbols, ", "))
		}
		n.enumDefault = &d
	}
	n.props = parseProps(v, enumReserved)
	if err := ap.namedAliases(v, n); err != nil {
		return nil, err
	}
	if err := ap.define(n); err != nil {
		return nil, err
	}
	return n, nil
}

func (ap *avroParser) parseFixed(v *jsonValue, space string) (*avroNode, error) {
	name, err := ap.parseName(v, space)
	if err != nil {
		return nil, err
	}
	n := &avroNode{kind: avroFixed, avroName: name}
	if d, ok := v.get("doc").text(); ok {
		n.doc = &d
	}
	size, ok := v.get("size").int32Value()
	if !ok {
		return nil, avroErrorf("Invalid or no size: %s", jsonString(v, numbersAsDouble))
	}
	if size < 0 {
		return nil, avroErrorf("Malformed data. Length is negative: %d", size)
	}
	n.size = int(size)
	n.props = parseProps(v, schemaReserved)
	if err := ap.namedAliases(v, n); err != nil {
		return nil, err
	}
	if err := ap.define(n); err != nil {
		return nil, err
	}
	return n, nil
}

func (ap *avroParser) parseUnion(v *jsonValue, space string) (*avroNode, error) {
	n := &avroNode{kind: avroUnion, types: make([]*avroNode, 0, len(v.arr))}
	for _, el := range v.arr {
		t, err := ap.parse(el, space)
		if err != nil {
			return nil, err
		}
		n.types = append(n.types, t)
	}
	return n, nil
}

// resolve replaces placeholders by the named types they name, then checks
// what Java checks once the graph is complete (union branches, defaults).
func (ap *avroParser) resolve(root *avroNode) (*avroNode, error) {
	var firstErr error
	subst := func(n *avroNode) *avroNode {
		if n.kind != avroUnresolved {
			return n
		}
		if t := ap.lookup(n.name); t != nil {
			return t
		}
		if firstErr == nil {
			firstErr = avroErrorf("Undefined schema: %s", n.name)
		}
		return n
	}
	root = subst(root)
	visited := map[*avroNode]bool{}
	stack := []*avroNode{root}
	for _, n := range ap.cur {
		stack = append(stack, n)
	}
	for len(stack) > 0 && firstErr == nil {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[n] {
			continue
		}
		visited[n] = true
		switch n.kind {
		case avroRecord:
			for _, f := range n.fields {
				f.schema = subst(f.schema)
				stack = append(stack, f.schema)
			}
		case avroArray, avroMap:
			n.elem = subst(n.elem)
			stack = append(stack, n.elem)
		case avroUnion:
			for i := range n.types {
				n.types[i] = subst(n.types[i])
				stack = append(stack, n.types[i])
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	// Union rules and default values, in a deterministic order.
	order := avroNodesInOrder(root)
	for _, n := range order {
		if n.kind == avroUnion {
			seen := map[string]bool{}
			for _, t := range n.types {
				if t.kind == avroUnion {
					return nil, avroErrorf("Nested union: %s", avroToString(n, nil))
				}
				name := t.fullName()
				if seen[name] {
					return nil, avroErrorf("Duplicate in union:%s", name)
				}
				seen[name] = true
			}
		}
	}
	for _, n := range order {
		if n.kind != avroRecord {
			continue
		}
		for _, f := range n.fields {
			if f.def != nil && !avroValidDefault(f.schema, f.def, 0) {
				return nil, avroErrorf("Invalid default for field %s: %s not a %s", f.name, jsonString(f.def, numbersAsDouble), avroToString(f.schema, nil))
			}
		}
	}
	return root, nil
}

// avroNodesInOrder lists the nodes reachable from root, depth first.
func avroNodesInOrder(root *avroNode) []*avroNode {
	var out []*avroNode
	visited := map[*avroNode]bool{}
	stack := []*avroNode{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[n] {
			continue
		}
		visited[n] = true
		out = append(out, n)
		switch n.kind {
		case avroRecord:
			for i := len(n.fields) - 1; i >= 0; i-- {
				stack = append(stack, n.fields[i].schema)
			}
		case avroArray, avroMap:
			stack = append(stack, n.elem)
		case avroUnion:
			for i := len(n.types) - 1; i >= 0; i-- {
				stack = append(stack, n.types[i])
			}
		}
	}
	return out
}

// avroValidDefault is Java's Schema.isValidDefault (Avro 1.12: a union
// default may match any branch).
func avroValidDefault(s *avroNode, v *jsonValue, depth int) bool {
	if v == nil || depth > maxJSONDepth {
		return false
	}
	switch s.kind {
	case avroString, avroBytes, avroEnum, avroFixed:
		return v.kind == jString
	case avroInt:
		_, ok := v.int32Value()
		return ok
	case avroLong:
		_, ok := v.int64Value()
		return ok
	case avroFloat, avroDouble:
		return v.kind == jNumber
	case avroBoolean:
		return v.kind == jBool
	case avroNull:
		return v.kind == jNull
	case avroArray:
		if v.kind != jArray {
			return false
		}
		for _, el := range v.arr {
			if !avroValidDefault(s.elem, el, depth+1) {
				return false
			}
		}
		return true
	case avroMap:
		if v.kind != jObject {
			return false
		}
		for _, m := range v.obj {
			if !avroValidDefault(s.elem, m.val, depth+1) {
				return false
			}
		}
		return true
	case avroUnion:
		for _, t := range s.types {
			if avroValidValue(t, v, depth+1) {
				return true
			}
		}
		return false
	case avroRecord:
		if v.kind != jObject {
			return false
		}
		for _, f := range s.fields {
			fv := v.get(f.name)
			if fv == nil {
				fv = f.def
			}
			if !avroValidValue(f.schema, fv, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// avroValidValue is Java's Schema.isValidValue.
func avroValidValue(s *avroNode, v *jsonValue, depth int) bool {
	if v == nil {
		return false
	}
	if s.kind == avroUnion {
		for _, t := range s.types {
			if avroValidDefault(t, v, depth+1) {
				return true
			}
		}
		return false
	}
	return avroValidDefault(s, v, depth)
}

// avroToString is Java's Schema.toString(knownNames, false): the JSON form
// of a schema in which the named types in known (and every named type after
// its first occurrence) are written by name.
func avroToString(n *avroNode, known map[string]bool) string {
	names := make(map[string]bool, len(known))
	for k := range known {
		names[k] = true
	}
	var b strings.Builder
	writeAvro(&b, n, names, "")
	return b.String()
}

func writeAvroProps(b *strings.Builder, props []jsonMember) {
	for _, p := range props {
		b.WriteByte(',')
		writeJSONString(b, p.key)
		b.WriteByte(':')
		writeJSON(b, p.val, numbersAsDouble)
	}
}

func writeAvroName(b *strings.Builder, n avroName, currentSpace string) {
	b.WriteString(`,"name":`)
	writeJSONString(b, n.name)
	if n.space != "" {
		if n.space != currentSpace {
			b.WriteString(`,"namespace":`)
			writeJSONString(b, n.space)
		}
	} else if currentSpace != "" {
		b.WriteString(`,"namespace":""`)
	}
}

func writeAvroAliases(b *strings.Builder, n *avroNode) {
	if len(n.aliases) == 0 {
		return
	}
	b.WriteString(`,"aliases":[`)
	for i, a := range n.aliases {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, a.qualified(n.space))
	}
	b.WriteByte(']')
}

func writeAvro(b *strings.Builder, n *avroNode, known map[string]bool, space string) {
	if n.named() {
		if known[n.full()] {
			writeJSONString(b, n.qualified(space))
			return
		}
		known[n.full()] = true
	}
	switch n.kind {
	case avroRecord:
		if n.isError {
			b.WriteString(`{"type":"error"`)
		} else {
			b.WriteString(`{"type":"record"`)
		}
		writeAvroName(b, n.avroName, space)
		if n.doc != nil {
			b.WriteString(`,"doc":`)
			writeJSONString(b, *n.doc)
		}
		b.WriteString(`,"fields":[`)
		for i, f := range n.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"name":`)
			writeJSONString(b, f.name)
			b.WriteString(`,"type":`)
			writeAvro(b, f.schema, known, n.space)
			if f.doc != nil {
				b.WriteString(`,"doc":`)
				writeJSONString(b, *f.doc)
			}
			if f.def != nil {
				b.WriteString(`,"default":`)
				writeJSON(b, f.def, numbersAsDouble)
			}
			if f.order != "ascending" {
				b.WriteString(`,"order":`)
				writeJSONString(b, f.order)
			}
			if len(f.aliases) > 0 {
				b.WriteString(`,"aliases":[`)
				for j, a := range f.aliases {
					if j > 0 {
						b.WriteByte(',')
					}
					writeJSONString(b, a)
				}
				b.WriteByte(']')
			}
			writeAvroProps(b, f.props)
			b.WriteByte('}')
		}
		b.WriteByte(']')
		writeAvroProps(b, n.props)
		writeAvroAliases(b, n)
		b.WriteByte('}')
	case avroEnum:
		b.WriteString(`{"type":"enum"`)
		writeAvroName(b, n.avroName, space)
		if n.doc != nil {
			b.WriteString(`,"doc":`)
			writeJSONString(b, *n.doc)
		}
		b.WriteString(`,"symbols":[`)
		for i, s := range n.symbols {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, s)
		}
		b.WriteByte(']')
		if n.enumDefault != nil {
			b.WriteString(`,"default":`)
			writeJSONString(b, *n.enumDefault)
		}
		writeAvroProps(b, n.props)
		writeAvroAliases(b, n)
		b.WriteByte('}')
	case avroFixed:
		b.WriteString(`{"type":"fixed"`)
		writeAvroName(b, n.avroName, space)
		if n.doc != nil {
			b.WriteString(`,"doc":`)
			writeJSONString(b, *n.doc)
		}
		b.WriteString(`,"size":`)
		b.WriteString(strconv.Itoa(n.size))
		writeAvroProps(b, n.props)
		writeAvroAliases(b, n)
		b.WriteByte('}')
	case avroArray, avroMap:
		if n.kind == avroArray {
			b.WriteString(`{"type":"array","items":`)
		} else {
			b.WriteString(`{"type":"map","values":`)
		}
		writeAvro(b, n.elem, known, space)
		writeAvroProps(b, n.props)
		b.WriteByte('}')
	case avroUnion:
		b.WriteByte('[')
		for i, t := range n.types {
			if i > 0 {
				b.WriteByte(',')
			}
			writeAvro(b, t, known, space)
		}
		b.WriteByte(']')
	case avroUnresolved:
		writeJSONString(b, n.name)
	default:
		if len(n.props) == 0 {
			writeJSONString(b, avroKindNames[n.kind])
			return
		}
		b.WriteString(`{"type":`)
		writeJSONString(b, avroKindNames[n.kind])
		writeAvroProps(b, n.props)
		b.WriteByte('}')
	}
}

// validateWithHamba parses the resolved schema (every named type written
// out where first used) with hamba/avro, which checks names, namespaces,
// aliases, unions and logical type attributes. Field defaults are left out:
// they were validated above with Java's rules, which differ from hamba's
// (Avro 1.12 lets a union default match any branch, hamba only the first).
func validateWithHamba(root *avroNode) error {
	var b strings.Builder
	writeAvroForHamba(&b, root, map[string]bool{}, "")
	if _, err := avro.ParseWithCache(b.String(), "", &avro.SchemaCache{}); err != nil {
		return avroErrorf("%s", strings.TrimPrefix(err.Error(), "avro: "))
	}
	return nil
}

// writeAvroForHamba writes the resolved schema without field defaults.
// Avro allows an enum without symbols, hamba does not: such an enum is
// given a placeholder symbol.
func writeAvroForHamba(b *strings.Builder, n *avroNode, known map[string]bool, space string) {
	switch {
	case n.kind == avroRecord && !known[n.full()]:
		c := *n
		c.fields = make([]*avroField, len(n.fields))
		for i, f := range n.fields {
			cf := *f
			cf.def = nil
			c.fields[i] = &cf
		}
		known[n.full()] = true
		// Write the copy with children written the same way.
		b.WriteString(`{"type":"record"`)
		writeAvroName(b, c.avroName, space)
		b.WriteString(`,"fields":[`)
		for i, f := range c.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"name":`)
			writeJSONString(b, f.name)
			b.WriteString(`,"type":`)
			writeAvroForHamba(b, f.schema, known, n.space)
			if f.order != "ascending" {
				b.WriteString(`,"order":`)
				writeJSONString(b, f.order)
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
		writeAvroAliases(b, n)
		b.WriteByte('}')
	case n.kind == avroEnum && len(n.symbols) == 0 && !known[n.full()]:
		c := *n
		c.symbols = []string{"PLACEHOLDER"}
		c.enumDefault = nil
		writeAvro(b, &c, known, space)
	case n.kind == avroArray || n.kind == avroMap:
		if n.kind == avroArray {
			b.WriteString(`{"type":"array","items":`)
		} else {
			b.WriteString(`{"type":"map","values":`)
		}
		writeAvroForHamba(b, n.elem, known, space)
		writeAvroProps(b, n.props)
		b.WriteByte('}')
	case n.kind == avroUnion:
		b.WriteByte('[')
		for i, t := range n.types {
			if i > 0 {
				b.WriteByte(',')
			}
			writeAvroForHamba(b, t, known, space)
		}
		b.WriteByte(']')
	default:
		writeAvro(b, n, known, space)
	}
}
