//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"syscall/js"
	"unsafe"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/nn"
)

// StepModel trains a LoRA model with whole steps on the GPU: the page's
// WebGPU model (web/gpu/model.js, built from llama.PlanGPU) runs the
// forward, the chunked cross-entropy and the backward with the activations
// on the GPU; per step the packed LoRA parameters go up and the per-row
// losses and the packed LoRA gradients come back, which StepModel adds to
// the parameters' Grad tensors. It is a train.Model (and train.Dropout,
// forwarded to the model, which has no dropout on this path); the AdamW
// update, clipping and checks stay in Go. Not safe for concurrent use.
type StepModel struct {
	m      *llama.Model[float32]
	res    *resident
	create js.Value

	plan   *llama.GPUPlan
	gm     js.Value // the JS model, for plan.P positions; undefined until the first step
	own    []int    // handles of the float32 weights this model uploaded (freed by Close)
	packed []float32
	stats  StepStats
}

// NewStepModel returns m's whole-step GPU trainer when the worker opened
// the engine for it (ErrNoStep otherwise) and llama.PlanGPU accepts m (its
// error names what the GPU step does not run), after uploading the frozen
// weights and building the GPU model.
func NewStepModel(m *llama.Model[float32], seqLen int) (*StepModel, error) {
	g, create := js.Global().Get("webtuneGPU"), js.Global().Get("webtuneGPUCreateModel")
	if g.IsUndefined() || g.IsNull() || create.Type() != js.TypeFunction {
		return nil, ErrNoStep
	}
	p, err := llama.PlanGPU(m, max(seqLen, 1))
	if err != nil {
		return nil, err
	}
	s := &StepModel{m: m, res: residentFor(g), create: create, plan: p, gm: js.Undefined()}
	s.stats.LoRAFloats, s.stats.WeightBytes = p.LoRAFloats(), p.WeightBytes()
	// Upload now, so that a model the GPU cannot hold (a weight over its
	// buffer limits, a lost device) trains on the CPU with the reason shown
	// instead of failing at its first step.
	if err := s.ensure(p.P); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Parameters returns the model's trainable parameters (the LoRA pairs).
func (s *StepModel) Parameters() []*nn.Parameter[float32] { return s.m.Parameters() }

// SetTraining forwards to the model (no dropout runs on the GPU path).
func (s *StepModel) SetTraining(on bool) { s.m.SetTraining(on) }

// SetDropoutKey forwards to the model.
func (s *StepModel) SetDropoutKey(key uint64, pos int) { s.m.SetDropoutKey(key, pos) }

// Stats returns the counters so far.
func (s *StepModel) Stats() StepStats { return s.stats }

// ForwardBackward runs one GPU step and adds gradScale times the gradient
// of the mean loss over the counted targets to the LoRA gradients.
func (s *StepModel) ForwardBackward(ctx context.Context, tokens, targets [][]int, gradScale float64) (float64, error) {
	return s.run(ctx, tokens, targets, gradScale, true)
}

// Loss runs the GPU forward only.
func (s *StepModel) Loss(ctx context.Context, tokens, targets [][]int) (float64, error) {
	return s.run(ctx, tokens, targets, 0, false)
}

func (s *StepModel) run(ctx context.Context, tokens, targets [][]int, gradScale float64, backward bool) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	B, T, count, tok, tg, err := s.batch(tokens, targets)
	if err != nil || count == 0 {
		return 0, err
	}
	if err := s.ensure(T); err != nil {
		return 0, err
	}
	st := s.res.gpu.Get("stats")
	up0, down0, disp0 := st.Get("bytesUploaded").Float(), st.Get("bytesReadBack").Float(), st.Get("dispatches").Int()
	// The parameters change after every optimizer step: up they go before
	// each call (evaluation included).
	if err := s.setLoRA(); err != nil {
		return 0, err
	}
	args := js.Global().Get("Object").New()
	args.Set("tokens", tok)
	args.Set("targets", tg)
	args.Set("B", B)
	args.Set("T", T)
	args.Set("dloss", float32(gradScale/float64(count)))
	args.Set("backward", backward)
	res, err := await(s.gm.Call("step", args))
	if err != nil {
		s.stats.LastError = err.Error()
		return 0, fmt.Errorf("gpu step: %w", err)
	}
	losses := res.Get("losses")
	if losses.Get("length").Int() != B*T {
		return 0, fmt.Errorf("gpu step: %d losses, want %d", losses.Get("length").Int(), B*T)
	}
	lv := make([]float32, B*T)
	copyFromJS(lv, losses)
	var sum float64
	for _, l := range lv {
		sum += float64(l)
	}
	if backward {
		g := res.Get("grads")
		if g.Get("length").Int() != len(s.packed) {
			return 0, fmt.Errorf("gpu step: %d gradient values, want %d", g.Get("length").Int(), len(s.packed))
		}
		copyFromJS(s.packed, g)
		s.addGrads(s.packed)
		s.stats.Steps++
	} else {
		s.stats.Evals++
	}
	st = s.res.gpu.Get("stats")
	s.stats.LastUp = int64(st.Get("bytesUploaded").Float() - up0)
	s.stats.LastDown = int64(st.Get("bytesReadBack").Float() - down0)
	s.stats.LastDispatches = st.Get("dispatches").Int() - disp0
	return sum / float64(count), nil
}

