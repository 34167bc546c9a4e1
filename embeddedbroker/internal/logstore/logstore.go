// Package logstore stores the log of one partition of the embedded broker:
// Kafka v2 record batches, exactly as they travel on the wire, addressed by
// offset and by timestamp.
//
// Two implementations share one engine and therefore one set of semantics:
// OpenDisk keeps the log in segment files laid out as Kafka lays them out,
// and NewMemory keeps the same segments in memory for tests and for brokers
// that do not need durability. Both roll segments by size, by age (less a
// per-segment jitter) and when an index is full, apply retention by size and
// time, honour DeleteRecords (SetStartOffset) and the truncations
// replication needs.
//
// # On-disk layout
//
// The caller passes one directory per partition (for example
// <datadir>/<topic>-<partition>). It holds, as Kafka's does:
//
//   - 00000000000000000000.log: the segment's batches, concatenated, named
//     by the segment's base offset (%020d); created by the segment's first
//     write, so that an empty log (new, or emptied by DeleteRecords or
//     TruncateFully) may have none;
//   - 00000000000000000000.index: the sparse offset index, 8-byte entries of
//     (last offset of a batch - base offset: uint32, file position of the
//     batch: uint32), big endian, one entry every IndexIntervalBytes;
//   - 00000000000000000000.timeindex: the time index, 12-byte entries of
//     (max timestamp so far: int64, its batch's last offset - base offset:
//     uint32), strictly increasing in timestamp, written at the same points as
//     the offset index plus one final entry when the segment is sealed;
//   - log-start-offset: the log start offset in decimal, rewritten through a
//     temporary file and a rename when DeleteRecords (SetStartOffset) or
//     TruncateFully moves it, so that they survive a restart;
//   - clean-shutdown: the clean-shutdown marker (see Recovery);
//   - 00000000000000000000.snapshot: state snapshots of the log's owner
//     (see State snapshots in snapshot.go), named by the offset they
//     describe the log up to.
//
// Unlike Kafka, index files are not preallocated or memory-mapped: every
// index lives in memory (a few bytes per IndexIntervalBytes of data) and is
// written out whole when its segment is sealed (on roll), then fsynced
// together with the sealed .log, whatever the Fsync policy. Index files of
// the active segment are written at Close and trusted only along with the
// clean-shutdown marker.
//
// # Open files and directory fsyncs
//
// A segment's .log file is opened when it is used, through a FilePool that
// the logs of a broker (or of a whole embedded cluster) share and that
// bounds the files open at once by closing the least recently used idle
// ones: a log holds no descriptor while nobody uses it, so that tens of
// thousands of logs fit in a process's RLIMIT_NOFILE. Creating a log
// fsyncs nothing: the directory entries of new files become durable with
// the first fsync of data after them (an append under FsyncAlways, a Sync,
// a roll), as Kafka's LocalLog.flush fsyncs the partition directory when a
// flush first covers a new segment; a log lost before that held nothing
// durable. The first fsync after OpenDisk does the same, since the process
// that wrote the files may have crashed before fsyncing their directory.
// The fsync of the directory holding the partition directories is shared
// by every log of a FilePool created before it. A rename (of the
// log-start-offset file) is followed by a directory fsync at once.
//
// # Recovery
//
// OpenDisk trusts a sealed segment's index files after sanity checks
// (entry sizes, monotonicity, bounds) and otherwise rebuilds them from the
// .log. After a crash the last (active) segment is scanned batch by batch,
// reading every byte: at the first batch that is cut short, has a bad
// length or magic, a bad CRC or an offset out of sequence, the file is
// truncated there, the number of dropped bytes is logged as a warning, and
// any later segments are deleted. Because sealed segments were fsynced
// when they were rolled, only the active segment can hold a torn write
// after a crash; this is the same bet Kafka makes with its recovery point.
//
// After Close the active segment is not read (Kafka's clean shutdown
// file): Close fsyncs it (what was appended since the open; what the files
// held at open is taken as durable), writes its index files and then the
// clean-shutdown marker, which records the segment's base offset, size,
// end offset, the position of its last batch, its timestamps and the
// CRC-32C of its index files. OpenDisk trusts the segment as the marker
// describes it when the file's size, its index files and its last batch
// (framing, offsets and CRC, the only bytes read) match, and otherwise
// logs a warning and recovers as after a crash. The marker stays while the
// files are what it describes, so that a crash (or Crash) of a log nothing
// was written to is still a clean open; the first change (an append, a
// truncation, a deletion) removes it and fsyncs the directory first.
// Neither the marker nor the index files written at Close are fsynced:
// a power loss that loses or tears them fails the checks, and the open
// recovers.
//
// # Rewrites
//
// Rewrite (the log cleaner's compaction) replaces groups of sealed segments
// by new ones holding what the caller keeps of their batches, at their
// original offsets: a segment may then start after its base offset, hold
// gaps between batches and end before the next segment's base, which reads
// and recovery take as normal (a read at an offset in a gap returns the
// next batch, as Kafka's fetch does). A sealed segment always covers the
// offsets up to the next segment's base. On disk the replacement is
// written as .cleaned files and swapped in through a record file,
// rewrite-swap, that makes the swap atomic across a crash (see
// rewrite_disk.go).
//
// # Reads
//
// Read finds the segment by binary search over base offsets and a starting
// position by binary search in the sparse offset index, then reads 61-byte
// headers (one ReadAt each) forward to the batch holding the offset, which is
// at most about IndexIntervalBytes of batches away. It then reads up to
// maxBytes (at least that first batch) with one ReadAt per segment and
// frames the batches in memory, dropping a trailing batch cut short by the
// budget or ending past upTo. A disk read therefore allocates and reads up
// to maxBytes even when fewer bytes qualify: pass fetch-sized limits, not
// math.MaxInt32. FindTimestamp and MaxTimestampBatch read headers the same
// way from the time index's position.
//
// ReadFile is the zero-copy read: on disk it finds the batches Read would
// return by reading headers only, in each segment from the first batch's
// and, past it, from the last sparse index entry within the budget, and
// returns them as a FileRecords: a range of each segment file they are in
// (one, unless the read crosses a segment's end), each with a descriptor
// of its own (a dup of the pooled one, so it holds no slot of the
// FilePool), for the broker to send with sendfile. The ranges stay
// readable, with the bytes the read found, whatever happens to the
// segments (deleted, rewritten, closed) until closed, except for a
// truncation of a file, which FileRecords.Check reports.
//
// # Concurrency
//
// A Log is safe for concurrent use. Mutations (Append, Truncate,
// TruncateFully, SetStartOffset, ApplyRetention, Reconfigure, Sync, Close)
// are serialized by one mutex; Read, FindTimestamp, MaxTimestampBatch and
// Scan run concurrently with each other under a read lock and block only
// while a mutation publishes its result: not during Append's file write or
// fsync, nor a roll's fsyncs, but during truncations, segment deletions and
// the memory log's copies. WriteSnapshot and LoadSnapshot serialize on a
// lock of their own: a snapshot's file writes and fsyncs hold up neither
// appends nor reads, and a truncation waits for a snapshot write in
// progress. Bytes returned by reads never change afterwards: the disk log
// returns fresh buffers, the memory log returns views of memory it never
// writes again (a truncation makes the next append reallocate). Callers must
// treat returned bytes as read-only.
//
// Only one process may open a directory at a time; nothing enforces this.
//
// # Simulated crashes
//
// Crash stands for a machine crash, for fault injection in tests: both
// implementations track, per segment, the bytes the last fsync covered
// under the Fsync policy, and Crash drops the rest (see Log.Crash). A
// process crash needs no simulation: it loses nothing the files hold, and
// OpenDisk recovers from the files whether or not Close ran.
package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"
)

