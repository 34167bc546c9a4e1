package listener

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// attribute names accepted in `kafka:"..."` tags.
const (
	attrID             = "id"
	attrTopics         = "topics"
	attrPattern        = "pattern"
	attrPartitions     = "partitions"
	attrGroup          = "group"
	attrConcurrency    = "concurrency"
	attrAutoStartup    = "autostartup"
	attrBatch          = "batch"
	attrAck            = "ack"
	attrErrorHandler   = "errorhandler"
	attrDLT            = "dlt"
	attrValidate       = "validate"
	attrProperties     = "properties"
	attrSendTo         = "sendto"
	attrClientIDPrefix = "clientidprefix"
	attrOrdering       = "ordering"
	attrWorkers        = "workers"
	attrRetry          = "retry"
	attrTransactional  = "transactional"
	attrCluster        = "cluster"
	attrGroupProtocol  = "groupprotocol"
)

// boolAttrs may be written bare ("batch" means "batch=true").
var boolAttrs = map[string]bool{attrAutoStartup: true, attrBatch: true, attrValidate: true, attrRetry: true, attrTransactional: true}

var knownAttrs = map[string]bool{
	attrID: true, attrTopics: true, attrPattern: true, attrPartitions: true, attrGroup: true,
	attrConcurrency: true, attrAutoStartup: true, attrBatch: true, attrAck: true,
	attrErrorHandler: true, attrDLT: true, attrValidate: true, attrProperties: true,
	attrSendTo: true, attrClientIDPrefix: true, attrOrdering: true, attrWorkers: true,
	attrRetry: true, attrTransactional: true, attrCluster: true, attrGroupProtocol: true,
}

type rawAttr struct {
	name  string
	value string
	bare  bool
}

// splitTop splits s at every byte in seps that is not nested inside (), [],
// or {} (so "${a:x,y}" and "pattern=a{1,3}" stay whole). Empty pieces are
// kept; callers decide whether they are errors.
func splitTop(s, seps string) []string {
	var (
		out   []string
		depth int
		start int
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		case depth == 0 && strings.IndexByte(seps, c) >= 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parseAttrs splits a tag into attributes, rejecting unknown, duplicate and
// empty ones.
func parseAttrs(tag string) ([]rawAttr, error) {
	if strings.TrimSpace(tag) == "" {
		return nil, errors.New("empty tag")
	}
	var (
		attrs []rawAttr
		seen  = make(map[string]bool)
	)
	for _, piece := range splitTop(tag, ",") {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			return nil, errors.New("empty attribute (stray comma?)")
		}
		name, value, hasValue := strings.Cut(piece, "=")
		if !hasValue && strings.Contains(piece, ":") && len(attrs) > 0 && attrs[len(attrs)-1].name == attrRetry &&
			!attrs[len(attrs)-1].bare {
			// retry=attempts:4,backoff:1s: the items after the first
			// continue the retry attribute (attribute names have no ':').
			attrs[len(attrs)-1].value += "," + piece
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !knownAttrs[name] {
			return nil, fmt.Errorf("unknown attribute %q", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicate attribute %q", name)
		}
		seen[name] = true
		if !hasValue {
			if !boolAttrs[name] {
				return nil, fmt.Errorf("attribute %q needs a value (%s=...)", name, name)
			}
			attrs = append(attrs, rawAttr{name: name, value: "true", bare: true})
			continue
		}
		if value == "" {
			return nil, fmt.Errorf("attribute %q has an empty value", name)
		}
		attrs = append(attrs, rawAttr{name: name, value: value})
	}
	return attrs, nil
}

// endpointFromTag builds an endpoint from a struct tag, resolving
// placeholders in every value before parsing it.
func endpointFromTag(tag string, resolve Resolver) (*Endpoint, error) {
	attrs, err := parseAttrs(tag)
	if err != nil {
		return nil, err
	}
	ep := new(Endpoint)
	for _, a := range attrs {
		v, err := resolveValue(a.value, resolve)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.name, err)
		}
		if err := setAttr(ep, a.name, v); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.name, err)
		}
	}
	return ep, nil
}

