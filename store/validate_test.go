package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// without returns kvs minus key.
func without(kvs []gguf.KV, key string) []gguf.KV {
	return slices.DeleteFunc(slices.Clone(kvs), func(kv gguf.KV) bool { return kv.Key == key })
}

// with returns kvs with key set to v (replaced in place or appended).
func with(kvs []gguf.KV, key string, v gguf.Value) []gguf.KV {
	out := without(kvs, key)
	return append(out, gguf.KV{Key: key, Value: v})
}

func TestValidateAdapterAccepts(t *testing.T) {
	embd := []tspec{
		{"token_embd.weight.lora_a", gguf.TypeF32, []uint64{8, 300}}, // [r, n_vocab]
		{"token_embd.weight.lora_b", gguf.TypeF32, []uint64{8, 64}},  // [r, n_embd]
	}
	mixed := append(loraPairs(1, 64, 4), tspec{"output.weight.lora_a", gguf.TypeF16, []uint64{64, 16}},
		tspec{"output.weight.lora_b", gguf.TypeBF16, []uint64{16, 300}})
	q8 := []tspec{
		{"blk.0.ffn_up.weight.lora_a", gguf.TypeQ8_0, []uint64{64, 32}},
		{"blk.0.ffn_up.weight.lora_b", gguf.TypeQ8_0, []uint64{32, 128}},
	}
	for _, tc := range []struct {
		name    string
		spec    fileSpec
		rank    int
		ranks   []int
		alpha   float32
		targets []string
	}{
		{"rank 8", goodSpec(8), 8, []int{8}, 16, []string{"attn_q", "attn_v"}},
		{"rank 1", goodSpec(1), 1, []int{1}, 2, []string{"attn_q", "attn_v"}},
		{"no alpha", fileSpec{kvs: without(adapterKVs(1), "adapter.lora.alpha"), tensors: loraPairs(1, 64, 2)}, 2, []int{2}, 0, []string{"attn_q", "attn_v"}},
		{"token_embd transposed a", fileSpec{kvs: adapterKVs(8), tensors: embd}, 8, []int{8}, 8, []string{"token_embd"}},
		{"mixed ranks and types", fileSpec{kvs: adapterKVs(8), tensors: mixed}, 16, []int{4, 16}, 8, []string{"attn_q", "attn_v", "output"}},
		{"Q8_0", fileSpec{kvs: adapterKVs(32), tensors: q8}, 32, []int{32}, 32, []string{"ffn_up"}},
		{"webtune rank key", fileSpec{kvs: with(adapterKVs(8), "webtune.lora.rank", gguf.Uint32(4)), tensors: loraPairs(2, 64, 4)}, 4, []int{4}, 8, []string{"attn_q", "attn_v"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := ValidateAdapter(build(t, tc.spec, 1))
			if err != nil {
				t.Fatal(err)
			}
			if info.Architecture != "llama" || info.Rank != tc.rank || !slices.Equal(info.Ranks, tc.ranks) ||
				info.Alpha != tc.alpha || !slices.Equal(info.Targets, tc.targets) {
				t.Errorf("info = %+v, want rank %d ranks %v alpha %v targets %v", info, tc.rank, tc.ranks, tc.alpha, tc.targets)
			}
		})
	}
}

