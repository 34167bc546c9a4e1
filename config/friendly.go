package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/knadh/koanf/v2"
	yamlv3 "go.yaml.in/yaml/v3"
)

// Meeting Spring users where they are
//
// Spring Boot's property names are accepted as aliases of kafkaboot's,
// under kafka. instead of spring.kafka. (see SpringAliases); a
// spring.kafka root, or SPRING_KAFKA_* environment variables, fail with
// the kafka.* key meant; unknown keys and KAFKA_* environment variables
// one or two letters away from a known one are refused with a
// suggestion; errors about keys of a YAML file name the file and line.

// SpringAliases maps Spring Boot's names of spring.kafka properties, under
// kafka., to kafkaboot's keys where the two differ. Setting both an alias
// and its key to different values is an error naming both.
var SpringAliases = map[string]string{
	"kafka.producer.transaction-id-prefix": "kafka.producer.transactional-id-prefix",
	"kafka.listener.idle-event-interval":   "kafka.listener.idle-interval",
	"kafka.consumer.fetch-min-size":        "kafka.consumer.fetch-min-bytes",
	"kafka.retry.topic.enabled":            "kafka.listener.retry.enabled",
	"kafka.retry.topic.attempts":           "kafka.listener.retry.attempts",
	"kafka.retry.topic.delay":              "kafka.listener.retry.delay",
	"kafka.retry.topic.multiplier":         "kafka.listener.retry.multiplier",
	"kafka.retry.topic.max-delay":          "kafka.listener.retry.max-delay",
}

// applyAliases moves the values of Spring Boot's names onto kafkaboot's;
// defaults is the flattened tree of built-in defaults, which an alias may
// override without conflict.
func applyAliases(k *koanf.Koanf, defaults map[string]any) error {
	var errs []error
	for _, alias := range slices.Sorted(maps.Keys(SpringAliases)) {
		if !k.Exists(alias) {
			continue
		}
		key := SpringAliases[alias]
		v := k.Get(alias)
		if k.Exists(key) {
			cur := k.Get(key)
			if fmt.Sprint(cur) != fmt.Sprint(defaults[key]) && fmt.Sprint(cur) != fmt.Sprint(v) {
				errs = append(errs, &FieldError{Key: alias, Msg: fmt.Sprintf("Spring Boot's name for %s, which is set too, to another value (%v and %v): keep one", key, v, cur)})
				continue
			}
		}
		k.Delete(alias)
		if err := k.Set(key, v); err != nil {
			errs = append(errs, &FieldError{Key: alias, Msg: err.Error(), Err: err})
		}
	}
	if m, ok := k.Get("kafka.retry").(map[string]any); ok && emptyTree(m) {
		k.Delete("kafka.retry")
	}
	return errors.Join(errs...)
}

func emptyTree(m map[string]any) bool {
	for _, v := range m {
		if sub, ok := v.(map[string]any); !ok || !emptyTree(sub) {
			return false
		}
	}
	return true
}

// springRoot refuses a spring.kafka tree (from files or values) and
// SPRING_KAFKA_* environment variables: kafkaboot reads kafka.*.
func springRoot(k *koanf.Koanf, environ []string) error {
	var errs []error
	for _, key := range k.Keys() {
		if rest, ok := strings.CutPrefix(key, "spring.kafka."); ok {
			errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf("kafkaboot reads kafka.* (did you mean kafka.%s?)", rest), Err: ErrUnknownKey})
		}
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if rest, ok := strings.CutPrefix(name, "SPRING_KAFKA_"); ok {
			errs = append(errs, &FieldError{Key: "environment variable " + name,
				Msg: fmt.Sprintf("kafkaboot reads KAFKA_* (did you mean KAFKA_%s?)", rest), Err: ErrUnknownKey})
		}
	}
	return errors.Join(errs...)
}

