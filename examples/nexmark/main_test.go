package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string][]string{
		"no query":         {},
		"unknown query":    {"-query", "q6"},
		"unknown flag":     {"-query", "q0", "-speed", "3"},
		"bad number":       {"-query", "q0", "-events", "many"},
		"negative events":  {"-query", "q0", "-events", "-1"},
		"zero parallel":    {"-query", "q0", "-parallel", "0"},
		"zero rate":        {"-query", "q0", "-rate", "0"},
		"bad out of order": {"-query", "q0", "-out-of-order", "0"},
		"extra argument":   {"-query", "q0", "now"},
		"dump and input":   {"-query", "q0", "-dump", filepath.Join(dir, "d"), "-input", filepath.Join(dir, "i")},
		"missing input":    {"-query", "q0", "-input", filepath.Join(dir, "absent.jsonl")},
		"input directory":  {"-query", "q0", "-input", dir},
		"unwritable out":   {"-query", "q0", "-out", filepath.Join(dir, "no", "such", "dir")},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.True(t, strings.HasPrefix(stderr, "nexmark: "), stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runCLI(t, "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "-query")
}

func TestRunReportsThroughput(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, "-query", "q2", "-events", "20000", "-parallel", "2")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `^q2 \(selection\): 20000 events in \S+: [0-9.]+ [KM]? ?events/s \(parallel 2, GOMAXPROCS \d+\); \d+ rows(; CPU \S+: [0-9.]+ [KM]? ?events per core-second)?\n$`, stdout)
}

func TestRunBadInputLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	g, err := NewGenerator(DefaultGeneratorConfig())
	require.NoError(t, err)
	e0, e1 := g.Event(0), g.Event(1)
	data := string(e0.AppendJSON(nil)) + "\n\n" + string(e1.AppendJSON(nil)) + "\n{\"event_type\":9}\n"
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	code, _, stderr := runCLI(t, "-query", "q0", "-input", path, "-parallel", "1")
	assert.Equal(t, exitRun, code)
	assert.Contains(t, stderr, "line 4")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}

func jsonLines[T Row](rows []T) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(r.AppendJSON(nil))
	}
	slices.Sort(out)
	return out
}

// TestRunDumpAndInput is the acceptance check in small: dump the
// generated events, run every query over the dump with -out, and compare
// the lines with the batch computation over the dumped events (decoded
// from the file), row by row; the generator run gives the same lines.
func TestRunDumpAndInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dump := filepath.Join(dir, "events.jsonl")
	gen := []string{"-events", "4000", "-rate", "250", "-seed", "9"}
	code, stdout, stderr := runCLI(t, append([]string{"-dump", dump}, gen...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "wrote 4000 events")

	var events []Event
	for _, l := range readLines(t, dump) {
		e, err := DecodeEvent([]byte(l))
		require.NoError(t, err)
		events = append(events, e)
	}
	require.Len(t, events, 4000)

	want := map[string][]string{
		"q0": jsonLines(batchQ0(events)), "q1": jsonLines(batchQ1(events)), "q2": jsonLines(batchQ2(events)),
		"q3": jsonLines(batchQ3(events)), "q4": jsonLines(batchQ4(events)), "q5": jsonLines(batchQ5(events)),
		"q7": jsonLines(batchQ7(events)), "q8": jsonLines(batchQ8(events)), "q11": jsonLines(batchQ11(events)),
		"q13": jsonLines(batchQ13(events)),
	}
	require.Len(t, want, len(Queries))
	for _, q := range Queries {
		t.Run(q.Name, func(t *testing.T) {
			fromFile := filepath.Join(dir, q.Name+"-input.jsonl")
			code, stdout, stderr := runCLI(t, "-query", q.Name, "-input", dump, "-out", fromFile, "-parallel", "3")
			require.Equal(t, exitOK, code, stderr)
			assert.Contains(t, stdout, "4000 events")
			got := readLines(t, fromFile)
			slices.Sort(got)
			assert.Equal(t, want[q.Name], got)

			fromGen := filepath.Join(dir, q.Name+"-gen.jsonl")
			code, _, stderr = runCLI(t, append([]string{"-query", q.Name, "-out", fromGen, "-parallel", "1"}, gen...)...)
			require.Equal(t, exitOK, code, stderr)
			again := readLines(t, fromGen)
			slices.Sort(again)
			assert.Equal(t, got, again)
		})
	}
}

func TestRunOutToStdout(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, "-query", "q4", "-events", "3000", "-rate", "100", "-out", "-")
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	assert.NotEmpty(t, lines)
	for _, l := range lines {
		assert.Regexp(t, `^\{"id":1[0-4],"final":\d+\}$`, l)
	}
	assert.Contains(t, stderr, "events/s", "the report goes to stderr when rows go to stdout")
}
