package schemacompat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/ast"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Protobuf schemas are compiled with protocompile (references are the
// imports, by import path), which validates them like protoc. The canonical
// text is printed from the parse tree in the layout of Confluent's
// ProtobufSchemaUtils.toString (the text Confluent stores for a Protobuf
// schema): comments and blank lines dropped, two-space indentation, fields
// before oneofs, nested messages before nested enums, "default" and
// "json_name" moved last in a field's options.

// protoParsed is a compiled Protobuf schema.
type protoParsed struct {
	canonical string
	file      protoreflect.FileDescriptor
	// refs maps the path of each referenced file to its subject version.
	refs map[string]protoRefID
}

type protoRefID struct {
	subject string
	version int
}

// maxTagValue is Protobuf's largest field number (wire's MAX_TAG_VALUE).
const maxTagValue = 536870911

func parseProtobuf(text string, refs []flatRef) (*protoParsed, string) {
	// protoc requires UTF-8; protocompile's lexer can fail on invalid
	// UTF-8 at the end of a string literal.
	if !utf8.ValidString(text) {
		return nil, "the schema is not valid UTF-8"
	}
	for _, r := range refs {
		if !utf8.ValidString(r.text) {
			return nil, fmt.Sprintf("reference %q is not valid UTF-8", r.name)
		}
	}
	files := make(map[string]string, len(refs)+1)
	ids := make(map[string]protoRefID, len(refs))
	for _, r := range refs {
		files[r.name] = r.text
		ids[r.name] = protoRefID{subject: r.subject, version: r.version}
	}
	mainName := "schema.proto"
	for files[mainName] != "" {
		mainName = "_" + mainName
	}
	files[mainName] = text
	var firstErr error
	rep := reporter.NewReporter(func(err reporter.ErrorWithPos) error {
		if firstErr == nil {
			firstErr = err
		}
		return err
	}, nil)
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)}),
		MaxParallelism: 1,
		Reporter:       rep,
		RetainASTs:     true,
	}
	res, err := compiler.Compile(context.Background(), mainName)
	if err != nil {
		if firstErr != nil {
			err = firstErr
		}
		msg := err.Error()
		var panicErr protocompile.PanicError
		if errors.As(err, &panicErr) {
			msg = fmt.Sprintf("the Protobuf compiler failed on this input: %v", panicErr.Value)
		}
		return nil, strings.TrimPrefix(msg, mainName+":")
	}
	lr, ok := res[0].(linker.Result)
	if !ok || lr.AST() == nil {
		return nil, "no parse tree for the schema"
	}
	pp := &printer{file: lr.AST()}
	return &protoParsed{canonical: pp.file2string(), file: res[0], refs: ids}, ""
}

// printer prints a parse tree in Confluent's layout.
type printer struct {
	file *ast.FileNode
}

// appendIndented is ProtobufSchemaUtils.appendIndented: every line of value
// indented by two spaces.
func appendIndented(b *strings.Builder, value string) {
	lines := strings.Split(value, "\n")
	if len(lines) > 1 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

// escapeProto is ProtobufSchemaUtils.escapeChars.
func escapeProto(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (p *printer) raw(n ast.Node) string {
	return p.file.NodeInfo(n).RawText()
}

func identText(n ast.IdentValueNode) string {
	if n == nil {
		return ""
	}
	return string(n.AsIdentifier())
}

func (p *printer) file2string() string {
	var b strings.Builder
	f := p.file
	if f.Syntax != nil {
		b.WriteString("syntax = \"" + f.Syntax.Syntax.AsString() + "\";\n")
	} else if f.Edition != nil {
		b.WriteString("edition = \"" + f.Edition.Edition.AsString() + "\";\n")
	}
	var imports, publicImports []string
	var options []*ast.OptionNode
	var messages []*ast.MessageNode
	var enums []*ast.EnumNode
	var extends []*ast.ExtendNode
	var services []*ast.ServiceNode
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.PackageNode:
			b.WriteString("package " + identText(d.Name) + ";\n")
		case *ast.ImportNode:
			if d.Public != nil {
				publicImports = append(publicImports, d.Name.AsString())
			} else {
				imports = append(imports, d.Name.AsString())
			}
		case *ast.OptionNode:
			options = append(options, d)
		case *ast.MessageNode:
			messages = append(messages, d)
		case *ast.EnumNode:
			enums = append(enums, d)
		case *ast.ExtendNode:
			extends = append(extends, d)
		case *ast.ServiceNode:
			services = append(services, d)
		}
	}
	if len(imports)+len(publicImports) > 0 {
		b.WriteByte('\n')
		for _, i := range imports {
			b.WriteString("import \"" + i + "\";\n")
		}
		for _, i := range publicImports {
			b.WriteString("import public \"" + i + "\";\n")
		}
	}
	if len(options) > 0 {
		b.WriteByte('\n')
		for _, o := range options {
			b.WriteString(p.optionStatement(o))
		}
	}
	if len(messages)+len(enums) > 0 {
		b.WriteByte('\n')
		for _, m := range messages {
			b.WriteString(p.message(m.Name.Val, m.Decls))
		}
		for _, e := range enums {
			b.WriteString(p.enum(e))
		}
	}
	if len(extends) > 0 {
		b.WriteByte('\n')
		for _, e := range extends {
			b.WriteString(p.extend(e))
		}
	}
	if len(services) > 0 {
		b.WriteByte('\n')
		for _, s := range services {
			b.WriteString(p.service(s))
		}
	}
	return b.String()
}

