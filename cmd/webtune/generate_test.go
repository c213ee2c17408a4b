package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// writeTinyModel saves a seeded tiny llama with the byte vocabulary as
// typ (F32, F16 or Q8_0) and returns its path.
func writeTinyModel(t *testing.T, typ gguf.TensorType, tied bool) string {
	t.Helper()
	v := tokenizer.ByteVocab()
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	cfg := llama.Config{VocabSize: len(v.Tokens), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, FFN: 64,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 64, TiedOutput: tied}
	m := llama.NewRandom[float32](cfg, 5)
	var buf bytes.Buffer
	if err := llama.SaveAs(&buf, m, typ, tok.GGUFKVs()...); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "base.gguf")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeAdapter writes a llama.cpp adapter with random A and B (rank r,
// alpha) on the q and down projections of the tiny model.
func writeAdapter(t *testing.T, dir string, r int, alpha float32) string {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.type", Value: gguf.String("adapter")},
		{Key: "adapter.type", Value: gguf.String("lora")},
		{Key: "adapter.lora.alpha", Value: gguf.Float32(alpha)},
	} {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.2)
		}
		return x
	}
	for _, l := range []struct {
		name    string
		in, out int
	}{{"blk.0.attn_q.weight", 32, 32}, {"blk.1.ffn_down.weight", 64, 32}} {
		if err := w.AddTensorF32(l.name+".lora_a", []uint64{uint64(l.in), uint64(r)}, rnd(l.in*r), gguf.TypeF32); err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensorF32(l.name+".lora_b", []uint64{uint64(r), uint64(l.out)}, rnd(l.out*r), gguf.TypeF32); err != nil {
			t.Fatal(err)
		}
	}
	return writeGGUFFile(t, filepath.Join(dir, "adapter.gguf"), w)
}

