package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ValueType is the type tag of a metadata value.
type ValueType uint32

// The metadata value types of the GGUF specification.
const (
	Uint8   ValueType = 0
	Int8    ValueType = 1
	Uint16  ValueType = 2
	Int16   ValueType = 3
	Uint32  ValueType = 4
	Int32   ValueType = 5
	Float32 ValueType = 6
	Bool    ValueType = 7
	String  ValueType = 8
	Array   ValueType = 9
	Uint64  ValueType = 10
	Int64   ValueType = 11
	Float64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the type's name ("uint32", "string", ...).
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("value_type(%d)", uint32(t))
}

// size is the encoded size of one scalar of type t (0 for strings and
// arrays, whose size varies).
func (t ValueType) size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Int32, Float32:
		return 4
	case Uint64, Int64, Float64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes one value of type t can take in a file: what
// bounds an array's length by the bytes that remain.
func (t ValueType) minSize() int {
	switch t {
	case String:
		return 8 // the length
	case Array:
		return 12 // element type and length
	}
	return t.size()
}

func (t ValueType) integer() bool { return t.size() > 0 && t != Float32 && t != Float64 && t != Bool }

func (t ValueType) signed() bool { return t == Int8 || t == Int16 || t == Int32 || t == Int64 }

// Value is one metadata value. Scalars are held in their own type; arrays
// of numbers keep their little-endian bytes (so a million-element array
// costs no more memory than the file), arrays of strings a []string, and
// arrays of arrays a []Value.
type Value struct {
	typ  ValueType
	bits uint64 // integer, bool (0/1) or float bits of a scalar
	str  string

	elem ValueType // arrays: the element type
	n    int       // arrays: the length
	raw  []byte    // arrays of numbers and bools: n * elem.size() bytes
	strs []string  // arrays of strings
	arrs []Value   // arrays of arrays
}

// Type returns the value's type.
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an array.
func (v Value) ElemType() ValueType { return v.elem }

// Len returns an array's length (0 for scalars).
func (v Value) Len() int { return v.n }

// Constructors for the writer.

// StringValue is a string value.
func StringValue(s string) Value { return Value{typ: String, str: s} }

// Uint32Value is a uint32 value.
func Uint32Value(x uint32) Value { return Value{typ: Uint32, bits: uint64(x)} }

// Int32Value is an int32 value.
func Int32Value(x int32) Value { return Value{typ: Int32, bits: uint64(int64(x))} }

// Uint64Value is a uint64 value.
func Uint64Value(x uint64) Value { return Value{typ: Uint64, bits: x} }

// Float32Value is a float32 value.
func Float32Value(x float32) Value { return Value{typ: Float32, bits: uint64(math.Float32bits(x))} }

// BoolValue is a bool value.
func BoolValue(b bool) Value {
	v := Value{typ: Bool}
	if b {
		v.bits = 1
	}
	return v
}

// StringsValue is an array of strings.
func StringsValue(s []string) Value { return Value{typ: Array, elem: String, n: len(s), strs: s} }

// Int32sValue is an array of int32.
func Int32sValue(xs []int32) Value {
	raw := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Value{typ: Array, elem: Int32, n: len(xs), raw: raw}
}

// ArraysValue is an array of arrays.
func ArraysValue(elems []Value) Value {
	return Value{typ: Array, elem: Array, n: len(elems), arrs: elems}
}

// Accessors. Each fails with ErrWrongType when the value has another type.

func (v Value) wrong(want string) error {
	got := v.typ.String()
	if v.typ == Array {
		got = "array of " + v.elem.String()
	}
	return fmt.Errorf("%w: %s, want %s", ErrWrongType, got, want)
}

// AsString returns a string value.
func (v Value) AsString() (string, error) {
	if v.typ != String {
		return "", v.wrong("string")
	}
	return v.str, nil
}

// AsUint returns an integer value of any width that is not negative.
func (v Value) AsUint() (uint64, error) {
	if !v.typ.integer() {
		return 0, v.wrong("an integer")
	}
	x := signExtend(v.typ, v.bits)
	if v.typ.signed() && int64(x) < 0 {
		return 0, fmt.Errorf("%w: %d is negative", ErrWrongType, int64(x))
	}
	return x, nil
}

// AsInt returns an integer value of any width that fits an int64.
func (v Value) AsInt() (int64, error) {
	if !v.typ.integer() {
		return 0, v.wrong("an integer")
	}
	x := signExtend(v.typ, v.bits)
	if !v.typ.signed() && x > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %d does not fit an int64", ErrWrongType, x)
	}
	return int64(x), nil
}

// AsFloat returns a float32 or float64 value.
func (v Value) AsFloat() (float64, error) {
	switch v.typ {
	case Float32:
		return float64(math.Float32frombits(uint32(v.bits))), nil
	case Float64:
		return math.Float64frombits(v.bits), nil
	}
	return 0, v.wrong("a float")
}

// AsBool returns a bool value.
func (v Value) AsBool() (bool, error) {
	if v.typ != Bool {
		return false, v.wrong("bool")
	}
	return v.bits != 0, nil
}

// AsStrings returns an array of strings. The slice is the Value's own: do
// not modify it.
func (v Value) AsStrings() ([]string, error) {
	if v.typ != Array || v.elem != String {
		return nil, v.wrong("array of string")
	}
	return v.strs, nil
}

// AsInts returns an array of integers of any width as int64s (unsigned
// 64-bit elements above the int64 range are an error).
func (v Value) AsInts() ([]int64, error) {
	if v.typ != Array || !v.elem.integer() {
		return nil, v.wrong("array of integers")
	}
	size := v.elem.size()
	out := make([]int64, v.n)
	for i := range out {
		x := signExtend(v.elem, readUint(v.raw[i*size:], size))
		if !v.elem.signed() && x > math.MaxInt64 {
			return nil, fmt.Errorf("%w: element %d = %d does not fit an int64", ErrWrongType, i, x)
		}
		out[i] = int64(x)
	}
	return out, nil
}

// AsFloats returns an array of float32 or float64 as float64s.
func (v Value) AsFloats() ([]float64, error) {
	if v.typ != Array || (v.elem != Float32 && v.elem != Float64) {
		return nil, v.wrong("array of floats")
	}
	out := make([]float64, v.n)
	for i := range out {
		if v.elem == Float32 {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(v.raw[4*i:])))
		} else {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(v.raw[8*i:]))
		}
	}
	return out, nil
}

// AsArrays returns the elements of an array of arrays.
func (v Value) AsArrays() ([]Value, error) {
	if v.typ != Array || v.elem != Array {
		return nil, v.wrong("array of arrays")
	}
	return v.arrs, nil
}

// readUint reads a little-endian unsigned integer of size bytes.
func readUint(b []byte, size int) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// signExtend widens the bits of a signed integer type to 64 bits.
func signExtend(t ValueType, x uint64) uint64 {
	switch t {
	case Int8:
		return uint64(int64(int8(x)))
	case Int16:
		return uint64(int64(int16(x)))
	case Int32:
		return uint64(int64(int32(x)))
	}
	return x
}
