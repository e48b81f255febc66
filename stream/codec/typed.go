package codec

import (
	"bytes"
	"encoding"
	"encoding/gob"
	"reflect"
)

// Codec encodes values of type T: typed keyed state and user snapshotters
// use it. Append appends v's encoding to e; Decode reads one value back,
// recording a problem in d (and returning the zero value) if it cannot.
// Implementations must be safe for concurrent use.
type Codec[T any] interface {
	Append(e *Encoder, v T)
	Decode(d *Decoder) T
}

type funcCodec[T any] struct {
	enc func(*Encoder, T)
	dec func(*Decoder) T
}

func (c funcCodec[T]) Append(e *Encoder, v T) { c.enc(e, v) }
func (c funcCodec[T]) Decode(d *Decoder) T    { return c.dec(d) }

// Of returns the Codec made of enc and dec.
func Of[T any](enc func(*Encoder, T), dec func(*Decoder) T) Codec[T] {
	return funcCodec[T]{enc: enc, dec: dec}
}

// String is the codec of strings: length-prefixed bytes.
func String() Codec[string] { return Of((*Encoder).String, (*Decoder).String) }

// Bytes is the codec of byte strings; decoded values are copies.
func Bytes() Codec[[]byte] {
	return Of((*Encoder).Bytes, func(d *Decoder) []byte { return bytes.Clone(d.Bytes()) })
}

// Int64 is the codec of int64: a zig-zag varint.
func Int64() Codec[int64] { return Of((*Encoder).Int, (*Decoder).Int) }

// Uint64 is the codec of uint64: a varint.
func Uint64() Codec[uint64] { return Of((*Encoder).Uint, (*Decoder).Uint) }

// Int is the codec of int: a zig-zag varint.
func Int() Codec[int] {
	return Of(func(e *Encoder, v int) { e.Int(int64(v)) }, func(d *Decoder) int { return int(d.Int()) })
}

// Float64 is the codec of float64: eight bytes of IEEE 754 bits.
func Float64() Codec[float64] { return Of((*Encoder).Float64, (*Decoder).Float64) }

// Bool is the codec of bool: one byte.
func Bool() Codec[bool] { return Of((*Encoder).Bool, (*Decoder).Bool) }

// Binary is the codec of a type whose pointer implements
// encoding.BinaryMarshaler and encoding.BinaryUnmarshaler (the sketches of
// package sketch, say): its MarshalBinary bytes, length-prefixed.
func Binary[T any, P interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}]() Codec[T] {
	return Of(func(e *Encoder, v T) {
		b, err := P(&v).MarshalBinary()
		if err != nil {
			panic("codec: MarshalBinary: " + err.Error()) // a marshaler of state must not fail
		}
		e.Bytes(b)
	}, func(d *Decoder) T {
		var v T
		b := d.Bytes()
		if d.Err() != nil {
			return v
		}
		if err := P(&v).UnmarshalBinary(b); err != nil {
			d.Fail("%v", err)
		}
		return v
	})
}

// Gob is the fallback codec for types that give no codec of their own: each
// value is an encoding/gob stream of its own, length-prefixed (with its type
// description, so it is large and slow next to the other codecs). T must be
// gob-encodable; a value that is not panics in Append.
func Gob[T any]() Codec[T] {
	return Of(func(e *Encoder, v T) {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
			panic("codec: gob: " + err.Error())
		}
		e.Bytes(buf.Bytes())
	}, func(d *Decoder) T {
		var v T
		b := d.Bytes()
		if d.Err() != nil {
			return v
		}
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
			d.Fail("gob: %v", err)
		}
		return v
	})
}

// For returns a codec for T: the built-in one for string, []byte, int,
// int64, uint64, float64 and bool, [Binary] if *T implements
// encoding.BinaryMarshaler and encoding.BinaryUnmarshaler, a pointer codec
// if T is a pointer type implementing both (a presence byte, then the
// pointee's MarshalBinary bytes: pointer accumulators such as
// *MyStats), and [Gob] otherwise.
func For[T any]() Codec[T] {
	var zero T
	var c any
	switch any(zero).(type) {
	case string:
		c = String()
	case []byte:
		c = Bytes()
	case int:
		c = Int()
	case int64:
		c = Int64()
	case uint64:
		c = Uint64()
	case float64:
		c = Float64()
	case bool:
		c = Bool()
	default:
		if _, ok := any(&zero).(interface {
			encoding.BinaryMarshaler
			encoding.BinaryUnmarshaler
		}); ok && reflect.TypeFor[T]().Kind() != reflect.Interface {
			return binaryOf[T]()
		}
		if _, ok := any(zero).(bm); ok && reflect.TypeFor[T]().Kind() == reflect.Pointer {
			return pointerOf[T]()
		}
		return Gob[T]()
	}
	return c.(Codec[T])
}

type bm = interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// pointerOf is the codec of a pointer type T whose values marshal
// themselves: false for nil, else true and the bytes.
func pointerOf[T any]() Codec[T] {
	elem := reflect.TypeFor[T]().Elem()
	return Of(func(e *Encoder, v T) {
		if reflect.ValueOf(v).IsNil() {
			e.Bool(false)
			return
		}
		b, err := any(v).(bm).MarshalBinary()
		if err != nil {
			panic("codec: MarshalBinary: " + err.Error())
		}
		e.Bool(true)
		e.Bytes(b)
	}, func(d *Decoder) T {
		var v T
		if !d.Bool() {
			return v
		}
		b := d.Bytes()
		if d.Err() != nil {
			return v
		}
		v = reflect.New(elem).Interface().(T)
		if err := any(v).(bm).UnmarshalBinary(b); err != nil {
			d.Fail("%v", err)
		}
		return v
	})
}

// binaryOf is Binary for a T known, at run time, to qualify.
func binaryOf[T any]() Codec[T] {
	return Of(func(e *Encoder, v T) {
		b, err := any(&v).(bm).MarshalBinary()
		if err != nil {
			panic("codec: MarshalBinary: " + err.Error())
		}
		e.Bytes(b)
	}, func(d *Decoder) T {
		var v T
		b := d.Bytes()
		if d.Err() != nil {
			return v
		}
		if err := any(&v).(bm).UnmarshalBinary(b); err != nil {
			d.Fail("%v", err)
		}
		return v
	})
}
