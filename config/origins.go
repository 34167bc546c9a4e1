package config

import (
	"fmt"
	"strings"

	"github.com/knadh/koanf/v2"
)

// origin is where a key was set.
type origin struct {
	file  string // YAML file
	line  int    // and line in it
	env   string // or environment variable
	alias string // the alias the key was set as
}

// source is one configuration source (a defaults map, a file, the
// environment, a values map) before it is merged: aliases and the
// spring.kafka root are handled per source, so that an alias and its key
// in one source conflict while in different sources the usual precedence
// applies.
type source struct {
	k       *koanf.Koanf
	origins map[string]origin // by key as in k (or as written, for errors)
}

func newSource() *source { return &source{k: koanf.New("."), origins: map[string]origin{}} }

// loader merges sources, keeping where every key comes from.
type loader struct {
	k       *koanf.Koanf
	origins map[string]origin
	errs    []error
}

// add merges s over what is loaded so far, after refusing its spring.kafka
// keys and moving its aliases to their keys.
func (l *loader) add(s *source) error {
	if errs := s.rewrite(); len(errs) > 0 {
		l.errs = append(l.errs, locate(joinErrs(errs), s.origins))
	}
	// A key of s replaces what was at the key, and a value (not a map)
	// at an ancestor: forget where those were set.
	leaves := map[string]bool{}
	for _, key := range l.k.Keys() {
		leaves[key] = true
	}
	for _, key := range s.k.Keys() {
		forget(l.origins, key)
		for a := key; ; {
			i := strings.LastIndexByte(a, '.')
			if i < 0 {
				break
			}
			a = a[:i]
			if leaves[a] {
				forget(l.origins, a)
			}
		}
	}
	for key, o := range s.origins {
		l.origins[key] = o
	}
	return l.k.Merge(s.k)
}

// forget deletes the origins of key and of the keys below it.
func forget(origins map[string]origin, key string) {
	for k := range origins {
		if k == key || strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			delete(origins, k)
		}
	}
}

// rewrite refuses the spring.kafka keys of s and moves the values of
// aliases to their keys; an alias set next to its key is an error.
func (s *source) rewrite() []error {
	var errs []error
	leaves := s.k.Keys()
	present := make(map[string]bool, len(leaves))
	for _, key := range leaves {
		present[key] = true
	}
	type move struct{ from, to string }
	var moves []move
	for _, key := range leaves {
		if key == "spring.kafka" || strings.HasPrefix(key, "spring.kafka.") {
			errs = append(errs, springKeyError(key))
			continue
		}
		root, rel, ok := kafkaRoot(key)
		if !ok {
			continue
		}
		if to := aliasOf(rel); to != "" {
			moves = append(moves, move{key, root + "." + to})
		} else if fe := aliasError(root, rel); fe != nil {
			errs = append(errs, fe)
			s.k.Delete(key)
		}
	}
	by := map[string]string{} // key -> alias moved there, and where it was set
	for _, m := range moves {
		also, conflict := "", true
		switch {
		case present[m.to] || hasBelow(present, m.to):
			also = s.where(m.to)
		case by[m.to] != "":
			also = " as " + by[m.to]
		default:
			conflict = false
		}
		if conflict {
			errs = append(errs, &FieldError{Key: m.from, Msg: fmt.Sprintf("alias of %s, which is also set%s: set only one", m.to, also)})
			s.k.Delete(m.from)
			continue
		}
		by[m.to] = m.from + s.where(m.from)
		v := s.k.Get(m.from)
		s.k.Delete(m.from)
		if err := s.k.Set(m.to, v); err != nil {
			errs = append(errs, &FieldError{Key: m.from, Msg: err.Error(), Err: err})
			continue
		}
		for k, o := range s.origins {
			rest, ok := strings.CutPrefix(k, m.from)
			if !ok || rest != "" && rest[0] != '.' && rest[0] != '[' {
				continue
			}
			delete(s.origins, k)
			if o.env == "" {
				o.alias = m.from + rest
			}
			s.origins[m.to+rest] = o
		}
		if _, ok := s.origins[m.to]; !ok {
			s.origins[m.to] = origin{alias: m.from}
		}
	}
	return errs
}

func hasBelow(keys map[string]bool, key string) bool {
	for k := range keys {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// where says where key was set in s, for an error about another key of
// s: " on line 3", " by KAFKA_X" or "".
func (s *source) where(key string) string {
	o := s.origins[key]
	switch {
	case o.line > 0:
		return fmt.Sprintf(" on line %d", o.line)
	case o.env != "":
		return " by " + o.env
	}
	return ""
}

// locate completes the *FieldError values in err that do not say where
// their key was set from origins.
func locate(err error, origins map[string]origin) error {
	if err == nil {
		return nil
	}
	var out []error
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			if fe.located || fe.Key == "" {
				out = append(out, fe)
				return
			}
			cp := *fe
			cp.located = true
			if o, ok := lookupOrigin(origins, cp.Key); ok {
				cp.File, cp.Line, cp.Env, cp.Alias = o.file, o.line, o.env, o.alias
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

// lookupOrigin finds where key, as an error names it, was set: the key
// itself, or for an element of a list given as one value
// ("kafka.bootstrap-servers[1]") the list, or for a missing field of a
// list element the element. Map keys may be written "[id]" (validation
// errors) and list indexes ".0" (environment variables).
func lookupOrigin(origins map[string]origin, key string) (origin, bool) {
	if len(origins) == 0 {
		return origin{}, false
	}
	key = bracketsToDots(key, false)
	for {
		for _, k := range []string{key, bracketsToDots(key, true)} {
			if o, ok := origins[k]; ok {
				return o, true
			}
		}
		switch i := strings.LastIndexByte(key, '.'); {
		case strings.HasSuffix(key, "]"):
			key = key[:strings.LastIndexByte(key, '[')]
		case i > 0 && strings.HasSuffix(key[:i], "]"):
			key = key[:i]
		default:
			return origin{}, false
		}
	}
}

// bracketsToDots rewrites "[x]" as ".x": map keys only, or list indexes
// too.
func bracketsToDots(key string, indexes bool) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(key, '[')
		j := strings.IndexByte(key, ']')
		if i < 0 || j < i {
			b.WriteString(key)
			return b.String()
		}
		inner := key[i+1 : j]
		if isIndex(inner) && !indexes {
			b.WriteString(key[:j+1])
		} else {
			b.WriteString(key[:i] + "." + inner)
		}
		key = key[j+1:]
	}
}

func isIndex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
