package schemacompat

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// JSON Schemas are validated with santhosh-tekuri/jsonschema against the
// meta-schema of their draft (draft 7 unless "$schema" says otherwise, as
// in Confluent); "$ref"s are resolved against the schema and its references
// (by reference name, relative to the schema's "$id"), never fetched. For the compatibility check they are then loaded into the model
// Confluent's diff works on, the one of the everit JSON Schema library:
// every keyword group becomes a schema of its own (enum, allOf/anyOf/oneOf,
// not, const, the typed schema, schemas sniffed from keywords), and several
// groups in one object make a synthetic allOf. The canonical text is the
// compact JSON in document order (Confluent's JsonSchema.canonicalString).

type jsKind uint8

const (
	jsEmpty jsKind = iota // {} (EmptySchema)
	jsTrue                // true (TrueSchema, a kind of EmptySchema)
	jsFalse
	jsBoolean
	jsNull
	jsString
	jsNumber
	jsObject
	jsArray
	jsEnum
	jsConst
	jsCombined
	jsNot
	jsConditional
	jsRef
)

// isEmpty reports "instanceof EmptySchema" (true or {}).
func (k jsKind) isEmpty() bool { return k == jsEmpty || k == jsTrue }

type jsPattern struct {
	pattern string
	re      *regexp.Regexp // nil if the pattern is not valid for Go
	schema  *jsNode
}

// jsNode is a schema in the everit model.
type jsNode struct {
	kind jsKind
	src  *jsonValue

	id, title, description *string
	def                    *jsonValue
	connectType            string

	// string
	minLength, maxLength *int64
	pattern              *string
	// number
	minimum, maximum, exclMin, exclMax, multipleOf *jsonValue
	requiresInteger                                bool
	// object
	propOrder         []string
	props             map[string]*jsNode
	required          []string
	requiredSet       map[string]bool
	permitsAdditional bool
	additional        *jsNode
	patternProps      []jsPattern
	minProps          *int64
	maxProps          *int64
	propDepOrder      []string
	propDeps          map[string][]string
	schemaDepOrder    []string
	schemaDeps        map[string]*jsNode
	uneval            *jsNode
	// array
	allItems               *jsNode
	itemSchemas            []*jsNode
	permitsAdditionalItems bool
	additionalItems        *jsNode
	minItems, maxItems     *int64
	uniqueItems            bool
	unevalItems            *jsNode
	minContains            *int64
	maxContains            *int64
	// enum, const
	enum     []*jsonValue
	constVal *jsonValue
	// combined
	criterion string // "allOf", "anyOf" or "oneOf"
	subs      []*jsNode
	// not
	not *jsNode
	// $ref
	refURL string
	target *jsNode
}

// jsonSchemaParsed is a parsed JSON Schema.
type jsonSchemaParsed struct {
	canonical string
	root      *jsNode
}

type jsDraft int

const (
	draft4    jsDraft = 4
	draft6    jsDraft = 6
	draft7    jsDraft = 7
	draft2019 jsDraft = 2019
	draft2020 jsDraft = 2020
)

func draftOf(doc *jsonValue) jsDraft {
	s, ok := doc.get("$schema").text()
	if !ok {
		return draft7
	}
	switch {
	case strings.Contains(s, "draft-04"):
		return draft4
	case strings.Contains(s, "draft-06"):
		return draft6
	case strings.Contains(s, "draft-07"):
		return draft7
	case strings.Contains(s, "2019-09"):
		return draft2019
	case strings.Contains(s, "2020-12"):
		return draft2020
	}
	return draft7
}

const jsonSchemaBase = "mem://input/schema.json"

func jacksonNodeType(v *jsonValue) string {
	switch v.kind {
	case jArray:
		return "ARRAY"
	case jString:
		return "STRING"
	case jNumber:
		return "NUMBER"
	case jNull:
		return "NULL"
	case jBool:
		return "BOOLEAN"
	}
	return "OBJECT"
}

// jsDoc is a loaded document (the schema or a reference).
type jsDoc struct {
	url  string // absolute URL the document is known by
	root *jsonValue
}

