//go:build js && wasm

// Command bridge is webtune's GOOS=js main: it puts the API object on
// globalThis.webtune (and passes it to globalThis.__webtuneReady when that
// function exists), then serves calls until the page goes away. Every API
// function returns a Promise; the logic lives in package core and this file
// only converts values (vert for small option objects, one-copy typed
// arrays for bulk data).
//
//	const m = await webtune.loadModel("builtin", {qlora: true})
//	await m.injectLoRA({rank: 8, targets: ["attn_q", "attn_v"]})
//	const run = await m.train({text, steps: 50, onProgress: (p) => ...})
//	await run.done
//	const adapter = await m.saveAdapter() // Uint8Array (GGUF)
package main

import (
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"syscall/js"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/wasm/bridge/core"
	"github.com/webtune/webtune/wasm/gpu"
)

// Version is the API version reported by webtune.version.
const Version = "0.1.0"

// yieldToJS hands the thread to the JS event loop and returns when a
// zero-delay timer has called back, so that the messages queued meanwhile
// (pause, stop, memory, the reply that hands the page its run) are handled:
// the goroutine cannot go on before JS has run. It runs before a run's
// first step, between steps and, at most every activityEvery, inside a long
// step. Before, a 1 ms sleep between steps was the only yield, and a run of
// a 135M-shaped model delivered nothing to the page (progress, memory, the
// answer to Stop) until it ended; what matters most is the yield inside the
// step (page-realsize.test.mjs fails without it). Why the sleep between
// steps did not return to JS there was not pinned down (the runtime may
// resume a sleeper without pausing while it has GC work to do); a callback
// from JS cannot be skipped that way.
func yieldToJS() {
	jsSetTimeout.Invoke(yieldFunc, 0)
	<-yielded
}

var (
	jsSetTimeout = js.Global().Get("setTimeout")
	yielded      = make(chan struct{}, 1)
	yieldFunc    = js.FuncOf(func(js.Value, []js.Value) any {
		select {
		case yielded <- struct{}{}:
		default:
		}
		return nil
	})
)

// activityEvery is how often a long training step reports where it is
// (opts.onActivity) and yields to JS.
const activityEvery = 250 * time.Millisecond

func main() {
	// The page's budget for one worker: past it the runtime collects harder
	// instead of letting the heap grow to twice the live bytes (the wasm
	// memory never shrinks, so an overshoot is kept for good).
	debug.SetMemoryLimit(core.WorkerBudget)
	// and, as webtune train does natively, a collection after 25 % growth
	// rather than 100 %: a step's garbage then costs a quarter of the live
	// heap, not as much again (core.EstimateTraining counts on it)
	debug.SetGCPercent(25)
	api := object(map[string]func([]js.Value) (any, error){
		"loadModel":  loadModel,
		"sequential": sequential,
		// inspect(prefix: Uint8Array, size[, settings]) reads a GGUF header
		// from the first bytes of a file of size bytes (core.InspectHeader;
		// with settings {rank, targets, qlora, seqLen, batch, workers} also
		// the memory estimate of such a run, core.EstimateTraining).
		"inspect": func(a []js.Value) (any, error) {
			b, err := bytesArg(arg(a, 0), "the file's first bytes")
			if err != nil {
				return nil, err
			}
			if s := arg(a, 1); s.Type() != js.TypeNumber || s.Float() < 0 || s.Float() > 1<<53 {
				return nil, errors.New("webtune: inspect needs the file's size in bytes")
			}
			var in core.HeaderInfo
			if o := arg(a, 2); o.Type() == js.TypeObject {
				// inspect(prefix, size, settings) adds the memory estimate of a run
				var st core.TrainSettings
				if err := options(o, &st); err != nil {
					return nil, err
				}
				in, err = core.InspectHeaderFor(b, int64(arg(a, 1).Float()), st)
			} else {
				in, err = core.InspectHeader(b, int64(arg(a, 1).Float()))
			}
			if err != nil {
				return nil, err
			}
			return toJS(in), nil
		},
		"memory": func(a []js.Value) (any, error) {
			if o := arg(a, 0); o.Type() == js.TypeObject && o.Get("gc").Truthy() {
				runtime.GC()
			}
			return memory(), nil
		},
		// engine names the engine the models compute with
		// ("wasm-simd-relaxed", "wasm-simd" or "cpu").
		"engine": func([]js.Value) (any, error) { return core.Engine().Name(), nil },
		// gpuStats counts the frozen products the GPU ran and those that fell
		// back to the CPU, with the GPU's dispatches and bytes moved (null when
		// the engine does not use the GPU).
		"gpuStats": func([]js.Value) (any, error) {
			g, ok := core.Engine().(*gpu.Engine)
			if !ok {
				return nil, nil
			}
			s := g.Stats()
			out := map[string]any{"offloaded": s.Offloaded, "fallbacks": s.Fallbacks, "uploads": s.Uploads, "lastError": s.LastError}
			// the JS engine's traffic counters: dispatches, bytes uploaded (weights included) and read back
			if st := js.Global().Get("webtuneGPU").Get("stats"); st.Type() == js.TypeObject {
				for _, k := range []string{"dispatches", "bytesUploaded", "bytesReadBack", "weightBytes"} {
					out[k] = st.Get(k).Float()
				}
			}
			return out, nil
		},
		"builtinModel": func([]js.Value) (any, error) {
			_, b, err := core.Builtin()
			if err != nil {
				return nil, err
			}
			return bytesJS(b), nil
		},
		// _panic exists for tests: it proves a Go panic becomes a rejected
		// promise and the instance stays usable.
		"_panic": func([]js.Value) (any, error) { panic("deliberate panic for testing") },
		// _exit ends the Go program as a fatal out-of-memory error would,
		// so that tests can check that the page recovers.
		"_exit": func([]js.Value) (any, error) { os.Exit(3); return nil, nil },
	}, nil)
	api.Set("version", Version)
	js.Global().Set("webtune", api)
	if ready := js.Global().Get("__webtuneReady"); ready.Type() == js.TypeFunction {
		ready.Invoke(api)
	}
	select {}
}

