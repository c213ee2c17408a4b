//go:build js && wasm

package simd

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall/js"
	"unsafe"
)

// The element-wise kernels (elem.go) on Go slices, in place. Each function
// reports false, and does nothing, when the module cannot run here (no
// SIMD, Go's memory not reachable, or turned off by SetElementwise(false)
// or DisableElementwise); callers then run
// their scalar Go code. Exponent arguments outside [−87, 88] and NaN get
// float32(math.Exp(x)) in Go, as in llama's scalar float32 kernels, so the
// results equal those kernels' element by element; only the reductions sum
// in another order (see elem.go).

// elemNames are the module's exports (elem.go).
var elemNames = []string{"swiglu_fwd", "swiglu_bwd", "ce_grad", "softmax_rows", "softmax_bwd_rows", "lse_rows", "rmsnorm_fwd", "rmsnorm_bwd", "q8_0_rows"}

var elemK struct {
	once sync.Once
	err  error
	fns  map[string]js.Value // the exports in use (those not turned off)
}

var elemOff atomic.Bool

// elemDisabled holds the exports left to Go (DisableElementwise).
var elemDisabled sync.Map

// DisableElementwise leaves the named exports (elemNames) to Go from now
// on, for measuring one kernel's worth; no name turns every one back on.
func DisableElementwise(names ...string) {
	elemDisabled.Clear()
	for _, n := range names {
		elemDisabled.Store(n, true)
	}
}

// SetElementwise turns the element-wise kernels on or off (for comparisons
// in tests and benchmarks) and returns the previous setting.
func SetElementwise(on bool) bool { return !elemOff.Swap(!on) }

// ElementwiseAvailable reports whether the element-wise kernels run, or
// why not.
func ElementwiseAvailable() error {
	if elemOff.Load() {
		return fmt.Errorf("simd: element-wise kernels turned off: %w", ErrUnavailable)
	}
	elemK.once.Do(elemInit)
	if elemK.err == nil && elemOff.Load() {
		return fmt.Errorf("simd: element-wise kernels turned off: %w", ErrUnavailable)
	}
	return elemK.err
}

// elemFn returns the export called name, or false when it is not to be
// used (module unavailable or turned off).
func elemFn(name string) (js.Value, bool) {
	if elemOff.Load() {
		return js.Value{}, false
	}
	elemK.once.Do(elemInit)
	if elemK.err != nil || elemOff.Load() {
		return js.Value{}, false
	}
	if _, off := elemDisabled.Load(name); off {
		return js.Value{}, false
	}
	f, ok := elemK.fns[name]
	return f, ok
}

func elemInit() {
	mem, err := goMemory()
	if err != nil {
		elemK.err = err
		return
	}
	wa := js.Global().Get("WebAssembly")
	env := js.Global().Get("Object").New()
	env.Set("mem", mem)
	imports := js.Global().Get("Object").New()
	imports.Set("env", env)
	var insts []js.Value
	for _, bin := range ElemModules() {
		u8 := js.Global().Get("Uint8Array").New(len(bin))
		js.CopyBytesToJS(u8, bin)
		if !wa.Call("validate", u8).Bool() {
			elemK.err = fmt.Errorf("simd: element-wise module: %w", errInvalid)
			return
		}
		inst, err := newInstance(wa, u8, imports)
		if err != nil {
			elemK.err = err
			return
		}
		insts = append(insts, inst.Get("exports"))
	}
	all := map[string]js.Value{}
	for _, name := range elemNames {
		for _, ex := range insts {
			if f := ex.Get(name); f.Type() == js.TypeFunction {
				all[name] = f
			}
		}
		if _, ok := all[name]; !ok {
			elemK.err = fmt.Errorf("simd: element-wise export %s missing: %w", name, ErrUnavailable)
			return
		}
	}
	if err := elemSelfCheck(all); err != nil {
		elemK.err = err
		return
	}
	elemK.fns = all
}

