package schemacompat

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// This file follows Confluent's io.confluent.kafka.schemaregistry.json.diff
// package (SchemaDiff, ObjectSchemaDiff, ArraySchemaDiff, StringSchemaDiff,
// NumberSchemaDiff, EnumSchemaDiff, ConstSchemaDiff, CombinedSchemaDiff,
// NotSchemaDiff) with the default STRICT compatibility policy, including its
// memoization of schema pairs and its fixpoint over recursive schemas.

// jsCompatible is SchemaDiff.COMPATIBLE_CHANGES_STRICT.
var jsCompatible = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`ID_CHANGED DESCRIPTION_CHANGED TITLE_CHANGED DEFAULT_CHANGED
		SCHEMA_REMOVED TYPE_EXTENDED MAX_LENGTH_INCREASED MAX_LENGTH_REMOVED MIN_LENGTH_DECREASED
		MIN_LENGTH_REMOVED PATTERN_REMOVED MAXIMUM_INCREASED MAXIMUM_REMOVED MINIMUM_DECREASED
		MINIMUM_REMOVED EXCLUSIVE_MAXIMUM_INCREASED EXCLUSIVE_MAXIMUM_REMOVED
		EXCLUSIVE_MINIMUM_DECREASED EXCLUSIVE_MINIMUM_REMOVED MULTIPLE_OF_REDUCED
		MULTIPLE_OF_REMOVED REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED REQUIRED_ATTRIBUTE_REMOVED
		DEPENDENCY_ARRAY_NARROWED DEPENDENCY_ARRAY_REMOVED DEPENDENCY_SCHEMA_REMOVED
		MAX_PROPERTIES_INCREASED MAX_PROPERTIES_REMOVED MIN_PROPERTIES_DECREASED
		MIN_PROPERTIES_REMOVED ADDITIONAL_PROPERTIES_ADDED ADDITIONAL_PROPERTIES_EXTENDED
		UNEVALUATED_PROPERTIES_ADDED UNEVALUATED_PROPERTIES_EXTENDED
		PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
		REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
		OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
		PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
		PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
		PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
		PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
		MAX_ITEMS_INCREASED MAX_ITEMS_REMOVED MIN_ITEMS_DECREASED MIN_ITEMS_REMOVED
		MAX_CONTAINS_INCREASED MAX_CONTAINS_REMOVED MIN_CONTAINS_DECREASED MIN_CONTAINS_REMOVED
		UNIQUE_ITEMS_REMOVED ADDITIONAL_ITEMS_ADDED ADDITIONAL_ITEMS_EXTENDED
		UNEVALUATED_ITEMS_ADDED UNEVALUATED_ITEMS_EXTENDED
		ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL ITEM_ADDED_TO_CLOSED_CONTENT_MODEL
		ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
		ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
		ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
		ENUM_ARRAY_EXTENDED COMBINED_TYPE_EXTENDED PRODUCT_TYPE_NARROWED SUM_TYPE_EXTENDED
		NOT_TYPE_NARROWED`) {
		jsCompatible[t] = true
	}
}

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, t := range strings.Fields(s) {
		m[t] = true
	}
	return m
}

