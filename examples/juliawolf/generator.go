package main

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
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
	// countWidth is the width of the largest wave's count with separators,
	// so the report's wave lines align.
	countWidth int
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

// platforms are the streaming services plays come from, with their overall
// shares. Each track also has a home platform that gets homeBoost more
// weight (an exclusive, a playlist placement), so the top platform varies
// by track.
var platforms = []struct {
	name   string
	weight float64
}{
	{"Spotify", 46}, {"Apple Music", 19}, {"YouTube Music", 14}, {"Amazon Music", 8},
	{"Tidal", 5}, {"SoundCloud", 4}, {"Deezer", 4},
}

// homeBoost is the weight a track's home platform (the catalog index mod
// the number of platforms) gets on top of its share.
const homeBoost = 50

// completionOdds is the chance a play of the i-th catalog track (mod 10)
// runs to the end.
var completionOdds = []float64{0.59, 0.52, 0.48, 0.55, 0.61, 0.44, 0.50, 0.57, 0.46, 0.53}

// Generator produces plays in three waves — a new-release spike, a weekend
// surge and a steady-state baseline — deterministically from a seed. Plays
// come in arrival order; their event times are jittered up to 4 s before
// arrival, and about 1% are offline plays that sync 2 to 20 minutes after
// they happened (late at the default -max-delay 5s). Tracks are sampled by
// catalog weight, users from a Zipf-skewed pool, platforms by market share
// with a per-track home platform boosted, and ms_played against the track's
// duration: a share of plays complete (ms_played exactly the duration), the
// rest skip early or stop part-way, never past the end.
type Generator struct {
	cat     *Catalog
	seed    uint64
	waves   []Wave
	users   int
	trackCW []float64   // cumulative track weights
	platCW  [][]float64 // cumulative platform weights, per track

	// users' tables, built once (pool) and shared by every cursor: the
	// Zipf ranks' alias table and their user ids.
	pool      sync.Once
	userRanks zipfTable
	userIDs   string

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
	width := 0
	for _, w := range g.waves {
		width = max(width, len(commas(w.Events)))
	}
	for i := range g.waves {
		g.waves[i].countWidth = width
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
	for ti := range cat.Len() {
		var cw []float64
		sum = 0
		for pi, p := range platforms {
			sum += p.weight
			if pi == ti%len(platforms) {
				sum += homeBoost
			}
			cw = append(cw, sum)
		}
		g.platCW = append(g.platCW, cw)
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
		c := g.cursor()
		var p Play
		for c.next(&p) && yield(p) {
		}
	}
}

// genCursor is a position in a generator's plays: the random state and how
// far into the waves it is. Everything else it uses (the listeners'
// tables, the current event-id block) follows from the generator and the
// counters, so a cursor is checkpointed as its PCG state and three
// counters.
type genCursor struct {
	g    *Generator
	pcg  *rand.PCG
	r    *rand.Rand
	wave int   // index of the current wave
	i    int64 // plays of the current wave generated
	seq  int64 // plays generated in all
	ids  eventIDs
}

// eventIDs formats event ids ("e-0000001") idBlock at a time into one
// string, which each play's EventID is a slice of: one allocation per
// block instead of one per play.
type eventIDs struct {
	first int64  // the seq of the block's first id
	text  string // the block's ids, back to back
	ends  [idBlock]int32
}

const idBlock = 1024

// id returns the event id of play seq (1-based).
func (e *eventIDs) id(seq int64) string {
	i := seq - e.first
	if e.text == "" || i < 0 || i >= idBlock {
		e.fill(seq)
		i = 0
	}
	start := int32(0)
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.text[start:e.ends[i]]
}

func (e *eventIDs) fill(first int64) {
	buf := make([]byte, 0, idBlock*10)
	last := -1
	for i := range int64(idBlock) {
		next := len(buf)
		buf = appendNextID(buf, last, "e-", first+i, 7)
		e.ends[i], last = int32(len(buf)), next
	}
	e.first, e.text = first, string(buf)
}

// userIDLen is the length of a user id: "u-" and six digits (there are at
// most 250,000 users).
const userIDLen = 8

// byRank returns the user ids of the Zipf ranks 0 to n-1 of a pool of n
// users, back to back, userIDLen bytes each: rank k's is
// ids[k*userIDLen:][:userIDLen]. The ranks are scattered over the ids
// (userOfRank), so the busiest listeners are not u-000000, u-000001, ...;
// the table is in rank order, so theirs share a few cache lines where a
// table in id order would spread them over all of its 2 MB.
func byRank(n int) string {
	buf := make([]byte, 0, n*userIDLen)
	for k := range uint64(n) {
		buf = appendID(buf, "u-", int64(userOfRank(k, n)), userIDLen-2)
	}
	return string(buf)
}

// userOfRank is the user (the number in its id) of Zipf rank k in a pool
// of n users.
func userOfRank(k uint64, n int) uint64 { return (k*2654435761 + 12345) % uint64(n) }

// appendNextID appends the id of n to b, where b[last:] is the id of n-1
// (last < 0: there is none): it copies that id and adds one to its digits,
// the common case, instead of formatting n afresh.
func appendNextID(b []byte, last int, prefix string, n int64, width int) []byte {
	if last < 0 {
		return appendID(b, prefix, n, width)
	}
	start := len(b)
	b = append(b, b[last:]...)
	for i := len(b) - 1; i >= start+len(prefix); i-- {
		if b[i] != '9' {
			b[i]++
			return b
		}
		b[i] = '0'
	}
	// Every digit was a 9: n needs another digit.
	return appendID(b[:start], prefix, n, width)
}

// pcgStream is the second word of the generator's PCG seed ("juliawol").
const pcgStream = 0x6a756c6961776f6c

// Listeners are drawn by Zipf rank k in [0, users) with P(k) ∝
// (zipfV+k)^-zipfS: a few heavy listeners and a long tail.
const zipfS, zipfV = 1.07, 8

func (g *Generator) cursor() *genCursor {
	g.pool.Do(func() {
		g.userRanks = newZipfTable(g.users, zipfS, zipfV)
		g.userIDs = byRank(g.users)
	})
	pcg := rand.NewPCG(g.seed, pcgStream)
	return &genCursor{g: g, pcg: pcg, r: rand.New(pcg)}
}

// zipfTable draws Zipf ranks by Walker's alias method (Vose's
// construction): a random word and a table entry per draw. The
// distribution is rand.Zipf's, whose rejection-inversion costs a math.Exp
// and a math.Log a draw (a third of the generator's time). The first
// zipfHot ranks, most of the draws, have a table of their own (64 KiB, which
// stays in a core's cache) whose last bucket stands for all the others.
// Those are drawn from a second table while it has at most zipfTailTable
// ranks; a larger one misses the caches on most reads (at 250,000
// listeners its 1.9 MB took 69 % of the draw's time), and one math.Pow
// costs less, so the tail is then drawn by inversion (powerTail).
type zipfTable struct {
	hot, tail aliasTable
	inv       *powerTail // the tail when it has more than zipfTailTable ranks
}

// zipfHot is the number of ranks in the hot table: about 75% of the draws
// of a pool of 250,000 listeners. zipfTailTable is the most ranks the
// tail's table has (512 KiB, half a core's L2 cache here).
const zipfHot, zipfTailTable = 8192, 65536

// newZipfTable returns the table of ranks [0, n) with weights (v+k)^-s.
func newZipfTable(n int, s, v float64) zipfTable {
	w := make([]float64, n)
	for k := range w {
		w[k] = math.Pow(v+float64(k), -s)
	}
	if n <= zipfHot {
		return zipfTable{hot: newAliasTable(w)}
	}
	var rest float64
	for _, x := range w[zipfHot:] {
		rest += x
	}
	t := zipfTable{hot: newAliasTable(append(slices.Clone(w[:zipfHot]), rest))}
	if n-zipfHot <= zipfTailTable || s == 1 {
		t.tail = newAliasTable(w[zipfHot:])
	} else {
		t.inv = newPowerTail(zipfHot, n, s, v)
	}
	return t
}

// draw returns a rank, from one random word of r, or two for the tail.
func (t *zipfTable) draw(r *rand.Rand) int {
	k := t.hot.draw(r.Uint64())
	switch {
	case k < zipfHot:
		return k
	case t.inv != nil:
		return t.inv.draw(r.Uint64())
	}
	return zipfHot + t.tail.draw(r.Uint64())
}

// powerTail draws ranks [lo, hi) in proportion to the integral of
// (v+x)^-s over [k-½, k+½), by inverting its distribution function: one
// math.Pow a draw. For k ≥ zipfHot that is (v+k)^-s within a relative
// s(s+1)/(24(v+k)²), about 1.4e-9 (TestZipfTable). s must not be 1.
type powerTail struct {
	lo, hi int
	v, inv float64 // inv = 1/(1-s)
	g0, g1 float64 // G(lo-½) and G(hi-½), G(x) = (v+x)^(1-s)
}

func newPowerTail(lo, hi int, s, v float64) *powerTail {
	g := func(x float64) float64 { return math.Pow(v+x, 1-s) }
	return &powerTail{lo: lo, hi: hi, v: v, inv: 1 / (1 - s), g0: g(float64(lo) - 0.5), g1: g(float64(hi) - 0.5)}
}

// draw returns the rank of the random word x: its top 53 bits are u in
// [0, 1), and the rank is the k whose [k-½, k+½) holds the x where the
// distribution function is u.
func (p *powerTail) draw(x uint64) int {
	u := float64(x>>11) / (1 << 53)
	k := int(math.Pow(p.g0-u*(p.g0-p.g1), p.inv) - p.v + 0.5)
	return min(max(k, p.lo), p.hi-1) // rounding at the ends
}

// aliasTable draws an index in proportion to its weight: bucket i keeps
// its own index when the draw's low 32 bits are below keep, else gives
// alias.
type aliasTable []aliasEntry

type aliasEntry struct{ keep, alias uint32 }

// newAliasTable returns the table of the weights w (not all zero), which it
// overwrites.
func newAliasTable(w []float64) aliasTable {
	var sum float64
	for _, x := range w {
		sum += x
	}
	// w[i] becomes index i's share of len(w) buckets; a bucket whose index
	// has less than a whole one is topped up from one with more.
	t := make(aliasTable, len(w))
	var under, over []uint32
	for i := range w {
		w[i] *= float64(len(w)) / sum
		if w[i] < 1 {
			under = append(under, uint32(i))
		} else {
			over = append(over, uint32(i))
		}
	}
	for len(under) > 0 && len(over) > 0 {
		lo, hi := under[len(under)-1], over[len(over)-1]
		under = under[:len(under)-1]
		t[lo] = aliasEntry{keep: uint32(w[lo] * (1 << 32)), alias: hi}
		if w[hi] = (w[hi] + w[lo]) - 1; w[hi] < 1 {
			over = over[:len(over)-1]
			under = append(under, hi)
		}
	}
	// What is left holds a whole bucket, up to rounding.
	for _, i := range append(under, over...) {
		t[i] = aliasEntry{keep: math.MaxUint32, alias: i}
	}
	return t
}

// draw returns the index of the random word x: its high 32 bits pick a
// bucket (each by at most len(t)/2^32 off its 1/len(t) share), its low 32
// bits the bucket's index or its alias.
func (t aliasTable) draw(x uint64) int {
	i := (x >> 32) * uint64(len(t)) >> 32
	if e := t[i]; uint32(x) >= e.keep {
		return int(e.alias)
	}
	return int(i)
}

// next sets *p to the next play, or returns false after the last. It
// calls OnWaveDone for a wave once its last play has been returned, when
// asked for the play after it.
func (c *genCursor) next(p *Play) bool {
	g, r := c.g, c.r
	for c.wave < len(g.waves) && c.i >= g.waves[c.wave].Events {
		if g.OnWaveDone != nil {
			g.OnWaveDone(g.waves[c.wave])
		}
		c.wave, c.i = c.wave+1, 0
	}
	if c.wave == len(g.waves) {
		return false
	}
	w := &g.waves[c.wave]
	i := c.i
	c.i++
	c.seq++
	u := (float64(i) + r.Float64()) / float64(w.Events)
	// Times in Unix nanoseconds: the same instants as time.Time's Add and
	// Truncate(time.Millisecond) give, for times after 1970, without them.
	arrival := w.Start.UnixNano() + int64(time.Duration(w.shape(u)*float64(w.Span)))
	var back int64
	if r.Float64() < 0.01 {
		back = int64(2*time.Minute) + r.Int64N(int64(18*time.Minute))
	} else {
		back = r.Int64N(int64(4 * time.Second))
	}
	at := arrival - back
	at -= at % int64(time.Millisecond)
	ti := pick(g.trackCW, r.Float64())
	track := &g.cat.tracks[ti]
	rank := g.userRanks.draw(r)
	*p = Play{
		EventID:   c.ids.id(c.seq),
		UserID:    g.userIDs[rank*userIDLen : (rank+1)*userIDLen],
		TrackID:   track.TrackID,
		Platform:  platforms[pick(g.platCW[ti], r.Float64())].name,
		EventTime: time.Unix(0, at).UTC(),
		MsPlayed:  listenTime(r, track.DurationMs, completionOdds[ti%len(completionOdds)]),
		Line:      c.seq,
	}
	return true
}

// listenTime draws how long a play of a track of duration d lasted: with
// odds complete it runs exactly to the end; otherwise a third of the rest
// skip in the first 30 s and the others stop somewhere before the end.
func listenTime(r *rand.Rand, d int64, complete float64) int64 {
	x := r.Float64()
	switch {
	case x < complete:
		return d
	case x < complete+(1-complete)/3:
		return min(1000+r.Int64N(min(29000, max(d-1000, 1))), max(d-1, 0))
	default:
		lo := min(int64(30000), d/2)
		return min(lo+r.Int64N(max(d-lo, 1)), max(d-1, 0))
	}
}

// pick returns the index the point x*total falls in, for cumulative weights
// cw: the first bucket whose end is past it (an exact hit on a boundary
// belongs to the next bucket), the last for x = 1. The weights are few
// (tracks, platforms), so a scan beats a binary search.
func pick(cw []float64, x float64) int {
	target := x * cw[len(cw)-1]
	i := 0
	for i < len(cw)-1 && cw[i] <= target {
		i++
	}
	return i
}

// appendID appends prefix + n zero-padded to width digits to b.
func appendID(b []byte, prefix string, n int64, width int) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], n, 10)
	b = append(b, prefix...)
	for range width - len(digits) {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// GeneratorSource is the checkpointable brook source of the built-in
// generator. Its checkpointed position is the generator's cursor (PCG state
// and counters).
type GeneratorSource struct {
	gen *Generator
	cur *genCursor
}

var (
	_ stream.Source[Play] = (*GeneratorSource)(nil)
	_ stream.Snapshotter  = (*GeneratorSource)(nil)
)

// NewGeneratorSource returns a source yielding gen's plays.
func NewGeneratorSource(gen *Generator) *GeneratorSource {
	return &GeneratorSource{gen: gen, cur: gen.cursor()}
}

// Run implements stream.Source. A restored source first reports the waves
// it had already finished (OnWaveDone), then goes on with the next play.
func (s *GeneratorSource) Run(ctx context.Context, out stream.SourceOutput[Play]) error {
	if s.gen.OnWaveDone != nil {
		for _, w := range s.gen.waves[:s.cur.wave] {
			s.gen.OnWaveDone(w)
		}
	}
	done := ctx.Done()
	var r stream.Record[Play]
	for {
		if !s.cur.next(&r.Value) { // consumed before Emit, which may checkpoint the source
			return nil
		}
		if err := out.Emit(r); err != nil {
			return err
		}
		if r.Value.Line%1024 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
	}
}

const genStateVersion = 4 // 3: listeners from an alias table, not rand.Zipf; 4: a large tail by inversion

// Snapshot implements stream.Snapshotter: the cursor.
func (s *GeneratorSource) Snapshot() ([]byte, error) {
	pcg, err := s.cur.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e := codec.NewEncoder(nil)
	e.Byte(genStateVersion)
	e.Uint(s.gen.seed)
	e.Int(s.gen.Events())
	e.Bytes(pcg)
	e.Int(int64(s.cur.wave))
	e.Int(s.cur.i)
	e.Int(s.cur.seq)
	return e.Data(), nil
}

// Restore implements stream.Snapshotter: it puts the cursor back.
func (s *GeneratorSource) Restore(state []byte) error {
	d := codec.NewDecoder(state, "generator position")
	d.Version(genStateVersion)
	seed, events := d.Uint(), nonNegative(d)
	pcgState := d.Bytes()
	wave, i, seq := nonNegative(d), nonNegative(d), nonNegative(d)
	if err := d.Finish(); err != nil {
		return err
	}
	if seed != s.gen.seed || events != s.gen.Events() {
		return fmt.Errorf("the checkpoint is of another generator run (seed %d, %d events; now seed %d, %d events)",
			seed, events, s.gen.seed, s.gen.Events())
	}
	// The counters must describe a position in these waves.
	var before int64
	for _, w := range s.gen.waves[:min(int(wave), len(s.gen.waves))] {
		before += w.Events
	}
	if wave > int64(len(s.gen.waves)) || (wave == int64(len(s.gen.waves)) && i != 0) ||
		(wave < int64(len(s.gen.waves)) && i > s.gen.waves[wave].Events) || seq != before+i {
		return fmt.Errorf("%w: generator position (wave %d, play %d, %d in all)", stream.ErrCorruptCheckpoint, wave, i, seq)
	}
	c := s.gen.cursor()
	if err := c.pcg.UnmarshalBinary(pcgState); err != nil {
		return fmt.Errorf("%w: generator random state: %v", stream.ErrCorruptCheckpoint, err)
	}
	c.wave, c.i, c.seq = int(wave), i, seq
	s.cur = c
	return nil
}