// elemSelfCheck runs SwiGLU and RMSNorm (one function of each module) on
// small data whose results are exact, proving the memory is Go's.
func elemSelfCheck(fns map[string]js.Value) error {
	const n, c = 7, 5
	g, u, out := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i], u[i] = float32(i)-3, float32(i%3)+1
	}
	fns["swiglu_fwd"].Invoke(addr(out), addr(g), addr(u), n)
	for i := range g {
		if want := g[i] / (1 + Expf32(-g[i])) * u[i]; out[i] != want {
			return fmt.Errorf("simd: element-wise self-check: swiglu[%d] = %g, want %g: %w", i, out[i], want, ErrUnavailable)
		}
	}
	x, w, y, rstd := make([]float32, 2*c), make([]float32, c), make([]float32, 2*c), make([]float32, 2)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	for i := range w {
		w[i] = float32(i) + 1
	}
	fns["rmsnorm_fwd"].Invoke(addr(y), addr(rstd), addr(x), addr(w), 2, c, float32(1e-5))
	wy, wr := make([]float32, 2*c), make([]float32, 2)
	rmsnormForwardRef(wy, wr, x, w, 2, c, 1e-5)
	for i := range y {
		if y[i] != wy[i] {
			return fmt.Errorf("simd: element-wise self-check: rmsnorm[%d] = %g, want %g: %w", i, y[i], wy[i], ErrUnavailable)
		}
	}
	runtime.KeepAlive(g)
	runtime.KeepAlive(u)
	runtime.KeepAlive(out)
	runtime.KeepAlive(x)
	runtime.KeepAlive(w)
	runtime.KeepAlive(y)
	runtime.KeepAlive(rstd)
	return nil
}

var errShort = errors.New("simd: slice too short")

func need(ok bool, what string) {
	if !ok {
		panic(fmt.Sprintf("%v: %s", errShort, what))
	}
}

// inExpRange reports whether expf32's polynomial path covers x.
func inExpRange(x float32) bool { return x >= expLo && x <= expHi }

// SwiGLUForward sets out = gate/(1+e^(−gate))·up (len(gate) elements).
func SwiGLUForward(out, gate, up []float32) bool {
	f, ok := elemFn("swiglu_fwd")
	if !ok {
		return false
	}
	n := len(gate)
	need(len(out) >= n && len(up) >= n, "SwiGLUForward")
	if n == 0 {
		return true
	}
	special := f.Invoke(addr(out), addr(gate), addr(up), n).Int()
	runtime.KeepAlive(out)
	runtime.KeepAlive(gate)
	runtime.KeepAlive(up)
	if special != 0 {
		for i, g := range gate {
			if x := -g; !inExpRange(x) {
				out[i] = g / (1 + float32(math.Exp(float64(x)))) * up[i]
			}
		}
	}
	return true
}

// SwiGLUBackward accumulates, with σ = 1/(1+e^(−gate)),
// dgate += dout·up·σ·(1 + gate·(1−σ)) and dup += dout·gate·σ.
func SwiGLUBackward(dgate, dup, dout, gate, up []float32) bool {
	f, ok := elemFn("swiglu_bwd")
	if !ok {
		return false
	}
	n := len(gate)
	need(len(dgate) >= n && len(dup) >= n && len(dout) >= n && len(up) >= n, "SwiGLUBackward")
	if n == 0 {
		return true
	}
	special := f.Invoke(addr(dgate), addr(dup), addr(dout), addr(gate), addr(up), n).Int()
	runtime.KeepAlive(dgate)
	runtime.KeepAlive(dup)
	runtime.KeepAlive(dout)
	runtime.KeepAlive(gate)
	runtime.KeepAlive(up)
	if special != 0 {
		for i, g := range gate {
			if x := -g; !inExpRange(x) {
				sig := 1 / (1 + float32(math.Exp(float64(x))))
				dgate[i] += dout[i] * up[i] * sig * (1 + g*(1-sig))
				dup[i] += dout[i] * g * sig
			}
		}
	}
	return true
}

// SoftmaxRows turns rows of a into probabilities in place: row r (at
// a[r·ld:], its first len0+r elements) becomes softmax (max subtracted,
// sum in float64), and its elements from len0+r up to width become 0. This
// is the causal attention's row block: len0 = the block's first query + 1.
func SoftmaxRows(a []float32, rows, ld, len0, width int) bool {
	f, ok := elemFn("softmax_rows")
	if !ok {
		return false
	}
	if rows <= 0 {
		return true
	}
	need(len0 >= 1 && len0+rows-1 <= width && (rows == 1 || width <= ld), "SoftmaxRows: lengths")
	need(len(a) >= (rows-1)*ld+width, "SoftmaxRows")
	for r0 := 0; r0 < rows; {
		done := f.Invoke(addr(a[r0*ld:]), rows-r0, 4*ld, len0+r0, width).Int()
		r0 += done
		if r0 < rows {
			softmaxRowRef(a[r0*ld:r0*ld+width], len0+r0)
			r0++
		}
	}
	runtime.KeepAlive(a)
	return true
}

