package gguf

import (
	"fmt"
	"reflect"
)

// Value is one metadata value: a scalar, a string, or an array of scalars or strings.
// The zero Value is invalid. Build Values with the constructors (Uint32, String, Array, ...).
type Value struct {
	typ  ValueType
	elem ValueType // element type when typ == ValueArray
	v    any       // uint8 ... float64, bool, string, or a typed slice for arrays
}

// Uint8 returns a UINT8 value.
func Uint8(v uint8) Value { return Value{typ: ValueUint8, v: v} }

// Int8 returns an INT8 value.
func Int8(v int8) Value { return Value{typ: ValueInt8, v: v} }

// Uint16 returns a UINT16 value.
func Uint16(v uint16) Value { return Value{typ: ValueUint16, v: v} }

// Int16 returns an INT16 value.
func Int16(v int16) Value { return Value{typ: ValueInt16, v: v} }

// Uint32 returns a UINT32 value.
func Uint32(v uint32) Value { return Value{typ: ValueUint32, v: v} }

// Int32 returns an INT32 value.
func Int32(v int32) Value { return Value{typ: ValueInt32, v: v} }

// Float32 returns a FLOAT32 value.
func Float32(v float32) Value { return Value{typ: ValueFloat32, v: v} }

// Bool returns a BOOL value.
func Bool(v bool) Value { return Value{typ: ValueBool, v: v} }

// String returns a STRING value.
func String(v string) Value { return Value{typ: ValueString, v: v} }

// Uint64 returns a UINT64 value.
func Uint64(v uint64) Value { return Value{typ: ValueUint64, v: v} }

// Int64 returns an INT64 value.
func Int64(v int64) Value { return Value{typ: ValueInt64, v: v} }

// Float64 returns a FLOAT64 value.
func Float64(v float64) Value { return Value{typ: ValueFloat64, v: v} }

// Array returns an ARRAY value of elemType whose elements are elems, a slice of the matching Go type
// ([]uint8 for ValueUint8, ..., []bool, []string). The slice is not copied. A mismatched slice or a
// nested array (elemType == ValueArray) gives a Value that Writer.Add rejects.
func Array(elemType ValueType, elems any) Value {
	return Value{typ: ValueArray, elem: elemType, v: elems}
}

// Strings returns an ARRAY of STRING value.
func Strings(v []string) Value { return Array(ValueString, v) }

// Float32s returns an ARRAY of FLOAT32 value.
func Float32s(v []float32) Value { return Array(ValueFloat32, v) }

// Int32s returns an ARRAY of INT32 value.
func Int32s(v []int32) Value { return Array(ValueInt32, v) }

// Uint32s returns an ARRAY of UINT32 value.
func Uint32s(v []uint32) Value { return Array(ValueUint32, v) }

// Type returns the value's type (ValueArray for arrays).
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an array value; for other values it returns Type().
func (v Value) ElemType() ValueType {
	if v.typ == ValueArray {
		return v.elem
	}
	return v.typ
}

// Any returns the Go value: uint8 ... float64, bool or string for scalars, a typed slice
// ([]uint8 ... []float64, []bool, []string) for arrays. The slice is shared, not copied.
func (v Value) Any() any { return v.v }

// Len returns the number of elements of an array value, or 1 for a scalar.
func (v Value) Len() int {
	if v.typ != ValueArray {
		return 1
	}
	if v.v == nil {
		return 0
	}
	return reflect.ValueOf(v.v).Len()
}

// goTypes maps each scalar value type to the Go type holding it.
var goTypes = [...]reflect.Type{
	ValueUint8: reflect.TypeFor[uint8](), ValueInt8: reflect.TypeFor[int8](),
	ValueUint16: reflect.TypeFor[uint16](), ValueInt16: reflect.TypeFor[int16](),
	ValueUint32: reflect.TypeFor[uint32](), ValueInt32: reflect.TypeFor[int32](),
	ValueFloat32: reflect.TypeFor[float32](), ValueBool: reflect.TypeFor[bool](),
	ValueString: reflect.TypeFor[string](), ValueArray: nil,
	ValueUint64: reflect.TypeFor[uint64](), ValueInt64: reflect.TypeFor[int64](),
	ValueFloat64: reflect.TypeFor[float64](),
}

// check reports why v cannot be written, or nil.
func (v Value) check() error {
	if !v.typ.valid() {
		return fmt.Errorf("gguf: invalid value type %v", v.typ)
	}
	if v.typ != ValueArray {
		if v.v == nil || reflect.TypeOf(v.v) != goTypes[v.typ] {
			return fmt.Errorf("gguf: %v value holds %T", v.typ, v.v)
		}
		return nil
	}
	if v.elem == ValueArray {
		return fmt.Errorf("gguf: nested arrays are not supported by ggml")
	}
	if !v.elem.valid() {
		return fmt.Errorf("gguf: invalid array element type %v", v.elem)
	}
	if v.v == nil {
		return fmt.Errorf("gguf: array of %v has nil elements", v.elem)
	}
	if t := reflect.TypeOf(v.v); t.Kind() != reflect.Slice || t.Elem() != goTypes[v.elem] {
		return fmt.Errorf("gguf: array of %v holds %T", v.elem, v.v)
	}
	if v.Len() > MaxArrayLength {
		return fmt.Errorf("gguf: array of %d elements exceeds %d: %w", v.Len(), MaxArrayLength, ErrTooLarge)
	}
	return nil
}

// String formats the value for humans: scalars as Go prints them, strings quoted, arrays in full.
func (v Value) String() string {
	if v.typ == ValueString {
		return fmt.Sprintf("%q", v.v)
	}
	if ss, ok := v.v.([]string); ok {
		return fmt.Sprintf("%q", ss)
	}
	return fmt.Sprint(v.v)
}
