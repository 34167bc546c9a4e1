package controller

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The metadata log on disk, in the controller's directory:
//
//	__cluster_metadata-0/<first version, %020d>.log
//	__cluster_metadata-0/<version, %020d>.checkpoint
//
// A .log file holds frames, one per change: a 4-byte big-endian payload
// length, the payload's CRC-32C, and the payload, a JSON object
// {"v": version, "r": [records]}. Every append is fsynced before the change
// is published. A .checkpoint holds one frame whose payload is the whole
// image at that version (a snapshot). Opening loads the newest checkpoint
// that reads back whole and replays the frames after it; a torn frame at
// the end of the last file (a crash during an append) is cut off, as
// Kafka's log recovery does.
//
// When the frames written since the last checkpoint pass a threshold
// (metadata.log.max.record.bytes.between.snapshots), the log rolls to a new
// file and a checkpoint of the image at the roll is written in the
// background; once it is durable, older files go. A clean close writes a
// final checkpoint, so a restart replays nothing.
const (
	metadataDir   = "__cluster_metadata-0"
	logSuffix     = ".log"
	ckptSuffix    = ".checkpoint"
	tmpSuffix     = ".tmp"
	legacyFile    = "cluster-metadata.json" // the format before the log
	frameOverhead = 8
	maxFrame      = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptMetadata means the metadata files cannot be read back.
var ErrCorruptMetadata = errors.New("controller: corrupt metadata")

type journal struct {
	dir       string
	threshold int64
	logger    *slog.Logger

	f       *os.File // the log file appended to
	written int64    // bytes of frames since the last checkpoint

	snapMu   sync.Mutex
	snapping bool
	snapWG   sync.WaitGroup
	// snapErr is the error of the last background checkpoint.
	snapErr error
}

type logFrame struct {
	V int64    `json:"v"`
	R []record `json:"r"`
}

// checkpoint is the JSON form of a whole image.
type checkpoint struct {
	V              int64           `json:"v"`
	ClusterID      string          `json:"clusterId"`
	NextProducerID int64           `json:"nextProducerId"`
	Topics         []ckptTopic     `json:"topics"`
	Scram          []scramRecord   `json:"scram,omitempty"`
	Quotas         json.RawMessage `json:"quotas,omitempty"`
	ACLs           json.RawMessage `json:"acls,omitempty"`
	GroupConfigs   json.RawMessage `json:"groupConfigs,omitempty"`
}

type ckptTopic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Internal   bool              `json:"internal,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []ckptPartition   `json:"partitions"`
}

type ckptPartition struct {
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leaderEpoch"`
	Epoch       int32   `json:"epoch"`
}

// openJournal opens (creating) the metadata log under dir and returns it
// with the image it holds: empty, with no cluster id, for a new one.
func openJournal(dir string, threshold int64, logger *slog.Logger) (*journal, *Image, error) {
	mdir := filepath.Join(dir, metadataDir)
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("controller: %w", err)
	}
	j := &journal{dir: mdir, threshold: threshold, logger: logger}
	logs, ckpts, err := j.list()
	if err != nil {
		return nil, nil, err
	}
	var img *Image
	for i := len(ckpts) - 1; i >= 0 && img == nil; i-- {
		im, err := j.readCheckpoint(ckpts[i])
		if err != nil {
			logger.Warn("controller: skipping unreadable metadata checkpoint", "version", ckpts[i], "err", err)
			continue
		}
		img = im
	}
	if img == nil && len(ckpts) > 0 {
		// The log files before the newest checkpoint are gone: starting
		// from what is left would lose topics without a word.
		return nil, nil, fmt.Errorf("%w: no checkpoint in %s reads back (newest: %s)", ErrCorruptMetadata, mdir, filepath.Base(j.ckptPath(ckpts[len(ckpts)-1])))
	}
	migrated := false
	if img == nil {
		if len(logs) == 0 {
			if img, err = readLegacy(filepath.Join(dir, legacyFile)); err != nil {
				return nil, nil, err
			}
			migrated = img != nil
		}
		if img == nil {
			img = emptyImage("")
		}
	}
	for i, start := range logs {
		last := i == len(logs)-1
		if img, err = j.replay(img, start, last); err != nil {
			return nil, nil, err
		}
	}
	next := img.Version + 1
	if len(logs) > 0 && !migrated {
		f, err := os.OpenFile(j.logPath(logs[len(logs)-1]), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("controller: %w", err)
		}
		j.f = f
	} else if err := j.rollTo(next); err != nil {
		return nil, nil, err
	}
	if migrated {
		if err := j.writeCheckpoint(img); err != nil {
			j.f.Close()
			return nil, nil, err
		}
		if err := os.Remove(filepath.Join(dir, legacyFile)); err != nil {
			logger.Warn("controller: removing the migrated metadata file", "err", err)
		}
		_ = syncDir(dir)
		logger.Info("controller: metadata migrated to the metadata log", "topics", img.NumTopics())
	}
	return j, img, nil
}

