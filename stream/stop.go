package stream

import (
	"context"
	"errors"
)

// ErrStopped is what a [Source] returns from Run to stop the whole pipeline
// gracefully at the source's current position, as [Pipeline.Stop] does (a
// Kafka source's Stop method does this). Run does not report it as a
// failure.
var ErrStopped = errors.New("stream: stopped")

type stopMode uint8

const (
	running   stopMode = iota
	savepoint          // Stop: end where we are, without the end-of-input watermark
	drain              // Drain: end the input, fire everything
)

// Stop ends a running pipeline with a savepoint (Flink's stop-with-savepoint):
// every source's Run context is cancelled, each source ends where it is
// without the end-of-input watermark, so no window or timer fires early, and
// the records already emitted flow through to the sinks; then the final
// checkpoint is stored and committed (see [WithCheckpoints]) and Run returns
// nil. A later Run with the same checkpoint store resumes from that
// checkpoint as if the pipeline had never stopped: no output is missing or
// repeated.
//
// Without checkpoints there is nothing to resume from, so Stop drains
// instead (see [Pipeline.Drain]) rather than lose the open windows.
//
// Stop waits until Run has returned, or until ctx is done (it then returns
// ctx.Err() and the stop goes on). It is safe to call from any goroutine, more
// than once, and before Run starts (Run then stops at once). A Stop after a
// Drain, or a Drain after a Stop, does not change the first one's mode.
func (p *Pipeline) Stop(ctx context.Context) error { return p.halt(ctx, savepoint) }

// Drain ends a running pipeline's input (Flink's stop --drain): every source
// ends where it is as if its input were exhausted, the end-of-input watermark
// fires every window and event-time timer, the sinks finish, and with
// checkpoints the final checkpoint is stored. Resuming from it continues
// after the drained records, with the windows they filled already emitted.
// Drain waits like [Pipeline.Stop].
func (p *Pipeline) Drain(ctx context.Context) error { return p.halt(ctx, drain) }

func (p *Pipeline) halt(ctx context.Context, mode stopMode) error {
	p.requestStop(mode)
	select {
	case <-p.runDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requestStop sets the stop mode (the first one wins) and cancels every
// running source's context.
func (p *Pipeline) requestStop(mode stopMode) {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.stopMode != running {
		return
	}
	p.stopMode = mode
	for _, cancel := range p.stoppers {
		cancel(ErrStopped)
	}
}

// addStopper registers a running source's cancel function; it is called at
// once if a stop was requested already.
func (p *Pipeline) addStopper(cancel context.CancelCauseFunc) {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	p.stoppers = append(p.stoppers, cancel)
	if p.stopMode != running {
		cancel(ErrStopped)
	}
}

func (p *Pipeline) mode() stopMode {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	return p.stopMode
}
