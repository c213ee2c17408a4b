package main

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
)

// craftedTensor is one zero-filled F32 tensor of a crafted adapter.
type craftedTensor struct {
	name string
	dims []uint64
}

// adapterKVs are the keys llama.cpp's converter writes, for arch.
func adapterKVs(arch string) []gguf.KV {
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.String(arch)},
		{Key: "general.type", Value: gguf.String("adapter")},
		{Key: "adapter.type", Value: gguf.String("lora")},
		{Key: "adapter.lora.alpha", Value: gguf.Float32(8)},
	}
}

// writeCrafted writes a GGUF of kvs and zero F32 tensors and returns its path.
func writeCrafted(t *testing.T, kvs []gguf.KV, ts []craftedTensor) string {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range ts {
		n := uint64(1)
		for _, d := range ts.dims {
			n *= d
		}
		if err := w.AddTensorF32(ts.name, ts.dims, make([]float32, n), gguf.TypeF32); err != nil {
			t.Fatal(err)
		}
	}
	return writeGGUFFile(t, filepath.Join(t.TempDir(), "adapter.gguf"), w)
}

// qPair is a rank-4 pair on blk.0.attn_q.weight (32→32 in the tiny model).
func qPair(base string, in, out uint64) []craftedTensor {
	return []craftedTensor{{base + ".lora_a", []uint64{in, 4}}, {base + ".lora_b", []uint64{4, out}}}
}

// TestReadAdapterFileRefuses: file-level refusals come from
// lora.InspectAdapter, base-level ones from readAdapterFile; all are
// told apart with errors.Is.
func TestReadAdapterFileRefuses(t *testing.T) {
	basePath := writeTinyModel(t, gguf.TypeF32, false)
	base := readGGUFFile(t, basePath)
	q := "blk.0.attn_q.weight"
	for _, tc := range []struct {
		name string
		path string
		want error
	}{
		{"a model", basePath, lora.ErrNotAdapter},
		{"other architecture", writeCrafted(t, adapterKVs("qwen2"), qPair(q, 32, 32)), lora.ErrArchitecture},
		{"half a pair", writeCrafted(t, adapterKVs("llama"), qPair(q, 32, 32)[:1]), lora.ErrMissingPair},
		{"unexpected suffix", writeCrafted(t, adapterKVs("llama"), append(qPair(q, 32, 32), craftedTensor{"rope_freqs.weight", []uint64{4}})), lora.ErrFormat},
		{"a not transposed", writeCrafted(t, adapterKVs("llama"), []craftedTensor{{q + ".lora_a", []uint64{4, 32}}, {q + ".lora_b", []uint64{4, 32}}}), lora.ErrShape},
		{"not in the base", writeCrafted(t, adapterKVs("llama"), qPair("blk.9.attn_q.weight", 32, 32)), lora.ErrUnknownLayer},
		{"wrong in", writeCrafted(t, adapterKVs("llama"), qPair(q, 64, 32)), lora.ErrShape},
		{"wrong out", writeCrafted(t, adapterKVs("llama"), qPair("blk.1.ffn_down.weight", 64, 64)), lora.ErrShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			af, err := readAdapterFile(tc.path, 1, base)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v (file %+v), want %v", err, af, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestReadAdapterFileSkipsNorms: norm tensors are ignored, as llama.cpp does;
// the effective scale is user scale · alpha / rank.
func TestReadAdapterFileSkipsNorms(t *testing.T) {
	base := readGGUFFile(t, writeTinyModel(t, gguf.TypeF32, false))
	ts := append(qPair("blk.0.attn_q.weight", 32, 32), craftedTensor{"blk.0.attn_norm.weight", []uint64{32}})
	ts = append(ts, qPair("blk.1.ffn_down.weight", 64, 32)...)
	af, err := readAdapterFile(writeCrafted(t, adapterKVs("llama"), ts), 1.5, base)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range af.Pairs {
		names = append(names, p.Base)
		if p.Rank != 4 || p.EffScale != 1.5*8/4 || len(p.A) != 4*p.In || len(p.B) != p.Out*4 {
			t.Errorf("pair %s: rank %d scale %v in %d out %d", p.Base, p.Rank, p.EffScale, p.In, p.Out)
		}
	}
	if !slices.Equal(names, []string{"blk.0.attn_q.weight", "blk.1.ffn_down.weight"}) || af.Arch != "llama" || af.Alpha != 8 {
		t.Errorf("got %v, arch %q, alpha %v", names, af.Arch, af.Alpha)
	}
}
