package schemaregistry

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/schemacompat"
)

// Error is an error of the REST API: Confluent's error code (the HTTP
// status is its first three digits) and message.
type Error struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("schema registry: %d: %s", e.Code, e.Message) }

// Status is the HTTP status of the error.
func (e *Error) Status() int {
	s := e.Code
	for s >= 1000 {
		s /= 10
	}
	return s
}

func errf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Confluent's error codes.
const (
	codeSubjectNotFound          = 40401
	codeVersionNotFound          = 40402
	codeSchemaNotFound           = 40403
	codeSubjectSoftDeleted       = 40404
	codeSubjectNotSoftDeleted    = 40405
	codeVersionSoftDeleted       = 40406
	codeVersionNotSoftDeleted    = 40407
	codeSubjectLevelConfigAbsent = 40408
	codeIncompatible             = 409
	codeInvalidSchema            = 42201
	codeInvalidVersion           = 42202
	codeInvalidCompatibility     = 42203
	codeReferenceExists          = 42206
	codeStore                    = 50001
)

// Levels are the compatibility levels, Confluent's.
var Levels = []string{"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}

// DefaultLevel is the compatibility level when none is configured.
const DefaultLevel = "BACKWARD"

// Registry serves the registry's operations on a Store.
type Registry struct {
	s *Store
}

// New returns a registry on s.
func New(s *Store) *Registry { return &Registry{s: s} }

// SchemaInfo is a version of a subject, as GET
// /subjects/{s}/versions/{v} returns it.
type SchemaInfo struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func (st *state) info(v *version) SchemaInfo {
	s := st.ids[v.id]
	typ := s.typ
	if typ == "AVRO" {
		typ = ""
	}
	return SchemaInfo{Subject: v.subject, Version: v.version, ID: v.id, SchemaType: typ, References: s.refs, Schema: s.text}
}

// NormalizeType validates a schemaType ("" is AVRO).
func NormalizeType(t string) (string, *Error) {
	switch strings.ToUpper(t) {
	case "", "AVRO":
		return "AVRO", nil
	case "PROTOBUF":
		return "PROTOBUF", nil
	case "JSON":
		return "JSON", nil
	}
	return "", errf(codeInvalidSchema, "Invalid schema type %s", t)
}

// resolveRefs resolves refs, transitively, into schemacompat's form; a
// reference to a missing subject or version is an invalid schema, and a
// cycle is refused.
func (st *state) resolveRefs(refs []Reference) ([]schemacompat.Reference, *Error) {
	return st.resolve(refs, nil)
}

func (st *state) resolve(refs []Reference, path []string) ([]schemacompat.Reference, *Error) {
	var out []schemacompat.Reference
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return nil, errf(codeInvalidSchema, "Invalid schema: a reference needs a name and a subject, got %+v", ref)
		}
		key := ref.Subject + "/" + strconv.Itoa(ref.Version)
		if slices.Contains(path, key) || len(path) > 64 {
			return nil, errf(codeInvalidSchema, "Invalid schema: circular reference through subject %q version %d", ref.Subject, ref.Version)
		}
		v := st.findVersion(ref.Subject, ref.Version, false)
		if v == nil {
			return nil, errf(codeInvalidSchema, "Invalid schema: reference %q: subject %q version %d not found", ref.Name, ref.Subject, ref.Version)
		}
		s := st.ids[v.id]
		nested, e := st.resolve(s.refs, append(path, key))
		if e != nil {
			return nil, e
		}
		out = append(out, schemacompat.Reference{Name: ref.Name, Subject: ref.Subject, Version: ref.Version,
			Schema: schemacompat.Schema{Type: schemacompat.Type(s.typ), Text: s.text, References: nested}})
	}
	return out, nil
}

// parse validates a schema with its references, as version version of
// subject (0 for a candidate).
func (st *state) parse(subject string, version int, typ, text string, refs []Reference) (*schemacompat.Parsed, *Error) {
	resolved, e := st.resolveRefs(refs)
	if e != nil {
		return nil, e
	}
	p, err := schemacompat.Parse(schemacompat.Schema{Type: schemacompat.Type(typ), Text: text, References: resolved, Subject: subject, Version: version})
	if err != nil {
		return nil, errf(codeInvalidSchema, "%s", err.Error())
	}
	return p, nil
}

// previous parses the live versions of subject (oldest first), or those
// of pick.
func (st *state) previous(subject string, pick []*version) []*schemacompat.Parsed {
	if pick == nil {
		pick = st.live(subject)
	}
	var out []*schemacompat.Parsed
	for _, v := range pick {
		s := st.ids[v.id]
		if p, e := st.parse(subject, v.version, s.typ, s.text, s.refs); e == nil {
			out = append(out, p)
		}
	}
	return out
}

