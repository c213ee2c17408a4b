package llama

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// LoadOptions configures Load.
type LoadOptions struct {
	// QLoRA holds the seven linear layers of every block as NF4
	// (nn.NF4Linear), each quantized right after it is decoded; the float
	// copy is dropped at once. Embeddings, norms and the output head stay
	// float (bitsandbytes also keeps lm_head unquantized).
	QLoRA bool
	// NF4 are the quantization options under QLoRA.
	NF4 nf4.Options
	// MatchGGML rounds the input of every layer whose weight is F16, BF16
	// or quantized to the activation type ggml's CPU matmul converts it
	// to (Q8_0, Q8_1, Q8_K, F16, BF16), so that log-probs agree with
	// llama.cpp's to ~1e-3 on quantized models (see emulate.go). It is an
	// inference option: Backward treats the rounding as the identity.
	MatchGGML bool
	// Dequantize decodes every weight to T as it loads. Without it (the
	// default) a float32 model keeps F16, BF16 and quantized weights in
	// their GGUF type (quantized.go): block linears and an untied head as
	// nn.QuantLinear, the token embedding as a quant.Matrix, so the base
	// costs about the file's tensor bytes. Full fine-tuning (SetTrainable)
	// needs it. Under QLoRA, F32/F16/BF16 block linears still become NF4.
	Dequantize bool
	// Engine is the tensor.Engine[T] of Load[T] that every layer the model
	// builds computes with (the block linears, NF4 or dense, and the output
	// head, tied or not); nil means the default (DefaultEngine). An engine
	// of another element type is an error.
	Engine any
}

// tensorSpec is one tensor the config requires: its name and ggml dims.
type tensorSpec struct {
	name string
	dims []uint64
}

// expectedTensors lists the tensors of c in file-independent order:
// token_embd, output_norm, output (unless tied), then each block's (with
// the q/k/v biases and q/k norms when c has them).
func expectedTensors(c Config) []tensorSpec {
	rec := c.recipe()
	HS := uint64(c.HeadDim)
	C, F, V := uint64(c.Dim), uint64(c.FFN), uint64(c.VocabSize)
	q, kv := uint64(c.Heads*c.HeadDim), uint64(c.KVHeads*c.HeadDim)
	specs := []tensorSpec{{"token_embd.weight", []uint64{C, V}}, {"output_norm.weight", []uint64{C}}}
	if !c.TiedOutput {
		specs = append(specs, tensorSpec{"output.weight", []uint64{C, V}})
	}
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		specs = append(specs,
			tensorSpec{p + "attn_norm.weight", []uint64{C}},
			tensorSpec{p + "attn_q.weight", []uint64{C, q}},
			tensorSpec{p + "attn_k.weight", []uint64{C, kv}},
			tensorSpec{p + "attn_v.weight", []uint64{C, kv}},
			tensorSpec{p + "attn_output.weight", []uint64{q, C}},
			tensorSpec{p + "ffn_norm.weight", []uint64{C}},
			tensorSpec{p + "ffn_gate.weight", []uint64{C, F}},
			tensorSpec{p + "ffn_up.weight", []uint64{C, F}},
			tensorSpec{p + "ffn_down.weight", []uint64{F, C}})
		if c.QKVBias {
			specs = append(specs, tensorSpec{p + "attn_q.bias", []uint64{q}},
				tensorSpec{p + "attn_k.bias", []uint64{kv}}, tensorSpec{p + "attn_v.bias", []uint64{kv}})
		}
		if rec.QKNorm {
			specs = append(specs, tensorSpec{p + "attn_q_norm.weight", []uint64{HS}},
				tensorSpec{p + "attn_k_norm.weight", []uint64{HS}})
		}
		if rec.PostNorms {
			specs = append(specs, tensorSpec{p + "post_attention_norm.weight", []uint64{C}},
				tensorSpec{p + "post_ffw_norm.weight", []uint64{C}})
		}
	}
	return specs
}

// ropeFreqsName is the optional llama3 rope frequency-factor tensor.
const ropeFreqsName = "rope_freqs.weight"

