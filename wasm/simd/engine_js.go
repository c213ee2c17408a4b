//go:build js && wasm

package simd

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/webtune/webtune/tensor"
)

// minWork is the product size m·n·k below which Gemm stays in Go: one
// call into JavaScript costs about a microsecond, which pure Go spends on
// about a thousand multiply-adds.
const minWork = 2048

// kernels is the instantiated module, shared by every engine.
var kernels struct {
	once  sync.Once
	err   error
	sgemm js.Value
	mr    int
	rest  []shortTile
	name  string
}

// shortTile is a shorter variant of the kernel that takes the m mod MR
// rows left over by the main one (package doc of module.go: the main
// kernel runs those one row at a time, at about a quarter of its speed).
type shortTile struct {
	mr    int
	sgemm js.Value
}

// instantiate builds the module (relaxed SIMD when the host validates it),
// instantiates it with Go's memory and checks it on a small product.
func instantiate() {
	for _, v := range []Variant{RelaxedVariant(), DefaultVariant()} {
		fn, err := loadVariant(v)
		if errors.Is(err, errInvalid) {
			continue
		}
		if err != nil {
			kernels.err = err
			return
		}
		kernels.sgemm, kernels.mr = fn, v.MR
		kernels.name = "wasm-simd"
		if v.Relaxed {
			kernels.name = "wasm-simd-relaxed"
		}
		for _, mr := range []int{4, 2} {
			if mr >= v.MR {
				continue
			}
			s := v
			s.MR = mr
			fn, err := loadVariant(s)
			if err != nil {
				kernels.err = err
				return
			}
			kernels.rest = append(kernels.rest, shortTile{mr, fn})
		}
		kernels.err = selfCheck()
		return
	}
	kernels.err = fmt.Errorf("simd: this host has no WebAssembly SIMD: %w", ErrUnavailable)
}

// errInvalid reports a module the host does not validate (no SIMD, or no
// relaxed SIMD).
var errInvalid = fmt.Errorf("simd: module not valid on this host: %w", ErrUnavailable)

// loadVariant instantiates variant v with Go's memory and returns its
// sgemm export.
func loadVariant(v Variant) (js.Value, error) {
	mem, err := goMemory()
	if err != nil {
		return js.Value{}, err
	}
	wa := js.Global().Get("WebAssembly")
	env := js.Global().Get("Object").New()
	env.Set("mem", mem)
	imports := js.Global().Get("Object").New()
	imports.Set("env", env)
	bin := Module(v)
	u8 := js.Global().Get("Uint8Array").New(len(bin))
	js.CopyBytesToJS(u8, bin)
	if !wa.Call("validate", u8).Bool() {
		return js.Value{}, errInvalid
	}
	inst, err := newInstance(wa, u8, imports)
	if err != nil {
		return js.Value{}, err
	}
	return inst.Get("exports").Get("sgemm"), nil
}

// newInstance compiles and instantiates synchronously (the module is far
// below the 4 KB limit browsers put on synchronous compiles on the main
// thread), turning a JavaScript exception into an error.
func newInstance(wa, bytes, imports js.Value) (inst js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("simd: instantiate: %v: %w", r, ErrUnavailable)
		}
	}()
	mod := wa.Get("Module").New(bytes)
	return wa.Get("Instance").New(mod, imports), nil
}

// goMemory returns the WebAssembly.Memory of this Go program: the one a
// host put on globalThis.webtuneGoMemory, else the one wasm_exec.js's Go
// instance holds (go._inst.exports.mem). syscall/js does not export that
// instance, but it is JS value 6 in every wasm_exec.js since Go 1.12; its
// Value is rebuilt here from syscall/js's encoding and then checked.
func goMemory() (js.Value, error) {
	isMem := func(v js.Value) bool {
		return v.Type() == js.TypeObject && v.InstanceOf(js.Global().Get("WebAssembly").Get("Memory"))
	}
	if m := js.Global().Get("webtuneGoMemory"); isMem(m) {
		return m, nil
	}
	goInst := jsGo()
	if goInst.Type() == js.TypeObject {
		if inst := goInst.Get("_inst"); inst.Type() == js.TypeObject {
			if m := inst.Get("exports").Get("mem"); isMem(m) {
				return m, nil
			}
		}
	}
	return js.Value{}, fmt.Errorf("simd: cannot find Go's WebAssembly.Memory (set globalThis.webtuneGoMemory): %w", ErrUnavailable)
}

// jsGo rebuilds syscall/js's predefined value 6 (the Go instance).
func jsGo() js.Value {
	type value struct {
		_     [0]func()
		ref   uint64
		gcPtr *uint64
	}
	const nanHead, typeFlagObject = 0x7FF80000, 1
	v := value{ref: (nanHead|typeFlagObject)<<32 | 6}
	return *(*js.Value)(unsafe.Pointer(&v))
}

// selfCheck runs a 5×9×3 product through the kernel (full and leftover
// rows, full and partial panels) and compares it with a plain loop, proving that
// the imported memory is really Go's.
func selfCheck() error {
	const m, n, k = 5, 9, 3
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	w := make([]float32, WorkFloats(m, k))
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5) - 2
	}
	callSgemm(m, n, k, 1, addr(a), 4*k, 4, addr(b), 4*n, 4, 0, addr(c), 4*n, addr(w))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(w)
	for i := range m {
		for j := range n {
			var s float32
			for p := range k {
				s += a[i*k+p] * b[p*n+j]
			}
			if c[i*n+j] != s {
				return fmt.Errorf("simd: self-check: c[%d,%d] = %g, want %g: %w", i, j, c[i*n+j], s, ErrUnavailable)
			}
		}
	}
	return nil
}