func parseJSONSchema(text string, refs []flatRef) (*jsonSchemaParsed, string) {
	doc, err := parseJSON(text, jsonOptions{allowNonNumeric: true})
	if err != nil {
		return nil, "Invalid JSON: " + err.Error()
	}
	if doc.kind != jObject && doc.kind != jBool {
		return nil, "Invalid JSON schema: expected an object or boolean at the root, found " + jacksonNodeType(doc)
	}
	draft := draftOf(doc)
	mainURL := jsonSchemaBase
	if id, ok := doc.get(idKeyword(draft)).text(); ok && id != "" {
		if u, err := resolveURL(jsonSchemaBase, id); err == nil {
			mainURL = stripFragment(u)
		}
	}
	docs := []*jsDoc{{url: mainURL, root: doc}}
	for _, r := range refs {
		rd, err := parseJSON(r.text, jsonOptions{allowNonNumeric: true})
		if err != nil {
			return nil, fmt.Sprintf("Invalid JSON in reference %q: %s", r.name, err)
		}
		u, err := resolveURL(mainURL, r.name)
		if err != nil {
			return nil, fmt.Sprintf("Invalid reference name %q: %s", r.name, err)
		}
		docs = append(docs, &jsDoc{url: stripFragment(u), root: rd})
	}
	if err := validateJSONSchema(docs, draft); err != nil {
		return nil, err.Error()
	}
	l := &jsLoader{docs: docs, draft: draft, memo: map[jsKey]*jsNode{}}
	root, err := l.load(doc, mainURL, docs[0], 0)
	if err == nil {
		err = l.resolveRefs()
	}
	if err != nil {
		return nil, err.Error()
	}
	return &jsonSchemaParsed{canonical: jsonString(doc, numbersAsBigDecimal), root: root}, ""
}

func idKeyword(d jsDraft) string {
	if d == draft4 {
		return "id"
	}
	return "$id"
}

func resolveURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

func stripFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i]
	}
	return u
}

// toAny converts a JSON tree to the representation jsonschema expects.
func toAny(v *jsonValue) any {
	switch v.kind {
	case jNull:
		return nil
	case jBool:
		return v.b
	case jString:
		return v.s
	case jNumber:
		if isNonNumeric(v.s) {
			return v.s // not a valid JSON number; let the meta-schema reject it where it matters
		}
		return json.Number(v.s)
	case jArray:
		out := make([]any, len(v.arr))
		for i, el := range v.arr {
			out[i] = toAny(el)
		}
		return out
	}
	out := make(map[string]any, len(v.obj))
	for _, m := range v.obj {
		out[m.key] = toAny(m.val)
	}
	return out
}

type noRemoteLoader struct{}

func (noRemoteLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("unresolved reference %s: remote references are not fetched; register it as a schema reference", u)
}

// metaSchemaURLs are the meta-schemas of the drafts.
var metaSchemaURLs = map[jsDraft]string{
	draft4:    "http://json-schema.org/draft-04/schema",
	draft6:    "http://json-schema.org/draft-06/schema",
	draft7:    "http://json-schema.org/draft-07/schema",
	draft2019: "https://json-schema.org/draft/2019-09/schema",
	draft2020: "https://json-schema.org/draft/2020-12/schema",
}

var (
	metaSchemasMu sync.Mutex
	metaSchemas   = map[jsDraft]*jsonschema.Schema{}
)

func metaSchema(d jsDraft) (*jsonschema.Schema, error) {
	metaSchemasMu.Lock()
	defer metaSchemasMu.Unlock()
	if s := metaSchemas[d]; s != nil {
		return s, nil
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noRemoteLoader{})
	// Patterns are Java regular expressions in Confluent; Go's regexp
	// rejects some valid ones (lookaround, possessive quantifiers), so a
	// pattern Go cannot compile is accepted.
	c.UseRegexpEngine(func(s string) (jsonschema.Regexp, error) {
		if re, err := regexp.Compile(s); err == nil {
			return re, nil
		}
		return lenientRegexp(s), nil
	})
	s, err := c.Compile(metaSchemaURLs[d])
	if err != nil {
		return nil, err
	}
	metaSchemas[d] = s
	return s, nil
}

// lenientRegexp stands for a pattern Go's regexp package cannot compile; it
// is never evaluated.
type lenientRegexp string

