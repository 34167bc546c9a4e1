package main

// Schema registry formats of produce and consume: --value-format and
// --key-format avro, json-schema and protobuf write and read records in
// Confluent's wire format (a 0 magic byte, the 4-byte big-endian schema
// id, for Protobuf the message indexes, then the payload), as Confluent's
// kafka-avro-console-producer and kafka-avro-console-consumer (and their
// JSON Schema and Protobuf siblings) do.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bufbuild/protocompile"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	// goavro, not hamba/avro (which the serde package uses): only goavro
	// implements Avro's JSON encoding (unions as {"type": value}, bytes as
	// strings of code points 0-255) in both directions, which is what the
	// console tools read and print; hamba/avro has no Avro-JSON codec.
	"github.com/linkedin/goavro/v2"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/serde"
)

// schemaRegistryEnv names the environment variable that is the default of
// --schema-registry.
const schemaRegistryEnv = "KAFKABOOT_SCHEMA_REGISTRY_URL"

// The formats of --value-format and --key-format.
const (
	formatString     = "string" // the bytes as they are
	formatAvro       = "avro"
	formatJSONSchema = "json-schema"
	formatProtobuf   = "protobuf"
)

// maxReferenceDepth bounds how deep schema references are followed.
const maxReferenceDepth = 32

// schemaFlags are the schema registry flags of produce and consume.
type schemaFlags struct {
	registry   string
	cfg        config.SchemaRegistry // parsed from registry by check
	value, key sideFlags
}

// sideFlags are the schema flags of one side of the records, value or key.
// schema, file, id, subject and message are produce's.
type sideFlags struct {
	side     string // "value" or "key"
	format   string
	schema   string // --value-schema; by check, also the text of --value-schema-file
	file     string
	id       int
	idSet    bool
	subject  string
	message  string
	textFrom string // "--value-schema" or "--value-schema-file F", for errors
}

// register adds the flags to fs: the format flags, and with produce the
// schema selection flags.
func (s *schemaFlags) register(fs *flagSet, produce bool) {
	def := ""
	if v, ok := os.LookupEnv(schemaRegistryEnv); ok {
		def = strings.TrimSpace(v)
	}
	fs.StringVar(&s.registry, "schema-registry", def, "schema registry `URL` (comma-separated for several; http://user:password@host:port for basic authentication) of the avro, json-schema and protobuf formats (default: $"+schemaRegistryEnv+", not shown as it may hold a password)")
	s.value.side, s.key.side = "value", "key"
	for _, sf := range []*sideFlags{&s.value, &s.key} {
		p := sf.side
		if produce {
			fs.StringVar(&sf.format, p+"-format", formatString, "`F`: string sends the "+p+" text as it is; avro, json-schema or protobuf read it as JSON and send it in the schema registry wire format")
			fs.StringVar(&sf.schema, p+"-schema", "", "register the "+p+" schema `TEXT` under the subject and write with it")
			fs.StringVar(&sf.file, p+"-schema-file", "", "register the "+p+" schema in `FILE` under the subject and write with it")
			fs.IntVar(&sf.id, p+"-schema-id", 0, "write "+p+"s with the registered schema of id `N` (default: with neither --"+p+"-schema nor --"+p+"-schema-file, the subject's latest version)")
			fs.StringVar(&sf.subject, p+"-subject", "", "the "+p+" schema's `subject` (default: <topic>-"+p+")")
			fs.StringVar(&sf.message, p+"-message", "", "protobuf: the message `NAME` of the "+p+" schema to write (default: its first message)")
		} else {
			fs.StringVar(&sf.format, p+"-format", formatString, "`F`: string prints "+p+"s as they are; avro, json-schema or protobuf decode them with their writer's schema from the registry and print JSON")
		}
	}
}

// schemaType is the registry's type of a schema format.
func schemaType(format string) sr.SchemaType {
	switch format {
	case formatProtobuf:
		return sr.TypeProtobuf
	case formatJSONSchema:
		return sr.TypeJSON
	}
	return sr.TypeAvro
}

// check validates the flags once fs is parsed and reads the schema files;
// its errors are usage errors naming the flag. hasKey tells whether
// produce's lines have keys (--key-separator).
func (s *schemaFlags) check(fs *flagSet, produce, hasKey bool) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	needRegistry := false
	for _, sf := range []*sideFlags{&s.value, &s.key} {
		p := "--" + sf.side
		switch sf.format {
		case formatString:
		case formatAvro, formatJSONSchema, formatProtobuf:
			needRegistry = true
			if strings.TrimSpace(s.registry) == "" {
				return usageErrorf(fs.cmd, "%s-format %s needs --schema-registry URL (or $%s)", p, sf.format, schemaRegistryEnv)
			}
		default:
			return usageErrorf(fs.cmd, "%s-format %q: want string, avro, json-schema or protobuf", p, sf.format)
		}
		if !produce {
			continue
		}
		var given []string
		for _, n := range []string{"-schema", "-schema-file", "-schema-id"} {
			if set[sf.side+n] {
				given = append(given, p+n)
			}
		}
		if sf.format == formatString {
			for _, n := range []string{"-schema", "-schema-file", "-schema-id", "-subject", "-message"} {
				if set[sf.side+n] {
					return usageErrorf(fs.cmd, "%s%s needs %s-format avro, json-schema or protobuf", p, n, p)
				}
			}
			continue
		}
		sf.idSet = set[sf.side+"-schema-id"]
		switch {
		case len(given) > 1:
			return usageErrorf(fs.cmd, "%s exclude each other", strings.Join(given, " and "))
		case set[sf.side+"-message"] && sf.format != formatProtobuf:
			return usageErrorf(fs.cmd, "%s-message needs %s-format protobuf", p, p)
		case sf.idSet && sf.id <= 0:
			return usageErrorf(fs.cmd, "%s-schema-id %d: want a positive schema id", p, sf.id)
		case sf.idSet && set[sf.side+"-subject"]:
			return usageErrorf(fs.cmd, "%s-subject has no use with %s-schema-id (the id names the schema)", p, p)
		case sf.side == "key" && !hasKey:
			return usageErrorf(fs.cmd, "--key-format %s needs --key-separator: the key is the part of a line before it", sf.format)
		case set[sf.side+"-schema"]:
			sf.textFrom = p + "-schema"
		case set[sf.side+"-schema-file"]:
			b, err := os.ReadFile(sf.file)
			if err != nil {
				return usageErrorf(fs.cmd, "%s-schema-file: %v", p, err)
			}
			sf.schema, sf.textFrom = string(b), p+"-schema-file "+sf.file
		}
		if sf.textFrom != "" && strings.TrimSpace(sf.schema) == "" {
			return usageErrorf(fs.cmd, "%s: the schema is empty", sf.textFrom)
		}
	}
	if !needRegistry {
		return nil
	}
	cfg, err := parseRegistryURLs(s.registry)
	if err != nil {
		return usageErrorf(fs.cmd, "--schema-registry: %v", err)
	}
	s.cfg = cfg
	return nil
}