func (p *printer) message(name string, decls []ast.MessageElement) string {
	var b strings.Builder
	b.WriteString("message " + name + " {")
	var reserved []*ast.ReservedNode
	var options []*ast.OptionNode
	var fields []string
	var oneofs []*ast.OneofNode
	var groups []*ast.GroupNode
	var extensions []*ast.ExtensionRangeNode
	var extends []*ast.ExtendNode
	var messages []*ast.MessageNode
	var enums []*ast.EnumNode
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.ReservedNode:
			reserved = append(reserved, d)
		case *ast.OptionNode:
			options = append(options, d)
		case *ast.FieldNode:
			fields = append(fields, p.field(d))
		case *ast.MapFieldNode:
			fields = append(fields, p.mapField(d))
		case *ast.OneofNode:
			oneofs = append(oneofs, d)
		case *ast.GroupNode:
			groups = append(groups, d)
		case *ast.ExtensionRangeNode:
			extensions = append(extensions, d)
		case *ast.ExtendNode:
			extends = append(extends, d)
		case *ast.MessageNode:
			messages = append(messages, d)
		case *ast.EnumNode:
			enums = append(enums, d)
		}
	}
	if len(reserved) > 0 {
		b.WriteByte('\n')
		for _, r := range reserved {
			appendIndented(&b, p.reserved(r))
		}
	}
	if len(options) > 0 {
		b.WriteByte('\n')
		for _, o := range options {
			appendIndented(&b, p.optionStatement(o))
		}
	}
	if len(fields) > 0 {
		b.WriteByte('\n')
		for _, f := range fields {
			appendIndented(&b, f)
		}
	}
	if len(oneofs) > 0 {
		b.WriteByte('\n')
		for _, o := range oneofs {
			appendIndented(&b, p.oneof(o))
		}
	}
	if len(groups) > 0 {
		b.WriteByte('\n')
		for _, g := range groups {
			appendIndented(&b, p.group(g))
		}
	}
	if len(extensions) > 0 {
		b.WriteByte('\n')
		for _, e := range extensions {
			appendIndented(&b, p.extensions(e))
		}
	}
	if len(extends) > 0 {
		b.WriteByte('\n')
		for _, e := range extends {
			appendIndented(&b, p.extend(e))
		}
	}
	if len(messages)+len(enums) > 0 {
		b.WriteByte('\n')
		for _, m := range messages {
			appendIndented(&b, p.message(m.Name.Val, m.Decls))
		}
		for _, e := range enums {
			appendIndented(&b, p.enum(e))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (p *printer) rangeValue(r *ast.RangeNode) string {
	start := p.intValue(r.StartVal)
	if r.To == nil {
		return start
	}
	if r.Max != nil {
		return start + " to max"
	}
	end := p.intValue(r.EndVal)
	if n, err := strconv.ParseInt(end, 10, 64); err == nil && n >= maxTagValue {
		return start + " to max"
	}
	return start + " to " + end
}

func (p *printer) intValue(v ast.IntValueNode) string {
	if v == nil {
		return ""
	}
	if n, ok := v.AsInt64(); ok {
		return strconv.FormatInt(n, 10)
	}
	u, _ := v.AsUint64()
	return strconv.FormatUint(u, 10)
}

func (p *printer) reserved(r *ast.ReservedNode) string {
	var parts []string
	for _, rg := range r.Ranges {
		parts = append(parts, p.rangeValue(rg))
	}
	for _, n := range r.Names {
		parts = append(parts, "\""+n.AsString()+"\"")
	}
	for _, n := range r.Identifiers {
		parts = append(parts, "\""+n.Val+"\"")
	}
	return "reserved " + strings.Join(parts, ", ") + ";\n"
}

func (p *printer) extensions(e *ast.ExtensionRangeNode) string {
	var parts []string
	for _, rg := range e.Ranges {
		parts = append(parts, p.rangeValue(rg))
	}
	s := "extensions " + strings.Join(parts, ", ")
	if e.Options != nil && len(e.Options.Options) > 0 {
		s += " " + p.compactOptions(e.Options.Options)
	}
	return s + ";\n"
}

func labelText(l ast.FieldLabel) string {
	if l.KeywordNode == nil {
		return ""
	}
	return l.Val + " "
}

func (p *printer) field(f *ast.FieldNode) string {
	return labelText(f.Label) + p.fieldRest(identText(f.FldType), f.Name.Val, f.Tag, f.Options)
}

func (p *printer) mapField(f *ast.MapFieldNode) string {
	typ := "map<" + f.MapType.KeyType.Val + ", " + identText(f.MapType.ValueType) + ">"
	return p.fieldRest(typ, f.Name.Val, f.Tag, f.Options)
}

// fieldRest prints "type name = tag [options];", with the default value and
// json_name last, as wire keeps them apart from the other options.
func (p *printer) fieldRest(typ, name string, tag *ast.UintLiteralNode, opts *ast.CompactOptionsNode) string {
	s := typ + " " + name + " = " + strconv.FormatUint(tag.Val, 10)
	var others, def, jsonName []*ast.OptionNode
	if opts != nil {
		for _, o := range opts.Options {
			switch optionName(o) {
			case "default":
				def = append(def, o)
			case "json_name":
				jsonName = append(jsonName, o)
			default:
				others = append(others, o)
			}
		}
	}
	var rendered []string
	for _, o := range others {
		rendered = append(rendered, p.option(o))
	}
	for _, o := range def {
		rendered = append(rendered, "default = "+p.defaultValue(typ, o.Val))
	}
	for _, o := range jsonName {
		rendered = append(rendered, "json_name = \""+escapeProto(p.valueString(o.Val))+"\"")
	}
	if len(rendered) > 0 {
		s += " " + bracketList(rendered)
	}
	return s + ";\n"
}

// defaultValue prints a field default as wire does: by the kind of the
// field type (string quoted, bool and enum bare, numbers and bytes raw).
func (p *printer) defaultValue(typ string, v ast.ValueNode) string {
	switch typ {
	case "string":
		return "\"" + escapeProto(p.valueString(v)) + "\""
	case "bytes":
		return p.valueString(v)
	}
	return p.scalar(v)
}

// bracketList is ProtobufSchemaUtils.appendOptions.
func bracketList(items []string) string {
	if len(items) == 1 {
		return "[" + items[0] + "]"
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		appendIndented(&b, it)
	}
	b.WriteByte(']')
	return b.String()
}

func (p *printer) compactOptions(opts []*ast.OptionNode) string {
	rendered := make([]string, 0, len(opts))
	for _, o := range opts {
		rendered = append(rendered, p.option(o))
	}
	return bracketList(rendered)
}

func optionName(o *ast.OptionNode) string {
	var parts []string
	for _, part := range o.Name.Parts {
		n := identText(part.Name)
		if part.IsExtension() {
			n = "(" + n + ")"
		}
		parts = append(parts, n)
	}
	return strings.Join(parts, ".")
}

func (p *printer) optionStatement(o *ast.OptionNode) string {
	return "option " + p.option(o) + ";\n"
}

// option prints "name = value" as ProtobufSchemaUtils.toString(OptionElement).
func (p *printer) option(o *ast.OptionNode) string {
	name := optionName(o)
	switch v := o.Val.(type) {
	case *ast.MessageLiteralNode:
		var b strings.Builder
		b.WriteString(name + " = {\n")
		p.messageLiteral(&b, v)
		b.WriteByte('}')
		return b.String()
	case *ast.ArrayLiteralNode:
		items := make([]string, 0, len(v.Elements))
		for _, el := range v.Elements {
			items = append(items, p.literalValue(el))
		}
		return name + " = " + bracketList(items)
	case ast.StringValueNode:
		return name + " = \"" + escapeProto(v.AsString()) + "\""
	}
	return name + " = " + p.scalar(o.Val)
}

// messageLiteral is formatOptionMap: "key: value" lines, comma separated; a
// key given several times becomes a list.
func (p *printer) messageLiteral(b *strings.Builder, m *ast.MessageLiteralNode) {
	var keys []string
	values := map[string][]string{}
	for _, el := range m.Elements {
		key := identText(el.Name.Name)
		switch {
		case el.Name.IsAnyTypeReference():
			key = "[" + identText(el.Name.URLPrefix) + "/" + key + "]"
		case el.Name.IsExtension():
			key = "[" + key + "]"
		}
		if _, ok := values[key]; !ok {
			keys = append(keys, key)
		}
		if arr, ok := el.Val.(*ast.ArrayLiteralNode); ok {
			for _, a := range arr.Elements {
				values[key] = append(values[key], p.literalValue(a))
			}
			if len(arr.Elements) == 0 {
				values[key] = append(values[key], "[\n]")
			}
			continue
		}
		values[key] = append(values[key], p.literalValue(el.Val))
	}
	for i, k := range keys {
		vals := values[k]
		var v string
		if len(vals) == 1 {
			v = vals[0]
		} else {
			var lb strings.Builder
			lb.WriteString("[\n")
			for j, item := range vals {
				if j < len(vals)-1 {
					item += ","
				}
				appendIndented(&lb, item)
			}
			lb.WriteByte(']')
			v = lb.String()
		}
		line := k + ": " + v
		if i < len(keys)-1 {
			line += ","
		}
		appendIndented(b, line)
	}
}

func (p *printer) literalValue(v ast.ValueNode) string {
	switch v := v.(type) {
	case *ast.MessageLiteralNode:
		var b strings.Builder
		b.WriteString("{\n")
		p.messageLiteral(&b, v)
		b.WriteByte('}')
		return b.String()
	case *ast.ArrayLiteralNode:
		var b strings.Builder
		b.WriteString("[\n")
		for i, el := range v.Elements {
			item := p.literalValue(el)
			if i < len(v.Elements)-1 {
				item += ","
			}
			appendIndented(&b, item)
		}
		b.WriteByte(']')
		return b.String()
	case ast.StringValueNode:
		return "\"" + escapeProto(v.AsString()) + "\""
	}
	return p.scalar(v)
}

// scalar prints a number or identifier as written.
func (p *printer) scalar(v ast.ValueNode) string {
	switch v := v.(type) {
	case *ast.NegativeIntLiteralNode:
		return "-" + p.raw(v.Uint)
	case *ast.SignedFloatLiteralNode:
		return p.raw(v.Sign) + p.scalar(v.Float)
	case *ast.UintLiteralNode, *ast.FloatLiteralNode, *ast.SpecialFloatLiteralNode:
		return p.raw(v)
	case ast.IdentValueNode:
		return string(v.AsIdentifier())
	case ast.StringValueNode:
		return v.AsString()
	}
	return fmt.Sprint(v.Value())
}

func (p *printer) valueString(v ast.ValueNode) string {
	if s, ok := v.(ast.StringValueNode); ok {
		return s.AsString()
	}
	return p.scalar(v)
}

func (p *printer) oneof(o *ast.OneofNode) string {
	var b strings.Builder
	b.WriteString("oneof " + o.Name.Val + " {")
	var options []*ast.OptionNode
	var fields []string
	var groups []*ast.GroupNode
	for _, d := range o.Decls {
		switch d := d.(type) {
		case *ast.OptionNode:
			options = append(options, d)
		case *ast.FieldNode:
			fields = append(fields, p.field(d))
		case *ast.GroupNode:
			groups = append(groups, d)
		}
	}
	if len(options) > 0 {
		b.WriteByte('\n')
		for _, op := range options {
			appendIndented(&b, p.optionStatement(op))
		}
	}
	if len(fields) > 0 {
		b.WriteByte('\n')
		for _, f := range fields {
			appendIndented(&b, f)
		}
	}
	if len(groups) > 0 {
		b.WriteByte('\n')
		for _, g := range groups {
			appendIndented(&b, p.group(g))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (p *printer) group(g *ast.GroupNode) string {
	var b strings.Builder
	b.WriteString(labelText(g.Label) + "group " + g.Name.Val + " = " + strconv.FormatUint(g.Tag.Val, 10) + " {")
	var fields []string
	for _, d := range g.Decls {
		switch d := d.(type) {
		case *ast.FieldNode:
			fields = append(fields, p.field(d))
		case *ast.MapFieldNode:
			fields = append(fields, p.mapField(d))
		}
	}
	if len(fields) > 0 {
		b.WriteByte('\n')
		for _, f := range fields {
			appendIndented(&b, f)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (p *printer) extend(e *ast.ExtendNode) string {
	var b strings.Builder
	b.WriteString("extend " + identText(e.Extendee) + " {")
	var fields []string
	for _, d := range e.Decls {
		switch d := d.(type) {
		case *ast.FieldNode:
			fields = append(fields, p.field(d))
		case *ast.GroupNode:
			fields = append(fields, p.group(d))
		}
	}
	if len(fields) > 0 {
		b.WriteByte('\n')
		for _, f := range fields {
			appendIndented(&b, f)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (p *printer) enum(e *ast.EnumNode) string {
	var b strings.Builder
	b.WriteString("enum " + e.Name.Val + " {")
	var reserved []*ast.ReservedNode
	var options []*ast.OptionNode
	var values []*ast.EnumValueNode
	for _, d := range e.Decls {
		switch d := d.(type) {
		case *ast.ReservedNode:
			reserved = append(reserved, d)
		case *ast.OptionNode:
			options = append(options, d)
		case *ast.EnumValueNode:
			values = append(values, d)
		}
	}
	if len(reserved) > 0 {
		b.WriteByte('\n')
		for _, r := range reserved {
			appendIndented(&b, p.reserved(r))
		}
	} else if len(options)+len(values) > 0 {
		b.WriteByte('\n')
	}
	for _, o := range options {
		appendIndented(&b, p.optionStatement(o))
	}
	for _, v := range values {
		s := v.Name.Val + " = " + p.intValue(v.Number)
		if v.Options != nil && len(v.Options.Options) > 0 {
			s += " " + p.compactOptions(v.Options.Options)
		}
		appendIndented(&b, s+";\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (p *printer) service(s *ast.ServiceNode) string {
	var b strings.Builder
	b.WriteString("service " + s.Name.Val + " {")
	var options []*ast.OptionNode
	var rpcs []*ast.RPCNode
	for _, d := range s.Decls {
		switch d := d.(type) {
		case *ast.OptionNode:
			options = append(options, d)
		case *ast.RPCNode:
			rpcs = append(rpcs, d)
		}
	}
	if len(options) > 0 {
		b.WriteByte('\n')
		for _, o := range options {
			appendIndented(&b, p.optionStatement(o))
		}
	}
	if len(rpcs) > 0 {
		b.WriteByte('\n')
		for _, r := range rpcs {
			appendIndented(&b, p.rpc(r))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (p *printer) rpc(r *ast.RPCNode) string {
	var b strings.Builder
	b.WriteString("rpc " + r.Name.Val + " (")
	if r.Input.Stream != nil {
		b.WriteString("stream ")
	}
	b.WriteString(identText(r.Input.MessageType) + ") returns (")
	if r.Output.Stream != nil {
		b.WriteString("stream ")
	}
	b.WriteString(identText(r.Output.MessageType) + ")")
	var options []*ast.OptionNode
	for _, d := range r.Decls {
		if o, ok := d.(*ast.OptionNode); ok {
			options = append(options, o)
		}
	}
	if len(options) > 0 {
		b.WriteString(" {\n")
		for _, o := range options {
			appendIndented(&b, p.optionStatement(o))
		}
		b.WriteByte('}')
	}
	b.WriteString(";\n")
	return b.String()
}
