//go:build js && wasm

package gpu

import (
	"fmt"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// cpuEngine is what the wrapped engine must be: the SIMD engine's strided
// and NF4 products are forwarded, so that wrapping changes no other path.
type cpuEngine interface {
	tensor.StridedEngine[float32]
	NF4MatMulXWt(w *nf4.Tensor, y, x []float32, n int)
	NF4MatMulXW(w *nf4.Tensor, dx, dy []float32, n int)
}

// Engine is the wrapped engine: quant products on the GPU, the rest on cpu.
type Engine struct {
	cpu cpuEngine
	gpu js.Value

	res *resident

	mu    sync.Mutex
	stats Stats
}

// Stats counts the products the GPU ran and those that fell back to the CPU.
type Stats struct {
	Offloaded, Fallbacks, Uploads int
	LastError                     string
}

// Wrap returns e wrapped when the worker opened the WebGPU engine for
// training (globalThis.webtuneGPU) and e is the SIMD engine; else e.
func Wrap(e tensor.Engine[float32]) tensor.Engine[float32] {
	g := js.Global().Get("webtuneGPU")
	c, ok := e.(cpuEngine)
	if !ok || g.IsUndefined() || g.IsNull() {
		return e
	}
	// Under "auto" the GPU trains whole steps (StepModel) or nothing: per
	// product round trips are no win, so only "webgpu" offloads them.
	if c := js.Global().Get("webtuneGPUChoice"); c.Type() == js.TypeString && c.String() != "webgpu" {
		return e
	}
	return &Engine{cpu: c, gpu: g, res: residentFor(g)}
}

// Name is "webgpu+" and the wrapped engine's name.
func (e *Engine) Name() string { return "webgpu+" + e.cpu.Name() }

// Gemm runs on the wrapped engine.
func (e *Engine) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b []float32, beta float32, c []float32) {
	e.cpu.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c)
}

// GemmStrided runs on the wrapped engine.
func (e *Engine) GemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	e.cpu.GemmStrided(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// NF4MatMulXWt runs y = x·Wᵀ for an NF4 (QLoRA) weight on the GPU, else on the wrapped engine.
func (e *Engine) NF4MatMulXWt(w *nf4.Tensor, y, x []float32, n int) {
	if !e.call("linear", e.nf4Handle(w), "NF4", w.Rows(), w.Cols(), y, x, n) {
		e.cpu.NF4MatMulXWt(w, y, x, n)
	}
}

// NF4MatMulXW runs dx = dy·W for an NF4 (QLoRA) weight on the GPU, else on the wrapped engine.
func (e *Engine) NF4MatMulXW(w *nf4.Tensor, dx, dy []float32, n int) {
	if !e.call("linearBackward", e.nf4Handle(w), "NF4", w.Rows(), w.Cols(), dx, dy, n) {
		e.cpu.NF4MatMulXW(w, dx, dy, n)
	}
}

// Stats returns the counters so far.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	s := e.stats
	e.mu.Unlock()
	s.Uploads, s.LastError = e.res.counts(s.LastError)
	return s
}

// OffloadXWt runs y = x·Wᵀ on the GPU.
func (e *Engine) OffloadXWt(w *quant.Matrix, y, x []float32, n int) bool {
	return e.run("linear", w, y, x, n)
}

// OffloadXW runs dx = dy·W on the GPU.
func (e *Engine) OffloadXW(w *quant.Matrix, dx, dy []float32, n int) bool {
	return e.run("linearBackward", w, dx, dy, n)
}

func (e *Engine) run(method string, w *quant.Matrix, out, in []float32, n int) bool {
	return e.call(method, e.handle(w), w.Type().String(), w.Rows(), w.Cols(), out, in, n)
}

func (e *Engine) call(method string, h int, typ string, rows, cols int, out, in []float32, n int) bool {
	if n == 0 {
		return true
	}
	if h < 0 {
		e.fallback(fmt.Sprintf("%s %d×%d not on the GPU", typ, rows, cols))
		return false
	}
	res, err := await(e.gpu.Call(method, h, float32sJS(in), n))
	if err != nil {
		e.fallback(err.Error())
		return false
	}
	if res.Get("length").Int() != len(out) {
		e.fallback(fmt.Sprintf("%s returned %d values, want %d", method, res.Get("length").Int(), len(out)))
		return false
	}
	copyFromJS(out, res)
	e.mu.Lock()
	e.stats.Offloaded++
	e.mu.Unlock()
	return true
}

func (e *Engine) fallback(msg string) {
	e.mu.Lock()
	e.stats.Fallbacks++
	e.stats.LastError = msg
	e.mu.Unlock()
}

// handle is w's GPU handle (uploaded on first use), or -1.
func (e *Engine) handle(w *quant.Matrix) int { return e.res.quant(w) }

// nf4Handle is w's GPU handle (uploaded on first use), or -1.
func (e *Engine) nf4Handle(w *nf4.Tensor) int { return e.res.nf4(w) }

// floatBytes views a float32 slice as its bytes (little-endian, as JS's typed arrays here).
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// await blocks the calling goroutine until p settles. It must not run on
// the goroutine of a JS callback (the bridge's calls run on their own).
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{v: a[0]}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{err: fmt.Errorf("gpu: %s", a[0].Get("message").String())}
		return nil
	})
	p.Call("then", then, catch)
	r := <-ch
	then.Release()
	catch.Release()
	return r.v, r.err
}