func (r lenientRegexp) String() string            { return string(r) }
func (r lenientRegexp) MatchString(_ string) bool { return true }

// isMetaSchemaURL reports whether u names one of the drafts' meta-schemas,
// which Confluent resolves locally.
func isMetaSchemaURL(u string) bool {
	u = strings.TrimSuffix(stripFragment(u), "/")
	u = strings.Replace(u, "https://", "http://", 1)
	for _, m := range metaSchemaURLs {
		if strings.Replace(m, "https://", "http://", 1) == u {
			return true
		}
	}
	return false
}

// validateJSONSchema validates every document against the meta-schema of
// the draft. (The documents are validated as instances rather than compiled:
// compiling a schema with a very large number of subschemas takes time
// quadratic in their number; references are resolved by the loader.)
func validateJSONSchema(docs []*jsDoc, draft jsDraft) error {
	ms, err := metaSchema(draft)
	if err != nil {
		return err
	}
	for i, d := range docs {
		if err := ms.Validate(toAny(d.root)); err != nil {
			msg := strings.TrimPrefix(err.Error(), "jsonschema: ")
			if i > 0 {
				return fmt.Errorf("reference %s: %s", d.url, msg)
			}
			return fmt.Errorf("%s", msg)
		}
	}
	return nil
}

type jsKey struct {
	v    *jsonValue
	base string
}

// jsLoader builds the everit model of a document and its references.
type jsLoader struct {
	docs  []*jsDoc
	draft jsDraft
	memo  map[jsKey]*jsNode
	refs  []*jsRefTodo
}

type jsRefTodo struct {
	node *jsNode
	base string
	doc  *jsDoc
}

