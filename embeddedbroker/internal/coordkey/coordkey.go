// Package coordkey maps coordinator keys (consumer group ids, transactional
// ids) to the partition of the internal topic that holds them
// (__consumer_offsets, __transaction_state), exactly as Kafka does, so
// that a key has the same coordinator partition here as in Kafka.
package coordkey

import (
	"math"
	"unicode/utf16"
)

// Partition returns abs(javaHashCode(key)) % numPartitions, as Kafka's
// GroupMetadataManager.partitionFor and TransactionStateManager.partitionFor.
// The hash is Java's String.hashCode over UTF-16 code units, and abs is
// Kafka's Utils.abs, which maps math.MinInt32 to 0 (it is not
// x & 0x7fffffff, which Kafka uses for record keys and which gives other
// partitions for negative hashes). numPartitions must be positive.
func Partition(key string, numPartitions int32) int32 {
	h := javaHashCode(key)
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % numPartitions
}

func javaHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r // invalid UTF-8 decodes to U+FFFD, as Java's decoder does
	}
	return h
}