// parseRegistryURLs parses --schema-registry; user information in a URL
// becomes basic authentication.
func parseRegistryURLs(list string) (config.SchemaRegistry, error) {
	var cfg config.SchemaRegistry
	for u := range strings.SplitSeq(list, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return cfg, fmt.Errorf("%q is not an http:// or https:// URL", u)
		}
		if pu.User != nil {
			pw, _ := pu.User.Password()
			cfg.BasicAuthUserInfo = pu.User.Username() + ":" + pw
			pu.User = nil
		}
		cfg.URL = append(cfg.URL, strings.TrimSuffix(pu.String(), "/"))
	}
	if len(cfg.URL) == 0 {
		return cfg, errors.New("no URL")
	}
	return cfg, nil
}

// registry reads and registers schemas; every request is bounded by
// --command-timeout.
type registry struct {
	cl   *sr.Client
	cf   *clientFlags
	urls string
}

// newRegistry returns the registry of --schema-registry.
func (s *schemaFlags) newRegistry(cf *clientFlags) (*registry, error) {
	cl, err := serde.NewSRClient(s.cfg)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return &registry{cl: cl, cf: cf, urls: strings.Join(s.cfg.URL, ",")}, nil
}

// registryError is a failure of the registry (unreachable, refusing, a
// server error), not a 404 for an unknown subject, version or id.
type registryError struct{ err error }

func (e *registryError) Error() string { return e.err.Error() }
func (e *registryError) Unwrap() error { return e.err }

// failed returns err, the error of a request, as it is when it is a 404,
// else as a *registryError with a hint when the registry could not be
// reached.
func (g *registry) failed(err error) error {
	if isNotFound(err) {
		return err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (is a schema registry running at %s?)", err, g.urls)
	}
	return &registryError{err}
}

// byID fetches the schema with id.
func (g *registry) byID(ctx context.Context, id int) (sr.Schema, error) {
	ctx, cancel := g.cf.withTimeout(ctx)
	defer cancel()
	s, err := g.cl.SchemaByID(ctx, id)
	if err != nil {
		return s, fmt.Errorf("schema id %d: %w", id, g.failed(err))
	}
	return s, nil
}

// byVersion fetches a version of subject; -1 is the latest.
func (g *registry) byVersion(ctx context.Context, subject string, version int) (sr.SubjectSchema, error) {
	ctx, cancel := g.cf.withTimeout(ctx)
	defer cancel()
	ss, err := g.cl.SchemaByVersion(ctx, subject, version)
	if err != nil {
		return ss, g.failed(err)
	}
	return ss, nil
}

// register registers s under subject, unless it is there already, and
// returns its id.
func (g *registry) register(ctx context.Context, subject string, s sr.Schema) (int, error) {
	ctx, cancel := g.cf.withTimeout(ctx)
	defer cancel()
	id, err := g.cl.RegisterSchema(ctx, subject, s, -1, -1)
	if err != nil {
		return 0, g.failed(err)
	}
	return id, nil
}

// namedSchema is a referenced schema: the name the referencing schema
// knows it by (an Avro type name, a .proto import path, a JSON Schema
// $ref) and its text.
type namedSchema struct{ name, text string }

// references returns the schemas refs name, recursively and each once, a
// schema's own references before it.
func (g *registry) references(ctx context.Context, refs []sr.SchemaReference) ([]namedSchema, error) {
	var (
		out  []namedSchema
		seen = map[string]bool{}
		walk func([]sr.SchemaReference, int) error
	)
	walk = func(refs []sr.SchemaReference, depth int) error {
		if len(refs) > 0 && depth >= maxReferenceDepth {
			return fmt.Errorf("schema references nested deeper than %d", maxReferenceDepth)
		}
		for _, ref := range refs {
			key := ref.Subject + "\x00" + strconv.Itoa(ref.Version)
			if seen[key] {
				continue
			}
			seen[key] = true
			ss, err := g.byVersion(ctx, ref.Subject, ref.Version)
			if err != nil {
				return fmt.Errorf("reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err)
			}
			if err := walk(ss.References, depth+1); err != nil {
				return err
			}
			out = append(out, namedSchema{name: ref.Name, text: ss.Schema.Schema})
		}
		return nil
	}
	return out, walk(refs, 0)
}

// isNotFound reports whether err is the registry's 404 (unknown subject,
// version or schema id).
func isNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode/100 == 404)
}

