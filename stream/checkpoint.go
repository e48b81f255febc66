package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brook-streams/brook/stream/codec"
)

// Checkpoint is a consistent snapshot of a pipeline's state: the state of
// every stateful source, operator and sink instance, keyed by
// "operator-name/instance", taken by the asynchronous barrier snapshot
// scheme (see [WithCheckpoints]).
type Checkpoint struct {
	ID     int64
	States map[string][]byte
}

// CheckpointStore keeps completed checkpoints. Save must be atomic: after a
// crash, Latest returns either the new checkpoint or the previous one, never
// a torn one. Implementations must be safe for concurrent use.
type CheckpointStore interface {
	Save(ctx context.Context, cp *Checkpoint) error
	// Latest returns the newest intact checkpoint, or nil and no error if
	// there is none.
	Latest(ctx context.Context) (*Checkpoint, error)
}

// CheckpointListener is implemented by sources, operators and sinks that act
// when a checkpoint is complete: a Kafka source commits the offsets it
// recorded in that checkpoint's Snapshot. (A two-phase-commit sink implements
// [Committer] instead.) It is called from the checkpoint coordinator's
// goroutine, concurrently with the source's Run, the operator's records or the
// sink's Write, after the checkpoint is in the store, for the final checkpoint
// too (then after every instance has ended, before Close).
type CheckpointListener interface {
	CheckpointComplete(ctx context.Context, id int64) error
}

// ErrCorruptCheckpoint is wrapped by errors about checkpoint data that does
// not decode.
var ErrCorruptCheckpoint = codec.ErrCorrupt

// WithCheckpoints enables checkpoints every interval (processing time, by
// the pipeline's clock) into store. Run first restores the latest
// checkpoint in store, if any: every [Snapshotter] source, operator and sink
// gets its state back before its first record, and sources seek back to
// their position, so the state after a crash is exactly-once. Output is
// exactly-once with idempotent or transactional sinks, at-least-once
// otherwise.
//
// A barrier enters the dataflow at every source when the source next emits
// or flushes after the trigger, or at once if the source waits for input in
// [SourceOutput.Await]: checkpoints complete on schedule while the input is
// quiet. Operators snapshot as it passes; exchanges align it over their
// inputs; a checkpoint completes when every sink has it (sinks sync or
// pre-commit first; see [Committer]). One checkpoint is in flight at a time.
//
// The end of the input is a checkpoint too, the final one: once a source has
// ended no periodic checkpoint starts, every instance hands its state over
// as the end passes it, and when every instance has ended the final
// checkpoint is stored and committed. The same happens when the pipeline
// stops with a savepoint ([Pipeline.Stop]) or drains ([Pipeline.Drain]). A
// run restored from a final checkpoint resumes after everything the ended
// run processed.
//
// State is restored by operator name ([Name]; name the operators whose
// state must survive changes to the pipeline). An operator with no state in
// the checkpoint starts empty; state of an operator the pipeline no longer
// has fails the restore unless [AllowNonRestoredState] drops it. The
// restored pipeline must have the same maximum parallelism
// ([WithMaxParallelism]) as the one that wrote the checkpoint.
// Its parallelism may differ: state kept by key group (operators
// implementing [KeyGroupSnapshotter]) is redistributed, each instance taking the key groups it now owns, and each
// instance starts from the smallest watermark the old instances had. State
// an instance keeps of its own (a plain [Snapshotter] on a parallel stream)
// cannot be split or merged: restoring it at another parallelism fails with
// [ErrInvalid]. Sources and sinks run as one instance, so their state
// always restores.
func WithCheckpoints(store CheckpointStore, interval time.Duration) Option {
	return optionFunc(func(c *config) error {
		if store == nil {
			return fmt.Errorf("%w: nil checkpoint store", ErrInvalid)
		}
		if interval <= 0 {
			return fmt.Errorf("%w: checkpoint interval %v <= 0", ErrInvalid, interval)
		}
		c.store, c.ckptInterval = store, interval
		return nil
	})
}

