package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
	"github.com/brook-streams/brook/window"
)

// The distributed mode's state. Each Kafka partition is a task of a
// kafka.Group (worker.go) whose whole state — the windows, the dead-letter
// count, the partition's position, and the partials below — is in the
// task's checkpoints in Redis (stream/redisstore.Tasks: written atomically
// with the position and fenced against an older owner). With prefix P
// (-prefix, default "juliawolf"):
//
//	{P:task:<topic>-<partition>}:*  the task's checkpoints (redisstore.Tasks)
//	P:task:tasks                    the tasks claimed so far
//	P:settings                      the run's settings (window, B, L, catalog digest), JSON
//	P:run                           hash: per worker run, "start end" processing times (Unix ns)
//
// The partials sink's state is what report reads: per window, the latest
// result of each track (mergeable TrackStats: counts add, HLL and quantile
// sketches merge exactly), the late plays per track, the dead-letter count,
// and whether the end of the input (the final watermark, written by
// produce after the last play) has passed the task.

func settingsKey(prefix string) string { return prefix + ":settings" }
func runsKey(prefix string) string     { return prefix + ":run" }
func tasksPrefix(prefix string) string { return prefix + ":task" }

// partialsName is the name of the partials sink in a task's pipeline, the
// name of its state in the task's checkpoints.
const partialsName = "partials"

// distSettings are what must be equal for partial results to merge into
// the single-process answer.
type distSettings struct {
	WindowNs   int64  `json:"window_ns"`
	MaxDelayNs int64  `json:"max_delay_ns"`
	LatenessNs int64  `json:"allowed_lateness_ns"`
	Catalog    string `json:"catalog_sha256"`
}

func newDistSettings(s eventSettings, cat *Catalog) distSettings {
	var tracks []Track
	for _, t := range cat.All() {
		tracks = append(tracks, t)
	}
	data, _ := json.Marshal(tracks) // Track marshals without error
	sum := sha256.Sum256(data)
	return distSettings{
		WindowNs: int64(s.window), MaxDelayNs: int64(s.maxDelay), LatenessNs: int64(s.lateness),
		Catalog: hex.EncodeToString(sum[:]),
	}
}

func (s distSettings) describe() string {
	return fmt.Sprintf("-window %s -max-delay %s -allowed-lateness %s, catalog %.12s",
		time.Duration(s.WindowNs), time.Duration(s.MaxDelayNs), time.Duration(s.LatenessNs), s.Catalog)
}

