package main

import (
	"fmt"
	"math"

	"github.com/webtune/webtune/gguf"
)

// The tiny llama of docs/oracles.md: vocab 260, n_embd 64, 2 layers, 4 heads, 2 KV heads, n_ff 128.
const (
	nVocab = 260
	nEmbd  = 64
	nLayer = 2
	nHead  = 4
	nKV    = 2
	nFF    = 128
	rank   = 8
)

func modelKVs() []gguf.KV {
	tokens := make([]string, nVocab)
	scores := make([]float32, nVocab)
	types := make([]int32, nVocab)
	tokens[0], tokens[1], tokens[2] = "<unk>", "<s>", "</s>"
	types[0], types[1], types[2] = 2, 3, 3
	for b := 0; b < 256; b++ {
		tokens[3+b], types[3+b] = fmt.Sprintf("<0x%02X>", b), 6
	}
	tokens[259], types[259] = "▁", 1
	for i := range scores {
		scores[i] = -float32(i) / 4
	}
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.type", Value: gguf.String("model")},
		{Key: "general.name", Value: gguf.String("webtune interop tiny llama ✓")},
		{Key: "general.file_type", Value: gguf.Uint32(7)},
		{Key: "general.quantization_version", Value: gguf.Uint32(2)},
		{Key: "llama.context_length", Value: gguf.Uint32(128)},
		{Key: "llama.embedding_length", Value: gguf.Uint32(nEmbd)},
		{Key: "llama.block_count", Value: gguf.Uint32(nLayer)},
		{Key: "llama.feed_forward_length", Value: gguf.Uint32(nFF)},
		{Key: "llama.attention.head_count", Value: gguf.Uint32(nHead)},
		{Key: "llama.attention.head_count_kv", Value: gguf.Uint32(nKV)},
		{Key: "llama.rope.dimension_count", Value: gguf.Uint32(nEmbd / nHead)},
		{Key: "llama.rope.freq_base", Value: gguf.Float32(10000)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32(1e-5)},
		{Key: "tokenizer.ggml.model", Value: gguf.String("llama")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Strings(tokens)},
		{Key: "tokenizer.ggml.scores", Value: gguf.Float32s(scores)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Int32s(types)},
		{Key: "tokenizer.ggml.bos_token_id", Value: gguf.Uint32(1)},
		{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32(2)},
		{Key: "tokenizer.ggml.add_bos_token", Value: gguf.Bool(true)},
		{Key: "tokenizer.ggml.add_eos_token", Value: gguf.Bool(false)},
		{Key: "webtune.seed", Value: gguf.Int32(-42)},
	}
}

// tensorSpec is one tensor to write: values offset + scale·u with u pseudo-random in [-1, 1)
// (and a few outliers), small enough that llama.cpp's output distribution stays broad.
type tensorSpec struct {
	name          string
	typ           gguf.TensorType
	dims          []uint64
	offset, scale float32
}

func weight(name string, typ gguf.TensorType, dims ...uint64) tensorSpec {
	return tensorSpec{name, typ, dims, 0, 0.05}
}

func norm(name string) tensorSpec { return tensorSpec{name, gguf.TypeF32, []uint64{nEmbd}, 1, 0.1} }

func modelTensors() []tensorSpec {
	ts := []tensorSpec{weight("token_embd.weight", gguf.TypeF32, nEmbd, nVocab)}
	hd := uint64(nEmbd / nHead)
	for l := 0; l < nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			norm(p+"attn_norm.weight"),
			weight(p+"attn_q.weight", gguf.TypeQ8_0, nEmbd, nEmbd),
			weight(p+"attn_k.weight", gguf.TypeQ4_0, nEmbd, nKV*hd),
			weight(p+"attn_v.weight", gguf.TypeF16, nEmbd, nKV*hd),
			weight(p+"attn_output.weight", gguf.TypeBF16, nEmbd, nEmbd),
			norm(p+"ffn_norm.weight"),
			weight(p+"ffn_gate.weight", gguf.TypeQ8_0, nEmbd, nFF),
			weight(p+"ffn_up.weight", gguf.TypeQ4_0, nEmbd, nFF),
			weight(p+"ffn_down.weight", gguf.TypeF16, nFF, nEmbd),
		)
	}
	return append(ts, norm("output_norm.weight"))
}

