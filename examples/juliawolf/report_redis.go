package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/redisstore"
	"github.com/brook-streams/brook/window"
)

func runReport(ctx context.Context, _ <-chan struct{}, args []string, stdout, stderr io.Writer) error {
	var redisAddr, prefix, jsonPath, metricsAddr, catalog, brokers, topic string
	var quiet bool
	var connect time.Duration
	var sec kafkaSecurity
	fs := newFlagSet("report")
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated `host:port` list: check that the stored state covers the whole topic")
	fs.StringVar(&topic, "topic", "", "topic of the plays (with -brokers)")
	fs.DurationVar(&connect, "connect-timeout", 15*time.Second, "bound on reaching Kafka and Redis")
	fs.StringVar(&redisAddr, "redis", "", "Redis `host:port` or URL (redis://user:password@host:port/db, rediss:// for TLS) holding the workers' state")
	fs.StringVar(&prefix, "prefix", "juliawolf", "prefix of the Redis keys")
	fs.StringVar(&jsonPath, "json", "juliawolf_snapshot.json", "write the snapshot to this `file` (empty: none)")
	fs.StringVar(&catalog, "catalog", "", "track catalog JSON array `file` the workers used (default: built in)")
	fs.StringVar(&metricsAddr, "metrics", "", "serve /metrics and /healthz on this `host:port` while running")
	fs.BoolVar(&quiet, "quiet", false, "print no report (the snapshot is still written)")
	sec.register(fs)
	if err := parseSubFlags(fs, args, stdout); err != nil {
		return err
	}
	if redisAddr == "" {
		return usagef("-redis is required")
	}
	if (brokers == "") != (topic == "") {
		return usagef("-brokers and -topic go together")
	}
	if connect <= 0 {
		return usagef("-connect-timeout must be positive, got %s", connect)
	}
	kopts, err := sec.options()
	if err != nil {
		return err
	}
	ropt, err := redisOptions(redisAddr)
	if err != nil {
		return err
	}
	cat, err := (&eventSettings{catalog: catalog}).loadCatalog()
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		ms, err := startMetrics(metricsAddr)
		if err != nil {
			return err
		}
		defer func() { _ = ms.Close() }()
	}
	rdb := redis.NewClient(ropt)
	defer func() { _ = rdb.Close() }()
	pctx, cancel := context.WithTimeout(ctx, connect)
	err = rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("redis %s unreachable: %w", redisName(ropt), err)
	}
	st, err := loadState(ctx, rdb, prefix, cat)
	if err != nil {
		return err
	}
	if brokers != "" {
		if err := checkCoverage(ctx, st, splitList(brokers), topic, connect, kopts); err != nil {
			return err
		}
	} else {
		_, _ = fmt.Fprintln(stderr, "juliawolf report: not checked against the topic's partitions (give -brokers and -topic): the figures may be partial")
	}
	if left := st.unfinished(); len(left) > 0 {
		return fmt.Errorf("partial: the stored state of %s has not reached the end of the input; run workers until they are done, then report again", strings.Join(left, ", "))
	}
	snap, err := st.snapshot(cat)
	if err != nil {
		return err
	}
	parts := len(st.tasks)
	if jsonPath != "" {
		if err := snap.WriteJSON(jsonPath); err != nil {
			return fmt.Errorf("writing snapshot: %w", err)
		}
	}
	if quiet {
		return nil
	}
	_, _ = fmt.Fprintf(stdout, "Merged the state of %d partitions from Redis %s (%s:*)\n", parts, redisName(ropt), prefix)
	writeReport(stdout, snap)
	if jsonPath != "" {
		_, _ = fmt.Fprintf(stdout, "\nSnapshot written to %s\n", jsonPath)
	}
	return nil
}

// checkCoverage fails unless every partition of the topic has stored
// state that has seen the end of the input: otherwise the workers have not
// read every play yet (one died and its partitions wait for their next
// owner, or they still run) and the figures would be partial.
func checkCoverage(ctx context.Context, st *distState, brokers []string, topic string, connect time.Duration, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, connect)
	defer cancel()
	ends, err := kafka.EndOffsets(cctx, cl, topic)
	if err != nil {
		return err
	}
	parts := make([]int32, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var behind []string
	for _, p := range parts {
		id := fmt.Sprintf("%s-%d", topic, p)
		ps, ok := st.tasks[id]
		switch {
		case ends[p] == 0:
		case !ok || ps == nil:
			behind = append(behind, fmt.Sprintf("%d (no stored state)", p))
		case !ps.ended:
			behind = append(behind, fmt.Sprintf("%d (before the end of its input)", p))
		}
	}
	if len(behind) > 0 {
		return fmt.Errorf("partial: the stored state of %d of the %d partitions of %s has not reached the end of the input: %s; run workers until they are done, then report again",
			len(behind), len(parts), topic, strings.Join(behind, ", "))
	}
	return nil
}

