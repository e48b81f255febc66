package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
	"github.com/brook-streams/brook/window"
)

// The distributed mode's shared state in Redis: one hash per Kafka
// partition, the partition's partial aggregates and the offset they cover,
// a per-partition state store (Kafka Streams keeps the same thing in a
// changelog topic). With prefix P (-prefix, default "juliawolf"):
//
//	P:partitions                 set of the partition hashes' keys
//	P:part:<topic>:<partition>   hash:
//	    epoch     fencing token: incremented by every worker that takes
//	              the partition over; a write with an older one is refused
//	    settings  the run's settings (window, B, L, catalog digest), JSON
//	    offset    the next offset: the state covers every record before it
//	    invalid   records rejected (undecodable, unknown track)
//	    wm        the largest brook-wm stamp applied
//	    first     processing time (Unix ns) of the first record applied
//	    last      processing time (Unix ns) of the last record applied
//	    late      per-track stats of the late plays (all time)
//	    w:<start> per-track stats of one window's on-time plays
//
// A worker writes a partition's changed fields and its offset in one Lua
// script (atomic in Redis) that first checks the epoch, so the stored
// state always matches the stored offset, and a worker that lost the
// partition cannot overwrite its new owner's state.

const (
	fieldEpoch    = "epoch"
	fieldSettings = "settings"
	fieldOffset   = "offset"
	fieldInvalid  = "invalid"
	fieldWM       = "wm"
	fieldFirst    = "first"
	fieldLast     = "last"
	fieldLate     = "late"
	windowField   = "w:"
)

// errFenced is returned when another worker has taken the partition over.
var errFenced = errors.New("partition taken over by another worker")

func partitionsKey(prefix string) string { return prefix + ":partitions" }

func partitionKey(prefix, topic string, partition int32) string {
	return prefix + ":part:" + topic + ":" + strconv.Itoa(int(partition))
}

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

func (s distSettings) encode() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s distSettings) describe() string {
	return fmt.Sprintf("-window %s -max-delay %s -allowed-lateness %s, catalog %.12s",
		time.Duration(s.WindowNs), time.Duration(s.MaxDelayNs), time.Duration(s.LatenessNs), s.Catalog)
}

// claimScript takes a partition over: it checks the settings, increments
// the epoch, registers the partition and returns the new epoch and the
// whole hash. KEYS: hash, set. ARGV: settings.
var claimScript = redis.NewScript(`
local s = redis.call('HGET', KEYS[1], 'settings')
if s and s ~= ARGV[1] then
  return redis.error_reply('SETTINGS ' .. s)
end
local e = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'settings', ARGV[1])
redis.call('SADD', KEYS[2], KEYS[1])
return {e, redis.call('HGETALL', KEYS[1])}
`)

