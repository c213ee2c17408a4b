package simd

// A tiny WebAssembly binary assembler: just the opcodes the kernels use.
// Encodings follow the WebAssembly core spec (binary format, §5) and the
// fixed-width and relaxed SIMD proposals.
//
// The emit methods are go:noinline: inlined into the hundreds of call sites
// of the generator they cost about 320 KB of Go wasm; as calls, about 70 KB
// (measured with -ldflags=-s -w).

// Value types.
const (
	i32  byte = 0x7f
	f32  byte = 0x7d
	f64  byte = 0x7c
	v128 byte = 0x7b
)

// Opcodes (single byte).
const (
	opBlock    = 0x02
	opLoop     = 0x03
	opIf       = 0x04
	opElse     = 0x05
	opEnd      = 0x0b
	opBr       = 0x0c
	opBrIf     = 0x0d
	opReturn   = 0x0f
	opSelect   = 0x1b
	opLocalGet = 0x20
	opLocalSet = 0x21
	opLocalTee = 0x22
	opF32Load  = 0x2a
	opF64Load  = 0x2b
	opI32Load  = 0x28
	opF32Store = 0x38
	opF64Store = 0x39
	opI32Const = 0x41
	opF32Const = 0x43
	opF64Const = 0x44
	opI32Eqz   = 0x45
	opI32Eq    = 0x46
	opI32Ne    = 0x47
	opI32LtS   = 0x48
	opI32GtS   = 0x4a
	opI32GeS   = 0x4e
	opF32Eq    = 0x5b
	opF32Ne    = 0x5c
	opF32Ge    = 0x60
	opI32Add   = 0x6a
	opI32Sub   = 0x6b
	opI32Mul   = 0x6c
	opI32DivU  = 0x6e
	opI32And   = 0x71
	opI32Or    = 0x72
	opI32Shl   = 0x74
	opI32ShrU  = 0x76
	opF32Add   = 0x92
	opF32Sub   = 0x93
	opF32Mul   = 0x94
	opF32Div   = 0x95
	opF32Min   = 0x96
	opF32Max   = 0x97
	opF64Sqrt  = 0x9f
	opF64Add   = 0xa0
	opF64Div   = 0xa3
	opF32CvtI  = 0xb2 // f32.convert_i32_s
	opF32Demot = 0xb6 // f32.demote_f64
	opF64CvtI  = 0xb7 // f64.convert_i32_s
	opF64Prom  = 0xbb // f64.promote_f32
	opMisc     = 0xfc // prefix of memory.fill (11)
	blockVoid  = 0x40
	simdPrefix = 0xfd
)

// SIMD opcodes (after the 0xfd prefix, LEB128).
const (
	simdLoad       = 0x00
	simdLoad32Spl  = 0x09
	simdStore      = 0x0b
	simdConst      = 0x0c
	simdShuffle    = 0x0d
	simdI32x4Splat = 0x11
	simdF32x4Splat = 0x13
	simdF32x4Lane  = 0x1f // f32x4.extract_lane
	simdF64x2Lane  = 0x21 // f64x2.extract_lane
	simdF32x4Ne    = 0x42
	simdF32x4Le    = 0x45
	simdF32x4Ge    = 0x46
	simdAnd        = 0x4e
	simdOr         = 0x50
	simdBitselect  = 0x52
	simdAnyTrue    = 0x53
	simdF64x2Prom  = 0x5f // f64x2.promote_low_f32x4
	simdAllTrue    = 0xa3 // i32x4.all_true
	simdI32x4Shl   = 0xab
	simdI32x4Sub   = 0xb1
	simdF32x4Neg   = 0xe1
	simdF32x4Add   = 0xe4
	simdF32x4Sub   = 0xe5
	simdF32x4Mul   = 0xe6
	simdF32x4Div   = 0xe7
	simdF32x4Pmin  = 0xea
	simdF32x4Pmax  = 0xeb
	simdF64x2Add   = 0xf0
	simdRelaxMadd  = 0x105 // f32x4.relaxed_madd(a, b, c) = a·b + c
)

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// fn accumulates one function body. Locals are numbered after the params.
type fn struct {
	params  []byte
	locals  []byte // types of the declared locals, in index order
	code    []byte
	relaxed bool // use f32x4.relaxed_madd for a·b + c
}

