//go:build js && wasm

package gpu

import (
	"fmt"
	"runtime"
	"sync"
	"syscall/js"
	"weak"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/quant"
)

// resident keeps frozen weights on the GPU of one JS engine: each
// quant.Matrix or NF4 tensor is uploaded on first use (frozen weights
// never change, so once per model load), shared by the per-product Engine
// and the whole-step StepModel, and freed on the GPU when the Go value is
// collected (weak keys, runtime.AddCleanup).
type resident struct {
	gpu js.Value

	mu        sync.Mutex
	weights   map[weak.Pointer[quant.Matrix]]int // GPU handle, or -1: not taken (too large)
	nf4s      map[weak.Pointer[nf4.Tensor]]int
	uploads   int
	lastError string
}

var (
	residentMu  sync.Mutex
	residentCur *resident
)

// residentFor returns the registry of the JS engine g (one per worker;
// a new engine starts a new registry).
func residentFor(g js.Value) *resident {
	residentMu.Lock()
	defer residentMu.Unlock()
	if residentCur == nil || !residentCur.gpu.Equal(g) {
		residentCur = &resident{gpu: g, weights: map[weak.Pointer[quant.Matrix]]int{}, nf4s: map[weak.Pointer[nf4.Tensor]]int{}}
	}
	return residentCur
}

// counts returns the uploads so far and the last upload error (or other
// when there was none).
func (r *resident) counts(other string) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if other == "" {
		other = r.lastError
	}
	return r.uploads, other
}

// quant returns w's handle, uploading it on first use; -1 when the engine
// refused it (the error is kept for Stats).
func (r *resident) quant(w *quant.Matrix) int {
	return upload(r, r.weights, w, func() (int, error) {
		return r.upload(w.Type().String(), w.Rows(), w.Cols(), w.Data(), js.Undefined())
	})
}

// nf4 returns w's handle (rows packed by PackNF4Rows with the code table),
// uploading it on first use; -1 when it cannot be taken.
func (r *resident) nf4(w *nf4.Tensor) int {
	return upload(r, r.nf4s, w, func() (int, error) {
		data, err := PackNF4Rows(w)
		if err != nil {
			return -1, err
		}
		codes := js.Global().Get("Float32Array").New(16)
		for i, v := range nf4.Code() {
			codes.SetIndex(i, v)
		}
		opts := js.Global().Get("Object").New()
		opts.Set("blockSize", w.BlockSize())
		opts.Set("code", codes)
		return r.upload("NF4", w.Rows(), w.Cols(), data, opts)
	})
}

// upload hands one weight to the JS engine's uploadWeight; a throw (a row
// over the binding limit, a lost device) becomes an error.
func (r *resident) upload(typ string, rows, cols int, data []byte, opts js.Value) (h int, err error) {
	defer func() {
		if p := recover(); p != nil {
			h, err = -1, fmt.Errorf("gpu: %s weight %d×%d: %v", typ, rows, cols, p)
		}
	}()
	u8 := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	if opts.IsUndefined() {
		return r.gpu.Call("uploadWeight", typ, rows, cols, u8).Int(), nil
	}
	return r.gpu.Call("uploadWeight", typ, rows, cols, u8, opts).Int(), nil
}

// upload is the first-use path of quant and nf4: the handle of w in m, or
// a new upload, freed on the GPU when w is collected.
func upload[W any](r *resident, m map[weak.Pointer[W]]int, w *W, put func() (int, error)) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := weak.Make(w)
	if h, ok := m[key]; ok {
		return h
	}
	h, err := put()
	m[key] = h
	if err != nil {
		r.lastError = err.Error()
		return -1
	}
	r.uploads++
	gpu := r.gpu
	runtime.AddCleanup(w, func(h int) {
		gpu.Call("freeWeight", h)
		r.mu.Lock()
		delete(m, key)
		r.mu.Unlock()
	}, h)
	return h
}