// ---------------------------------------------------------------------------
// parsed schemas

// parsedSchema is a schema of one format, ready to encode and decode.
type parsedSchema struct {
	format   string
	avro     *goavro.Codec
	avroJSON *avroJSON
	json     *jsonschema.Schema
	proto    protoreflect.FileDescriptor
}

// parseSchema parses text, whose references refs holds, as a schema of
// format.
func parseSchema(ctx context.Context, format, text string, refs []namedSchema) (ps *parsedSchema, err error) {
	defer func() { // schemas come from the registry: never crash on one
		if r := recover(); r != nil {
			ps, err = nil, fmt.Errorf("%s schema parser panicked: %v", format, r)
		}
	}()
	ps = &parsedSchema{format: format}
	switch format {
	case formatAvro:
		if len(refs) > 0 {
			if text, err = inlineAvroReferences(text, refs); err != nil {
				return nil, fmt.Errorf("invalid Avro schema: %w", err)
			}
		}
		if ps.avro, err = goavro.NewCodec(text); err != nil {
			return nil, fmt.Errorf("invalid Avro schema: %w", err)
		}
		if ps.avroJSON, err = newAvroJSON(text); err != nil {
			return nil, fmt.Errorf("invalid Avro schema: %w", err)
		}
	case formatJSONSchema:
		if ps.json, err = compileJSONSchema(text, refs); err != nil {
			return nil, fmt.Errorf("invalid JSON Schema: %w", err)
		}
	case formatProtobuf:
		if ps.proto, err = compileProto(ctx, text, refs); err != nil {
			return nil, fmt.Errorf("invalid Protobuf schema: %w", err)
		}
	}
	return ps, nil
}

// jsonSchemaRoot is the URL a JSON Schema is compiled as.
const jsonSchemaRoot = "mem://schema-registry/schema.json"

// compileJSONSchema compiles a JSON Schema (draft 7 unless it says
// otherwise, as Confluent's); a $ref resolves to a reference by its name
// (the URL itself or its last path segments) and to nothing else.
func compileJSONSchema(text string, refs []namedSchema) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	docs := map[string]any{}
	for _, r := range refs {
		d, err := jsonschema.UnmarshalJSON(strings.NewReader(r.text))
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.name, err)
		}
		docs[r.name] = d
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(refLoader(docs))
	if err := c.AddResource(jsonSchemaRoot, doc); err != nil {
		return nil, err
	}
	return c.Compile(jsonSchemaRoot)
}

// refLoader loads a JSON Schema's references by name.
type refLoader map[string]any

// Load implements jsonschema.URLLoader.
func (l refLoader) Load(u string) (any, error) {
	for name, doc := range l {
		if u == name || strings.HasSuffix(u, "/"+strings.TrimPrefix(name, "/")) {
			return doc, nil
		}
	}
	return nil, fmt.Errorf("$ref %q is not a reference of the schema", u)
}

// compileProto compiles the .proto text of a schema; its imports are its
// references (by name) and Google's well-known files.
func compileProto(ctx context.Context, text string, refs []namedSchema) (protoreflect.FileDescriptor, error) {
	srcs := map[string]string{}
	for _, r := range refs {
		srcs[r.name] = r.text
	}
	protoRoot := "schema.proto" // the name errors show
	if _, ok := srcs[protoRoot]; ok {
		protoRoot = "kafkaboot-schema-registry-schema.proto"
	}
	srcs[protoRoot] = text
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
		MaxParallelism: 1,
	}
	files, err := c.Compile(ctx, protoRoot)
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// findMessage returns the message of fd named name, a full name or one
// relative to fd's package; "" is the first message.
func findMessage(fd protoreflect.FileDescriptor, name string) (protoreflect.MessageDescriptor, error) {
	if name == "" {
		if fd.Messages().Len() == 0 {
			return nil, errors.New("the schema has no message")
		}
		return fd.Messages().Get(0), nil
	}
	name = strings.TrimPrefix(name, ".")
	want := []protoreflect.FullName{protoreflect.FullName(name)}
	if pkg := fd.Package(); pkg != "" {
		want = append(want, pkg+"."+protoreflect.FullName(name))
	}
	var (
		found protoreflect.MessageDescriptor
		names []string
		walk  func(protoreflect.MessageDescriptors)
	)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			names = append(names, string(m.FullName()))
			for _, w := range want {
				if found == nil && m.FullName() == w {
					found = m
				}
			}
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	if found == nil {
		return nil, fmt.Errorf("no message %q in the schema (it has %s)", name, strings.Join(names, ", "))
	}
	return found, nil
}

// messageIndexes returns the path of md in its file: the index of each
// enclosing message, then md's.
func messageIndexes(md protoreflect.MessageDescriptor) []int {
	var index []int
	var d protoreflect.Descriptor = md
	for {
		index = append([]int{d.Index()}, index...)
		parent, ok := d.Parent().(protoreflect.MessageDescriptor)
		if !ok {
			return index
		}
		d = parent
	}
}

// maxIndexDepth bounds the message indexes a record may carry (nesting
// deeper than any schema has).
const maxIndexDepth = 64

