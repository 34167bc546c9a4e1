package coordkey

import "testing"

// TestPartition checks the hash and the partition against values computed
// with Java's String.hashCode and Kafka's Utils.abs.
func TestPartition(t *testing.T) {
	for _, tc := range []struct {
		key  string
		hash int32
		n    int32
		want int32
	}{
		{"", 0, 50, 0},
		{"a", 97, 50, 47},   // 'a' = 97
		{"ab", 3105, 50, 5}, // 97*31 + 98 = 3105
		{"test-group", 627841412, 50, 12},
		// Negative hash: Utils.abs gives 1906497762 % 50 = 12, where
		// hash & 0x7fffffff would give 241013886 % 50 = 36.
		{"my-group", -1906497762, 50, 12},
		{"__consumer_offsets_group", -19928297, 50, 47},
		// The famous string whose hashCode is Integer.MIN_VALUE.
		{"polygenelubricants", -2147483648, 50, 0},
		// U+1F600 is the surrogate pair D83D DE00 in UTF-16.
		{"gröup-😀", 78051146, 50, 46},
		{"connect-cluster", 1440343063, 7, 5},
	} {
		if h := javaHashCode(tc.key); h != tc.hash {
			t.Errorf("javaHashCode(%q) = %d, want %d", tc.key, h, tc.hash)
		}
		if p := Partition(tc.key, tc.n); p != tc.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", tc.key, tc.n, p, tc.want)
		}
	}
}
