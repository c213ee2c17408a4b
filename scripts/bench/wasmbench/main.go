//go:build js && wasm

// Command wasmbench is the Go side of web/bench: it puts
// globalThis.webtuneBench on the page with synchronous timing functions
// (a benchmark blocks on purpose) and calls globalThis.__benchReady.
//
//	webtuneBench.engines()                 -> ["cpu", "wasm-simd-relaxed"]
//	webtuneBench.variants()               -> names of every kernel variant engine (usable in gemm)
//	webtuneBench.data()                    -> {x, target, w, a, b} Float32Arrays
//	webtuneBench.newStep(engine)           -> id (a fresh model on the data)
//	webtuneBench.runStep(id, iters)        -> {ms: [..], loss, a, b}
//	webtuneBench.newLlama(engine, model)   -> id ("ref" or "builtin" llama + LoRA r=8 all-linear)
//	webtuneBench.runLlama(id, iters)       -> [ms per 256-token training step, ...]
//	webtuneBench.newPart(engine, r0, r1)   -> id (rows r0..r1 of the batch: a data-parallel worker)
//	webtuneBench.grads(id)                 -> {loss, dA, dB} of the worker's micro-batch
//	webtuneBench.gradsInto(id, f32)        -> loss; dA then dB written to the Float32Array f32 (e.g. on a SharedArrayBuffer)
//	webtuneBench.apply(id, dA, dB)         -> A after the SGD step with the given (mean) gradients
//	webtuneBench.applyFrom(id, f32)        -> the SGD step with the mean gradients dA then dB read from f32
//	webtuneBench.weightsA(id)              -> A (a copy)
//	webtuneBench.gemm(engine, tA, tB, m, n, k, iters, reps) -> [ms per product, ...]
package main

import (
	"fmt"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/webtune/webtune/scripts/bench/llamastep"
	"github.com/webtune/webtune/scripts/bench/step"
	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/wasm/simd"
)