// publishScript writes fields of a partition if the caller still owns it.
// KEYS: hash. ARGV: epoch, then field, value pairs.
var publishScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
`)

// claimPartition takes the partition over and returns its epoch and
// stored fields.
func claimPartition(ctx context.Context, rdb *redis.Client, prefix, topic string, partition int32, settings distSettings) (int64, map[string]string, error) {
	key := partitionKey(prefix, topic, partition)
	res, err := claimScript.Run(ctx, rdb, []string{key, partitionsKey(prefix)}, settings.encode()).Slice()
	if err != nil {
		if msg, ok := strings.CutPrefix(err.Error(), "SETTINGS "); ok {
			var theirs distSettings
			if json.Unmarshal([]byte(msg), &theirs) == nil {
				return 0, nil, fmt.Errorf("%s holds state written with other settings (%s; this worker: %s): use the same flags, or another -prefix", key, theirs.describe(), settings.describe())
			}
		}
		return 0, nil, fmt.Errorf("claiming %s: %w", key, err)
	}
	if len(res) != 2 {
		return 0, nil, fmt.Errorf("claiming %s: unexpected reply %v", key, res)
	}
	epoch, ok := res[0].(int64)
	flat, ok2 := res[1].([]any)
	if !ok || !ok2 || len(flat)%2 != 0 {
		return 0, nil, fmt.Errorf("claiming %s: unexpected reply %v", key, res)
	}
	fields := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[k] = v
	}
	return epoch, fields, nil
}

// publishPartition writes fields (name, value pairs) if epoch still owns
// the partition.
func publishPartition(ctx context.Context, rdb *redis.Client, key string, epoch int64, fields []any) error {
	args := append([]any{strconv.FormatInt(epoch, 10)}, fields...)
	err := publishScript.Run(ctx, rdb, []string{key}, args...).Err()
	if err != nil && strings.Contains(err.Error(), "FENCED") {
		return fmt.Errorf("%s: %w", key, errFenced)
	}
	if err != nil {
		return fmt.Errorf("publishing %s: %w", key, err)
	}
	return nil
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

const trackSetVersion = 1

// encodeTrackSet writes the tracks with plays, by track_id.
func encodeTrackSet(cat *Catalog, ts trackSet) ([]byte, error) {
	e := codec.NewEncoder(nil)
	e.Byte(trackSetVersion)
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
			return nil, err
		}
	}
	return e.Data(), nil
}

func decodeTrackSet(cat *Catalog, b []byte, what string) (trackSet, error) {
	d := codec.NewDecoder(b, what)
	d.Version(trackSetVersion)
	ts := newTrackSet(cat)
	n := d.Count()
	for range n {
		id := d.String()
		if d.Err() != nil {
			break
		}
		i, ok := cat.Index(id)
		if !ok {
			return nil, fmt.Errorf("%s: track %q is not in the catalog", what, clip(id))
		}
		if ts[i] != nil {
			return nil, fmt.Errorf("%s: track %q twice", what, clip(id))
		}
		ts[i] = &TrackStats{}
		readTrackStats(d, ts[i])
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return ts, nil
}

// windowAgg is one window's on-time plays in one partition.
type windowAgg struct {
	start, end int64
	tracks     trackSet
	dirty      bool // changed since the last publish
}

const windowVersion = 1

func encodeWindow(cat *Catalog, w *windowAgg) ([]byte, error) {
	body, err := encodeTrackSet(cat, w.tracks)
	if err != nil {
		return nil, err
	}
	e := codec.NewEncoder(nil)
	e.Byte(windowVersion)
	e.Int(w.start)
	e.Int(w.end)
	e.Bytes(body)
	return e.Data(), nil
}

func decodeWindow(cat *Catalog, asg window.Assigner, b []byte, what string) (*windowAgg, error) {
	d := codec.NewDecoder(b, what)
	d.Version(windowVersion)
	w := &windowAgg{start: d.Int(), end: d.Int()}
	body := d.Bytes()
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if span := asg.Windows(timeNs(w.start)); len(span) != 1 || int64(span[0].Start) != w.start || int64(span[0].End) != w.end {
		return nil, fmt.Errorf("%s: [%d, %d) is not a window of this size", what, w.start, w.end)
	}
	var err error
	if w.tracks, err = decodeTrackSet(cat, body, what); err != nil {
		return nil, err
	}
	return w, nil
}

// readSettings reads a partition hash's settings.
func readSettings(key string, fields map[string]string) (distSettings, error) {
	var s distSettings
	v, ok := fields[fieldSettings]
	if !ok {
		return s, fmt.Errorf("%s: no settings", key)
	}
	if json.Unmarshal([]byte(v), &s) != nil || s.WindowNs <= 0 || s.MaxDelayNs < 0 || s.LatenessNs < 0 {
		return s, fmt.Errorf("%s: unreadable settings %q", key, clip(v))
	}
	return s, nil
}

// storedPartition is a partition hash as read back.
type storedPartition struct {
	key              string
	settings         distSettings
	offset, invalid  int64
	wm               int64
	first, last      int64
	late             trackSet
	windows          []*windowAgg
	windowStarts     []int64 // every stored window, loaded or not
	hasOffset, hasWM bool
}

// parsePartition reads a partition hash. keep says which windows to decode
// (by start and end); the others are only listed in windowStarts.
func parsePartition(cat *Catalog, asg window.Assigner, key string, fields map[string]string, keep func(start, end int64) bool) (*storedPartition, error) {
	sp := &storedPartition{key: key, wm: minNs, late: newTrackSet(cat)}
	num := func(name string) (int64, bool, error) {
		v, ok := fields[name]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: field %s: %w", key, name, err)
		}
		return n, true, nil
	}
	var err error
	if sp.settings, err = readSettings(key, fields); err != nil {
		return nil, err
	}
	if sp.offset, sp.hasOffset, err = num(fieldOffset); err != nil {
		return nil, err
	}
	if sp.invalid, _, err = num(fieldInvalid); err != nil {
		return nil, err
	}
	var wm int64
	if wm, sp.hasWM, err = num(fieldWM); err != nil {
		return nil, err
	} else if sp.hasWM {
		sp.wm = wm
	}
	if sp.first, _, err = num(fieldFirst); err != nil {
		return nil, err
	}
	if sp.last, _, err = num(fieldLast); err != nil {
		return nil, err
	}
	if v, ok := fields[fieldLate]; ok {
		if sp.late, err = decodeTrackSet(cat, []byte(v), key+" late plays"); err != nil {
			return nil, err
		}
	}
	for name, v := range fields {
		s, ok := strings.CutPrefix(name, windowField)
		if !ok {
			continue
		}
		start, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: field %s: %w", key, name, err)
		}
		sp.windowStarts = append(sp.windowStarts, start)
		span := asg.Windows(timeNs(start))
		if len(span) != 1 || int64(span[0].Start) != start {
			return nil, fmt.Errorf("%s: field %s is not a window start", key, name)
		}
		if keep != nil && !keep(start, int64(span[0].End)) {
			continue
		}
		w, err := decodeWindow(cat, asg, []byte(v), key+" "+name)
		if err != nil {
			return nil, err
		}
		if w.start != start {
			return nil, fmt.Errorf("%s: field %s holds window %d", key, name, w.start)
		}
		sp.windows = append(sp.windows, w)
	}
	return sp, nil
}

func windowFieldName(start int64) string { return windowField + strconv.FormatInt(start, 10) }

// minNs is the watermark before any event.
const minNs = math.MinInt64

// timeNs converts nanoseconds since the epoch to a stream.Time as the
// reference engine does (UnixNano, no saturation: decoded event times are
// inside the int64 range).
func timeNs(ns int64) stream.Time { return stream.Time(ns) }
