package stream

import (
	"fmt"
	"io"

	"github.com/brook-streams/brook/stream/codec"
)

// StateStore keeps the keyed state of one [KeyedProcess] instance as bytes,
// by key group: the interface a disk or remote state backend implements
// (see [StoredIn]). Keys and values are opaque to the store. Its methods
// are called from the instance's goroutine only, never concurrently, so a
// store needs no locking of its own unless it is shared.
//
// The operator reads a key's entry when a record or timer of that key
// comes, and writes it back (Put, or Delete once the key has no state left)
// after the callback if it changed. A checkpoint reads every entry of the
// instance's key groups with Scan and stores them in the pipeline's
// checkpoint, in the same format as the in-memory backend, so a checkpoint
// restores into either backend and at any parallelism; a restore Puts the
// checkpoint's entries into a store that open must return empty. Timers
// stay in memory, in the operator.
//
// An error of the store fails the run, wrapped with the operator's name.
// streamtest.TestStateStore checks an implementation against this contract.
type StateStore interface {
	// Get returns the value of key in key group g; ok is false if there
	// is none. The value is read before the next call on the store.
	Get(g int, key []byte) (value []byte, ok bool, err error)
	// Put sets key's value in group g. key and value are valid during the
	// call only: a store that keeps them copies them.
	Put(g int, key, value []byte) error
	// Delete removes key from group g; a key that is not there is no
	// error.
	Delete(g int, key []byte) error
	// Scan calls fn for every entry of group g, in any order, and returns
	// fn's first error. key and value are valid during the call only, and
	// fn does not call the store.
	Scan(g int, fn func(key, value []byte) error) error
}

// StoreInfo describes the operator instance a [StateStore] is opened for.
type StoreInfo struct {
	// Operator is the operator's unique name in the pipeline ([Name]).
	Operator string
	// Instance is the instance's index among Parallelism.
	Instance, Parallelism int
	// MaxParallelism is the pipeline's number of key groups.
	MaxParallelism int
	// KeyGroups are the key groups the instance owns: every g passed to
	// the store is in it.
	KeyGroups KeyGroupRange
}

// StateBackend is where [KeyedProcess] operators keep their keyed state:
// [InMemory] (the default) or a [StateStore] per instance ([StoredIn]).
// Choose it for a pipeline with [WithStateBackend] or for one operator with
// [StateIn].
type StateBackend struct {
	open func(StoreInfo) (StateStore, error)
}

// InMemory is the default state backend: each instance keeps its keys'
// states as Go values in memory, typed, so a state access costs no encoding
// and a value state of a fixed-size type no allocation (see [KeyedStates]).
func InMemory() StateBackend { return StateBackend{} }

// StoredIn is a state backend that keeps each instance's keyed state in
// the [StateStore] open returns for it, called once per instance when the
// run starts (before the checkpoint, if any, is restored into it). A store
// that implements io.Closer is closed when the run ends.
//
// Each access to a key loads its entry and decodes every state of the key
// (with the states' codecs), and a change encodes and writes it back: the
// price of keeping state outside the Go heap. A value whose time to live
// ([StateTTL]) ran out is deleted when its key is next read and is left out
// of checkpoints; the store keeps it until then.
func StoredIn(open func(StoreInfo) (StateStore, error)) StateBackend {
	if open == nil {
		panic("stream: StoredIn(nil)")
	}
	return StateBackend{open: open}
}

// WithStateBackend sets the state backend of the pipeline's [KeyedProcess]
// operators that do not choose one with [StateIn] (default [InMemory]).
func WithStateBackend(b StateBackend) Option {
	return optionFunc(func(c *config) error {
		c.stateBackend = b
		return nil
	})
}

// keyedConfig is KeyedProcess's own settings.
type keyedConfig struct {
	backend    StateBackend
	backendSet bool
}

// StateIn makes the [KeyedProcess] operator it is given to keep its keyed
// state in b, whatever the pipeline's [WithStateBackend] says.
func StateIn(b StateBackend) OperatorOption {
	return OptionFor[OperatorOption](func(c *keyedConfig) { c.backend, c.backendSet = b, true })
}

// storeBackend is a keyed state backend on a StateStore: the current key's
// states are loaded into slot 0 of the state columns when the key is set
// and written back when the callback ends.
type storeBackend[K comparable] struct {
	st     *KeyedStates
	open   func(StoreInfo) (StateStore, error)
	store  StateStore
	kc     codec.Codec[K]
	cols   []snapCol // the declared states, as a store entry has them
	g      int
	key    []byte // the current key, encoded
	val    []byte
	loaded bool // the current key has an entry in the store
}

func newStoreBackend[K comparable](st *KeyedStates, open func(StoreInfo) (StateStore, error), kc codec.Codec[K]) *storeBackend[K] {
	b := &storeBackend[K]{st: st, open: open, kc: kc}
	st.dir, st.single, st.slot = b, true, -1
	return b
}

