package controller

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// encodeClusterID renders an id the way Kafka prints cluster ids: URL-safe
// base64 without padding.
func encodeClusterID(id TopicID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// String renders a topic id as Kafka does.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// MarshalJSON encodes the id as its string form.
func (id TopicID) MarshalJSON() ([]byte, error) { return json.Marshal(id.String()) }

// UnmarshalJSON decodes the string form.
func (id *TopicID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 16 {
		return fmt.Errorf("controller: bad topic id %q", s)
	}
	copy(id[:], raw)
	return nil
}