func addr[T any](s []T) int { return int(uintptr(unsafe.Pointer(unsafe.SliceData(s)))) }

func callSgemm(m, n, k int, alpha float32, a, rsA, csA, b, rsB, csB int, beta float32, c, ldc, work int) {
	kernels.sgemm.Invoke(m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, work)
}

// New returns the WebAssembly SIMD engine for a float32-layout T, or an
// error wrapping ErrUnavailable (no SIMD, no reachable Go memory, or a
// float64 T), in which case callers use tensor.NewCPU.
func New[T tensor.Numeric]() (tensor.Engine[T], error) {
	var zero T
	if unsafe.Sizeof(zero) != 4 {
		return nil, fmt.Errorf("simd: float64 has no SIMD kernels: %w", ErrUnavailable)
	}
	kernels.once.Do(instantiate)
	if kernels.err != nil {
		return nil, kernels.err
	}
	return &engine[T]{cpu: tensor.NewCPU[T](), name: kernels.name, sgemm: kernels.sgemm, mr: kernels.mr, rest: kernels.rest}, nil
}

// Cache blocking done in Go, one module call per block: A is packed
// mc×kc at a time (256×256 floats = 256 KB, in L2) and every B panel
// kc×8 (8 KB, in L1).
const (
	blockM = 256
	blockK = 256
)

// engine runs Gemm in the SIMD module; tiny products stay in Go.
type engine[T tensor.Numeric] struct {
	cpu   tensor.Engine[T]
	name  string
	sgemm js.Value    // the module's export (kernels.sgemm unless a variant)
	mr    int         // its tile height
	rest  []shortTile // shorter tiles for the rows left over, tallest first
	mu    sync.Mutex
	work  []float32 // packing buffer, WorkFloats(blockM, blockK)
	nf4mu sync.Mutex
	deq   []float32 // NF4 rows dequantized for one chunk (nf4_js.go)
}

func (e *engine[T]) Name() string { return e.name }

// Gemm computes c[m×n] = alpha·op(a)·op(b) + beta·c (see tensor.Engine).
// Both operands are read through byte strides, so the transposed cases
// need no copies beyond the kernel's own packing.
func (e *engine[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a, b []T, beta T, c []T) {
	checkGemm(m, n, k, len(a), len(b), len(c))
	if m == 0 || n == 0 || k == 0 || m*n*k < minWork {
		e.cpu.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c)
		return
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	e.gemm(transA, transB, m, n, k, float32(alpha), addr(a), lda, addr(b), ldb, float32(beta), addr(c), n)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}

// GemmStrided is Gemm on sub-matrices with leading dimensions (see
// tensor.StridedEngine).
func (e *engine[T]) GemmStrided(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	tensor.StridedCheck(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 || k == 0 || m*n*k < minWork {
		tensor.GemmStrided(e.cpu, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	e.gemm(transA, transB, m, n, k, float32(alpha), addr(a), lda, addr(b), ldb, float32(beta), addr(c), ldc)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}

// gemm calls the module once per blockM×blockK block; pa, pb, pc are the
// operands' addresses in Go's memory, the leading dimensions in elements.
func (e *engine[T]) gemm(transA, transB bool, m, n, k int, alpha float32, pa, lda, pb, ldb int, beta float32, pc, ldc int) {
	rsA, csA := 4*lda, 4
	if transA {
		rsA, csA = 4, 4*lda
	}
	rsB, csB := 4*ldb, 4
	if transB {
		rsB, csB = 4, 4*ldb
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.work == nil {
		e.work = make([]float32, WorkFloats(blockM, blockK))
	}
	w := addr(e.work)
	for p0 := 0; p0 < k; p0 += blockK {
		kc := min(blockK, k-p0)
		be := beta
		if p0 > 0 {
			be = 1
		}
		for i0 := 0; i0 < m; i0 += blockM {
			mc := min(blockM, m-i0)
			e.block(mc, n, kc, alpha, pa+i0*rsA+p0*csA, rsA, csA, pb+p0*rsB, rsB, csB, be, pc+i0*4*ldc, 4*ldc, w)
		}
	}
}

// block runs one module call on an m-row block: the main kernel on whole
// tiles, then the rows left over on the tallest shorter tile that fits
// (which packs B once more: k·8 floats per panel, little beside the rows'
// own work).
func (e *engine[T]) block(m, n, k int, alpha float32, a, rsA, csA, b, rsB, csB int, beta float32, c, ldc, w int) {
	left := m % max(e.mr, 1)
	for _, s := range e.rest {
		if left < s.mr {
			continue
		}
		if main := m - left; main > 0 {
			e.sgemm.Invoke(main, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, w)
		}
		s.sgemm.Invoke(left, n, k, alpha, a+(m-left)*rsA, rsA, csA, b, rsB, csB, beta, c+(m-left)*ldc, ldc, w)
		return
	}
	e.sgemm.Invoke(m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, w)
}

// NewVariant returns an engine running kernel variant v (for benchmarks
// and tests; New picks the measured best).
func NewVariant[T tensor.Numeric](v Variant) (tensor.Engine[T], error) {
	if _, err := New[T](); err != nil {
		return nil, err
	}
	fn, err := loadVariant(v)
	if err != nil {
		return nil, fmt.Errorf("simd: variant %+v: %w", v, err)
	}
	return &engine[T]{cpu: tensor.NewCPU[T](), name: fmt.Sprintf("wasm-simd-mr%d-u%d-relaxed=%v", v.MR, max(1, v.Unroll), v.Relaxed), sgemm: fn, mr: v.MR}, nil
}

var _ tensor.StridedEngine[float32] = (*engine[float32])(nil)