// messageAt returns the message at index in fd.
func messageAt(fd protoreflect.FileDescriptor, index []int) (protoreflect.MessageDescriptor, error) {
	ms := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range index {
		if i < 0 || i >= ms.Len() {
			return nil, fmt.Errorf("message indexes %v are not in the writer's schema", index)
		}
		md = ms.Get(i)
		ms = md.Messages()
	}
	if md == nil {
		return nil, errors.New("empty message indexes")
	}
	return md, nil
}

// ---------------------------------------------------------------------------
// produce

// recordEncoder encodes the JSON text of the values and keys produce
// writes; a nil side is written as it is.
type recordEncoder struct {
	value, key *schemaWriter
}

// encoder returns the encoder of the format flags for records to topic,
// registering or fetching the schemas; nil when both formats are string.
func (s *schemaFlags) encoder(ctx context.Context, cf *clientFlags, topic string) (*recordEncoder, error) {
	if s.value.format == formatString && s.key.format == formatString {
		return nil, nil
	}
	g, err := s.newRegistry(cf)
	if err != nil {
		return nil, err
	}
	e := &recordEncoder{}
	for _, side := range []struct {
		sf *sideFlags
		w  **schemaWriter
	}{{&s.value, &e.value}, {&s.key, &e.key}} {
		if side.sf.format == formatString {
			continue
		}
		if *side.w, err = g.writer(ctx, topic, side.sf); err != nil {
			return nil, fmt.Errorf("%s schema: %w", side.sf.side, err)
		}
	}
	return e, nil
}

// encode replaces r's value and key, JSON text, by their encoding.
func (e *recordEncoder) encode(r *kgo.Record) error {
	if e == nil {
		return nil
	}
	if e.value != nil {
		v, err := e.value.encode(r.Value)
		if err != nil {
			return fmt.Errorf("value: %w", err)
		}
		r.Value = v
	}
	if e.key != nil && r.Key != nil {
		k, err := e.key.encode(r.Key)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		r.Key = k
	}
	return nil
}

// schemaWriter encodes one side of the records with one schema.
type schemaWriter struct {
	id     int
	schema *parsedSchema
	msg    protoreflect.MessageDescriptor // protobuf: the message written
	index  []byte                         // protobuf: its framed indexes
}

// writer picks the schema of sf: its text registered under the subject,
// the schema of its id, or the subject's latest version.
func (g *registry) writer(ctx context.Context, topic string, sf *sideFlags) (*schemaWriter, error) {
	subject := sf.subject
	if subject == "" {
		subject = topic + "-" + sf.side // Confluent's TopicNameStrategy
	}
	w := &schemaWriter{}
	var err error
	switch {
	case sf.textFrom != "":
		// Parse first: a schema that does not parse is not registered.
		if w.schema, err = parseSchema(ctx, sf.format, sf.schema, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", sf.textFrom, err)
		}
		if w.id, err = g.register(ctx, subject, sr.Schema{Schema: sf.schema, Type: schemaType(sf.format)}); err != nil {
			return nil, fmt.Errorf("registering %s under subject %q: %w", sf.textFrom, subject, err)
		}
	case sf.idSet:
		s, err := g.byID(ctx, sf.id)
		if err != nil {
			return nil, err
		}
		if w.schema, err = g.parse(ctx, sf.format, s); err != nil {
			return nil, fmt.Errorf("schema id %d: %w", sf.id, err)
		}
		w.id = sf.id
	default:
		ss, err := g.byVersion(ctx, subject, -1)
		if isNotFound(err) {
			return nil, fmt.Errorf("subject %q has no schema to write with; register one with --%s-schema or --%s-schema-file, or give --%s-schema-id: %w", subject, sf.side, sf.side, sf.side, err)
		}
		if err != nil {
			return nil, fmt.Errorf("latest version of subject %q: %w", subject, err)
		}
		if w.schema, err = g.parse(ctx, sf.format, ss.Schema); err != nil {
			return nil, fmt.Errorf("subject %q version %d (schema id %d): %w", subject, ss.Version, ss.ID, err)
		}
		w.id = ss.ID
	}
	if sf.format == formatProtobuf {
		if w.msg, err = findMessage(w.schema.proto, sf.message); err != nil {
			return nil, fmt.Errorf("--%s-message: %w", sf.side, err)
		}
		// franz-go's framing of the indexes, without the 5-byte header.
		framed, _ := new(sr.ConfluentHeader).AppendEncode(nil, 0, messageIndexes(w.msg))
		w.index = framed[5:]
	}
	return w, nil
}

// parse parses s, a schema from the registry, as format, with its
// references; a schema of another type is an error.
func (g *registry) parse(ctx context.Context, format string, s sr.Schema) (*parsedSchema, error) {
	if want := schemaType(format); s.Type != want {
		return nil, fmt.Errorf("it is a %s schema, not %s", s.Type, want)
	}
	refs, err := g.references(ctx, s.References)
	if err != nil {
		return nil, err
	}
	return parseSchema(ctx, format, s.Schema, refs)
}

