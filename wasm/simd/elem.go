package simd

import "math"

// The element-wise module: the non-matmul work of a llama training step
// (SwiGLU, the attention softmax and its backward, cross-entropy, RMSNorm)
// in f32x4, generated here like the sgemm module and instantiated with Go's
// memory. Each export handles a whole matrix (many rows) per call: a call
// from Go into the module costs about a microsecond.
//
// Exports (addresses and row strides in bytes, counts in floats; targets
// are Go ints, 8 bytes, negative = ignored row):
//
//	swiglu_fwd(out, gate, up, n) → special
//	    out = gate/(1+e^(−gate))·up
//	swiglu_bwd(dgate, dup, dout, gate, up, n) → special
//	    σ = 1/(1+e^(−gate)); dgate += dout·up·σ·(1+gate·(1−σ)); dup += dout·gate·σ
//	softmax_rows(a, rows, ld, len0, width) → done
//	    row r (len0+r floats at a+r·ld) = softmax, the rest up to width zeroed
//	softmax_bwd_rows(p, d, rows, ld, len0, cols, scale)
//	    d = p·(d − Σp·d)·scale on len0+r floats of row r, the rest up to cols zeroed
//	lse_rows(logits, rows, v, targets, lse, sums)
//	    lse[r] = max of row r, sums[r] (f64) = Σ e^(x−max); sums[r] = −1 marks
//	    a row left to the caller
//	ce_grad(d, logits, rows, v, lse, targets, dloss) → done
//	    d += dloss·e^(logits − lse[r]) on every counted row
//	rmsnorm_fwd(out, rstd, inp, weight, n, c, eps)
//	rmsnorm_bwd(dinp, dweight, dout, inp, weight, rstd, n, c) (dinp or dweight may be 0)
//
// Bit for bit: the exponential is Expf32's float32 operations in Expf32's
// order (Cephes expf: Cody–Waite reduction, degree-6 polynomial, 2^n built
// with i32x4 shifts), and every element-wise formula keeps the scalar Go
// kernels' operation order, with no fused multiply-add; so each element
// equals what llama's scalar float32 path computes. Only reductions change
// order: float64 sums (softmax, log-sum-exp, RMSNorm's sum of squares) run
// in four lanes, float32 dot products (RMSNorm backward, softmax backward)
// in four lanes plus the scalar tail.
//
// Exponent arguments outside [−87, 88] and NaN are left to Go, which uses
// math.Exp for them as the scalar kernels do: the element-wise exports leave
// such lanes' outputs unchanged (accumulations) or to be overwritten, and
// return special = 1 (swiglu) or the index of the row that has them (ce_grad:
// that row is otherwise done; softmax_rows: that row is untouched and the
// call stops there); lse_rows marks such rows with sums = −1. A softmax or
// log-sum-exp row is special when it holds a NaN or its minimum is more than
// 87 below its maximum (so ±Inf too); otherwise every exponent argument
// x − max lies in [−87, 0].

// Constants of Expf32 (Cephes expf); kernels/fast_js.go inlines the same.
const (
	expLog2e   = 1.44269504088896341
	expC1      = 0.693359375
	expC2      = -2.12194440e-4
	expShifter = 12582912 // 1.5·2²³: adding it rounds to an integer
	expP0      = 1.9875691500e-4
	expP1      = 1.3981999507e-3
	expP2      = 8.3334519073e-3
	expP3      = 4.1665795894e-2
	expP4      = 1.6666665459e-1
	expP5      = 5.0000001201e-1
	expLo      = -87
	expHi      = 88
)

// elemExport is one function of the element-wise module.
type elemExport struct {
	name    string
	g       *eg
	results []byte
}

// syncCompileLimit is the largest module browsers compile synchronously on
// the main thread (Chromium's limit was 4 KB for years).
const syncCompileLimit = 4096

