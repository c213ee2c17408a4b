// Command gpuplan writes what scripts/bench/webgpu-node.mjs needs to run one
// whole LoRA training step of a model with web/gpu/model.js under Node
// (Dawn), on a machine with a GPU and no browser, and to check that step
// against the Go model:
//
//   - plan.json: llama.PlanGPU's plan with the field names of the JS plan
//     object wasm/gpu builds for createModel (step_js.go's planJS), except
//     that each weight is a key of plan.weights (type, rows, cols, file)
//     where the page has a handle, and each vector or rope table is the name
//     of a .f32 file where the page has a Float32Array;
//   - the blobs: every frozen weight in its stored bytes (quant.Matrix.Data(),
//     NF4 rows packed by wasm/gpu.PackNF4Rows with the code table in
//     plan.json, F32 as float32), the vectors and rope tables (.f32), the
//     packed LoRA parameters (lora.f32: each pair's A then B, plan order),
//     one batch (tokens.i32, targets.i32);
//   - the CPU's reference for that batch (ref_losses.f32, ref_grads.f32):
//     the per-row cross-entropies (float64 from the Go model's logits, stored
//     as float32) and the packed LoRA gradients of ForwardBackward with
//     gradScale 1 (the gradient of the mean loss), read from each pair's Grad
//     in plan order.
//
// The model is a GGUF file (-model) or a random-weight model of a real shape
// written by scripts/bench/realsize (-shape smollm2-135m, qwen2.5-0.5b, ...).
// LoRA (r=8 on attn_q,attn_v by default) gets A and B drawn from a fixed
// seed, B nonzero so that every gradient is.
//
//	go run ./scripts/bench/gpuplan -shape smollm2-135m -out DIR [-seqlen 256] [-rank 8] [-targets attn_q,attn_v] [-qlora]
//	go run ./scripts/bench/gpuplan -model FILE.gguf -out DIR
//
// -realsize names the command that writes a shape (default: a realsize
// binary beside this one, else "go run ./scripts/bench/realsize"), so that
// prebuilt binaries run where Go is not installed.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/wasm/gpu"
)

func main() {
	model := flag.String("model", "", "GGUF model file")
	shape := flag.String("shape", "", "random-weight model of this scripts/bench/realsize shape (smollm2-135m, qwen2.5-0.5b, ...) instead of -model")
	out := flag.String("out", "", "directory to write plan.json and the blobs into (created)")
	seqLen := flag.Int("seqlen", 256, "tokens of the batch (B=1)")
	rank := flag.Int("rank", 8, "LoRA rank")
	alpha := flag.Float64("alpha", 16, "LoRA alpha")
	targets := flag.String("targets", "attn_q,attn_v", "LoRA target modules")
	seed := flag.Uint64("seed", 7, "seed of the LoRA parameters and the batch")
	qlora := flag.Bool("qlora", false, "hold the block linears in NF4 (QLoRA)")
	realsize := flag.String("realsize", "", "command that writes a shape (default: ./realsize beside this binary, else go run ./scripts/bench/realsize)")
	flag.Parse()
	if err := run(*model, *shape, *out, *realsize, *seqLen, *rank, float32(*alpha), strings.Split(*targets, ","), *seed, *qlora); err != nil {
		fmt.Fprintln(os.Stderr, "gpuplan:", err)
		os.Exit(1)
	}
}

func run(model, shape, out, realsize string, seqLen, rank int, alpha float32, targets []string, seed uint64, qlora bool) error {
	switch {
	case out == "":
		return errors.New("-out is required")
	case (model == "") == (shape == ""):
		return errors.New("give exactly one of -model FILE.gguf and -shape NAME")
	case seqLen < 2:
		return fmt.Errorf("-seqlen %d: need at least 2 tokens", seqLen)
	case rank < 1:
		return fmt.Errorf("-rank %d: need at least 1", rank)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(model), ".gguf")
	if shape != "" {
		name = shape
		model = filepath.Join(out, shape+".gguf")
		if err := writeShape(realsize, shape, model); err != nil {
			return err
		}
		// The GGUF is only a way to the Go model: the plan's blobs hold its weights.
		defer os.Remove(model)
	}
	t0 := time.Now()
	m, err := load(model, qlora)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gpuplan: %s loaded in %.1fs; CPU reference step of %d tokens\n", name, time.Since(t0).Seconds(), seqLen)
	return writePlan(m, name, filepath.Base(model), out, seqLen, rank, alpha, targets, seed, qlora)
}