func setAttr(ep *Endpoint, name, v string) error {
	var err error
	switch name {
	case attrID:
		ep.ID = v
	case attrTopics:
		ep.Topics, err = splitList(v)
	case attrPattern:
		ep.Pattern = v
	case attrPartitions:
		ep.Partitions, err = parsePartitions(v)
	case attrGroup:
		ep.Group = v
	case attrConcurrency:
		ep.Concurrency, err = positive(v)
	case attrAutoStartup:
		ep.AutoStartup, err = parseToggle(v)
	case attrBatch:
		var t Toggle
		t, err = parseToggle(v)
		ep.Batch, ep.batchSet = t == On, true
	case attrAck:
		ep.AckMode, err = ParseAckMode(v)
	case attrErrorHandler:
		ep.ErrorHandler = v
	case attrDLT:
		ep.DLT = v
	case attrValidate:
		ep.Validate, err = parseToggle(v)
	case attrProperties:
		ep.Properties, err = parseProperties(v)
	case attrSendTo:
		ep.SendTo = v
	case attrClientIDPrefix:
		ep.ClientIDPrefix = v
	case attrOrdering:
		ep.Ordering, err = ParseOrdering(v)
	case attrRetry:
		ep.Retry, err = ParseRetryTopics(v)
	case attrTransactional:
		ep.Transactional, err = parseToggle(v)
	case attrCluster:
		ep.Cluster = v
	case attrWorkers:
		ep.Workers, err = positive(v)
	case attrGroupProtocol:
		switch v = strings.ToLower(v); v {
		case "classic", "consumer":
			ep.GroupProtocol = v
		default:
			err = fmt.Errorf("want classic or consumer, got %q", v)
		}
	}
	return err
}

// positive parses a count of at least 1.
func positive(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && n < 1 {
		err = fmt.Errorf("must be at least 1, got %d", n)
	}
	return n, err
}

func parseToggle(v string) (Toggle, error) {
	switch strings.ToLower(v) {
	case "true", "on", "yes":
		return On, nil
	case "false", "off", "no":
		return Off, nil
	}
	return Auto, fmt.Errorf("invalid boolean %q (want true|false|on|off)", v)
}

// splitList splits a resolved list value on ';' and ',' (outside brackets),
// trimming blanks; empty items are an error.
func splitList(v string) ([]string, error) {
	parts := splitTop(v, ";,")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("empty item in list %q", v)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePartitions parses "topic:P[-Q][@offset];..." where offset is
// earliest, latest, N (absolute) or -N (N before the end).
func parsePartitions(v string) ([]TopicPartition, error) {
	items, err := splitList(v)
	if err != nil {
		return nil, err
	}
	var out []TopicPartition
	for _, item := range items {
		spec, off, hasOff := strings.Cut(item, "@")
		topic, parts, ok := cutLast(spec, ":")
		if !ok || topic == "" || parts == "" {
			return nil, fmt.Errorf("invalid partition %q (want topic:partition[@offset], e.g. orders:0@earliest or orders:0-3)", item)
		}
		lo, hi, err := parseRange(parts)
		if err != nil {
			return nil, fmt.Errorf("invalid partition %q: %w", item, err)
		}
		var o Offset
		if hasOff {
			if o, err = ParseOffset(off); err != nil {
				return nil, fmt.Errorf("invalid partition %q: %w", item, err)
			}
		}
		for p := lo; p <= hi; p++ {
			out = append(out, TopicPartition{Topic: topic, Partition: p, Offset: o})
		}
	}
	return out, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func parseRange(s string) (lo, hi int32, err error) {
	a, b, isRange := strings.Cut(s, "-")
	l, err := strconv.ParseInt(strings.TrimSpace(a), 10, 32)
	if err != nil || l < 0 {
		return 0, 0, fmt.Errorf("bad partition number %q", a)
	}
	if !isRange {
		return int32(l), int32(l), nil
	}
	h, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
	if err != nil || h < l {
		return 0, 0, fmt.Errorf("bad partition range %q", s)
	}
	return int32(l), int32(h), nil
}

// ParseOffset parses an initial offset as written in the partitions
// attribute: "earliest", "latest", "N" (absolute), "-N" (N records before
// the end; -1 is the last record), or "" / "committed" (the committed
// offset).
func ParseOffset(s string) (Offset, error) {
	switch s = strings.TrimSpace(strings.ToLower(s)); s {
	case "", "committed":
		return Offset{}, nil
	case "earliest", "beginning":
		return Offset{Kind: OffsetEarliest}, nil
	case "latest", "end":
		return Offset{Kind: OffsetLatest}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return Offset{}, fmt.Errorf("bad offset %q (want earliest|latest|N|-N)", s)
	}
	if n < 0 {
		return Offset{Kind: OffsetFromEnd, Value: -n}, nil
	}
	return Offset{Kind: OffsetAt, Value: n}, nil
}

// parseProperties parses "k=v;k2=v2".
func parseProperties(v string) (map[string]string, error) {
	items, err := splitList(v)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(items))
	for _, item := range items {
		k, val, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid property %q (want key=value)", item)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate property %q", k)
		}
		m[k] = strings.TrimSpace(val)
	}
	return m, nil
}