// checkTensors verifies that f holds exactly the tensors of c (plus an
// optional rope_freqs.weight) with the right dims, as llama.cpp's loader
// does; errors name the tensor.
func checkTensors(f *gguf.File, c Config) error {
	want := map[string][]uint64{}
	for _, s := range expectedTensors(c) {
		want[s.name] = s.dims
		ti, ok := f.Tensor(s.name)
		if !ok && strings.HasSuffix(s.name, ".bias") {
			return fmt.Errorf("%w: tensor %q not found while blk.0.attn_q.bias is present (biases must be on attn_q, attn_k and attn_v of every block)", ErrUnsupported, s.name)
		}
		if !ok {
			return fmt.Errorf("%w: tensor %q not found", ErrShape, s.name)
		}
		if !sameDims(ti.Dims, s.dims) {
			return fmt.Errorf("%w: tensor %q has dims %v, want %v", ErrShape, s.name, ti.Dims, s.dims)
		}
		if !gguf.CanDecode(ti.Type) {
			return fmt.Errorf("%w: tensor %q has type %v", ErrUnsupported, s.name, ti.Type)
		}
	}
	for _, ti := range f.Tensors {
		if _, ok := want[ti.Name]; ok {
			continue
		}
		if ti.Name == ropeFreqsName && c.recipe().RopeFreqs && sameDims(ti.Dims, []uint64{uint64(c.HeadDim / 2)}) && gguf.CanDecode(ti.Type) {
			continue
		}
		if strings.HasSuffix(ti.Name, ".bias") {
			return fmt.Errorf("%w: bias tensor %q (a %s model may have attn_q/attn_k/attn_v biases, in every block)", ErrUnsupported, ti.Name, c.Architecture())
		}
		return fmt.Errorf("%w: unexpected tensor %q %v", ErrShape, ti.Name, ti.Dims)
	}
	return nil
}

// sameDims compares ggml dims, ignoring trailing 1s as ggml does.
func sameDims(a, b []uint64) bool {
	trim := func(d []uint64) []uint64 {
		for len(d) > 1 && d[len(d)-1] == 1 {
			d = d[:len(d)-1]
		}
		return d
	}
	return slices.Equal(trim(a), trim(b))
}

// Load reads a GGUF model of a family in arch.go (llama, qwen2, qwen3, gemma3) from r (size bytes) and returns
// the model (frozen; on opt.Engine or DefaultEngine) and the parsed file (for the
// tokenizer's metadata). Weights of any type gguf decodes (F32, F16, BF16,
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) become T one tensor at a
// time, never as a float copy of the whole model; under opt.QLoRA each
// block linear is quantized to NF4 as soon as it is decoded. A missing or
// mistyped key, another architecture, or a missing, extra or misshapen
// tensor is an error that names it.
func Load[T tensor.Numeric](r io.ReaderAt, size int64, opt LoadOptions) (*Model[T], *gguf.File, error) {
	f, err := gguf.Open(r, size)
	if err != nil {
		return nil, nil, fmt.Errorf("llama: %w", err)
	}
	c, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, nil, err
	}
	if err := checkTensors(f, c); err != nil {
		return nil, nil, err
	}
	var eng tensor.Engine[T]
	if opt.Engine != nil {
		e, ok := opt.Engine.(tensor.Engine[T])
		if !ok {
			return nil, nil, fmt.Errorf("llama: LoadOptions.Engine is a %T, not a tensor.Engine of the model's element type", opt.Engine)
		}
		eng = e
	}
	m, err := newModel[T](c, eng)
	if err != nil {
		return nil, nil, err
	}
	if err := m.loadWeights(f, opt); err != nil {
		return nil, nil, err
	}
	if opt.MatchGGML {
		m.geluGGML = true
		m.actTypes = map[string]gguf.TensorType{}
		names, _ := m.slots()
		for _, n := range names {
			ti, ok := f.Tensor(n + ".weight")
			if !ok { // tied output
				ti, _ = f.Tensor("token_embd.weight")
			}
			if t := vecDotType(ti.Type); t != gguf.TypeF32 {
				m.actTypes[n] = t
			}
		}
	}
	return m, f, nil
}

