package llama

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
)

// saved returns m saved as typ.
func saved[T float32 | float64](t *testing.T, m *Model[T], typ gguf.TensorType) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := SaveAs(&buf, m, typ, gguf.KV{Key: "tokenizer.ggml.model", Value: gguf.String("no_vocab")}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewrite copies a GGUF file, letting kv and ten drop (false) or change
// metadata pairs and tensor infos (the data is copied as is).
func rewrite(t *testing.T, data []byte, kv func(*gguf.KV) bool, ten func(*gguf.TensorInfo) bool) []byte {
	t.Helper()
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, p := range f.KVs {
		if kv == nil || kv(&p) {
			if err := w.Add(p.Key, p.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range f.Tensors {
		sec, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ten == nil || ten(&ti) {
			if err := w.AddTensorSection(ti.Name, ti.Type, ti.Dims, sec); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func load[T float32 | float64](data []byte, opt LoadOptions) (*Model[T], error) {
	m, _, err := Load[T](bytes.NewReader(data), int64(len(data)), opt)
	return m, err
}

func maxDiff[T float32 | float64](a, b []T) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func logitsOf[T float32 | float64](t *testing.T, m *Model[T], tokens [][]int) []T {
	t.Helper()
	l, err := m.Forward(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	return append([]T(nil), l.Data()...)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, tied := range []bool{false, true} {
		cfg := TinyConfig()
		cfg.TiedOutput = tied
		m := NewRandom[float32](cfg, 5)
		tokens, _ := tinyBatch(cfg, 2, 6, 1)
		want := logitsOf(t, m, tokens)
		data := saved(t, m, gguf.TypeF32)
		m2, err := load[float32](data, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m2.Config != cfg {
			t.Fatalf("config %+v, want %+v", m2.Config, cfg)
		}
		if d := maxDiff(logitsOf(t, m2, tokens), want); d != 0 {
			t.Fatalf("tied=%v: F32 round trip changed logits by %g", tied, d)
		}
		// saving the loaded model gives the same bytes
		if !bytes.Equal(saved(t, m2, gguf.TypeF32), data) {
			t.Fatal("save(load(save(m))) differs from save(m)")
		}
		m3, err := load[float32](saved(t, m, gguf.TypeF16), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(logitsOf(t, m3, tokens), want); d > 1e-2 || d == 0 {
			t.Fatalf("tied=%v: F16 round trip changed logits by %g", tied, d)
		}
	}
}

// quantConfig has widths that are multiples of 32 for block formats.
func quantConfig() Config {
	return Config{VocabSize: 32, Dim: 32, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, FFN: 64,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 32}
}

func TestLoadQuantizedAndQLoRA(t *testing.T) {
	cfg := quantConfig()
	m := NewRandom[float32](cfg, 9)
	tokens, _ := tinyBatch(cfg, 1, 8, 2)
	want := logitsOf(t, m, tokens)
	f32 := saved(t, m, gguf.TypeF32)
	for _, typ := range []gguf.TensorType{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeBF16} {
		// re-encode every 2-D tensor as typ
		f, _ := gguf.Open(bytes.NewReader(f32), int64(len(f32)))
		w := gguf.NewWriter()
		for _, kv := range f.KVs {
			w.Add(kv.Key, kv.Value)
		}
		for _, ti := range f.Tensors {
			d, err := f.ReadTensorF32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			tt := typ
			if len(ti.Dims) == 1 {
				tt = gguf.TypeF32
			}
			if err := w.AddTensorF32(ti.Name, ti.Dims, d, tt); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		w.WriteTo(&buf)
		mq, err := load[float32](buf.Bytes(), LoadOptions{})
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		d := maxDiff(logitsOf(t, mq, tokens), want)
		t.Logf("%v weights: max |Δlogit| %.3g", typ, d)
		if d == 0 || d > 0.5 {
			t.Fatalf("%v: logits differ by %g", typ, d)
		}
	}
	mq, err := load[float32](f32, LoadOptions{QLoRA: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range mq.Layers() {
		_, isNF4 := l.(*nn.NF4Linear[float32])
		if isNF4 != (l.Name() != "output") {
			t.Fatalf("layer %s is %s under QLoRA", l.Name(), l.OpType())
		}
	}
	d := maxDiff(logitsOf(t, mq, tokens), want)
	t.Logf("QLoRA NF4 base: max |Δlogit| %.3g", d)
	if d == 0 || d > 0.5 {
		t.Fatalf("NF4 logits differ by %g", d)
	}
	if err := mq.SetTrainable(true); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("SetTrainable on NF4 model: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	m := NewRandom[float32](TinyConfig(), 3)
	good := saved(t, m, gguf.TypeF32)
	for _, tc := range []struct {
		name    string
		kv      func(*gguf.KV) bool
		ten     func(*gguf.TensorInfo) bool
		is      error
		mention string
	}{
		{"missing key", func(kv *gguf.KV) bool { return kv.Key != "llama.block_count" }, nil, gguf.ErrNotFound, "llama.block_count"},
		{"missing eps", func(kv *gguf.KV) bool { return kv.Key != "llama.attention.layer_norm_rms_epsilon" }, nil, gguf.ErrNotFound, "layer_norm_rms_epsilon"},
		{"uint64 size", func(kv *gguf.KV) bool {
			if kv.Key == "llama.embedding_length" {
				kv.Value = gguf.Uint64(8)
			}
			return true
		}, nil, gguf.ErrType, "llama.embedding_length"},
		{"float64 eps", func(kv *gguf.KV) bool {
			if kv.Key == "llama.attention.layer_norm_rms_epsilon" {
				kv.Value = gguf.Float64(1e-5)
			}
			return true
		}, nil, gguf.ErrType, "layer_norm_rms_epsilon"},
		{"architecture", func(kv *gguf.KV) bool {
			if kv.Key == "general.architecture" {
				kv.Value = gguf.String("gpt2")
			}
			return true
		}, nil, ErrUnsupported, "gpt2"},
		{"missing tensor", nil, func(ti *gguf.TensorInfo) bool { return ti.Name != "blk.1.ffn_up.weight" }, ErrShape, "blk.1.ffn_up.weight"},
		{"bad rope dims", func(kv *gguf.KV) bool {
			if kv.Key == "llama.rope.dimension_count" {
				kv.Value = gguf.Uint32(2)
			}
			return true
		}, nil, ErrUnsupported, "dimension_count"},
		{"gqa mismatch", func(kv *gguf.KV) bool {
			if kv.Key == "llama.attention.head_count_kv" {
				kv.Value = gguf.Uint32(2)
			}
			return true
		}, nil, ErrShape, "blk.0.attn_k.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load[float32](rewrite(t, good, tc.kv, tc.ten), LoadOptions{})
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want %v naming %q", err, tc.is, tc.mention)
			}
		})
	}
	// an extra tensor and a misshapen one
	w := gguf.NewWriter()
	f, _ := gguf.Open(bytes.NewReader(good), int64(len(good)))
	for _, kv := range f.KVs {
		w.Add(kv.Key, kv.Value)
	}
	for _, ti := range f.Tensors {
		d, _ := f.ReadTensorF32(ti.Name)
		dims := ti.Dims
		if ti.Name == "blk.0.attn_k.weight" {
			dims = []uint64{dims[1], dims[0]}
		}
		w.AddTensorF32(ti.Name, dims, d, gguf.TypeF32)
	}
	var buf bytes.Buffer
	w.WriteTo(&buf)
	if _, err := load[float32](buf.Bytes(), LoadOptions{}); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "blk.0.attn_k.weight") {
		t.Fatalf("transposed attn_k: %v", err)
	}
	w = gguf.NewWriter()
	for _, kv := range f.KVs {
		w.Add(kv.Key, kv.Value)
	}
	for _, ti := range f.Tensors {
		sec, _ := f.TensorData(ti.Name)
		w.AddTensorSection(ti.Name, ti.Type, ti.Dims, sec)
	}
	w.AddTensorF32("blk.0.attn_q.bias", []uint64{8}, make([]float32, 8), gguf.TypeF32)
	buf.Reset()
	w.WriteTo(&buf)
	if _, err := load[float32](buf.Bytes(), LoadOptions{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "blk.0.attn_q.bias") {
		t.Fatalf("extra bias tensor: %v", err)
	}
}
