package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// commands are the subcommands, with the one line -h and help print for each.
var commands = []struct{ name, summary string }{
	{"produce", "publish plays (generated or -input) to Kafka, stamped with watermarks"},
	{"worker", "consume the topic in a consumer group, aggregates kept in Redis"},
	{"report", "merge the workers' state into the snapshot and report of one run"},
	{"help", "print this help, or a command's: juliawolf help [command]"},
}

// runCommand runs what args[0] names when it is not the default run: help,
// or a distributed-mode subcommand (runSubcommand). It reports false for
// anything else.
func runCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 || args[0] != "help" {
		return runSubcommand(args, stdout, stderr)
	}
	switch {
	case len(args) == 1:
		printUsage(stdout, mainFlags())
		return exitOK, true
	case len(args) > 2:
		_, _ = fmt.Fprintf(stderr, "juliawolf help: one command at most, got %q (see juliawolf -h)\n", args[1:])
		return exitUsage, true
	case args[1] == "help":
		printUsage(stdout, mainFlags())
		return exitOK, true
	}
	for _, c := range commands {
		if c.name == args[1] {
			return runSubcommand([]string{c.name, "-h"}, stdout, stderr)
		}
	}
	_, _ = fmt.Fprintf(stderr, "juliawolf help: unknown command %q (see juliawolf -h)\n", args[1])
	return exitUsage, true
}

// mainFlags is the default run's flag set, for its help.
func mainFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("juliawolf", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defineFlags(fs, new(options))
	return fs
}

// printUsage writes the top-level help: the default run's synopsis, the
// subcommands one line each, and the default run's flags.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	_, _ = fmt.Fprint(w, `Usage:
  juliawolf [flags]              run the pipeline on generated plays or -input
  juliawolf <command> [flags]    distributed mode (Kafka and Redis)

Commands:
`)
	for _, c := range commands {
		_, _ = fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	_, _ = fmt.Fprint(w, "\nRun 'juliawolf help <command>' for a command's flags.\n\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// hintHelp is the suffix of a usage error: where to look.
const hintHelp = " (see juliawolf -h)"

// version describes the binary from its build information: the module
// version (or "(devel)"), the VCS revision and time, whether the tree was
// modified, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "juliawolf (no build information)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "juliawolf %s", bi.Main.Version)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, " %s", rev[:min(len(rev), 12)])
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " (%s)", t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(" modified")
		}
	}
	fmt.Fprintf(&b, " %s", bi.GoVersion)
	return b.String()
}

// cliOptions are the flags cli.go adds to the default run: -version, the
// log flags and -windows-jsonl.
type cliOptions struct {
	version             bool
	logLevel, logFormat string
	windowsJSONL        string
}

func (c *cliOptions) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.version, "version", false, "print the version (module, VCS revision, Go) and exit")
	fs.StringVar(&c.logLevel, "log-level", "off", "log the runtime's lifecycle events (start, checkpoints, restore, stop) at this `level` and above to stderr: off, debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&c.windowsJSONL, "windows-jsonl", "", "write one JSON object per window and track to this JSON Lines `file`")
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func (c *cliOptions) check() error {
	if _, ok := logLevels[c.logLevel]; !ok && c.logLevel != "off" {
		return usagef("-log-level must be off, debug, info, warn or error, got %q"+hintHelp, c.logLevel)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return usagef("-log-format must be text or json, got %q"+hintHelp, c.logFormat)
	}
	return nil
}

// logger returns the logger of -log-level and -log-format, writing to w;
// nil (silent) for -log-level off.
func (c *cliOptions) logger(w io.Writer) *slog.Logger {
	level, ok := logLevels[c.logLevel]
	if !ok {
		return nil
	}
	ho := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// windowWarnLimit is the number of windows above which a run warns: each
// window is a row of the snapshot, the page and -windows-jsonl, so a
// -window far smaller than the input's span makes outputs of hundreds of
// megabytes.
const windowWarnLimit = 100_000

// finishOutputs completes a finished run's snapshot with the run's settings,
// warns on stderr about a run with more than windowWarnLimit windows, and
// writes -windows-jsonl.
func finishOutputs(o options, snap *Snapshot, stderr io.Writer) error {
	snap.Run.Settings = &RunSettings{
		WindowSeconds:          o.window.Seconds(),
		MaxDelaySeconds:        o.maxDelay.Seconds(),
		AllowedLatenessSeconds: o.lateness.Seconds(),
		Input:                  o.input,
		Catalog:                o.catalog,
		Parallel:               o.parallel,
	}
	if o.input == "" {
		snap.Run.Settings.Seed, snap.Run.Settings.Events = &o.seed, &o.events
	}
	if n := len(snap.Windows); n > windowWarnLimit && o.input != "" { // the generator warned before the run
		_, _ = fmt.Fprintf(stderr, "juliawolf: warning: %s windows of %s (more than %s): the snapshot, -report and -windows-jsonl grow with them; a larger -window gives fewer\n",
			commas(int64(n)), shortDuration(o.window), commas(windowWarnLimit))
	}
	if o.cli.windowsJSONL != "" {
		if err := snap.WriteWindowsJSONL(o.cli.windowsJSONL); err != nil {
			return fmt.Errorf("writing -windows-jsonl: %w", err)
		}
	}
	return nil
}

// warnWindows warns on stderr, before a generator run, when it would make
// more than windowWarnLimit windows: the generator's event time spans its
// waves plus up to 20 minutes of offline plays before them.
func warnWindows(o options, gen *Generator, stderr io.Writer) {
	if gen == nil {
		return
	}
	var span time.Duration
	for _, w := range gen.Waves() {
		span += w.Span
	}
	span += 20 * time.Minute
	if n := min(int64(span/o.window), gen.Events()); n > windowWarnLimit {
		_, _ = fmt.Fprintf(stderr, "juliawolf: warning: about %s windows of %s (more than %s): the snapshot, -report and -windows-jsonl grow with them; a larger -window gives fewer\n",
			commas(n), shortDuration(o.window), commas(windowWarnLimit))
	}
}

// registerProcessMetrics adds the Go runtime and process collectors and a
// build-info gauge (go_build_info: path, version, checksum labels) to the
// -metrics registry.
func registerProcessMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