func newFn(params ...byte) *fn { return &fn{params: params} }

// local declares a new local of type t and returns its index.
//
//go:noinline
func (f *fn) local(t byte) uint32 {
	f.locals = append(f.locals, t)
	return uint32(len(f.params) + len(f.locals) - 1)
}

//go:noinline
func (f *fn) op(b ...byte) *fn { f.code = append(f.code, b...); return f }

//go:noinline
func (f *fn) get(l uint32) *fn { f.op(opLocalGet); f.code = uleb(f.code, uint64(l)); return f }

//go:noinline
func (f *fn) set(l uint32) *fn { f.op(opLocalSet); f.code = uleb(f.code, uint64(l)); return f }

//go:noinline
func (f *fn) tee(l uint32) *fn { f.op(opLocalTee); f.code = uleb(f.code, uint64(l)); return f }

//go:noinline
func (f *fn) i32c(v int32) *fn { f.op(opI32Const); f.code = sleb(f.code, int64(v)); return f }

//go:noinline
func (f *fn) f32c0() *fn { return f.op(opF32Const, 0, 0, 0, 0) }

//go:noinline
func (f *fn) simd(op uint32) *fn {
	f.op(simdPrefix)
	f.code = uleb(f.code, uint64(op))
	return f
}

// memarg appends alignment (log2) and offset.
//
//go:noinline
func (f *fn) memarg(align, off uint32) *fn {
	f.code = uleb(f.code, uint64(align))
	f.code = uleb(f.code, uint64(off))
	return f
}

//go:noinline
func (f *fn) v128load(off uint32) *fn { return f.simd(simdLoad).memarg(2, off) }

//go:noinline
func (f *fn) v128store(off uint32) *fn { return f.simd(simdStore).memarg(2, off) }

//go:noinline
func (f *fn) splatLoad(off uint32) *fn { return f.simd(simdLoad32Spl).memarg(2, off) }

//go:noinline
func (f *fn) f32load(off uint32) *fn { f.op(opF32Load); return f.memarg(2, off) }

//go:noinline
func (f *fn) f32store(off uint32) *fn { f.op(opF32Store); return f.memarg(2, off) }

//go:noinline
func (f *fn) v128zero() *fn {
	f.simd(simdConst)
	f.code = append(f.code, make([]byte, 16)...)
	return f
}

// addLocal emits l += v for i32 locals (v another local).
//
//go:noinline
func (f *fn) addLocal(l, v uint32) *fn { return f.get(l).get(v).op(opI32Add).set(l) }

// addConst emits l += c.
//
//go:noinline
func (f *fn) addConst(l uint32, c int32) *fn { return f.get(l).i32c(c).op(opI32Add).set(l) }

// madd emits acc = acc + x·y where x and y are already on the stack as
// "x y": the caller pushes x, y; madd pushes acc and combines.
//
//go:noinline
func (f *fn) maddInto(acc uint32, x, y func()) *fn {
	if f.relaxed {
		x()
		y()
		f.get(acc).simd(simdRelaxMadd).set(acc)
		return f
	}
	f.get(acc)
	x()
	y()
	return f.simd(simdF32x4Mul).simd(simdF32x4Add).set(acc)
}

// body returns the encoded function body (locals + code + end).
//
//go:noinline
func (f *fn) body() []byte {
	var b []byte
	// group consecutive locals of one type
	var groups [][2]uint32
	for _, t := range f.locals {
		if n := len(groups); n > 0 && groups[n-1][1] == uint32(t) {
			groups[n-1][0]++
			continue
		}
		groups = append(groups, [2]uint32{1, uint32(t)})
	}
	b = uleb(b, uint64(len(groups)))
	for _, g := range groups {
		b = uleb(b, uint64(g[0]))
		b = append(b, byte(g[1]))
	}
	b = append(b, f.code...)
	b = append(b, opEnd)
	return append(uleb(nil, uint64(len(b))), b...)
}