// start opens the store, once the states are declared.
func (b *storeBackend[K]) start(info StoreInfo) error {
	for _, c := range b.st.cols {
		b.cols = append(b.cols, snapCol{c: c, ttl: c.ttlState() != nil})
	}
	b.st.alloc(0)
	s, err := b.open(info)
	if err != nil {
		return fmt.Errorf("open state store: %w", err)
	}
	if s == nil {
		return fmt.Errorf("%w: the state store's open returned nil", ErrInvalid)
	}
	b.store = s
	return nil
}

func (b *storeBackend[K]) close() error {
	if c, ok := b.store.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// setKey makes k, of group g, the current key, loading its states.
func (b *storeBackend[K]) setKey(k K, g int) error {
	st := b.st
	st.slot, st.active, st.dirty = -1, true, false
	b.g = g
	e := codec.NewEncoder(b.key[:0])
	b.kc.Append(e, k)
	b.key = e.Data()
	v, ok, err := b.store.Get(g, b.key)
	if err != nil {
		return b.fail(fmt.Errorf("state store: get: %w", err))
	}
	b.loaded = ok
	if ok {
		if err := b.load(v); err != nil {
			return b.fail(err)
		}
	}
	return nil
}

// fail abandons the current key (abort) and returns err.
func (b *storeBackend[K]) fail(err error) error {
	b.abort()
	return err
}

// abort ends the callback without writing the key back.
func (b *storeBackend[K]) abort() {
	b.reset()
	b.st.active = false
}

// load decodes an entry into slot 0.
func (b *storeBackend[K]) load(v []byte) error {
	d := codec.NewDecoder(v, "keyed state entry")
	b.st.slot = 0
	b.st.decodeSlot(d, 0, b.cols)
	return d.Finish()
}

// reset empties slot 0.
func (b *storeBackend[K]) reset() {
	for _, c := range b.st.cols {
		c.clear(0)
	}
	b.st.live[0], b.st.slot = 0, -1
}

// unset ends the callback, writing the key's states back if they changed.
func (b *storeBackend[K]) unset() error {
	st := b.st
	st.active = false
	var err error
	if st.dirty {
		switch {
		case st.slot >= 0 && st.live[0] > 0:
			e := codec.NewEncoder(b.val[:0])
			st.encodeSlot(e, 0)
			b.val = e.Data()
			err = b.store.Put(b.g, b.key, b.val)
		case b.loaded:
			err = b.store.Delete(b.g, b.key)
		}
		if err != nil {
			err = fmt.Errorf("state store: write: %w", err)
		}
	}
	b.reset()
	return err
}

func (b *storeBackend[K]) create() int32 { return 0 }
func (b *storeBackend[K]) release(int32) {}

// snapshotGroup encodes group g's states as memBackend.snapshotGroup does,
// appending to the version in buf, and reports whether it has any. The
// values expired at the event-time TTL time now (or the clock) are left
// out.
func (b *storeBackend[K]) snapshotGroup(buf []byte, g int, now Time) ([]byte, bool, error) {
	st := b.st
	var rows codec.Encoder
	n := 0
	st.active, st.evNow, st.procOK = true, now, false
	defer func() { st.active = false }()
	err := b.store.Scan(g, func(key, v []byte) error {
		kd := codec.NewDecoder(key, "keyed state key")
		k := b.kc.Decode(kd)
		if err := kd.Finish(); err != nil {
			return err
		}
		if err := b.load(v); err != nil {
			b.reset()
			return err
		}
		for _, c := range st.cols {
			if t := c.ttlState(); t != nil && c.has(0) && t.expired(0) {
				c.drop(0)
			}
		}
		if st.live[0] > 0 {
			b.kc.Append(&rows, k)
			st.encodeSlot(&rows, 0)
			n++
		}
		b.reset()
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("state store: scan of key group %d: %w", g, err)
	}
	e := codec.NewEncoder(buf)
	st.snapshotHeader(e)
	e.Uint(uint64(n))
	return append(e.Data(), rows.Data()...), n > 0, nil
}

// restoreGroup puts the keys of group g, as snapshotGroup (of either
// backend) wrote them in a snapshot of version v, into the store.
func (b *storeBackend[K]) restoreGroup(d *codec.Decoder, v byte, g int, group func(K) int) error {
	st := b.st
	cols := st.restoreHeader(d, v)
	keys := d.Count()
	for range keys {
		k := b.kc.Decode(d)
		if d.Err() != nil {
			return nil
		}
		if kg := group(k); kg != g {
			d.Fail("key of group %d in group %d", kg, g)
			return nil
		}
		if err := b.setKey(k, g); err != nil {
			return err
		}
		if b.loaded {
			b.abort()
			d.Fail("key twice in group %d", g)
			return nil
		}
		st.slot = 0
		if !st.decodeSlot(d, 0, cols) {
			b.abort()
			return nil
		}
		st.dirty = true
		if err := b.unset(); err != nil {
			return err
		}
	}
	return nil
}