// suggest returns the candidate closest to name: the same once case, '-'
// and '_' are ignored, or at most two edits away; "" if none is, or if
// two are equally close.
func suggest(name string, candidates []string) string {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r == '.' {
				return -1
			}
			return r
		}, strings.ToLower(s))
	}
	best, bestD, tie := "", 3, false
	for _, c := range candidates {
		d := editDistance(norm(name), norm(c))
		if norm(name) == norm(c) {
			d = 0
		}
		switch {
		case d < bestD:
			best, bestD, tie = c, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie || best == "" {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
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

// envNames returns the environment variable of every kafka.* key that can
// be set from the environment (without the KAFKA_ prefix).
func envNames(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == durationType || t == byteSizeType {
		*out = append(*out, prefix)
		return
	}
	for i := range t.NumField() {
		n := tagName(t.Field(i))
		if n == "" || t.Field(i).Type.Kind() == reflect.Map {
			continue
		}
		p := envNorm(n)
		if prefix != "" {
			p = prefix + "_" + p
		}
		envNames(t.Field(i).Type, p, out)
	}
}

// otherKafkaVars are KAFKA_* variables of Kafka's own scripts and images,
// never meant for kafkaboot.
var otherKafkaVars = map[string]bool{
	"HOME": true, "HEAP_OPTS": true, "OPTS": true, "JMX_OPTS": true, "LOG4J_OPTS": true, "JVM_PERFORMANCE_OPTS": true,
	"GC_LOG_OPTS": true, "DEBUG": true, "LOG_DIR": true, "VERSION": true,
}

// nearMissEnv refuses KAFKA_* variables that set no key but are one or
// two letters away from a variable that would (KAFKA_BOOTSTRAP_SERVER for
// KAFKA_BOOTSTRAP_SERVERS); other KAFKA_* variables are left alone.
func nearMissEnv(rest string) error {
	if otherKafkaVars[rest] {
		return nil
	}
	var names []string
	envNames(reflect.TypeFor[Kafka](), "", &names)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(rest, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return nil
	}
	return &FieldError{Key: "environment variable KAFKA_" + rest,
		Msg: fmt.Sprintf("matches no key (did you mean KAFKA_%s?)", best), Err: ErrUnknownKey}
}

// yamlParseError reports a YAML syntax error with the line where it is:
// yaml names the line where the enclosing block started for some errors
// (a wrongly indented key deep in a mapping is "line 1: did not find
// expected key"). The smallest prefix of the file that fails to parse
// with the same message ends on the line at fault.
func yamlParseError(path string, err error) error {
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return &FieldError{Key: "(file " + path + ")", Msg: "parse YAML: " + err.Error(), Err: err}
	}
	msg := yamlMessage(err.Error())
	lines := bytes.SplitAfter(data, []byte("\n"))
	line := 0
	for n := 1; n <= len(lines); n++ {
		var v any
		perr := yamlv3.Unmarshal(bytes.Join(lines[:n], nil), &v)
		if perr != nil && yamlMessage(perr.Error()) == msg {
			line = n
			break
		}
	}
	if line == 0 {
		return &FieldError{Key: "(file " + path + ")", Msg: "parse YAML: " + err.Error(), Err: err}
	}
	return &FieldError{Key: fmt.Sprintf("(file %s line %d)", path, line),
		Msg: fmt.Sprintf("invalid YAML: %s: %s", msg, strings.TrimRight(string(lines[line-1]), "\r\n")), Err: err}
}

// yamlMessage strips "yaml: line N: " from a yaml error.
func yamlMessage(s string) string {
	s = strings.TrimPrefix(s, "yaml: ")
	if rest, ok := strings.CutPrefix(s, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, err := strconv.Atoi(rest[:i]); err == nil {
				return rest[i+2:]
			}
		}
	}
	return s
}

// keyLines maps the dotted keys of a YAML file ("kafka.producer.acks",
// "kafka.admin.topics[0].name") to their lines.
func keyLines(path string) map[string]int {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var root yamlv3.Node
	if yamlv3.Unmarshal(data, &root) != nil {
		return nil
	}
	out := map[string]int{}
	var walk func(n *yamlv3.Node, key string)
	walk = func(n *yamlv3.Node, key string) {
		switch n.Kind {
		case yamlv3.DocumentNode:
			for _, c := range n.Content {
				walk(c, key)
			}
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if key != "" {
					k = key + "." + k
				}
				out[k] = n.Content[i].Line
				walk(n.Content[i+1], k)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				k := fmt.Sprintf("%s[%d]", key, i)
				out[k] = c.Line
				walk(c, k)
			}
		}
	}
	walk(&root, "")
	return out
}

// withLines adds "(file line N)" to the field errors of err whose key is
// in one of files.
func withLines(err error, files []string) error {
	if err == nil || len(files) == 0 {
		return err
	}
	lines := make([]map[string]int, len(files))
	for i, f := range files {
		lines[i] = keyLines(f)
	}
	var out []error
	var walk func(e error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			cp := *fe
			for i := len(files) - 1; i >= 0; i-- { // the last file wins, as in loading
				if l, ok := lines[i][yamlKey(cp.Key)]; ok {
					cp.Msg += fmt.Sprintf(" (%s line %d)", files[i], l)
					break
				}
			}
			out = append(out, &cp)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, e)
	}
	walk(err)
	return joinErrs(out)
}

// yamlKey turns a validation key "kafka.listeners[orders].ack-mode" into
// the YAML path "kafka.listeners.orders.ack-mode".
func yamlKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		if key[i] == '[' {
			j := strings.IndexByte(key[i:], ']')
			if j > 0 {
				inner := key[i+1 : i+j]
				if _, err := strconv.Atoi(inner); err != nil {
					b.WriteString("." + inner)
					i += j
					continue
				}
			}
		}
		b.WriteByte(key[i])
	}
	return b.String()
}
