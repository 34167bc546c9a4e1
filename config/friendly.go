package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Meeting Spring users where they are
//
// Spring Boot's property names are accepted as aliases of kafkaboot's,
// under kafka. instead of spring.kafka. (see [SpringAliases]); a
// spring.kafka root, or SPRING_KAFKA_* environment variables, fail with
// the kafka.* key meant; unknown keys, and KAFKA_* environment variables
// one or two edits away from a known one, are refused with a suggestion.

// springAliases maps Spring Boot's names, relative to the kafka root, to
// kafkaboot's keys where the two differ. [aliases] adds
// retry.topic.<key> for listener.retry.<key> (Spring Boot's non-blocking
// retries) for every key of [ListenerRetry].
var springAliases = map[string]string{
	// spring.kafka.bootstrap-servers is ours; these are the Kafka client
	// property's name and its camel case.
	"bootstrap.servers": "bootstrap-servers",
	"bootstrapServers":  "bootstrap-servers",

	"producer.transaction-id-prefix": "producer.transactional-id-prefix",
	"producer.compression-type":      "producer.compression",
	"consumer.fetch-min-size":        "consumer.fetch-min-bytes",
	"listener.idle-event-interval":   "listener.idle-interval",

	// Spring Boot 3.4 moved the back off under retry.topic.backoff.
	"retry.topic.backoff.delay":      "listener.retry.delay",
	"retry.topic.backoff.multiplier": "listener.retry.multiplier",
	"retry.topic.backoff.max-delay":  "listener.retry.max-delay",
}

type aliasTable struct {
	to       map[string]string   // alias -> key, relative to the kafka root
	dirs     map[string]bool     // proper prefixes of aliases that are no key ("retry.topic")
	children map[string][]string // next segments below an alias prefix ("" for the root)
	env      map[string]string   // relaxed environment form -> alias
}

var aliases = sync.OnceValue(func() *aliasTable {
	a := &aliasTable{to: maps.Clone(springAliases), dirs: map[string]bool{}, children: map[string][]string{}, env: map[string]string{}}
	rt := reflect.TypeFor[ListenerRetry]()
	for i := range rt.NumField() {
		if n := tagName(rt.Field(i)); n != "" {
			a.to["retry.topic."+n] = "listener.retry." + n
		}
	}
	kt := reflect.TypeFor[Kafka]()
	for from := range a.to {
		segs := strings.Split(from, ".")
		for i := 1; i <= len(segs); i++ {
			parent, p := strings.Join(segs[:i-1], "."), strings.Join(segs[:i], ".")
			if !slices.Contains(a.children[parent], segs[i-1]) {
				a.children[parent] = append(a.children[parent], segs[i-1])
			}
			if i < len(segs) && !knownIn(kt, p) {
				a.dirs[p] = true
			}
		}
		if !strings.ContainsFunc(from, unicode.IsUpper) {
			a.env[envNorm(from)] = from
		}
	}
	for _, c := range a.children {
		slices.Sort(c)
	}
	return a
})

// SpringAliases returns the Spring Boot property names kafkaboot accepts
// as aliases of its own keys, each mapped to the key it sets: for example
// "kafka.producer.transaction-id-prefix" (Spring Boot's
// spring.kafka.producer.transaction-id-prefix) to
// "kafka.producer.transactional-id-prefix". The map is a copy.
func SpringAliases() map[string]string {
	out := make(map[string]string, len(aliases().to))
	for from, to := range aliases().to {
		out["kafka."+from] = "kafka." + to
	}
	return out
}

// aliasOf returns the key that rel (relative to a kafka root) sets when
// rel is an alias or lies below one ("" if it is not).
func aliasOf(rel string) string {
	a := aliases()
	if to, ok := a.to[rel]; ok {
		return to
	}
	for i := strings.LastIndexByte(rel, '.'); i > 0; i = strings.LastIndexByte(rel[:i], '.') {
		if to, ok := a.to[rel[:i]]; ok {
			return to + rel[i:]
		}
	}
	return ""
}