// The groups of Difference.error().
var (
	jsKeywordAddedOrRemoved = setOf(`MAXIMUM_ADDED MINIMUM_ADDED EXCLUSIVE_MAXIMUM_ADDED
		EXCLUSIVE_MINIMUM_ADDED MULTIPLE_OF_ADDED MAX_LENGTH_ADDED MIN_LENGTH_ADDED PATTERN_ADDED
		REQUIRED_ATTRIBUTE_ADDED MAX_PROPERTIES_ADDED MIN_PROPERTIES_ADDED DEPENDENCY_ARRAY_ADDED
		DEPENDENCY_SCHEMA_ADDED MAX_ITEMS_ADDED MIN_ITEMS_ADDED MAX_CONTAINS_ADDED MIN_CONTAINS_ADDED
		UNIQUE_ITEMS_ADDED ADDITIONAL_ITEMS_REMOVED ADDITIONAL_PROPERTIES_REMOVED
		UNEVALUATED_PROPERTIES_REMOVED UNEVALUATED_ITEMS_REMOVED`)
	jsValueIncreased = setOf(`MIN_LENGTH_INCREASED MINIMUM_INCREASED EXCLUSIVE_MINIMUM_INCREASED
		MIN_PROPERTIES_INCREASED MULTIPLE_OF_EXPANDED MIN_ITEMS_INCREASED MIN_CONTAINS_INCREASED`)
	jsValueDecreased = setOf(`MAX_LENGTH_DECREASED MAXIMUM_DECREASED MAX_ITEMS_DECREASED
		MAX_CONTAINS_DECREASED EXCLUSIVE_MAXIMUM_DECREASED MAX_PROPERTIES_DECREASED`)
	jsTypeNarrowed = setOf(`ADDITIONAL_ITEMS_NARROWED ENUM_ARRAY_NARROWED SUM_TYPE_NARROWED
		ADDITIONAL_PROPERTIES_NARROWED UNEVALUATED_PROPERTIES_NARROWED UNEVALUATED_ITEMS_NARROWED`)
	jsValueChanged = setOf(`PATTERN_CHANGED MULTIPLE_OF_CHANGED DEPENDENCY_ARRAY_CHANGED`)
	jsTypeChanged  = setOf(`TYPE_CHANGED TYPE_NARROWED COMBINED_TYPE_CHANGED
		COMBINED_TYPE_SUBSCHEMAS_CHANGED ENUM_ARRAY_CHANGED`)
	jsTypeExtended = setOf(`DEPENDENCY_ARRAY_EXTENDED PRODUCT_TYPE_EXTENDED SUM_TYPE_EXTENDED
		NOT_TYPE_EXTENDED`)
	jsAddedToOpen = setOf(`REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
		REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
		OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL ITEM_ADDED_TO_OPEN_CONTENT_MODEL`)
)

type jsDifference struct {
	typ  string
	path string
}

// confluentMessage is Difference.toString (including its closing "'}").
func (d jsDifference) confluentMessage(reader, writer string) string {
	p := d.path
	var m string
	switch {
	case jsKeywordAddedOrRemoved[d.typ]:
		m = "The keyword at path '" + p + "' in the " + reader + " schema is not present in the " + writer + " schema"
	case jsValueIncreased[d.typ]:
		m = "The value at path '" + p + "' in the " + reader + " schema is more than its value in the " + writer + " schema"
	case jsValueDecreased[d.typ]:
		m = "The value at path '" + p + "' in the " + reader + " schema is less than its value in the " + writer + " schema"
	case jsValueChanged[d.typ]:
		m = "The value at path '" + p + "' is different between the " + reader + " and " + writer + " schema"
	case jsTypeNarrowed[d.typ]:
		m = "An array or combined type at path '" + p + "' has fewer elements in the " + reader + " schema than the " + writer + " schema"
	case jsTypeExtended[d.typ]:
		m = "An array or combined type at path '" + p + "' has more elements in the " + reader + " schema than the " + writer + " schema"
	case jsTypeChanged[d.typ]:
		m = "A type at path '" + p + "' is different between the " + reader + " schema and the " + writer + " schema"
	case jsAddedToOpen[d.typ]:
		m = "The " + reader + " schema has an open content model and has a property or item at path '" + p + "' which is missing in the " + writer + " schema"
	case d.typ == "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
		m = "The " + reader + " schema has an unopen content model and has a required property at path '" + p + "' which is missing in the " + writer + " schema"
	case d.typ == "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" || d.typ == "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL":
		m = "The " + reader + " has a closed content model and is missing a property or item present at path '" + p + "' in the " + writer + " schema"
	case d.typ == "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" || d.typ == "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
		m = "A property or item is missing in the " + reader + " schema but present at path '" + p + "' in the " + writer + " schema and is not covered by its partially open content model"
	case d.typ == "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" || d.typ == "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
		m = "The " + reader + " schema has a property or item at path '" + p + "' which is missing in the " + writer + " schema and is not covered by its partially open content model"
	}
	return "{errorType:\"" + d.typ + "\", description:\"" + m + "'}"
}

// jsonSchemaIncompatibilities returns Confluent's messages for
// update.isBackwardCompatible(original).
func jsonSchemaIncompatibilities(original, update *jsonSchemaParsed, reader, writer string) []string {
	diffs, aborted := jsCompareRootsBounded(original.root, update.root)
	if aborted {
		return []string{"The schemas are too complex to compare: the compatibility check was aborted"}
	}
	var msgs []string
	for _, d := range diffs {
		if !jsCompatible[d.typ] {
			msgs = append(msgs, d.confluentMessage(reader, writer))
		}
	}
	return msgs
}

type jsPair struct{ o, u *jsNode }

// jsShared is the state shared by a context and its subcontexts.
type jsShared struct {
	memo       map[jsPair][]jsDifference
	inProgress map[jsPair]bool
	seed       map[jsPair][]jsDifference
	optimism   bool
	steps      *int // shared by the fixpoint passes
}