func main() {
	engines := map[string]tensor.Engine[float32]{"cpu": tensor.NewCPU[float32]()}
	names := []any{"cpu"}
	simdErr := ""
	if e, err := simd.New[float32](); err == nil {
		engines[e.Name()] = e
		names = append(names, e.Name())
	} else {
		simdErr = err.Error()
	}
	data := step.NewData(1)
	api := js.Global().Get("Object").New()
	api.Set("engines", fn(func(args []js.Value) any { return js.ValueOf(names) }))
	api.Set("simdError", simdErr)
	api.Set("variants", fn(func(args []js.Value) any {
		var vs []any
		for _, relaxed := range []bool{true, false} {
			for mr := 2; mr <= 6; mr++ {
				for _, u := range []int{1, 2, 4} {
					e, err := simd.NewVariant[float32](simd.Variant{MR: mr, Unroll: u, Relaxed: relaxed})
					if err != nil {
						continue
					}
					engines[e.Name()] = e
					vs = append(vs, e.Name())
				}
			}
		}
		return js.ValueOf(vs)
	}))
	api.Set("data", fn(func(args []js.Value) any {
		o := js.Global().Get("Object").New()
		for k, v := range map[string][]float32{"x": data.X, "target": data.Target, "w": data.W, "a": data.A, "b": data.B} {
			o.Set(k, f32js(v))
		}
		return o
	}))
	var steppers []*step.Step
	api.Set("newStep", fn(func(args []js.Value) any {
		s, err := step.New(engines[args[0].String()], data)
		if err != nil {
			panic(err)
		}
		steppers = append(steppers, s)
		return len(steppers) - 1
	}))
	api.Set("runStep", fn(func(args []js.Value) any {
		s := steppers[args[0].Int()]
		iters := args[1].Int()
		ms := make([]any, iters)
		var loss float32
		for i := range iters {
			t := time.Now()
			l, err := s.Run()
			ms[i] = float64(time.Since(t).Microseconds()) / 1000
			if err != nil {
				panic(err)
			}
			loss = l
		}
		o := js.Global().Get("Object").New()
		o.Set("ms", js.ValueOf(ms))
		o.Set("loss", loss)
		o.Set("a", f32js(s.A()))
		o.Set("b", f32js(s.B()))
		return o
	}))
	api.Set("newPart", fn(func(args []js.Value) any {
		s, err := step.NewPart(engines[args[0].String()], data, args[1].Int(), args[2].Int())
		if err != nil {
			panic(err)
		}
		steppers = append(steppers, s)
		return len(steppers) - 1
	}))
	api.Set("grads", fn(func(args []js.Value) any {
		s := steppers[args[0].Int()]
		loss, err := s.Grads()
		if err != nil {
			panic(err)
		}
		o := js.Global().Get("Object").New()
		o.Set("loss", loss)
		o.Set("dA", f32js(s.GradA()))
		o.Set("dB", f32js(s.GradB()))
		return o
	}))
	api.Set("gradsInto", fn(func(args []js.Value) any {
		s := steppers[args[0].Int()]
		loss, err := s.Grads()
		if err != nil {
			panic(err)
		}
		dst, na := args[1], len(s.GradA())
		copyToJS(dst.Call("subarray", 0, na), s.GradA())
		copyToJS(dst.Call("subarray", na, na+len(s.GradB())), s.GradB())
		return loss
	}))
	var meanA, meanB []float32
	api.Set("applyFrom", fn(func(args []js.Value) any {
		s := steppers[args[0].Int()]
		src, na, nb := args[1], len(s.GradA()), len(s.GradB())
		meanA, meanB = grow(meanA, na), grow(meanB, nb)
		copyToGo(meanA, src.Call("subarray", 0, na))
		copyToGo(meanB, src.Call("subarray", na, na+nb))
		if err := s.Apply(meanA, meanB); err != nil {
			panic(err)
		}
		return nil
	}))
	api.Set("weightsA", fn(func(args []js.Value) any { return f32js(steppers[args[0].Int()].A()) }))
	api.Set("apply", fn(func(args []js.Value) any {
		s := steppers[args[0].Int()]
		if err := s.Apply(goF32(args[1]), goF32(args[2])); err != nil {
			panic(err)
		}
		return f32js(s.A())
	}))
	var llamas []*llamastep.Train
	api.Set("newLlama", fn(func(args []js.Value) any {
		cfg := llamastep.RefConfig()
		if len(args) > 1 && args[1].String() == "builtin" {
			var err error
			if cfg, err = llamastep.BuiltinConfig(); err != nil {
				panic(err)
			}
		}
		t, err := llamastep.NewConfig(engines[args[0].String()], cfg)
		if err != nil {
			panic(err)
		}
		llamas = append(llamas, t)
		return len(llamas) - 1
	}))
	api.Set("runLlama", fn(func(args []js.Value) any {
		t := llamas[args[0].Int()]
		ms := make([]any, args[1].Int())
		for i := range ms {
			t0 := time.Now()
			if _, err := t.Step(); err != nil {
				panic(err)
			}
			ms[i] = float64(time.Since(t0).Microseconds()) / 1000
		}
		return js.ValueOf(ms)
	}))
	api.Set("gemm", fn(func(args []js.Value) any {
		e := engines[args[0].String()]
		ta, tb := args[1].Bool(), args[2].Bool()
		m, n, k, iters := args[3].Int(), args[4].Int(), args[5].Int(), args[6].Int()
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%13) / 13
		}
		for i := range b {
			b[i] = float32(i%7) / 7
		}
		reps := args[7].Int()
		ms := make([]any, iters)
		for i := range iters {
			t := time.Now()
			for range reps {
				e.Gemm(ta, tb, m, n, k, 1, a, b, 0, c)
			}
			ms[i] = float64(time.Since(t).Microseconds()) / 1000 / float64(reps)
		}
		return js.ValueOf(ms)
	}))
	js.Global().Set("webtuneBench", api)
	if r := js.Global().Get("__benchReady"); r.Type() == js.TypeFunction {
		r.Invoke(api)
	}
	select {}
}

// fn wraps f so that a Go panic becomes a thrown JS Error.
func fn(f func([]js.Value) any) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) (res any) {
		defer func() {
			if r := recover(); r != nil {
				res = js.Global().Get("Error").New(fmt.Sprint(r))
			}
		}()
		return f(args)
	})
}

// f32js copies v into a new Float32Array in one copy.
func f32js(v []float32) js.Value {
	out := js.Global().Get("Float32Array").New(len(v))
	copyToJS(out, v)
	return out
}

// copyToJS copies v into the Float32Array dst (of at least len(v)).
func copyToJS(dst js.Value, v []float32) {
	if len(v) == 0 {
		return
	}
	u8 := js.Global().Get("Uint8Array").New(dst.Get("buffer"), dst.Get("byteOffset"), 4*len(v))
	js.CopyBytesToJS(u8, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
}

// copyToGo fills v from the Float32Array src.
func copyToGo(v []float32, src js.Value) {
	if len(v) == 0 {
		return
	}
	u8 := js.Global().Get("Uint8Array").New(src.Get("buffer"), src.Get("byteOffset"), 4*len(v))
	js.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)), u8)
}

func grow(v []float32, n int) []float32 {
	if cap(v) < n {
		return make([]float32, n)
	}
	return v[:n]
}

// goF32 copies a JS Float32Array into a new Go slice in one copy.
func goF32(v js.Value) []float32 {
	out := make([]float32, v.Get("length").Int())
	copyToGo(out, v)
	return out
}
