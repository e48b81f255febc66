package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrCorrupt is wrapped by every decoding error. It is the same value as
// stream.ErrCorruptCheckpoint.
var ErrCorrupt = errors.New("stream: corrupt checkpoint")

// Encoder appends encoded values to a buffer. The zero Encoder is ready to
// use; [NewEncoder] appends to an existing buffer instead.
type Encoder struct{ b []byte }

// NewEncoder returns an Encoder appending to buf.
func NewEncoder(buf []byte) *Encoder { return &Encoder{b: buf} }

// Data returns the encoded bytes.
func (e *Encoder) Data() []byte { return e.b }

// Len returns the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.b) }

// Byte appends one byte (a version, a tag).
func (e *Encoder) Byte(v byte) { e.b = append(e.b, v) }

// Bool appends v as one byte, 0 or 1.
func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Int appends v as a zig-zag varint.
func (e *Encoder) Int(v int64) { e.b = binary.AppendVarint(e.b, v) }

// Uint appends v as a varint.
func (e *Encoder) Uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// Fixed32 appends v in four bytes, little-endian.
func (e *Encoder) Fixed32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }

// Fixed64 appends v in eight bytes, little-endian.
func (e *Encoder) Fixed64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

// Float64 appends v's IEEE 754 bits in eight bytes.
func (e *Encoder) Float64(v float64) { e.Fixed64(math.Float64bits(v)) }

// String appends s, prefixed by its length.
func (e *Encoder) String(s string) { e.Uint(uint64(len(s))); e.b = append(e.b, s...) }

// Bytes appends p, prefixed by its length.
func (e *Encoder) Bytes(p []byte) { e.Uint(uint64(len(p))); e.b = append(e.b, p...) }

// Decoder reads what an [Encoder] wrote, with a sticky error (see the
// package documentation).
type Decoder struct {
	b    []byte
	what string
	err  error
}

// NewDecoder returns a Decoder of data; what names the state in errors
// ("window state", say).
func NewDecoder(data []byte, what string) *Decoder { return &Decoder{b: data, what: what} }

// Fail records a problem found by the caller (a value out of range, say),
// unless one was recorded before. Reads after it return zero values.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, d.what, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

// Err returns the first problem, or nil.
func (d *Decoder) Err() error { return d.err }

// Remaining returns the number of bytes not read yet.
func (d *Decoder) Remaining() int { return len(d.b) }

// Finish returns the first problem, or an error if bytes are left over.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.Fail("truncated: %d bytes needed, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// Version reads a version byte and fails unless it is v.
func (d *Decoder) Version(v byte) {
	if p := d.take(1); p != nil && p[0] != v {
		d.Fail("version %d, want %d", p[0], v)
	}
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

// Bool reads a boolean; a byte other than 0 or 1 is a problem.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bad boolean")
	return false
}

// Int reads a zig-zag varint.
func (d *Decoder) Int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Uint reads a varint.
func (d *Decoder) Uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Fixed32 reads four bytes, little-endian.
func (d *Decoder) Fixed32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// Fixed64 reads eight bytes, little-endian.
func (d *Decoder) Fixed64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// Float64 reads eight bytes of IEEE 754 bits.
func (d *Decoder) Float64() float64 { return math.Float64frombits(d.Fixed64()) }

// Count reads a number of items that take at least one byte each, so it is
// at most [Decoder.Remaining]: a larger one is a problem, and Count returns
// 0. Use it for the length of anything the caller allocates.
func (d *Decoder) Count() int {
	v := d.Uint()
	if v > uint64(len(d.b)) {
		d.Fail("%d items in %d bytes", v, len(d.b))
		return 0
	}
	return int(v)
}

// Bytes reads a length-prefixed byte string. The result aliases the
// decoder's input (its capacity is its length, so appending copies): copy
// it to keep it beyond the input's life.
func (d *Decoder) Bytes() []byte { return d.take(d.Count()) }

// String reads a length-prefixed string.
func (d *Decoder) String() string { return string(d.Bytes()) }

// Rest returns the bytes not read yet and consumes them: a nested state of
// another encoding that fills the rest of the input. The result aliases the
// input. After a problem it is nil.
func (d *Decoder) Rest() []byte { return d.take(len(d.b)) }

// Max fails unless n <= limit, and returns n (or 0): a bound of the
// caller's on a count or a length.
func (d *Decoder) Max(n, limit int) int {
	if n > limit {
		d.Fail("%d exceeds the limit %d", n, limit)
		return 0
	}
	return n
}