var (
	draft6ObjectKeywords = []string{"properties", "required", "minProperties", "maxProperties", "dependencies", "patternProperties", "additionalProperties", "propertyNames"}
	draft4ObjectKeywords = []string{"properties", "required", "minProperties", "maxProperties", "dependencies", "patternProperties", "additionalProperties"}
	draft6ArrayKeywords  = []string{"items", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"}
	draft4ArrayKeywords  = []string{"items", "additionalItems", "minItems", "maxItems", "uniqueItems"}
	numberKeywords       = []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
	stringKeywords       = []string{"minLength", "maxLength", "pattern", "format"}
	conditionalKeywords  = []string{"if", "then", "else"}
)

func (l *jsLoader) objectKeywords() []string {
	if l.draft == draft4 {
		return draft4ObjectKeywords
	}
	kw := draft6ObjectKeywords
	if l.draft >= draft2019 {
		kw = append(append([]string{}, kw...), "dependentRequired", "dependentSchemas", "unevaluatedProperties")
	}
	return kw
}

func (l *jsLoader) arrayKeywords() []string {
	if l.draft == draft4 {
		return draft4ArrayKeywords
	}
	kw := draft6ArrayKeywords
	if l.draft >= draft2019 {
		kw = append(append([]string{}, kw...), "prefixItems", "unevaluatedItems", "minContains", "maxContains")
	}
	return kw
}

// jsObj is the projection of a schema object the extractors work on: the
// keys not consumed yet.
type jsObj struct {
	v        *jsonValue
	consumed map[string]bool
}

func (o *jsObj) has(k string) bool { return !o.consumed[k] && o.v.has(k) }
func (o *jsObj) take(k string) *jsonValue {
	if o.consumed[k] {
		return nil
	}
	o.consumed[k] = true
	return o.v.get(k)
}
func (o *jsObj) hasAny(keys []string) bool {
	for _, k := range keys {
		if o.has(k) {
			return true
		}
	}
	return false
}

func (l *jsLoader) load(v *jsonValue, base string, doc *jsDoc, depth int) (*jsNode, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("schema nesting depth exceeds %d", maxJSONDepth)
	}
	key := jsKey{v, base}
	if n := l.memo[key]; n != nil {
		return n, nil
	}
	if v.kind == jBool {
		n := &jsNode{kind: jsFalse, src: v}
		if v.b {
			n.kind = jsTrue
		}
		l.memo[key] = n
		return n, nil
	}
	if v.kind != jObject {
		return nil, fmt.Errorf("schema is not an object or a boolean: %s", abbreviate(jsonString(v, numbersAsBigDecimal), 100))
	}
	if id, ok := v.get(idKeyword(l.draft)).text(); ok && id != "" && !strings.HasPrefix(id, "#") {
		if u, err := resolveURL(base, id); err == nil {
			base = stripFragment(u)
		}
	}
	o := &jsObj{v: v, consumed: map[string]bool{}}
	var n *jsNode
	if o.has("$ref") {
		ref, _ := o.take("$ref").text()
		u, err := resolveURL(base, ref)
		if err != nil {
			return nil, fmt.Errorf("invalid $ref %q: %s", ref, err)
		}
		n = &jsNode{kind: jsRef, src: v, refURL: u}
		l.memo[key] = n
		l.refs = append(l.refs, &jsRefTodo{node: n, base: base, doc: doc})
	} else {
		n = &jsNode{src: v}
		l.memo[key] = n
		var parts []*jsNode
		add := func(p *jsNode) { parts = append(parts, p) }
		child := func(cv *jsonValue) (*jsNode, error) { return l.load(cv, base, doc, depth+1) }

		if e := o.take("enum"); e != nil && e.kind == jArray {
			add(&jsNode{kind: jsEnum, src: v, enum: e.arr})
		}
		// allOf/anyOf/oneOf, in the iteration order of the Java hash set
		// everit collects the present keys into.
		var present []string
		for _, k := range javaHashMapOrder(javaStringHash, []string{"allOf", "anyOf", "oneOf"}) {
			if o.has(k) {
				present = append(present, k)
			}
		}
		for _, k := range javaHashSetOf(javaStringHash, present).keys() {
			arr := o.take(k)
			c := &jsNode{kind: jsCombined, src: v, criterion: k}
			for _, sv := range arr.arr {
				s, err := child(sv)
				if err != nil {
					return nil, err
				}
				c.subs = append(c.subs, s)
			}
			add(c)
		}
		if o.has("not") {
			s, err := child(o.take("not"))
			if err != nil {
				return nil, err
			}
			add(&jsNode{kind: jsNot, src: v, not: s})
		}
		if l.draft != draft4 && o.has("const") {
			add(&jsNode{kind: jsConst, src: v, constVal: o.take("const")})
		}
		if o.has("type") {
			t := o.take("type")
			if t.kind == jArray {
				c := &jsNode{kind: jsCombined, src: v, criterion: "anyOf"}
				for _, tv := range t.arr {
					name, _ := tv.text()
					s, err := l.explicit(o, name, base, doc, depth)
					if err != nil {
						return nil, err
					}
					c.subs = append(c.subs, s)
				}
				add(c)
			} else {
				name, _ := t.text()
				s, err := l.explicit(o, name, base, doc, depth)
				if err != nil {
					return nil, err
				}
				add(s)
			}
		}
		// Keyword sniffing on what is left.
		if o.hasAny(l.arrayKeywords()) {
			s, err := l.arraySchema(o, base, doc, depth)
			if err != nil {
				return nil, err
			}
			add(s)
		}
		if o.hasAny(l.objectKeywords()) {
			s, err := l.objectSchema(o, base, doc, depth)
			if err != nil {
				return nil, err
			}
			add(s)
		}
		if o.hasAny(numberKeywords) {
			add(l.numberSchema(o, v))
		}
		if o.hasAny(stringKeywords) {
			add(l.stringSchema(o, v))
		}
		if l.draft >= draft7 && o.hasAny(conditionalKeywords) {
			for _, k := range conditionalKeywords {
				o.take(k)
			}
			add(&jsNode{kind: jsConditional, src: v})
		}
		switch len(parts) {
		case 0:
			n.kind = jsEmpty
		case 1:
			*n = *parts[0]
		default:
			*n = jsNode{kind: jsCombined, src: v, criterion: "allOf", subs: parts}
		}
	}
	// Common properties, on the schema returned.
	if s, ok := o.take(idKeyword(l.draft)).text(); ok {
		n.id = &s
	}
	if s, ok := o.take("title").text(); ok {
		n.title = &s
	}
	if s, ok := o.take("description").text(); ok {
		n.description = &s
	}
	if d := o.take("default"); d != nil {
		n.def = d
	}
	if ct, ok := v.get("connect.type").text(); ok && !o.consumed["connect.type"] {
		n.connectType = ct
	}
	return n, nil
}