// Sentinel errors. Wrapped errors carry the offsets involved.
var (
	// ErrOffsetOutOfRange means an offset below the log start offset or
	// above the log end offset (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("logstore: offset out of range")
	// ErrOffsetMismatch means an appended batch's base offset is not the log
	// end offset: the broker must assign offsets before appending.
	ErrOffsetMismatch = errors.New("logstore: batch base offset is not the log end offset")
	// ErrClosed means the log was closed or deleted.
	ErrClosed = errors.New("logstore: log closed")
	// ErrCorruptLog means stored bytes failed to frame as batches while
	// reading, after recovery accepted them: the files were changed behind
	// the log's back or the disk is failing (KAFKA_STORAGE_ERROR).
	ErrCorruptLog = errors.New("logstore: corrupt log segment")
)

// Defaults applied to zero Config fields; they are Kafka's defaults.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * time.Hour
	DefaultRetentionMs        = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes = 4096
	DefaultIndexBytes         = 10 << 20
)

// RetainNothing, as Config.RetentionMs or Config.RetentionBytes, makes
// ApplyRetention delete every sealed segment: Kafka's retention.ms=0 and
// retention.bytes=0, which zero cannot say since a zero field takes the
// default.
const RetainNothing = math.MinInt64

// FsyncPolicy says when the disk log forces appended data to stable
// storage. The zero value is FsyncNever. Build one with FsyncNever,
// FsyncAlways or FsyncInterval. The memory log fsyncs nothing; there the
// policy only decides what Crash forgets.
type FsyncPolicy time.Duration

