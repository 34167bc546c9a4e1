package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// readYAML reads the YAML file path into a map, as koanf's YAML parser
// does (the same parser, go.yaml.in/yaml/v3), and the line of every key
// in it: "kafka.producer.acks", "kafka.admin.topics[0]",
// "kafka.admin.topics[0].name".
func readYAML(path string) (map[string]any, map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: read file %q: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, yamlSyntaxError(path, b, err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil, nil
		}
		root = doc.Content[0]
	}
	switch {
	case doc.Kind == 0: // empty file
		return nil, nil, nil
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return nil, nil, nil
	case root.Kind != yaml.MappingNode:
		return nil, nil, &FieldError{File: path, Line: root.Line, located: true,
			Msg: fmt.Sprintf("invalid YAML: the top level must be a mapping of keys, got %s", nodeKind(root))}
	}
	var m map[string]any
	if err := doc.Decode(&m); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, yamlSyntaxError(path, b, err)
		}
		var errs []error
		for _, e := range te.Errors {
			line, msg := cutLine(e)
			errs = append(errs, &FieldError{File: path, Line: line, Msg: "invalid YAML: " + msg, Err: err, located: true})
		}
		return nil, nil, joinErrs(errs)
	}
	lines := map[string]int{}
	keyLines(root, "", lines)
	return m, lines, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a " + n.ShortTag()
}

// keyLines records the line of every key below n, whose key is path.
// Keys merged in with "<<" take the lines of the mapping they come from,
// unless the mapping sets them itself.
func keyLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			keyLines(n.Alias, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				v := n.Content[i+1]
				if v.Kind == yaml.SequenceNode {
					for _, e := range v.Content {
						keyLines(e, path, lines)
					}
				} else {
					keyLines(v, path, lines)
				}
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				continue
			}
			key := joinKey(path, k.Value)
			lines[key] = k.Line
			keyLines(n.Content[i+1], key, lines)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			lines[key] = e.Line
			keyLines(e, key, lines)
		}
	}
}

// parserProblems are the problems the YAML parser (not its scanner)
// reports. For those, yaml names the line before the one where the
// enclosing block or flow collection starts, not the line at fault (a
// wrongly indented key deep in a mapping is "line 1: did not find
// expected key").
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// maxSearchLines bounds the files whose syntax errors are located by
// parsing prefixes.
const maxSearchLines = 10000

// yamlSyntaxError reports a YAML syntax error with the line at fault.
// Scanner errors name it already. For parser errors, and errors without
// a line (an unknown anchor), it is the first line whose prefix of the
// file fails to parse with the same problem: up to there the file is
// fine, as truncating YAML at a line boundary leaves a valid document
// (an unclosed '[' or '{' fails on its own line, which is where the
// mistake is).
func yamlSyntaxError(path string, b []byte, err error) error {
	line, problem := cutLine(strings.TrimPrefix(err.Error(), "yaml: "))
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > 1 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // after the final newline
	}
	if line == 0 || parserProblems[problem] {
		from := 1
		if line > 0 {
			// The problem is at or after the start of the enclosing
			// collection: 0-based, which is the line reported.
			from = line + 1
		}
		// A problem at the end of the file is on its last line.
		from = max(1, min(from, len(lines)))
		line = from
		if len(lines) <= maxSearchLines {
			for n := from; n <= len(lines); n++ {
				var doc yaml.Node
				perr := yaml.Unmarshal(bytes.Join(lines[:n], nil), &doc)
				if perr == nil {
					continue
				}
				if _, p := cutLine(strings.TrimPrefix(perr.Error(), "yaml: ")); p == problem {
					line = n
					break
				}
			}
		}
	}
	msg := "invalid YAML: " + problem
	if line >= 1 && line <= len(lines) {
		if text := strings.TrimRight(string(lines[line-1]), "\r\n"); strings.TrimSpace(text) != "" {
			msg += fmt.Sprintf(" in %q", text)
		}
	}
	return &FieldError{File: path, Line: line, Msg: msg, Err: err, located: true}
}

// cutLine splits "line N: msg" into N and msg (0 and s without a line).
func cutLine(s string) (int, string) {
	rest, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0, s
	}
	num, msg, ok := strings.Cut(rest, ": ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, s
	}
	return n, msg
}