// findVersion finds a version of subject (-1: the latest), soft-deleted
// ones only with deleted.
func (st *state) findVersion(subject string, v int, deleted bool) *version {
	vs := st.subjects[subject]
	if v == -1 {
		for i := len(vs) - 1; i >= 0; i-- {
			if deleted || !vs[i].deleted {
				return vs[i]
			}
		}
		return nil
	}
	for _, x := range vs {
		if x.version == v && (deleted || !x.deleted) {
			return x
		}
	}
	return nil
}

func (st *state) live(subject string) []*version {
	var out []*version
	for _, v := range st.subjects[subject] {
		if !v.deleted {
			out = append(out, v)
		}
	}
	return out
}

func (st *state) level(subject string) string {
	if l, ok := st.configs[subject]; ok && l != "" {
		return l
	}
	if st.global != "" {
		return st.global
	}
	return DefaultLevel
}

// Register registers a schema under subject and returns its id: the
// existing version's if the subject has this schema already, else a new
// version, with the id of the same schema elsewhere or a new one, once
// it is compatible with the subject's versions at its level.
func (r *Registry) Register(ctx context.Context, subject, typ, text string, refs []Reference) (int, *Error) {
	typ, e := NormalizeType(typ)
	if e != nil {
		return 0, e
	}
	r.s.writeMu.Lock()
	defer r.s.writeMu.Unlock()
	var (
		existing int
		id       int
		next     int
		msgs     []string
		level    string
	)
	r.s.view(func(st *state) {
		var p *schemacompat.Parsed
		if p, e = st.parse(subject, 0, typ, text, refs); e != nil {
			return
		}
		id = st.byKey[schemaIdentity(typ, p.Canonical(), refs)]
		for _, v := range st.live(subject) {
			if v.id == id && id != 0 {
				existing = v.version
			}
		}
		if existing > 0 {
			return
		}
		level = st.level(subject)
		msgs = schemacompat.Check(schemacompat.Level(level), p, st.previous(subject, nil))
		if vs := st.subjects[subject]; len(vs) > 0 {
			next = vs[len(vs)-1].version + 1
		} else {
			next = 1
		}
		if id == 0 {
			id = st.maxID() + 1
		}
	})
	if e != nil {
		return 0, e
	}
	if existing > 0 {
		return id, nil
	}
	if len(msgs) > 0 {
		return 0, &Error{Code: codeIncompatible, Message: schemacompat.IncompatibleMessage(subject, schemacompat.Details(schemacompat.Level(level), msgs))}
	}
	rec := schemaRecord(schemaValue{Subject: subject, Version: next, ID: id, SchemaType: typ, References: refs, Schema: text}, false)
	if err := r.s.write(ctx, rec); err != nil {
		return 0, errf(codeStore, "Error while registering the schema: %v", err)
	}
	return id, nil
}

// Lookup finds the version of subject with this schema (POST
// /subjects/{s}).
func (r *Registry) Lookup(subject, typ, text string, refs []Reference, deleted bool) (SchemaInfo, *Error) {
	typ, e := NormalizeType(typ)
	if e != nil {
		return SchemaInfo{}, e
	}
	var out SchemaInfo
	r.s.view(func(st *state) {
		if _, ok := st.subjects[subject]; !ok {
			e = errf(codeSubjectNotFound, "Subject '%s' not found.", subject)
			return
		}
		p, pe := st.parse(subject, 0, typ, text, refs)
		if pe != nil {
			e = pe
			return
		}
		id := st.byKey[schemaIdentity(typ, p.Canonical(), refs)]
		for _, v := range st.subjects[subject] {
			if v.id == id && id != 0 && (deleted || !v.deleted) {
				out = st.info(v)
				return
			}
		}
		e = errf(codeSchemaNotFound, "Schema not found")
	})
	return out, e
}

