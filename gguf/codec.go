package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// CanEncode reports whether Encode supports t (F32, F16, BF16, Q8_0, Q4_0).
func CanEncode(t TensorType) bool {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0:
		return true
	}
	return false
}

// CanDecode reports whether Decode supports t.
func CanDecode(t TensorType) bool {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeF64, TypeI8, TypeI16, TypeI32,
		TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ4_K, TypeQ5_K, TypeQ6_K:
		return true
	}
	return false
}

// Encode converts src to the bytes of type typ (F32, F16, BF16, Q8_0 or Q4_0), bit-exact with ggml's
// reference conversions (quantize_row_q8_0_ref, quantize_row_q4_0_ref). len(src) must be a multiple
// of the block size.
func Encode(typ TensorType, src []float32) ([]byte, error) {
	if !CanEncode(typ) {
		return nil, fmt.Errorf("gguf: encoding %v: %w", typ, ErrUnsupported)
	}
	bs, ts := typ.BlockSize(), typ.TypeSize()
	if len(src)%bs != 0 {
		return nil, fmt.Errorf("gguf: encoding %v: %d values are not whole blocks of %d: %w", typ, len(src), bs, ErrFormat)
	}
	dst := make([]byte, len(src)/bs*ts)
	switch typ {
	case TypeF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case TypeF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToFloat16(v))
		}
	case TypeBF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToBFloat16(v))
		}
	case TypeQ8_0:
		for b := 0; b < len(src)/bs; b++ {
			quantizeQ8_0(dst[b*ts:(b+1)*ts], src[b*bs:(b+1)*bs])
		}
	case TypeQ4_0:
		for b := 0; b < len(src)/bs; b++ {
			quantizeQ4_0(dst[b*ts:(b+1)*ts], src[b*bs:(b+1)*bs])
		}
	}
	return dst, nil
}

