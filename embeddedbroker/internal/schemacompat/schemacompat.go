// Package schemacompat is the pure logic of the embedded, Confluent-compatible
// Schema Registry: it parses and validates schemas of the three types
// Confluent Schema Registry supports (Avro, Protobuf and JSON Schema),
// computes the canonical text Confluent stores and compares to decide whether
// two registrations are the same schema, and checks compatibility between a
// new schema and the earlier versions of a subject, answering with
// Confluent's incompatibility messages.
//
// The package knows nothing of HTTP, subjects or storage: callers resolve
// references (by subject and version) before calling Parse, and pass the
// earlier, non-deleted versions of a subject to Check.
//
// Avro follows Apache Avro's Java implementation (1.12), which Confluent
// uses: parsing and validation (names, defaults, unions), the canonical
// text (Schema.toString) and SchemaCompatibility (READER_FIELD_MISSING_DEFAULT_VALUE,
// TYPE_MISMATCH with the int/long/float/double and string/bytes promotions,
// MISSING_UNION_BRANCH, NAME_MISMATCH with aliases, FIXED_SIZE_MISMATCH,
// MISSING_ENUM_SYMBOLS with enum defaults), with its locations.
// Protobuf follows Confluent's protobuf.diff package and JSON Schema its
// json.diff package (default STRICT policy); both reproduce the order in
// which Confluent reports the differences.
package schemacompat

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Type is a schema type. The empty string means Avro, as in Confluent's REST
// API.
type Type string

// The schema types Confluent Schema Registry supports.
const (
	TypeAvro     Type = "AVRO"
	TypeProtobuf Type = "PROTOBUF"
	TypeJSON     Type = "JSON"
)

// ParseType validates a schema type as Confluent does: the empty string is
// Avro, and the names are case-sensitive.
func ParseType(s string) (Type, error) {
	switch Type(s) {
	case "", TypeAvro:
		return TypeAvro, nil
	case TypeProtobuf, TypeJSON:
		return Type(s), nil
	}
	return "", &InvalidSchemaError{Type: Type(s), Details: "Invalid schema type " + s, msg: "Invalid schema type " + s}
}

// Level is a compatibility level.
type Level string

// The compatibility levels of Confluent Schema Registry.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// ErrInvalidLevel is the error ParseLevel returns; its text is Confluent's
// 42203 message.
var ErrInvalidLevel = errors.New("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")

// ParseLevel validates a compatibility level, case-insensitively.
func ParseLevel(s string) (Level, error) {
	switch l := Level(strings.ToUpper(s)); l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return l, nil
	}
	return "", ErrInvalidLevel
}

// Transitive reports whether the level checks against all earlier versions
// rather than the latest only.
func (l Level) Transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// Reference is a resolved schema reference.
type Reference struct {
	// Name is the reference name: for Avro the full name of the referenced
	// named type, for Protobuf the import path, for JSON Schema the URL
	// used in "$ref".
	Name string
	// Subject and Version identify the referenced schema in the registry.
	// They are optional; they appear in error messages and let the Protobuf
	// check skip comparing types that come from the same subject version.
	Subject string
	Version int
	// Schema is the referenced schema, with its own references. An empty
	// Schema.Type means the type of the referencing schema.
	Schema Schema
}

// Schema is the input of Parse: a schema's text, its type and its resolved
// references.
type Schema struct {
	// Type is the schema type; empty means Avro.
	Type Type
	// Text is the schema as sent by the client.
	Text string
	// References are the schema's resolved references, in the order the
	// client listed them. A referenced schema's own references are resolved
	// recursively; a reference name met again on the way down is a cycle
	// and an error.
	References []Reference
	// Version is the schema's version in its subject, for an earlier
	// version passed to Check ("{oldSchemaVersion: N}" in messages);
	// 0 means unknown.
	Version int
	// Subject is optional and only used in error messages.
	Subject string
}

// MaxSchemaSize is the largest schema text (or referenced schema text) Parse
// accepts. Larger input is refused with an InvalidSchemaError without being
// parsed.
const MaxSchemaSize = 16 << 20

// maxReferenceDepth bounds the nesting of references.
const maxReferenceDepth = 64

// InvalidSchemaError is the error Parse returns for a schema that is not
// valid. Its text follows Confluent's 42201 "Invalid schema" messages.
type InvalidSchemaError struct {
	// Type is the type of the schema that failed.
	Type Type
	// Details says why the schema is invalid.
	Details string
	msg     string
}

// Error returns the message in Confluent's format, for example
// "Invalid schema {subject=...,schema=...} with refs [] of type AVRO, details: No type: {}".
func (e *InvalidSchemaError) Error() string { return e.msg }

// maxSchemaInMessage bounds the schema text echoed in error messages.
const maxSchemaInMessage = 10 * 1024