const (
	// FsyncNever leaves flushing to the operating system, as Kafka does by
	// default, relying on replication for durability. A power loss can
	// lose acknowledged data of the active segment; a process crash cannot.
	FsyncNever FsyncPolicy = 0
	// FsyncAlways fsyncs the segment after every Append before returning.
	// Durable, and slow: every produce waits for the disk.
	FsyncAlways FsyncPolicy = -1
)

// FsyncInterval fsyncs the active segment from a background goroutine every
// d when anything was appended since the last fsync (Kafka's flush.ms). A
// power loss can lose up to d of appends. d <= 0 means FsyncAlways. The
// memory log runs no goroutine: Crash works out from Config.Clock which
// ticks, every d since the log was created or its policy last changed,
// would have synced.
func FsyncInterval(d time.Duration) FsyncPolicy {
	if d <= 0 {
		return FsyncAlways
	}
	return FsyncPolicy(d)
}

// interval is the background fsync period, 0 when there is none.
func (p FsyncPolicy) interval() time.Duration {
	if p <= 0 {
		return 0
	}
	return time.Duration(p)
}

// String implements fmt.Stringer.
func (p FsyncPolicy) String() string {
	switch {
	case p == FsyncNever:
		return "never"
	case p < 0:
		return "always"
	default:
		return fmt.Sprintf("every %v", time.Duration(p))
	}
}

