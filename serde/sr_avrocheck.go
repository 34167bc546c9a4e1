package serde

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/hamba/avro/v2"
)

// Avro payload check
//
// hamba/avro trusts the lengths in a payload: skipping a field the target
// struct lacks loops over an array's announced element count even after
// the data ran out (a corrupt count of 2^62 spins for ever), and typed
// arrays are allocated at their announced size. So before decoding,
// SRAvro walks the payload with the writer's schema and checks that every
// length, count, union branch and enum index is consistent with the bytes
// there are, and that the payload is consumed exactly. The walk is linear
// in the payload (elements that take no bytes, such as nulls, are capped
// at 2^20 per payload).

// maxZeroSizeElems caps the array and map elements of zero encoded size
// (null, empty records) one payload may announce.
const maxZeroSizeElems = 1 << 20

// maxAvroDepth bounds the nesting the check follows.
const maxAvroDepth = 1000

var errAvroTruncated = errors.New("avro: truncated payload")

type avroChecker struct {
	b     []byte
	zero  int64
	depth int
}

// checkAvro checks that b is one value of schema s, exactly.
func checkAvro(s avro.Schema, b []byte) error {
	c := avroChecker{b: b, zero: maxZeroSizeElems}
	if err := c.walk(s); err != nil {
		return err
	}
	if len(c.b) > 0 {
		return fmt.Errorf("avro: %d trailing bytes after the value", len(c.b))
	}
	return nil
}

func (c *avroChecker) long() (int64, error) {
	v, n := binary.Varint(c.b)
	if n == 0 {
		return 0, errAvroTruncated
	}
	if n < 0 {
		return 0, errors.New("avro: varint overflows 64 bits")
	}
	c.b = c.b[n:]
	return v, nil
}

func (c *avroChecker) skip(n int64) error {
	if n < 0 {
		return fmt.Errorf("avro: negative length %d", n)
	}
	if n > int64(len(c.b)) {
		return errAvroTruncated
	}
	c.b = c.b[n:]
	return nil
}

func (c *avroChecker) walk(s avro.Schema) error {
	if c.depth >= maxAvroDepth {
		return errors.New("avro: value nested too deeply")
	}
	c.depth++
	err := c.walkOne(s)
	c.depth--
	return err
}

func (c *avroChecker) walkOne(s avro.Schema) error {
	switch s := s.(type) {
	case *avro.RefSchema:
		return c.walk(s.Schema())
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			if err := c.walk(f.Type()); err != nil {
				return err
			}
		}
		return nil
	case *avro.UnionSchema:
		i, err := c.long()
		if err != nil {
			return err
		}
		types := s.Types()
		if i < 0 || i >= int64(len(types)) {
			return fmt.Errorf("avro: union branch %d of %d", i, len(types))
		}
		return c.walk(types[i])
	case *avro.EnumSchema:
		i, err := c.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Symbols())) {
			return fmt.Errorf("avro: enum index %d of %d symbols", i, len(s.Symbols()))
		}
		return nil
	case *avro.FixedSchema:
		return c.skip(int64(s.Size()))
	case *avro.ArraySchema:
		return c.blocks(s.Items(), false)
	case *avro.MapSchema:
		return c.blocks(s.Values(), true)
	}
	switch s.Type() {
	case avro.Null:
		return nil
	case avro.Boolean:
		return c.skip(1)
	case avro.Int:
		v, err := c.long()
		if err != nil {
			return err
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("avro: int %d out of range", v)
		}
		return nil
	case avro.Long:
		_, err := c.long()
		return err
	case avro.Float:
		return c.skip(4)
	case avro.Double:
		return c.skip(8)
	case avro.String, avro.Bytes:
		n, err := c.long()
		if err != nil {
			return err
		}
		return c.skip(n)
	}
	return fmt.Errorf("avro: unsupported schema type %s", s.Type())
}

// blocks walks the blocks of an array or map.
func (c *avroChecker) blocks(items avro.Schema, isMap bool) error {
	size := avroMinSize(items, 0)
	if isMap {
		size++ // the key's length
	}
	for {
		n, err := c.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			if n == math.MinInt64 {
				return errors.New("avro: invalid block count")
			}
			n = -n
			bytes, err := c.long()
			if err != nil {
				return err
			}
			if bytes < 0 || bytes > int64(len(c.b)) {
				return fmt.Errorf("avro: block of %d bytes in %d: %w", bytes, len(c.b), errAvroTruncated)
			}
		}
		if size > 0 {
			if n > int64(len(c.b))/size {
				return fmt.Errorf("avro: block of %d elements in %d bytes: %w", n, len(c.b), errAvroTruncated)
			}
		} else {
			c.zero -= n
			if c.zero < 0 {
				return fmt.Errorf("avro: more than %d elements of zero size", maxZeroSizeElems)
			}
		}
		for range n {
			if isMap {
				k, err := c.long()
				if err != nil {
					return err
				}
				if err := c.skip(k); err != nil {
					return err
				}
			}
			if err := c.walk(items); err != nil {
				return err
			}
		}
	}
}

// avroMinSize is the fewest bytes a value of s encodes to (0 when unsure,
// which only makes the check count elements instead).
func avroMinSize(s avro.Schema, depth int) int64 {
	if depth > 16 {
		return 0
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return avroMinSize(s.Schema(), depth+1)
	case *avro.RecordSchema:
		var n int64
		for _, f := range s.Fields() {
			n += avroMinSize(f.Type(), depth+1)
		}
		return n
	case *avro.FixedSchema:
		return int64(s.Size())
	}
	switch s.Type() {
	case avro.Null:
		return 0
	case avro.Float:
		return 4
	case avro.Double:
		return 8
	}
	return 1 // a varint, a byte, a length, a block count or a union branch
}
