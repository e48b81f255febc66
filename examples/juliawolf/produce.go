package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

// produceConfig is the configuration of `juliawolf produce`.
type produceConfig struct {
	brokers    []string
	topic      string
	input      string // "" for the generator, "-" for stdin
	stdin      io.Reader
	events     int64
	seed       uint64
	partitions int32 // > 0: create the topic with this many partitions
	ev         eventSettings
	cat        *Catalog
	metrics    *metricsServer
	clientOpts []kgo.Opt
	stamper    *stamper // carries the watermark over from an earlier run (tests); nil: a new one
}

func runProduce(ctx context.Context, stop <-chan struct{}, args []string, stdout, _ io.Writer) error {
	var cfg produceConfig
	var brokers, metricsAddr string
	var partitions int
	var quiet bool
	var sec kafkaSecurity
	fs := newFlagSet("produce")
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated `host:port` list")
	fs.StringVar(&cfg.topic, "topic", "", "topic to publish the plays to (key: user_id)")
	fs.StringVar(&cfg.input, "input", "", "publish the lines of this JSON Lines `file` (- for stdin) instead of generated plays")
	fs.Int64Var(&cfg.events, "events", DefaultEvents, "number of plays to generate, waves in proportion")
	fs.Uint64Var(&cfg.seed, "seed", DefaultSeed, "generator seed")
	fs.IntVar(&partitions, "partitions", 0, "create the topic with this many partitions first (0: it must exist, or the broker creates it)")
	fs.StringVar(&metricsAddr, "metrics", "", "serve /metrics and /healthz on this `host:port` while running")
	fs.BoolVar(&quiet, "quiet", false, "print nothing at the end")
	cfg.ev.register(fs)
	sec.register(fs)
	if err := parseSubFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg.brokers = splitList(brokers)
	switch {
	case len(cfg.brokers) == 0:
		return usagef("-brokers is required")
	case cfg.topic == "":
		return usagef("-topic is required")
	case cfg.events < 0:
		return usagef("-events must be >= 0, got %d", cfg.events)
	case partitions < 0 || partitions > 1<<20:
		return usagef("-partitions must be in [0, %d], got %d", 1<<20, partitions)
	}
	cfg.partitions = int32(partitions)
	if err := cfg.ev.check(); err != nil {
		return err
	}
	secOpts, err := sec.options()
	if err != nil {
		return err
	}
	cfg.clientOpts = append(cfg.clientOpts, secOpts...)
	if cfg.cat, err = cfg.ev.loadCatalog(); err != nil {
		return err
	}
	cfg.stdin = os.Stdin
	if metricsAddr != "" {
		if cfg.metrics, err = startMetrics(metricsAddr); err != nil {
			return err
		}
		defer func() { _ = cfg.metrics.Close() }()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	st, err := produceRun(ctx, cfg)
	if err == nil && !quiet {
		_, _ = fmt.Fprintf(stdout, "Produced %s records to %s (%s valid plays, %s invalid lines), stamped with the watermark (-max-delay %s)\n",
			commas(st.valid+st.invalid), cfg.topic, commas(st.valid), commas(st.invalid), cfg.ev.maxDelay)
	}
	return err
}

// produceStats counts what produce published.
type produceStats struct{ valid, invalid int64 }

// produceRun publishes the plays, each stamped with the watermark in force
// just before it in this (the global) order, through a brook pipeline:
//
//	lines (file or generator) → stamp (watermark over valid plays) → Kafka sink (key user_id)
func produceRun(ctx context.Context, cfg produceConfig) (produceStats, error) {
	var src stream.Source[rawLine]
	if cfg.input != "" {
		in := cfg.stdin
		if cfg.input != "-" {
			f, err := os.Open(cfg.input)
			if err != nil {
				return produceStats{}, usageError{err}
			}
			defer func() { _ = f.Close() }()
			in = f
		}
		src = &fileLines{lr: newLineReader(in, MaxLineBytes)}
	} else {
		src = &generatedLines{gen: NewGenerator(cfg.cat, cfg.events, cfg.seed)}
	}
	if cfg.partitions > 0 {
		if err := createTopic(ctx, cfg.brokers, cfg.topic, cfg.partitions, cfg.clientOpts); err != nil {
			return produceStats{}, err
		}
	}
	st := cfg.stamper
	if st == nil {
		st = newStamper(cfg.cat, cfg.ev.maxDelay)
	}
	valid0, invalid0 := st.valid, st.invalid
	p := stream.New(cfg.metrics.pipelineOptions()...)
	lines := stream.From(p, src, stream.Name("lines"))
	stamped := stream.Process(lines, func(_ *stream.Context, r stream.Record[rawLine], out stream.Emitter[stampedLine]) error {
		return out.Emit(stream.Record[stampedLine]{Time: r.Time, Value: st.stamp(r.Value)})
	}, stream.Name("stamp")).Stream
	stream.To(stamped, kafka.NewSink(cfg.topic, func(r stampedLine) ([]byte, error) { return r.value, nil },
		kafka.Brokers(cfg.brokers...),
		kafka.ClientOptions(cfg.clientOpts...),
		kafka.Key(func(r stampedLine) []byte { return r.key }),
		kafka.Headers(stampedLine.headers),
		kafka.ProduceTime()), // event times may precede 1970; the worker reads them from the line
		stream.Name("kafka"))
	err := p.Run(ctx)
	return produceStats{valid: st.valid - valid0, invalid: st.invalid - invalid0}, err
}

// rawLine is one input line, as published.
type rawLine struct {
	text    []byte // owned by the record
	tooLong int64  // > 0: the line's full length; text is its start
}

// stampedLine is a line ready for Kafka.
type stampedLine struct {
	key, value []byte
	wm         int64  // the watermark before this line
	reject     string // the producer's reason the line is invalid, for lines it cannot publish whole
}

func (l stampedLine) headers() []kgo.RecordHeader {
	h := []kgo.RecordHeader{{Key: wmHeader, Value: strconv.AppendInt(nil, l.wm, 10)}}
	if l.reject != "" {
		h = append(h, kgo.RecordHeader{Key: rejectHeader, Value: []byte(l.reject)})
	}
	return h
}

// stamper computes the watermark exactly as the single-process run does:
// W = (largest event time of a valid play so far) - B - 1, MinInt64 before
// the first valid play, where valid means decodable with a catalog track.
// It runs as one instance, in input order.
type stamper struct {
	cat            *Catalog
	delay          int64
	wm, maxSeen    int64
	valid, invalid int64
}

func newStamper(cat *Catalog, maxDelay time.Duration) *stamper {
	return &stamper{cat: cat, delay: int64(maxDelay), wm: minNs}
}

func (s *stamper) stamp(l rawLine) stampedLine {
	out := stampedLine{value: l.text, wm: s.wm}
	if l.tooLong > 0 {
		out.reject = fmt.Sprintf("line too long (%d bytes, limit %d)", l.tooLong, MaxLineBytes)
		out.value = l.text[:min(len(l.text), maxRawBytes)]
		s.invalid++
		return out
	}
	p, err := DecodePlay(l.text)
	if err != nil {
		s.invalid++
		return out
	}
	out.key = []byte(p.UserID)
	if _, ok := s.cat.Index(p.TrackID); !ok {
		s.invalid++
		return out
	}
	t := p.EventTime.UnixNano()
	if s.valid == 0 || t > s.maxSeen {
		s.maxSeen = t
		s.wm = satAdd(satAdd(t, -s.delay), -1)
	}
	s.valid++
	return out
}

// fileLines is a source of the lines of a file, numbered like -input's.
type fileLines struct{ lr *lineReader }

func (f *fileLines) Run(ctx context.Context, out stream.SourceOutput[rawLine]) error {
	for {
		text, num, tooLong, err := f.lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading input: %w", err)
		}
		if err := out.Emit(stream.Record[rawLine]{Value: rawLine{text: append([]byte(nil), text...), tooLong: tooLong}}); err != nil {
			return err
		}
		if num%flushLines == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// generatedLines is a source of the generator's plays as event lines.
type generatedLines struct{ gen *Generator }

func (g *generatedLines) Run(ctx context.Context, out stream.SourceOutput[rawLine]) error {
	var n int64
	for p := range g.gen.All() {
		if err := out.Emit(stream.Record[rawLine]{Value: rawLine{text: AppendJSON(nil, p)}}); err != nil {
			return err
		}
		if n++; n%flushLines == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// createTopic creates topic with the given number of partitions (the
// broker's default replication), unless it exists.
func createTopic(ctx context.Context, brokers []string, topic string, partitions int32, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, partitions, -1
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", topic, err)
		}
	}
	return nil
}
