package main

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/brook-streams/brook/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

var (
	accent = color.RGBA{R: 0x8e, G: 0x24, B: 0xaa, A: 0xff}
	muted  = color.RGBA{R: 0xc9, G: 0xa7, B: 0xd8, A: 0xff}
)

// writeHTMLReport writes a self-contained report page: the run's figures,
// the leaderboard and the events-per-window series as inline SVG charts
// drawn with gonum.org/v1/plot. It loads nothing from the network.
func writeHTMLReport(path string, s *Snapshot) error {
	page, err := renderHTMLReport(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, page, 0o644) // a failed write keeps the previous page
}

func renderHTMLReport(s *Snapshot) ([]byte, error) {
	// Each chart is drawn twice: wide, and narrow for phones (shown below
	// 600 px), whose text then still renders at about 12 px.
	var board, series [2]template.HTML
	for i, width := range []vg.Length{wideChart, narrowChart} {
		var err error
		if board[i], err = leaderboardChart(s.Leaderboard, width); err != nil {
			return nil, fmt.Errorf("leaderboard chart: %w", err)
		}
		if series[i], err = windowsChart(s.Windows, s.Window, width); err != nil {
			return nil, fmt.Errorf("windows chart: %w", err)
		}
	}
	var buf bytes.Buffer
	var avg, last string // the event-time rates, as in the terminal report
	if n := len(s.Windows); n > 0 {
		var onTime int64
		for _, w := range s.Windows {
			onTime += w.Events
		}
		avg = rate(float64(onTime) / s.Windows[n-1].End.Sub(s.Windows[0].Start).Seconds())
		if n > 1 && s.Window > 0 {
			last = rate(float64(s.Windows[n-2].Events) / s.Window.Seconds())
		}
	}
	err := reportPage.Execute(&buf, struct {
		S                  *Snapshot
		Board, Series      [2]template.HTML
		Window, B, L       string
		Rate, LastComplete string
	}{s, board, series, shortDuration(s.Window), shortDuration(s.MaxDelay), shortDuration(s.AllowedLateness), avg, last})
	return buf.Bytes(), err
}

// The widths charts are drawn at, wide and for phones.
const (
	wideChart   = 7 * vg.Inch
	narrowChart = 4 * vg.Inch
)

// leaderboardChart draws streams per track as horizontal bars, the leader
// on top.
func leaderboardChart(rows []LeaderRow, width vg.Length) (template.HTML, error) {
	if len(rows) == 0 {
		return "", nil
	}
	p, err := leaderboardPlot(rows, width)
	if err != nil {
		return "", err
	}
	desc := fmt.Sprintf("Horizontal bars of all-time streams for %d tracks; %s leads with %s streams.",
		len(rows), rows[0].Title, commas(rows[0].Streams))
	return svgOf(p, width, leaderboardHeight(len(rows)), p.Title.Text, desc)
}

// sansSerif sets every text of p in Liberation Sans, which has the metrics
// of Arial and Helvetica, so the labels gonum places (right-aligned ones
// included) line up in the page's sans-serif font.
func sansSerif(p *plot.Plot) {
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		st.Font.Variant = "Sans"
	}
	p.BackgroundColor = nil // no fill: the page's background, light or dark
}

func leaderboardHeight(rows int) vg.Length { return vg.Length(1.2+0.28*float64(rows)) * vg.Inch }

