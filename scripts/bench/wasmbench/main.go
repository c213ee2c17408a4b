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
//	webtuneBench.apply(id, dA, dB)         -> A after the SGD step with the given (mean) gradients
//	webtuneBench.gemm(engine, tA, tB, m, n, k, iters, reps) -> [ms per product, ...]
package main

import (
	"fmt"
	"math"
	"syscall/js"
	"time"

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

func f32js(v []float32) js.Value {
	u8 := js.Global().Get("Uint8Array").New(4 * len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		bits := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	js.CopyBytesToJS(u8, b)
	return js.Global().Get("Float32Array").New(u8.Get("buffer"))
}

// goF32 copies a JS Float32Array into Go in one copy.
func goF32(v js.Value) []float32 {
	n := v.Get("length").Int()
	u8 := js.Global().Get("Uint8Array").New(v.Get("buffer"), v.Get("byteOffset"), 4*n)
	b := make([]byte, 4*n)
	js.CopyBytesToGo(b, u8)
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return out
}