// claimSettings records the settings of the state under prefix, or checks
// them against those recorded: state of other settings does not merge.
func claimSettings(ctx context.Context, rdb *redis.Client, prefix string, s distSettings) error {
	b, _ := json.Marshal(s)
	if _, err := rdb.SetNX(ctx, settingsKey(prefix), b, 0).Result(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	got, err := readSettings(ctx, rdb, prefix)
	if err != nil {
		return err
	}
	if got != s {
		return usagef("the state under %s was written with other settings (%s, not %s): use another -prefix, or the same settings", prefix, got.describe(), s.describe())
	}
	return nil
}

// readSettings reads the settings recorded under prefix.
func readSettings(ctx context.Context, rdb *redis.Client, prefix string) (distSettings, error) {
	var s distSettings
	v, err := rdb.Get(ctx, settingsKey(prefix)).Result()
	if errors.Is(err, redis.Nil) {
		return s, fmt.Errorf("no state under %s: (did the workers run with -prefix %s?)", prefix, prefix)
	}
	if err != nil {
		return s, fmt.Errorf("redis: %w", err)
	}
	if json.Unmarshal([]byte(v), &s) != nil || s.WindowNs <= 0 || s.MaxDelayNs < 0 || s.LatenessNs < 0 {
		return s, fmt.Errorf("%s: unreadable settings %q", settingsKey(prefix), clip(v))
	}
	return s, nil
}

// partialSink keeps a task's share of the snapshot in mergeable form (see
// above). It is a stream.Snapshotter: its state is in the task's
// checkpoints, and report reads it from there.
type partialSink struct {
	cat     *Catalog
	windows map[stream.Time]*windowPartial // by start
	late    trackSet
	invalid int64
	ended   bool // the final watermark has passed
}

// windowPartial is one window's latest result per track, in one task.
type windowPartial struct {
	start, end stream.Time
	tracks     trackSet
}

var (
	_ stream.Sink[boardEvent] = (*partialSink)(nil)
	_ stream.WatermarkSink    = (*partialSink)(nil)
	_ stream.Snapshotter      = (*partialSink)(nil)
)

func newPartialSink(cat *Catalog) *partialSink {
	return &partialSink{cat: cat, windows: map[stream.Time]*windowPartial{}, late: newTrackSet(cat)}
}

// Write keeps a window result (the latest firing of a window and track
// replaces the earlier ones: it covers them), adds a late play to its
// track, or adds the dead letters.
func (s *partialSink) Write(_ context.Context, r stream.Record[boardEvent]) error {
	e := r.Value
	s.invalid += e.invalid
	if tp := e.late; tp != nil {
		s.late.at(int(tp.Track)).addTrackPlay(*tp)
	}
	if res := e.result; res != nil {
		w := s.windows[res.Start]
		if w == nil {
			w = &windowPartial{start: res.Start, end: res.End, tracks: newTrackSet(s.cat)}
			s.windows[res.Start] = w
		}
		w.tracks[res.Key] = res.Value
	}
	return nil
}

// WriteWatermark notes the end of the input: every window has fired.
func (s *partialSink) WriteWatermark(_ context.Context, w stream.Time) error {
	if w == stream.MaxTime {
		s.ended = true
	}
	return nil
}

const partialsVersion = 1

// Snapshot implements stream.Snapshotter.
func (s *partialSink) Snapshot() ([]byte, error) {
	e := codec.NewEncoder(nil)
	e.Byte(partialsVersion)
	e.Int(s.invalid)
	e.Bool(s.ended)
	if err := appendTrackSet(e, s.cat, s.late); err != nil {
		return nil, err
	}
	starts := make([]stream.Time, 0, len(s.windows))
	for start := range s.windows {
		starts = append(starts, start)
	}
	slices.Sort(starts)
	e.Uint(uint64(len(starts)))
	for _, start := range starts {
		w := s.windows[start]
		e.Int(int64(w.start))
		e.Int(int64(w.end))
		if err := appendTrackSet(e, s.cat, w.tracks); err != nil {
			return nil, err
		}
	}
	return e.Data(), nil
}

// Restore implements stream.Snapshotter.
func (s *partialSink) Restore(b []byte) error {
	p, err := decodePartials(s.cat, nil, b, "partials")
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

// decodePartials reads what Snapshot wrote. With asg, every window must be
// one of asg's. Damage gives an error, never a panic (FuzzDecodePartials).
func decodePartials(cat *Catalog, asg *window.Assigner, b []byte, what string) (*partialSink, error) {
	s := newPartialSink(cat)
	d := codec.NewDecoder(b, what)
	d.Version(partialsVersion)
	s.invalid = nonNegative(d)
	s.ended = d.Bool()
	s.late = readTrackSet(d, cat)
	n := d.Count()
	for range n {
		w := &windowPartial{start: stream.Time(d.Int()), end: stream.Time(d.Int())}
		w.tracks = readTrackSet(d, cat)
		if d.Err() != nil {
			break
		}
		if w.end <= w.start || s.windows[w.start] != nil {
			d.Fail("window [%d, %d) repeated or empty", w.start, w.end)
			break
		}
		if asg != nil {
			if span := asg.Windows(w.start); len(span) != 1 || span[0].Start != w.start || span[0].End != w.end {
				d.Fail("[%d, %d) is not a window of these settings", w.start, w.end)
				break
			}
		}
		s.windows[w.start] = w
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// trackSet holds per-track stats, indexed like the catalog; nil: no plays.
type trackSet []*TrackStats

func newTrackSet(cat *Catalog) trackSet { return make(trackSet, cat.Len()) }

func (ts trackSet) at(i int) *TrackStats {
	if ts[i] == nil {
		ts[i] = &TrackStats{}
	}
	return ts[i]
}

// merge folds o into ts.
func (ts trackSet) merge(o trackSet) error {
	for i, s := range o {
		if s != nil {
			if err := ts.at(i).Merge(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendTrackSet writes the tracks with plays, by track_id.
func appendTrackSet(e *codec.Encoder, cat *Catalog, ts trackSet) error {
	n := 0
	for _, s := range ts {
		if s != nil {
			n++
		}
	}
	e.Uint(uint64(n))
	for i, s := range ts {
		if s == nil {
			continue
		}
		e.String(cat.Track(i).TrackID)
		if err := appendTrackStats(e, s); err != nil {
			return err
		}
	}
	return nil
}

// readTrackSet reads what appendTrackSet wrote.
func readTrackSet(d *codec.Decoder, cat *Catalog) trackSet {
	ts := newTrackSet(cat)
	n := d.Count()
	for range n {
		id := d.String()
		if d.Err() != nil {
			break
		}
		i, ok := cat.Index(id)
		if !ok {
			d.Fail("track %q is not in the catalog", clip(id))
			break
		}
		if ts[i] != nil {
			d.Fail("track %q twice", clip(id))
			break
		}
		ts[i] = &TrackStats{}
		readTrackStats(d, ts[i])
	}
	return ts
}