// ElemModules returns the element-wise functions (see the exports above) as
// binary modules of at most syncCompileLimit bytes each, every one
// importing env.mem; their export names are distinct.
func ElemModules() [][]byte {
	fns := []elemExport{
		{"swiglu_fwd", swigluFwdFn(), []byte{i32}},
		{"swiglu_bwd", swigluBwdFn(), []byte{i32}},
		{"ce_grad", ceGradFn(), []byte{i32}},
		{"softmax_bwd_rows", softmaxBwdRowsFn(), nil},
		{"softmax_rows", softmaxRowsFn(), []byte{i32}},
		{"lse_rows", lseRowsFn(), nil},
		{"rmsnorm_fwd", rmsnormFwdFn(), nil},
		{"rmsnorm_bwd", rmsnormBwdFn(), nil},
		{"q8_0_rows", q80RowsFn(), nil}, // qdecode.go
	}
	var mods [][]byte
	for start := 0; start < len(fns); {
		end := start + 1
		for end < len(fns) && len(elemModule(fns[start:end+1])) <= syncCompileLimit {
			end++
		}
		mods = append(mods, elemModule(fns[start:end]))
		start = end
	}
	return mods
}

// elemModule assembles fns into one module.
func elemModule(fns []elemExport) []byte {
	b := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	types := uleb(nil, uint64(len(fns)))
	funcs := uleb(nil, uint64(len(fns)))
	exports := uleb(nil, uint64(len(fns)))
	code := uleb(nil, uint64(len(fns)))
	for i, f := range fns {
		types = append(types, 0x60)
		types = uleb(types, uint64(len(f.g.params)))
		types = append(types, f.g.params...)
		types = uleb(types, uint64(len(f.results)))
		types = append(types, f.results...)
		funcs = uleb(funcs, uint64(i))
		exports = uleb(exports, uint64(len(f.name)))
		exports = append(exports, f.name...)
		exports = append(exports, 0x00)
		exports = uleb(exports, uint64(i))
		code = append(code, f.g.body()...)
	}
	b = section(b, 1, types)
	b = section(b, 2, []byte{1, 3, 'e', 'n', 'v', 3, 'm', 'e', 'm', 0x02, 0x00, 0x00})
	b = section(b, 3, funcs)
	b = section(b, 7, exports)
	return section(b, 10, code)
}

// eg generates one element-wise function: fn plus the exponential's
// constants and temporaries (v128 locals).
type eg struct {
	*fn
	one, log2e, shifter, bias, c1, c2, lo, hi uint32
	poly                                      [6]uint32
	k, kf, r                                  uint32
}

func newEg(params ...byte) *eg { return &eg{fn: newFn(params...)} }