// writePlan injects LoRA into m (A and B drawn from seed), runs the CPU
// reference step on one batch of seqLen tokens and writes plan.json and the
// blobs into out.
func writePlan(m *llama.Model[float32], name, source, out string, seqLen, rank int, alpha float32, targets []string, seed uint64, qlora bool) error {
	if err := lora.InjectLoRA(m, rank, alpha, targets, nil); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p, err := llama.PlanGPU(m, seqLen)
	if err != nil {
		return err
	}
	// A and B from the seed: B nonzero (it starts at zero in training) so
	// that A's gradients are nonzero too; small, so the loss stays near
	// the base model's.
	for _, l := range p.LoRAs {
		fill(r, l.A.Value.Data(), 1/math.Sqrt(float64(l.In)))
		fill(r, l.B.Value.Data(), 0.02)
	}
	V := m.Config.VocabSize
	row := make([]int, seqLen+1)
	for i := range row {
		row[i] = r.IntN(V)
	}
	tokens, tgts := [][]int{row[:seqLen]}, [][]int{row[1:]}

	// The reference: the gradient of the mean loss (gradScale 1), then the
	// per-row losses from the logits of the same model and batch.
	ctx := context.Background()
	t1 := time.Now()
	m.ZeroGrad()
	mean, err := m.ForwardBackward(ctx, tokens, tgts, 1)
	if err != nil {
		return err
	}
	stepS := time.Since(t1).Seconds()
	grads := make([]float32, 0, p.LoRAFloats())
	params := make([]float32, 0, p.LoRAFloats())
	for _, l := range p.LoRAs {
		params = append(append(params, l.A.Value.Data()...), l.B.Value.Data()...)
		grads = append(append(grads, l.A.Grad.Data()...), l.B.Grad.Data()...)
	}
	logits, err := m.Forward(ctx, tokens)
	if err != nil {
		return err
	}
	losses := rowLosses(logits.Data(), tgts[0], V)

	w := &writer{dir: out}
	js := w.plan(p, qlora)
	js["model"] = name
	js["source"] = source
	js["weightBytes"] = p.WeightBytes()
	js["loraFloats"] = p.LoRAFloats()
	js["loraTargets"] = targets
	js["loraRank"] = rank
	js["lora"] = w.f32("lora.f32", params)
	tok32, tg32 := make([]int32, seqLen), make([]int32, seqLen)
	for i := range seqLen {
		tok32[i], tg32[i] = int32(tokens[0][i]), int32(tgts[0][i])
	}
	js["batch"] = map[string]any{"B": 1, "T": seqLen, "tokens": w.i32("tokens.i32", tok32), "targets": w.i32("targets.i32", tg32),
		"dloss": float32(1 / float64(seqLen)), "count": seqLen}
	js["reference"] = map[string]any{"losses": w.f32("ref_losses.f32", losses), "grads": w.f32("ref_grads.f32", grads),
		"meanLoss": mean, "gradScale": 1, "engine": "Go, native CPU (llama.Model.ForwardBackward)", "stepSeconds": stepS}
	if w.err != nil {
		return w.err
	}
	b, err := json.MarshalIndent(js, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "plan.json"), b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gpuplan: wrote %s: %d weight bytes, %d LoRA floats, mean loss %.6f (CPU step %.1fs)\n",
		out, p.WeightBytes(), p.LoRAFloats(), mean, stepS)
	return nil
}