func (j *journal) logPath(v int64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%020d%s", v, logSuffix))
}
func (j *journal) ckptPath(v int64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%020d%s", v, ckptSuffix))
}

// list returns the start versions of the log files and the versions of the
// checkpoints, ascending, removing leftover temporary files.
func (j *journal) list() (logs, ckpts []int64, err error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("controller: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			_ = os.Remove(filepath.Join(j.dir, name))
		case strings.HasSuffix(name, logSuffix):
			if v, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64); err == nil {
				logs = append(logs, v)
			}
		case strings.HasSuffix(name, ckptSuffix):
			if v, err := strconv.ParseInt(strings.TrimSuffix(name, ckptSuffix), 10, 64); err == nil {
				ckpts = append(ckpts, v)
			}
		}
	}
	slices.Sort(logs)
	slices.Sort(ckpts)
	return logs, ckpts, nil
}

// replay applies the frames of one log file newer than img. A damaged frame
// in the last file is a torn append: the file is cut there. Elsewhere it is
// corruption.
func (j *journal) replay(img *Image, start int64, last bool) (*Image, error) {
	path := j.logPath(start)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var pos int64
	for {
		payload, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			return img, nil
		}
		var fr logFrame
		if err == nil {
			if err = json.Unmarshal(payload, &fr); err != nil {
				err = fmt.Errorf("%w: %v", ErrCorruptMetadata, err)
			}
		}
		if err != nil {
			if !last {
				return nil, fmt.Errorf("controller: %s at position %d: %w", path, pos, err)
			}
			j.logger.Warn("controller: cutting a torn metadata log frame", "file", path, "position", pos, "err", err)
			if err := os.Truncate(path, pos); err != nil {
				return nil, fmt.Errorf("controller: %w", err)
			}
			return img, nil
		}
		pos += int64(frameOverhead + len(payload))
		if fr.V <= img.Version {
			continue // in the checkpoint already
		}
		next, _, err := img.apply(fr.R)
		if err != nil {
			return nil, fmt.Errorf("%w: %s, change %d: %v", ErrCorruptMetadata, path, fr.V, err)
		}
		next.Version = fr.V
		img = next
		j.written += int64(frameOverhead + len(payload))
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [frameOverhead]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated frame header", ErrCorruptMetadata)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n > maxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrCorruptMetadata, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("%w: truncated frame", ErrCorruptMetadata)
	}
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(h[4:]) {
		return nil, fmt.Errorf("%w: frame checksum mismatch", ErrCorruptMetadata)
	}
	return payload, nil
}

func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, crcTable))
	return append(dst, payload...)
}

