package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeScript measures the laid-out page and puts the figures, as JSON, in
// the document's title, which --dump-dom prints.
const probeScript = `<script>
var sc = document.querySelector('.scroll');
document.title = JSON.stringify({
  inner: window.innerWidth,
  page: document.documentElement.scrollWidth,
  svgs: [].filter.call(document.querySelectorAll('svg'), function (e) { return e.getBoundingClientRect().width > 0; })
    .map(function (e) { return e.getBoundingClientRect().width; }),
  textPx: Math.min.apply(null, [].map.call(document.querySelectorAll('svg text'), function (e) { return e.getBoundingClientRect().height; })
    .filter(function (h) { return h > 0; })),
  content: document.body.clientWidth,
  scroll: sc.scrollWidth, scrollClient: sc.clientWidth,
  chartFont: getComputedStyle(document.querySelector('svg text')).fontFamily,
  bg: getComputedStyle(document.body).backgroundColor
});
</script>`

type pageLayout struct {
	Inner, Page, Content, Scroll, ScrollClient float64
	Svgs                                       []float64
	TextPx                                     float64 // the smallest chart text shown, px
	ChartFont                                  string
	Bg                                         string
}

// TestHTMLReportInChromium lays the report page out in headless Chromium at
// 1280 and 390 px (light and dark): the charts fill the content width, the
// page never scrolls sideways, the table does on a phone, the chart text is
// sans-serif and readable on a phone (narrow charts below 600 px) and the dark theme applies. It also takes the screenshots. It
// is skipped when chromium is not on PATH.
func TestHTMLReportInChromium(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	res := runMain(t, "", "-quiet", "-json", "", "-report", page)
	require.Equal(t, exitOK, res.code, res.stderr)
	data, err := os.ReadFile(page)
	require.NoError(t, err)
	probe := filepath.Join(dir, "probe.html")
	require.NoError(t, os.WriteFile(probe, bytes.Replace(data, []byte("</body>"), []byte(probeScript+"</body>"), 1), 0o644))

	chromium := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir=" + filepath.Join(dir, "profile")}, args...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		require.NoError(t, err, "chromium %v", args)
		return out
	}
	titleJSON := regexp.MustCompile(`<title>(\{.*?\})</title>`)
	layout := func(width string, dark bool) pageLayout {
		args := []string{"--window-size=" + width + ",900", "--dump-dom"}
		if dark {
			args = append(args, "--blink-settings=preferredColorScheme=0")
		}
		m := titleJSON.FindSubmatch(chromium(append(args, "file://"+probe)...))
		require.NotNil(t, m, "the probe ran")
		var l pageLayout
		require.NoError(t, json.Unmarshal(m[1], &l))
		return l
	}

	for _, tc := range []struct {
		width string
		dark  bool
	}{{"1280", false}, {"390", false}, {"390", true}} {
		// With --dump-dom, headless Chromium lays out no narrower than
		// 500 px (a 390 px window measures 500); the checks are against
		// its own innerWidth, and the screenshots below are 390 px.
		l := layout(tc.width, tc.dark)
		t.Logf("%s px (dark %v): %+v", tc.width, tc.dark, l)
		assert.LessOrEqual(t, l.Page, l.Inner, "the page does not scroll sideways")
		require.Len(t, l.Svgs, 2)
		for _, w := range l.Svgs {
			assert.InDelta(t, l.Content, w, 0.1*l.Content+40, "a chart fills the content width")
		}
		assert.Contains(t, l.ChartFont, "sans-serif")
		if tc.width == "1280" {
			assert.Greater(t, l.Svgs[0], 800.0, "charts grow with a wide page (were 672 px)")
		} else {
			assert.Greater(t, l.Scroll, l.ScrollClient, "the table scrolls sideways on a phone")
			// The narrow charts show: scaled to a 390 px phone's 358 px of
			// content, their smallest text measures at least 10 px (the
			// wide charts' would be about 8).
			assert.GreaterOrEqual(t, l.TextPx*358/l.Svgs[0], 10.0, "chart text readable at 390 px")
		}
		if tc.dark {
			assert.Equal(t, "rgb(23, 19, 26)", l.Bg, "prefers-color-scheme: dark")
		} else {
			assert.Equal(t, "rgb(255, 255, 255)", l.Bg)
		}
	}

	// Screenshots at both widths, checked to be images of that width;
	// JULIAWOLF_SCREENSHOTS=DIR keeps them there to look at.
	for _, width := range []string{"1280", "390"} {
		shot := filepath.Join(dir, "report-"+width+".png")
		chromium("--window-size="+width+",2200", "--screenshot="+shot, "file://"+page)
		f, err := os.Open(shot)
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err)
		assert.Equal(t, width, strconv.Itoa(img.Bounds().Dx()))
		if keep := os.Getenv("JULIAWOLF_SCREENSHOTS"); keep != "" {
			b, err := os.ReadFile(shot)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(keep, filepath.Base(shot)), b, 0o644))
		}
	}
}