// encode returns one value or key, JSON text, in the wire format.
func (w *schemaWriter) encode(text []byte) ([]byte, error) {
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return nil, errors.New("empty, want JSON text")
	}
	if !json.Valid(text) {
		var v json.RawMessage
		return nil, fmt.Errorf("invalid JSON: %w", json.Unmarshal(text, &v))
	}
	out := make([]byte, 5, 5+len(w.index)+len(text))
	out[0] = 0 // magic byte
	binary.BigEndian.PutUint32(out[1:], uint32(w.id))
	switch w.schema.format {
	case formatAvro:
		in, err := w.schema.avroJSON.toGoavro(text)
		if err != nil {
			return nil, fmt.Errorf("does not match the Avro schema (id %d): %w", w.id, err)
		}
		native, rest, err := w.schema.avro.NativeFromTextual(in)
		if err != nil {
			return nil, fmt.Errorf("does not match the Avro schema (id %d): %w", w.id, err)
		}
		if rest = bytes.TrimSpace(rest); len(rest) > 0 {
			return nil, fmt.Errorf("does not match the Avro schema (id %d): unexpected %.20q after the value", w.id, rest)
		}
		out, err = w.schema.avro.BinaryFromNative(out, native)
		if err != nil {
			return nil, fmt.Errorf("does not match the Avro schema (id %d): %w", w.id, err)
		}
		return out, nil
	case formatJSONSchema:
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if err := w.schema.json.Validate(inst); err != nil {
			return nil, fmt.Errorf("does not match the JSON Schema (id %d): %w", w.id, validationError{err})
		}
		var b bytes.Buffer
		b.Write(out)
		if err := json.Compact(&b, text); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return b.Bytes(), nil
	default: // protobuf
		m := dynamicpb.NewMessage(w.msg)
		if err := protojson.Unmarshal(text, m); err != nil {
			return nil, fmt.Errorf("does not match Protobuf message %s (schema id %d): %w", w.msg.FullName(), w.id, err)
		}
		b, err := proto.MarshalOptions{}.MarshalAppend(append(out, w.index...), m)
		if err != nil {
			return nil, fmt.Errorf("protobuf message %s: %w", w.msg.FullName(), err)
		}
		return b, nil
	}
}

// validationError is a JSON Schema validation error printed on one line.
type validationError struct{ err error }

func (e validationError) Unwrap() error { return e.err }

// Error returns the causes of the validation error on one line: "at
// '/qty': minimum: got 0, want 1; at '/id': ...".
func (e validationError) Error() string {
	err := e.err
	var causes []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "jsonschema validation failed") {
			continue
		}
		causes = append(causes, strings.TrimPrefix(l, "- "))
	}
	if len(causes) == 0 {
		return strings.TrimSpace(err.Error())
	}
	return strings.Join(causes, "; ")
}

// ---------------------------------------------------------------------------
// consume

// recordDecoder decodes the keys and values consume prints; a nil side is
// printed as it is.
type recordDecoder struct {
	value, key *schemaReader
}

// decoder returns the decoder of the format flags for the template tmpl
// (a side the template does not print is not decoded); nil when there is
// nothing to decode.
func (s *schemaFlags) decoder(cf *clientFlags, tmpl recordFormat) (*recordDecoder, error) {
	useValue := s.value.format != formatString && tmpl.uses('v')
	useKey := s.key.format != formatString && tmpl.uses('k')
	if !useValue && !useKey {
		return nil, nil
	}
	g, err := s.newRegistry(cf)
	if err != nil {
		return nil, err
	}
	d := &recordDecoder{}
	if useValue {
		d.value = &schemaReader{side: "value", format: s.value.format, reg: g, byID: map[int]readerEntry{}}
	}
	if useKey {
		d.key = &schemaReader{side: "key", format: s.key.format, reg: g, byID: map[int]readerEntry{}}
	}
	return d, nil
}

// undecodableError is a record consume cannot decode: not in the wire
// format, of an unknown schema id, of a schema of another format or that
// does not parse, or with a payload the schema does not decode. The
// consumer reports it and goes on.
type undecodableError struct{ err error }

func (e *undecodableError) Error() string { return e.err.Error() }
func (e *undecodableError) Unwrap() error { return e.err }

// decode returns r with its value and key decoded to JSON text, or r itself
// when d is nil. Registry failures other than a 404 are returned as they
// are: the record is not at fault.
func (d *recordDecoder) decode(ctx context.Context, r *kgo.Record) (*kgo.Record, error) {
	if d == nil {
		return r, nil
	}
	out := *r
	if d.value != nil && r.Value != nil {
		v, err := d.value.decode(ctx, r.Value)
		if err != nil {
			return nil, err
		}
		out.Value = v
	}
	if d.key != nil && r.Key != nil {
		k, err := d.key.decode(ctx, r.Key)
		if err != nil {
			return nil, err
		}
		out.Key = k
	}
	return &out, nil
}

// schemaReader decodes one side of records with the writer's schemas,
// fetched by id once each.
type schemaReader struct {
	side, format string
	reg          *registry
	byID         map[int]readerEntry
}

// readerEntry is a schema id's parsed schema, or why it cannot be used.
type readerEntry struct {
	schema *parsedSchema
	err    error
}

// schema returns the parsed schema of id; errors the record is at fault
// for are *undecodableError, and cached.
func (r *schemaReader) schema(ctx context.Context, id int) (*parsedSchema, error) {
	if e, ok := r.byID[id]; ok {
		return e.schema, e.err
	}
	s, err := r.reg.byID(ctx, id)
	var ps *parsedSchema
	if err == nil {
		if ps, err = r.reg.parse(ctx, r.format, s); err == nil {
			r.byID[id] = readerEntry{schema: ps}
			return ps, nil
		}
		err = fmt.Errorf("schema id %d: %w", id, err)
	}
	if errors.As(err, new(*registryError)) {
		return nil, err // the registry failed, not the record: not cached
	}
	e := readerEntry{err: &undecodableError{fmt.Errorf("%s: %w", r.side, err)}}
	r.byID[id] = e
	return nil, e.err
}