// append writes a change's persisted records as one frame and fsyncs it.
func (j *journal) append(v int64, recs []record) error {
	var keep []record
	for _, r := range recs {
		if r.persisted() {
			keep = append(keep, r)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	payload, err := json.Marshal(logFrame{V: v, R: keep})
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	frame := appendFrame(make([]byte, 0, frameOverhead+len(payload)), payload)
	if _, err := j.f.Write(frame); err != nil {
		return fmt.Errorf("controller: writing the metadata log: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("controller: syncing the metadata log: %w", err)
	}
	j.written += int64(len(frame))
	return nil
}

// rollTo starts a new log file whose first change will be v.
func (j *journal) rollTo(v int64) error {
	f, err := os.OpenFile(j.logPath(v), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("controller: %w", err)
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f = f
	return nil
}

// maybeSnapshot starts a background checkpoint of img (the image after the
// last change appended) when enough was written since the last one and
// none is being written. It is called with the controller's lock held.
func (j *journal) maybeSnapshot(img *Image) {
	if j.written < j.threshold {
		return
	}
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	if j.snapping {
		return
	}
	if err := j.rollTo(img.Version + 1); err != nil {
		j.logger.Warn("controller: rolling the metadata log", "err", err)
		return
	}
	j.written = 0
	j.snapping = true
	j.snapWG.Add(1)
	go func() {
		defer j.snapWG.Done()
		err := j.writeCheckpoint(img)
		if err != nil {
			j.logger.Warn("controller: writing a metadata checkpoint", "version", img.Version, "err", err)
		}
		j.snapMu.Lock()
		j.snapping, j.snapErr = false, err
		j.snapMu.Unlock()
	}()
}

// writeCheckpoint writes img as a checkpoint, durably, then removes the
// log files and checkpoints it makes redundant.
func (j *journal) writeCheckpoint(img *Image) error {
	ck := checkpoint{V: img.Version, ClusterID: img.ClusterID, NextProducerID: img.NextProducerID, Topics: make([]ckptTopic, 0, img.NumTopics())}
	for t := range img.Topics() {
		ct := ckptTopic{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: t.Configs, Partitions: make([]ckptPartition, 0, t.NumPartitions())}
		for _, p := range t.Partitions() {
			ct.Partitions = append(ct.Partitions, ckptPartition{Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Epoch: p.Epoch})
		}
		ck.Topics = append(ck.Topics, ct)
	}
	for _, k := range img.ScramCredentials() {
		c := img.scram[k]
		ck.Scram = append(ck.Scram, scramRecord{User: k.User, Mechanism: k.Mechanism, Cred: &c})
	}
	ck.Quotas, ck.ACLs, ck.GroupConfigs = img.quotas, img.acls, img.groupConfigs
	payload, err := json.Marshal(ck)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	final := j.ckptPath(img.Version)
	tmp := final + tmpSuffix
	if err := writeFileSync(tmp, appendFrame(nil, payload)); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	// Everything up to img.Version is in the checkpoint: older
	// checkpoints and the log files that end before it can go.
	logs, ckpts, err := j.list()
	if err != nil {
		return err
	}
	for _, v := range ckpts {
		if v < img.Version {
			_ = os.Remove(j.ckptPath(v))
		}
	}
	for i, start := range logs {
		if i+1 < len(logs) && logs[i+1] <= img.Version+1 {
			_ = os.Remove(j.logPath(start))
		}
	}
	return syncDir(j.dir)
}

func (j *journal) readCheckpoint(v int64) (*Image, error) {
	f, err := os.Open(j.ckptPath(v))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	payload, err := readFrame(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, err
	}
	var ck checkpoint
	if err := json.Unmarshal(payload, &ck); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptMetadata, err)
	}
	return ck.image()
}

// image builds the image a checkpoint holds.
func (ck *checkpoint) image() (*Image, error) {
	recs := []record{{Cluster: &clusterRecord{ID: ck.ClusterID}}, {ProducerIDs: &producerIDsRecord{Next: ck.NextProducerID}}}
	for _, t := range ck.Topics {
		recs = append(recs, record{Topic: &topicRecord{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: t.Configs}})
		for i, p := range t.Partitions {
			recs = append(recs, partitionRec(t.ID, int32(i), Partition(p)))
		}
	}
	for i := range ck.Scram {
		recs = append(recs, record{Scram: &ck.Scram[i]})
	}
	if len(ck.Quotas) > 0 {
		recs = append(recs, record{Quotas: &quotasRecord{Snapshot: ck.Quotas}})
	}
	if len(ck.ACLs) > 0 {
		recs = append(recs, record{ACLs: &aclsRecord{Snapshot: ck.ACLs}})
	}
	if len(ck.GroupConfigs) > 0 {
		recs = append(recs, record{GroupConfigs: &groupConfigsRecord{Snapshot: ck.GroupConfigs}})
	}
	img, _, err := emptyImage("").apply(recs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptMetadata, err)
	}
	img.Version = ck.V
	return img, nil
}

// readLegacy reads the metadata file of the format before the metadata
// log (one JSON document, replaced on every change); nil when absent.
func readLegacy(path string) (*Image, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	var old struct {
		ClusterID      string `json:"cluster_id"`
		NextProducerID int64  `json:"next_producer_id"`
		Topics         []struct {
			Name       string
			ID         TopicID
			Internal   bool
			Configs    map[string]string
			Partitions []ckptPartition
		} `json:"topics"`
	}
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrCorruptMetadata, path, err)
	}
	ck := checkpoint{V: 1, ClusterID: old.ClusterID, NextProducerID: old.NextProducerID}
	for _, t := range old.Topics {
		ck.Topics = append(ck.Topics, ckptTopic{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: t.Configs, Partitions: t.Partitions})
	}
	return ck.image()
}

// close waits for a background checkpoint, writes a final one when
// anything was appended since the last, and closes the log file.
func (j *journal) close(img *Image) error {
	j.snapWG.Wait()
	var err error
	if j.written > 0 {
		if err = j.writeCheckpoint(img); err == nil {
			j.written = 0
		}
	}
	return errors.Join(err, j.f.Close())
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so that created, renamed and removed entries
// are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}
