//go:build js && wasm

package gpu

import (
	"fmt"
	"runtime"
	"sync"
	"syscall/js"
	"unsafe"
	"weak"

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

	mu      sync.Mutex
	weights map[weak.Pointer[quant.Matrix]]int // GPU handle, or -1: not taken (too large); weak, so a released model's matrices are collected
	nf4s    map[weak.Pointer[nf4.Tensor]]int
	stats   Stats
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
	return &Engine{cpu: c, gpu: g, weights: map[weak.Pointer[quant.Matrix]]int{}, nf4s: map[weak.Pointer[nf4.Tensor]]int{}}
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
	defer e.mu.Unlock()
	return e.stats
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
	arr := js.Global().Get("Float32Array").New(len(in))
	js.CopyBytesToJS(js.Global().Get("Uint8Array").New(arr.Get("buffer")), floatBytes(in))
	res, err := await(e.gpu.Call(method, h, arr, n))
	if err != nil {
		e.fallback(err.Error())
		return false
	}
	if res.Get("length").Int() != len(out) {
		e.fallback(fmt.Sprintf("%s returned %d values, want %d", method, res.Get("length").Int(), len(out)))
		return false
	}
	js.CopyBytesToGo(floatBytes(out), js.Global().Get("Uint8Array").New(res.Get("buffer"), res.Get("byteOffset"), res.Get("byteLength")))
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

// handle uploads w on first use (once per loaded model: frozen weights
// never change) and frees its GPU buffers when w is collected.
func (e *Engine) handle(w *quant.Matrix) (h int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := weak.Make(w)
	if h, ok := e.weights[key]; ok {
		return h
	}
	defer func() {
		if r := recover(); r != nil { // the JS engine threw (a row over the binding limit)
			e.stats.LastError = fmt.Sprint(r)
			h = -1
		}
		e.weights[key] = h
	}()
	data := w.Data()
	u8 := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	h = e.gpu.Call("uploadWeight", w.Type().String(), w.Rows(), w.Cols(), u8).Int()
	e.stats.Uploads++
	gpu := e.gpu
	runtime.AddCleanup(w, func(h int) {
		gpu.Call("freeWeight", h)
		e.mu.Lock()
		delete(e.weights, key)
		e.mu.Unlock()
	}, h)
	return h
}

// nf4Handle is handle for an NF4 tensor: packed row by row (PackNF4Rows)
// with the code table, uploaded on first use, freed when collected.
func (e *Engine) nf4Handle(w *nf4.Tensor) (h int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := weak.Make(w)
	if h, ok := e.nf4s[key]; ok {
		return h
	}
	defer func() {
		if r := recover(); r != nil {
			e.stats.LastError = fmt.Sprint(r)
			h = -1
		}
		e.nf4s[key] = h
	}()
	data, err := PackNF4Rows(w)
	if err != nil {
		e.stats.LastError = err.Error()
		return -1
	}
	u8 := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	code := nf4.Code()
	codes := js.Global().Get("Float32Array").New(16)
	for i, v := range code {
		codes.SetIndex(i, v)
	}
	opts := js.Global().Get("Object").New()
	opts.Set("blockSize", w.BlockSize())
	opts.Set("code", codes)
	h = e.gpu.Call("uploadWeight", "NF4", w.Rows(), w.Cols(), u8, opts).Int()
	e.stats.Uploads++
	gpu := e.gpu
	runtime.AddCleanup(w, func(h int) {
		gpu.Call("freeWeight", h)
		e.mu.Lock()
		delete(e.nf4s, key)
		e.mu.Unlock()
	}, h)
	return h
}

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
