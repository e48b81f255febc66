package stream

import (
	"errors"
	"fmt"
)

var (
	// ErrAlreadyRun is returned by Run on a pipeline that has run before.
	ErrAlreadyRun = errors.New("stream: pipeline already run")
	// ErrNoSource is returned by Run on a pipeline without sources.
	ErrNoSource = errors.New("stream: pipeline has no source")
	// ErrNotConnected is returned when an operator emits to a side output
	// that nobody consumes, or rejects a record while no dead-letter output
	// is connected: brook never drops such a record silently.
	ErrNotConnected = errors.New("stream: output not connected")
	// ErrInvalid is wrapped by every error about a wrongly built pipeline.
	ErrInvalid = errors.New("stream: invalid pipeline")
	// ErrFenced is wrapped by a [CheckpointStore]'s Save refused because a
	// newer owner has claimed the checkpoints (a Kafka partition's task that
	// moved to another process): the older owner must stop without writing.
	ErrFenced = errors.New("stream: checkpoint store fenced by a newer owner")
)

// OperatorError is an error raised in a named operator, source or sink.
type OperatorError struct {
	Op  string // the operator's name (see [Name]), e.g. "plays.map" or "leaderboard"
	Err error
}

func (e *OperatorError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *OperatorError) Unwrap() error { return e.Err }

// PanicError is a panic in user code, recovered into an error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// opErr wraps err with the operator name unless it already carries one
// (an error coming back from further downstream).
func opErr(name string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*OperatorError); ok {
		return err
	}
	return &OperatorError{Op: name, Err: err}
}

// RejectError marks a record as bad rather than fatal. A [ProcessFunc] that
// returns one sends the record to the dead-letter output with the reason, and
// the run goes on.
type RejectError struct{ Reason error }

func (e *RejectError) Error() string { return "rejected: " + e.Reason.Error() }

// Unwrap returns the reason.
func (e *RejectError) Unwrap() error { return e.Reason }

// Reject returns an error that sends the current record to the dead-letter
// output with reason, instead of failing the run.
func Reject(reason error) error { return &RejectError{Reason: reason} }

// Rejectf is Reject(fmt.Errorf(format, args...)).
func Rejectf(format string, args ...any) error { return Reject(fmt.Errorf(format, args...)) }

// DeadLetter is a record an operator rejected, with the reason.
type DeadLetter[T any] struct {
	Record   Record[T]
	Operator string
	Err      error
}