func newInvalid(s *Schema, typ Type, details string) *InvalidSchemaError {
	e := &InvalidSchemaError{Type: typ, Details: details}
	if typ == TypeAvro {
		text, cut := javaStringPrefix(s.Text, maxSchemaInMessage)
		if cut {
			text += "..."
		}
		subject := "null"
		if s.Subject != "" {
			subject = s.Subject
		}
		refs := formatReferences(s.References)
		e.msg = fmt.Sprintf("Invalid schema {subject=%s,version=0,id=-1,schemaType=AVRO,references=%s,metadata=null,ruleSet=null,schema=%s} with refs %s of type AVRO, details: %s",
			subject, refs, text, refs, details)
	} else {
		e.msg = fmt.Sprintf("Invalid schema of type %s, details: %s", typ, details)
	}
	return e
}

// formatReferences prints references like Java's List<SchemaReference>.
func formatReferences(refs []Reference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		subject := "null"
		if r.Subject != "" {
			subject = r.Subject
		}
		parts[i] = fmt.Sprintf("{name='%s', subject='%s', version=%d}", r.Name, subject, r.Version)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Parsed is a valid schema, ready for Check.
type Parsed struct {
	typ       Type
	version   int
	canonical string
	avro      *avroParsed
	proto     *protoParsed
	json      *jsonSchemaParsed
}

// Type returns the schema type.
func (p *Parsed) Type() Type { return p.typ }

// Version returns the version given in Schema.Version (0 if unknown).
func (p *Parsed) Version() int { return p.version }

// Canonical returns the canonical text of the schema: the text Confluent
// stores and returns, and compares to decide whether a registration is a
// schema already registered. For Avro it is Apache Avro's Schema.toString()
// with referenced types written by name (not the Parsing Canonical Form);
// for Protobuf the schema printed back from its parse tree in Confluent's
// layout; for JSON Schema the compact JSON in document order.
func (p *Parsed) Canonical() string { return p.canonical }

// flatRef is a reference after flattening the reference tree in dependency
// order.
type flatRef struct {
	name    string
	subject string
	version int
	typ     Type
	text    string
}

// flattenReferences resolves a reference tree into a list in dependency
// order (dependencies first), keeping the first occurrence of a name as
// Confluent does, and reports cycles.
func flattenReferences(s *Schema) ([]flatRef, error) {
	var out []flatRef
	seen := map[string]bool{}
	var path []string
	var walk func(refs []Reference, depth int) error
	walk = func(refs []Reference, depth int) error {
		if depth > maxReferenceDepth {
			return fmt.Errorf("references are nested more than %d levels deep", maxReferenceDepth)
		}
		for _, r := range refs {
			if r.Name == "" {
				return fmt.Errorf("Invalid reference: {name='%s', subject='%s', version=%d}", r.Name, r.Subject, r.Version)
			}
			for i, p := range path {
				if p == r.Name {
					cycle := append(append([]string{}, path[i:]...), r.Name)
					return fmt.Errorf("reference cycle: %s", strings.Join(cycle, " -> "))
				}
			}
			if seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			if len(r.Schema.Text) > MaxSchemaSize {
				return fmt.Errorf("referenced schema %q is larger than %d bytes", r.Name, MaxSchemaSize)
			}
			path = append(path, r.Name)
			if err := walk(r.Schema.References, depth+1); err != nil {
				return err
			}
			path = path[:len(path)-1]
			typ := r.Schema.Type
			if typ == "" {
				typ = s.Type // a reference is of the type of the schema by default
			}
			out = append(out, flatRef{name: r.Name, subject: r.Subject, version: r.Version, typ: typ, text: r.Schema.Text})
		}
		return nil
	}
	if err := walk(s.References, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// Parse validates a schema and its references.
func Parse(s Schema) (p *Parsed, err error) {
	typ, err := ParseType(string(s.Type))
	if err != nil {
		return nil, err
	}
	if len(s.Text) > MaxSchemaSize {
		return nil, newInvalid(&s, typ, fmt.Sprintf("schema is %d bytes, more than the %d bytes allowed", len(s.Text), MaxSchemaSize))
	}
	if strings.TrimSpace(s.Text) == "" {
		return nil, newInvalid(&s, typ, "Empty schema")
	}
	s.Type = typ
	refs, err := flattenReferences(&s)
	if err != nil {
		return nil, newInvalid(&s, typ, err.Error())
	}
	for _, r := range refs {
		if r.typ != typ {
			return nil, newInvalid(&s, typ, fmt.Sprintf("reference %q is of type %s, not %s", r.name, r.typ, typ))
		}
	}
	defer func() {
		// The parsers are written not to panic; this is a last line of
		// defence so that bad input can never crash the registry.
		if r := recover(); r != nil {
			p, err = nil, newInvalid(&s, typ, fmt.Sprintf("internal error: %v", r))
		}
	}()
	p = &Parsed{typ: typ, version: s.Version}
	switch typ {
	case TypeAvro:
		a, canonical, details := parseAvro(s.Text, refs)
		if details != "" {
			return nil, newInvalid(&s, typ, details)
		}
		p.avro, p.canonical = a, canonical
	case TypeProtobuf:
		pp, details := parseProtobuf(s.Text, refs)
		if details != "" {
			return nil, newInvalid(&s, typ, details)
		}
		p.proto, p.canonical = pp, pp.canonical
	case TypeJSON:
		j, details := parseJSONSchema(s.Text, refs)
		if details != "" {
			return nil, newInvalid(&s, typ, details)
		}
		p.json, p.canonical = j, j.canonical
	}
	return p, nil
}

// Messages used by Confluent's SchemaValidatorBuilder.
const (
	differentSchemaType = "Incompatible because of different schema type"
	// maxSchemaForLogging is Confluent's MAX_SCHEMA_SIZE_FOR_LOGGING.
	maxSchemaForLogging = 10 * 1024
)

// Check returns the incompatibility messages of candidate against the
// earlier versions of a subject (oldest first), as Confluent's
// ParsedSchema.isCompatible does; an empty result means compatible.
//
// Non-transitive levels check against the latest earlier version only;
// transitive levels check against every earlier version, newest first, and
// report the messages of the first incompatible one. The messages of an
// incompatible pair end with "{oldSchemaVersion: N}" (when the earlier
// version's Schema.Version was set) and "{oldSchema: '...'}".
func Check(level Level, candidate *Parsed, previous []*Parsed) []string {
	if level == None || candidate == nil || len(previous) == 0 {
		return []string{}
	}
	for i := len(previous) - 1; i >= 0; i-- {
		existing := previous[i]
		if existing == nil {
			continue
		}
		var msgs []string
		if candidate.typ != existing.typ {
			msgs = []string{differentSchemaType}
		} else {
			msgs = checkPair(level, candidate, existing)
		}
		if !level.Transitive() || len(msgs) > 0 {
			if msgs == nil {
				msgs = []string{}
			}
			return msgs
		}
	}
	return []string{}
}

// checkPair applies the strategy of a level to one earlier version.
func checkPair(level Level, candidate, existing *Parsed) []string {
	switch level {
	case Backward, BackwardTransitive:
		return withOldSchema(canRead(candidate, existing, "new", "old"), existing, true)
	case Forward, ForwardTransitive:
		return withOldSchema(canRead(existing, candidate, "old", "new"), existing, true)
	case Full, FullTransitive:
		out := withOldSchema(canRead(existing, candidate, "old", "new"), existing, false)
		return append(out, withOldSchema(canRead(candidate, existing, "new", "old"), existing, true)...)
	}
	return nil
}

// withOldSchema appends the earlier version's number and text to a
// non-empty list of messages, as SchemaValidatorBuilder.formatErrorMessages.
func withOldSchema(msgs []string, existing *Parsed, appendSchema bool) []string {
	if len(msgs) == 0 || !appendSchema {
		return msgs
	}
	if existing.version > 0 {
		msgs = append(msgs, "{oldSchemaVersion: "+strconv.Itoa(existing.version)+"}")
	}
	if text, cut := javaStringPrefix(existing.canonical, maxSchemaForLogging); cut {
		msgs = append(msgs, "{oldSchema: <truncated> '"+text+"...'}")
	} else {
		msgs = append(msgs, "{oldSchema: '"+text+"'}")
	}
	return msgs
}

// canRead returns the messages of reader.isBackwardCompatible(writer): why
// data written with writer cannot be read with reader. The words name the
// reader and the writer in the messages ("new"/"old").
func canRead(reader, writer *Parsed, readerWord, writerWord string) (msgs []string) {
	defer func() {
		if r := recover(); r != nil {
			msgs = []string{fmt.Sprintf("Unexpected exception during compatibility check: %v", r)}
		}
	}()
	switch reader.typ {
	case TypeAvro:
		return avroIncompatibilities(reader.avro, writer.avro, readerWord, writerWord)
	case TypeProtobuf:
		return protobufIncompatibilities(writer.proto, reader.proto, readerWord, writerWord)
	case TypeJSON:
		return jsonSchemaIncompatibilities(writer.json, reader.json, readerWord, writerWord)
	}
	return nil
}

// Details returns the list Confluent reports for an incompatible
// registration or a verbose compatibility check: the messages of Check
// followed by "{validateFields: 'false', compatibility: 'LEVEL'}". It
// returns an empty list for an empty msgs.
func Details(level Level, msgs []string) []string {
	if len(msgs) == 0 {
		return []string{}
	}
	out := append([]string{}, msgs...)
	return append(out, fmt.Sprintf("{validateFields: 'false', compatibility: '%s'}", level))
}

// IncompatibleMessage returns the message of Confluent's 409 (error code
// 409) answer to a registration rejected with the given details (see
// Details).
func IncompatibleMessage(subject string, details []string) string {
	return "Schema being registered is incompatible with an earlier schema for subject \"" +
		subject + "\", details: [" + strings.Join(details, ", ") + "]"
}

// sortedKeys returns the keys of a map in sorted order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