func (sh *jsShared) aborted() bool { return *sh.steps > maxJSONDiffSteps }

type jsCtx struct {
	sh    *jsShared
	path  []string
	diffs []jsDifference
}

// maxJSONDiffSteps bounds the work of one comparison (Confluent relies on a
// request timeout instead).
const maxJSONDiffSteps = 5_000_000

// jsCompareRoots is SchemaDiff.compare, iterated to a fixpoint over the
// pairs found incompatible in recursive cycles.
func jsCompareRoots(o, u *jsNode) []jsDifference {
	diffs, _ := jsCompareRootsBounded(o, u)
	return diffs
}

// jsCompareRootsBounded is jsCompareRoots, reporting whether the work bound
// was exhausted (the differences are then incomplete).
func jsCompareRootsBounded(o, u *jsNode) ([]jsDifference, bool) {
	seed := map[jsPair][]jsDifference{}
	steps := 0
	for iter := 0; iter < 64; iter++ {
		sh := &jsShared{memo: map[jsPair][]jsDifference{}, inProgress: map[jsPair]bool{}, seed: seed, steps: &steps}
		ctx := &jsCtx{sh: sh}
		ctx.compare(o, u)
		incompatible := map[jsPair][]jsDifference{}
		for k, v := range sh.memo {
			for _, d := range v {
				if !jsCompatible[d.typ] {
					incompatible[k] = v
					break
				}
			}
		}
		same := len(incompatible) == len(seed)
		if same {
			for k := range incompatible {
				if _, ok := seed[k]; !ok {
					same = false
					break
				}
			}
		}
		if sh.aborted() {
			return ctx.diffs, true
		}
		if !sh.optimism || same {
			return ctx.diffs, false
		}
		seed = incompatible
	}
	return nil, true
}

func (c *jsCtx) sub() *jsCtx {
	return &jsCtx{sh: c.sh, path: append([]string{}, c.path...)}
}

func (c *jsCtx) pathString() string { return "#/" + strings.Join(c.path, "/") }

func (c *jsCtx) add(typ string) {
	c.diffs = append(c.diffs, jsDifference{typ: typ, path: c.pathString()})
}

func (c *jsCtx) addAt(attr, typ string) {
	c.enter(attr)
	c.add(typ)
	c.leave()
}

func (c *jsCtx) enter(p string) { c.path = append(c.path, p) }
func (c *jsCtx) leave()         { c.path = c.path[:len(c.path)-1] }

func (c *jsCtx) isCompatible() bool {
	for _, d := range c.diffs {
		if !jsCompatible[d.typ] {
			return false
		}
	}
	return true
}

func deref(n *jsNode) *jsNode {
	for i := 0; n != nil && n.kind == jsRef && i < 100; i++ {
		n = n.target
	}
	return n
}

// compare is SchemaDiff.compare(ctx, original, update).
func (c *jsCtx) compare(o, u *jsNode) {
	switch {
	case o == nil && u == nil:
		return
	case o == nil:
		c.add("SCHEMA_ADDED")
		return
	case u == nil:
		c.add("SCHEMA_REMOVED")
		return
	}
	o, u = deref(o), deref(u)
	if o == nil || u == nil {
		return
	}
	*c.sh.steps++
	if c.sh.aborted() {
		return
	}
	key := jsPair{o, u}
	var rel []jsDifference
	if cached, ok := c.sh.memo[key]; ok {
		rel = cached
	} else if c.sh.inProgress[key] {
		if seeded, ok := c.sh.seed[key]; ok {
			rel = seeded
		} else {
			c.sh.optimism = true
			return
		}
	} else {
		c.sh.inProgress[key] = true
		sc := &jsCtx{sh: c.sh}
		sc.compareTypes(o, u)
		delete(c.sh.inProgress, key)
		rel = append([]jsDifference{}, sc.diffs...)
		c.sh.memo[key] = rel
	}
	// Rebase the pair-relative paths onto the current path.
	prefix := c.pathString()
	for _, d := range rel {
		p := d.path
		switch {
		case len(c.path) == 0:
		case len(p) <= 2:
			p = prefix
		default:
			p = prefix + "/" + p[2:]
		}
		c.diffs = append(c.diffs, jsDifference{typ: d.typ, path: p})
	}
}

// jsClass is the Java class of a schema, for schemaTypesEqual.
func jsClass(n *jsNode) jsKind { return n.kind }