//go:noinline
func (g *fn) f32c(v float32) *fn {
	g.op(opF32Const)
	u := math.Float32bits(v)
	g.op(byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	return g
}

//go:noinline
func (g *fn) f64c(v float64) *fn {
	g.op(opF64Const)
	u := math.Float64bits(v)
	for i := range 8 {
		g.op(byte(u >> (8 * i)))
	}
	return g
}

// vconst declares a v128 local holding v in every f32 lane.
//
//go:noinline
func (g *fn) vconst(v float32) uint32 {
	l := g.local(v128)
	g.f32c(v).simd(simdF32x4Splat).set(l)
	return l
}

// lane pushes f32 lane i of v128 local v.
//
//go:noinline
func (g *fn) lane(v uint32, i byte) *fn {
	g.get(v).simd(simdF32x4Lane)
	return g.op(i)
}

// vop applies the v128 operation op to the two locals a and b.
//
//go:noinline
func (g *fn) vop(a, b uint32, op uint32) *fn { return g.get(a).get(b).simd(op) }

// expInit declares the exponential's constants and temporaries; call it
// first in a function that uses exp.
func (g *eg) expInit() {
	g.one = g.vconst(1)
	g.log2e = g.vconst(expLog2e)
	g.shifter = g.vconst(expShifter)
	g.bias = g.local(v128) // bits(shifter) − 127, per i32 lane
	g.i32c(int32(math.Float32bits(expShifter)) - 127).simd(simdI32x4Splat).set(g.bias)
	g.c1 = g.vconst(expC1)
	g.c2 = g.vconst(expC2)
	for i, c := range []float32{expP0, expP1, expP2, expP3, expP4, expP5} {
		g.poly[i] = g.vconst(c)
	}
	g.lo = g.vconst(expLo)
	g.hi = g.vconst(expHi)
	g.k, g.kf, g.r = g.local(v128), g.local(v128), g.local(v128)
}

// exp sets dst = e^x lane by lane with Expf32's operations in its order:
//
//	k = x·log2e + shifter; kf = k − shifter; r = x − kf·C1 − kf·C2
//	p = ((((P0·r+P1)·r+P2)·r+P3)·r+P4)·r+P5; p = p·r·r + r + 1
//	e = p · bits((bits(k) − bits(shifter) + 127) << 23)
//
// Exact for x in [−87, 88] (see inRange); other lanes hold garbage.
func (g *eg) exp(x, dst uint32) {
	g.vop(x, g.log2e, simdF32x4Mul).get(g.shifter).simd(simdF32x4Add).set(g.k)
	g.vop(g.k, g.shifter, simdF32x4Sub).set(g.kf)
	g.get(x).vop(g.kf, g.c1, simdF32x4Mul).simd(simdF32x4Sub)
	g.vop(g.kf, g.c2, simdF32x4Mul).simd(simdF32x4Sub).set(g.r)
	g.vop(g.poly[0], g.r, simdF32x4Mul).get(g.poly[1]).simd(simdF32x4Add)
	for i := 2; i < 6; i++ {
		g.get(g.r).simd(simdF32x4Mul).get(g.poly[i]).simd(simdF32x4Add)
	}
	g.get(g.r).simd(simdF32x4Mul).get(g.r).simd(simdF32x4Mul).get(g.r).simd(simdF32x4Add).get(g.one).simd(simdF32x4Add)
	g.vop(g.k, g.bias, simdI32x4Sub).i32c(23).simd(simdI32x4Shl).simd(simdF32x4Mul).set(dst)
}

// inRange sets ok to the lanes of x in [−87, 88] (false for NaN).
func (g *eg) inRange(x, ok uint32) {
	g.vop(x, g.lo, simdF32x4Ge).vop(x, g.hi, simdF32x4Le).simd(simdAnd).set(ok)
}

// vloop runs body over cnt floats (cnt, an i32 local, counts down to 0):
// f32x4 steps while at least 4 remain, then single floats splat over the
// lanes, so that one body serves both (its lanes are then all equal:
// reductions must take lane 0 only). Every pointer in ptrs advances by the
// step's bytes.
func (g *eg) vloop(cnt uint32, ptrs []uint32, body func(vec bool)) {
	for _, vec := range []bool{true, false} {
		w := int32(1)
		if vec {
			w = 4
		}
		g.op(opBlock, blockVoid, opLoop, blockVoid)
		g.get(cnt).i32c(w).op(opI32LtS).op(opBrIf, 1)
		body(vec)
		for _, p := range ptrs {
			g.addConst(p, 4*w)
		}
		g.addConst(cnt, -w)
		g.op(opBr, 0, opEnd, opEnd)
	}
}

// ld pushes the four floats at p, or the float at p in every lane.
func (g *eg) ld(p uint32, vec bool) {
	g.get(p)
	if vec {
		g.v128load(0)
		return
	}
	g.f32load(0).simd(simdF32x4Splat)
}

// st stores the v128 that val pushes to p (its lane 0 only when !vec).
func (g *eg) st(p uint32, vec bool, val func()) {
	g.get(p)
	val()
	if vec {
		g.v128store(0)
		return
	}
	g.simd(simdF32x4Lane).op(0).f32store(0)
}

// rows emits: for r = 0; r < count; r++ { body() }.
func (g *eg) rows(r, count uint32, body func()) {
	g.i32c(0).set(r)
	g.op(opBlock, blockVoid, opLoop, blockVoid)
	g.get(r).get(count).op(opI32GeS).op(opBrIf, 1)
	body()
	g.addConst(r, 1)
	g.op(opBr, 0, opEnd, opEnd)
}

// fill zeroes n floats (i32 on the stack after the address) at the address
// pushed by addr: memory.fill.
func (g *eg) fill(addr, n func()) {
	addr()
	g.i32c(0)
	n()
	g.i32c(4).op(opI32Mul)
	g.op(opMisc, 11, 0)
}

// addF64 adds the f32 lanes of e to the float64 accumulators: lanes 0, 1 to
// acc0, lanes 2, 3 to acc1 (or lane 0 to the scalar s when !vec).
func (g *eg) addF64(acc0, acc1, s, e uint32, vec bool) {
	if !vec {
		g.get(s).lane(e, 0).op(opF64Prom, opF64Add).set(s)
		return
	}
	g.get(acc0).get(e).simd(simdF64x2Prom).simd(simdF64x2Add).set(acc0)
	g.get(acc1).get(e).get(e).simd(simdShuffle)
	g.op(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15)
	g.simd(simdF64x2Prom).simd(simdF64x2Add).set(acc1)
}

// sumF64 pushes (acc0+acc1)[0] + (acc0+acc1)[1] + s.
func (g *eg) sumF64(acc0, acc1, s uint32) {
	g.vop(acc0, acc1, simdF64x2Add).set(acc0)
	g.get(acc0).simd(simdF64x2Lane).op(0).get(acc0).simd(simdF64x2Lane).op(1).op(opF64Add)
	g.get(s).op(opF64Add)
}

// sumF32 pushes ((v0+v1)+(v2+v3)) + s for f32x4 local v and f32 local s.
func (g *eg) sumF32(v, s uint32) {
	g.lane(v, 0).lane(v, 1).op(opF32Add).lane(v, 2).lane(v, 3).op(opF32Add).op(opF32Add)
	g.get(s).op(opF32Add)
}

// rowMax scans n floats at base: m = max, mn = min (f32 locals), and leaves
// on the stack 1 when the row is special (a NaN, or mn − m < −87).
func (g *eg) rowMax(base, n, p, cnt, vmax, vmin, nan, x, m, mn uint32) {
	g.get(base).f32load(0).simd(simdF32x4Splat).tee(vmax).set(vmin)
	g.v128zero().set(nan)
	g.get(base).set(p)
	g.get(n).set(cnt)
	g.vloop(cnt, []uint32{p}, func(vec bool) {
		g.ld(p, vec)
		g.set(x)
		g.vop(vmax, x, simdF32x4Pmax).set(vmax)
		g.vop(vmin, x, simdF32x4Pmin).set(vmin)
		g.get(nan).vop(x, x, simdF32x4Ne).simd(simdOr).set(nan)
	})
	g.lane(vmax, 0)
	for i := byte(1); i < 4; i++ {
		g.lane(vmax, i).op(opF32Max)
	}
	g.set(m)
	g.lane(vmin, 0)
	for i := byte(1); i < 4; i++ {
		g.lane(vmin, i).op(opF32Min)
	}
	g.set(mn)
	g.get(nan).simd(simdAnyTrue)
	g.get(mn).get(m).op(opF32Sub).f32c(expLo).op(opF32Ge).op(opI32Eqz)
	g.op(opI32Or)
}

// expSum sets every lane-wise e = e^(x − m) over n floats at base (storing
// e back when store) and pushes Σ e in float64.
func (g *eg) expSum(base, n, p, cnt, vm, x, e, acc0, acc1, s uint32, store bool) {
	g.v128zero().tee(acc0).set(acc1)
	g.f64c(0).set(s)
	g.get(base).set(p)
	g.get(n).set(cnt)
	g.vloop(cnt, []uint32{p}, func(vec bool) {
		g.ld(p, vec)
		g.get(vm).simd(simdF32x4Sub).set(x)
		g.exp(x, e)
		if store {
			g.st(p, vec, func() { g.get(e) })
		}
		g.addF64(acc0, acc1, s, e, vec)
	})
	g.sumF64(acc0, acc1, s)
}

func swigluFwdFn() *eg {
	const out, gate, up, n = 0, 1, 2, 3
	g := newEg(i32, i32, i32, i32)
	g.expInit()
	gv, x, e, ok, okAll := g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	g.i32c(-1).simd(simdI32x4Splat).set(okAll)
	g.vloop(n, []uint32{out, gate, up}, func(vec bool) {
		g.ld(gate, vec)
		g.tee(gv).simd(simdF32x4Neg).set(x)
		g.inRange(x, ok)
		g.vop(okAll, ok, simdAnd).set(okAll)
		g.exp(x, e)
		g.st(out, vec, func() {
			g.get(gv).vop(g.one, e, simdF32x4Add).simd(simdF32x4Div)
			g.ld(up, vec)
			g.simd(simdF32x4Mul)
		})
	})
	g.get(okAll).simd(simdAllTrue).op(opI32Eqz)
	return g
}

func swigluBwdFn() *eg {
	const dgate, dup, dout, gate, up, n = 0, 1, 2, 3, 4, 5
	g := newEg(i32, i32, i32, i32, i32, i32)
	g.expInit()
	gv, x, e, ok, okAll := g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	sig, dov, old := g.local(v128), g.local(v128), g.local(v128)
	g.i32c(-1).simd(simdI32x4Splat).set(okAll)
	g.vloop(n, []uint32{dgate, dup, dout, gate, up}, func(vec bool) {
		g.ld(gate, vec)
		g.tee(gv).simd(simdF32x4Neg).set(x)
		g.inRange(x, ok)
		g.vop(okAll, ok, simdAnd).set(okAll)
		g.exp(x, e)
		g.get(g.one).vop(g.one, e, simdF32x4Add).simd(simdF32x4Div).set(sig)
		g.ld(dout, vec)
		g.set(dov)
		// dgate += dout·up·σ·(1 + g·(1−σ))
		g.ld(dgate, vec)
		g.set(old)
		g.st(dgate, vec, func() {
			g.get(old)
			g.get(dov)
			g.ld(up, vec)
			g.simd(simdF32x4Mul).get(sig).simd(simdF32x4Mul)
			g.get(g.one).get(gv).vop(g.one, sig, simdF32x4Sub).simd(simdF32x4Mul).simd(simdF32x4Add)
			g.simd(simdF32x4Mul).simd(simdF32x4Add)
			g.get(old).get(ok).simd(simdBitselect)
		})
		// dup += dout·g·σ
		g.ld(dup, vec)
		g.set(old)
		g.st(dup, vec, func() {
			g.get(old).vop(dov, gv, simdF32x4Mul).get(sig).simd(simdF32x4Mul).simd(simdF32x4Add)
			g.get(old).get(ok).simd(simdBitselect)
		})
	})
	g.get(okAll).simd(simdAllTrue).op(opI32Eqz)
	return g
}

func softmaxRowsFn() *eg {
	const a, rows, ld, len0, width = 0, 1, 2, 3, 4
	g := newEg(i32, i32, i32, i32, i32)
	g.expInit()
	r, n, p, cnt := g.local(i32), g.local(i32), g.local(i32), g.local(i32)
	vmax, vmin, nan, x, e, vm, acc0, acc1 := g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	m, mn := g.local(f32), g.local(f32)
	s := g.local(f64)
	g.rows(r, rows, func() {
		g.get(len0).get(r).op(opI32Add).set(n)
		g.rowMax(a, n, p, cnt, vmax, vmin, nan, x, m, mn)
		g.op(opIf, blockVoid).get(r).op(opReturn).op(opEnd)
		g.get(m).simd(simdF32x4Splat).set(vm)
		g.expSum(a, n, p, cnt, vm, x, e, acc0, acc1, s, true)
		// inv = float32(1/sum)
		g.set(s)
		g.f64c(1).get(s).op(opF64Div, opF32Demot).simd(simdF32x4Splat).set(vm)
		g.get(a).set(p)
		g.get(n).set(cnt)
		g.vloop(cnt, []uint32{p}, func(vec bool) {
			g.st(p, vec, func() { g.ld(p, vec); g.get(vm).simd(simdF32x4Mul) })
		})
		g.fill(func() { g.get(p) }, func() { g.get(width).get(n).op(opI32Sub) })
		g.addLocal(a, ld)
	})
	g.get(rows)
	return g
}

func softmaxBwdRowsFn() *eg {
	const p, d, rows, ld, len0, cols, scale = 0, 1, 2, 3, 4, 5, 6
	g := newEg(i32, i32, i32, i32, i32, i32, f32)
	r, n, pp, pd, cnt := g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(i32)
	acc, t, vpdp, vsc := g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	ds := g.local(f32)
	g.get(scale).simd(simdF32x4Splat).set(vsc)
	g.rows(r, rows, func() {
		g.get(len0).get(r).op(opI32Add).set(n)
		g.v128zero().set(acc)
		g.f32c(0).set(ds)
		g.get(p).set(pp)
		g.get(d).set(pd)
		g.get(n).set(cnt)
		g.vloop(cnt, []uint32{pp, pd}, func(vec bool) {
			g.ld(pp, vec)
			g.ld(pd, vec)
			g.simd(simdF32x4Mul).set(t)
			if vec {
				g.vop(acc, t, simdF32x4Add).set(acc)
			} else {
				g.get(ds).lane(t, 0).op(opF32Add).set(ds)
			}
		})
		g.sumF32(acc, ds)
		g.simd(simdF32x4Splat).set(vpdp)
		g.get(p).set(pp)
		g.get(d).set(pd)
		g.get(n).set(cnt)
		g.vloop(cnt, []uint32{pp, pd}, func(vec bool) {
			g.st(pd, vec, func() {
				g.ld(pp, vec)
				g.ld(pd, vec)
				g.get(vpdp).simd(simdF32x4Sub).simd(simdF32x4Mul).get(vsc).simd(simdF32x4Mul)
			})
		})
		g.fill(func() { g.get(pd) }, func() { g.get(cols).get(n).op(opI32Sub) })
		g.addLocal(p, ld)
		g.addLocal(d, ld)
	})
	return g
}

func lseRowsFn() *eg {
	const logits, rows, v, targets, lse, sums = 0, 1, 2, 3, 4, 5
	g := newEg(i32, i32, i32, i32, i32, i32)
	g.expInit()
	r, p, cnt, rowBytes := g.local(i32), g.local(i32), g.local(i32), g.local(i32)
	vmax, vmin, nan, x, e, vm, acc0, acc1 := g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	m, mn := g.local(f32), g.local(f32)
	s := g.local(f64)
	g.get(v).i32c(4).op(opI32Mul).set(rowBytes)
	g.rows(r, rows, func() {
		// a Go int is 8 bytes, little-endian: its sign is that of the high word
		g.get(targets).op(opI32Load).memarg(2, 4).i32c(0).op(opI32GeS)
		g.op(opIf, blockVoid)
		g.rowMax(logits, v, p, cnt, vmax, vmin, nan, x, m, mn)
		g.op(opIf, blockVoid)
		g.get(sums).f64c(-1).op(opF64Store).memarg(3, 0)
		g.op(opElse)
		g.get(m).simd(simdF32x4Splat).set(vm)
		g.get(lse).get(m).f32store(0)
		g.get(sums)
		g.expSum(logits, v, p, cnt, vm, x, e, acc0, acc1, s, false)
		g.op(opF64Store).memarg(3, 0)
		g.op(opEnd)
		g.op(opEnd)
		g.addLocal(logits, rowBytes)
		g.addConst(targets, 8)
		g.addConst(lse, 4)
		g.addConst(sums, 8)
	})
	return g
}

func ceGradFn() *eg {
	const d, logits, rows, v, lse, targets, dloss = 0, 1, 2, 3, 4, 5, 6
	g := newEg(i32, i32, i32, i32, i32, i32, f32)
	g.expInit()
	r, p, q, cnt, rowBytes := g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(i32)
	vl, vdl, x, e, ok, okAll, old := g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	g.get(v).i32c(4).op(opI32Mul).set(rowBytes)
	g.get(dloss).simd(simdF32x4Splat).set(vdl)
	g.rows(r, rows, func() {
		g.get(targets).op(opI32Load).memarg(2, 4).i32c(0).op(opI32GeS)
		g.op(opIf, blockVoid)
		g.get(lse).f32load(0).simd(simdF32x4Splat).set(vl)
		g.i32c(-1).simd(simdI32x4Splat).set(okAll)
		g.get(logits).set(p)
		g.get(d).set(q)
		g.get(v).set(cnt)
		g.vloop(cnt, []uint32{p, q}, func(vec bool) {
			g.ld(p, vec)
			g.get(vl).simd(simdF32x4Sub).set(x)
			g.inRange(x, ok)
			g.vop(okAll, ok, simdAnd).set(okAll)
			g.exp(x, e)
			g.ld(q, vec)
			g.set(old)
			g.st(q, vec, func() {
				g.get(old).vop(vdl, e, simdF32x4Mul).simd(simdF32x4Add)
				g.get(old).get(ok).simd(simdBitselect)
			})
		})
		g.get(okAll).simd(simdAllTrue).op(opI32Eqz)
		g.op(opIf, blockVoid).get(r).op(opReturn).op(opEnd)
		g.op(opEnd)
		g.addLocal(d, rowBytes)
		g.addLocal(logits, rowBytes)
		g.addConst(lse, 4)
		g.addConst(targets, 8)
	})
	g.get(rows)
	return g
}

func rmsnormFwdFn() *eg {
	const out, rstd, inp, weight, n, c, eps = 0, 1, 2, 3, 4, 5, 6
	g := newEg(i32, i32, i32, i32, i32, i32, f32)
	r, p, q, w, cnt := g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(i32)
	x, acc0, acc1, vs := g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	s := g.local(f64)
	sf := g.local(f32)
	g.rows(r, n, func() {
		g.v128zero().tee(acc0).set(acc1)
		g.f64c(0).set(s)
		g.get(inp).set(p)
		g.get(c).set(cnt)
		g.vloop(cnt, []uint32{p}, func(vec bool) {
			g.ld(p, vec)
			g.tee(x).get(x).simd(simdF32x4Mul).set(x)
			g.addF64(acc0, acc1, s, x, vec)
		})
		// s = 1 / float32(sqrt(float64(float32(sum/C) + eps)))
		g.f32c(1)
		g.sumF64(acc0, acc1, s)
		g.get(c).op(opF64CvtI, opF64Div, opF32Demot).get(eps).op(opF32Add)
		g.op(opF64Prom, opF64Sqrt, opF32Demot, opF32Div).set(sf)
		g.get(rstd).get(sf).f32store(0)
		g.get(sf).simd(simdF32x4Splat).set(vs)
		g.get(inp).set(p)
		g.get(out).set(q)
		g.get(weight).set(w)
		g.get(c).set(cnt)
		g.vloop(cnt, []uint32{p, q, w}, func(vec bool) {
			g.st(q, vec, func() {
				g.ld(p, vec)
				g.get(vs).simd(simdF32x4Mul)
				g.ld(w, vec)
				g.simd(simdF32x4Mul)
			})
		})
		g.get(p).set(inp)
		g.get(q).set(out)
		g.addConst(rstd, 4)
	})
	return g
}

func rmsnormBwdFn() *eg {
	const dinp, dweight, dout, inp, weight, rstd, n, c = 0, 1, 2, 3, 4, 5, 6, 7
	g := newEg(i32, i32, i32, i32, i32, i32, i32, i32)
	r, px, py, pw, pd, cnt, rowBytes := g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(i32)
	acc, t, vs, vk := g.local(v128), g.local(v128), g.local(v128), g.local(v128)
	sf, ds := g.local(f32), g.local(f32)
	g.get(c).i32c(4).op(opI32Mul).set(rowBytes)
	g.rows(r, n, func() {
		g.get(rstd).f32load(0).tee(sf).simd(simdF32x4Splat).set(vs)
		// dx += s·w·dy − k·x with k = s³/C · Σ dy·w·x
		g.get(dinp).op(opIf, blockVoid)
		g.v128zero().set(acc)
		g.f32c(0).set(ds)
		g.get(dout).set(py)
		g.get(inp).set(px)
		g.get(weight).set(pw)
		g.get(c).set(cnt)
		g.vloop(cnt, []uint32{py, px, pw}, func(vec bool) {
			g.ld(py, vec)
			g.ld(pw, vec)
			g.simd(simdF32x4Mul)
			g.ld(px, vec)
			g.simd(simdF32x4Mul).set(t)
			if vec {
				g.vop(acc, t, simdF32x4Add).set(acc)
			} else {
				g.get(ds).lane(t, 0).op(opF32Add).set(ds)
			}
		})
		g.get(sf).get(sf).op(opF32Mul).get(sf).op(opF32Mul)
		g.sumF32(acc, ds)
		g.op(opF32Mul).get(c).op(opF32CvtI, opF32Div).simd(simdF32x4Splat).set(vk)
		g.get(dinp).set(pd)
		g.get(dout).set(py)
		g.get(inp).set(px)
		g.get(weight).set(pw)
		g.get(c).set(cnt)
		g.vloop(cnt, []uint32{pd, py, px, pw}, func(vec bool) {
			g.st(pd, vec, func() {
				g.ld(pd, vec)
				g.get(vs)
				g.ld(pw, vec)
				g.simd(simdF32x4Mul)
				g.ld(py, vec)
				g.simd(simdF32x4Mul)
				g.get(vk)
				g.ld(px, vec)
				g.simd(simdF32x4Mul).simd(simdF32x4Sub).simd(simdF32x4Add)
			})
		})
		g.addLocal(dinp, rowBytes)
		g.op(opEnd)
		// dw += dy·x·s
		g.get(dweight).op(opIf, blockVoid)
		g.get(dweight).set(pd)
		g.get(dout).set(py)
		g.get(inp).set(px)
		g.get(c).set(cnt)
		g.vloop(cnt, []uint32{pd, py, px}, func(vec bool) {
			g.st(pd, vec, func() {
				g.ld(pd, vec)
				g.ld(py, vec)
				g.ld(px, vec)
				g.simd(simdF32x4Mul).get(vs).simd(simdF32x4Mul).simd(simdF32x4Add)
			})
		})
		g.op(opEnd)
		g.addLocal(dout, rowBytes)
		g.addLocal(inp, rowBytes)
		g.addConst(rstd, 4)
	})
	return g
}