// memory reports the Go heap in bytes (the wasm linear memory is reported by
// the JS side, which can read its size).
func memory() js.Value {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return toJS(struct {
		HeapInUse int64 `js:"heapInUse"`
		HeapSys   int64 `js:"heapSys"`
		Sys       int64 `js:"sys"`
	}{int64(ms.HeapInuse), int64(ms.HeapSys), int64(ms.Sys)})
}

// loadModel(bytes: Uint8Array | "builtin", {qlora, name}) → model object.
func loadModel(args []js.Value) (any, error) {
	var o core.LoadOptions
	if err := options(arg(args, 1), &o); err != nil {
		return nil, err
	}
	src := arg(args, 0)
	var m *core.Model
	var err error
	if src.Type() == js.TypeString {
		if src.String() != "builtin" {
			return nil, errors.New(`webtune: loadModel takes a Uint8Array or "builtin"`)
		}
		m, err = core.LoadBuiltin(o.QLoRA)
	} else {
		var r *jsReader
		if r, err = newJSReader(src, "the model"); err != nil {
			return nil, err
		}
		m, err = core.LoadModelFrom(r, r.size, o)
	}
	if err != nil {
		return nil, err
	}
	runtime.GC() // what loading decoded and dropped is garbage now
	return modelObject(m), nil
}

// modelObject exposes m's methods.
func modelObject(m *core.Model) js.Value {
	return object(map[string]func([]js.Value) (any, error){
		"info": func([]js.Value) (any, error) { return toJS(m.Info()), nil },
		// gpuStep says whether the last run trains with whole steps on the
		// GPU (or why not) and what its last step moved.
		"gpuStep": func([]js.Value) (any, error) { return toJS(m.GPUStep()), nil },
		"summary": func([]js.Value) (any, error) { return toJS(m.Summary()), nil },
		"injectLoRA": func(a []js.Value) (any, error) {
			var o core.LoRAOptions
			if err := options(arg(a, 0), &o); err != nil {
				return nil, err
			}
			o, err := m.InjectLoRA(o)
			return toJS(o), err
		},
		"textStats": func(a []js.Value) (any, error) {
			var o core.TrainOptions
			if err := options(arg(a, 1), &o); err != nil {
				return nil, err
			}
			s, err := m.TextStats(arg(a, 0).String(), o)
			return toJS(s), err
		},
		"train": func(a []js.Value) (any, error) { return train(m, arg(a, 0)) },
		"generate": func(a []js.Value) (any, error) {
			var o core.GenerateOptions
			if err := options(arg(a, 1), &o); err != nil {
				return nil, err
			}
			g, err := m.Generate(context.Background(), arg(a, 0).String(), o)
			if err != nil {
				return nil, err
			}
			v := toJS(g)
			if lp := g.Logprobs(); lp != nil {
				v.Set("logprobs", floatsJS(lp))
			}
			return v, nil
		},
		"saveAdapter": func([]js.Value) (any, error) {
			b, err := m.SaveAdapter()
			if err != nil {
				return nil, err
			}
			return bytesJS(b), nil
		},
		"adapterFileName": func([]js.Value) (any, error) { return m.AdapterFileName(), nil },
		"loadAdapter": func(a []js.Value) (any, error) {
			b, err := bytesArg(arg(a, 0), "the adapter")
			if err != nil {
				return nil, err
			}
			o, err := m.LoadAdapter(b)
			return toJS(o), err
		},
		"checkpoint": func([]js.Value) (any, error) {
			b, err := m.Checkpoint()
			if err != nil {
				return nil, err
			}
			return bytesJS(b), nil
		},
		"restore": func(a []js.Value) (any, error) {
			b, err := bytesArg(arg(a, 0), "the checkpoint")
			if err != nil {
				return nil, err
			}
			r, err := m.Restore(b)
			return toJS(r), err
		},
	}, m.Close)
}

