package main

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

// This file holds what -checkpoint-dir adds: the checkpoint encodings of
// the example's own stateful pieces (the sources are in input.go and
// generator.go, the sinks here), and the bookkeeping of a checkpoint
// directory (which run it belongs to, clearing it after a finished run).
//
// Every encoding starts with a version byte and is made of varints and
// length-prefixed byte strings; sketches are in their own MarshalBinary
// format. Restore validates everything it reads (counts bounded by the
// bytes left, track indexes inside the catalog, sketches of the
// precision and accuracy the pipeline merges with), so damaged state
// gives an error wrapping stream.ErrCorruptCheckpoint, never a panic
// (FuzzRestore).

// nonNegative reads a varint that must not be negative (a count).
func nonNegative(d *codec.Decoder) int64 {
	v := d.Int()
	if v < 0 {
		d.Fail("negative count %d", v)
		return 0
	}
	return v
}

// appendTrackStats encodes s. Encoding initializes zero-value sketches,
// which changes none of their results.
func appendTrackStats(e *codec.Encoder, s *TrackStats) error {
	e.Int(s.Streams)
	e.Int(s.Completions)
	e.Uint(uint64(len(s.Platforms)))
	for _, pc := range s.Platforms {
		e.String(pc.Platform)
		e.Int(pc.Plays)
	}
	if err := appendHLL(e, &s.Listeners); err != nil {
		return err
	}
	q, err := s.ListenMs.MarshalBinary()
	if err != nil {
		return err
	}
	e.Bytes(q)
	return nil
}

func appendHLL(e *codec.Encoder, h *sketch.HLL) error {
	b, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	e.Bytes(b)
	return nil
}

// readTrackStats decodes what appendTrackStats wrote into s.
func readTrackStats(d *codec.Decoder, s *TrackStats) {
	s.Streams, s.Completions = nonNegative(d), nonNegative(d)
	n := d.Count()
	s.Platforms = nil
	for range n {
		pc := PlatformCount{Platform: d.String(), Plays: nonNegative(d)}
		if d.Err() != nil {
			return
		}
		s.Platforms = append(s.Platforms, pc)
	}
	readHLL(d, &s.Listeners)
	q := d.Bytes()
	if d.Err() != nil {
		return
	}
	var decoded sketch.Quantiles
	if err := decoded.UnmarshalBinary(q); err != nil {
		d.Fail("listen times: %v", err)
		return
	}
	// The pipeline merges these with sketches of the default accuracy. A
	// decoded index mapping only needs to match the default within a
	// tolerance to merge, and that is not transitive: two restored sketches
	// could each merge with a new one but not with each other. Merging into
	// a new sketch puts the bins on the exact default mapping (and fails
	// here, not later, for a mapping that does not fit).
	canon, err := sketch.NewQuantiles()
	if err == nil {
		err = canon.Merge(&decoded)
	}
	if err != nil {
		d.Fail("listen times: %v", err)
		return
	}
	s.ListenMs = *canon
}

func readHLL(d *codec.Decoder, h *sketch.HLL) {
	b := d.Bytes()
	if d.Err() != nil {
		return
	}
	if err := h.UnmarshalBinary(b); err != nil {
		d.Fail("listeners: %v", err)
		return
	}
	if p := h.Precision(); p != sketch.DefaultPrecision {
		d.Fail("listeners: HLL precision %d, want %d", p, sketch.DefaultPrecision)
	}
}

const boardStateVersion = 1