func (c *jsCtx) compareTypes(o, u *jsNode) {
	if o.kind != jsCombined && u.kind == jsCombined {
		if len(u.subs) == 1 {
			sc := c.sub()
			sc.compare(o, u.subs[0])
			if sc.isCompatible() {
				c.diffs = append(c.diffs, sc.diffs...)
				return
			}
		} else if u.criterion == "anyOf" || u.criterion == "oneOf" {
			for _, s := range u.subs {
				sc := c.sub()
				sc.compare(o, s)
				if sc.isCompatible() {
					c.diffs = append(c.diffs, sc.diffs...)
					c.add("SUM_TYPE_EXTENDED")
					return
				}
			}
		}
	} else if o.kind == jsCombined && u.kind != jsCombined {
		if len(o.subs) == 1 {
			sc := c.sub()
			sc.compare(o.subs[0], u)
			if sc.isCompatible() {
				c.diffs = append(c.diffs, sc.diffs...)
				return
			}
		} else if o.criterion == "allOf" {
			for _, s := range o.subs {
				sc := c.sub()
				sc.compare(s, u)
				if sc.isCompatible() {
					c.diffs = append(c.diffs, sc.diffs...)
					c.add("PRODUCT_TYPE_NARROWED")
					return
				}
			}
		}
	}
	if jsClass(o) != jsClass(u) {
		if o.kind == jsFalse || u.kind.isEmpty() {
			return
		}
		if o.connectType == "bytes" && u.connectType == "bytes" {
			return
		}
		c.add("TYPE_CHANGED")
		return
	}
	if !strPtrEqual(o.id, u.id) {
		c.add("ID_CHANGED")
	}
	if !strPtrEqual(o.title, u.title) {
		c.add("TITLE_CHANGED")
	}
	if !strPtrEqual(o.description, u.description) {
		c.add("DESCRIPTION_CHANGED")
	}
	if !jsonEqual(o.def, u.def) {
		c.add("DEFAULT_CHANGED")
	}
	switch o.kind {
	case jsString:
		c.compareString(o, u)
	case jsNumber:
		c.compareNumber(o, u)
	case jsConst:
		if !jsonEqual(o.constVal, u.constVal) {
			c.addAt("const", "ENUM_ARRAY_CHANGED")
		}
	case jsEnum:
		c.compareEnum(o, u)
	case jsCombined:
		c.compareCombined(o, u)
	case jsNot:
		c.enter("not")
		sc := c.sub()
		sc.compare(u.not, o.not) // reversed
		if sc.isCompatible() {
			c.add("NOT_TYPE_NARROWED")
		} else {
			c.add("NOT_TYPE_EXTENDED")
		}
		c.leave()
	case jsObject:
		c.compareObject(o, u)
	case jsArray:
		c.compareArray(o, u)
	}
}