// kafkaRoot splits a key into its kafka root ("kafka" or
// "kafka.clusters.<name>") and the rest.
func kafkaRoot(key string) (root, rel string, ok bool) {
	rest, ok := strings.CutPrefix(key, "kafka.")
	if !ok {
		return "", "", false
	}
	if c, ok := strings.CutPrefix(rest, "clusters."); ok {
		if name, rel, ok := strings.Cut(c, "."); ok {
			return "kafka.clusters." + name, rel, true
		}
	}
	return "kafka", rest, true
}

// knownIn reports whether the dotted key rel names a key of t (a leaf or
// a subtree).
func knownIn(t reflect.Type, rel string) bool {
	segs := strings.Split(rel, ".")
	n, _ := walkKey(t, segs)
	return n == len(segs)
}

// known reports whether rel, relative to a kafka root, is a key or an
// alias.
func known(rel string) bool {
	if segs := strings.Split(rel, "."); segs[0] == "clusters" && len(segs) <= 2 {
		return true
	}
	if to := aliasOf(rel); to != "" {
		rel = to
	}
	return knownIn(reflect.TypeFor[Kafka](), rel)
}

// walkKey follows segs through t and returns how many of them name keys,
// and the type reached (the one the first unknown segment is looked up
// in).
func walkKey(t reflect.Type, segs []string) (int, reflect.Type) {
	for i, s := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == durationType || t == byteSizeType {
			return i, t
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByKey(t, s)
			if !ok {
				return i, t
			}
			t = f.Type
		case reflect.Map:
			if t.Elem().Kind() == reflect.String {
				return len(segs), t // property names contain dots
			}
			t = t.Elem()
		case reflect.Slice:
			if _, err := strconv.Atoi(s); err != nil || t.Elem().Kind() != reflect.Struct {
				return i, t
			}
			t = t.Elem()
		default:
			return i, t
		}
	}
	return len(segs), t
}

func fieldByKey(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fieldNames returns the keys of struct type t, sorted.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if n := tagName(t.Field(i)); n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// correctKey returns the kafka.* key (or alias) closest to key, itself
// when it is one, or "" when there is none close.
func correctKey(key string) string {
	root, rel, ok := kafkaRoot(key)
	if !ok {
		return ""
	}
	if known(rel) {
		return key
	}
	segs := strings.Split(rel, ".")
	for i := range segs {
		if p := strings.Join(segs[:i+1], "."); known(p) || aliases().dirs[p] {
			continue
		}
		// segs[i] is the first unknown segment: try the closest sibling.
		s := suggest(segs[i], keysBelow(strings.Join(segs[:i], ".")))
		if s == "" {
			return ""
		}
		fixed := slices.Concat(segs[:i], []string{s}, segs[i+1:])
		if known(strings.Join(fixed, ".")) {
			return root + "." + strings.Join(fixed, ".")
		}
		return root + "." + strings.Join(fixed[:i+1], ".")
	}
	return ""
}

// keysBelow returns the names of the keys and aliases right below parent
// (relative to a kafka root; "" is the root).
func keysBelow(parent string) []string {
	out := slices.Clone(aliases().children[parent])
	t := reflect.TypeFor[Kafka]()
	if parent != "" {
		if to := aliasOf(parent); to != "" {
			parent = to
		}
		segs := strings.Split(parent, ".")
		n, pt := walkKey(t, segs)
		if n < len(segs) {
			return out
		}
		t = pt
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		out = append(out, fieldNames(t)...)
	}
	return out
}

// aliasError reports a key below a Spring Boot name that kafkaboot does
// not accept (kafka.retry.topic.random-back-off), under the name written,
// or returns nil when rel is not below one.
func aliasError(root, rel string) *FieldError {
	a := aliases()
	segs := strings.Split(rel, ".")
	if !a.dirs[segs[0]] {
		return nil
	}
	i := 1
	for i < len(segs) && a.dirs[strings.Join(segs[:i+1], ".")] {
		i++
	}
	// segs[:i] are alias directories; segs[i], if any, is unknown.
	if i == len(segs) {
		i-- // a value where Spring Boot has a tree
	}
	parent := strings.Join(segs[:i], ".")
	msg := "unknown key"
	if s := suggest(segs[i], keysBelow(parent)); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", joinKey(root, parent, s))
	}
	return &FieldError{Key: joinKey(root, parent, segs[i]), Msg: msg, Err: ErrUnknownKey}
}