// refusals are the bodies every layer refuses: name, bytes, the sentinel and the HTTP status.
func refusals(t testing.TB) []struct {
	name   string
	data   []byte
	want   error
	status int
} {
	good := build(t, goodSpec(4), 1)
	model := fileSpec{kvs: []gguf.KV{{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.type", Value: gguf.String("model")}, {Key: "llama.block_count", Value: gguf.Uint32(1)}},
		tensors: []tspec{{"token_embd.weight", gguf.TypeF32, []uint64{64, 300}}, {"blk.0.attn_q.weight", gguf.TypeF32, []uint64{64, 64}}}}
	modelNoType := fileSpec{kvs: without(model.kvs, "general.type"), tensors: model.tensors}
	pairs := loraPairs(1, 64, 4)
	spec := func(kvs []gguf.KV, ts []tspec) []byte { return build(t, fileSpec{kvs: kvs, tensors: ts}, 2) }
	kvs := adapterKVs(8)
	return []struct {
		name   string
		data   []byte
		want   error
		status int
	}{
		{"text", []byte("hello, this is not a GGUF file at all"), ErrNotGGUF, 415},
		{"three bytes", []byte("GGU"), ErrNotGGUF, 415},
		{"safetensors-like", append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, `{"a":{}}`...), ErrNotGGUF, 415},
		{"GGUF version 1", patchU32(good, 4, 1), ErrNotGGUF, 415},
		{"a model", build(t, model, 3), ErrNotAdapter, 415},
		{"a model without general.type", build(t, modelNoType, 3), ErrNotAdapter, 415},
		{"control vector", spec(with(kvs, "adapter.type", gguf.String("control_vector")), pairs), ErrNotAdapter, 415},
		{"general.type not a string", spec(with(kvs, "general.type", gguf.Uint32(1)), pairs), ErrNotAdapter, 415},
		{"truncated", good[:len(good)-7], ErrMalformed, 400},
		{"header only", good[:40], ErrMalformed, 400},
		{"huge tensor count", patchU32(good, 8, 0xFFFFFFF0), ErrMalformed, 400},
		{"no tensors", spec(kvs, nil), ErrMalformed, 400},
		{"no architecture", spec(without(kvs, "general.architecture"), pairs), ErrMalformed, 400},
		{"empty architecture", spec(with(kvs, "general.architecture", gguf.String("")), pairs), ErrMalformed, 400},
		{"alpha as uint32", spec(with(kvs, "adapter.lora.alpha", gguf.Uint32(8)), pairs), ErrMalformed, 400},
		{"negative alpha", spec(with(kvs, "adapter.lora.alpha", gguf.Float32(-1)), pairs), ErrMalformed, 400},
		{"missing lora_b", spec(kvs, pairs[:3]), ErrMalformed, 400},
		{"lone lora_a", spec(kvs, pairs[:1]), ErrMalformed, 400},
		{"unexpected suffix", spec(kvs, append(slices.Clone(pairs), tspec{"rope_freqs.weight", gguf.TypeF32, []uint64{32}})), ErrMalformed, 400},
		{"norm tensor", spec(kvs, append(slices.Clone(pairs), tspec{"blk.0.attn_norm.weight", gguf.TypeF32, []uint64{64}})), ErrMalformed, 400},
		{"empty base", spec(kvs, []tspec{{".lora_a", gguf.TypeF32, []uint64{64, 4}}, {".lora_b", gguf.TypeF32, []uint64{4, 64}}}), ErrMalformed, 400},
		{"ranks disagree", spec(kvs, []tspec{{"blk.0.attn_q.weight.lora_a", gguf.TypeF32, []uint64{64, 4}}, {"blk.0.attn_q.weight.lora_b", gguf.TypeF32, []uint64{8, 64}}}), ErrMalformed, 400},
		{"a not transposed", spec(kvs, []tspec{{"blk.0.attn_q.weight.lora_a", gguf.TypeF32, []uint64{4, 64}}, {"blk.0.attn_q.weight.lora_b", gguf.TypeF32, []uint64{4, 32}}}), ErrMalformed, 400},
		{"3-D tensor", spec(kvs, []tspec{{"blk.0.attn_q.weight.lora_a", gguf.TypeF32, []uint64{64, 4, 2}}, {"blk.0.attn_q.weight.lora_b", gguf.TypeF32, []uint64{4, 64}}}), ErrMalformed, 400},
		{"1-D tensor", spec(kvs, []tspec{{"blk.0.attn_q.weight.lora_a", gguf.TypeF32, []uint64{64}}, {"blk.0.attn_q.weight.lora_b", gguf.TypeF32, []uint64{4, 64}}}), ErrMalformed, 400},
		{"Q4_0 tensor", spec(kvs, []tspec{{"blk.0.attn_q.weight.lora_a", gguf.TypeQ4_0, []uint64{64, 4}}, {"blk.0.attn_q.weight.lora_b", gguf.TypeF32, []uint64{4, 64}}}), ErrMalformed, 400},
		{"rank key disagrees", spec(with(kvs, "webtune.lora.rank", gguf.Uint32(8)), pairs), ErrMalformed, 400},
		{"rank key wrong type", spec(with(kvs, "webtune.lora.rank", gguf.String("4")), pairs), ErrMalformed, 400},
	}
}

func TestValidateAdapterRefuses(t *testing.T) {
	for _, tc := range refusals(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateAdapter(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTargetOf(t *testing.T) {
	for in, want := range map[string]string{
		"blk.0.attn_q.weight":  "attn_q",
		"blk.11.ffn_up.weight": "ffn_up",
		"output.weight":        "output",
		"token_embd.weight":    "token_embd",
		"blk.3":                "",
		"../../etc.weight":     "",
	} {
		if got := targetOf(in); got != want {
			t.Errorf("targetOf(%q) = %q, want %q", in, got, want)
		}
	}
}