// adapterKVs are llama.cpp's LoRA adapter keys plus webtune.* keys covering the value types and
// array element types the model file does not use.
func adapterKVs() []gguf.KV {
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.type", Value: gguf.String("adapter")},
		{Key: "adapter.type", Value: gguf.String("lora")},
		{Key: "adapter.lora.alpha", Value: gguf.Float32(16)},
		{Key: "webtune.u8", Value: gguf.Uint8(255)},
		{Key: "webtune.i8", Value: gguf.Int8(-128)},
		{Key: "webtune.u16", Value: gguf.Uint16(65535)},
		{Key: "webtune.i16", Value: gguf.Int16(-32768)},
		{Key: "webtune.u64", Value: gguf.Uint64(math.MaxUint64)},
		{Key: "webtune.i64", Value: gguf.Int64(math.MinInt64)},
		{Key: "webtune.f64", Value: gguf.Float64(-1.0 / 3)},
		{Key: "webtune.f32", Value: gguf.Float32(0.1)},
		{Key: "webtune.empty", Value: gguf.String("")},
		{Key: "webtune.arr.u8", Value: gguf.Array(gguf.ValueUint8, []uint8{0, 128, 255})},
		{Key: "webtune.arr.i8", Value: gguf.Array(gguf.ValueInt8, []int8{-128, -1, 127})},
		{Key: "webtune.arr.u16", Value: gguf.Array(gguf.ValueUint16, []uint16{0, 65535})},
		{Key: "webtune.arr.i16", Value: gguf.Array(gguf.ValueInt16, []int16{-32768, 32767})},
		{Key: "webtune.arr.u32", Value: gguf.Uint32s([]uint32{0, math.MaxUint32})},
		{Key: "webtune.arr.u64", Value: gguf.Array(gguf.ValueUint64, []uint64{1, math.MaxUint64})},
		{Key: "webtune.arr.i64", Value: gguf.Array(gguf.ValueInt64, []int64{math.MinInt64, math.MaxInt64})},
		{Key: "webtune.arr.f64", Value: gguf.Array(gguf.ValueFloat64, []float64{math.SmallestNonzeroFloat64, 1e300})},
		{Key: "webtune.arr.bool", Value: gguf.Array(gguf.ValueBool, []bool{true, false})},
		{Key: "webtune.arr.empty", Value: gguf.Strings([]string{})},
	}
}

// adapterTensors pair lora_a [n_embd, r] with lora_b [r, out] (ggml order), in all five types.
func adapterTensors() []tensorSpec {
	var ts []tensorSpec
	types := []gguf.TensorType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0}
	i := 0
	for l := 0; l < nLayer; l++ {
		for _, m := range []string{"attn_q", "attn_v"} {
			name := fmt.Sprintf("blk.%d.%s.weight", l, m)
			out := uint64(nEmbd)
			if m == "attn_v" {
				out = nKV * nEmbd / nHead
			}
			a := types[i%len(types)]
			b := types[(i+1)%len(types)]
			if b == gguf.TypeQ8_0 || b == gguf.TypeQ4_0 { // lora_b rows have r = 8 elements: no whole blocks
				b = gguf.TypeF16
			}
			ts = append(ts,
				tensorSpec{name + ".lora_a", a, []uint64{nEmbd, rank}, 0, 0.5},
				tensorSpec{name + ".lora_b", b, []uint64{rank, out}, 0, 0.5})
			i++
		}
	}
	return ts
}
