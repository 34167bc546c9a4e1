package schemacompat

import (
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file follows Confluent's io.confluent.kafka.schemaregistry.protobuf.diff
// package (SchemaDiff, MessageSchemaDiff, FieldSchemaDiff): it walks the
// original (older) and the updated (newer) schema and records typed
// differences at "#/"-paths; the differences that are not in
// SchemaDiff.COMPATIBLE_CHANGES make a newer schema unable to read data
// written with the older one. The walk works on linked descriptors, viewed
// the way Confluent's parser (wire) sees a .proto file: map entry and group
// messages are not types of their own, and a field's label is the keyword
// written in the source.

// Protobuf difference types (Difference.Type).
const (
	pbPackageChanged             = "PACKAGE_CHANGED"
	pbMessageAdded               = "MESSAGE_ADDED"
	pbMessageRemoved             = "MESSAGE_REMOVED"
	pbMessageMoved               = "MESSAGE_MOVED"
	pbEnumAdded                  = "ENUM_ADDED"
	pbEnumRemoved                = "ENUM_REMOVED"
	pbEnumConstAdded             = "ENUM_CONST_ADDED"
	pbEnumConstChanged           = "ENUM_CONST_CHANGED"
	pbEnumConstRemoved           = "ENUM_CONST_REMOVED"
	pbFieldAdded                 = "FIELD_ADDED"
	pbFieldRemoved               = "FIELD_REMOVED"
	pbFieldNameChanged           = "FIELD_NAME_CHANGED"
	pbFieldKindChanged           = "FIELD_KIND_CHANGED"
	pbFieldScalarKindChanged     = "FIELD_SCALAR_KIND_CHANGED"
	pbFieldNamedTypeChanged      = "FIELD_NAMED_TYPE_CHANGED"
	pbFieldNumericLabelChanged   = "FIELD_NUMERIC_LABEL_CHANGED"
	pbFieldStringOrBytesLabelChg = "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
	pbRequiredFieldAdded         = "REQUIRED_FIELD_ADDED"
	pbRequiredFieldRemoved       = "REQUIRED_FIELD_REMOVED"
	pbOneofAdded                 = "ONEOF_ADDED"
	pbOneofRemoved               = "ONEOF_REMOVED"
	pbOneofFieldAdded            = "ONEOF_FIELD_ADDED"
	pbOneofFieldRemoved          = "ONEOF_FIELD_REMOVED"
	pbOneofFieldMovedToTopLevel  = "ONEOF_FIELD_MOVED_TO_TOP_LEVEL"
	pbMultipleFieldsMovedToOneof = "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
	pbFieldMovedToExistingOneof  = "FIELD_MOVED_TO_EXISTING_ONEOF"
)

// pbCompatible is SchemaDiff.COMPATIBLE_CHANGES.
var pbCompatible = map[string]bool{
	pbMessageAdded: true, pbMessageMoved: true, pbEnumAdded: true, pbEnumRemoved: true,
	pbEnumConstAdded: true, pbEnumConstChanged: true, pbEnumConstRemoved: true,
	pbFieldAdded: true, pbFieldRemoved: true, pbFieldNameChanged: true,
	pbFieldStringOrBytesLabelChg: true, pbOneofAdded: true, pbOneofRemoved: true,
	pbOneofFieldAdded: true, pbOneofFieldMovedToTopLevel: true,
}

type pbDifference struct {
	typ  string
	path string
}

// confluentMessage is Difference.toString, with the reader and writer named
// by the given words.
func (d pbDifference) confluentMessage(reader, writer string) string {
	p := d.path
	var desc string
	switch d.typ {
	case pbPackageChanged:
		desc = "The package at '" + p + "' in the " + reader + " schema does not match the package in the " + writer + " schema"
	case pbMessageRemoved:
		desc = "The " + reader + " schema is missing a MESSAGE type at path '" + p + "' in the " + writer + " schema"
	case pbFieldKindChanged:
		desc = "The type of a field at path '" + p + "' in the " + reader + " schema does not match the " + writer + " schema"
	case pbFieldScalarKindChanged:
		desc = "The kind of a SCALAR field at path '" + p + "' in the " + reader + " schema does not match its kind in the " + writer + " schema"
	case pbFieldNamedTypeChanged:
		desc = "The type of a MESSAGE field at path '" + p + "' in the " + reader + " schema does not match its type in the " + writer + " schema"
	case pbFieldNumericLabelChanged:
		desc = "The label for a NUMERIC field at path '" + p + "' in the " + reader + " schema does not match its label in the " + writer + " schema"
	case pbRequiredFieldAdded:
		desc = "A required field  at path '" + p + "' in the " + reader + " schema is missing in the " + writer + " schema"
	case pbRequiredFieldRemoved:
		desc = "The " + reader + " schema is missing a required field at path: '" + p + "' in the " + writer + " schema"
	case pbOneofFieldRemoved:
		desc = "The " + reader + " schema is missing a oneof field at path '" + p + "' in the " + writer + " schema"
	case pbOneofFieldMovedToTopLevel:
		desc = "The oneof field at path '" + p + "' in the " + reader + " schema was moved out of its oneof to a top-level field in the " + writer + " schema"
	case pbMultipleFieldsMovedToOneof:
		desc = "Multiple fields in the oneof at path '" + p + "' in the " + reader + " schema are outside a oneof in the " + writer + " schema"
	case pbFieldMovedToExistingOneof:
		desc = "A field in the oneof at path '" + p + "' in the " + reader + " schema is outside an existing oneof in the " + writer + " schema"
	}
	return "{errorType:\"" + d.typ + "\", description:\"" + desc + "\"}"
}

// protobufIncompatibilities returns Confluent's messages for
// update.isBackwardCompatible(original).
func protobufIncompatibilities(original, update *protoParsed, reader, writer string) []string {
	var msgs []string
	for _, d := range protobufDifferences(original, update) {
		if !pbCompatible[d.typ] {
			msgs = append(msgs, d.confluentMessage(reader, writer))
		}
	}
	return msgs
}

// protobufDifferences is SchemaDiff.compare(original, update): every
// difference, compatible or not.
func protobufDifferences(original, update *protoParsed) []pbDifference {
	ctx := &pbContext{orig: original, upd: update, schemas: map[protoreflect.MessageDescriptor]bool{}}
	if original.file.Package() != update.file.Package() {
		ctx.add(pbPackageChanged)
	}
	ctx.compareTypes(original.file.Messages(), update.file.Messages(), original.file.Enums(), update.file.Enums())
	return ctx.diffs
}

// pbContext is Confluent's diff Context: the current path, the messages
// being compared (to stop recursion) and the differences found.
type pbContext struct {
	orig, upd *protoParsed
	path      []string
	schemas   map[protoreflect.MessageDescriptor]bool
	diffs     []pbDifference
}

func (c *pbContext) add(typ string) {
	c.diffs = append(c.diffs, pbDifference{typ: typ, path: "#/" + strings.Join(c.path, "/")})
}

func (c *pbContext) enter(name string) { c.path = append(c.path, name) }
func (c *pbContext) leave()            { c.path = c.path[:len(c.path)-1] }

func (c *pbContext) isCompatible() bool {
	for _, d := range c.diffs {
		if !pbCompatible[d.typ] {
			return false
		}
	}
	return true
}

// wireMessages lists the messages of a scope as wire sees them: without the
// synthetic map entry and group messages.
func wireMessages(ms protoreflect.MessageDescriptors) []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		if m.IsMapEntry() || isGroupMessage(m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// isGroupMessage reports whether m is the message type of a group field
// declared next to it.
func isGroupMessage(m protoreflect.MessageDescriptor) bool {
	var fields protoreflect.FieldDescriptors
	var exts protoreflect.ExtensionDescriptors
	switch parent := m.Parent().(type) {
	case protoreflect.MessageDescriptor:
		fields, exts = parent.Fields(), parent.Extensions()
	case protoreflect.FileDescriptor:
		exts = parent.Extensions()
	}
	check := func(f protoreflect.FieldDescriptor) bool {
		return f.Kind() == protoreflect.GroupKind && f.Message() != nil && f.Message().FullName() == m.FullName()
	}
	if fields != nil {
		for i := 0; i < fields.Len(); i++ {
			if check(fields.Get(i)) {
				return true
			}
		}
	}
	if exts != nil {
		for i := 0; i < exts.Len(); i++ {
			if check(exts.Get(i)) {
				return true
			}
		}
	}
	return false
}

// compareTypes is SchemaDiff.compareTypeElements. Names are visited in the
// iteration order of the Java hash sets Confluent builds.
func (c *pbContext) compareTypes(origMsgs, updMsgs protoreflect.MessageDescriptors, origEnums, updEnums protoreflect.EnumDescriptors) {
	om, um := wireMessages(origMsgs), wireMessages(updMsgs)
	origByName := map[string]protoreflect.MessageDescriptor{}
	updByName := map[string]protoreflect.MessageDescriptor{}
	origIdx, updIdx := map[string]int{}, map[string]int{}
	var origNames, updNames []string
	for i, m := range om {
		n := string(m.Name())
		origByName[n], origIdx[n] = m, i
		origNames = append(origNames, n)
	}
	for i, m := range um {
		n := string(m.Name())
		updByName[n], updIdx[n] = m, i
		updNames = append(updNames, n)
	}
	all := javaHashSetOf(javaStringHash, javaHashMapOrder(javaStringHash, origNames))
	for _, n := range javaHashMapOrder(javaStringHash, updNames) {
		all.add(n)
	}
	for _, name := range all.keys() {
		c.enter(name)
		o, u := origByName[name], updByName[name]
		switch {
		case u == nil:
			c.add(pbMessageRemoved)
		case o == nil:
			c.add(pbMessageAdded)
		default:
			c.compareMessages(o, u)
			if origIdx[name] != updIdx[name] {
				c.add(pbMessageMoved)
			}
		}
		c.leave()
	}
	origEnumByName := map[string]protoreflect.EnumDescriptor{}
	updEnumByName := map[string]protoreflect.EnumDescriptor{}
	var origEnumNames, updEnumNames []string
	for i := 0; i < origEnums.Len(); i++ {
		e := origEnums.Get(i)
		origEnumByName[string(e.Name())] = e
		origEnumNames = append(origEnumNames, string(e.Name()))
	}
	for i := 0; i < updEnums.Len(); i++ {
		e := updEnums.Get(i)
		updEnumByName[string(e.Name())] = e
		updEnumNames = append(updEnumNames, string(e.Name()))
	}
	allEnums := javaHashSetOf(javaStringHash, javaHashMapOrder(javaStringHash, origEnumNames))
	for _, n := range javaHashMapOrder(javaStringHash, updEnumNames) {
		allEnums.add(n)
	}
	for _, name := range allEnums.keys() {
		c.enter(name)
		o, u := origEnumByName[name], updEnumByName[name]
		switch {
		case u == nil:
			c.add(pbEnumRemoved)
		case o == nil:
			c.add(pbEnumAdded)
		default:
			c.compareEnums(o, u)
		}
		c.leave()
	}
}

func (c *pbContext) compareEnums(o, u protoreflect.EnumDescriptor) {
	origByNum := map[int32]string{}
	updByNum := map[int32]string{}
	var nums []int32
	for i := 0; i < o.Values().Len(); i++ {
		v := o.Values().Get(i)
		if _, ok := origByNum[int32(v.Number())]; !ok {
			nums = append(nums, int32(v.Number()))
		}
		origByNum[int32(v.Number())] = string(v.Name())
	}
	for i := 0; i < u.Values().Len(); i++ {
		v := u.Values().Get(i)
		if _, ok := updByNum[int32(v.Number())]; !ok {
			if _, inOrig := origByNum[int32(v.Number())]; !inOrig {
				nums = append(nums, int32(v.Number()))
			}
		}
		updByNum[int32(v.Number())] = string(v.Name())
	}
	for _, n := range javaHashSetOf(javaIntHash, nums).keys() {
		c.enter(strconv.Itoa(int(n)))
		on, inO := origByNum[n]
		un, inU := updByNum[n]
		switch {
		case !inU:
			c.add(pbEnumConstRemoved)
		case !inO:
			c.add(pbEnumConstAdded)
		case on != un:
			c.add(pbEnumConstChanged)
		}
		c.leave()
	}
}

// pbField is a field with the oneof it belongs to (empty for none).
type pbField struct {
	fd    protoreflect.FieldDescriptor
	oneof string
}

func wireFields(m protoreflect.MessageDescriptor) (map[int32]pbField, map[string][]int32, []string) {
	byTag := map[int32]pbField{}
	oneofMembers := map[string][]int32{}
	var oneofOrder []string
	fields := m.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.Kind() == protoreflect.GroupKind {
			continue // wire keeps groups apart from fields
		}
		var oneof string
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			oneof = string(o.Name())
		}
		byTag[int32(f.Number())] = pbField{fd: f, oneof: oneof}
	}
	oneofs := m.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		o := oneofs.Get(i)
		if o.IsSynthetic() {
			continue
		}
		name := string(o.Name())
		oneofOrder = append(oneofOrder, name)
		oneofMembers[name] = nil
		for j := 0; j < o.Fields().Len(); j++ {
			f := o.Fields().Get(j)
			if f.Kind() == protoreflect.GroupKind {
				continue
			}
			oneofMembers[name] = append(oneofMembers[name], int32(f.Number()))
		}
	}
	return byTag, oneofMembers, oneofOrder
}

