package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

func TestRoundTrip(t *testing.T) {
	var e codec.Encoder
	e.Byte(7)
	e.Bool(true)
	e.Bool(false)
	e.Int(-12345)
	e.Int(math.MinInt64)
	e.Uint(math.MaxUint64)
	e.Fixed32(0xdeadbeef)
	e.Fixed64(1 << 63)
	e.Float64(math.Inf(-1))
	e.Float64(0.1)
	e.String("héllo")
	e.Bytes(nil)
	e.Bytes([]byte{1, 2, 3})

	d := codec.NewDecoder(e.Data(), "test state")
	d.Version(7)
	assert.True(t, d.Bool())
	assert.False(t, d.Bool())
	assert.Equal(t, int64(-12345), d.Int())
	assert.Equal(t, int64(math.MinInt64), d.Int())
	assert.Equal(t, uint64(math.MaxUint64), d.Uint())
	assert.Equal(t, uint32(0xdeadbeef), d.Fixed32())
	assert.Equal(t, uint64(1<<63), d.Fixed64())
	assert.True(t, math.IsInf(d.Float64(), -1))
	assert.Equal(t, 0.1, d.Float64())
	assert.Equal(t, "héllo", d.String())
	assert.Empty(t, d.Bytes())
	assert.Equal(t, []byte{1, 2, 3}, d.Bytes())
	assert.Zero(t, d.Remaining())
	require.NoError(t, d.Finish())
}

func TestStickyError(t *testing.T) {
	var e codec.Encoder
	e.Int(5)
	e.String("abc")
	data := e.Data()

	d := codec.NewDecoder(data[:2], "window state") // the string is cut short
	assert.Equal(t, int64(5), d.Int())
	assert.Empty(t, d.String())
	assert.Zero(t, d.Int(), "reads after a problem return zero values")
	err := d.Finish()
	require.Error(t, err)
	assert.ErrorIs(t, err, codec.ErrCorrupt)
	assert.ErrorIs(t, err, stream.ErrCorruptCheckpoint, "the same sentinel as package stream's")
	assert.Contains(t, err.Error(), "window state")

	d = codec.NewDecoder(data, "x")
	d.Version(6)
	assert.ErrorContains(t, d.Finish(), "version 10, want 6", "the first problem is kept")

	d = codec.NewDecoder(append(bytes.Clone(data), 0), "x")
	d.Int()
	_ = d.String()
	assert.ErrorContains(t, d.Finish(), "1 trailing bytes")

	d = codec.NewDecoder([]byte{2}, "x")
	d.Bool()
	assert.ErrorContains(t, d.Err(), "bad boolean")

	d = codec.NewDecoder([]byte{9}, "x")
	assert.Equal(t, 0, d.Max(int(d.Byte()), 8))
	assert.ErrorContains(t, d.Err(), "9 exceeds the limit 8")

	d = codec.NewDecoder([]byte{1}, "x")
	d.Fail("track %d outside the catalog", 12)
	assert.ErrorContains(t, d.Finish(), "x: track 12 outside the catalog")
}

// A damaged count cannot make a decoder allocate more than its input.
func TestCountBounded(t *testing.T) {
	var e codec.Encoder
	e.Uint(1 << 40)
	e.Byte(0)
	d := codec.NewDecoder(e.Data(), "x")
	assert.Zero(t, d.Count())
	assert.ErrorContains(t, d.Err(), "1099511627776 items in 1 bytes")

	d = codec.NewDecoder(e.Data(), "x")
	assert.Nil(t, d.Bytes())
	assert.Error(t, d.Err())
}

type point struct{ X, Y int }

func roundTrip[T any](t *testing.T, c codec.Codec[T], v T) T {
	t.Helper()
	var e codec.Encoder
	c.Append(&e, v)
	c.Append(&e, v)
	d := codec.NewDecoder(e.Data(), "x")
	got := c.Decode(d)
	assert.Equal(t, got, c.Decode(d))
	require.NoError(t, d.Finish())
	return got
}