func leaderboardPlot(rows []LeaderRow, width vg.Length) (*plot.Plot, error) {
	p := plot.New()
	sansSerif(p)
	p.Title.Text = "Streams per track (all time)"
	p.X.Label.Text = "streams"
	p.X.Min = 0
	p.X.Tick.Marker = wholeTicks{}
	values := make(plotter.Values, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows { // bottom to top: the leader goes last
		values[len(rows)-1-i] = float64(r.Streams)
		names[len(rows)-1-i] = cutRunes(r.Title, max(18, int(24*width/wideChart))) // no padding: right-aligned to the bars
	}
	bars, err := plotter.NewBarChart(values, vg.Points(14))
	if err != nil {
		return nil, err
	}
	bars.Horizontal = true
	bars.Color = accent
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalY(names...)
	p.X.Max = 1.05 * float64(rows[0].Streams)
	return p, nil
}

// windowsChart draws on-time events per window over event time.
func windowsChart(windows []WindowRow, size time.Duration, width vg.Length) (template.HTML, error) {
	if len(windows) == 0 {
		return "", nil
	}
	p, err := windowsPlot(windows, size, width)
	if err != nil {
		return "", err
	}
	var peak WindowRow
	for _, w := range windows {
		if w.Events > peak.Events {
			peak = w
		}
	}
	desc := fmt.Sprintf("Line chart of on-time events in each of %d windows of %s; the busiest starts at %s UTC with %s events.",
		len(windows), shortDuration(size), peak.Start.UTC().Format("2006-01-02 15:04:05"), commas(peak.Events))
	return svgOf(p, width, 3*vg.Inch, p.Title.Text, desc)
}

func windowsPlot(windows []WindowRow, size time.Duration, width vg.Length) (*plot.Plot, error) {
	p := plot.New()
	sansSerif(p)
	p.Title.Text = fmt.Sprintf("On-time events per %s window (event time, UTC)", shortDuration(size))
	if width < wideChart {
		p.Title.Text = fmt.Sprintf("On-time events per %s window (UTC)", shortDuration(size))
	}
	p.Y.Label.Text = "events"
	p.Y.Min = 0
	format := "15:04"
	if span := windows[len(windows)-1].End.Sub(windows[0].Start); span > 24*time.Hour {
		format = "01-02 15:04"
	} else if size < time.Minute {
		format = "15:04:05"
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: format, Ticker: timeTicker{max: int(8 * width / wideChart)}}
	pts := make(plotter.XYs, len(windows))
	for i, w := range windows {
		pts[i].X = float64(w.Start.UnixNano()) / 1e9
		pts[i].Y = float64(w.Events)
	}
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, err
	}
	line.Color = accent
	points.Color = accent
	points.Radius = vg.Points(2)
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = muted, muted
	p.Add(grid, line, points)
	return p, nil
}

// timeTicker puts ticks on round times (epoch seconds): the smallest step of
// a 1-2-5-ish clock series that gives at most max labels.
type timeTicker struct{ max int }

var tickSteps = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400, 365 * 86400}

// Ticks implements plot.Ticker.
func (tt timeTicker) Ticks(lo, hi float64) []plot.Tick {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if (hi-lo)/s <= float64(tt.max) {
			step = s
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi && len(ticks) < 100; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: "x"}) // TimeTicks formats the label
	}
	return ticks
}

// svgOf renders p as an inline <svg> element (the XML prelude dropped)
// that scales with the page: its viewBox kept, its fixed width and height
// replaced by the page's width, black drawn in currentColor (so the dark
// theme recolors it), and an accessible name and description (title, desc).
func svgOf(p *plot.Plot, w, h vg.Length, title, desc string) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	out := buf.Bytes()
	if i := bytes.Index(out, []byte("<svg")); i >= 0 {
		out = out[i:]
	}
	open := bytes.IndexByte(out, '>')
	if open < 0 {
		return "", fmt.Errorf("no <svg> element in gonum's output")
	}
	head := string(out[:open])
	head = svgSize.ReplaceAllString(head, "")
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(` width="100%" role="img">`)
	b.WriteString("<title>" + template.HTMLEscapeString(title) + "</title><desc>" + template.HTMLEscapeString(desc) + "</desc>")
	b.WriteString(strings.ReplaceAll(string(out[open+1:]), "#000000", "currentColor"))
	return template.HTML(b.String()), nil // gonum's markup, which escapes labels, and our escaped title and desc
}

