package main

import (
	"bufio"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultEvents is the generator's default total: the three waves of the
// original design, 1,200 + 2,500 + 800.
const DefaultEvents = 4500

// DefaultSeed makes the default run reproducible.
const DefaultSeed = 1127

// GeneratorBase is the event time the first wave starts at.
var GeneratorBase = time.Date(2026, time.November, 27, 18, 0, 0, 0, time.UTC)

// Wave is one stretch of the generator's traffic.
type Wave struct {
	Number int    // 1-based
	Name   string // e.g. "New Release Spike"
	Events int64  // plays in this wave
	// Start and Span are the stretch of arrival time the wave covers; event
	// times are jittered a few seconds before arrival, and offline plays
	// minutes before.
	Start time.Time
	Span  time.Duration
	// shape maps u in [0,1) (the play's rank within the wave) to its
	// arrival offset as a fraction of Span: a density.
	shape func(u float64) float64
}

// waveTemplates are the three waves at the default size, in order.
var waveTemplates = []struct {
	name  string
	share int64 // events at DefaultEvents
	span  time.Duration
	shape func(u float64) float64
}{
	// A spike: most plays right after the release, tailing off (density
	// falling linearly to zero).
	{"New Release Spike", 1200, 12 * time.Minute, func(u float64) float64 { return 1 - math.Sqrt(1-u) }},
	// A surge: rising to a peak mid-way and falling (triangular density).
	{"Weekend Surge", 2500, 20 * time.Minute, func(u float64) float64 {
		if u < 0.5 {
			return math.Sqrt(u / 2)
		}
		return 1 - math.Sqrt((1-u)/2)
	}},
	// A baseline: a steady rate.
	{"Steady State Baseline", 800, 15 * time.Minute, func(u float64) float64 { return u }},
}

// platforms are the streaming services plays come from, with their shares.
var platforms = []struct {
	name   string
	weight float64
}{
	{"Spotify", 46}, {"Apple Music", 19}, {"YouTube Music", 14}, {"Amazon Music", 8},
	{"Tidal", 5}, {"SoundCloud", 4}, {"Deezer", 4},
}

// completionOdds is the chance a play of the i-th catalog track (mod 10)
// runs to the end.
var completionOdds = []float64{0.59, 0.52, 0.48, 0.55, 0.61, 0.44, 0.50, 0.57, 0.46, 0.53}

// Generator produces plays in three waves — a new-release spike, a weekend
// surge and a steady-state baseline — deterministically from a seed. Plays
// come in arrival order; their event times are jittered up to 4 s before
// arrival, and about 1% are offline plays that sync 2 to 20 minutes after
// they happened (late at the default -max-delay 5s). Tracks are sampled by
// catalog weight, users from a Zipf-skewed pool, platforms by market share,
// and ms_played against the track's duration (a share complete, many early
// skips).
type Generator struct {
	cat     *Catalog
	seed    uint64
	waves   []Wave
	users   int
	trackCW []float64 // cumulative track weights
	platCW  []float64 // cumulative platform weights

	// OnWaveDone, when set, is called after the last play of each wave has
	// been yielded (from the goroutine iterating All).
	OnWaveDone func(Wave)
}

// NewGenerator returns a generator of events plays over cat's tracks. The
// waves keep their 1,200 : 2,500 : 800 proportions and their spans of event
// time; the total is exactly events.
func NewGenerator(cat *Catalog, events int64, seed uint64) *Generator {
	g := &Generator{cat: cat, seed: seed}
	start := GeneratorBase
	var assigned int64
	for i, w := range waveTemplates {
		n := events * w.share / DefaultEvents
		if i == len(waveTemplates)-1 {
			n = events - assigned
		}
		assigned += n
		g.waves = append(g.waves, Wave{Number: i + 1, Name: w.name, Events: n, Start: start, Span: w.span, shape: w.shape})
		start = start.Add(w.span)
	}
	// A listener pool of about two users per three plays, at least 1,000 and
	// at most 250,000, so unique listeners stay well below plays.
	g.users = int(min(max(events*2/3, 1000), 250000))
	var sum float64
	for _, t := range cat.All() {
		sum += max(t.Weight, 0)
		g.trackCW = append(g.trackCW, sum)
	}
	if sum == 0 { // all weights zero: sample uniformly
		for i := range g.trackCW {
			g.trackCW[i] = float64(i + 1)
		}
	}
	sum = 0
	for _, p := range platforms {
		sum += p.weight
		g.platCW = append(g.platCW, sum)
	}
	return g
}

// Waves returns the waves with their sizes.
func (g *Generator) Waves() []Wave { return slices.Clone(g.waves) }

// Events returns the total number of plays.
func (g *Generator) Events() int64 {
	var n int64
	for _, w := range g.waves {
		n += w.Events
	}
	return n
}

// All yields the plays in arrival order. Every call starts over from the
// seed and yields the same plays; nothing is kept between plays, so memory
// stays flat however many are generated. Play.Line is the play's 1-based
// position (its line in a -dump file).
func (g *Generator) All() iter.Seq[Play] {
	return func(yield func(Play) bool) {
		r := rand.New(rand.NewPCG(g.seed, 0x6a756c6961776f6c)) // "juliawol"
		zipf := rand.NewZipf(r, 1.07, 8, uint64(g.users-1))
		userIDs := make([]string, g.users) // formatted on first use
		var seq int64
		for _, w := range g.waves {
			for i := range w.Events {
				seq++
				u := (float64(i) + r.Float64()) / float64(w.Events)
				arrival := w.Start.Add(time.Duration(w.shape(u) * float64(w.Span)))
				var back time.Duration
				if r.Float64() < 0.01 {
					back = 2*time.Minute + time.Duration(r.Int64N(int64(18*time.Minute)))
				} else {
					back = time.Duration(r.Int64N(int64(4 * time.Second)))
				}
				ti := pick(g.trackCW, r.Float64())
				track := g.cat.Track(ti)
				// Scatter the Zipf ranks over the ids, so the busiest
				// listeners are not u-000000, u-000001, ...
				uid := int((zipf.Uint64()*2654435761 + 12345) % uint64(g.users))
				if userIDs[uid] == "" {
					userIDs[uid] = formatID("u-", int64(uid), 6)
				}
				p := Play{
					EventID:   formatID("e-", seq, 7),
					UserID:    userIDs[uid],
					TrackID:   track.TrackID,
					Platform:  platforms[pick(g.platCW, r.Float64())].name,
					EventTime: arrival.Add(-back).Truncate(time.Millisecond),
					MsPlayed:  listenTime(r, track.DurationMs, completionOdds[ti%len(completionOdds)]),
					Line:      seq,
				}
				if !yield(p) {
					return
				}
			}
			if g.OnWaveDone != nil {
				g.OnWaveDone(w)
			}
		}
	}
}

// listenTime draws how long a play of a track of duration d lasted: with
// odds complete it runs to the end (reported up to a second over, as
// players do); otherwise a third of the rest skip in the first 30 s and the
// others stop somewhere in the track.
func listenTime(r *rand.Rand, d int64, complete float64) int64 {
	x := r.Float64()
	switch {
	case x < complete:
		return d + r.Int64N(1000)
	case x < complete+(1-complete)/3:
		return 1000 + r.Int64N(min(29000, max(d-1000, 1)))
	default:
		lo := min(int64(30000), d/2)
		return lo + r.Int64N(max(d-lo, 1))
	}
}

// pick returns the index the point x*total falls in, for cumulative weights cw.
func pick(cw []float64, x float64) int {
	i, _ := slices.BinarySearch(cw, x*cw[len(cw)-1])
	// BinarySearch finds the first cw[i] >= target; an exact hit on a
	// boundary belongs to the next bucket.
	for i < len(cw)-1 && cw[i] <= x*cw[len(cw)-1] {
		i++
	}
	return i
}

// formatID formats prefix + n zero-padded to width digits.
func formatID(prefix string, n int64, width int) string {
	var b [32]byte
	d := strconv.AppendInt(b[:0], n, 10)
	out := make([]byte, 0, len(prefix)+max(width, len(d)))
	out = append(out, prefix...)
	for range width - len(d) {
		out = append(out, '0')
	}
	return string(append(out, d...))
}

// GeneratorSource is the PlaySource of the built-in generator. It can copy
// every play to a JSON Lines dump as it goes (-dump) and count plays for a
// progress bar.
type GeneratorSource struct {
	gen   *Generator
	dump  io.Writer     // nil: no dump
	count *atomic.Int64 // nil: not counted
	err   error
}

var _ PlaySource = (*GeneratorSource)(nil)

// NewGeneratorSource returns a source yielding gen's plays; if dump is not
// nil every play is also written to it as an event line.
func NewGeneratorSource(gen *Generator, dump io.Writer) *GeneratorSource {
	return &GeneratorSource{gen: gen, dump: dump}
}

// All implements PlaySource.
func (s *GeneratorSource) All() iter.Seq[Play] {
	return func(yield func(Play) bool) {
		var bw *bufio.Writer
		var line []byte
		if s.dump != nil {
			bw = bufio.NewWriterSize(s.dump, 64<<10)
		}
		for p := range s.gen.All() {
			if bw != nil {
				line = append(AppendJSON(line[:0], p), '\n')
				if _, err := bw.Write(line); err != nil {
					s.err = fmt.Errorf("writing -dump: %w", err)
					return
				}
			}
			if s.count != nil {
				s.count.Add(1)
			}
			if !yield(p) {
				break
			}
		}
		if bw != nil {
			if err := bw.Flush(); err != nil && s.err == nil {
				s.err = fmt.Errorf("writing -dump: %w", err)
			}
		}
	}
}

// Err implements PlaySource.
func (s *GeneratorSource) Err() error { return s.err }

// Rejected implements PlaySource: generated plays always decode.
func (s *GeneratorSource) Rejected() int64 { return 0 }