func joinKey(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// springKeyError refuses a key under spring.kafka.
func springKeyError(key string) *FieldError {
	ours := strings.TrimPrefix(key, "spring.")
	msg := "kafkaboot reads kafka.*"
	if ours != "kafka" {
		if s := correctKey(ours); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		} else {
			msg += fmt.Sprintf(" (%s is not a key either)", ours)
		}
	}
	return &FieldError{Key: key, Msg: msg, Err: ErrUnknownKey}
}

// ---------------------------------------------------------------------------
// environment variables

// envKey maps an environment variable name, without "KAFKA_", to a key
// relative to the kafka root (possibly an alias), or "".
func envKey(rest string) string {
	if key := matchEnv(reflect.TypeFor[Kafka](), rest); key != "" {
		return key
	}
	return aliases().env[rest]
}

// envNames lists the environment forms of the kafka.* keys (without
// "KAFKA_"), list indexes as "#", map subtrees left out, and of the
// aliases.
var envNames = sync.OnceValue(func() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == durationType || t == byteSizeType:
			out = append(out, prefix)
		case t.Kind() == reflect.Struct:
			for i := range t.NumField() {
				if n := tagName(t.Field(i)); n != "" {
					walk(t.Field(i).Type, joinEnv(prefix, envNorm(n)))
				}
			}
		case t.Kind() == reflect.Map:
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
			walk(t.Elem(), prefix+"_#")
		default:
			out = append(out, prefix)
		}
	}
	walk(reflect.TypeFor[Kafka](), "")
	out = append(out, slices.Collect(maps.Keys(aliases().env))...)
	slices.Sort(out)
	return slices.Compact(out)
})

func joinEnv(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "_" + name
}

// nearEnv returns the environment form (without "KAFKA_") of the key
// closest to rest, the name of a variable that sets nothing, or "" when
// none is close: variables of other programs (KAFKA_HOME, KAFKA_OPTS) are
// not near any.
func nearEnv(rest string) string {
	segs := strings.Split(rest, "_")
	var idx []string
	for i, s := range segs {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			idx = append(idx, s)
			segs[i] = "#"
		}
	}
	best := suggest(strings.Join(segs, "_"), envNames())
	for _, n := range idx {
		best = strings.Replace(best, "#", n, 1)
	}
	return strings.ReplaceAll(best, "#", "0")
}

// springEnvError refuses a SPRING_KAFKA_* variable; rest follows
// "SPRING_KAFKA_".
func springEnvError(prefix, rest string) *FieldError {
	msg := "matches no key: kafkaboot reads " + prefix + "KAFKA_*"
	switch {
	case envKey(rest) != "":
		msg += fmt.Sprintf(" (did you mean %sKAFKA_%s?)", prefix, rest)
	case nearEnv(rest) != "":
		msg += fmt.Sprintf(" (did you mean %sKAFKA_%s?)", prefix, nearEnv(rest))
	}
	return &FieldError{Env: prefix + "SPRING_KAFKA_" + rest, Msg: msg, Err: ErrUnknownKey, located: true}
}

// ---------------------------------------------------------------------------
// suggestions

// suggest returns the candidate closest to name: one that is the same
// once case, '-' and '_' are ignored, or else the nearest at most two
// edits away (and fewer edits than name has characters); "" if none is.
// Ties go to the first candidate in order.
func suggest(name string, candidates []string) string {
	sq := squash(name)
	best, bestD := "", 3
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := editDistance(name, c)
		if squash(c) == sq {
			d = 0
		}
		if d < bestD && d < len(name) {
			best, bestD = c, d
		}
	}
	return best
}

func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// editDistance is the Levenshtein distance of a and b (bytewise: keys
// are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// didYouMean is " (did you mean <parent>.<s>?)" for the field s of the
// struct at parent closest to the unknown key name, or "".
func didYouMean(parent, name string, t reflect.Type) string {
	if s := suggest(name, fieldNames(t)); s != "" {
		return fmt.Sprintf(" (did you mean %s.%s?)", parent, s)
	}
	return ""
}