// Config holds a partition log's topic-level settings. Zero fields take
// Kafka's defaults (the Default constants); Reconfigure changes them at
// runtime.
type Config struct {
	// SegmentBytes rolls the active segment when the next batch would make
	// it larger (segment.bytes). A batch larger than SegmentBytes gets a
	// segment of its own. Capped at math.MaxInt32 because index positions
	// are 32-bit. Zero means DefaultSegmentBytes.
	SegmentBytes int64
	// SegmentMs rolls the active segment when the incoming batch's max
	// timestamp is more than SegmentMs (less the segment's jitter, see
	// SegmentJitter) past that of the segment's first batch, or, when
	// either has no timestamp (-1), when the segment's first batch was
	// appended more than that long ago by Clock (segment.ms; Kafka's rule).
	// Zero means DefaultSegmentMs.
	SegmentMs time.Duration
	// SegmentJitter makes each segment roll by time early by a random
	// whole number of milliseconds below min(SegmentJitter, SegmentMs),
	// drawn once per segment with Rand, so that partitions created together
	// do not all roll at once (segment.jitter.ms; Kafka's rule). Zero means
	// none.
	SegmentJitter time.Duration
	// Rand returns a uniformly random number in [0, n), n > 0, for
	// SegmentJitter; nil means math/rand/v2's. Tests inject a deterministic
	// one.
	Rand func(n int64) int64
	// IndexBytes is the largest the offset and time indexes of a segment
	// may grow (segment.index.bytes): the active segment rolls when its
	// offset index holds IndexBytes/8 entries or its time index
	// IndexBytes/12-1 (the last slot is kept for the entry sealing adds), as
	// Kafka's full indexes make it roll. Zero means DefaultIndexBytes.
	IndexBytes int
	// RetentionBytes is the size ApplyRetention shrinks the log towards by
	// deleting the oldest sealed segments, keeping at least RetentionBytes
	// as Kafka does: a segment goes only if the rest still holds
	// RetentionBytes (retention.bytes). Negative or zero means unlimited;
	// RetainNothing means Kafka's 0.
	RetentionBytes int64
	// RetentionMs makes ApplyRetention delete the oldest sealed segments
	// whose largest timestamp (or, without timestamps, last append time) is
	// more than RetentionMs before now (retention.ms). Negative means
	// unlimited; zero means DefaultRetentionMs; RetainNothing means Kafka's
	// 0.
	RetentionMs time.Duration
	// IndexIntervalBytes is the number of bytes between sparse index entries
	// (index.interval.bytes). Zero means DefaultIndexIntervalBytes.
	IndexIntervalBytes int
	// Fsync says when appended data is fsynced (disk log only).
	Fsync FsyncPolicy
	// FlushMessages, when positive, also fsyncs the active segment after an
	// Append leaves at least that many records (offsets) not yet fsynced
	// (flush.messages; 1 is FsyncAlways).
	FlushMessages int64
	// Clock returns the current time; nil means time.Now. Tests inject a
	// fake clock to drive roll by time.
	Clock func() time.Time
}