// decode returns the JSON text of data, a value or key in the wire format.
func (r *schemaReader) decode(ctx context.Context, data []byte) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return &undecodableError{fmt.Errorf("%s: "+format, append([]any{r.side}, args...)...)}
	}
	switch {
	case len(data) < 5:
		return nil, bad("%d bytes, shorter than the 5-byte header: not in the schema registry wire format", len(data))
	case data[0] != 0:
		return nil, bad("magic byte %d, want 0: not in the schema registry wire format", data[0])
	}
	id := int(binary.BigEndian.Uint32(data[1:5]))
	payload := data[5:]
	var index []int
	if r.format == formatProtobuf {
		var err error
		if index, payload, err = new(sr.ConfluentHeader).DecodeIndex(payload, maxIndexDepth); err != nil {
			return nil, bad("%w: not in the schema registry wire format", err)
		}
	}
	ps, err := r.schema(ctx, id)
	if err != nil {
		return nil, err
	}
	switch r.format {
	case formatAvro:
		native, rest, err := ps.avro.NativeFromBinary(payload)
		if err != nil {
			return nil, bad("does not decode with Avro schema id %d: %w", id, err)
		}
		if len(rest) > 0 {
			return nil, bad("%d bytes after the Avro value of schema id %d", len(rest), id)
		}
		text, err := ps.avro.TextualFromNative(nil, native)
		if err == nil {
			text, err = ps.avroJSON.fromGoavro(text)
		}
		if err != nil {
			return nil, bad("Avro schema id %d: %w", id, err)
		}
		return text, nil
	case formatJSONSchema:
		var b bytes.Buffer
		if err := json.Compact(&b, payload); err != nil {
			return nil, bad("not JSON (schema id %d): %w", id, err)
		}
		return b.Bytes(), nil
	default: // protobuf
		md, err := messageAt(ps.proto, index)
		if err != nil {
			return nil, bad("schema id %d: %w", id, err)
		}
		m := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(payload, m); err != nil {
			return nil, bad("does not decode as Protobuf message %s (schema id %d): %w", md.FullName(), id, err)
		}
		// As Confluent's console consumer: default values included, one line.
		text, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
		if err != nil {
			return nil, bad("Protobuf message %s (schema id %d): %w", md.FullName(), id, err)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, text); err != nil { // protojson may add random spaces
			return nil, bad("Protobuf message %s (schema id %d): %w", md.FullName(), id, err)
		}
		return b.Bytes(), nil
	}
}

// uses reports whether the template prints verb.
func (f recordFormat) uses(verb byte) bool {
	for _, p := range f {
		if p.verb == verb {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Avro JSON text

// escapeNonASCII writes the non-ASCII characters of JSON text as \uXXXX
// escapes. goavro reads a raw character in a bytes string as its UTF-8
// bytes, Avro's Java JSON decoder (and so kafka-avro-console-producer) as
// the one byte of its code point; escaped, goavro reads it so too. For
// strings the escapes change nothing.
func escapeNonASCII(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i == len(b) {
		return b
	}
	out := append(make([]byte, 0, len(b)+16), b[:i]...)
	for _, r := range string(b[i:]) {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// unescapeNonASCII turns the \uXXXX escapes of non-ASCII characters in
// JSON text into the characters (UTF-8), as Avro's Java JSON encoder
// prints them; goavro escapes them all. Escapes of ASCII characters and
// lone surrogates stay.
func unescapeNonASCII(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] != 'u' {
			out = append(out, b[i], b[i+1]) // \" \\ \n ...: keep, and skip the escaped character
			i++
			continue
		}
		r, ok := hex4(b[i+2:])
		if !ok || r < utf8.RuneSelf {
			out = append(out, b[i])
			continue
		}
		if utf16.IsSurrogate(r) {
			if len(b) >= i+12 && b[i+6] == '\\' && b[i+7] == 'u' {
				if r2, ok := hex4(b[i+8:]); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						i += 11
						continue
					}
				}
			}
			out = append(out, b[i])
			continue
		}
		out = utf8.AppendRune(out, r)
		i += 5
	}
	return out
}

// hex4 parses the 4 hexadecimal digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(v), err == nil
}

// isAvroPrimitive reports whether name is an Avro primitive type.
func isAvroPrimitive(name string) bool {
	switch name {
	case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
		return true
	}
	return false
}

