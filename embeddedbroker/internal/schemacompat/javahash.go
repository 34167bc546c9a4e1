package schemacompat

import "unicode/utf16"

// Confluent iterates java.util.HashSet/HashMap instances while computing
// Protobuf and JSON Schema differences, so the order of its messages is the
// iteration order of those hash tables. javaHashSet reproduces that order:
// entries sit in buckets indexed by the spread Java hash code, in insertion
// order within a bucket, and the table doubles (keeping relative order) when
// it passes its load factor of 0.75.
type javaHashSet[K comparable] struct {
	hash    func(K) int32
	buckets [][]K
	present map[K]struct{}
	size    int
}

// newJavaHashSet returns an empty set whose table has the given capacity
// (rounded up to a power of two, as HashMap.tableSizeFor does).
func newJavaHashSet[K comparable](hash func(K) int32, capacity int) *javaHashSet[K] {
	return &javaHashSet[K]{hash: hash, buckets: make([][]K, tableSizeFor(capacity)), present: map[K]struct{}{}}
}

// javaHashSetOf returns a set built like Java's new HashSet<>(collection):
// capacity max(size/.75+1, 16), elements added in the given order.
func javaHashSetOf[K comparable](hash func(K) int32, elems []K) *javaHashSet[K] {
	s := newJavaHashSet(hash, max(int(float32(len(elems))/0.75)+1, 16))
	for _, e := range elems {
		s.add(e)
	}
	return s
}

// javaHashMapCopyOrder returns the iteration order of new HashMap<>(m) where
// m iterates in the given order.
func javaHashMapCopyOrder[K comparable](hash func(K) int32, keys []K) []K {
	if len(keys) == 0 {
		return nil
	}
	s := newJavaHashSet(hash, int(float32(len(keys))/0.75+1.0))
	for _, k := range keys {
		s.add(k)
	}
	return s.keys()
}

// javaHashMapOrder returns the iteration order of a new HashMap<>() (default
// capacity 16) into which keys were put in the given order.
func javaHashMapOrder[K comparable](hash func(K) int32, keys []K) []K {
	s := newJavaHashSet(hash, 16)
	for _, k := range keys {
		s.add(k)
	}
	return s.keys()
}

func tableSizeFor(n int) int {
	c := 1
	for c < n {
		c <<= 1
	}
	return c
}

func (s *javaHashSet[K]) index(k K, n int) int {
	h := uint32(s.hash(k))
	h ^= h >> 16
	return int(h & uint32(n-1))
}

func (s *javaHashSet[K]) add(k K) {
	if _, ok := s.present[k]; ok {
		return
	}
	s.present[k] = struct{}{}
	i := s.index(k, len(s.buckets))
	s.buckets[i] = append(s.buckets[i], k)
	s.size++
	// A bin of more than 8 entries in a table smaller than 64 makes
	// HashMap resize instead of treeifying the bin.
	if len(s.buckets[i]) > 8 && len(s.buckets) < 64 {
		s.resize()
	}
	if s.size > len(s.buckets)*3/4 {
		s.resize()
	}
}

func (s *javaHashSet[K]) resize() {
	n := len(s.buckets) * 2
	nb := make([][]K, n)
	for _, b := range s.buckets {
		for _, k := range b {
			i := s.index(k, n)
			nb[i] = append(nb[i], k)
		}
	}
	s.buckets = nb
}

func (s *javaHashSet[K]) keys() []K {
	out := make([]K, 0, s.size)
	for _, b := range s.buckets {
		out = append(out, b...)
	}
	return out
}

// javaStringHash is Java's String.hashCode over UTF-16 code units.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}

// javaIntHash is Java's Integer.hashCode.
func javaIntHash(i int32) int32 { return i }
