package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTMLReport(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "report.html")
	res := runMain(t, "", "-quiet", "-json", "", "-report", path)
	require.Equal(t, 0, res.code, res.stderr)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	page := string(data)
	assert.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
	assert.Equal(t, 4, strings.Count(page, "<svg "), "two inline charts, each wide and narrow")
	assert.Equal(t, 4, strings.Count(page, "</svg>"))
	assert.Equal(t, 2, strings.Count(page, `<div class="narrow"><svg `), "narrow charts for phones")
	assert.NotContains(t, page, "<?xml", "the SVG prelude is dropped inside HTML")
	for _, title := range []string{"In My Room", "Kill You Off", "Hinge Boy"} {
		assert.GreaterOrEqual(t, strings.Count(page, title), 2, "%s in the chart and the table", title)
	}
	assert.Contains(t, page, "On-time events per 60s window")
	// Responsive, accessible charts and the dark theme.
	assert.Equal(t, 4, strings.Count(page, `width="100%" role="img"><title>`), "each chart scales and has a title")
	assert.Equal(t, 4, strings.Count(page, "<desc>"), "and a description")
	assert.NotRegexp(t, `<svg[^>]* (width|height)="[0-9.]+pt"`, page, "no fixed chart size")
	assert.NotContains(t, page, "Liberation Serif", "sans-serif chart text")
	assert.Contains(t, page, "@media (prefers-color-scheme: dark)")
	assert.Contains(t, page, `<div class="scroll">`, "the table scrolls on a narrow screen")
	assert.Contains(t, page, "<th>duration</th><th>p50 listen</th><th>p95 listen</th>")
	assert.Contains(t, page, "<td>3:03</td>", "In My Room's duration")
	assert.Contains(t, page, "<b>4,500</b><span>events processed</span>")
	// Self-contained: nothing to fetch.
	for _, ref := range []string{"<script", "<link", "src=", "url(", "@import", `href="http`} {
		assert.NotContains(t, page, ref)
	}
}

func TestHTMLReportEscapesTitles(t *testing.T) {
	t.Parallel()
	cat, err := NewCatalog([]Track{{TrackID: "x", Title: `<script>alert("x")</script>`, DurationMs: 1000, Weight: 1}})
	require.NoError(t, err)
	snap, err := referenceEngine(context.Background(), Config{Window: 60e9}, generated{NewGenerator(cat, 20, 1)}, cat)
	require.NoError(t, err)
	page, err := renderHTMLReport(snap)
	require.NoError(t, err)
	assert.NotContains(t, string(page), "<script>")
	assert.Contains(t, string(page), "&lt;script&gt;")
}

func TestHTMLReportEmpty(t *testing.T) {
	t.Parallel()
	snap := &Snapshot{}
	snap.Finish(60e9)
	page, err := renderHTMLReport(snap)
	require.NoError(t, err)
	assert.NotContains(t, string(page), "<svg")
}