// inlineAvroReferences returns the Avro schema text with the named types
// of its references (Confluent's schema references) defined at their
// first use: goavro parses one self-contained schema, where Confluent's
// parser first learns the referenced schemas' types.
func inlineAvroReferences(text string, refs []namedSchema) (string, error) {
	defs := map[string]map[string]any{}
	for _, r := range refs {
		doc, err := decodeJSONNumbers(r.text)
		if err != nil {
			return "", fmt.Errorf("reference %q: %w", r.name, err)
		}
		collectAvroNames(doc, "", defs)
	}
	doc, err := decodeJSONNumbers(text)
	if err != nil {
		return "", err
	}
	doc = inlineAvroNames(doc, "", defs, map[string]bool{}, 0)
	out, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// decodeJSONNumbers decodes JSON text keeping numbers as they are written.
func decodeJSONNumbers(text string) (any, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// avroNameOf returns the full name of a named type's definition m in the
// enclosing namespace ns, and the namespace its fields' types are in.
func avroNameOf(m map[string]any, ns string) (full, inner string) {
	name, _ := m["name"].(string)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name, name[:i]
	}
	if n, ok := m["namespace"].(string); ok {
		ns = n
	}
	if ns == "" {
		return name, ""
	}
	return ns + "." + name, ns
}

// isNamedDefinition reports whether m defines a named type.
func isNamedDefinition(m map[string]any) bool {
	switch m["type"] {
	case "record", "error", "enum", "fixed":
		_, ok := m["name"].(string)
		return ok
	}
	return false
}

// collectAvroNames adds the named types node defines to defs by full name,
// each with its full name as its name so that it can be used anywhere.
func collectAvroNames(node any, ns string, defs map[string]map[string]any) {
	switch n := node.(type) {
	case []any:
		for _, e := range n {
			collectAvroNames(e, ns, defs)
		}
	case map[string]any:
		if isNamedDefinition(n) {
			full, inner := avroNameOf(n, ns)
			if _, ok := defs[full]; !ok {
				c := make(map[string]any, len(n))
				for k, v := range n {
					c[k] = v
				}
				c["name"] = full
				delete(c, "namespace")
				if !strings.Contains(full, ".") {
					c["namespace"] = "" // the null namespace, whatever encloses it
				}
				defs[full] = c
			}
			if fields, ok := n["fields"].([]any); ok {
				for _, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						collectAvroNames(fm["type"], inner, defs)
					}
				}
			}
			return
		}
		switch t := n["type"]; t {
		case "array":
			collectAvroNames(n["items"], ns, defs)
		case "map":
			collectAvroNames(n["values"], ns, defs)
		default:
			collectAvroNames(t, ns, defs)
		}
	}
}

// inlineAvroNames replaces in node the first use of each name defs
// defines, and not node itself, by its definition; defined holds the
// names defined so far. A second definition of a name (one inlined twice)
// becomes the name.
func inlineAvroNames(node any, ns string, defs map[string]map[string]any, defined map[string]bool, depth int) any {
	if depth > 1000 {
		return node
	}
	switch n := node.(type) {
	case string:
		if isAvroPrimitive(n) {
			return n
		}
		cands := []string{n}
		if ns != "" && !strings.Contains(n, ".") {
			cands = []string{ns + "." + n, n}
		}
		for _, c := range cands {
			if defined[c] {
				return n
			}
		}
		for _, c := range cands {
			if def, ok := defs[c]; ok {
				return inlineAvroNames(cloneJSON(def), ns, defs, defined, depth+1)
			}
		}
		return n
	case []any:
		for i, e := range n {
			n[i] = inlineAvroNames(e, ns, defs, defined, depth+1)
		}
		return n
	case map[string]any:
		if isNamedDefinition(n) {
			full, inner := avroNameOf(n, ns)
			if defined[full] {
				return full
			}
			defined[full] = true
			if fields, ok := n["fields"].([]any); ok {
				for _, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						fm["type"] = inlineAvroNames(fm["type"], inner, defs, defined, depth+1)
					}
				}
			}
			return n
		}
		switch t := n["type"]; t {
		case "array":
			n["items"] = inlineAvroNames(n["items"], ns, defs, defined, depth+1)
		case "map":
			n["values"] = inlineAvroNames(n["values"], ns, defs, defined, depth+1)
		case "record", "error", "enum", "fixed", nil:
		default:
			n["type"] = inlineAvroNames(t, ns, defs, defined, depth+1)
		}
		return n
	}
	return node
}

// cloneJSON deep-copies decoded JSON.
func cloneJSON(v any) any {
	switch n := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(n))
		for k, e := range n {
			c[k] = cloneJSON(e)
		}
		return c
	case []any:
		c := make([]any, len(n))
		for i, e := range n {
			c[i] = cloneJSON(e)
		}
		return c
	}
	return v
}

// avroJSON rewrites Avro JSON text between goavro's dialect and Avro's own
// (Java's JSON encoder and decoder, which the console tools use), guided by
// the schema: goavro prints the fields of records and the entries of maps
// in Go's random map order, and names the union branch of a logical type
// "long.timestamp-millis" where Avro says "long". Printed records get
// their fields in schema order and maps their keys sorted.
type avroJSON struct {
	root    any                       // the schema, decoded
	names   map[string]map[string]any // its named types by full name
	renames bool                      // a union has a branch goavro names otherwise
}

// isGoavroLogical reports whether goavro names a union branch of the
// logical type typeDotLogical ("long.timestamp-millis") so, and not by its
// type.
func isGoavroLogical(typeDotLogical string) bool {
	switch typeDotLogical {
	case "long.timestamp-millis", "long.timestamp-micros", "int.time-millis",
		"long.time-micros", "int.date", "bytes.decimal":
		return true
	}
	return false
}

// newAvroJSON returns the rewriter of the Avro schema text.
func newAvroJSON(text string) (*avroJSON, error) {
	root, err := decodeJSONNumbers(text)
	if err != nil {
		return nil, err
	}
	a := &avroJSON{root: root, names: map[string]map[string]any{}}
	collectAvroNames(root, "", a.names)
	a.renames = strings.Contains(text, "logicalType")
	return a, nil
}

// toGoavro rewrites Avro JSON text for goavro to read.
func (a *avroJSON) toGoavro(text []byte) ([]byte, error) {
	if a.renames {
		var err error
		if text, err = a.walk(a.root, "", text, true, 0); err != nil {
			return nil, err
		}
	}
	return escapeNonASCII(text), nil
}

// fromGoavro rewrites the Avro JSON text goavro printed as Avro prints it.
func (a *avroJSON) fromGoavro(text []byte) ([]byte, error) {
	text, err := a.walk(a.root, "", text, false, 0)
	if err != nil {
		return nil, err
	}
	return unescapeNonASCII(text), nil
}