// batch checks tokens and targets [B][T] as the CPU model does and packs
// them as Int32Arrays; count is the targets that are not ignored.
func (s *StepModel) batch(tokens, targets [][]int) (B, T, count int, tok, tg js.Value, err error) {
	V := s.plan.V
	if len(tokens) == 0 || len(tokens[0]) == 0 || len(targets) != len(tokens) {
		return 0, 0, 0, tok, tg, fmt.Errorf("%w: a batch of %d token rows and %d target rows", llama.ErrShape, len(tokens), len(targets))
	}
	B, T = len(tokens), len(tokens[0])
	ids, tgs := make([]int32, B*T), make([]int32, B*T)
	for b := range B {
		if len(tokens[b]) != T || len(targets[b]) != T {
			return 0, 0, 0, tok, tg, fmt.Errorf("%w: row %d has %d tokens and %d targets, want %d", llama.ErrShape, b, len(tokens[b]), len(targets[b]), T)
		}
		for t := range T {
			id, y := tokens[b][t], targets[b][t]
			if id < 0 || id >= V || y < llama.IgnoreIndex || y >= V {
				return 0, 0, 0, tok, tg, fmt.Errorf("%w: token %d or target %d at [%d][%d] outside [0, %d)", llama.ErrShape, id, y, b, t, V)
			}
			ids[b*T+t], tgs[b*T+t] = int32(id), int32(y)
			if y >= 0 {
				count++
			}
		}
	}
	return B, T, count, int32sJS(ids), int32sJS(tgs), nil
}

// ensure builds the JS model for sequences of T tokens (again, with longer
// rope tables, when T outgrows them): the frozen weights are uploaded once
// (resident), the vectors and tables with the model.
func (s *StepModel) ensure(T int) error {
	if !s.gm.IsUndefined() && T <= s.plan.P {
		return nil
	}
	if T > s.plan.P {
		p, err := llama.PlanGPU(s.m, T)
		if err != nil {
			return err
		}
		s.plan = p
	}
	s.Close()
	obj, err := s.planJS()
	if err != nil {
		s.stats.LastError = err.Error()
		return err
	}
	gm, err := await(s.create.Invoke(s.res.gpu, obj))
	if err != nil {
		s.stats.LastError = err.Error()
		return fmt.Errorf("gpu: building the model on the GPU: %w", err)
	}
	s.gm = gm
	s.packed = make([]float32, s.plan.LoRAFloats())
	return nil
}

// Reserve allocates the GPU's activations for steps of B sequences of T
// tokens now, so that a shape the GPU cannot hold is refused before a run
// starts (the error names the buffer).
func (s *StepModel) Reserve(B, T int) error {
	if err := s.ensure(T); err != nil {
		return err
	}
	if _, err := await(s.gm.Call("reserve", B, T)); err != nil {
		return fmt.Errorf("gpu: a step of %d×%d tokens does not fit the GPU: %w", B, T, err)
	}
	return nil
}

// Close frees the JS model and the float32 weights it uploaded (quantized
// and NF4 weights stay resident while the Go model lives).
func (s *StepModel) Close() {
	if !s.gm.IsUndefined() {
		s.gm.Call("destroy")
		s.gm = js.Undefined()
	}
	for _, h := range s.own {
		s.res.gpu.Call("freeWeight", h)
	}
	s.own = nil
}

// setLoRA packs every LoRA pair's A then B in plan order and uploads them.
func (s *StepModel) setLoRA() error {
	o := 0
	for _, l := range s.plan.LoRAs {
		o += copy(s.packed[o:], l.A.Value.Data())
		o += copy(s.packed[o:], l.B.Value.Data())
	}
	_, err := await(s.gm.Call("setLoRA", float32sJS(s.packed)))
	return err
}

// addGrads adds packed gradients (plan order) to the pairs' Grad tensors.
func (s *StepModel) addGrads(g []float32) {
	o := 0
	for _, l := range s.plan.LoRAs {
		for _, p := range []*nn.Parameter[float32]{l.A, l.B} {
			d := p.Grad.Data()
			for i := range d {
				d[i] += g[o+i]
			}
			o += len(d)
		}
	}
}