// wireLabel is the label wire records for a field: the keyword written in
// the source, if any.
func wireLabel(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return ""
	case f.Cardinality() == protoreflect.Repeated:
		return "REPEATED"
	case f.ContainingOneof() != nil && !f.ContainingOneof().IsSynthetic():
		return ""
	case f.Cardinality() == protoreflect.Required:
		return "REQUIRED"
	case f.HasOptionalKeyword():
		return "OPTIONAL"
	}
	return ""
}

// compareMessages is MessageSchemaDiff.compare.
func (c *pbContext) compareMessages(o, u protoreflect.MessageDescriptor) {
	if c.schemas[o] {
		return
	}
	c.schemas[o] = true
	defer delete(c.schemas, o)

	origByTag, origOneofs, _ := wireFields(o)
	updByTag, updOneofs, updOneofOrder := wireFields(u)

	// A oneof removed by name none of whose members survive is a complete
	// (compatible) deletion.
	deleted := map[string]bool{}
	for name, members := range origOneofs {
		if _, ok := updOneofs[name]; ok {
			continue
		}
		survives := false
		for _, t := range members {
			if _, ok := updByTag[t]; ok {
				survives = true
			}
		}
		if !survives {
			deleted[name] = true
		}
	}
	// Newly introduced mutual exclusivity.
	for _, name := range updOneofOrder {
		c.enter(name)
		groups := map[string]bool{}
		movedIn := 0
		for _, t := range updOneofs[name] {
			if of, ok := origByTag[t]; ok {
				if of.oneof != "" {
					groups["oneof:"+of.oneof] = true
				} else {
					groups["field:"+strconv.Itoa(int(t))] = true
					movedIn++
				}
			}
		}
		if len(groups) > 1 {
			if movedIn > 1 {
				c.add(pbMultipleFieldsMovedToOneof)
			} else {
				c.add(pbFieldMovedToExistingOneof)
			}
		}
		c.leave()
	}
	// Oneofs added or removed, in name order.
	names := map[string]bool{}
	for n := range origOneofs {
		names[n] = true
	}
	for n := range updOneofs {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		c.enter(n)
		if _, ok := updOneofs[n]; !ok {
			c.add(pbOneofRemoved)
		} else if _, ok := origOneofs[n]; !ok {
			c.add(pbOneofAdded)
		}
		c.leave()
	}
	// Every field by tag, in tag order.
	tagSet := map[int32]bool{}
	for t := range origByTag {
		tagSet[t] = true
	}
	for t := range updByTag {
		tagSet[t] = true
	}
	tags := make([]int32, 0, len(tagSet))
	for t := range tagSet {
		tags = append(tags, t)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	for _, t := range tags {
		of, inO := origByTag[t]
		uf, inU := updByTag[t]
		tag := strconv.Itoa(int(t))
		switch {
		case !inU:
			if of.oneof != "" {
				if !deleted[of.oneof] {
					c.enter(of.oneof)
					c.enter(tag)
					c.add(pbOneofFieldRemoved)
					c.leave()
					c.leave()
				}
			} else {
				c.enter(tag)
				if wireLabel(of.fd) == "REQUIRED" {
					c.add(pbRequiredFieldRemoved)
				} else {
					c.add(pbFieldRemoved)
				}
				c.leave()
			}
		case !inO:
			if uf.oneof != "" {
				c.enter(uf.oneof)
				c.enter(tag)
				c.add(pbOneofFieldAdded)
				c.leave()
				c.leave()
			} else {
				c.enter(tag)
				if wireLabel(uf.fd) == "REQUIRED" {
					c.add(pbRequiredFieldAdded)
				} else {
					c.add(pbFieldAdded)
				}
				c.leave()
			}
		default:
			if of.oneof != "" && uf.oneof == "" {
				c.enter(tag)
				c.add(pbOneofFieldMovedToTopLevel)
				c.leave()
			}
			if uf.oneof != "" {
				c.enter(uf.oneof)
			}
			c.enter(tag)
			c.compareFields(of.fd, uf.fd)
			c.leave()
			if uf.oneof != "" {
				c.leave()
			}
		}
	}
	c.compareTypes(o.Messages(), u.Messages(), o.Enums(), u.Enums())
}

// pbType is a field type as FieldSchemaDiff sees it.
type pbType struct {
	kind   string // "SCALAR", "MAP" or "MESSAGE"
	scalar string // scalar type name, or "enum"
	msg    protoreflect.MessageDescriptor
	key    *pbType
	value  *pbType
}

func pbTypeOf(f protoreflect.FieldDescriptor) *pbType {
	if f.IsMap() {
		return &pbType{kind: "MAP", key: pbTypeOf(f.MapKey()), value: pbTypeOf(f.MapValue())}
	}
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return &pbType{kind: "MESSAGE", msg: f.Message()}
	case protoreflect.EnumKind:
		return &pbType{kind: "SCALAR", scalar: "enum"}
	}
	return &pbType{kind: "SCALAR", scalar: f.Kind().String()}
}

