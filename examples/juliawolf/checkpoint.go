package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/brook-streams/brook/sketch"
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
	s.syncSketch()
	q, err := s.ListenMs.MarshalBinary()
	if err != nil {
		return err
	}
	e.Bytes(q)
	e.Uint(uint64(len(s.ExactMs)))
	for _, v := range s.ExactMs {
		e.Int(v)
	}
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
	s.ListenMs, s.repeats = *canon, 0
	n = d.Count()
	if d.Err() != nil {
		return
	}
	if n != 0 && (n > exactPlays || int64(n) != s.Streams) {
		d.Fail("%d exact listen times for %d plays", n, s.Streams)
		return
	}
	s.ExactMs = nil
	for range n {
		s.ExactMs = append(s.ExactMs, nonNegative(d))
	}
	if n != 0 {
		// The times are exact: the sketch gets them only when they stop
		// being (an older checkpoint's sketch held them too).
		s.ListenMs = sketch.Quantiles{}
	}
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

// MarshalBinary implements encoding.BinaryMarshaler: the checkpoint form
// of TrackStats (codec.For: in the windows' and the leaderboard's state).
func (s *TrackStats) MarshalBinary() ([]byte, error) {
	e := codec.NewEncoder(nil)
	err := appendTrackStats(e, s)
	return e.Data(), err
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (s *TrackStats) UnmarshalBinary(b []byte) error {
	d := codec.NewDecoder(b, "track stats")
	readTrackStats(d, s)
	return d.Finish()
}

// runKeyFile is the file in a checkpoint directory that says which run its
// checkpoints belong to (stream.OpenRunDir).
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
	// WindowTracks: the leaderboard keeps a row per window and track
	// (-windows-jsonl), which a run without them cannot resume.
	WindowTracks bool `json:"window_tracks,omitempty"`
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
	k.WindowTracks = o.cli.windowsJSONL != ""
	return k, err
}
