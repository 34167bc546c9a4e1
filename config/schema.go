package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ByteSize is a size in bytes. In configuration it accepts an integer or a
// string with a unit suffix B, KB, MB, GB (or KiB, MiB, GiB); as in Spring
// Boot's DataSize, all units are powers of 1024 ("1KB" = 1024).
type ByteSize int64

// ParseByteSize parses s as a [ByteSize].
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsDigit(r) && r != '-' && r != '+' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	var mul int64
	switch unit {
	case "", "B":
		mul = 1
	case "K", "KB", "KIB":
		mul = 1 << 10
	case "M", "MB", "MIB":
		mul = 1 << 20
	case "G", "GB", "GIB":
		mul = 1 << 30
	default:
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, unit)
	}
	if n > math.MaxInt64/mul || n < math.MinInt64/mul {
		return 0, fmt.Errorf("invalid size %q: overflow", s)
	}
	return ByteSize(n * mul), nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

func reflectValueOf(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// tagName returns the koanf key of a struct field, or "" to skip it.
func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// ---------------------------------------------------------------------------
// decoding

// decoder decodes koanf's raw maps into typed structs, converting weakly
// typed input (environment strings, YAML scalars) and collecting one
// FieldError per bad key.
type decoder struct {
	errs []error
}

func (d *decoder) fail(key string, err error, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...), Err: err})
}

// decode decodes raw into v (addressable), reporting problems under key.
// Only keys present in raw are written, so v may be pre-populated.
func (d *decoder) decode(key string, raw any, v reflect.Value) {
	if raw == nil {
		return // "key:" with no value in YAML: leave the default
	}
	t := v.Type()
	switch {
	case t == durationType:
		dur, err := toDuration(raw)
		if err != nil {
			d.fail(key, err, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	case t == byteSizeType:
		n, err := toByteSize(raw)
		if err != nil {
			d.fail(key, err, "%v", err)
			return
		}
		v.SetInt(int64(n))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		nv := reflect.New(t.Elem())
		if v.IsNil() {
			nv.Elem().Set(reflect.Zero(t.Elem()))
		} else {
			nv.Elem().Set(v.Elem())
		}
		n := len(d.errs)
		d.decode(key, raw, nv.Elem())
		if len(d.errs) == n {
			v.Set(nv)
		}
	case reflect.String:
		s, ok := scalarString(raw)
		if !ok {
			d.fail(key, nil, "expected a string, got %s", describe(raw))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		switch x := raw.(type) {
		case bool:
			v.SetBool(x)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				d.fail(key, err, "expected true or false, got %q", x)
				return
			}
			v.SetBool(b)
		default:
			d.fail(key, nil, "expected true or false, got %s", describe(raw))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := toInt(raw)
		if err != nil {
			d.fail(key, err, "%v", err)
			return
		}
		if v.OverflowInt(n) {
			d.fail(key, nil, "value %d out of range", n)
			return
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := toInt(raw)
		if err != nil {
			d.fail(key, err, "%v", err)
			return
		}
		if n < 0 || v.OverflowUint(uint64(n)) {
			d.fail(key, nil, "value %d out of range", n)
			return
		}
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		var f float64
		switch x := raw.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case string:
			p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				d.fail(key, err, "expected a number, got %q", x)
				return
			}
			f = p
		default:
			n, err := toInt(raw)
			if err != nil {
				d.fail(key, err, "expected a number, got %s", describe(raw))
				return
			}
			f = float64(n)
		}
		if v.OverflowFloat(f) {
			d.fail(key, nil, "value %v out of range", f)
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		d.decodeSlice(key, raw, v)
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			d.fail(key, nil, "expected a map, got %s", describe(raw))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		if t.Elem().Kind() != reflect.String {
			for _, k := range sortedKeys(m) {
				ev := reflect.New(t.Elem()).Elem()
				if old := v.MapIndex(reflect.ValueOf(k).Convert(t.Key())); old.IsValid() {
					ev.Set(old)
				}
				n := len(d.errs)
				d.decode(key+"."+k, m[k], ev)
				if len(d.errs) == n {
					v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
				}
			}
			return
		}
		// String values: nested maps come from dotted property names
		// ("max.request.size") split by koanf; flatten them back.
		flat := map[string]any{}
		flattenInto(flat, "", m)
		for _, k := range sortedKeys(flat) {
			s, ok := scalarString(flat[k])
			if !ok {
				d.fail(key+"."+k, nil, "expected a string, got %s", describe(flat[k]))
				continue
			}
			v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), reflect.ValueOf(s).Convert(t.Elem()))
		}
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			d.fail(key, nil, "expected a map, got %s", describe(raw))
			return
		}
		fields := map[string]int{}
		for i := range t.NumField() {
			if n := tagName(t.Field(i)); n != "" {
				fields[n] = i
			}
		}
		for _, k := range sortedKeys(m) {
			i, ok := fields[k]
			if !ok {
				d.fail(key+"."+k, ErrUnknownKey, "unknown key%s", didYouMean(key, k, t))
				continue
			}
			d.decode(key+"."+k, m[k], v.Field(i))
		}
	default:
		d.fail(key, nil, "unsupported field type %s", t)
	}
}

