package stream

import (
	"fmt"
	"slices"
	"strings"
)

// AllowNonRestoredState lets a pipeline restore a checkpoint that holds
// state of operators it no longer has (removed, or renamed: see [Name]):
// that state is dropped, and logged with the pipeline's logger
// ([WithLogger]) if it has one. Without it such a restore fails with
// [ErrInvalid] naming the operators, as Flink's allowNonRestoredState
// decides. Either way an operator that has no state in the checkpoint (one
// added since) starts empty.
func AllowNonRestoredState() Option {
	return optionFunc(func(c *config) error {
		c.allowNonRestored = true
		return nil
	})
}

// stateOperator returns the operator name a checkpoint entry belongs to, or
// "" for the pipeline's own entries. Operator names contain no '/', and
// instance entries are "name/instance", key group entries "name@group".
func stateOperator(key string) string {
	if i := strings.LastIndexByte(key, '/'); i > 0 {
		return key[:i]
	}
	if i := strings.LastIndexByte(key, '@'); i > 0 {
		return key[:i]
	}
	return ""
}

// checkNonRestored applies the restore rule for state of operators that are
// not in the pipeline, once every instance has registered its state.
func (c *coordinator) checkNonRestored(p *Pipeline) error {
	if c.restored == nil {
		return nil
	}
	var gone []string
	for key := range c.restored {
		name := stateOperator(key)
		if name == "" || c.names[name] {
			continue
		}
		if !slices.Contains(gone, name) {
			gone = append(gone, name)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	slices.Sort(gone)
	if !p.cfg.allowNonRestored {
		return fmt.Errorf("%w: checkpoint %d holds state of operators not in the pipeline: %q (renamed or removed? stream.AllowNonRestoredState drops it)",
			ErrInvalid, c.restoreID, gone)
	}
	for key := range c.restored {
		if slices.Contains(gone, stateOperator(key)) {
			delete(c.restored, key)
		}
	}
	if l := p.cfg.logger; l != nil {
		l.Warn("stream: dropping checkpoint state of operators not in the pipeline", "checkpoint", c.restoreID, "operators", gone)
	}
	return nil
}
