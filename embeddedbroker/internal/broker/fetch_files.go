package broker

import (
	"cmp"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Zero-copy fetches from disk.
//
// A consumer's fetch on a connection that can send from files
// (wire.Conn.SendsFiles: plaintext, SASL_PLAINTEXT included, on Linux)
// reads its partitions with logstore.Log.ReadFile: records on disk come
// back as a FileRecords, ranges of segment files with descriptors of
// their own, instead of bytes. The answer is then a fileFetch: the
// kmsg.FetchResponse, every field of it set as for records in memory (high
// watermark, last stable offset, aborted transactions, log start offset,
// and the bytes counted against the fetch's limits and quota), except that
// those partitions' RecordBatches hold an empty placeholder. The
// connection's writer encodes it with kmsg and sends each partition's
// ranges with sendfile where its placeholder is (wire.AppendSpliced), so
// the record bytes go from the page cache to the socket without passing
// through the broker's memory, and a fetch allocates the same whatever its
// size. The bytes are those the copying path answers, to the byte.
//
// The descriptors keep the bytes the read found whatever happens to the
// segments until the answer is written (deleted by retention, rolled,
// replaced by the cleaner, their pooled descriptors closed), as a copy
// made at the read would. A truncation, which rewrites a file in place, is
// detected (FileRecords.Check) before the answer is encoded, leaving the
// partition without records (the consumer fetches them again), and after
// the bytes are read for the send, closing the connection before the
// answer is whole.
//
// The copying path serves the rest: TLS connections (the bytes must be
// encrypted in user space anyway), follower fetches (they read past the
// high watermark, where truncations happen), the memory log, reads below
// minFileRecords, and the partitions past the maxFileRecords-th of one
// answer.

// fileFetch is a fetch answer some of whose records are left in segment
// files (wire.Spliced). The partition of files[i] is at
// Topics[files[i].topic].Partitions[files[i].part] and holds, as
// RecordBatches, marks[m:m:m+1] with m its files[i].mark: empty, so that
// the answer encodes as one without those records, and recognizable, so
// that Splices finds only fields still holding it, whatever a later layer
// (authorization adds topics) did to the answer.
type fileFetch struct {
	*kmsg.FetchResponse
	marks []byte
	files []fileSplice
}

// fileSplice is one partition's records left on disk.
type fileSplice struct {
	topic, part, mark int
	records           *logstore.FileRecords
}

var _ wire.Spliced = (*fileFetch)(nil)

// add records that the partition at the given indexes of the answer holds
// records left on disk, with the placeholder placeholder returned last as
// its RecordBatches.
func (f *fileFetch) add(topic, part int, records *logstore.FileRecords) {
	f.files = append(f.files, fileSplice{topic: topic, part: part, mark: len(f.files), records: records})
}

// placeholder is the RecordBatches of the next partition given to add.
func (f *fileFetch) placeholder() []byte {
	m := len(f.files)
	return f.marks[m : m : m+1]
}

// sort puts the files in the order kmsg encodes their partitions.
func (f *fileFetch) sort() {
	slices.SortFunc(f.files, func(a, b fileSplice) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part))
	})
}

// field returns the RecordBatches field of fs's partition if it still
// holds fs's placeholder.
func (f *fileFetch) field(fs *fileSplice) *[]byte {
	if fs.topic >= len(f.Topics) || fs.part >= len(f.Topics[fs.topic].Partitions) {
		return nil
	}
	rb := &f.Topics[fs.topic].Partitions[fs.part].RecordBatches
	if len(*rb) != 0 || cap(*rb) != 1 || &(*rb)[:1][0] != &f.marks[fs.mark] {
		return nil
	}
	return rb
}

// Splices implements wire.Spliced.
func (f *fileFetch) Splices(dst []wire.Splice) []wire.Splice {
	for i := range f.files {
		fs := &f.files[i]
		if fs.records == nil {
			continue
		}
		if field := f.field(fs); field != nil {
			dst = append(dst, wire.Splice{Field: field, Section: fs.records})
		} else {
			_ = fs.records.Close()
		}
		fs.records = nil
	}
	return dst
}

// recordBytes is the size of the answer's records, in memory and on disk,
// for the fetch quota.
func (f *fileFetch) recordBytes() int {
	n := fetchBytes(f.FetchResponse)
	for _, fs := range f.files {
		if fs.records != nil {
			n += int(fs.records.Len())
		}
	}
	return n
}

// fetchResponseOf returns the kmsg.FetchResponse of a fetch's answer.
func fetchResponseOf(resp kmsg.Response) *kmsg.FetchResponse {
	if f, ok := resp.(*fileFetch); ok {
		return f.FetchResponse
	}
	return resp.(*kmsg.FetchResponse)
}
