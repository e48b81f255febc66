package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
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
	var st produceStats
	err = produceRun(ctx, cfg, &st)
	if err == nil && !quiet {
		valid, invalid := st.valid.Load(), st.invalid.Load()
		_, _ = fmt.Fprintf(stdout, "Produced %s records to %s (%s valid plays, %s invalid lines), stamped with the watermark (-max-delay %s)\n",
			commas(valid+invalid), cfg.topic, commas(valid), commas(invalid), cfg.ev.maxDelay)
	}
	return err
}

// produceStats counts what produce published.
type produceStats struct{ valid, invalid atomic.Int64 }

// produceRun publishes the plays through a brook pipeline whose Kafka sink
// carries its watermarks (kafka.CarryWatermarks):
//
//	lines (file or generator) → classify (valid play: its event time; else MinTime)
//	  → watermarks (bounded out-of-orderness B) → Kafka sink (key user_id, brook-wm header)
//
// The watermark is the single-process pipeline's (pipeline.go): bounded
// out-of-orderness over the valid plays only, so that an invalid line
// closes no window. "Valid" needs the catalog (a play of an unknown track
// is invalid), which is why produce takes -catalog: a watermark generated
// before the catalog check would let unknown tracks move event time, and
// change the single-process answer. The sink writes the watermark in
// force before each line into its brook-wm header, and at the end of the
// input a final watermark to every partition, so each worker task judges
// lateness and fires its last windows exactly as one process does.
func produceRun(ctx context.Context, cfg produceConfig, st *produceStats) error {
	var src stream.Source[rawLine]
	if cfg.input != "" {
		in := cfg.stdin
		if cfg.input != "-" {
			f, err := os.Open(cfg.input)
			if err != nil {
				return usageError{err}
			}
			defer func() { _ = f.Close() }()
			in = f
		}
		src = &fileLines{in: in}
	} else {
		src = &generatedLines{gen: NewGenerator(cfg.cat, cfg.events, cfg.seed)}
	}
	if cfg.partitions > 0 {
		if err := createTopic(ctx, cfg.brokers, cfg.topic, cfg.partitions, cfg.clientOpts); err != nil {
			return err
		}
	}
	p := stream.New(cfg.metrics.pipelineOptions()...)
	lines := stream.From(p, src, stream.Name("lines"))
	classified := stream.Process(lines, func(_ *stream.Context, r stream.Record[rawLine], out stream.Emitter[publishedLine]) error {
		l, t := classifyLine(cfg.cat, r.Value)
		if l.valid {
			st.valid.Add(1)
		} else {
			st.invalid.Add(1)
		}
		return out.Emit(stream.Record[publishedLine]{Time: t, Value: l})
	}, stream.Name("classify")).Stream
	stamped := stream.AssignWatermarks(classified, stream.BoundedOutOfOrderness[publishedLine](cfg.ev.maxDelay))
	stream.To(stamped, kafka.NewSink(cfg.topic, func(l publishedLine) ([]byte, error) { return l.value, nil },
		kafka.Brokers(cfg.brokers...),
		kafka.ClientOptions(cfg.clientOpts...),
		kafka.CarryWatermarks(),
		kafka.Key(func(l publishedLine) []byte { return l.key }),
		kafka.Headers(publishedLine.headers),
		kafka.ProduceTime()), // event times may precede 1970; the worker reads them from the line
		stream.Name("kafka"))
	return p.Run(ctx)
}

// rawLine is one input line, as published.
type rawLine struct {
	text    []byte // owned by the record
	tooLong int64  // > 0: the line's full length; text is its start
}

// publishedLine is a line ready for Kafka.
type publishedLine struct {
	key, value []byte
	valid      bool
	reject     string // the producer's reason the line is invalid, for lines it cannot publish whole
}

func (l publishedLine) headers() []kgo.RecordHeader {
	if l.reject == "" {
		return nil
	}
	return []kgo.RecordHeader{{Key: rejectHeader, Value: []byte(l.reject)}}
}

// classifyLine decides whether a line is a valid play (decodable, with a
// catalog track) and returns it with its event time, or with
// stream.MinTime, which moves no watermark, if it is not.
func classifyLine(cat *Catalog, l rawLine) (publishedLine, stream.Time) {
	out := publishedLine{value: l.text}
	if l.tooLong > 0 {
		out.reject = fmt.Sprintf("line too long (%d bytes, limit %d)", l.tooLong, MaxLineBytes)
		out.value = l.text[:min(len(l.text), maxRawBytes)]
		return out, stream.MinTime
	}
	p, err := DecodePlay(l.text)
	if err != nil {
		return out, stream.MinTime
	}
	out.key = []byte(p.UserID)
	if _, ok := cat.Index(p.TrackID); !ok {
		return out, stream.MinTime
	}
	out.valid = true
	return out, stream.TimeOf(p.EventTime)
}

// fileLines is a source of the lines of a file, read by the rules of
// -input's jsonl.Source (jsonl.Scan): numbered alike, blank lines kept as
// the dead letters they are there, a leading byte-order mark trimmed.
type fileLines struct{ in io.Reader }

func (f *fileLines) Run(ctx context.Context, out stream.SourceOutput[rawLine]) error {
	keep := func(b []byte) ([]byte, error) { return bytes.Clone(b), nil }
	for l, err := range jsonl.Scan(f.in, keep, jsonl.MaxLineBytes(MaxLineBytes), jsonl.DecodeBlankLines()) {
		if err != nil {
			return fmt.Errorf("reading input: %w", err)
		}
		rl := rawLine{text: l.Value}
		if errors.Is(l.Err, jsonl.ErrLineTooLong) {
			rl = rawLine{text: l.Raw, tooLong: l.Size}
		}
		if err := out.Emit(stream.Record[rawLine]{Value: rl}); err != nil {
			return err
		}
		if l.Num%flushLines == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushLines is how often (in lines read) the produce command checks for
// cancellation.
const flushLines = 1024

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
