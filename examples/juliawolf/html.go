package main

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"strconv"
	"time"

	"github.com/brook-streams/brook/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
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
	board, err := leaderboardChart(s.Leaderboard)
	if err != nil {
		return nil, fmt.Errorf("leaderboard chart: %w", err)
	}
	series, err := windowsChart(s.Windows, s.Window)
	if err != nil {
		return nil, fmt.Errorf("windows chart: %w", err)
	}
	var buf bytes.Buffer
	err = reportPage.Execute(&buf, struct {
		S             *Snapshot
		Board, Series template.HTML
		Window, B, L  string
	}{s, board, series, shortDuration(s.Window), shortDuration(s.MaxDelay), shortDuration(s.AllowedLateness)})
	return buf.Bytes(), err
}

// leaderboardChart draws streams per track as horizontal bars, the leader
// on top.
func leaderboardChart(rows []LeaderRow) (template.HTML, error) {
	if len(rows) == 0 {
		return "", nil
	}
	p, err := leaderboardPlot(rows)
	if err != nil {
		return "", err
	}
	return svgOf(p, 7*vg.Inch, leaderboardHeight(len(rows)))
}

func leaderboardHeight(rows int) vg.Length { return vg.Length(1.2+0.28*float64(rows)) * vg.Inch }

func leaderboardPlot(rows []LeaderRow) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Streams per track (all time)"
	p.X.Label.Text = "streams"
	p.X.Min = 0
	p.X.Tick.Marker = wholeTicks{}
	values := make(plotter.Values, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows { // bottom to top: the leader goes last
		values[len(rows)-1-i] = float64(r.Streams)
		names[len(rows)-1-i] = fitRunes(r.Title, 24)
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
func windowsChart(windows []WindowRow, size time.Duration) (template.HTML, error) {
	if len(windows) == 0 {
		return "", nil
	}
	p, err := windowsPlot(windows, size)
	if err != nil {
		return "", err
	}
	return svgOf(p, 7*vg.Inch, 3*vg.Inch)
}

func windowsPlot(windows []WindowRow, size time.Duration) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("On-time events per %s window (event time, UTC)", shortDuration(size))
	p.Y.Label.Text = "events"
	p.Y.Min = 0
	format := "15:04"
	if span := windows[len(windows)-1].End.Sub(windows[0].Start); span > 24*time.Hour {
		format = "01-02 15:04"
	} else if size < time.Minute {
		format = "15:04:05"
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: format, Ticker: timeTicker{}}
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
// a 1-2-5-ish clock series that gives at most eight labels.
type timeTicker struct{}

var tickSteps = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400, 365 * 86400}

// Ticks implements plot.Ticker.
func (timeTicker) Ticks(lo, hi float64) []plot.Tick {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if (hi-lo)/s <= 8 {
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

// svgOf renders p as an inline <svg> element (the XML prelude dropped).
func svgOf(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
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
	return template.HTML(out), nil // gonum's own markup, no user text unescaped: it escapes labels
}

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
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 2px solid #8e24aa; padding-bottom: .2rem; }
.sub { color: #666; margin-top: 0; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .6rem; }
.stat { background: #f6eef9; border-radius: .4rem; padding: .6rem .8rem; }
.stat b { display: block; font-size: 1.3rem; }
.stat span { color: #555; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { padding: .3rem .5rem; text-align: right; border-bottom: 1px solid #eee; }
th:nth-child(2), td:nth-child(2), th:nth-child(3), td:nth-child(3) { text-align: left; }
svg { max-width: 100%; height: auto; }
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
{{with .S.Throughput}}<div class="stat"><b>{{f2 .EventsPerSec}}</b><span>events/sec in the last window ({{utc .WindowStart}})</span></div>{{end}}
<div class="stat"><b>{{rate .S.Run.EventsPerSec}}</b><span>events/sec processed ({{printf "%.3f" .S.Run.WallSeconds}} s wall)</span></div>
</div>

<h2>Track leaderboard (all time)</h2>
{{.Board}}
<table>
<tr><th>#</th><th>track</th><th>top platform</th><th>streams</th><th>complete</th><th>listeners</th><th>p50 listen</th><th>p95 listen</th></tr>
{{range .S.Leaderboard}}<tr><td>{{.Rank}}</td><td>{{.Title}} <small>({{.TrackID}})</small></td><td>{{.TopPlatform}}</td><td>{{commas .Streams}}</td><td>{{pct .CompletionRate}}</td><td>{{ucommas .UniqueListeners}}</td><td>{{clock .P50MsPlayed}}</td><td>{{clock .P95MsPlayed}}</td></tr>
{{end}}</table>

<h2>Events per window</h2>
{{.Series}}
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