func (d *decoder) decodeSlice(key string, raw any, v reflect.Value) {
	t := v.Type()
	elem := t.Elem()
	if elem.Kind() == reflect.String {
		var out []string
		switch x := raw.(type) {
		case string:
			for _, p := range strings.Split(x, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		case []string:
			out = append(out, x...)
		case []any:
			for i, e := range x {
				s, ok := scalarString(e)
				if !ok {
					d.fail(fmt.Sprintf("%s[%d]", key, i), nil, "expected a string, got %s", describe(e))
					continue
				}
				out = append(out, s)
			}
		default:
			d.fail(key, nil, "expected a list or comma-separated string, got %s", describe(raw))
			return
		}
		sv := reflect.MakeSlice(t, len(out), len(out))
		for i, s := range out {
			sv.Index(i).SetString(s)
		}
		v.Set(sv)
		return
	}
	var items []any
	switch x := raw.(type) {
	case []any:
		items = x
	case map[string]any:
		// Indexed form from the environment: {"0": {...}, "1": {...}}.
		idx := make([]int, 0, len(x))
		for k := range x {
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 {
				d.fail(key+"."+k, nil, "expected a list index")
				return
			}
			idx = append(idx, n)
		}
		sort.Ints(idx)
		for _, n := range idx {
			items = append(items, x[strconv.Itoa(n)])
		}
	default:
		d.fail(key, nil, "expected a list, got %s", describe(raw))
		return
	}
	sv := reflect.MakeSlice(t, len(items), len(items))
	for i, it := range items {
		d.decode(fmt.Sprintf("%s[%d]", key, i), it, sv.Index(i))
	}
	v.Set(sv)
}

func flattenInto(dst map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			flattenInto(dst, k, sub)
			continue
		}
		dst[k] = v
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func describe(raw any) string {
	switch x := raw.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case string:
		return strconv.Quote(x)
	default:
		return fmt.Sprintf("%v (%T)", raw, raw)
	}
}

// scalarString converts a scalar to its string form.
func scalarString(raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case time.Duration:
		return x.String(), true
	case ByteSize:
		return strconv.FormatInt(int64(x), 10), true
	case []string:
		return strings.Join(x, ","), true
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := scalarString(e)
			if !ok {
				return "", false
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), true
	}
	return "", false
}

var errNotInt = errors.New("not an integer")

func toInt(raw any) (int64, error) {
	switch x := raw.(type) {
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, fmt.Errorf("value %d out of range", x)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("value %d out of range", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || x > math.MaxInt64 || x < math.MinInt64 {
			return 0, fmt.Errorf("expected an integer, got %v: %w", x, errNotInt)
		}
		return int64(x), nil
	case ByteSize:
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q: %w", x, errNotInt)
		}
		return n, nil
	}
	return 0, fmt.Errorf("expected an integer, got %s: %w", describe(raw), errNotInt)
}

func toByteSize(raw any) (ByteSize, error) {
	if s, ok := raw.(string); ok {
		return ParseByteSize(s)
	}
	n, err := toInt(raw)
	return ByteSize(n), err
}

// toDuration accepts time.Duration, Go duration strings ("250ms", "1m30s")
// and integers (strings or numbers), which are milliseconds as in Spring.
func toDuration(raw any) (time.Duration, error) {
	switch x := raw.(type) {
	case time.Duration:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Duration(n) * time.Millisecond, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 500ms, 5s, 1m; bare numbers are milliseconds)", x)
		}
		return d, nil
	}
	n, err := toInt(raw)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %s (use e.g. 500ms, 5s, 1m; bare numbers are milliseconds)", describe(raw))
	}
	return time.Duration(n) * time.Millisecond, nil
}

// ---------------------------------------------------------------------------
// encoding (defaults -> koanf)

// encode converts a typed value into koanf's raw form so that defaults are
// visible to Lookup. Nil pointers and empty maps/slices are omitted.
func encode(v reflect.Value) any {
	t := v.Type()
	if t == durationType || t == byteSizeType {
		return v.Interface()
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return encode(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			n := tagName(t.Field(i))
			if n == "" {
				continue
			}
			if e := encode(v.Field(i)); e != nil {
				m[n] = e
			}
		}
		return m
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = encode(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		m := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = iter.Value().Interface()
		}
		return m
	default:
		return v.Interface()
	}
}

// ---------------------------------------------------------------------------
// environment mapping

// envNorm is the relaxed environment form of a key: upper case with '.'
// and '-' replaced by '_'.
func envNorm(key string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '-':
			return '_'
		}
		return unicode.ToUpper(r)
	}, key)
}

// matchEnv maps the remainder of an environment variable name (after
// "KAFKA_") onto the key tree of t, returning the dotted key relative to
// t, or "" when nothing matches.
func matchEnv(t reflect.Type, rest string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType || t == byteSizeType {
		if rest == "" {
			return "."
		}
		return ""
	}
	switch t.Kind() {
	case reflect.Struct:
		if rest == "" {
			return ""
		}
		// Prefer the longest matching field name, so that a field
		// "client-id" wins over a hypothetical field "client".
		best, bestLen := "", -1
		for i := range t.NumField() {
			f := t.Field(i)
			n := tagName(f)
			if n == "" {
				continue
			}
			nn := envNorm(n)
			var sub string
			switch {
			case rest == nn:
				sub = matchEnv(f.Type, "")
			case strings.HasPrefix(rest, nn+"_"):
				sub = matchEnv(f.Type, rest[len(nn)+1:])
			default:
				continue
			}
			if sub == "" || len(nn) <= bestLen {
				continue
			}
			best, bestLen = n, len(nn)
			if sub != "." {
				best += "." + sub
			}
		}
		return best
	case reflect.Map:
		if rest == "" {
			return ""
		}
		return strings.ReplaceAll(strings.ToLower(rest), "_", ".")
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Struct {
			if rest == "" {
				return "."
			}
			return ""
		}
		idx, sub, ok := strings.Cut(rest, "_")
		if !ok {
			return ""
		}
		if _, err := strconv.Atoi(idx); err != nil {
			return ""
		}
		m := matchEnv(t.Elem(), sub)
		if m == "" {
			return ""
		}
		return idx + "." + m
	default:
		if rest == "" {
			return "."
		}
		return ""
	}
}