func TestTypedCodecs(t *testing.T) {
	assert.Equal(t, "k", roundTrip(t, codec.For[string](), "k"))
	assert.Equal(t, []byte("k"), roundTrip(t, codec.For[[]byte](), []byte("k")))
	assert.Equal(t, -3, roundTrip(t, codec.For[int](), -3))
	assert.Equal(t, int64(-3), roundTrip(t, codec.For[int64](), -3))
	assert.Equal(t, uint64(3), roundTrip(t, codec.For[uint64](), 3))
	assert.Equal(t, 2.5, roundTrip(t, codec.For[float64](), 2.5))
	assert.True(t, roundTrip(t, codec.For[bool](), true))
	assert.Equal(t, point{1, 2}, roundTrip(t, codec.For[point](), point{1, 2}), "gob fallback")
	assert.Equal(t, point{1, 2}, roundTrip(t, codec.Gob[point](), point{1, 2}))

	h, err := sketch.NewHLL()
	require.NoError(t, err)
	h.AddString("a")
	h.AddString("b")
	got := roundTrip(t, codec.For[sketch.HLL](), *h)
	assert.Equal(t, h.Estimate(), got.Estimate(), "BinaryMarshaler types use their own encoding")
	got = roundTrip(t, codec.Binary[sketch.HLL](), *h)
	assert.Equal(t, h.Estimate(), got.Estimate())
	// A pointer to a BinaryMarshaler (a pointer accumulator) uses its
	// encoding too, nil included; gob would fail on such a type.
	ptr := codec.For[*sketch.HLL]()
	back := roundTrip(t, ptr, h)
	require.NotNil(t, back)
	assert.NotSame(t, h, back)
	assert.Equal(t, h.Estimate(), back.Estimate())
	assert.Nil(t, roundTrip(t, ptr, (*sketch.HLL)(nil)))
	var pe, ve codec.Encoder
	ptr.Append(&pe, h)
	codec.For[sketch.HLL]().Append(&ve, *h)
	assert.Equal(t, ve.Len()+1, pe.Len(), "one presence byte more than the value's encoding")
	d0 := codec.NewDecoder([]byte{1, 2, 0xff, 0xff}, "x")
	ptr.Decode(d0)
	assert.ErrorIs(t, d0.Err(), codec.ErrCorrupt, "bad sketch bytes are corrupt state")

	// The built-in codecs are compact: a small int64 is one byte, where gob
	// spends a type description on every value.
	var small, big codec.Encoder
	codec.Int64().Append(&small, 3)
	codec.Gob[int64]().Append(&big, 3)
	assert.Equal(t, 1, small.Len())
	assert.Greater(t, big.Len(), 3)

	d := codec.NewDecoder([]byte{3, 1, 2, 3}, "x")
	codec.Gob[point]().Decode(d)
	assert.True(t, errors.Is(d.Err(), codec.ErrCorrupt), "bad gob bytes are corrupt state")
}

// FuzzDecoder reads arbitrary bytes as a sequence of every kind of field:
// no input panics or over-allocates, and a problem is always reported by
// Finish.
func FuzzDecoder(f *testing.F) {
	var e codec.Encoder
	e.Byte(1)
	e.Bool(true)
	e.Int(-5)
	e.Uint(300)
	e.Fixed32(9)
	e.Fixed64(10)
	e.Float64(1.5)
	e.String("abc")
	e.Uint(2)
	e.Bytes([]byte{1})
	e.Bytes([]byte{2})
	f.Add(e.Data())
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := codec.NewDecoder(data, "fuzz")
		d.Version(1)
		d.Bool()
		d.Int()
		d.Uint()
		d.Fixed32()
		d.Fixed64()
		d.Float64()
		if s := d.String(); len(s) > len(data) {
			t.Fatalf("string of %d bytes from %d", len(s), len(data))
		}
		n := d.Count()
		if n > len(data) {
			t.Fatalf("count %d from %d bytes", n, len(data))
		}
		for range n {
			d.Bytes()
		}
		err := d.Finish()
		if err == nil {
			// What decoded without a problem encodes back to the same bytes.
			assert.Zero(t, d.Remaining())
			return
		}
		if !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

func Example() {
	// A snapshotter's state: a version byte, then a count and the entries.
	counts := map[string]int64{"a": 2}
	var e codec.Encoder
	e.Byte(1)
	e.Uint(uint64(len(counts)))
	for k, v := range counts {
		e.String(k)
		e.Int(v)
	}

	d := codec.NewDecoder(e.Data(), "counter state")
	d.Version(1)
	restored := map[string]int64{}
	for n := d.Count(); n > 0; n-- {
		k := d.String()
		restored[k] = d.Int()
	}
	fmt.Println(restored, d.Finish())

	d = codec.NewDecoder(e.Data()[:3], "counter state")
	d.Version(1)
	d.Count()
	_ = d.String()
	fmt.Println(d.Finish())
	// Output:
	// map[a:2] <nil>
	// stream: corrupt checkpoint: counter state: 1 items in 0 bytes
}