// writeShape writes the realsize shape's GGUF to path.
func writeShape(cmdline, shape, path string) error {
	var argv []string
	if cmdline != "" {
		argv = strings.Fields(cmdline)
	} else if exe, err := os.Executable(); err == nil && fileExists(filepath.Join(filepath.Dir(exe), "realsize")) {
		argv = []string{filepath.Join(filepath.Dir(exe), "realsize")}
	} else {
		argv = []string{"go", "run", "./scripts/bench/realsize"}
	}
	cmd := exec.Command(argv[0], append(argv[1:], "-write-shape", shape, "-write-path", path)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("writing shape %s with %q: %w", shape, strings.Join(argv, " "), err)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func load(path string, qlora bool) (*llama.Model[float32], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, _, err := llama.Load[float32](f, st.Size(), llama.LoadOptions{QLoRA: qlora})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// fill draws d uniformly from [-s, s).
func fill(r *rand.Rand, d []float32, s float64) {
	for i := range d {
		d[i] = float32((2*r.Float64() - 1) * s)
	}
}

// rowLosses returns each row's cross-entropy −log softmax(logits)[target],
// in float64.
func rowLosses(logits []float32, targets []int, V int) []float32 {
	out := make([]float32, len(targets))
	for i, y := range targets {
		row := logits[i*V : (i+1)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		out[i] = float32(mx + math.Log(s) - float64(row[y]))
	}
	return out
}

// writer writes the plan's blobs into dir; the first error sticks.
type writer struct {
	dir string
	err error
}

func (w *writer) bytes(name string, b []byte) string {
	if w.err == nil {
		w.err = os.WriteFile(filepath.Join(w.dir, name), b, 0o644)
	}
	return name
}

// f32 writes v little-endian and returns its file name (nil for nil v, as
// planJS's float32sJS gives null).
func (w *writer) f32(name string, v []float32) any {
	if v == nil {
		return nil
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return w.bytes(name, b)
}

func (w *writer) i32(name string, v []int32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return w.bytes(name, b)
}

// weight writes one frozen weight in its stored form and returns its
// plan.weights entry.
func (w *writer) weight(key string, g llama.GPUWeight) map[string]any {
	e := map[string]any{"rows": g.Rows, "cols": g.Cols}
	switch {
	case g.Quant != nil:
		e["type"] = g.Quant.Type().String()
		e["file"] = w.bytes(key+"."+g.Quant.Type().String(), g.Quant.Data())
	case g.NF4 != nil:
		data, err := gpu.PackNF4Rows(g.NF4)
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("%s: %w", key, err)
		}
		c := nf4.Code()
		e["type"] = "NF4"
		e["blockSize"] = g.NF4.BlockSize()
		e["code"] = c[:]
		e["file"] = w.bytes(key+".NF4", data)
	default:
		e["type"] = "F32"
		e["file"] = w.bytes(key+".F32", unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(g.F32))), 4*len(g.F32)))
	}
	e["bytes"] = fileSize(filepath.Join(w.dir, e["file"].(string)))
	return e
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return st.Size()
}

// plan is step_js.go's planJS with blob names for typed arrays and weight
// keys for handles.
func (w *writer) plan(p *llama.GPUPlan, qlora bool) map[string]any {
	weights := map[string]any{}
	js := map[string]any{"arch": p.Arch, "C": p.C, "L": p.L, "NH": p.NH, "NKV": p.NKV, "HS": p.HS, "F": p.F, "V": p.V,
		"eps": p.Eps, "neox": p.Neox, "gelu": p.GELU, "embedScale": p.EmbedScale, "softcap": p.Softcap, "P": p.P,
		"outputLora": p.OutputLoRA, "tied": p.Tied, "qlora": qlora,
		"ropeCos": w.f32("rope_cos.f32", p.RopeCos), "ropeSin": w.f32("rope_sin.f32", p.RopeSin),
		"ropeCosLocal": w.f32("rope_cos_local.f32", p.RopeCosLocal), "ropeSinLocal": w.f32("rope_sin_local.f32", p.RopeSinLocal),
		"outputNorm": w.f32("output_norm.f32", p.OutputNorm), "embed": "token_embd", "output": "token_embd"}
	weights["token_embd"] = w.weight("token_embd", p.Embed)
	if !p.Tied {
		weights["output"] = w.weight("output", p.Output)
		js["output"] = "output"
	}
	var layers []any
	for l, g := range p.Layers {
		lo := map[string]any{"local": g.Local, "window": g.Window, "scale": g.Scale}
		for k, v := range map[string][]float32{"attnNorm": g.AttnNorm, "ffnNorm": g.FFNNorm, "qBias": g.QBias, "kBias": g.KBias,
			"vBias": g.VBias, "qNorm": g.QNorm, "kNorm": g.KNorm, "postAttnNorm": g.PostAttnNorm, "postFFNNorm": g.PostFFNNorm} {
			lo[k] = w.f32(fmt.Sprintf("blk.%d.%s.f32", l, k), v)
		}
		for _, sl := range []struct {
			name string
			lin  llama.GPULinear
		}{{"q", g.Q}, {"k", g.K}, {"v", g.V}, {"o", g.O}, {"gate", g.Gate}, {"up", g.Up}, {"down", g.Down}} {
			key := fmt.Sprintf("blk.%d.%s", l, sl.name)
			weights[key] = w.weight(key, sl.lin.W)
			lo[sl.name] = map[string]any{"w": key, "rows": sl.lin.W.Rows, "cols": sl.lin.W.Cols, "lora": sl.lin.LoRA}
		}
		layers = append(layers, lo)
	}
	js["layers"] = layers
	var loras []any
	for _, l := range p.LoRAs {
		loras = append(loras, map[string]any{"layer": l.Layer, "slot": l.Slot, "in": l.In, "out": l.Out, "r": l.R, "scale": l.Scale})
	}
	js["loras"] = loras
	js["weights"] = weights
	return js
}