// ParseVersion parses a version path element: a number >= 1, or latest
// (-1).
func ParseVersion(s string) (int, *Error) {
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, errf(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return v, nil
}

// Version returns a version of subject (-1: the latest).
func (r *Registry) Version(subject string, v int, deleted bool) (SchemaInfo, *Error) {
	var (
		out SchemaInfo
		e   *Error
	)
	r.s.view(func(st *state) {
		if !st.hasSubject(subject, deleted) {
			e = errf(codeSubjectNotFound, "Subject '%s' not found.", subject)
			return
		}
		x := st.findVersion(subject, v, deleted)
		if x == nil {
			e = errf(codeVersionNotFound, "Version %d not found.", v)
			return
		}
		out = st.info(x)
	})
	return out, e
}

func (st *state) hasSubject(subject string, deleted bool) bool {
	if deleted {
		return len(st.subjects[subject]) > 0
	}
	return len(st.live(subject)) > 0
}

// Versions lists the version numbers of subject.
func (r *Registry) Versions(subject string, deleted bool) ([]int, *Error) {
	var (
		out []int
		e   *Error
	)
	r.s.view(func(st *state) {
		for _, v := range st.subjects[subject] {
			if deleted || !v.deleted {
				out = append(out, v.version)
			}
		}
		if len(out) == 0 {
			e = errf(codeSubjectNotFound, "Subject '%s' not found.", subject)
		}
	})
	return out, e
}

// Subjects lists the subjects (with a live version, or any with deleted).
func (r *Registry) Subjects(prefix string, deleted bool) []string {
	out := []string{}
	r.s.view(func(st *state) {
		for s := range st.subjects {
			if strings.HasPrefix(s, prefix) && st.hasSubject(s, deleted) {
				out = append(out, s)
			}
		}
	})
	slices.Sort(out)
	return out
}

// Schema returns the schema with id.
func (r *Registry) Schema(id int) (SchemaInfo, *Error) {
	var (
		out SchemaInfo
		e   *Error
	)
	r.s.view(func(st *state) {
		s, ok := st.ids[id]
		if !ok {
			e = errf(codeSchemaNotFound, "Schema %d not found", id)
			return
		}
		typ := s.typ
		if typ == "AVRO" {
			typ = ""
		}
		out = SchemaInfo{ID: id, SchemaType: typ, References: s.refs, Schema: s.text}
	})
	return out, e
}

// SubjectVersion is a subject and version using a schema id.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// IDVersions lists the subjects and versions of schema id.
func (r *Registry) IDVersions(id int, deleted bool) ([]SubjectVersion, *Error) {
	var (
		out []SubjectVersion
		e   *Error
	)
	r.s.view(func(st *state) {
		if _, ok := st.ids[id]; !ok {
			e = errf(codeSchemaNotFound, "Schema %d not found", id)
			return
		}
		out = []SubjectVersion{}
		for subj, vs := range st.subjects {
			for _, v := range vs {
				if v.id == id && (deleted || !v.deleted) {
					out = append(out, SubjectVersion{subj, v.version})
				}
			}
		}
	})
	slices.SortFunc(out, func(a, b SubjectVersion) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return out, e
}

// ReferencedBy lists the ids of schemas referencing subject's version v.
func (r *Registry) ReferencedBy(subject string, v int) ([]int, *Error) {
	info, e := r.Version(subject, v, false)
	if e != nil {
		return nil, e
	}
	out := []int{}
	r.s.view(func(st *state) { out = st.referencedBy(subject, info.Version) })
	return out, nil
}

func (st *state) referencedBy(subject string, v int) []int {
	out := []int{}
	for _, vs := range st.subjects {
		for _, x := range vs {
			if x.deleted {
				continue
			}
			for _, ref := range st.ids[x.id].refs {
				if ref.Subject == subject && ref.Version == v && !slices.Contains(out, x.id) {
					out = append(out, x.id)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// DeleteSubject deletes subject's versions: soft (they are kept, marked
// deleted) or, after a soft delete, permanently.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, *Error) {
	r.s.writeMu.Lock()
	defer r.s.writeMu.Unlock()
	var (
		recs []*schemaValue
		out  = []int{}
		e    *Error
	)
	r.s.view(func(st *state) {
		vs := st.subjects[subject]
		if len(vs) == 0 {
			e = errf(codeSubjectNotFound, "Subject '%s' not found.", subject)
			return
		}
		live := st.live(subject)
		if !permanent && len(live) == 0 {
			e = errf(codeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
			return
		}
		if permanent && len(live) > 0 {
			e = errf(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
			return
		}
		for _, v := range vs {
			if refs := st.referencedBy(subject, v.version); len(refs) > 0 && !permanent {
				e = errf(codeReferenceExists, "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, v.version)
				return
			}
			s := st.ids[v.id]
			recs = append(recs, &schemaValue{Subject: subject, Version: v.version, ID: v.id, SchemaType: s.typ, References: s.refs, Schema: s.text, Deleted: true})
			out = append(out, v.version)
		}
	})
	if e != nil {
		return nil, e
	}
	rs := make([]*kgo.Record, 0, len(recs))
	for _, v := range recs {
		rs = append(rs, schemaRecord(*v, permanent))
	}
	if err := r.s.write(ctx, rs...); err != nil {
		return nil, errf(codeStore, "Error while deleting the subject: %v", err)
	}
	return out, nil
}

// DeleteVersion deletes one version of subject, soft or (after a soft
// delete) permanently.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, v int, permanent bool) (int, *Error) {
	r.s.writeMu.Lock()
	defer r.s.writeMu.Unlock()
	var (
		rec *schemaValue
		e   *Error
	)
	r.s.view(func(st *state) {
		if len(st.subjects[subject]) == 0 {
			e = errf(codeSubjectNotFound, "Subject '%s' not found.", subject)
			return
		}
		x := st.findVersion(subject, v, true)
		if v == -1 {
			x = st.findVersion(subject, -1, permanent)
		}
		if x == nil {
			e = errf(codeVersionNotFound, "Version %d not found.", v)
			return
		}
		switch {
		case !permanent && x.deleted:
			e = errf(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, x.version)
		case permanent && !x.deleted:
			e = errf(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, x.version)
		case !permanent && len(st.referencedBy(subject, x.version)) > 0:
			e = errf(codeReferenceExists, "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, x.version)
		}
		if e != nil {
			return
		}
		s := st.ids[x.id]
		rec = &schemaValue{Subject: subject, Version: x.version, ID: x.id, SchemaType: s.typ, References: s.refs, Schema: s.text, Deleted: true}
	})
	if e != nil {
		return 0, e
	}
	if err := r.s.write(ctx, schemaRecord(*rec, permanent)); err != nil {
		return 0, errf(codeStore, "Error while deleting the version: %v", err)
	}
	return rec.Version, nil
}

// ParseLevel validates a compatibility level.
func ParseLevel(s string) (string, *Error) {
	l := strings.ToUpper(strings.TrimSpace(s))
	if slices.Contains(Levels, l) {
		return l, nil
	}
	return "", errf(codeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

// Config returns the compatibility level of subject ("" the global one);
// with fallback a subject without its own gets the global one, else
// 40408.
func (r *Registry) Config(subject string, fallback bool) (string, *Error) {
	var (
		out string
		e   *Error
	)
	r.s.view(func(st *state) {
		if subject == "" {
			out = st.level("")
			return
		}
		if l, ok := st.configs[subject]; ok {
			out = l
			return
		}
		if fallback {
			out = st.level("")
			return
		}
		e = errf(codeSubjectLevelConfigAbsent, "Subject '%s' does not have subject-level compatibility configured", subject)
	})
	return out, e
}

// SetConfig sets the compatibility level of subject ("" the global one).
func (r *Registry) SetConfig(ctx context.Context, subject, level string) (string, *Error) {
	l, e := ParseLevel(level)
	if e != nil {
		return "", e
	}
	r.s.writeMu.Lock()
	defer r.s.writeMu.Unlock()
	var subj *string
	if subject != "" {
		subj = &subject
	}
	if err := r.s.write(ctx, configRecord(subj, l)); err != nil {
		return "", errf(codeStore, "Error while setting the compatibility: %v", err)
	}
	return l, nil
}

// DeleteConfig removes subject's own compatibility level and returns it.
func (r *Registry) DeleteConfig(ctx context.Context, subject string) (string, *Error) {
	r.s.writeMu.Lock()
	defer r.s.writeMu.Unlock()
	prev, e := r.Config(subject, false)
	if e != nil {
		return "", e
	}
	if err := r.s.write(ctx, configRecord(&subject, "")); err != nil {
		return "", errf(codeStore, "Error while deleting the compatibility: %v", err)
	}
	return prev, nil
}

// TestCompatibility checks a schema against subject's version v (-1 the
// latest) or, for a transitive level and v -1, all its versions.
func (r *Registry) TestCompatibility(subject string, v int, typ, text string, refs []Reference) ([]string, *Error) {
	typ, e := NormalizeType(typ)
	if e != nil {
		return nil, e
	}
	var (
		msgs  []string
		level string
	)
	r.s.view(func(st *state) {
		var p *schemacompat.Parsed
		if p, e = st.parse(subject, 0, typ, text, refs); e != nil {
			return
		}
		level = st.level(subject)
		live := st.live(subject)
		if len(live) == 0 {
			e = errf(codeSubjectNotFound, "Subject '%s' not found.", subject)
			return
		}
		pick := live
		if v != -1 {
			x := st.findVersion(subject, v, false)
			if x == nil {
				e = errf(codeVersionNotFound, "Version %d not found.", v)
				return
			}
			pick = []*version{x}
		}
		msgs = schemacompat.Check(schemacompat.Level(level), p, st.previous(subject, pick))
	})
	if e != nil {
		return nil, e
	}
	return schemacompat.Details(schemacompat.Level(level), msgs), nil
}