// writeGGUFFile writes w to path and returns path.
func writeGGUFFile(t *testing.T, path string, w *gguf.Writer) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func runJSON(t *testing.T, args ...string) generateResult {
	t.Helper()
	var out, errb bytes.Buffer
	if err := runGenerate(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("generate %v: %v\n%s", args, err, errb.String())
	}
	if !strings.HasPrefix(out.String(), `{"prompt_tokens":[`) {
		t.Fatalf("output does not start with prompt_tokens: %.60s", out.String())
	}
	var r generateResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func TestLoraFlag(t *testing.T) {
	var l loraFlags
	for _, v := range []string{"a.gguf", "b.gguf:0.5", "c:/x.gguf", "d.gguf:-2"} {
		if err := l.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	want := []loraArg{{"a.gguf", 1}, {"b.gguf", 0.5}, {"c:/x.gguf", 1}, {"d.gguf", -2}}
	for i, w := range want {
		if l[i] != w {
			t.Errorf("flag %d = %+v, want %+v", i, l[i], w)
		}
	}
}

func TestGenerateJSON(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, false)
	r := runJSON(t, "--model", model, "--prompt", "Hi", "--max-tokens", "5", "--temperature", "0", "--json")
	// SPM byte vocab: BOS, "▁", 'H', 'i'
	if want := []int{1, 259, 'H' + 3, 'i' + 3}; !slices.Equal(r.PromptTokens, want) {
		t.Errorf("prompt tokens %v, want %v", r.PromptTokens, want)
	}
	if len(r.NextLogprobs) != 260 {
		t.Fatalf("%d log-probs, want 260", len(r.NextLogprobs))
	}
	var sum float64
	for _, lp := range r.NextLogprobs {
		sum += math.Exp(lp)
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("probabilities sum to %v", sum)
	}
	if len(r.Tokens) == 0 || len(r.Tokens) > 5 {
		t.Errorf("generated %v", r.Tokens)
	}
	// --tokens with the same ids gives the same log-probs; greedy is deterministic
	r2 := runJSON(t, "--model", model, "--tokens", "1,259,75,108", "--max-tokens", "5", "--temperature", "0", "--json")
	if maxDiff(r.NextLogprobs, r2.NextLogprobs) != 0 || !slices.Equal(r.Tokens, r2.Tokens) {
		t.Error("--tokens and --prompt disagree")
	}
	r3 := runJSON(t, "--model", model, "--tokens", "1,259,75,108", "--max-tokens", "0", "--json")
	if len(r3.Tokens) != 0 || maxDiff(r.NextLogprobs, r3.NextLogprobs) != 0 {
		t.Error("--max-tokens 0")
	}
}

func TestGenerateRejectsBadArgs(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, false)
	for _, args := range [][]string{
		{"--model", model},
		{"--model", model, "--prompt", "x", "--tokens", "1"},
		{"--model", model, "--tokens", "1,x"},
		{"--model", model, "--tokens", "1,999"},
		{"--model", model, "--tokens", "1", "--lora", "/nonexistent.gguf"},
	} {
		var out, errb bytes.Buffer
		if err := runGenerate(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestMergeEqualsAdapter: the merged model alone gives the log-probs of
// base + adapter, adapted tensors keep F32 (F32 base) or become F16, and
// every other tensor is copied byte for byte.
func TestMergeEqualsAdapter(t *testing.T) {
	for _, typ := range []gguf.TensorType{gguf.TypeF32, gguf.TypeF16} {
		base := writeTinyModel(t, typ, true)
		dir := t.TempDir()
		adapter := writeAdapter(t, dir, 4, 8)
		merged := filepath.Join(dir, "merged.gguf")
		var out, errb bytes.Buffer
		if err := runMerge(context.Background(), []string{"--model", base, "--lora", adapter + ":1.5", "--out", merged}, &out, &errb); err != nil {
			t.Fatalf("merge: %v\n%s", err, errb.String())
		}
		want := runJSON(t, "--model", base, "--lora", adapter+":1.5", "--tokens", "1,50,60,70", "--max-tokens", "0", "--json")
		got := runJSON(t, "--model", merged, "--tokens", "1,50,60,70", "--max-tokens", "0", "--json")
		plain := runJSON(t, "--model", base, "--tokens", "1,50,60,70", "--max-tokens", "0", "--json")
		if d := maxDiff(plain.NextLogprobs, want.NextLogprobs); d < 1e-3 {
			t.Errorf("%v: the adapter changes nothing (max |Δ| %g)", typ, d)
		}
		if typ == gguf.TypeF32 {
			// float32 forward passes of W+ΔW and of W·x + ΔW·x round differently;
			// the wasm build's float32 exp adds its own ~1e-7 relative error.
			if d := maxDiff(got.NextLogprobs, want.NextLogprobs); d > 1e-5 {
				t.Errorf("%v: merged vs base+adapter: max |Δ| %g", typ, d)
			}
		} else {
			// An F16 merge rounds W+ΔW to F16, which moves log-probs by ~1e-3:
			// the case is checked exactly on the weights instead, and the
			// log-probs only have to be much nearer base+adapter than base is.
			checkMergedF16(t, readGGUFFile(t, base), readGGUFFile(t, adapter), readGGUFFile(t, merged), 1.5*8/4)
			if d, far := maxDiff(got.NextLogprobs, want.NextLogprobs), maxDiff(plain.NextLogprobs, want.NextLogprobs); d > far/10 {
				t.Errorf("%v: merged vs base+adapter: max |Δ| %g, base vs base+adapter %g", typ, d, far)
			}
		}
		bf, mf := readGGUFFile(t, base), readGGUFFile(t, merged)
		for _, ti := range bf.Tensors {
			mi, ok := mf.Tensor(ti.Name)
			if !ok {
				t.Fatalf("merged lacks %s", ti.Name)
			}
			adapted := ti.Name == "blk.0.attn_q.weight" || ti.Name == "blk.1.ffn_down.weight"
			if adapted && mi.Type != typ {
				t.Errorf("%s merged as %v, want %v", ti.Name, mi.Type, typ)
			}
			if !adapted && !bytes.Equal(tensorBytes(t, bf, ti.Name), tensorBytes(t, mf, ti.Name)) {
				t.Errorf("%s changed by the merge", ti.Name)
			}
		}
	}
}

// checkMergedF16 checks every adapted weight of an F16 merge against
// f16(W + scale·B·A), with B·A summed in float64: equal, or one F16 ulp
// away where the float32 sum of the merge rounds across a half-way point
// (at most 1 % of the weights).
func checkMergedF16(t *testing.T, base, adapter, merged *gguf.File, scale float64) {
	t.Helper()
	decode := func(f *gguf.File, name string) []float32 {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		n := 1
		for _, d := range ti.Dims {
			n *= int(d)
		}
		v := make([]float32, n)
		if err := gguf.Decode(ti.Type, v, tensorBytes(t, f, name)); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, name := range []string{"blk.0.attn_q.weight", "blk.1.ffn_down.weight"} {
		ti, _ := base.Tensor(name)
		in, out := int(ti.Dims[0]), int(ti.Dims[1])
		w, m := decode(base, name), decode(merged, name)
		a, b := decode(adapter, name+".lora_a"), decode(adapter, name+".lora_b")
		r := len(a) / in
		off := 0
		for o := range out {
			for i := range in {
				var d float64
				for k := range r {
					d += float64(b[o*r+k]) * float64(a[k*in+i])
				}
				want := gguf.Float32ToFloat16(float32(float64(w[o*in+i]) + scale*d))
				got := gguf.Float32ToFloat16(m[o*in+i])
				switch diff := int(got) - int(want); {
				case diff == 0:
				case diff == 1 || diff == -1:
					off++
				default:
					t.Fatalf("%s[%d,%d] merged %g, want f16(W + scale·B·A) = %g", name, o, i, m[o*in+i], gguf.Float16ToFloat32(want))
				}
			}
		}
		if off > len(w)/100 {
			t.Errorf("%s: %d of %d merged weights one F16 ulp away", name, off, len(w))
		}
	}
}

func TestMergeRefusesBadAdapter(t *testing.T) {
	base := writeTinyModel(t, gguf.TypeF32, false)
	other := writeTinyModel(t, gguf.TypeF32, false)
	for _, args := range [][]string{
		{"--model", base, "--lora", other, "--out", filepath.Join(t.TempDir(), "x.gguf")}, // a model, not an adapter
		{"--model", base, "--out", filepath.Join(t.TempDir(), "x.gguf")},                  // no adapter
	} {
		var out, errb bytes.Buffer
		if err := runMerge(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func readGGUFFile(t *testing.T, path string) *gguf.File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func tensorBytes(t *testing.T, f *gguf.File, name string) []byte {
	t.Helper()
	sr, err := f.TensorData(name)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, sr.Size())
	if _, err := sr.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenerateMatchGGML: --match-ggml (the default) is a no-op on F32
// weights and, on F16 and Q8_0 weights, gives the log-probs of
// llama.LoadOptions.MatchGGML, not those of the plain float forward, which
// --match-ggml=false gives.
func TestGenerateMatchGGML(t *testing.T) {
	args := func(model string, extra ...string) []string {
		return append([]string{"--model", model, "--tokens", "1,72,105,50", "--max-tokens", "0", "--json"}, extra...)
	}
	f32 := writeTinyModel(t, gguf.TypeF32, false)
	if d := maxDiff(runJSON(t, args(f32)...).NextLogprobs, runJSON(t, args(f32, "--match-ggml=false")...).NextLogprobs); d != 0 {
		t.Errorf("F32: --match-ggml changes the log-probs by %g", d)
	}
	for _, typ := range []gguf.TensorType{gguf.TypeF16, gguf.TypeQ8_0} {
		model := writeTinyModel(t, typ, true)
		want := func(match bool) []float64 {
			b, err := os.ReadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := llama.Load[float32](bytes.NewReader(b), int64(len(b)), llama.LoadOptions{MatchGGML: match})
			if err != nil {
				t.Fatal(err)
			}
			_, lp, err := generate(context.Background(), m, []int{1, 72, 105, 50}, llama.SampleOptions{MaxTokens: -1})
			if err != nil {
				t.Fatal(err)
			}
			return lp
		}
		matched, plain := want(true), want(false)
		if maxDiff(matched, plain) == 0 {
			t.Fatalf("%v: MatchGGML changes nothing", typ)
		}
		if d := maxDiff(runJSON(t, args(model)...).NextLogprobs, matched); d != 0 {
			t.Errorf("%v: default differs from MatchGGML by %g", typ, d)
		}
		if d := maxDiff(runJSON(t, args(model, "--match-ggml=false")...).NextLogprobs, plain); d != 0 {
			t.Errorf("%v: --match-ggml=false differs from the plain forward by %g", typ, d)
		}
	}
}