func strPtrEqual(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// compareLimit records the ADDED/REMOVED/INCREASED/DECREASED difference of
// an integer keyword.
func (c *jsCtx) compareLimit(attr string, o, u *int64, prefix string) {
	switch {
	case o == nil && u == nil:
	case o == nil:
		c.addAt(attr, prefix+"_ADDED")
	case u == nil:
		c.addAt(attr, prefix+"_REMOVED")
	case *o < *u:
		c.addAt(attr, prefix+"_INCREASED")
	case *o > *u:
		c.addAt(attr, prefix+"_DECREASED")
	}
}

func (c *jsCtx) compareString(o, u *jsNode) {
	c.compareLimit("maxLength", o.maxLength, u.maxLength, "MAX_LENGTH")
	c.compareLimit("minLength", o.minLength, u.minLength, "MIN_LENGTH")
	switch {
	case o.pattern == nil && u.pattern != nil:
		c.addAt("pattern", "PATTERN_ADDED")
	case o.pattern != nil && u.pattern == nil:
		c.addAt("pattern", "PATTERN_REMOVED")
	case o.pattern != nil && *o.pattern != *u.pattern:
		c.addAt("pattern", "PATTERN_CHANGED")
	}
}

func (c *jsCtx) compareNumberLimit(attr string, o, u *jsonValue, prefix string) {
	switch {
	case o == nil && u == nil:
	case o == nil:
		c.addAt(attr, prefix+"_ADDED")
	case u == nil:
		c.addAt(attr, prefix+"_REMOVED")
	default:
		of, uf := o.float64Value(), u.float64Value()
		if of < uf {
			c.addAt(attr, prefix+"_INCREASED")
		} else if of > uf {
			c.addAt(attr, prefix+"_DECREASED")
		}
	}
}

func (c *jsCtx) compareNumber(o, u *jsNode) {
	c.compareNumberLimit("maximum", o.maximum, u.maximum, "MAXIMUM")
	c.compareNumberLimit("minimum", o.minimum, u.minimum, "MINIMUM")
	c.compareNumberLimit("exclusiveMaximum", o.exclMax, u.exclMax, "EXCLUSIVE_MAXIMUM")
	c.compareNumberLimit("exclusiveMinimum", o.exclMin, u.exclMin, "EXCLUSIVE_MINIMUM")
	om, oOK := o.multipleOf.bigRat()
	um, uOK := u.multipleOf.bigRat()
	equal := (!oOK && !uOK) || (oOK && uOK && om.Cmp(um) == 0)
	if !equal {
		switch {
		case !oOK:
			c.addAt("multipleOf", "MULTIPLE_OF_ADDED")
		case !uOK:
			c.addAt("multipleOf", "MULTIPLE_OF_REMOVED")
		case om.Sign() != 0 && ratMultiple(um, om):
			c.addAt("multipleOf", "MULTIPLE_OF_EXPANDED")
		case um.Sign() != 0 && ratMultiple(om, um):
			c.addAt("multipleOf", "MULTIPLE_OF_REDUCED")
		default:
			c.addAt("multipleOf", "MULTIPLE_OF_CHANGED")
		}
	}
	if o.requiresInteger != u.requiresInteger {
		if o.requiresInteger {
			c.add("TYPE_EXTENDED")
		} else {
			c.add("TYPE_NARROWED")
		}
	}
}

// ratMultiple reports whether a is an integer multiple of b.
func ratMultiple(a, b *big.Rat) bool {
	q := new(big.Rat).Quo(a, b)
	return q.IsInt()
}

func containsAllJSON(all, some []*jsonValue) bool {
	for _, s := range some {
		found := false
		for _, a := range all {
			if jsonEqual(a, s) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (c *jsCtx) compareEnum(o, u *jsNode) {
	// getPossibleValues() is a set: equal sets are no change.
	if containsAllJSON(o.enum, u.enum) && containsAllJSON(u.enum, o.enum) {
		return
	}
	switch {
	case containsAllJSON(u.enum, o.enum):
		c.addAt("enum", "ENUM_ARRAY_EXTENDED")
	case containsAllJSON(o.enum, u.enum):
		c.addAt("enum", "ENUM_ARRAY_NARROWED")
	default:
		c.addAt("enum", "ENUM_ARRAY_CHANGED")
	}
}

func (c *jsCtx) compareCombined(o, u *jsNode) {
	// compareCriteria
	typ := ""
	if o.criterion != u.criterion {
		switch {
		case u.criterion == "anyOf",
			len(o.subs) == 1 && len(u.subs) == 1,
			len(o.subs) == 1 && u.criterion == "oneOf",
			len(u.subs) == 1 && o.criterion == "allOf":
			typ = "COMBINED_TYPE_EXTENDED"
		default:
			typ = "COMBINED_TYPE_CHANGED"
		}
		c.add(typ)
	}
	if typ == "COMBINED_TYPE_CHANGED" {
		return
	}
	os, us := dedupeSchemas(o.subs), dedupeSchemas(u.subs)
	switch {
	case len(os) < len(us):
		if u.criterion == "allOf" {
			c.add("PRODUCT_TYPE_EXTENDED")
		} else {
			c.add("SUM_TYPE_EXTENDED")
		}
	case len(os) > len(us):
		if o.criterion == "anyOf" || o.criterion == "oneOf" {
			c.add("SUM_TYPE_NARROWED")
		} else {
			c.add("PRODUCT_TYPE_NARROWED")
		}
	}
	// Compatible edges between original and update subschemas.
	edges := map[[2]int][]jsDifference{}
	adj := make([][]int, len(os))
	for i, osub := range os {
		c.enter(o.criterion + "/" + itoa(i))
		for j, usub := range us {
			if c.sh.aborted() {
				break
			}
			sc := c.sub()
			sc.compare(osub, usub)
			if sc.isCompatible() {
				edges[[2]int{i, j}] = sc.diffs
				adj[i] = append(adj[i], j)
			}
		}
		c.leave()
	}
	// Maximum cardinality bipartite matching (augmenting paths).
	matchU := make([]int, len(us))
	for j := range matchU {
		matchU[j] = -1
	}
	var try func(i int, seen []bool, depth int) bool
	try = func(i int, seen []bool, depth int) bool {
		if depth > len(os)+1 {
			return false
		}
		for _, j := range adj[i] {
			if seen[j] {
				continue
			}
			seen[j] = true
			if matchU[j] < 0 || try(matchU[j], seen, depth+1) {
				matchU[j] = i
				return true
			}
		}
		return false
	}
	size := 0
	for i := range os {
		if len(adj[i]) > 0 && try(i, make([]bool, len(us)), 0) {
			size++
		}
	}
	for j, i := range matchU {
		if i >= 0 {
			c.diffs = append(c.diffs, edges[[2]int{i, j}]...)
		}
	}
	if size < min(len(os), len(us)) {
		c.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// dedupeSchemas collapses structurally equal subschemas, as Confluent's
// LinkedHashSet of JsonSchema does.
func dedupeSchemas(subs []*jsNode) []*jsNode {
	var out []*jsNode
	seen := map[string]bool{}
	for _, s := range subs {
		key := strconv.Itoa(int(s.kind)) + ":" + sortedJSON(s.src)
		if s.src == nil {
			key = fmt.Sprintf("%p", s)
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, s)
		}
	}
	return out
}

// sortedJSON prints a JSON tree with object keys sorted, numbers by value.
func sortedJSON(v *jsonValue) string {
	var b strings.Builder
	var walk func(v *jsonValue)
	walk = func(v *jsonValue) {
		switch v.kind {
		case jObject:
			keys := make([]string, 0, len(v.obj))
			for _, m := range v.obj {
				keys = append(keys, m.key)
			}
			sort.Strings(keys)
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteByte(',')
				}
				writeJSONString(&b, k)
				b.WriteByte(':')
				walk(v.get(k))
			}
			b.WriteByte('}')
		case jArray:
			b.WriteByte('[')
			for i, el := range v.arr {
				if i > 0 {
					b.WriteByte(',')
				}
				walk(el)
			}
			b.WriteByte(']')
		case jNumber:
			if r, ok := v.bigRat(); ok {
				b.WriteString(r.RatString())
			} else {
				b.WriteString(v.s)
			}
		default:
			writeJSON(&b, v, numbersAsBigDecimal)
		}
	}
	if v != nil {
		walk(v)
	}
	return b.String()
}

func isOpenObject(n *jsNode) bool {
	if !n.permitsAdditional || n.additional != nil || len(n.patternProps) > 0 {
		return false
	}
	return n.uneval == nil || n.uneval.kind.isEmpty()
}

func partialObjectSchema(n *jsNode, prop string) *jsNode {
	for _, p := range n.patternProps {
		if p.re != nil && p.re.MatchString(prop) {
			return p.schema
		}
	}
	if n.additional != nil {
		return n.additional
	}
	if n.permitsAdditional && n.uneval != nil && n.uneval.kind != jsFalse && !n.uneval.kind.isEmpty() {
		return n.uneval
	}
	return nil
}

func (c *jsCtx) compareObject(o, u *jsNode) {
	// compareRequired
	c.enter("required")
	for _, k := range o.propOrder {
		if _, ok := u.props[k]; !ok {
			continue
		}
		c.enter(k)
		or, ur := o.requiredSet[k], u.requiredSet[k]
		if or && !ur {
			c.add("REQUIRED_ATTRIBUTE_REMOVED")
		} else if !or && ur {
			if u.props[k].def != nil {
				c.add("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED")
			} else {
				c.add("REQUIRED_ATTRIBUTE_ADDED")
			}
		}
		c.leave()
	}
	c.leave()
	// compareProperties
	c.enter("properties")
	keys := javaHashSetOf(javaStringHash, o.propOrder)
	for _, k := range u.propOrder {
		keys.add(k)
	}
	for _, k := range keys.keys() {
		c.enter(k)
		os, us := o.props[k], u.props[k]
		switch {
		case us == nil:
			if isOpenObject(u) {
				c.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL")
			} else if partial := partialObjectSchema(u, k); partial != nil {
				sc := c.sub()
				sc.compare(os, partial)
				c.diffs = append(c.diffs, sc.diffs...)
				if sc.isCompatible() {
					c.add("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
				} else {
					c.add("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
				}
			} else if deref(os) != nil && deref(os).kind == jsFalse {
				c.add("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
			} else {
				c.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")
			}
		case os == nil:
			if isOpenObject(o) {
				switch {
				case deref(us) != nil && deref(us).kind.isEmpty():
					c.add("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
				case u.requiredSet[k] && us.def != nil:
					c.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL")
				case u.requiredSet[k]:
					c.add("REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
				default:
					c.add("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
				}
			} else {
				if partial := partialObjectSchema(o, k); partial != nil {
					sc := c.sub()
					sc.compare(partial, us)
					c.diffs = append(c.diffs, sc.diffs...)
					if sc.isCompatible() {
						c.add("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					} else {
						c.add("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					}
				}
				switch {
				case u.requiredSet[k] && us.def != nil:
					c.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL")
				case u.requiredSet[k]:
					c.add("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
				default:
					c.add("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
				}
			}
		default:
			c.compare(os, us)
		}
		c.leave()
	}
	c.leave()
	// compareDependencies
	c.enter("dependencies")
	depKeys := javaHashSetOf(javaStringHash, javaHashMapCopyOrder(javaStringHash, javaHashMapOrder(javaStringHash, o.propDepOrder)))
	for _, k := range javaHashMapCopyOrder(javaStringHash, javaHashMapOrder(javaStringHash, u.propDepOrder)) {
		depKeys.add(k)
	}
	for _, k := range depKeys.keys() {
		c.enter(k)
		od, oOK := o.propDeps[k]
		ud, uOK := u.propDeps[k]
		switch {
		case !uOK:
			c.add("DEPENDENCY_ARRAY_REMOVED")
		case !oOK:
			c.add("DEPENDENCY_ARRAY_ADDED")
		default:
			oset, uset := stringSet(od), stringSet(ud)
			if !sameStringSet(oset, uset) {
				switch {
				case containsAllStrings(uset, oset):
					c.add("DEPENDENCY_ARRAY_EXTENDED")
				case containsAllStrings(oset, uset):
					c.add("DEPENDENCY_ARRAY_NARROWED")
				default:
					c.add("DEPENDENCY_ARRAY_CHANGED")
				}
			}
		}
		c.leave()
	}
	schemaDepKeys := javaHashSetOf(javaStringHash, javaHashMapCopyOrder(javaStringHash, javaHashMapOrder(javaStringHash, o.schemaDepOrder)))
	for _, k := range javaHashMapCopyOrder(javaStringHash, javaHashMapOrder(javaStringHash, u.schemaDepOrder)) {
		schemaDepKeys.add(k)
	}
	for _, k := range schemaDepKeys.keys() {
		c.enter(k)
		os, us := o.schemaDeps[k], u.schemaDeps[k]
		switch {
		case us == nil:
			c.add("DEPENDENCY_SCHEMA_REMOVED")
		case os == nil:
			c.add("DEPENDENCY_SCHEMA_ADDED")
		default:
			c.compare(os, us)
		}
		c.leave()
	}
	c.leave()
	// compareAdditionalProperties
	c.enter("additionalProperties")
	switch {
	case o.permitsAdditional != u.permitsAdditional:
		if u.permitsAdditional {
			c.add("ADDITIONAL_PROPERTIES_ADDED")
		} else {
			c.add("ADDITIONAL_PROPERTIES_REMOVED")
		}
	case o.additional == nil && u.additional != nil:
		c.add("ADDITIONAL_PROPERTIES_NARROWED")
	case u.additional == nil && o.additional != nil:
		c.add("ADDITIONAL_PROPERTIES_EXTENDED")
	default:
		c.compare(o.additional, u.additional)
	}
	c.leave()
	// compareUnevaluatedProperties
	c.compareUneval("unevaluatedProperties", o.uneval, u.uneval, "UNEVALUATED_PROPERTIES")
	c.compareLimit("maxProperties", o.maxProps, u.maxProps, "MAX_PROPERTIES")
	c.compareLimit("minProperties", o.minProps, u.minProps, "MIN_PROPERTIES")
}

func (c *jsCtx) compareUneval(attr string, o, u *jsNode, prefix string) {
	if o == nil && u == nil {
		return
	}
	c.enter(attr)
	defer c.leave()
	od, ud := deref(o), deref(u)
	isFalse := func(n *jsNode) bool { return n != nil && n.kind == jsFalse }
	isEmpty := func(n *jsNode) bool { return n != nil && n.kind.isEmpty() }
	switch {
	case o == nil:
		if isFalse(ud) {
			c.add(prefix + "_REMOVED")
		} else {
			c.add(prefix + "_NARROWED")
		}
	case u == nil:
		if isFalse(od) {
			c.add(prefix + "_ADDED")
		} else {
			c.add(prefix + "_EXTENDED")
		}
	case isFalse(od) && !isFalse(ud):
		c.add(prefix + "_ADDED")
	case !isFalse(od) && isFalse(ud):
		c.add(prefix + "_REMOVED")
	case isEmpty(od) && !isEmpty(ud):
		c.add(prefix + "_NARROWED")
	case !isEmpty(od) && isEmpty(ud):
		c.add(prefix + "_EXTENDED")
	default:
		c.compare(o, u)
	}
}

func stringSet(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

func sameStringSet(a, b map[string]bool) bool {
	return len(a) == len(b) && containsAllStrings(a, b)
}

func containsAllStrings(all, some map[string]bool) bool {
	for s := range some {
		if !all[s] {
			return false
		}
	}
	return true
}

func isOpenArray(n *jsNode) bool {
	if !n.permitsAdditionalItems || n.additionalItems != nil {
		return false
	}
	return n.unevalItems == nil || n.unevalItems.kind.isEmpty()
}

func partialArraySchema(n *jsNode) *jsNode {
	if n.additionalItems != nil {
		return n.additionalItems
	}
	if n.permitsAdditionalItems && n.unevalItems != nil && n.unevalItems.kind != jsFalse && !n.unevalItems.kind.isEmpty() {
		return n.unevalItems
	}
	return nil
}

func (c *jsCtx) compareArray(o, u *jsNode) {
	// compareItemSchemaObject
	c.enter("items")
	c.compare(o.allItems, u.allItems)
	c.leave()
	// compareItemSchemaArray
	n := min(len(o.itemSchemas), len(u.itemSchemas))
	for i := 0; i < n; i++ {
		c.enter("items/" + itoa(i))
		c.compare(o.itemSchemas[i], u.itemSchemas[i])
		c.leave()
	}
	for i := n; i < len(o.itemSchemas); i++ {
		c.enter("items/" + itoa(i))
		os := o.itemSchemas[i]
		if isOpenArray(u) {
			c.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL")
		} else if partial := partialArraySchema(u); partial != nil {
			sc := c.sub()
			sc.compare(os, partial)
			c.diffs = append(c.diffs, sc.diffs...)
			if sc.isCompatible() {
				c.add("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
			} else {
				c.add("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
			}
		} else if deref(os) != nil && deref(os).kind == jsFalse {
			c.add("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
		} else {
			c.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL")
		}
		c.leave()
	}
	for i := n; i < len(u.itemSchemas); i++ {
		c.enter("items/" + itoa(i))
		us := u.itemSchemas[i]
		if isOpenArray(o) {
			if deref(us) != nil && deref(us).kind.isEmpty() {
				c.add("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
			} else {
				c.add("ITEM_ADDED_TO_OPEN_CONTENT_MODEL")
			}
		} else if partial := partialArraySchema(o); partial != nil {
			sc := c.sub()
			sc.compare(partial, us)
			c.diffs = append(c.diffs, sc.diffs...)
			if sc.isCompatible() {
				c.add("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
			} else {
				c.add("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
			}
		} else {
			c.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL")
		}
		c.leave()
	}
	// compareAdditionalItems
	c.enter("additionalItems")
	switch {
	case o.permitsAdditionalItems != u.permitsAdditionalItems:
		if o.permitsAdditionalItems {
			c.add("ADDITIONAL_ITEMS_REMOVED")
		} else {
			c.add("ADDITIONAL_ITEMS_ADDED")
		}
	case o.additionalItems == nil && u.additionalItems != nil:
		c.add("ADDITIONAL_ITEMS_NARROWED")
	case u.additionalItems == nil && o.additionalItems != nil:
		c.add("ADDITIONAL_ITEMS_EXTENDED")
	default:
		c.compare(o.additionalItems, u.additionalItems)
	}
	c.leave()
	c.compareUneval("unevaluatedItems", o.unevalItems, u.unevalItems, "UNEVALUATED_ITEMS")
	// compareAttributes
	c.compareLimit("maxItems", o.maxItems, u.maxItems, "MAX_ITEMS")
	c.compareLimit("minItems", o.minItems, u.minItems, "MIN_ITEMS")
	if o.uniqueItems != u.uniqueItems {
		if o.uniqueItems {
			c.addAt("uniqueItems", "UNIQUE_ITEMS_REMOVED")
		} else {
			c.addAt("uniqueItems", "UNIQUE_ITEMS_ADDED")
		}
	}
	c.compareLimit("maxContains", o.maxContains, u.maxContains, "MAX_CONTAINS")
	c.compareLimit("minContains", o.minContains, u.minContains, "MIN_CONTAINS")
}
