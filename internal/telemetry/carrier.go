package telemetry

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts record headers to propagation.TextMapCarrier. Set
// replaces a header of the same key (and drops its duplicates) rather than
// adding another, and it stores a new slice instead of writing into the old
// one, so headers shared with another record (a consumed record copied into
// a dead letter) are left untouched. A HeaderCarrier with nil Headers reads
// as empty and ignores Set.
type HeaderCarrier struct {
	Headers *[]kgo.RecordHeader
}

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the value of the first header named key, or "".
func (c HeaderCarrier) Get(key string) string {
	if c.Headers == nil {
		return ""
	}
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set stores the header key=value in place of the first header named key,
// dropping any later ones, or appends it when there is none.
func (c HeaderCarrier) Set(key, value string) {
	if c.Headers == nil {
		return
	}
	old := *c.Headers
	next := make([]kgo.RecordHeader, 0, len(old)+1)
	set := false
	for _, h := range old {
		if h.Key != key {
			next = append(next, h)
			continue
		}
		if !set {
			next = append(next, kgo.RecordHeader{Key: key, Value: []byte(value)})
			set = true
		}
	}
	if !set {
		next = append(next, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}
	*c.Headers = next
}

// Keys returns the header keys, in order, duplicates included.
func (c HeaderCarrier) Keys() []string {
	if c.Headers == nil {
		return nil
	}
	keys := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		keys[i] = h.Key
	}
	return keys
}
