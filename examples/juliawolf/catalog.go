package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
)

// Track is one catalog entry: the metadata a play is enriched with.
type Track struct {
	TrackID    string `json:"track_id"`
	Title      string `json:"title"`
	Album      string `json:"album"`
	DurationMs int64  `json:"duration_ms"`
	// Weight is the track's relative popularity in the built-in generator.
	// It is not part of the catalog file format; tracks loaded from a file
	// get weights from their position (see LoadCatalog).
	Weight float64 `json:"-"`
}

// Catalog is the set of known tracks, in catalog order, with a lookup by id.
// It is immutable once built and safe for concurrent reads.
type Catalog struct {
	tracks []Track
	index  map[string]int
}

// NewCatalog checks tracks and indexes them by id. Ids must be unique and
// non-empty, titles non-empty, durations positive.
func NewCatalog(tracks []Track) (*Catalog, error) {
	if len(tracks) == 0 {
		return nil, errors.New("catalog is empty")
	}
	c := &Catalog{tracks: make([]Track, len(tracks)), index: make(map[string]int, len(tracks))}
	copy(c.tracks, tracks)
	for i, t := range c.tracks {
		switch {
		case t.TrackID == "":
			return nil, fmt.Errorf("catalog entry %d: empty track_id", i+1)
		case t.Title == "":
			return nil, fmt.Errorf("catalog entry %d (%q): empty title", i+1, clip(t.TrackID))
		case t.DurationMs <= 0:
			return nil, fmt.Errorf("catalog entry %d (%q): duration_ms must be positive, got %d", i+1, clip(t.TrackID), t.DurationMs)
		case t.Weight < 0:
			return nil, fmt.Errorf("catalog entry %d (%q): negative weight", i+1, clip(t.TrackID))
		}
		if j, dup := c.index[t.TrackID]; dup {
			return nil, fmt.Errorf("catalog entries %d and %d: duplicate track_id %q", j+1, i+1, clip(t.TrackID))
		}
		c.index[t.TrackID] = i
	}
	return c, nil
}

// DefaultCatalog returns the built-in ten-track Julia Wolf catalog. Titles
// and albums are Julia Wolf's; durations are approximate and the weights
// are the generator's popularity model ("In My Room" and "Kill You Off"
// lead).
func DefaultCatalog() *Catalog {
	c, err := NewCatalog([]Track{
		{TrackID: "jw-01", Title: "In My Room", Album: "Pressure", DurationMs: 183000, Weight: 24},
		{TrackID: "jw-02", Title: "Kill You Off", Album: "Pressure", DurationMs: 196000, Weight: 12.5},
		{TrackID: "jw-03", Title: "Loser", Album: "Pressure", DurationMs: 174000, Weight: 9.5},
		{TrackID: "jw-04", Title: "Pearl", Album: "Pressure", DurationMs: 162000, Weight: 8.5},
		{TrackID: "jw-05", Title: "FYP", Album: "Pressure", DurationMs: 158000, Weight: 8},
		{TrackID: "jw-06", Title: "Fingernails", Album: "Pressure", DurationMs: 189000, Weight: 7.5},
		{TrackID: "jw-07", Title: "Dracula", Album: "Good Thing We Stayed", DurationMs: 167000, Weight: 8},
		{TrackID: "jw-08", Title: "Hinge Boy", Album: "Good Thing We Stayed", DurationMs: 152000, Weight: 7},
		{TrackID: "jw-09", Title: "Rookie of the Year", Album: "Good Thing We Stayed", DurationMs: 178000, Weight: 8},
		{TrackID: "jw-10", Title: "Hot Killer", Album: "Good Thing We Stayed", DurationMs: 161000, Weight: 7},
	})
	if err != nil {
		panic(err) // the built-in catalog is valid; a failure is a programming error
	}
	return c
}

// LoadCatalog reads a catalog file: a JSON array of
// {"track_id","title","album","duration_ms"} objects. Unknown fields are
// ignored. The generator weights tracks loaded from a file by position
// (the first is the most popular), so a custom catalog still has leaders.
func LoadCatalog(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	return ReadCatalog(f)
}

// ReadCatalog is LoadCatalog on an open reader.
func ReadCatalog(r io.Reader) (*Catalog, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("catalog: not a JSON array")
	}
	var raw []struct {
		TrackID    *string `json:"track_id"`
		Title      *string `json:"title"`
		Album      *string `json:"album"`
		DurationMs *int64  `json:"duration_ms"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	tracks := make([]Track, len(raw))
	for i, r := range raw {
		if r.TrackID == nil || r.Title == nil || r.DurationMs == nil {
			return nil, fmt.Errorf("catalog entry %d: track_id, title and duration_ms are required", i+1)
		}
		tracks[i] = Track{TrackID: *r.TrackID, Title: *r.Title, DurationMs: *r.DurationMs, Weight: 1 / float64(i+1)}
		if r.Album != nil {
			tracks[i].Album = *r.Album
		}
	}
	c, err := NewCatalog(tracks)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

// Len returns the number of tracks.
func (c *Catalog) Len() int { return len(c.tracks) }

// Track returns the i-th track in catalog order.
func (c *Catalog) Track(i int) Track { return c.tracks[i] }

// Index returns the position of the track with the given id, or -1 and
// false when the catalog lacks it.
func (c *Catalog) Index(trackID string) (int, bool) {
	i, ok := c.index[trackID]
	if !ok {
		return -1, false
	}
	return i, true
}

// Lookup returns the track with the given id.
func (c *Catalog) Lookup(trackID string) (Track, bool) {
	i, ok := c.index[trackID]
	if !ok {
		return Track{}, false
	}
	return c.tracks[i], true
}

// All yields the tracks with their positions, in catalog order.
func (c *Catalog) All() iter.Seq2[int, Track] { return slices.All(c.tracks) }
