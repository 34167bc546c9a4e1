package embeddedbroker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/schemaregistry"
)

// checker parses schemas and checks compatibility for the registry.
type checker struct{}

// canonical is a stored schema's identity (records read back from
// _schemas were validated when registered).
func canonical(typ, text string, _ []schemaregistry.Reference) string {
	c, err := checker{}.Canonical(typ, text, nil)
	if err != nil {
		return text
	}
	return c
}

// Canonical implements schemaregistry.Checker.
func (checker) Canonical(typ, text string, _ map[string]schemaregistry.RefSchema) (string, error) {
	switch typ {
	case "AVRO", "JSON":
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(text)); err != nil {
			return "", fmt.Errorf("not JSON: %w", err)
		}
		return b.String(), nil
	}
	return strings.TrimSpace(text), nil
}

// Check implements schemaregistry.Checker.
func (checker) Check(string, string, string, map[string]schemaregistry.RefSchema, []schemaregistry.Prev) ([]string, error) {
	return nil, nil
}
