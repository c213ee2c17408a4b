package llama

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tensor"
)

func TestGeluGGML(t *testing.T) {
	for _, tc := range []struct{ x, want float32 }{
		{-10, 0}, {-12.5, 0}, {10, 10}, {37, 37}, {0, 0},
	} {
		if got := geluGGML(tc.x); got != tc.want {
			t.Errorf("geluGGML(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
	// inside (−10, 10): the F16 value of the float32 GELU of the F16-rounded
	// input, so within F16 precision of the exact GELU and F16-representable
	for x := float32(-9.99); x < 10; x += 0.0137 {
		got := geluGGML(x)
		if f16 := gguf.Float16ToFloat32(gguf.Float32ToFloat16(got)); f16 != got {
			t.Fatalf("geluGGML(%g) = %g is not an F16 value", x, got)
		}
		exact := 0.5 * float64(x) * (1 + math.Tanh(math.Sqrt(2/math.Pi)*float64(x)*(1+0.044715*float64(x)*float64(x))))
		// F16 rounding of the input moves it by ≤ 2^-11 relative; of the output
		// by ≤ 2^-11 relative (subnormals: 2^-25 absolute)
		if d := math.Abs(float64(got) - exact); d > 2e-3*math.Abs(exact)+math.Abs(float64(x))*1.2e-3+1e-7 {
			t.Fatalf("geluGGML(%g) = %g, exact %g", x, got, exact)
		}
	}
	// the table is what the emulating forward multiplies up by
	out := make([]float32, 2)
	gegluForwardGGML(out, []float32{0.3, -2}, []float32{2, 3})
	if out[0] != geluGGML(0.3)*2 || out[1] != geluGGML(-2)*3 {
		t.Fatalf("gegluForward(matchGGML) = %v", out)
	}
}

func TestGemma3Layers(t *testing.T) {
	c := TinyGemma3Config()
	c.Layers = 13
	c.SlidingWindowPattern = 0
	for l := 0; l < 13; l++ {
		if !c.IsLocal(l) {
			t.Fatalf("pattern 0: layer %d global", l)
		}
	}
	c.SlidingWindowPattern = 6
	for l := 0; l < 13; l++ {
		if want := l != 5 && l != 11; c.IsLocal(l) != want {
			t.Fatalf("pattern 6: layer %d local=%v", l, c.IsLocal(l))
		}
	}
	if a := c.attn(0, 1, 2, 2); a.Window != 3 {
		t.Fatalf("local layer attention %+v", a)
	}
	if a := c.attn(5, 1, 2, 2); a.Window != 0 {
		t.Fatalf("global layer attention %+v", a)
	}
	c.SlidingWindow = 0
	if c.IsLocal(0) || c.attn(0, 1, 2, 2).Window != 0 {
		t.Fatal("no window: layer 0 local")
	}
}

// gemma3GradConfig exercises every gemma3 feature at once: both window
// kinds with T > window, GQA, linear rope scaling on global layers, a final
// softcap and a non-default attention scale.
func gemma3GradConfig(tied bool) Config {
	c := TinyGemma3Config()
	c.TiedOutput = tied
	c.RopeFreqScale = 0.5
	c.FinalSoftcap = 3
	c.AttnScale = 0.3
	return c
}

func TestGemma3ModelGradFullFineTune(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := gemma3GradConfig(tied)
		m := NewRandom[float64](cfg, 51)
		if err := m.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, p := range m.Parameters() {
			got += p.Value.Size()
		}
		if want := int(cfg.ParamCount()); got != want {
			t.Fatalf("tied=%v: %d trainable values, config says %d", tied, got, want)
		}
		tokens, targets := tinyBatch(cfg, 2, 6, 12)
		checkModelGrads(t, m, tokens, targets)
	}
}

func TestGemma3ModelGradLoRA(t *testing.T) {
	cfg := gemma3GradConfig(false)
	m := NewRandom[float64](cfg, 52)
	if err := lora.InjectLoRA(m, 2, 4, allTargets, tensor.NewCPU[float64]()); err != nil {
		t.Fatal(err)
	}
	randomizeB(m, 2)
	if n := len(m.Parameters()); n != 2*(7*cfg.Layers+1) {
		t.Fatalf("%d trainable parameters, want A and B of %d layers", n, 7*cfg.Layers+1)
	}
	if a := lora.ModelArchitecture[float64](m); a != "gemma3" {
		t.Fatalf("adapter architecture %q", a)
	}
	tokens, targets := tinyBatch(cfg, 2, 6, 13)
	checkModelGrads(t, m, tokens, targets)
}

// saveGemma3 writes m as a GGUF with a vocabulary of its size.
func saveGemma3(t *testing.T, m *Model[float32]) []byte {
	t.Helper()
	var buf bytes.Buffer
	toks := make([]string, m.Config.VocabSize)
	for i := range toks {
		toks[i] = string(rune('a' + i))
	}
	if err := Save(&buf, m, gguf.KV{Key: "tokenizer.ggml.tokens", Value: gguf.Strings(toks)}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGemma3SaveLoadAndSession(t *testing.T) {
	cfg := gemma3GradConfig(true)
	m := NewRandom[float32](cfg, 53)
	var buf bytes.Buffer
	if err := Save(&buf, m); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("saving an attention scale llama.cpp cannot know: %v", err)
	}
	cfg.AttnScale = 0
	m.Config = cfg
	b := saveGemma3(t, m)
	m2, f, err := Load[float32](bytes.NewReader(b), int64(len(b)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Config != cfg {
		t.Fatalf("config after round trip\n%+v\nwant\n%+v", m2.Config, cfg)
	}
	if a, _ := f.GetString("general.architecture"); a != "gemma3" {
		t.Fatalf("general.architecture %q", a)
	}
	ctx := context.Background()
	prompt := []int{1, 5, 2, 9, 3, 7, 4, 10} // longer than the window of 3
	want, err := m.Forward(ctx, [][]int{prompt})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m2.Forward(ctx, [][]int{prompt})
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got.Data(), want.Data()) {
		t.Fatal("logits differ after save and load")
	}
	// the KV-cache path (one token at a time, then two) equals the full pass
	s := m2.NewSession(0)
	V := cfg.VocabSize
	for i := 0; i < len(prompt); {
		n := 1 + i%2
		n = min(n, len(prompt)-i)
		lg, err := s.Eval(ctx, prompt[i:i+n])
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < n; j++ {
			for v := 0; v < V; v++ {
				if d := math.Abs(float64(lg.Data()[j*V+v] - want.Data()[(i+j)*V+v])); d > 1e-5 {
					t.Fatalf("session position %d token %d: %g vs forward %g", i+j, v, lg.Data()[j*V+v], want.Data()[(i+j)*V+v])
				}
			}
		}
		i += n
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGemma3ConfigErrors(t *testing.T) {
	base := NewRandom[float32](TinyGemma3Config(), 54)
	good := saveGemma3(t, base)
	f, err := gguf.Open(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	// rewrite builds a file from good with key changed (nil value: removed)
	// and tensor dropped
	rewrite := func(key string, v *gguf.Value, drop string) []byte {
		w := gguf.NewWriter()
		for _, kv := range f.KVs {
			if kv.Key == key {
				continue
			}
			if err := w.Add(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
		if v != nil {
			if err := w.Add(key, *v); err != nil {
				t.Fatal(err)
			}
		}
		for _, ti := range f.Tensors {
			if ti.Name == drop {
				continue
			}
			d, err := f.ReadTensorF32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddTensorF32(ti.Name, ti.Dims, d, gguf.TypeF32); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	val := func(v gguf.Value) *gguf.Value { return &v }
	for _, tc := range []struct {
		name, key string
		v         *gguf.Value
		drop      string
		want      error
		mention   string
	}{
		{"no eps", "gemma3.attention.layer_norm_rms_epsilon", nil, "", gguf.ErrNotFound, "layer_norm_rms_epsilon"},
		{"yarn", "gemma3.rope.scaling.type", val(gguf.String("yarn")), "", ErrUnsupported, "yarn"},
		{"partial rope", "gemma3.rope.dimension_count", val(gguf.Uint32(4)), "", ErrUnsupported, "dimension_count"},
		{"window as float", "gemma3.attention.sliding_window", val(gguf.Float32(3)), "", gguf.ErrType, "sliding_window"},
		{"no q norm", "", nil, "blk.1.attn_q_norm.weight", ErrShape, "blk.1.attn_q_norm.weight"},
		{"no post-ffw norm", "", nil, "blk.0.post_ffw_norm.weight", ErrShape, "post_ffw_norm"},
	} {
		b := rewrite(tc.key, tc.v, tc.drop)
		_, _, err := Load[float32](bytes.NewReader(b), int64(len(b)), LoadOptions{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want %v naming %q", tc.name, err, tc.want, tc.mention)
		}
	}
	// defaults: no pattern key → 6, no local base → 10000, no window → all global
	b := rewrite("gemma3.attention.sliding_window_pattern", nil, "")
	c, err := ConfigFromGGUF(mustOpen(t, rewriteNoKey(t, b, "gemma3.rope.freq_base_swa")))
	if err != nil {
		t.Fatal(err)
	}
	if c.SlidingWindowPattern != 6 || c.RopeBaseSWA != 10000 || c.SlidingWindow != 3 {
		t.Fatalf("defaults: pattern %d, local base %g, window %d", c.SlidingWindowPattern, c.RopeBaseSWA, c.SlidingWindow)
	}
	c, err = ConfigFromGGUF(mustOpen(t, rewrite("gemma3.attention.sliding_window", nil, "")))
	if err != nil {
		t.Fatal(err)
	}
	if c.SlidingWindow != 0 || c.IsLocal(0) {
		t.Fatalf("no window: %+v", c)
	}
}

func mustOpen(t *testing.T, b []byte) *gguf.File {
	t.Helper()
	f, err := gguf.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// rewriteNoKey returns b without the metadata key.
func rewriteNoKey(t *testing.T, b []byte, key string) []byte {
	t.Helper()
	f := mustOpen(t, b)
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		if kv.Key != key {
			if err := w.Add(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range f.Tensors {
		d, err := f.ReadTensorF32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensorF32(ti.Name, ti.Dims, d, gguf.TypeF32); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGemma3ChunkedLossMatchesBackward: with a final softcap, the chunked
// ForwardBackward (softcap backward per chunk) and Forward + Backward over
// the whole logits (softcap backward in Backward) give the same loss and
// gradients, for every parameter of a full fine-tune.
func TestGemma3ChunkedLossMatchesBackward(t *testing.T) {
	cfg := gemma3GradConfig(true)
	m := NewRandom[float64](cfg, 55)
	if err := m.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	tokens, tgts := tinyBatch(cfg, 2, 6, 14)
	m.ZeroGrad()
	wantLoss := unchunkedForwardBackward(t, m, tokens, tgts)
	want := gradsOf(m)
	withLossChunks(t, 5, cfg.VocabSize)
	m.ZeroGrad()
	loss, err := m.ForwardBackward(context.Background(), tokens, tgts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss-wantLoss) > 1e-12 {
		t.Fatalf("chunked loss %v, unchunked %v", loss, wantLoss)
	}
	for i, g := range gradsOf(m) {
		if d := maxDiff(g, want[i]); d > 1e-12 {
			t.Fatalf("%s gradient differs by %g", m.Parameters()[i].Name, d)
		}
	}
}