// train(opts) → run object {pause, resume, stop, state, history, done}.
// The run starts at once; opts.onProgress(progress) is called after every
// step; run.done resolves to {state, error, history} when the run ends.
func train(m *core.Model, opts js.Value) (any, error) {
	var o core.TrainOptions
	if err := options(opts, &o); err != nil {
		return nil, err
	}
	var onProgress, onActivity js.Value
	if opts.Type() == js.TypeObject {
		onProgress, onActivity = opts.Get("onProgress"), opts.Get("onActivity")
	}
	r, err := m.Train(o)
	if err != nil {
		return nil, err
	}
	link, err := replicate(r, opts)
	if err != nil {
		return nil, err
	}
	var resolve js.Value
	executor := js.FuncOf(func(_ js.Value, p []js.Value) any { resolve = p[0]; return nil })
	done := jsPromise.New(executor)
	executor.Release()
	run := object(map[string]func([]js.Value) (any, error){
		"pause":   func([]js.Value) (any, error) { r.Pause(); return string(r.State()), nil },
		"resume":  func([]js.Value) (any, error) { r.Resume(); return string(r.State()), nil },
		"stop":    func([]js.Value) (any, error) { r.Stop(); return string(r.State()), nil },
		"state":   func([]js.Value) (any, error) { return string(r.State()), nil },
		"history": func([]js.Value) (any, error) { return toJS(r.History()), nil },
	}, nil)
	run.Set("done", done)
	c := r.Config()
	run.Set("config", toJS(struct {
		Steps       int     `js:"steps"`
		SeqLen      int     `js:"seqLen"`
		Batch       int     `js:"batch"`
		GradAccum   int     `js:"gradAccum"`
		LR          float64 `js:"lr"`
		Warmup      int     `js:"warmup"`
		EvalEvery   int     `js:"evalEvery"`
		EvalWindows int     `js:"evalWindows"` // held-out windows evaluated each time
		Workers     int     `js:"workers"`     // Web Workers training together (data-parallel)
	}{c.Steps, c.SeqLen, c.Batch, c.GradAccum, c.LR, c.Warmup, c.EvalEvery, c.EvalWindows, workers(link)}))
	// Inside a step, after a block's forward or backward: say where the
	// step is and let JS run, at most every activityEvery.
	last := time.Now()
	ctx := llama.WithActivity(context.Background(), func(a llama.Activity) {
		if time.Since(last) < activityEvery {
			return
		}
		if onActivity.Type() == js.TypeFunction {
			onActivity.Invoke(toJS(struct {
				Pass   string `js:"pass"`
				Layer  int    `js:"layer"`
				Layers int    `js:"layers"`
				Step   int    `js:"step"` // the step in progress
			}{a.Pass, a.Layer, a.Layers, r.History().Step + 1}))
		}
		yieldToJS()
		last = time.Now()
	})
	go func() {
		// the page gets its run object before the first step starts
		yieldToJS()
		state, err := func() (s core.State, err error) {
			defer func() {
				if p := recover(); p != nil {
					s, err = core.StateError, errors.New(panicText(p))
				}
			}()
			return r.Loop(ctx, func(p core.Progress) {
				if onProgress.Type() == js.TypeFunction {
					v := toJS(p)
					v.Set("workers", workers(link))
					onProgress.Invoke(v)
				}
			}, func() {
				yieldToJS()
				last = time.Now()
			})
		}()
		if link != nil {
			link.end()
			r.SetReplica(0, 1, nil)
		}
		res := jsObject.New()
		res.Set("state", string(state))
		if err != nil {
			res.Set("error", core.Plain(err))
		} else {
			res.Set("error", js.Null())
		}
		res.Set("history", toJS(r.History()))
		resolve.Invoke(res)
	}()
	return run, nil
}

