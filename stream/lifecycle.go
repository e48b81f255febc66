package stream

import (
	"context"
	"errors"
	"log/slog"
)

// The runtime's lifecycle log, through the logger of [WithLogger] (silent
// by default): the start of a run, the checkpoint it restored, each
// checkpoint completed (Debug) or failed (Warn), and how the run ended.

// logStart reports a run about to start its tasks, and the checkpoint it
// restored.
func (rt *runtime_) logStart() {
	p := rt.p
	l := loggerOf(p)
	rt.started = p.cfg.clock.Now()
	ctx := rt.ctx
	attrs := []slog.Attr{slog.Int("sources", len(p.sources)), slog.Int("tasks", len(rt.tasks))}
	if co := rt.co; co != nil {
		attrs = append(attrs, slog.Duration("checkpoint_interval", co.interval))
		if co.restoreID != 0 {
			l.LogAttrs(ctx, slog.LevelInfo, "stream: restored checkpoint", slog.Int64("checkpoint", co.restoreID),
				slog.Int("states", len(co.restored)))
		}
	}
	l.LogAttrs(ctx, slog.LevelInfo, "stream: pipeline started", attrs...)
}

// logEnd reports how a run ended: its input ended, it stopped with a
// savepoint or drained, it was cancelled, or it failed (err).
func (rt *runtime_) logEnd(ctx context.Context, err error) {
	p := rt.p
	l := loggerOf(p)
	attrs := []slog.Attr{slog.Duration("ran", p.cfg.clock.Now().Sub(rt.started))}
	if rt.co != nil && rt.co.finalDone {
		attrs = append(attrs, slog.Int64("final_checkpoint", rt.co.finalCheckpointID()))
	}
	level, msg := slog.LevelInfo, "stream: pipeline ended"
	switch {
	case err == nil:
		how := "end of input"
		switch p.mode() {
		case savepoint:
			how = "stopped with a savepoint"
			if rt.co == nil {
				how = "drained (stopped without checkpoints)"
			}
		case drain:
			how = "drained"
		}
		attrs = append(attrs, slog.String("how", how))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		attrs = append(attrs, slog.String("how", "cancelled"))
	default:
		level, msg = slog.LevelError, "stream: pipeline failed"
		attrs = append(attrs, slog.Any("error", err))
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}