// withDefaults fills zero fields with Kafka's defaults and clamps values to
// what the formats can hold.
func (c Config) withDefaults() Config {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes > math.MaxInt32 {
		c.SegmentBytes = math.MaxInt32
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = DefaultRetentionMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.IndexBytes <= 0 {
		c.IndexBytes = DefaultIndexBytes
	}
	if c.SegmentJitter < 0 {
		c.SegmentJitter = 0
	}
	if c.Rand == nil {
		c.Rand = rand.Int64N
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Log is the log of one partition. See the package documentation for the
// concurrency contract: appends come from one goroutine at a time (the
// caller's partition lock), everything else may run concurrently.
type Log interface {
	// Append appends one batch, whose base offset must equal EndOffset
	// (ErrOffsetMismatch otherwise) and which must be exactly one well
	// framed v2 batch. The broker has already validated the batch and set
	// its base offset and leader epoch. The bytes are copied: the caller may
	// reuse b. Under FsyncAlways, Append returns after the fsync.
	Append(b []byte) error

	// AppendReplica is Append for a follower copying its leader's log:
	// the base offset may also be beyond EndOffset, as after batches the
	// leader's cleaner removed (Kafka's appendAsFollower), and the log end
	// offset then jumps past the gap.
	AppendReplica(b []byte) error

	// Read returns whole batches, concatenated, starting with the batch
	// that contains offset, up to maxBytes in total, but always at least
	// that first batch even if it alone exceeds maxBytes, and never a batch
	// whose next offset is beyond upTo (the high watermark). An offset below
	// StartOffset or above EndOffset is ErrOffsetOutOfRange; an offset at or
	// beyond upTo (but within the log) returns no bytes and no error. The
	// result may span segments. It stays valid and unchanged after Read
	// returns, whatever happens to the log; it must not be modified.
	Read(offset int64, maxBytes int, upTo int64) ([]byte, error)

	// ReadFile is Read for a caller that can send ranges of segment
	// files as they are (sendfile) instead of bytes. It returns the
	// batches Read returns: when they are on disk and come to at least
	// minFile bytes, and maxBytes is at least minFile too, as a
	// FileRecords, which the caller must Close, and no bytes; otherwise as
	// Read's bytes. It reads only batch headers: the batches' bytes stay
	// in the files. The memory log always returns bytes.
	ReadFile(offset int64, maxBytes int, upTo int64, minFile int) ([]byte, *FileRecords, error)

	// StartOffset is the log start offset: the first offset still readable.
	StartOffset() int64
	// EndOffset is the log end offset: the offset the next batch gets.
	EndOffset() int64

	// SetStartOffset advances the log start offset (DeleteRecords) and
	// deletes segments wholly below it. off may fall inside a batch: the
	// batch stays, offsets below off become unreadable. Offsets at or below
	// the current start offset are a no-op; beyond EndOffset is
	// ErrOffsetOutOfRange. When off is EndOffset, every segment goes and an
	// empty segment starts at off. The disk log persists the new start
	// offset before deleting anything.
	SetStartOffset(off int64) error

	// Truncate removes every batch at or after off (replication's
	// truncation to a leader epoch boundary). off should be a batch
	// boundary; if it falls inside a batch, that whole batch goes and
	// EndOffset ends below off, as Kafka does. off at or beyond EndOffset
	// is a no-op; below StartOffset it means TruncateFully(off). State
	// snapshots above the new end offset are deleted, and snapshot points
	// taken before become stale.
	Truncate(off int64) error

	// TruncateFully removes everything and restarts the log empty at off,
	// which becomes both StartOffset and EndOffset (a follower too far
	// behind the leader's log start offset). Every state snapshot is
	// deleted.
	TruncateFully(off int64) error

	// FindTimestamp returns the first batch at or after StartOffset whose
	// max timestamp is at least ts (ListOffsets by timestamp), or
	// found=false when there is none. It uses the time index and scans
	// headers from the indexed position.
	FindTimestamp(ts int64) (batch []byte, found bool, err error)

	// MaxTimestampBatch returns the first batch holding the largest max
	// timestamp in the log (ListOffsets with timestamp -3), or found=false
	// when no batch at or after StartOffset carries a timestamp.
	MaxTimestampBatch() (batch []byte, found bool, err error)

	// Scan calls fn with every batch from the one containing from to the end
	// of the log, in order, to rebuild other state at startup (producer
	// state, leader epoch cache). from below StartOffset starts at
	// StartOffset; beyond EndOffset is ErrOffsetOutOfRange. Scan reads in
	// chunks and holds no lock while fn runs, so fn may call the Log; it
	// stops at fn's first error and returns it. fn must not modify b.
	Scan(from int64, fn func(b []byte) error) error

	// ApplyRetention deletes the oldest sealed segments that retention by
	// time or by size (see Config) allows, given the current time now, and
	// advances StartOffset past them. It never deletes the active segment.
	// Unlike Kafka it does not know the high watermark: a sealed segment
	// holding records not yet replicated can go if retention says so, which
	// only happens with retention far tighter than replication lag.
	ApplyRetention(now time.Time) (deletedSegments int, err error)

	// Reconfigure replaces the configuration (AlterConfigs). It takes
	// effect from the next append or retention pass; existing segments are
	// not rewritten.
	Reconfigure(cfg Config)

	// Size is the number of bytes of batches stored.
	Size() int64

	// Sync fsyncs appended data not yet fsynced (disk log).
	Sync() error

	// SnapshotPoint returns the point for a snapshot of state derived from
	// the log as it is now, up to EndOffset. The caller must keep appends
	// out between reading its state and taking the point.
	SnapshotPoint() SnapshotPoint

	// OnRoll sets fn (nil: none) to be called by Append each time it
	// starts a new segment, before it writes the batch that goes there,
	// with the point of the new segment's base offset: state the caller
	// derived from every batch appended so far describes the log up to
	// that point, as Kafka's producer state snapshot at a roll does. fn
	// runs inside Append with the log's mutation lock held: it must not
	// call the Log, and should only copy state (to write it with
	// WriteSnapshot later, from another goroutine or after Append
	// returns).
	OnRoll(fn func(SnapshotPoint))

	// WriteSnapshot stores data, the caller's state derived from the log up
	// to p.Offset, durably (see the package documentation): the disk log
	// writes it through a temporary file, an fsync and a rename, with a
	// checksum. It then deletes the snapshots below StartOffset and all
	// but the newest two. A point taken before a truncation, or one below
	// StartOffset, is refused with ErrSnapshotStale, as is any write after
	// Close or Crash. Writes do not hold up appends or reads.
	WriteSnapshot(p SnapshotPoint, data []byte) error

	// LoadSnapshot calls load with the newest snapshot at or above
	// StartOffset whose bytes are intact, returning its offset and
	// ok=true when load accepts it (returns nil). A snapshot that is
	// unreadable, fails its checksum or that load refuses is deleted and
	// logged, and the next older one is tried; ok=false means none was
	// usable and the caller rebuilds its state from StartOffset. load
	// must not keep or modify data, nor call the Log.
	LoadSnapshot(load func(offset int64, data []byte) error) (offset int64, ok bool, err error)

	// Segments returns the sealed segments (all but the active one),
	// oldest first, for the log cleaner.
	Segments() []SegmentInfo

	// Rewrite replaces the sealed segments whose base offsets lie in
	// [from, to) (never the active segment) by what fn makes of their
	// batches, keeping every offset where it is: fn gets each batch in
	// order and returns its replacement (nil to drop it), which must
	// start at or after the original batch's base offset, after the
	// previous replacement, and end before the next segment's base. The
	// segments are taken in groups, as Kafka's cleaner groups them
	// (consecutive segments whose sizes add up to at most SegmentBytes and
	// whose offsets and indexes fit one segment), and each group becomes
	// one segment, written apart and then swapped in atomically: on disk a
	// crash at any point leaves either the old segments or the new one
	// (see rewrite_disk.go). Appends and reads carry on meanwhile; fn runs
	// outside the log's locks and may call it. If a group's segments
	// change meanwhile (truncation, retention, DeleteRecords, Close), its
	// replacement is discarded and Rewrite returns ErrRewriteAborted;
	// groups swapped before stay. Calls on one log are serialized.
	Rewrite(from, to int64, fn func(b []byte) ([]byte, error)) (RewriteStats, error)

	// Crash closes the log as a machine crash would: data appended since
	// the last fsync is lost. The disk log truncates each segment file to
	// its durable size (and removes segments created after the last
	// durable point, and index files, which are rebuilt on open), then
	// closes without syncing; opening the directory again runs the normal
	// recovery. The memory log forgets everything appended after its last
	// Sync() call, which FsyncAlways makes every append (so a memory log
	// under FsyncAlways loses nothing).
	//
	// What counts as synced is the same for both: every append under
	// FsyncAlways, an append that reaches FlushMessages, the background
	// syncer's ticks under FsyncInterval, a
	// Sync, Close, a roll (which fsyncs the segment it seals), a Truncate
	// (which fsyncs the segment it cuts), and, for the disk log, whatever
	// the files held when it was opened. The log start offset moved by
	// SetStartOffset or TruncateFully is always durable; if it lies past
	// the surviving data, the log comes back empty there. Unlike the disk
	// log, the memory log stays open and usable: appends continue at the
	// surviving end offset. Bytes handed out by earlier reads stay valid.
	// Crash of a closed log does nothing and returns nil.
	Crash() error

	// Close syncs and releases the log. Later calls return ErrClosed;
	// closing twice is a no-op.
	Close() error

	// Delete closes the log and removes all its data, including the
	// directory of the disk log (DeleteTopics).
	Delete() error
}

// discardLogger is used when OpenDisk gets a nil logger.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