// stateful wraps an instance's Snapshotter with the runtime's own state for
// it (its watermark), under a stable key, and the state of its key groups
// for an operator that keeps its state by key group.
type stateful struct {
	key   string
	snap  Snapshotter
	wm    *Time
	kg    KeyGroupSnapshotter
	first int      // the first of the instance's key groups, with kg
	gkeys []string // the checkpoint keys of the instance's key groups, with kg
	// replicated: every instance holds the same state (broadcast state,
	// see [ProcessBroadcast]), so at another parallelism each instance
	// restores instance 0's.
	replicated bool
}

func (s *stateful) snapshot() ([]byte, error) {
	var e codec.Encoder
	e.Int(int64(*s.wm))
	if s.snap == nil {
		return e.Data(), nil
	}
	st, err := s.snap.Snapshot()
	if err != nil {
		return nil, err
	}
	return append(e.Data(), st...), nil
}

// message returns the instance's whole part of checkpoint id.
func (s *stateful) message(id int64) (stateMsg, error) {
	st, err := s.snapshot()
	if err != nil {
		return stateMsg{}, err
	}
	m := stateMsg{id: id, key: s.key, state: st, has: true}
	if s.kg == nil {
		return m, nil
	}
	for i, key := range s.gkeys {
		gs, err := s.kg.SnapshotKeyGroup(s.first + i)
		if err != nil {
			return stateMsg{}, err
		}
		if len(gs) > 0 {
			m.groups = append(m.groups, groupState{key: key, state: gs})
		}
	}
	return m, nil
}

func (s *stateful) restore(b []byte) error {
	d := codec.NewDecoder(b, "state of "+s.key)
	w := d.Int()
	rest := d.Rest()
	if err := d.Finish(); err != nil {
		return err
	}
	*s.wm = Time(w)
	if s.snap != nil {
		return s.snap.Restore(rest)
	}
	return nil
}

// KeyGroupSnapshotter is implemented by operators on a keyed stream that
// keep their state by key group (see [KeyedStream.KeyGroup] and
// [Context.KeyGroups]), so that their checkpoints can be restored at
// another parallelism: each key group's state is stored on its own, and a
// restored instance gets the groups it owns now, whichever instances wrote
// them. Both methods are called on the instance's own goroutine.
//
// An operator may implement [Snapshotter] too, for state that belongs to
// the instance rather than to keys; such state can only be restored at the
// parallelism that wrote it (see [WithCheckpoints]).
type KeyGroupSnapshotter interface {
	// SnapshotKeyGroup returns the state of key group g, one of the
	// instance's groups; empty means the group holds nothing.
	SnapshotKeyGroup(g int) ([]byte, error)
	// RestoreKeyGroup adds the state of key group g, as SnapshotKeyGroup
	// returned it, before the instance's first record (and before Open).
	// It is called once for each of the instance's groups that has state in
	// the checkpoint, in increasing order of g.
	RestoreKeyGroup(g int, state []byte) error
}

// maxParallelismKey is the checkpoint entry recording the pipeline's
// maximum parallelism: key groups mean nothing under another one. No
// operator's entry can have this key (instance entries end in "/n", key
// group entries in "@n" after a non-empty name).
const maxParallelismKey = "@max-parallelism"

// groupKey is the checkpoint key of the state of key group g of operator name.
func groupKey(name string, g int) string { return name + "@" + strconv.Itoa(g) }

// checkRestoredMaxParallelism fails a restore into a pipeline whose maximum
// parallelism differs from the checkpoint's.
func (c *coordinator) checkRestoredMaxParallelism() error {
	b, ok := c.restored[maxParallelismKey]
	if !ok {
		return nil // written before key groups existed: no group state in it
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) {
		return fmt.Errorf("%w: max parallelism entry", ErrCorruptCheckpoint)
	}
	if int(v) != c.maxPar {
		return fmt.Errorf("%w: checkpoint written with max parallelism %d restored into a pipeline with %d (keys would change key groups)", ErrInvalid, v, c.maxPar)
	}
	return nil
}