// scalarKind is FieldSchemaDiff.scalarKind: groups of wire-compatible
// scalar types.
func scalarKind(t string) string {
	switch t {
	case "enum", "int32", "int64", "uint32", "uint64", "bool":
		return "GENERAL_NUMBER"
	case "sint32", "sint64":
		return "SIGNED_NUMBER"
	case "string", "bytes":
		return "STRING_OR_BYTES"
	case "fixed32", "sfixed32":
		return "FIXED32"
	case "fixed64", "sfixed64":
		return "FIXED64"
	case "float":
		return "FLOAT"
	case "double":
		return "DOUBLE"
	}
	return "ANY"
}

// compareFields is FieldSchemaDiff.compare.
func (c *pbContext) compareFields(o, u protoreflect.FieldDescriptor) {
	if o.Name() != u.Name() {
		c.add(pbFieldNameChanged)
	}
	c.compareLabelsAndTypes(wireLabel(o), wireLabel(u), pbTypeOf(o), pbTypeOf(u))
}

func (c *pbContext) compareLabelsAndTypes(ol, ul string, ot, ut *pbType) {
	if ot.kind != ut.kind {
		c.add(pbFieldKindChanged)
		return
	}
	switch ot.kind {
	case "SCALAR":
		ok, uk := scalarKind(ot.scalar), scalarKind(ut.scalar)
		if ok != uk {
			c.add(pbFieldScalarKindChanged)
			return
		}
		if ol != "" && ul != "" && ol != ul {
			switch ok {
			case "GENERAL_NUMBER", "SIGNED_NUMBER", "FIXED32", "FIXED64", "FLOAT", "DOUBLE":
				c.add(pbFieldNumericLabelChanged)
			case "STRING_OR_BYTES":
				c.add(pbFieldStringOrBytesLabelChg)
			}
		}
	case "MESSAGE":
		c.compareMessageTypes(ot.msg, ut.msg)
	case "MAP":
		c.compareLabelsAndTypes("", "", ot.key, ut.key)
		c.compareLabelsAndTypes("", "", ot.value, ut.value)
	}
}