// planJS turns the plan into the JS object web/gpu/model.js takes,
// uploading the frozen weights it does not hold yet.
func (s *StepModel) planJS() (js.Value, error) {
	p := s.plan
	obj := js.Global().Get("Object").New()
	for k, v := range map[string]any{"arch": p.Arch, "C": p.C, "L": p.L, "NH": p.NH, "NKV": p.NKV, "HS": p.HS, "F": p.F, "V": p.V,
		"eps": p.Eps, "neox": p.Neox, "gelu": p.GELU, "embedScale": p.EmbedScale, "softcap": p.Softcap, "P": p.P,
		"outputLora": p.OutputLoRA} {
		obj.Set(k, v)
	}
	obj.Set("ropeCos", float32sJS(p.RopeCos))
	obj.Set("ropeSin", float32sJS(p.RopeSin))
	obj.Set("ropeCosLocal", float32sJS(p.RopeCosLocal))
	obj.Set("ropeSinLocal", float32sJS(p.RopeSinLocal))
	obj.Set("outputNorm", float32sJS(p.OutputNorm))
	embed, err := s.handle(p.Embed, "token_embd")
	if err != nil {
		return js.Undefined(), err
	}
	obj.Set("embed", embed)
	out := embed
	if !p.Tied {
		if out, err = s.handle(p.Output, "output"); err != nil {
			return js.Undefined(), err
		}
	}
	obj.Set("output", out)
	layers := js.Global().Get("Array").New()
	for l, g := range p.Layers {
		lo := js.Global().Get("Object").New()
		for k, v := range map[string][]float32{"attnNorm": g.AttnNorm, "ffnNorm": g.FFNNorm, "qBias": g.QBias, "kBias": g.KBias,
			"vBias": g.VBias, "qNorm": g.QNorm, "kNorm": g.KNorm, "postAttnNorm": g.PostAttnNorm, "postFFNNorm": g.PostFFNNorm} {
			lo.Set(k, float32sJS(v))
		}
		lo.Set("local", g.Local)
		lo.Set("window", g.Window)
		lo.Set("scale", g.Scale)
		for _, sl := range []struct {
			name string
			lin  llama.GPULinear
		}{{"q", g.Q}, {"k", g.K}, {"v", g.V}, {"o", g.O}, {"gate", g.Gate}, {"up", g.Up}, {"down", g.Down}} {
			h, err := s.handle(sl.lin.W, fmt.Sprintf("blk.%d.%s", l, sl.name))
			if err != nil {
				return js.Undefined(), err
			}
			so := js.Global().Get("Object").New()
			so.Set("w", h)
			so.Set("rows", sl.lin.W.Rows)
			so.Set("cols", sl.lin.W.Cols)
			so.Set("lora", sl.lin.LoRA)
			lo.Set(sl.name, so)
		}
		layers.Call("push", lo)
	}
	obj.Set("layers", layers)
	loras := js.Global().Get("Array").New()
	for _, l := range p.LoRAs {
		lo := js.Global().Get("Object").New()
		lo.Set("layer", l.Layer)
		lo.Set("slot", l.Slot)
		lo.Set("in", l.In)
		lo.Set("out", l.Out)
		lo.Set("r", l.R)
		lo.Set("scale", l.Scale)
		loras.Call("push", lo)
	}
	obj.Set("loras", loras)
	return obj, nil
}

// handle returns the GPU handle of a frozen weight: resident quantized and
// NF4 weights, or a float32 weight uploaded for this model.
func (s *StepModel) handle(w llama.GPUWeight, name string) (int, error) {
	var h int
	switch {
	case w.Quant != nil:
		h = s.res.quant(w.Quant)
	case w.NF4 != nil:
		h = s.res.nf4(w.NF4)
	default:
		var err error
		if h, err = s.res.upload("F32", w.Rows, w.Cols, floatBytes(w.F32), js.Undefined()); err != nil {
			return -1, err
		}
		s.own = append(s.own, h)
		s.stats.UploadedWeights++
	}
	if h < 0 {
		_, msg := s.res.counts("")
		return -1, fmt.Errorf("gpu: %s does not fit the GPU: %s", name, msg)
	}
	return h, nil
}

// float32sJS copies f into a new Float32Array (null for nil).
func float32sJS(f []float32) js.Value {
	if f == nil {
		return js.Null()
	}
	a := js.Global().Get("Float32Array").New(len(f))
	if len(f) > 0 {
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(a.Get("buffer")), floatBytes(f))
	}
	return a
}

// int32sJS copies v into a new Int32Array.
func int32sJS(v []int32) js.Value {
	a := js.Global().Get("Int32Array").New(len(v))
	if len(v) > 0 {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(a.Get("buffer")), b)
	}
	return a
}

// copyFromJS copies a Float32Array into dst (len(dst) values).
func copyFromJS(dst []float32, a js.Value) {
	js.CopyBytesToGo(floatBytes(dst), js.Global().Get("Uint8Array").New(a.Get("buffer"), a.Get("byteOffset"), 4*len(dst)))
}