// restoredInstances returns the instance entries of operator name in the
// restored checkpoint, by instance index: those of instances 0..n-1.
func (c *coordinator) restoredInstances(name string) [][]byte {
	var parts [][]byte
	for i := 0; ; i++ {
		st, ok := c.restored[name+"/"+strconv.Itoa(i)]
		if !ok {
			break
		}
		parts = append(parts, st)
	}
	return parts
}

// registerState wires the state of instance inst (of par) of a source,
// operator or sink (node id of the builder's task) into checkpoints:
// restore before its first record, snapshot at each barrier. kg is nil unless the operator keeps its state
// by key group.
//
// Restoring at the parallelism that wrote the checkpoint gives each
// instance its own entry. At another parallelism, an instance takes the
// smallest of the old instances' watermarks and the key groups it now
// owns; state of the instance's own ([Snapshotter]) cannot be split or
// merged, so an operator holding some refuses the restore.
func (b *builder) registerState(name string, id, inst, par int, snap Snapshotter, kg KeyGroupSnapshotter, wm *Time) *stateful {
	co := b.rt.co
	if co == nil {
		return nil
	}
	st := &stateful{key: name + "/" + strconv.Itoa(inst), snap: snap, wm: wm, kg: kg}
	co.nStates++
	if co.names == nil {
		co.names = map[string]bool{}
	}
	co.names[name] = true
	if kg != nil {
		r := KeyGroupRangeOf(inst, par, co.maxPar)
		st.first = r.Start
		st.gkeys = make([]string, r.Len())
		for g := r.Start; g < r.End; g++ {
			st.gkeys[g-r.Start] = groupKey(name, g)
		}
	}
	if co.restored == nil {
		return st
	}
	b.t.addOpener(id, name, func() error { return co.restoreInstance(st, name, inst, par) })
	return st
}

func (c *coordinator) restoreInstance(st *stateful, name string, inst, par int) error {
	old := c.restoredInstances(name)
	switch {
	case len(old) == 0:
		return nil // an operator added since the checkpoint starts empty
	case len(old) == par:
		if err := st.restore(old[inst]); err != nil {
			return err
		}
	case st.replicated:
		if err := st.restore(old[0]); err != nil {
			return err
		}
		if err := c.minRestoredWatermark(st, name, old); err != nil {
			return err
		}
	case st.snap != nil:
		return fmt.Errorf("%w: %s holds state of its own in %d instances, which cannot be restored at parallelism %d (only state kept by key group can: stream.KeyGroupSnapshotter)", ErrInvalid, name, len(old), par)
	default:
		if err := c.minRestoredWatermark(st, name, old); err != nil {
			return err
		}
	}
	if st.kg == nil {
		return nil
	}
	for i, key := range st.gkeys {
		if gs, ok := c.restored[key]; ok {
			if err := st.kg.RestoreKeyGroup(st.first+i, gs); err != nil {
				return err
			}
		}
	}
	return nil
}

// minRestoredWatermark starts an instance restored at another parallelism
// from the smallest watermark of the old instances.
func (c *coordinator) minRestoredWatermark(st *stateful, name string, old [][]byte) error {
	wm := MaxTime
	for i, b := range old {
		w, n := binary.Varint(b)
		if n <= 0 {
			return fmt.Errorf("%w: state of %s/%d", ErrCorruptCheckpoint, name, i)
		}
		wm = min(wm, Time(w))
	}
	*st.wm = wm
	return nil
}

// DirStore is a CheckpointStore in a local directory. Save writes a file,
// fsyncs it, renames it into place and fsyncs the directory; it keeps the
// newest Keep checkpoints (default 3). Latest skips torn or corrupt files and
// returns the newest intact one.
type DirStore struct {
	Dir  string
	Keep int
}

// NewDirStore returns a DirStore in dir, creating it if needed. It removes
// the temporary files (.tmp-ckpt-*) that a writer killed in the middle of
// a Save left behind: a directory holds the checkpoints of one store, and
// a store that is opened has no Save in progress.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ckptTemp) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("stream: removing a stale temporary checkpoint: %w", err)
			}
		}
	}
	return &DirStore{Dir: dir, Keep: 3}, nil
}

