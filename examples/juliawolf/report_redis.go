package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream/kafka"
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
	if brokers != "" {
		if err := checkCoverage(ctx, rdb, prefix, splitList(brokers), topic, connect, kopts); err != nil {
			return err
		}
	} else {
		_, _ = fmt.Fprintln(stderr, "juliawolf report: not checked against the topic's end (give -brokers and -topic): the figures may be partial")
	}
	snap, parts, err := reportSnapshot(ctx, rdb, prefix, cat)
	if err != nil {
		return err
	}
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

// checkCoverage fails unless the offsets stored with every partition's
// state have reached the partition's end in Kafka: otherwise the workers
// have not applied every play yet (one died and its partitions wait for
// their next owner, or they still run) and the figures would be partial.
func checkCoverage(ctx context.Context, rdb *redis.Client, prefix string, brokers []string, topic string, connect time.Duration, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, connect)
	defer cancel()
	cov, err := storedCoverage(cctx, rdb, cl, prefix, topic)
	if err != nil {
		return err
	}
	if len(cov.behind) > 0 {
		return fmt.Errorf("partial: the stored state covers %d of the %d plays in %s (partitions %s); run workers until they are done, then report again",
			cov.stored, cov.total, topic, strings.Join(cov.behind, ", "))
	}
	return nil
}

// coverage compares the offsets stored in Redis with a topic's end.
type coverage struct {
	stored, total int64    // records covered, records in the topic
	behind        []string // "p at offset of end" of each partition short of its end
}

// storedCoverage reads the topic's end offsets and the offset stored with
// each partition's state.
func storedCoverage(ctx context.Context, rdb *redis.Client, cl *kgo.Client, prefix, topic string) (coverage, error) {
	var cov coverage
	ends, err := kafka.EndOffsets(ctx, cl, topic)
	if err != nil {
		return cov, err
	}
	parts := make([]int32, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		end := ends[p]
		cov.total += end
		v, err := rdb.HGet(ctx, partitionKey(prefix, topic, p), fieldOffset).Result()
		var off int64
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return cov, fmt.Errorf("redis: %w", err)
		default:
			if off, err = strconv.ParseInt(v, 10, 64); err != nil {
				return cov, fmt.Errorf("redis: offset of %s/%d: %q", topic, p, v)
			}
		}
		cov.stored += min(off, end)
		if off < end {
			cov.behind = append(cov.behind, fmt.Sprintf("%d at %d of %d", p, off, end))
		}
	}
	return cov, nil
}

// reportSnapshot reads every partition's state and merges it into the
// snapshot of the single-process run: per window, the partitions' per-track
// stats merge (counts add; HLLs and quantile sketches merge exactly, as if
// one sketch had seen every play); all time, per track, the windows' stats
// plus the late plays'. It returns the number of partitions merged.
func reportSnapshot(ctx context.Context, rdb *redis.Client, prefix string, cat *Catalog) (*Snapshot, int, error) {
	keys, err := rdb.SMembers(ctx, partitionsKey(prefix)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redis: %w", err)
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("no partition state under %s: (did the workers run with -prefix %s?)", prefix, prefix)
	}
	slices.Sort(keys)
	var (
		settings    *distSettings
		asg         window.Assigner
		windows     = map[int64]*windowAgg{}
		late        = newTrackSet(cat)
		invalid     int64
		first, last int64
	)
	for _, key := range keys {
		fields, err := rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("redis: %s: %w", key, err)
		}
		var sp *storedPartition
		if settings == nil {
			s, err := readSettings(key, fields)
			if err != nil {
				return nil, 0, err
			}
			if want := newDistSettings(eventSettings{window: time.Duration(s.WindowNs), maxDelay: time.Duration(s.MaxDelayNs), lateness: time.Duration(s.LatenessNs)}, cat); want.Catalog != s.Catalog {
				return nil, 0, fmt.Errorf("%s was written with another catalog (give report the workers' -catalog)", key)
			}
			settings, asg = &s, window.Tumbling(time.Duration(s.WindowNs))
		}
		if sp, err = parsePartition(cat, asg, key, fields, nil); err != nil {
			return nil, 0, err
		}
		if sp.settings != *settings {
			return nil, 0, fmt.Errorf("%s holds state of other settings (%s, not %s)", key, sp.settings.describe(), settings.describe())
		}
		invalid += sp.invalid
		if err := late.merge(sp.late); err != nil {
			return nil, 0, err
		}
		for _, w := range sp.windows {
			m := windows[w.start]
			if m == nil {
				windows[w.start] = w
				continue
			}
			if err := m.tracks.merge(w.tracks); err != nil {
				return nil, 0, err
			}
		}
		if sp.first != 0 && (first == 0 || sp.first < first) {
			first = sp.first
		}
		last = max(last, sp.last)
	}

	var snap Snapshot
	all := newTrackSet(cat)
	starts := make([]int64, 0, len(windows))
	for start := range windows {
		starts = append(starts, start)
	}
	slices.Sort(starts)
	counts := make([]int64, cat.Len())
	for _, start := range starts {
		w := windows[start]
		var listeners sketch.HLL
		row := WindowRow{Start: nsTime(w.start), End: nsTime(w.end)}
		for i, ts := range w.tracks {
			counts[i] = 0
			if ts == nil {
				continue
			}
			counts[i] = ts.Streams
			row.Events += ts.Streams
			if err := listeners.Merge(&ts.Listeners); err != nil {
				return nil, 0, err
			}
		}
		if row.Events == 0 {
			continue
		}
		row.UniqueListeners = listeners.Estimate()
		row.TopTrack = TopTrack(cat, counts)
		snap.Windows = append(snap.Windows, row)
		if err := all.merge(w.tracks); err != nil {
			return nil, 0, err
		}
	}
	for _, ts := range late {
		if ts != nil {
			snap.EventsLate += ts.Streams
		}
	}
	if err := all.merge(late); err != nil {
		return nil, 0, err
	}
	var users sketch.HLL
	rows := make([]LeaderRow, 0, cat.Len())
	for i, ts := range all {
		if ts == nil {
			continue
		}
		snap.EventsProcessed += ts.Streams
		if err := users.Merge(&ts.Listeners); err != nil {
			return nil, 0, err
		}
		rows = append(rows, ts.Row(cat.Track(i)))
	}
	snap.EventsInvalid = invalid
	snap.UniqueListeners = users.Estimate()
	snap.Leaderboard = Leaderboard(rows)
	snap.MaxDelay, snap.AllowedLateness = time.Duration(settings.MaxDelayNs), time.Duration(settings.LatenessNs)
	snap.Finish(time.Duration(settings.WindowNs))
	if wall := time.Duration(last - first); first != 0 && wall > 0 {
		snap.Run = RunStats{WallSeconds: wall.Seconds(), EventsPerSec: float64(snap.EventsProcessed) / wall.Seconds()}
	}
	return &snap, len(keys), nil
}