// Snapshot implements stream.Snapshotter: the late count, the all-time
// figures per track and of listeners, the closed windows' rows and the
// open windows' latest results per track.
func (b *boardSink) Snapshot() ([]byte, error) {
	e := codec.NewEncoder(nil)
	e.Byte(boardStateVersion)
	e.Int(b.late)
	e.Uint(uint64(len(b.tracks)))
	for i := range b.tracks {
		if err := appendTrackStats(e, &b.tracks[i]); err != nil {
			return nil, err
		}
	}
	if err := appendHLL(e, &b.users); err != nil {
		return nil, err
	}
	e.Uint(uint64(len(b.windows)))
	for _, w := range b.windows {
		e.Int(w.Start.UnixNano())
		e.Int(w.End.UnixNano())
		e.Int(w.Events)
		e.Uint(w.UniqueListeners)
		e.String(w.TopTrack)
	}
	starts := make([]stream.Time, 0, len(b.open))
	for s := range b.open {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	e.Uint(uint64(len(starts)))
	for _, s := range starts {
		w := b.open[s]
		e.Int(int64(w.start))
		e.Int(int64(w.end))
		tracks := make([]int, 0, len(w.perTrack))
		for t := range w.perTrack {
			tracks = append(tracks, t)
		}
		slices.Sort(tracks)
		e.Uint(uint64(len(tracks)))
		for _, t := range tracks {
			e.Uint(uint64(t))
			if err := appendTrackStats(e, w.perTrack[t]); err != nil {
				return nil, err
			}
		}
	}
	return e.Data(), nil
}

// Restore implements stream.Snapshotter.
func (b *boardSink) Restore(state []byte) error {
	d := codec.NewDecoder(state, "leaderboard")
	d.Version(boardStateVersion)
	late := nonNegative(d)
	if n := d.Count(); d.Err() == nil && n != b.cat.Len() {
		d.Fail("%d tracks, the catalog has %d", n, b.cat.Len())
	}
	tracks := make([]TrackStats, b.cat.Len())
	for i := range tracks {
		if d.Err() != nil {
			break
		}
		readTrackStats(d, &tracks[i])
	}
	var users sketch.HLL
	readHLL(d, &users)
	var windows []WindowRow
	for range d.Count() {
		row := WindowRow{Start: nsTime(d.Int()), End: nsTime(d.Int()), Events: nonNegative(d), UniqueListeners: d.Uint(), TopTrack: d.String()}
		if d.Err() != nil {
			break
		}
		windows = append(windows, row)
	}
	open := map[stream.Time]*boardWindow{}
	for range d.Count() {
		w := &boardWindow{start: stream.Time(d.Int()), end: stream.Time(d.Int()), perTrack: map[int]*TrackStats{}}
		if d.Err() == nil && w.start >= w.end {
			d.Fail("window [%d,%d)", w.start, w.end)
		}
		if _, dup := open[w.start]; d.Err() == nil && dup {
			d.Fail("window at %d twice", w.start)
		}
		for range d.Count() {
			t := d.Uint()
			if d.Err() == nil && t >= uint64(b.cat.Len()) {
				d.Fail("track %d, the catalog has %d", t, b.cat.Len())
			}
			st := &TrackStats{}
			readTrackStats(d, st)
			if d.Err() != nil {
				break
			}
			w.perTrack[int(t)] = st
		}
		if d.Err() != nil {
			break
		}
		open[w.start] = w
	}
	if err := d.Finish(); err != nil {
		return err
	}
	b.late, b.tracks, b.users, b.windows, b.open = late, tracks, users, windows, open
	return nil
}

// runKeyFile is the file in a checkpoint directory that says which run its
// checkpoints belong to.
const runKeyFile = "juliawolf-run.json"

// runKey is everything a run's checkpointed state depends on. A run
// resumes the checkpoints of a directory only with the same key: another
// input, catalog or setting would restore state that does not fit it.
type runKey struct {
	Input           string `json:"input,omitempty"` // absolute path; "" for the generator
	InputSize       int64  `json:"input_size,omitempty"`
	InputModified   string `json:"input_modified,omitempty"`
	Events          int64  `json:"events,omitempty"` // generator only
	Seed            uint64 `json:"seed,omitempty"`
	Catalog         string `json:"catalog"` // SHA-256 of the tracks
	Window          string `json:"window"`
	MaxDelay        string `json:"max_delay"`
	AllowedLateness string `json:"allowed_lateness"`
	DeadLetter      string `json:"dead_letter,omitempty"` // absolute paths
	Dump            string `json:"dump,omitempty"`
}

// newRunKey describes the run of o; in is the input's file info (nil for
// the generator).
func newRunKey(o options, cat *Catalog, in fs.FileInfo) (runKey, error) {
	h := sha256.New()
	for _, t := range cat.All() {
		_, _ = fmt.Fprintf(h, "%q %q %q %d %v\n", t.TrackID, t.Title, t.Album, t.DurationMs, t.Weight)
	}
	k := runKey{
		Catalog:         hex.EncodeToString(h.Sum(nil)),
		Window:          o.window.String(),
		MaxDelay:        o.maxDelay.String(),
		AllowedLateness: o.lateness.String(),
	}
	var err error
	abs := func(p string) string {
		if p == "" || err != nil {
			return p
		}
		var a string
		a, err = filepath.Abs(p)
		return a
	}
	if in != nil {
		k.Input, k.InputSize, k.InputModified = abs(o.input), in.Size(), in.ModTime().UTC().Format(time.RFC3339Nano)
	} else {
		k.Events, k.Seed = o.events, o.seed
	}
	k.DeadLetter, k.Dump = abs(o.deadLetter), abs(o.dump)
	return k, err
}

// diff names the first setting in which k and o differ, or "".
func (k runKey) diff(o runKey) string {
	a, b := map[string]any{}, map[string]any{}
	ja, _ := json.Marshal(k)
	jb, _ := json.Marshal(o)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	names := make([]string, 0, len(a)+len(b))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		if fmt.Sprint(a[n]) != fmt.Sprint(b[n]) {
			return fmt.Sprintf("%s: %v, now %v", n, cmp.Or(fmt.Sprint(a[n]), "none"), cmp.Or(fmt.Sprint(b[n]), "none"))
		}
	}
	return ""
}