// ckptTemp starts the names of checkpoint files being written.
const ckptTemp = ".tmp-ckpt-"

const ckptPrefix, ckptSuffix = "ckpt-", ".bin"

func (d *DirStore) path(id int64) string {
	return filepath.Join(d.Dir, fmt.Sprintf("%s%020d%s", ckptPrefix, id, ckptSuffix))
}

// Save stores cp atomically.
func (d *DirStore) Save(_ context.Context, cp *Checkpoint) error {
	data := EncodeCheckpoint(cp)
	tmp, err := os.CreateTemp(d.Dir, ckptTemp+"*")
	if err != nil {
		return err
	}
	if err := writeSynced(tmp, data); err != nil {
		// The write failed: the temp file is garbage, its removal best effort.
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	if err := os.Rename(tmp.Name(), d.path(cp.ID)); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	// The rename is durable once the directory is synced; a failure here
	// means the checkpoint may not survive a power loss, so it is reported.
	if err := syncDir(d.Dir); err != nil {
		return err
	}
	return d.prune()
}

// writeSynced writes data to f, syncs and closes it; f is closed on every
// path.
func writeSynced(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncDir fsyncs a directory so that a rename inside it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func (d *DirStore) ids() ([]int64, error) {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ckptPrefix) || !strings.HasSuffix(name, ckptSuffix) {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, ckptPrefix), ckptSuffix), 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (d *DirStore) prune() error {
	keep := d.Keep
	if keep < 1 {
		keep = 3
	}
	ids, err := d.ids()
	if err != nil {
		return err
	}
	for len(ids) > keep {
		if err := os.Remove(d.path(ids[0])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		ids = ids[1:]
	}
	return nil
}

// Latest returns the newest intact checkpoint, or nil.
func (d *DirStore) Latest(context.Context) (*Checkpoint, error) {
	ids, err := d.ids()
	if err != nil {
		return nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		data, err := os.ReadFile(d.path(ids[i]))
		if err != nil {
			continue
		}
		cp, err := DecodeCheckpoint(data)
		if err != nil || cp.ID != ids[i] {
			continue // torn or corrupt: fall back to the previous one
		}
		return cp, nil
	}
	return nil, nil
}

var ckptMagic = []byte("BRCK\x01")

// EncodeCheckpoint serializes cp: a magic and version, the id, the states
// sorted by key, and a CRC-32C of all of it.
func EncodeCheckpoint(cp *Checkpoint) []byte {
	keys := make([]string, 0, len(cp.States))
	for k := range cp.States {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := append([]byte(nil), ckptMagic...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(cp.ID))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(keys)))
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(k)))
		buf = append(buf, k...)
		v := cp.States[k]
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
		buf = append(buf, v...)
	}
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, crcTable))
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// DecodeCheckpoint parses what EncodeCheckpoint wrote. Any damage gives an
// error wrapping ErrCorruptCheckpoint, never a panic.
func DecodeCheckpoint(data []byte) (*Checkpoint, error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrCorruptCheckpoint, what) }
	if len(data) < len(ckptMagic)+8+4+4 {
		return nil, bad("too short")
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, bad("checksum mismatch")
	}
	if string(body[:len(ckptMagic)]) != string(ckptMagic) {
		return nil, bad("bad magic or version")
	}
	b := body[len(ckptMagic):]
	cp := &Checkpoint{ID: int64(binary.BigEndian.Uint64(b)), States: map[string][]byte{}}
	n := binary.BigEndian.Uint32(b[8:])
	b = b[12:]
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		l := binary.BigEndian.Uint32(b)
		if uint64(l) > uint64(len(b)-4) {
			return nil, false
		}
		v := b[4 : 4+l]
		b = b[4+l:]
		return v, true
	}
	for i := uint32(0); i < n; i++ {
		k, ok := next()
		if !ok {
			return nil, bad("truncated key")
		}
		v, ok := next()
		if !ok {
			return nil, bad("truncated state")
		}
		cp.States[string(k)] = append([]byte{}, v...)
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return cp, nil
}