// localName is a message's full name without its file's package.
func localName(m protoreflect.MessageDescriptor) string {
	full := string(m.FullName())
	if pkg := string(m.ParentFile().Package()); pkg != "" && strings.HasPrefix(full, pkg+".") {
		return full[len(pkg)+1:]
	}
	return full
}

// refOf identifies where a type is defined: the schema itself, a
// reference, or neither (a standard import).
func (c *pbContext) refOf(p *protoParsed, m protoreflect.MessageDescriptor) (local bool, id protoRefID, known bool) {
	path := m.ParentFile().Path()
	if path == p.file.Path() {
		return true, protoRefID{}, true
	}
	id, known = p.refs[path]
	return false, id, known && id.subject != "" && id.version != 0
}

// compareMessageTypes is FieldSchemaDiff.compareMessageTypes.
func (c *pbContext) compareMessageTypes(o, u protoreflect.MessageDescriptor) {
	if o == nil || u == nil {
		return
	}
	ol, ul := localName(o), localName(u)
	if ol != ul {
		c.add(pbFieldNamedTypeChanged)
		return
	}
	oLocal, oID, oKnown := c.refOf(c.orig, o)
	uLocal, uID, uKnown := c.refOf(c.upd, u)
	if oLocal && uLocal {
		return // both local: compared where the types are declared
	}
	if !oLocal && !uLocal && oKnown && uKnown && oID == uID {
		return // the same subject version
	}
	sub := &pbContext{orig: c.orig, upd: c.upd, schemas: map[protoreflect.MessageDescriptor]bool{}}
	for k := range c.schemas {
		sub.schemas[k] = true
	}
	sub.path = strings.Split(ol, ".")
	sub.compareMessages(o, u)
	c.diffs = append(c.diffs, sub.diffs...)
	if !sub.isCompatible() {
		c.add(pbFieldNamedTypeChanged)
	}
}