// SoftmaxBackwardRows is the softmax backward of the same rows: with p
// the probabilities and d = dL/dp, d = p·(d − Σ p·d)·scale on the first
// len0+r elements of row r, and 0 from there up to cols.
func SoftmaxBackwardRows(p, d []float32, rows, ld, len0, cols int, scale float32) bool {
	f, ok := elemFn("softmax_bwd_rows")
	if !ok {
		return false
	}
	if rows <= 0 {
		return true
	}
	need(len0 >= 1 && len0+rows-1 <= cols && (rows == 1 || cols <= ld), "SoftmaxBackwardRows: lengths")
	need(len(p) >= (rows-1)*ld+cols && len(d) >= (rows-1)*ld+cols, "SoftmaxBackwardRows")
	f.Invoke(addr(p), addr(d), rows, 4*ld, len0, cols, scale)
	runtime.KeepAlive(p)
	runtime.KeepAlive(d)
	return true
}

// LogSumExpRows sets lse[r] = log Σ e^(logits[r·v+i]) (max subtracted, sum
// in float64) for every row r with targets[r] ≥ 0; rows with a negative
// target are not touched.
func LogSumExpRows(lse, logits []float32, targets []int, v int) bool {
	f, ok := elemFn("lse_rows")
	if !ok || unsafe.Sizeof(int(0)) != 8 {
		return false
	}
	n := len(targets)
	need(len(lse) >= n && len(logits) >= n*v && v >= 1, "LogSumExpRows")
	if n == 0 {
		return true
	}
	sums := make([]float64, n)
	f.Invoke(addr(logits), n, v, addr(targets), addr(lse), addr(sums))
	runtime.KeepAlive(logits)
	runtime.KeepAlive(targets)
	runtime.KeepAlive(lse)
	runtime.KeepAlive(sums)
	for r, t := range targets {
		if t < 0 {
			continue
		}
		if sums[r] < 0 {
			lse[r] = logSumExpRef(logits[r*v : (r+1)*v])
			continue
		}
		lse[r] += float32(math.Log(sums[r]))
	}
	return true
}

// CrossEntropyGrad accumulates dlogits += dloss·(softmax(row) −
// onehot(target)) for every row with targets[r] ≥ 0, the softmax being
// e^(x − lse[r]).
func CrossEntropyGrad(dlogits, logits, lse []float32, targets []int, v int, dloss float32) bool {
	f, ok := elemFn("ce_grad")
	if !ok || unsafe.Sizeof(int(0)) != 8 {
		return false
	}
	n := len(targets)
	need(len(lse) >= n && len(logits) >= n*v && len(dlogits) >= n*v && v >= 1, "CrossEntropyGrad")
	for r0 := 0; r0 < n; {
		o := r0 * v
		done := f.Invoke(addr(dlogits[o:]), addr(logits[o:]), n-r0, v, addr(lse[r0:]), addr(targets[r0:]), dloss).Int()
		r0 += done
		if r0 < n { // row r0 is done but for its lanes outside [−87, 88]
			row, d, l := logits[r0*v:(r0+1)*v], dlogits[r0*v:(r0+1)*v], lse[r0]
			for i, x := range row {
				if x -= l; !inExpRange(x) {
					d[i] += dloss * float32(math.Exp(float64(x)))
				}
			}
			r0++
		}
	}
	runtime.KeepAlive(dlogits)
	runtime.KeepAlive(logits)
	runtime.KeepAlive(lse)
	runtime.KeepAlive(targets)
	for r, t := range targets {
		if t >= 0 {
			dlogits[r*v+t] -= dloss
		}
	}
	return true
}