// explicit loads the schema of an explicit "type".
func (l *jsLoader) explicit(o *jsObj, typ, base string, doc *jsDoc, depth int) (*jsNode, error) {
	switch typ {
	case "string":
		return l.stringSchema(o, o.v), nil
	case "integer":
		n := l.numberSchema(o, o.v)
		n.requiresInteger = true
		return n, nil
	case "number":
		return l.numberSchema(o, o.v), nil
	case "boolean":
		return &jsNode{kind: jsBoolean, src: o.v}, nil
	case "null":
		return &jsNode{kind: jsNull, src: o.v}, nil
	case "array":
		return l.arraySchema(o, base, doc, depth)
	case "object":
		return l.objectSchema(o, base, doc, depth)
	}
	return nil, fmt.Errorf("unknown type: [%s]", typ)
}

func intKeyword(v *jsonValue) *int64 {
	if v == nil || v.kind != jNumber {
		return nil
	}
	if n, ok := v.int64Value(); ok {
		return &n
	}
	if r, ok := v.bigRat(); ok && r.IsInt() && r.Num().IsInt64() {
		n := r.Num().Int64()
		return &n
	}
	return nil
}

func (l *jsLoader) stringSchema(o *jsObj, src *jsonValue) *jsNode {
	n := &jsNode{kind: jsString, src: src}
	for _, k := range stringKeywords {
		o.consumed[k] = true
	}
	n.minLength = intKeyword(o.v.get("minLength"))
	n.maxLength = intKeyword(o.v.get("maxLength"))
	if p, ok := o.v.get("pattern").text(); ok {
		n.pattern = &p
	}
	return n
}

func numberKeyword(v *jsonValue) *jsonValue {
	if v == nil || v.kind != jNumber {
		return nil
	}
	return v
}

func (l *jsLoader) numberSchema(o *jsObj, src *jsonValue) *jsNode {
	n := &jsNode{kind: jsNumber, src: src}
	for _, k := range numberKeywords {
		o.consumed[k] = true
	}
	n.minimum = numberKeyword(o.v.get("minimum"))
	n.maximum = numberKeyword(o.v.get("maximum"))
	n.multipleOf = numberKeyword(o.v.get("multipleOf"))
	// Draft 6 and later: numeric exclusive limits (draft 4 booleans only
	// change the meaning of minimum/maximum).
	n.exclMin = numberKeyword(o.v.get("exclusiveMinimum"))
	n.exclMax = numberKeyword(o.v.get("exclusiveMaximum"))
	return n
}