// distState is what the workers stored under a prefix: the settings and
// each task's partials (nil for a task claimed but never checkpointed).
type distState struct {
	settings distSettings
	tasks    map[string]*partialSink
	runs     [][2]int64 // processing time spans of the workers' runs
}

// loadState reads the settings and every task's latest checkpointed
// partials, without claiming the tasks (a running worker goes on).
func loadState(ctx context.Context, rdb *redis.Client, prefix string, cat *Catalog) (*distState, error) {
	settings, err := readSettings(ctx, rdb, prefix)
	if err != nil {
		return nil, err
	}
	if want := newDistSettings(eventSettings{window: time.Duration(settings.WindowNs), maxDelay: time.Duration(settings.MaxDelayNs), lateness: time.Duration(settings.LatenessNs)}, cat); want.Catalog != settings.Catalog {
		return nil, fmt.Errorf("the state under %s was written with another catalog (give report the workers' -catalog)", prefix)
	}
	asg := window.Tumbling(time.Duration(settings.WindowNs))
	st := &distState{settings: settings, tasks: map[string]*partialSink{}}
	tasks := redisstore.NewTasks(rdb, tasksPrefix(prefix))
	names, err := tasks.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no partition state under %s: (did the workers run with -prefix %s?)", prefix, prefix)
	}
	for _, name := range names {
		cp, err := tasks.Latest(ctx, name)
		if err != nil {
			return nil, err
		}
		st.tasks[name] = nil
		if cp == nil {
			continue
		}
		b, ok, err := cp.OperatorState(partialsName, 0)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", name, err)
		}
		if !ok {
			return nil, fmt.Errorf("task %s: its checkpoint %d has no %s state (not written by juliawolf worker?)", name, cp.ID, partialsName)
		}
		if st.tasks[name], err = decodePartials(cat, &asg, b, "partials of task "+name); err != nil {
			return nil, err
		}
	}
	runs, err := rdb.HGetAll(ctx, runsKey(prefix)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	for _, v := range runs {
		var span [2]int64
		if _, err := fmt.Sscanf(v, "%d %d", &span[0], &span[1]); err == nil && span[1] > span[0] {
			st.runs = append(st.runs, span)
		}
	}
	return st, nil
}

// unfinished names the stored tasks whose state has not seen the end of
// the input.
func (st *distState) unfinished() []string {
	var out []string
	for name, ps := range st.tasks {
		if ps == nil || !ps.ended {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// snapshot merges the tasks' partials into the snapshot of the
// single-process run, through the single-process leaderboard sink: per
// window the tasks' per-track stats merge (counts add; HLLs and quantile
// sketches merge exactly, as if one sketch had seen every play) into one
// result per track, and the window closes as at the end of the input; the
// late plays and dead letters go to the all-time figures.
func (st *distState) snapshot(cat *Catalog) (*Snapshot, error) {
	windows := map[stream.Time]*windowPartial{}
	b := newBoardSink(cat, time.Duration(st.settings.LatenessNs))
	for _, ps := range st.tasks {
		if ps == nil {
			continue
		}
		b.invalid += ps.invalid
		for i, ts := range ps.late {
			if ts == nil {
				continue
			}
			b.Late += ts.Streams
			if err := b.Tracks[i].Merge(ts); err != nil {
				return nil, err
			}
			if err := b.Users.Merge(&ts.Listeners); err != nil {
				return nil, err
			}
		}
		for start, w := range ps.windows {
			m := windows[start]
			if m == nil {
				m = &windowPartial{start: w.start, end: w.end, tracks: newTrackSet(cat)}
				windows[start] = m
			}
			if err := m.tracks.merge(w.tracks); err != nil {
				return nil, err
			}
		}
	}
	ctx := context.Background()
	for _, w := range windows {
		for i, ts := range w.tracks {
			if ts == nil {
				continue
			}
			res := &window.Result[int, *TrackStats]{Key: i, Start: w.start, End: w.end, Value: ts}
			if err := b.Write(ctx, stream.Record[boardEvent]{Value: boardEvent{result: res}}); err != nil {
				return nil, err
			}
		}
	}
	if err := b.WriteWatermark(ctx, stream.MaxTime); err != nil {
		return nil, err
	}
	snap := b.snapshot()
	snap.MaxDelay, snap.AllowedLateness = time.Duration(st.settings.MaxDelayNs), time.Duration(st.settings.LatenessNs)
	snap.Finish(time.Duration(st.settings.WindowNs))
	var first, last int64
	for _, r := range st.runs {
		if first == 0 || r[0] < first {
			first = r[0]
		}
		last = max(last, r[1])
	}
	if wall := time.Duration(last - first); first != 0 && wall > 0 {
		snap.Run = RunStats{WallSeconds: wall.Seconds(), EventsPerSec: float64(snap.EventsProcessed) / wall.Seconds()}
	}
	return snap, nil
}