// RMSNormForward computes, for n rows of c, out = x·s·weight with
// s = 1/√(mean(x²)+eps) (squares in float32 summed in float64, as ggml's
// rms_norm) and keeps s in rstd.
func RMSNormForward(out, rstd, inp, weight []float32, n, c int, eps float32) bool {
	f, ok := elemFn("rmsnorm_fwd")
	if !ok {
		return false
	}
	need(len(out) >= n*c && len(inp) >= n*c && len(rstd) >= n && len(weight) >= c, "RMSNormForward")
	if n <= 0 || c <= 0 {
		return false
	}
	f.Invoke(addr(out), addr(rstd), addr(inp), addr(weight), n, c, eps)
	runtime.KeepAlive(out)
	runtime.KeepAlive(rstd)
	runtime.KeepAlive(inp)
	runtime.KeepAlive(weight)
	return true
}

// RMSNormBackward accumulates dinp and dweight (either may be nil):
//
//	dx_i += s·w_i·dy_i − s³/C · x_i · Σ_j dy_j·w_j·x_j  (the sum in float32)
//	dw_i += Σ_n dy_i·x_i·s
func RMSNormBackward(dinp, dweight, dout, inp, weight, rstd []float32, n, c int) bool {
	f, ok := elemFn("rmsnorm_bwd")
	if !ok {
		return false
	}
	need(len(dout) >= n*c && len(inp) >= n*c && len(rstd) >= n && len(weight) >= c, "RMSNormBackward")
	need(dinp == nil || len(dinp) >= n*c, "RMSNormBackward: dinp")
	need(dweight == nil || len(dweight) >= c, "RMSNormBackward: dweight")
	if n <= 0 || c <= 0 {
		return false
	}
	f.Invoke(addrOrNil(dinp), addrOrNil(dweight), addr(dout), addr(inp), addr(weight), addr(rstd), n, c)
	runtime.KeepAlive(dinp)
	runtime.KeepAlive(dweight)
	runtime.KeepAlive(dout)
	runtime.KeepAlive(inp)
	runtime.KeepAlive(weight)
	runtime.KeepAlive(rstd)
	return true
}

// addrOrNil is addr, 0 for a nil slice (the kernels skip that output).
func addrOrNil(s []float32) int {
	if s == nil {
		return 0
	}
	return addr(s)
}

// The scalar references: package kernels' float32 kernels (kernels/fast_js.go), for
// the rows the module leaves to Go and for the tests.

// Expf32 is the float32 exp every wasm path of webtune uses (llama's
// scalar loops and, lane by lane, this module): Cephes expf in [−87, 88]
// (within about 1 ulp), math.Exp outside and for NaN.
func Expf32(x float32) float32 {
	if !inExpRange(x) {
		return float32(math.Exp(float64(x)))
	}
	k := x*expLog2e + expShifter
	n := int32(math.Float32bits(k)) - int32(math.Float32bits(expShifter))
	kf := k - expShifter
	r := x - kf*expC1
	r -= kf * expC2
	p := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// maxRef is llama's fastMax: the first maximum, NaN if there is one.
func maxRef(row []float32) float32 {
	m := row[0]
	for _, x := range row {
		if !(x <= m) {
			if x != x {
				return x
			}
			m = x
		}
	}
	return m
}

// softmaxRowRef is one row of llama's causal softmax: row[:n] becomes
// softmax, row[n:] zero.
func softmaxRowRef(row []float32, n int) {
	m := maxRef(row[:n])
	var sum float64
	for i, x := range row[:n] {
		e := Expf32(x - m)
		row[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range row[:n] {
		row[i] *= inv
	}
	clear(row[n:])
}

// logSumExpRef is llama's logSumExp for float32 rows.
func logSumExpRef(row []float32) float32 {
	m := maxRef(row)
	var sum float64
	for _, x := range row {
		sum += float64(Expf32(x - m))
	}
	return m + float32(math.Log(sum))
}

// rmsnormForwardRef is llama's rmsnormForward for float32.
func rmsnormForwardRef(out, rstd, inp, weight []float32, n, c int, eps float32) {
	for r := range n {
		x := inp[r*c : (r+1)*c]
		var sum float64
		for _, v := range x {
			sum += float64(v * v)
		}
		mean := float32(sum / float64(c))
		s := 1 / float32(math.Sqrt(float64(mean+eps)))
		rstd[r] = s
		y := out[r*c : (r+1)*c]
		for i, v := range x {
			y[i] = v * s * weight[i]
		}
	}
}