// Decode converts src, whole blocks of type typ, to float32 values in dst, which must hold exactly
// len(src)/TypeSize*BlockSize values. Supported: see CanDecode.
func Decode(typ TensorType, dst []float32, src []byte) error {
	if !CanDecode(typ) {
		return fmt.Errorf("gguf: decoding %v: %w", typ, ErrUnsupported)
	}
	bs, ts := typ.BlockSize(), typ.TypeSize()
	if len(src)%ts != 0 || len(dst) != len(src)/ts*bs {
		return fmt.Errorf("gguf: decoding %v: %d bytes into %d values: %w", typ, len(src), len(dst), ErrFormat)
	}
	switch typ {
	case TypeF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case TypeF16:
		tab := f16Table()
		for i := range dst {
			dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case TypeBF16:
		for i := range dst {
			dst[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case TypeF64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	case TypeI8:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	case TypeI16:
		for i := range dst {
			dst[i] = float32(int16(binary.LittleEndian.Uint16(src[2*i:])))
		}
	case TypeI32:
		for i := range dst {
			dst[i] = float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	default:
		dec := blockDecoders[typ]
		for b := 0; b < len(src)/ts; b++ {
			dec(dst[b*bs:(b+1)*bs], src[b*ts:(b+1)*ts])
		}
	}
	return nil
}

// BlockDecoder returns a decoder of whole blocks of type t (F16, BF16 or a
// quantized type Decode supports; nil otherwise): it converts len(src)/
// TypeSize blocks into dst exactly as Decode does, without Decode's checks
// and lookups, for callers that decode many small runs of blocks (a
// column slice of every row of a matrix) and checked the sizes once.
// dst must hold len(src)/TypeSize·BlockSize values.
func BlockDecoder(t TensorType) func(dst []float32, src []byte) {
	switch t {
	case TypeF16:
		tab := f16Table()
		return func(dst []float32, src []byte) {
			dst = dst[:len(src)/2]
			for i := range dst {
				dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
			}
		}
	case TypeBF16:
		return func(dst []float32, src []byte) {
			dst = dst[:len(src)/2]
			for i := range dst {
				dst[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		}
	case TypeQ8_0: // the common type of small models: one loop, the scale from the table
		tab := f16Table()
		return func(dst []float32, src []byte) {
			for b := 0; b+34 <= len(src); b += 34 {
				d := tab[binary.LittleEndian.Uint16(src[b:])]
				q, y := src[b+2:b+34], dst[b/34*32:][:32]
				for j, v := range q {
					y[j] = float32(int8(v)) * d
				}
			}
		}
	}
	dec, ok := blockDecoders[t]
	if !ok {
		return nil
	}
	bs, ts := t.BlockSize(), t.TypeSize()
	return func(dst []float32, src []byte) {
		for b := 0; b < len(src)/ts; b++ {
			dec(dst[b*bs:(b+1)*bs], src[b*ts:(b+1)*ts])
		}
	}
}

// blockDecoders decode one block of a quantized type: dst holds BlockSize values, src TypeSize bytes.
var blockDecoders = map[TensorType]func(dst []float32, src []byte){
	TypeQ8_0: dequantQ8_0, TypeQ4_0: dequantQ4_0, TypeQ4_1: dequantQ4_1,
	TypeQ5_0: dequantQ5_0, TypeQ5_1: dequantQ5_1,
	TypeQ4_K: dequantQ4_K, TypeQ5_K: dequantQ5_K, TypeQ6_K: dequantQ6_K,
}

// quantizeQ8_0 follows quantize_row_q8_0_ref: d = max|x|/127 stored as fp16, q = roundf(x/d)
// (half away from zero, computed as x*(1/d) in float32).
func quantizeQ8_0(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, Float32ToFloat16(d))
	for j, v := range x {
		dst[2+j] = byte(int8(math.Round(float64(v * id))))
	}
}

// quantizeQ4_0 follows quantize_row_q4_0_ref: m = the value of largest magnitude (first wins),
// d = m/-8 stored as fp16, q = min(15, trunc(x/d + 8.5)); byte j holds element j in its low nibble
// and element j+16 in its high nibble.
func quantizeQ4_0(dst []byte, x []float32) {
	var amax, m float32
	for _, v := range x {
		if amax < abs32(v) {
			amax, m = abs32(v), v
		}
	}
	d := m / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, Float32ToFloat16(d))
	q := func(v float32) byte {
		// float32(...) keeps the product rounded on its own (no fused multiply-add), as in C.
		return byte(min(15, int8(float32(v*id)+8.5)))
	}
	for j := 0; j < 16; j++ {
		dst[2+j] = q(x[j]) | q(x[j+16])<<4
	}
}

func dequantQ8_0(dst []float32, src []byte) {
	d := Float16ToFloat32(binary.LittleEndian.Uint16(src))
	q, y := src[2:34], dst[:32] // fixed lengths: no bounds checks in the loop
	for j, v := range q {
		y[j] = float32(int8(v)) * d
	}
}

func dequantQ4_0(dst []float32, src []byte) {
	d := Float16ToFloat32(binary.LittleEndian.Uint16(src))
	for j := range 16 {
		b := src[2+j]
		dst[j] = float32(int(b&0x0F)-8) * d
		dst[j+16] = float32(int(b>>4)-8) * d
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// Float32ToFloat16 converts f to IEEE half precision, rounding to nearest even; overflow gives
// ±Inf and NaN gives a quiet NaN (0x7E00 with f's sign), as ggml's GGML_FP32_TO_FP16.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	u := b & 0x7FFFFFFF
	if u >= 0x38800000 && u < 0x47800000 { // normal half range: branch-free round to nearest even
		u -= (127 - 15) << 23 // rebias the exponent
		return sign | uint16((u+0x0FFF+(u>>13)&1)>>13)
	}
	exp := int(u >> 23)
	mant := u & 0x7FFFFF
	switch {
	case exp == 0xFF && mant != 0:
		return sign | 0x7E00
	case exp >= 127+16: // too large (or Inf)
		return sign | 0x7C00
	case exp < 127-25: // below half the smallest subnormal: zero
		return sign
	}
	// Half subnormal: value = m * 2^-24 with m = full mantissa >> shift.
	m := mant | 0x800000
	shift := uint(126 - exp)
	h, rem, half := m>>shift, m&(1<<shift-1), uint32(1)<<(shift-1)
	if rem > half || (rem == half && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// Float16ToFloat32 converts an IEEE half to float32 exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h & 0x3FF)
	switch {
	case exp == 0x1F:
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant * 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

var (
	f16Once sync.Once
	f16Tab  *[1 << 16]float32
)

// f16Table returns a lookup table of all 65536 halves (256 KiB, built on first use).
func f16Table() *[1 << 16]float32 {
	f16Once.Do(func() {
		f16Tab = new([1 << 16]float32)
		for i := range f16Tab {
			f16Tab[i] = Float16ToFloat32(uint16(i))
		}
	})
	return f16Tab
}

// Float32ToBFloat16 converts f to bfloat16 rounding to nearest even; NaN stays a quiet NaN (ggml's
// GGML_FP32_TO_BF16).
func Float32ToBFloat16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7FFFFFFF > 0x7F800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + 0x7FFF + (u>>16)&1) >> 16)
}

// BFloat16ToFloat32 converts a bfloat16 to float32 exactly.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
