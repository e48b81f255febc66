package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// logRecord is one captured log record, its attributes flattened to text.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// capture is a slog.Handler keeping every record at Debug and above.
type capture struct {
	mu   sync.Mutex
	recs []logRecord
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	lr := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, lr)
	c.mu.Unlock()
	return nil
}

// records returns the records so far.
func (c *capture) records() []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]logRecord(nil), c.recs...)
}

func (c *capture) messages() []string {
	var out []string
	for _, r := range c.records() {
		out = append(out, r.level.String()+" "+r.msg)
	}
	return out
}

func (c *capture) find(msg string) (logRecord, bool) {
	for _, r := range c.records() {
		if r.msg == msg {
			return r, true
		}
	}
	return logRecord{}, false
}

func TestLifecycleLogOfACheckpointedRun(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Unix(0, 0))
	store := newNotifyStore()
	h := &capture{}
	src := streamtest.NewReplay(counts(5))
	src.Hold = true
	p := stream.New(stream.WithClock(clk), stream.WithCheckpoints(store, 10*time.Second), stream.WithLogger(slog.New(h)))
	stream.To(stream.From(p, src, stream.Name("src")), stream.Discard[int64](), stream.Name("out"))
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	for range 2 {
		require.NoError(t, clk.WaitForTimers(ctx, 1))
		clk.Advance(10 * time.Second)
		waitSaved(t, store)
	}
	clk.Advance(3 * time.Second)
	require.NoError(t, p.Stop(ctx))
	require.NoError(t, <-errc)
	assert.Equal(t, []string{
		"INFO stream: pipeline started",
		"DEBUG stream: checkpoint completed",
		"DEBUG stream: checkpoint completed",
		"DEBUG stream: checkpoint completed",
		"INFO stream: pipeline ended",
	}, h.messages())
	recs := h.records()
	assert.Equal(t, "1", recs[0].attrs["sources"])
	assert.Equal(t, "10s", recs[0].attrs["checkpoint_interval"])
	assert.Equal(t, "2", recs[2].attrs["checkpoint"])
	assert.Equal(t, "0s", recs[2].attrs["duration"], "by the fake clock")
	assert.Equal(t, "false", recs[2].attrs["final"])
	cp, err := store.Latest(ctx)
	require.NoError(t, err)
	size := 0
	for k, v := range cp.States {
		size += len(k) + len(v)
	}
	assert.Equal(t, "3", recs[3].attrs["checkpoint"])
	assert.Equal(t, strconv.Itoa(size), recs[3].attrs["bytes"])
	assert.Equal(t, "true", recs[3].attrs["final"], "the savepoint")
	assert.Equal(t, map[string]string{"how": "stopped with a savepoint", "final_checkpoint": "3", "ran": "23s"}, recs[4].attrs)

	// The next run restores the savepoint and reads to the end.
	h2 := &capture{}
	p2 := stream.New(stream.WithClock(clk), stream.WithCheckpoints(store, 10*time.Second), stream.WithLogger(slog.New(h2)))
	stream.To(stream.From(p2, streamtest.NewReplay(counts(8)), stream.Name("src")), stream.Discard[int64](), stream.Name("out"))
	require.NoError(t, p2.Run(ctx))
	assert.Equal(t, []string{
		"INFO stream: restored checkpoint",
		"INFO stream: pipeline started",
		"DEBUG stream: checkpoint completed",
		"INFO stream: pipeline ended",
	}, h2.messages())
	r, _ := h2.find("stream: restored checkpoint")
	assert.Equal(t, "3", r.attrs["checkpoint"])
	r, _ = h2.find("stream: pipeline ended")
	assert.Equal(t, "end of input", r.attrs["how"])
	assert.Equal(t, "4", r.attrs["final_checkpoint"])
}

// failStore fails every Save.
type failStore struct{ notifyStore }

func (s *failStore) Save(context.Context, *stream.Checkpoint) error { return errors.New("disk full") }

func TestLifecycleLogOfFailuresAndCancellation(t *testing.T) {
	t.Parallel()
	t.Run("checkpoint fails", func(t *testing.T) {
		t.Parallel()
		clk := streamtest.NewClock(time.Unix(0, 0))
		h := &capture{}
		src := streamtest.NewReplay(counts(5))
		src.Hold = true
		p := stream.New(stream.WithClock(clk), stream.WithCheckpoints(&failStore{}, time.Second), stream.WithLogger(slog.New(h)))
		stream.To(stream.From(p, src), stream.Discard[int64]())
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		require.NoError(t, clk.WaitForTimers(context.Background(), 1))
		clk.Advance(time.Second)
		require.Error(t, <-errc)
		assert.Equal(t, []string{"INFO stream: pipeline started", "WARN stream: checkpoint failed", "ERROR stream: pipeline failed"}, h.messages())
		r, _ := h.find("stream: checkpoint failed")
		assert.Equal(t, map[string]string{"checkpoint": "1", "step": "store", "error": "disk full"}, r.attrs)
		r, _ = h.find("stream: pipeline failed")
		assert.Contains(t, r.attrs["error"], "disk full")
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		h := &capture{}
		src := streamtest.NewReplay(counts(5))
		src.Hold = true
		p := stream.New(stream.WithLogger(slog.New(h)))
		stream.To(stream.From(p, src), stream.Discard[int64]())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, p.Run(ctx), context.Canceled)
		assert.Equal(t, []string{"INFO stream: pipeline started", "INFO stream: pipeline ended"}, h.messages())
		r, _ := h.find("stream: pipeline ended")
		assert.Equal(t, "cancelled", r.attrs["how"])
		assert.NotContains(t, r.attrs, "final_checkpoint")
	})
	t.Run("drained", func(t *testing.T) {
		t.Parallel()
		h := &capture{}
		src := streamtest.NewReplay(counts(5))
		src.Hold = true
		p := stream.New(stream.WithLogger(slog.New(h)))
		sink := &countingSink{n: 5, full: make(chan struct{})}
		stream.To(stream.Map(stream.From(p, src), func(v int64) string { return "" }), sink)
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		<-sink.full
		require.NoError(t, p.Drain(context.Background()))
		require.NoError(t, <-errc)
		r, ok := h.find("stream: pipeline ended")
		require.True(t, ok)
		assert.Equal(t, "drained", r.attrs["how"])
	})
}

// Without WithLogger (or with a nil logger) the runtime logs nothing, not
// even to slog's default logger. Not parallel: it swaps the default.
func TestLifecycleLogSilentByDefault(t *testing.T) {
	h := &capture{}
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	defer slog.SetDefault(prev)
	for _, opts := range [][]stream.Option{nil, {stream.WithLogger(nil)}} {
		p := stream.New(opts...)
		stream.To(stream.From(p, stream.Slice([]int{1, 2, 3})), stream.Discard[int]())
		require.NoError(t, p.Run(context.Background()))
	}
	assert.Empty(t, h.records())
}
