package schemacompat

import (
	"fmt"
	"slices"
	"strings"
)

// This file follows org.apache.avro.SchemaCompatibility
// (ReaderWriterCompatibilityChecker), including its memoization by schema
// node identity, its JSON-pointer locations and the places where it checks a
// union branch from a fresh location, so that the incompatibilities, their
// paths and their order match what Confluent reports. The messages are
// Confluent's io.confluent.kafka.schemaregistry.avro.Difference.

// Avro's incompatibility types (SchemaCompatibility.SchemaIncompatibilityType).
const (
	avroNameMismatch          = "NAME_MISMATCH"
	avroFixedSizeMismatch     = "FIXED_SIZE_MISMATCH"
	avroMissingEnumSymbols    = "MISSING_ENUM_SYMBOLS"
	avroReaderFieldMissingDef = "READER_FIELD_MISSING_DEFAULT_VALUE"
	avroTypeMismatch          = "TYPE_MISMATCH"
	avroMissingUnionBranch    = "MISSING_UNION_BRANCH"
)

type avroIncompatibility struct {
	typ      string
	message  string
	location []string // reference tokens, root first
}

// pointer is Incompatibility.getLocation(): a JSON pointer without the root
// token.
func (i avroIncompatibility) pointer() string {
	var b strings.Builder
	b.WriteByte('/')
	for j, tok := range i.location[1:] {
		if j > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// message formats the incompatibility as Confluent's Difference.toString,
// with the reader and writer named by the given words.
func (i avroIncompatibility) confluentMessage(reader, writer string) string {
	path := i.pointer()
	var desc string
	switch i.typ {
	case avroFixedSizeMismatch:
		desc = "The size of FIXED type field at path '" + path + "' in the " + reader +
			" schema does not match with the " + writer + " schema"
	case avroTypeMismatch:
		desc = "The type (path '" + path + "') of a field in the " + reader +
			" schema does not match with the " + writer + " schema"
	case avroNameMismatch:
		desc = "The name of the schema has changed (path '" + path + "')"
	case avroMissingEnumSymbols:
		desc = "The " + reader + " schema is missing enum symbols '" + i.message + "' at path '" +
			path + "' in the " + writer + " schema"
	case avroMissingUnionBranch:
		desc = "The " + reader + " schema is missing a type inside a union field at path '" +
			path + "' in the " + writer + " schema"
	case avroReaderFieldMissingDef:
		desc = "The field '" + i.message + "' at path '" + path + "' in the " + reader +
			" schema has no default value and is missing in the " + writer + " schema"
	}
	return "{errorType:'" + i.typ + "', description:'" + desc + "', additionalInfo:'" + i.message + "'}"
}

type avroCompatState uint8

const (
	avroCompatible avroCompatState = iota
	avroIncompatible
	avroInProgress
)

type avroResult struct {
	state  avroCompatState
	issues []avroIncompatibility
}

var avroCompatibleResult = &avroResult{state: avroCompatible}

// avroAcc accumulates results as SchemaCompatibilityResult.mergedWith does,
// without copying the list at every merge.
type avroAcc struct {
	incompatible bool
	issues       []avroIncompatibility
}

func (a *avroAcc) add(r *avroResult) {
	if r.state == avroIncompatible {
		a.incompatible = true
	}
	a.issues = append(a.issues, r.issues...)
}

func (a *avroAcc) result() *avroResult {
	if !a.incompatible && len(a.issues) == 0 {
		return avroCompatibleResult
	}
	st := avroCompatible
	if a.incompatible {
		st = avroIncompatible
	}
	return &avroResult{state: st, issues: a.issues}
}

type avroPair struct{ reader, writer *avroNode }

type avroChecker struct {
	memo map[avroPair]*avroResult
}

// avroIncompatibilities returns Confluent's messages for
// reader.isBackwardCompatible(writer).
func avroIncompatibilities(reader, writer *avroParsed, readerWord, writerWord string) []string {
	c := &avroChecker{memo: map[avroPair]*avroResult{}}
	res := c.compat(reader.root, writer.root)
	msgs := make([]string, 0, len(res.issues))
	for _, i := range res.issues {
		msgs = append(msgs, i.confluentMessage(readerWord, writerWord))
	}
	return msgs
}

// compat is getCompatibility(reader, writer): a check from a fresh location.
func (c *avroChecker) compat(reader, writer *avroNode) *avroResult {
	var loc []string
	return c.compatAt("", reader, writer, &loc)
}

// compatAt is getCompatibility(referenceToken, reader, writer, location).
func (c *avroChecker) compatAt(token string, reader, writer *avroNode, loc *[]string) *avroResult {
	*loc = append(*loc, token)
	defer func() { *loc = (*loc)[:len(*loc)-1] }()
	pair := avroPair{reader, writer}
	if res, ok := c.memo[pair]; ok {
		if res.state == avroInProgress {
			// Break the recursion: compatible unless proven otherwise.
			return avroCompatibleResult
		}
		return res
	}
	c.memo[pair] = &avroResult{state: avroInProgress}
	res := c.calculate(reader, writer, loc)
	c.memo[pair] = res
	return res
}

func (c *avroChecker) incompatible(typ, message string, loc []string) *avroResult {
	return &avroResult{state: avroIncompatible, issues: []avroIncompatibility{{typ: typ, message: message, location: slices.Clone(loc)}}}
}

func (c *avroChecker) typeMismatch(reader, writer *avroNode, loc []string) *avroResult {
	return c.incompatible(avroTypeMismatch, fmt.Sprintf("reader type: %s not compatible with writer type: %s", reader.kind, writer.kind), loc)
}

func (c *avroChecker) calculate(reader, writer *avroNode, loc *[]string) *avroResult {
	var acc avroAcc
	if reader.kind == writer.kind {
		switch reader.kind {
		case avroArray:
			return c.compatAt("items", reader.elem, writer.elem, loc)
		case avroMap:
			return c.compatAt("values", reader.elem, writer.elem, loc)
		case avroFixed:
			acc.add(c.checkNames(reader, writer, loc))
			acc.add(c.checkFixedSize(reader, writer, loc))
		case avroEnum:
			acc.add(c.checkNames(reader, writer, loc))
			acc.add(c.checkEnumSymbols(reader, writer, loc))
		case avroRecord:
			acc.add(c.checkNames(reader, writer, loc))
			c.checkFields(reader, writer, loc, &acc)
		case avroUnion:
			// Each branch of the writer union must be readable.
			for i, wb := range writer.types {
				*loc = append(*loc, fmt.Sprint(i))
				if c.compat(reader, wb).state == avroIncompatible {
					acc.add(c.incompatible(avroMissingUnionBranch,
						"reader union lacking writer type: "+wb.kind.String(), *loc))
				}
				*loc = (*loc)[:len(*loc)-1]
			}
		}
		return acc.result()
	}
	// Different types. A reader compatible with every branch of a writer
	// union is compatible.
	if writer.kind == avroUnion {
		for i, wb := range writer.types {
			acc.add(c.compatAt(fmt.Sprint(i), reader, wb, loc))
		}
		return acc.result()
	}
	switch reader.kind {
	case avroLong:
		if writer.kind == avroInt {
			return avroCompatibleResult
		}
	case avroFloat:
		if writer.kind == avroInt || writer.kind == avroLong {
			return avroCompatibleResult
		}
	case avroDouble:
		if writer.kind == avroInt || writer.kind == avroLong || writer.kind == avroFloat {
			return avroCompatibleResult
		}
	case avroBytes:
		if writer.kind == avroString {
			return avroCompatibleResult
		}
	case avroString:
		if writer.kind == avroBytes {
			return avroCompatibleResult
		}
	case avroUnion:
		for _, rb := range reader.types {
			if c.compat(rb, writer).state == avroCompatible {
				return avroCompatibleResult
			}
		}
		return c.incompatible(avroMissingUnionBranch,
			"reader union lacking writer type: "+writer.kind.String(), *loc)
	}
	return c.typeMismatch(reader, writer, *loc)
}

func (c *avroChecker) checkNames(reader, writer *avroNode, loc *[]string) *avroResult {
	if reader.name == writer.name {
		return avroCompatibleResult
	}
	// Reader aliases, as Schema.getAliases() prints them.
	wf := writer.full()
	for _, a := range reader.aliases {
		alias := a.full()
		if a.space == "" && reader.space != "" {
			alias = "." + a.name
		}
		if alias == wf {
			return avroCompatibleResult
		}
	}
	*loc = append(*loc, "name")
	defer func() { *loc = (*loc)[:len(*loc)-1] }()
	return c.incompatible(avroNameMismatch, "expected: "+wf, *loc)
}

func (c *avroChecker) checkFixedSize(reader, writer *avroNode, loc *[]string) *avroResult {
	if reader.size == writer.size {
		return avroCompatibleResult
	}
	*loc = append(*loc, "size")
	defer func() { *loc = (*loc)[:len(*loc)-1] }()
	return c.incompatible(avroFixedSizeMismatch, fmt.Sprintf("expected: %d, found: %d", writer.size, reader.size), *loc)
}

func (c *avroChecker) checkEnumSymbols(reader, writer *avroNode, loc *[]string) *avroResult {
	have := make(map[string]bool, len(reader.symbols))
	for _, s := range reader.symbols {
		have[s] = true
	}
	var missing []string
	for _, s := range writer.symbols {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return avroCompatibleResult
	}
	if reader.enumDefault != nil && have[*reader.enumDefault] {
		return avroCompatibleResult
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	*loc = append(*loc, "symbols")
	defer func() { *loc = (*loc)[:len(*loc)-1] }()
	return c.incompatible(avroMissingEnumSymbols, "["+strings.Join(missing, ", ")+"]", *loc)
}

// avroLookupError is the AvroRuntimeException lookupWriterField throws when
// a reader field matches several writer fields through its aliases.
type avroLookupError struct{ msg string }

func (e avroLookupError) Error() string { return e.msg }

func (c *avroChecker) lookupWriterField(writer *avroNode, rf *avroField) *avroField {
	var found []*avroField
	if wf := writer.fieldByName[rf.name]; wf != nil {
		found = append(found, wf)
	}
	for _, a := range rf.aliases {
		if wf := writer.fieldByName[a]; wf != nil {
			found = append(found, wf)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		return found[0]
	}
	panic(avroLookupError{msg: fmt.Sprintf("Reader record field %s type:%s pos:%d matches multiple fields in writer record schema %s",
		rf.name, rf.schema.kind, rf.pos, avroToString(writer, nil))})
}

func (c *avroChecker) checkFields(reader, writer *avroNode, loc *[]string, acc *avroAcc) {
	*loc = append(*loc, "fields")
	for _, rf := range reader.fields {
		*loc = append(*loc, fmt.Sprint(rf.pos))
		wf := c.lookupWriterField(writer, rf)
		switch {
		case wf != nil:
			acc.add(c.compatAt("type", rf.schema, wf.schema, loc))
		case rf.def != nil:
			// Read from the default value.
		case rf.schema.kind == avroEnum && rf.schema.enumDefault != nil:
			acc.add(c.compatAt("type", rf.schema, writer, loc))
		default:
			acc.add(c.incompatible(avroReaderFieldMissingDef, rf.name, *loc))
		}
		*loc = (*loc)[:len(*loc)-1]
	}
	*loc = (*loc)[:len(*loc)-1]
}
