package streamtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/brook-streams/brook/stream"
)

// SourceTest configures [TestSource].
type SourceTest[T any] struct {
	// New returns a fresh source over the same input each time it is called.
	New func() stream.Source[T]
	// Bounded says the source ends by itself; Run must then return nil.
	Bounded bool
	// MinRecords is how many records the source emits at least (bounded
	// sources: in all; unbounded ones: before the test cancels it). At
	// least 1.
	MinRecords int
}

var errConformance = errors.New("streamtest: sink refused the record")

// TestSource checks the contract every [stream.Source] must keep, the way
// testing/slogtest does for slog handlers:
//   - a bounded source emits its records and Run returns nil, and the sink
//     sees the end of input (the MaxTime watermark);
//   - when Emit fails (a sink refused a record), Run returns that error;
//   - when the run is cancelled, Run returns promptly with the context's
//     error, also while the source waits for input.
//
// Call it from a test of your source; it runs sub-tests.
func TestSource[T any](t *testing.T, st SourceTest[T]) {
	t.Helper()
	minRecs := max(st.MinRecords, 1)
	if st.Bounded {
		t.Run("ends", func(t *testing.T) {
			p := stream.New()
			sink := NewSink[T]()
			stream.To(stream.From(p, st.New()), sink)
			if err := run(p, context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if n := len(sink.Records()); n < minRecs {
				t.Errorf("got %d records, want at least %d", n, minRecs)
			}
			if wms := sink.Watermarks(); len(wms) == 0 || wms[len(wms)-1] != stream.MaxTime {
				t.Errorf("the sink did not see the end-of-input watermark; watermarks %v", wms)
			}
		})
	}
	t.Run("returns emit errors", func(t *testing.T) {
		p := stream.New()
		stream.To(stream.From(p, st.New()), stream.SinkFunc[T](func(context.Context, stream.Record[T]) error {
			return errConformance
		}))
		if err := run(p, context.Background()); !errors.Is(err, errConformance) {
			t.Fatalf("Run returned %v, want the sink's error", err)
		}
	})
	t.Run("stops on cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := stream.New()
		got := make(chan struct{})
		seen := 0
		stream.To(stream.From(p, st.New()), stream.SinkFunc[T](func(context.Context, stream.Record[T]) error {
			if seen++; seen == minRecs {
				close(got)
			}
			return nil
		}))
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		select {
		case <-got:
		case err := <-done:
			if st.Bounded {
				return // it ended before it could be cancelled: fine
			}
			t.Fatalf("an unbounded source ended: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("no records within a minute")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Run after cancel returned %v, want context.Canceled or nil", err)
			}
			if err == nil && !st.Bounded {
				t.Fatal("an unbounded source returned nil after cancel")
			}
		case <-time.After(time.Minute):
			t.Fatal("Run did not return after cancel")
		}
	})
}

func run(p *stream.Pipeline, ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return p.Run(ctx)
}