func (l *jsLoader) objectSchema(o *jsObj, base string, doc *jsDoc, depth int) (*jsNode, error) {
	for _, k := range l.objectKeywords() {
		o.consumed[k] = true
	}
	v := o.v
	n := &jsNode{kind: jsObject, src: v, permitsAdditional: true, props: map[string]*jsNode{}, requiredSet: map[string]bool{}}
	child := func(cv *jsonValue) (*jsNode, error) { return l.load(cv, base, doc, depth+1) }
	n.minProps = intKeyword(v.get("minProperties"))
	n.maxProps = intKeyword(v.get("maxProperties"))
	if props := v.get("properties"); props != nil && props.kind == jObject {
		var order []string
		for _, m := range props.obj {
			s, err := child(m.val)
			if err != nil {
				return nil, err
			}
			if _, dup := n.props[m.key]; !dup {
				order = append(order, m.key)
			}
			n.props[m.key] = s
		}
		// The iteration order of everit's property map (a HashMap copied
		// into a HashMap), filled from org.json's JSONObject (a HashMap).
		n.propOrder = javaHashMapCopyOrder(javaStringHash, javaHashMapOrder(javaStringHash, javaHashMapOrder(javaStringHash, order)))
	}
	if ap := v.get("additionalProperties"); ap != nil {
		switch ap.kind {
		case jBool:
			n.permitsAdditional = ap.b
		case jObject:
			s, err := child(ap)
			if err != nil {
				return nil, err
			}
			n.additional = s
		}
	}
	if req := v.get("required"); req != nil && req.kind == jArray {
		for _, r := range req.arr {
			if s, ok := r.text(); ok && !n.requiredSet[s] {
				n.required = append(n.required, s)
				n.requiredSet[s] = true
			}
		}
	}
	if pp := v.get("patternProperties"); pp != nil && pp.kind == jObject {
		for _, m := range pp.obj {
			s, err := child(m.val)
			if err != nil {
				return nil, err
			}
			re, _ := regexp.Compile(m.key)
			n.patternProps = append(n.patternProps, jsPattern{pattern: m.key, re: re, schema: s})
		}
	}
	addDeps := func(deps *jsonValue) error {
		if deps == nil || deps.kind != jObject {
			return nil
		}
		for _, m := range deps.obj {
			switch m.val.kind {
			case jArray:
				if n.propDeps == nil {
					n.propDeps = map[string][]string{}
				}
				if _, ok := n.propDeps[m.key]; !ok {
					n.propDepOrder = append(n.propDepOrder, m.key)
				}
				var list []string
				for _, e := range m.val.arr {
					if s, ok := e.text(); ok {
						list = append(list, s)
					}
				}
				n.propDeps[m.key] = list
			case jObject, jBool:
				s, err := child(m.val)
				if err != nil {
					return err
				}
				if n.schemaDeps == nil {
					n.schemaDeps = map[string]*jsNode{}
				}
				if _, ok := n.schemaDeps[m.key]; !ok {
					n.schemaDepOrder = append(n.schemaDepOrder, m.key)
				}
				n.schemaDeps[m.key] = s
			}
		}
		return nil
	}
	if err := addDeps(v.get("dependencies")); err != nil {
		return nil, err
	}
	if l.draft >= draft2019 {
		if err := addDeps(v.get("dependentRequired")); err != nil {
			return nil, err
		}
		if err := addDeps(v.get("dependentSchemas")); err != nil {
			return nil, err
		}
		if u := v.get("unevaluatedProperties"); u != nil {
			s, err := child(u)
			if err != nil {
				return nil, err
			}
			n.uneval = s
		}
	}
	return n, nil
}

func (l *jsLoader) arraySchema(o *jsObj, base string, doc *jsDoc, depth int) (*jsNode, error) {
	for _, k := range l.arrayKeywords() {
		o.consumed[k] = true
	}
	v := o.v
	n := &jsNode{kind: jsArray, src: v, permitsAdditionalItems: true}
	child := func(cv *jsonValue) (*jsNode, error) { return l.load(cv, base, doc, depth+1) }
	n.minItems = intKeyword(v.get("minItems"))
	n.maxItems = intKeyword(v.get("maxItems"))
	if u := v.get("uniqueItems"); u != nil && u.kind == jBool {
		n.uniqueItems = u.b
	}
	tuple, additional := v.get("items"), v.get("additionalItems")
	if l.draft >= draft2020 {
		// prefixItems is the tuple; items, next to it, the additional items.
		if p := v.get("prefixItems"); p != nil {
			tuple, additional = p, v.get("items")
		} else if tuple != nil && tuple.kind == jBool {
			// A boolean "items" is translated to additionalItems.
			tuple, additional = nil, tuple
		}
	}
	if tuple != nil {
		switch tuple.kind {
		case jArray:
			for _, iv := range tuple.arr {
				s, err := child(iv)
				if err != nil {
					return nil, err
				}
				n.itemSchemas = append(n.itemSchemas, s)
			}
		case jObject, jBool:
			s, err := child(tuple)
			if err != nil {
				return nil, err
			}
			n.allItems = s
		}
	}
	if additional != nil && (tuple == nil || tuple.kind == jArray) {
		switch additional.kind {
		case jBool:
			n.permitsAdditionalItems = additional.b
		case jObject:
			s, err := child(additional)
			if err != nil {
				return nil, err
			}
			n.additionalItems = s
		}
	}
	if l.draft >= draft2019 {
		if u := v.get("unevaluatedItems"); u != nil {
			s, err := child(u)
			if err != nil {
				return nil, err
			}
			n.unevalItems = s
		}
		n.minContains = intKeyword(v.get("minContains"))
		n.maxContains = intKeyword(v.get("maxContains"))
	}
	return n, nil
}