// svgSize matches the fixed width and height attributes of gonum's <svg>.
var svgSize = regexp.MustCompile(` (width|height)="[^"]*"`)

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"commas":  func(n int64) string { return commas(n) },
	"ucommas": func(n uint64) string { return commas(int64(n)) },
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"clock":   clock,
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"f2":      func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"rate":    func(f float64) string { return commas(int64(math.Round(f))) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Julia Wolf -- Streaming Analytics Report</title>
<style>
:root { color-scheme: light dark; --fg: #222; --muted: #666; --bg: #fff; --card: #f6eef9; --rule: #eee; --accent: #8e24aa; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e3ea; --muted: #a99fae; --bg: #17131a; --card: #2a2030; --rule: #3a3040; --accent: #ce93d8; }
}
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 2px solid var(--accent); padding-bottom: .2rem; }
.sub { color: var(--muted); margin-top: 0; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .6rem; }
.stat { background: var(--card); border-radius: .4rem; padding: .6rem .8rem; }
.stat b { display: block; font-size: 1.3rem; }
.stat span { color: var(--muted); font-size: .85rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { padding: .3rem .5rem; text-align: right; border-bottom: 1px solid var(--rule); white-space: nowrap; }
th:nth-child(2), td:nth-child(2), th:nth-child(3), td:nth-child(3) { text-align: left; }
td:nth-child(2) { white-space: normal; min-width: 9rem; }
figure { margin: 1rem 0; }
svg { display: block; width: 100%; height: auto; color: var(--fg); }
.narrow { display: none; }
@media (max-width: 600px) { .wide { display: none; } .narrow { display: block; } }
svg text { font-family: "Liberation Sans", Arial, Helvetica, sans-serif !important; fill: currentColor; }
</style>
</head>
<body>
<h1>Julia Wolf -- Streaming Analytics Report</h1>
<p class="sub">Tumbling {{.Window}} event-time windows, max delay {{.B}}, allowed lateness {{.L}}.</p>

<h2>Pipeline stats</h2>
<div class="stats">
<div class="stat"><b>{{commas .S.EventsProcessed}}</b><span>events processed</span></div>
<div class="stat"><b>{{.S.UniqueTracks}}</b><span>unique tracks</span></div>
<div class="stat"><b>{{ucommas .S.UniqueListeners}}</b><span>unique listeners (HLL)</span></div>
<div class="stat"><b>{{commas .S.EventsLate}}</b><span>late events</span></div>
<div class="stat"><b>{{commas .S.EventsInvalid}}</b><span>invalid lines</span></div>
<div class="stat"><b>{{len .S.Windows}}</b><span>windows with on-time events</span></div>
{{with .Rate}}<div class="stat"><b>{{.}}</b><span>events/sec of event time (all-time average)</span></div>{{end}}
{{with .LastComplete}}<div class="stat"><b>{{.}}</b><span>events/sec in the last complete window</span></div>{{end}}
<div class="stat"><b>{{rate .S.Run.EventsPerSec}}</b><span>events/sec processed ({{printf "%.3f" .S.Run.WallSeconds}} s wall)</span></div>
</div>

<h2>Track leaderboard (all time)</h2>
{{with index .Board 0}}<figure><div class="wide">{{.}}</div><div class="narrow">{{index $.Board 1}}</div></figure>{{end}}
<div class="scroll">
<table>
<tr><th>#</th><th>track</th><th>top platform</th><th>streams</th><th>complete</th><th>listeners</th><th>duration</th><th>p50 listen</th><th>p95 listen</th></tr>
{{range .S.Leaderboard}}<tr><td>{{.Rank}}</td><td>{{.Title}} <small>({{.TrackID}})</small></td><td>{{.TopPlatform}}</td><td>{{commas .Streams}}</td><td>{{pct .CompletionRate}}</td><td>{{ucommas .UniqueListeners}}</td><td>{{if .DurationMs}}{{clock .DurationMs}}{{end}}</td><td>{{clock .P50MsPlayed}}</td><td>{{clock .P95MsPlayed}}</td></tr>
{{end}}</table>
</div>
<p class="sub">p50 and p95 listen times are from a quantile sketch: within 1 % of the listen time at that rank, never outside the shortest and longest play.</p>

<h2>Events per window</h2>
{{with index .Series 0}}<figure><div class="wide">{{.}}</div><div class="narrow">{{index $.Series 1}}</div></figure>{{end}}
</body>
</html>
`))

// wholeTicks labels the default ticks as whole numbers (stream counts have
// no fractions).
type wholeTicks struct{}

// Ticks implements plot.Ticker.
func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', 0, 64)
		}
	}
	return ticks
}
