package stream

import (
	"errors"
	"fmt"
	"strings"
)

// OperatorConfig is what the options of an operator constructor configure:
// the settings every operator has (its [Name]) and, behind them, the
// settings of the operator's own kind (a window's lateness, a lookup's batch
// size, a source's watermark strategy). Users never build one; packages that
// define operators (window, enrich, or a user's own operator library) get one
// from [Configure] and write their options with [OptionFor].
//
// Every operator option type in brook ([SourceOption], [OperatorOption],
// [ExchangeOption], [SinkOption], window.Option, enrich.LookupOption,
// enrich.JoinOption) is a distinct named type whose underlying type is
// func(*OperatorConfig). A value of one option type cannot be passed where
// another is expected, so a window option given to a lookup does not compile;
// a value of the unnamed [CommonOption] type, such as [Name]'s result, is
// assignable to all of them.
type OperatorConfig struct {
	name  string
	named bool
	kind  string
	own   any // the operator kind's settings: a *C given to Configure
	errs  []error
}

// CommonOption is the type of the options every operator constructor
// accepts, such as [Name]. It is an alias of an unnamed function type, so its
// values are assignable to each operator's option type.
type CommonOption = func(*OperatorConfig)

// Name names the operator it is given to. Every operator constructor accepts
// it: sources ([From]), [Map], [Filter], [FlatMap], [Process], [Apply],
// [AssignWatermarks], the exchanges ([KeyBy], [Rebalance], [Union],
// [Connect]), sinks ([To]), window.Aggregate and window.Process, and
// enrich's joins and lookups.
//
// A name identifies the operator in errors, metrics labels and checkpoints:
// the state of an operator is saved under its name, and restored into the
// operator of the same name. Names are unique per pipeline; a name given
// twice, or one that an earlier unnamed operator already holds as its
// default name, makes [Pipeline.Run] fail with [ErrInvalid]. A name must not
// be empty or contain '/'.
//
// An operator without a name gets a default one: its input's name, a dot,
// and its kind ("map", "filter", "flatmap", "process", "operator" for
// [Apply], "watermarks", "async", "keyby", "rebalance", "union", "connect",
// "broadcast", "sink"; the assigner for a window, such as "tumbling(1m0s)";
// "lookup", "interval-join", "window-join"); a source's default name is
// "source".
// When that is taken (two unnamed operators of the same kind reading the
// same stream, or two unnamed sources), "#2", "#3", ... is appended in the
// order the operators were added. A default name therefore does not change
// when operators are added elsewhere in the pipeline, but it does change
// when one is inserted upstream of it, or (with the "#n" suffix) beside it:
// name the operators whose state must survive changes to the pipeline, as
// Flink asks for uids. Naming an operator also pins the default names
// downstream of it.
func Name(name string) CommonOption {
	return func(c *OperatorConfig) {
		switch {
		case name == "":
			c.errs = append(c.errs, fmt.Errorf("%w: empty operator name", ErrInvalid))
			return
		case strings.Contains(name, "/"):
			c.errs = append(c.errs, fmt.Errorf("%w: operator name %q contains '/'", ErrInvalid, name))
			return
		}
		c.name, c.named = name, true
	}
}

// Configure applies opts, an operator constructor's options, to a new
// OperatorConfig whose kind-specific settings are own (which the options
// written with [OptionFor] for settings C modify). kind is the last part of
// the operator's default name (see [Name]). Nil options are reported by
// [OperatorConfig.Err].
func Configure[O ~func(*OperatorConfig), C any](kind string, own *C, opts []O) *OperatorConfig {
	c := &OperatorConfig{kind: kind, own: own}
	for _, o := range opts {
		if o == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: nil option", ErrInvalid))
			continue
		}
		o(c)
	}
	return c
}

// OptionFor returns an option of type O that applies set to the
// kind-specific settings C of the operator it configures. Given to an
// operator whose settings are not a C (possible only by converting between
// option types), it makes the operator's [OperatorConfig.Err] report
// [ErrInvalid] instead.
func OptionFor[O ~func(*OperatorConfig), C any](set func(*C)) O {
	return func(c *OperatorConfig) {
		own, ok := c.own.(*C)
		if !ok || own == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: option of %T given to an operator of another kind (%s)", ErrInvalid, own, c.kind))
			return
		}
		set(own)
	}
}

// Name returns the name given with [Name], and whether one was.
func (c *OperatorConfig) Name() (string, bool) { return c.name, c.named }

// Kind returns the operator's kind, the last part of its default name.
func (c *OperatorConfig) Kind() string { return c.kind }

// Err returns the mistakes in the options (an invalid name, a nil option,
// an option of another kind of operator), joined, each wrapping
// [ErrInvalid]; nil if there were none.
func (c *OperatorConfig) Err() error { return errors.Join(c.errs...) }

// As returns an option that gives the operator it configures this config's
// name (or, unnamed, a default name of kind; "" means this config's own
// kind). An operator built on another one ([Process] on [Apply], a window
// join on window.Process) hands its name on with it: converted to the other
// constructor's option type, it is the only option needed. The mistakes in
// c's options are not handed on: the caller reports [OperatorConfig.Err].
func (c *OperatorConfig) As(kind string) CommonOption {
	name, named := c.name, c.named
	if kind == "" {
		kind = c.kind
	}
	return func(o *OperatorConfig) {
		o.kind = kind
		if named {
			o.name, o.named = name, true
		}
	}
}

// opName gives the operator configured by c, reading the stream named
// parent ("" for a source), its unique name in p.
func (p *Pipeline) opName(parent string, c *OperatorConfig) string {
	for _, err := range c.errs {
		p.fail(err)
	}
	if c.named {
		if prev, ok := p.names[c.name]; ok {
			if prev {
				p.failf("duplicate operator name %q", c.name)
			} else {
				p.failf("operator name %q is the default name of an earlier unnamed operator: name that one too, or choose another", c.name)
			}
		}
		p.names[c.name] = true
		return c.name
	}
	base := c.kind
	if parent != "" {
		base = parent + "." + c.kind
	}
	name := base
	for n := 2; ; n++ {
		if _, taken := p.names[name]; !taken {
			break
		}
		name = fmt.Sprintf("%s#%d", base, n)
	}
	p.names[name] = false
	return name
}