// loadWeights decodes every tensor of f into m.
func (m *Model[T]) loadWeights(f *gguf.File, opt LoadOptions) error {
	c := m.Config
	read := func(name string) ([]T, error) {
		d, err := f.ReadTensorF32(name)
		if err != nil {
			return nil, fmt.Errorf("llama: %w", err)
		}
		return fromF32[T](d), nil
	}
	param := func(name string, shape ...int) (*nn.Parameter[T], error) {
		d, err := read(name)
		if err != nil {
			return nil, err
		}
		return nn.NewParameter(name, tensor.FromSlice(d, shape...), false), nil
	}
	linear := func(name string, in, out int, quantize bool) (nn.Node[T], error) {
		layer := strings.TrimSuffix(name, ".weight")
		if ti, _ := f.Tensor(name); keepQuantized[T](opt, ti) && !(quantize && nf4Source(ti.Type)) {
			return m.quantLinear(f, name, layer, in, out)
		}
		if quantize {
			d, err := f.ReadTensorF32(name)
			if err != nil {
				return nil, fmt.Errorf("llama: %w", err)
			}
			q, err := nf4.Quantize(d, out, in, opt.NF4)
			if err != nil {
				return nil, fmt.Errorf("llama: quantize %q: %w", name, err)
			}
			return nn.NewNF4Linear[T](layer, q, nil, m.engine)
		}
		d, err := read(name)
		if err != nil {
			return nil, err
		}
		l, err := nn.NewLinearFrom(layer, tensor.FromSlice(d, out, in), nil, m.engine)
		if err != nil {
			return nil, err
		}
		l.SetFrozen(true)
		return l, nil
	}
	var err error
	if err = m.loadTokenEmbd(f, opt, param); err != nil {
		return err
	}
	if m.OutputNorm, err = param("output_norm.weight", c.Dim); err != nil {
		return err
	}
	if !c.TiedOutput {
		if m.Output, err = linear("output.weight", c.Dim, c.VocabSize, false); err != nil {
			return err
		}
	}
	if _, ok := f.Tensor(ropeFreqsName); ok {
		if m.RopeFreqs, err = f.ReadTensorF32(ropeFreqsName); err != nil {
			return fmt.Errorf("llama: %w", err)
		}
	}
	qC, kvC := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	for i, b := range m.Blocks {
		p := fmt.Sprintf("blk.%d.", i)
		if b.AttnNorm, err = param(p+"attn_norm.weight", c.Dim); err != nil {
			return err
		}
		if b.FFNNorm, err = param(p+"ffn_norm.weight", c.Dim); err != nil {
			return err
		}
		if err := b.loadExtras(c, p, param); err != nil {
			return err
		}
		for _, s := range []struct {
			slot    *nn.Node[T]
			name    string
			in, out int
		}{{&b.Q, "attn_q", c.Dim, qC}, {&b.K, "attn_k", c.Dim, kvC}, {&b.V, "attn_v", c.Dim, kvC},
			{&b.O, "attn_output", qC, c.Dim}, {&b.Gate, "ffn_gate", c.Dim, c.FFN},
			{&b.Up, "ffn_up", c.Dim, c.FFN}, {&b.Down, "ffn_down", c.FFN, c.Dim}} {
			if *s.slot, err = linear(p+s.name+".weight", s.in, s.out, opt.QLoRA); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadExtras reads the block's optional tensors (prefix p = "blk.N.") that
// c has.
func (b *Block[T]) loadExtras(c Config, p string, param func(name string, shape ...int) (*nn.Parameter[T], error)) error {
	var err error
	if c.QKVBias {
		if b.QBias, err = param(p+"attn_q.bias", c.Heads*c.HeadDim); err != nil {
			return err
		}
		if b.KBias, err = param(p+"attn_k.bias", c.KVHeads*c.HeadDim); err != nil {
			return err
		}
		if b.VBias, err = param(p+"attn_v.bias", c.KVHeads*c.HeadDim); err != nil {
			return err
		}
	}
	if c.recipe().QKNorm {
		if b.QNorm, err = param(p+"attn_q_norm.weight", c.HeadDim); err != nil {
			return err
		}
		if b.KNorm, err = param(p+"attn_k_norm.weight", c.HeadDim); err != nil {
			return err
		}
	}
	if c.recipe().PostNorms {
		if b.PostAttnNorm, err = param(p+"post_attention_norm.weight", c.Dim); err != nil {
			return err
		}
		if b.PostFFNNorm, err = param(p+"post_ffw_norm.weight", c.Dim); err != nil {
			return err
		}
	}
	return nil
}

// nf4Source reports whether a weight of type t becomes NF4 under QLoRA:
// float weights do; quantized ones stay in their own type.
func nf4Source(t gguf.TensorType) bool {
	return t == gguf.TypeF32 || t == gguf.TypeF16 || t == gguf.TypeBF16
}

// fromF32 returns d as []T: the same slice when T is float32, else a
// converted copy.
func fromF32[T tensor.Numeric](d []float32) []T {
	if t, ok := any(d).([]T); ok {
		return t
	}
	out := make([]T, len(d))
	tensor.Convert(out, d)
	return out
}

// toF32 returns d as []float32: the same slice when T is float32, else a
// converted copy.
func toF32[T tensor.Numeric](d []T) []float32 {
	if t, ok := any(d).([]float32); ok {
		return t
	}
	out := make([]float32, len(d))
	tensor.Convert(out, d)
	return out
}