// replicate joins r to the other training workers when opts asks for it:
// opts.replica = {sab, index, count} makes this worker replica index of
// count (sent by the primary); opts.replicas = n with
// opts.startReplicas(sab, count) makes it the primary of n+1 workers: it
// allocates the shared buffer and hands it to startReplicas before the
// run loop starts. A run whose steps run on the GPU trains alone. Without SharedArrayBuffer (a page that is not
// cross-origin isolated) the primary trains alone, and it trains on no more
// workers than a micro-batch has windows. It returns nil when r trains
// alone.
func replicate(r *core.Run, opts js.Value) (*replicaLink, error) {
	if opts.Type() != js.TypeObject {
		return nil, nil
	}
	g := r.TrainableFloats()
	if rep := opts.Get("replica"); rep.Type() == js.TypeObject {
		l, err := newReplicaLink(rep.Get("sab"), rep.Get("index").Int(), rep.Get("count").Int(), g)
		if err != nil {
			return nil, err
		}
		return l, r.SetReplica(l.index, l.count, l.allReduce)
	}
	if r.OnGPU() {
		return nil, nil // the GPU trains the whole batch; CPU replicas would wait on it and it on them
	}
	n, start := opts.Get("replicas"), opts.Get("startReplicas")
	sabType := js.Global().Get("SharedArrayBuffer")
	if n.Type() != js.TypeNumber || n.Int() < 1 || start.Type() != js.TypeFunction || sabType.Type() != js.TypeFunction {
		return nil, nil
	}
	// no more workers than a micro-batch has windows: one without a window
	// would only add a gradient exchange every step (batch 1 trains alone)
	count := min(n.Int()+1, r.Config().Batch)
	if count < 2 {
		return nil, nil
	}
	sab := sabType.New(replicaBytes(count, g))
	l, err := newReplicaLink(sab, 0, count, g)
	if err != nil {
		return nil, err
	}
	if err := r.SetReplica(0, count, l.allReduce); err != nil {
		return nil, err
	}
	start.Invoke(sab, count)
	return l, nil
}

// workers is how many workers train with link (1 without).
func workers(link *replicaLink) int {
	if link == nil {
		return 1
	}
	return link.count
}

func panicText(p any) string {
	if e, ok := p.(error); ok {
		return "webtune: internal error: " + e.Error()
	}
	if s, ok := p.(string); ok {
		return "webtune: internal error: " + s
	}
	return "webtune: internal error"
}

// sequential({layers, activation, seed, rank, alpha, lr, targets}) → the
// tensor-path model {step, predict, summary}.
func sequential(args []js.Value) (any, error) {
	var o core.SequentialOptions
	if err := options(arg(args, 0), &o); err != nil {
		return nil, err
	}
	s, err := core.NewSequential(o)
	if err != nil {
		return nil, err
	}
	return object(map[string]func([]js.Value) (any, error){
		"step": func(a []js.Value) (any, error) {
			b := arg(a, 0)
			x, err := floatsArg(b.Get("input"), "input")
			if err != nil {
				return nil, err
			}
			xs, err := intsArg(b.Get("inputShape"), "inputShape")
			if err != nil {
				return nil, err
			}
			y, err := floatsArg(b.Get("target"), "target")
			if err != nil {
				return nil, err
			}
			ys, err := intsArg(b.Get("targetShape"), "targetShape")
			if err != nil {
				return nil, err
			}
			loss, err := s.Step(context.Background(), x, xs, y, ys)
			return float64(loss), err
		},
		"predict": func(a []js.Value) (any, error) {
			x, err := floatsArg(arg(a, 0), "input")
			if err != nil {
				return nil, err
			}
			xs, err := intsArg(arg(a, 1), "inputShape")
			if err != nil {
				return nil, err
			}
			y, shape, err := s.Predict(context.Background(), x, xs)
			if err != nil {
				return nil, err
			}
			out := jsObject.New()
			out.Set("output", floatsJS(y))
			out.Set("shape", toJS(shape))
			return out, nil
		},
		"summary": func([]js.Value) (any, error) { return toJS(s.Summary()), nil },
	}, nil), nil
}