// checkRunKey makes sure the checkpoints in dir belong to a run with key k.
func checkRunKey(dir string, k runKey) error {
	data, err := os.ReadFile(filepath.Join(dir, runKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("-checkpoint-dir %s holds checkpoints but no %s: remove them or use another directory", dir, runKeyFile)
	}
	if err != nil {
		return err
	}
	var saved runKey
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&saved); err != nil {
		return fmt.Errorf("-checkpoint-dir %s: %s: %w", dir, runKeyFile, err)
	}
	if d := saved.diff(k); d != "" {
		return fmt.Errorf("-checkpoint-dir %s holds checkpoints of another run (%s): remove them or use another directory", dir, d)
	}
	return nil
}

// writeRunKey records k in dir, atomically, for a run that starts afresh:
// in a new temporary file (os.CreateTemp: a name nobody planted, opened
// with O_EXCL, so no symlink is followed), fsynced, then renamed.
func writeRunKey(dir string, k runKey) error {
	data, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, runKeyTemp)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }() // after the rename, nothing to remove
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, runKeyFile))
}

// runKeyTemp is the pattern of writeRunKey's temporary files.
const runKeyTemp = ".juliawolf-run-*.tmp"

// clearTemporaries removes the temporary files a killed run left in dir:
// stream.DirStore's (.tmp-ckpt-*) and writeRunKey's. Nothing else uses
// them: a directory serves one run at a time.
func clearTemporaries(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if ok, _ := filepath.Match(runKeyTemp, n); ok || strings.HasPrefix(n, ".tmp-ckpt-") {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// clearCheckpoints removes a finished run's checkpoints (the files
// stream.DirStore writes, ckpt-*.bin and its temporaries) and its run key,
// so the next run with the directory starts afresh. Other files are left
// alone.
func clearCheckpoints(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	// The run key goes last: a directory with checkpoints and no key is
	// refused, one with a key and fewer checkpoints resumes an older one.
	var names []string
	for _, e := range entries {
		n := e.Name()
		if (strings.HasPrefix(n, "ckpt-") && strings.HasSuffix(n, ".bin")) || strings.HasPrefix(n, ".tmp-ckpt-") {
			names = append(names, n)
		}
	}
	for _, n := range append(names, runKeyFile) {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