// resolve returns the definition of the named type n used in namespace ns.
func (a *avroJSON) resolve(n, ns string) (map[string]any, bool) {
	if ns != "" && !strings.Contains(n, ".") {
		if d, ok := a.names[ns+"."+n]; ok {
			return d, true
		}
	}
	d, ok := a.names[n]
	return d, ok
}

// branchNames returns the names of a union branch in goavro's and in
// Avro's JSON.
func (a *avroJSON) branchNames(b any, ns string) (goavroName, avroName string) {
	switch s := b.(type) {
	case string:
		if isAvroPrimitive(s) {
			return s, s
		}
		if d, ok := a.resolve(s, ns); ok {
			full, _ := avroNameOf(d, ns)
			return full, full
		}
		return s, s
	case map[string]any:
		if isNamedDefinition(s) {
			full, _ := avroNameOf(s, ns)
			return full, full
		}
		t, _ := s["type"].(string)
		if lt, ok := s["logicalType"].(string); ok && isGoavroLogical(t+"."+lt) {
			return t + "." + lt, t
		}
		if t != "" && !isAvroPrimitive(t) && t != "array" && t != "map" {
			return a.branchNames(t, ns)
		}
		return t, t
	}
	return "", ""
}

// walk rewrites raw, a value of schema in namespace ns; toGoavro tells
// the direction. Values that do not match the schema are left for goavro
// to reject.
func (a *avroJSON) walk(schema any, ns string, raw []byte, toGoavro bool, depth int) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if depth > 1000 {
		return raw, nil
	}
	switch s := schema.(type) {
	case string:
		if isAvroPrimitive(s) {
			return raw, nil
		}
		if d, ok := a.resolve(s, ns); ok {
			return a.walk(d, ns, raw, toGoavro, depth+1)
		}
		return raw, nil
	case []any: // a union: null or {"branch": value}
		keys, vals, ok := jsonObject(raw)
		if !ok || len(keys) != 1 {
			return raw, nil
		}
		for _, b := range s {
			gn, an := a.branchNames(b, ns)
			if keys[0] != gn && keys[0] != an {
				continue
			}
			v, err := a.walk(b, ns, vals[0], toGoavro, depth+1)
			if err != nil {
				return nil, err
			}
			name := an
			if toGoavro {
				name = gn
			}
			return appendJSONObject(nil, []string{name}, [][]byte{v}), nil
		}
		return raw, nil
	case map[string]any:
		switch t := s["type"]; t {
		case "record", "error":
			keys, vals, ok := jsonObject(raw)
			if !ok {
				return raw, nil
			}
			_, inner := avroNameOf(s, ns)
			fields, _ := s["fields"].([]any)
			var outKeys []string
			var outVals [][]byte
			done := make([]bool, len(keys))
			for _, f := range fields { // schema order
				fm, _ := f.(map[string]any)
				name, _ := fm["name"].(string)
				for i, k := range keys {
					if k != name || done[i] {
						continue
					}
					v, err := a.walk(fm["type"], inner, vals[i], toGoavro, depth+1)
					if err != nil {
						return nil, err
					}
					outKeys, outVals, done[i] = append(outKeys, k), append(outVals, v), true
				}
			}
			for i, k := range keys { // not in the schema: for goavro to reject
				if !done[i] {
					outKeys, outVals = append(outKeys, k), append(outVals, vals[i])
				}
			}
			return appendJSONObject(nil, outKeys, outVals), nil
		case "map":
			keys, vals, ok := jsonObject(raw)
			if !ok {
				return raw, nil
			}
			for i := range vals {
				v, err := a.walk(s["values"], ns, vals[i], toGoavro, depth+1)
				if err != nil {
					return nil, err
				}
				vals[i] = v
			}
			if !toGoavro {
				sortEntries(keys, vals)
			}
			return appendJSONObject(nil, keys, vals), nil
		case "array":
			var items []json.RawMessage
			if json.Unmarshal(raw, &items) != nil {
				return raw, nil
			}
			out := []byte{'['}
			for i, it := range items {
				v, err := a.walk(s["items"], ns, it, toGoavro, depth+1)
				if err != nil {
					return nil, err
				}
				if i > 0 {
					out = append(out, ',')
				}
				out = append(out, v...)
			}
			return append(out, ']'), nil
		case "enum", "fixed", nil:
			return raw, nil
		default: // {"type": "long", "logicalType": ...}, {"type": "Name"}, {"type": {...}}
			return a.walk(t, ns, raw, toGoavro, depth+1)
		}
	}
	return raw, nil
}

// jsonObject splits a JSON object into its keys and raw values, in order.
func jsonObject(raw []byte) ([]string, [][]byte, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, nil, false
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if _, err := d.Token(); err != nil {
		return nil, nil, false
	}
	var (
		keys []string
		vals [][]byte
	)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, nil, false
		}
		k, ok := t.(string)
		if !ok {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	if _, err := d.Token(); err != nil {
		return nil, nil, false
	}
	return keys, vals, true
}

// appendJSONObject appends the object of keys and raw values to b.
func appendJSONObject(b []byte, keys []string, vals [][]byte) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, vals[i]...)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as JSON, without escaping <, > and &.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// sortEntries sorts keys, and vals with them.
func sortEntries(keys []string, vals [][]byte) {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return strings.Compare(keys[x], keys[y]) })
	k2, v2 := slices.Clone(keys), slices.Clone(vals)
	for i, j := range idx {
		keys[i], vals[i] = k2[j], v2[j]
	}
}