// resolveRefs points every $ref at the schema it names.
func (l *jsLoader) resolveRefs() error {
	for i := 0; i < len(l.refs); i++ { // resolving may load more schemas
		r := l.refs[i]
		target, err := l.resolve(r.node.refURL)
		if err != nil {
			return err
		}
		r.node.target = target
	}
	return nil
}

func (l *jsLoader) resolve(ref string) (*jsNode, error) {
	docURL, frag, _ := strings.Cut(ref, "#")
	if isMetaSchemaURL(docURL) && l.findDoc(docURL) == nil {
		return &jsNode{kind: jsEmpty}, nil
	}
	doc := l.findDoc(docURL)
	var node *jsonValue
	base := docURL
	if doc != nil {
		node = doc.root
	} else {
		// A schema identified by its "$id" anywhere in the documents.
		doc, node = l.findID(docURL)
		if doc == nil {
			return nil, fmt.Errorf("unresolved $ref %s", ref)
		}
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, fmt.Errorf("invalid $ref %s: %s", ref, err)
	}
	switch {
	case frag == "":
	case strings.HasPrefix(frag, "/"):
		node = jsonPointer(node, frag)
	default:
		node = l.findAnchor(node, frag)
	}
	if node == nil {
		return nil, fmt.Errorf("unresolved $ref %s", ref)
	}
	return l.load(node, base, doc, 0)
}

func (l *jsLoader) findDoc(u string) *jsDoc {
	for _, d := range l.docs {
		if d.url == u {
			return d
		}
	}
	return nil
}

// jsonPointer evaluates a JSON pointer; as in Confluent, "#/$defs/x" also
// finds a top-level "definitions" entry.
func jsonPointer(root *jsonValue, ptr string) *jsonValue {
	parts := strings.Split(ptr[1:], "/")
	cur := root
	for i, p := range parts {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		switch cur.kind {
		case jObject:
			next := cur.get(p)
			if next == nil && i == 0 && p == "$defs" {
				next = cur.get("definitions")
			}
			cur = next
		case jArray:
			idx, err := strconv.Atoi(p)
			if err != nil || idx < 0 || idx >= len(cur.arr) {
				return nil
			}
			cur = cur.arr[idx]
		default:
			return nil
		}
		if cur == nil {
			return nil
		}
	}
	return cur
}

func (l *jsLoader) findID(u string) (*jsDoc, *jsonValue) {
	for _, d := range l.docs {
		var found *jsonValue
		walkJSON(d.root, d.url, func(v *jsonValue, base string) bool {
			if id, ok := v.get(idKeyword(l.draft)).text(); ok {
				if abs, err := resolveURL(base, id); err == nil && stripFragment(abs) == u {
					found = v
					return false
				}
			}
			return true
		}, 0)
		if found != nil {
			return d, found
		}
	}
	return nil, nil
}

func (l *jsLoader) findAnchor(root *jsonValue, anchor string) *jsonValue {
	var found *jsonValue
	walkJSON(root, "", func(v *jsonValue, _ string) bool {
		if a, ok := v.get("$anchor").text(); ok && a == anchor {
			found = v
			return false
		}
		if id, ok := v.get("$id").text(); ok && id == "#"+anchor {
			found = v
			return false
		}
		return true
	}, 0)
	return found
}

// walkJSON visits the objects of a document, depth first, until fn returns
// false.
func walkJSON(v *jsonValue, base string, fn func(*jsonValue, string) bool, depth int) bool {
	if depth > maxJSONDepth {
		return true
	}
	switch v.kind {
	case jObject:
		if !fn(v, base) {
			return false
		}
		for _, m := range v.obj {
			if m.key == "enum" || m.key == "const" || m.key == "default" || m.key == "examples" {
				continue
			}
			if !walkJSON(m.val, base, fn, depth+1) {
				return false
			}
		}
	case jArray:
		for _, el := range v.arr {
			if !walkJSON(el, base, fn, depth+1) {
				return false
			}
		}
	}
	return true
}
