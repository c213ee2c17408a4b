package lora

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
)

var update = flag.Bool("update", false, "rewrite testdata/adapter.gguf")

// tensorSpec is one tensor of a crafted adapter file.
type tensorSpec struct {
	name string
	typ  gguf.TensorType
	dims []uint64
	data []float32
}

// fileSpec is a whole crafted adapter file, for mutating real ones.
type fileSpec struct {
	kvs     []gguf.KV
	tensors []tensorSpec
}

func parseSpec(t testing.TB, data []byte) *fileSpec {
	t.Helper()
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	s := &fileSpec{kvs: slices.Clone(f.KVs)}
	for _, ti := range f.Tensors {
		v, err := f.ReadTensorF32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		s.tensors = append(s.tensors, tensorSpec{ti.Name, ti.Type, slices.Clone(ti.Dims), v})
	}
	return s
}

func (s *fileSpec) bytes(t testing.TB) []byte {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range s.kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range s.tensors {
		if err := w.AddTensorF32(ts.name, ts.dims, ts.data, ts.typ); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (s *fileSpec) setKV(key string, v gguf.Value) *fileSpec {
	for i := range s.kvs {
		if s.kvs[i].Key == key {
			s.kvs[i].Value = v
			return s
		}
	}
	s.kvs = append(s.kvs, gguf.KV{Key: key, Value: v})
	return s
}

func (s *fileSpec) delKV(keys ...string) *fileSpec {
	s.kvs = slices.DeleteFunc(s.kvs, func(kv gguf.KV) bool { return slices.Contains(keys, kv.Key) })
	return s
}

func (s *fileSpec) delTensors(match func(name string) bool) *fileSpec {
	s.tensors = slices.DeleteFunc(s.tensors, func(ts tensorSpec) bool { return match(ts.name) })
	return s
}

func (s *fileSpec) tensor(t testing.TB, name string) *tensorSpec {
	for i := range s.tensors {
		if s.tensors[i].name == name {
			return &s.tensors[i]
		}
	}
	t.Fatalf("no tensor %s", name)
	return nil
}

// trainedModel returns newTestModel(1) with LoRA on targets, B randomised.
func trainedModel(t testing.TB, rank int, targets []string, opts ...Option) *archModel[float32] {
	t.Helper()
	m := newTestModel[float32](t, 1)
	if err := InjectLoRA[float32](m, rank, 4, targets, nil, append([]Option{WithSeed(1)}, opts...)...); err != nil {
		t.Fatal(err)
	}
	randomizeB[float32](m, 2, 0.2)
	return &archModel[float32]{m, DefaultArchitecture}
}

func adapterBytes(t testing.TB, m Model[float32]) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteAdapter(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"lora", nil}, {"rslora", []Option{WithRSLoRA()}}} {
		t.Run(tc.name, func(t *testing.T) {
			src := trainedModel(t, 4, []string{AllLinear}, tc.opts...)
			x := randInput[float32](1, 5, tmIn)
			want := forward[float32](t, src, x)
			dir := t.TempDir()
			path := filepath.Join(dir, "adapter.gguf")
			for range 2 { // the second save replaces the first
				if err := SaveAdapter[float32](path, src); err != nil {
					t.Fatal(err)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("directory holds %d entries after saving, want 1", len(ents))
			}
			// Into a fresh base (injected from the file), and into a model
			// injected with other seeds and the same ranks.
			fresh := newTestModel[float32](t, 1)
			other := newTestModel[float32](t, 1)
			if err := InjectLoRA[float32](other, 4, 1, []string{AllLinear}, nil, WithSeed(9)); err != nil {
				t.Fatal(err)
			}
			for name, m := range map[string]*nn.Sequential[float32]{"fresh": fresh, "injected": other} {
				if err := LoadAdapter(path, m); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := forward[float32](t, m, x); !slices.Equal(got, want) {
					t.Fatalf("%s: outputs differ by %g after loading", name, maxDiff(got, want))
				}
				if got, want := wrappedNames[float32](m), wrappedNames[float32](src); !slices.Equal(got, want) {
					t.Fatalf("%s: wrapped %v, want %v", name, got, want)
				}
				l := Adapters[float32](m)[0]
				if l.RSLoRA() != (tc.opts != nil) || l.Alpha() != 4 || l.Rank() != 4 {
					t.Fatalf("%s: rsLoRA %t alpha %v rank %d", name, l.RSLoRA(), l.Alpha(), l.Rank())
				}
			}
		})
	}
}

// TestAdapterFileConvention checks the written file against what llama.cpp's
// adapter loader requires (docs/llamacpp-lora.md) and webtune's keys (docs/peft.md).
func TestAdapterFileConvention(t *testing.T) {
	m := trainedModel(t, 2, []string{"attn_q", "ffn_down"}, WithRSLoRA())
	data := adapterBytes(t, m)
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []struct {
		key string
		typ gguf.ValueType
		val any
	}{
		{"general.architecture", gguf.ValueString, "webtune"},
		{"general.type", gguf.ValueString, "adapter"},
		{"adapter.type", gguf.ValueString, "lora"},
		{"adapter.lora.alpha", gguf.ValueFloat32, float32(4 * math.Sqrt(2))},
		{"webtune.format_version", gguf.ValueUint32, uint32(1)},
		{"webtune.lora.rank", gguf.ValueUint32, uint32(2)},
		{"webtune.lora.alpha", gguf.ValueFloat32, float32(4)},
		{"webtune.lora.use_rslora", gguf.ValueBool, true},
		{"webtune.lora.target_modules", gguf.ValueArray, []string{"attn_q", "ffn_down"}},
		{"lora.rank", gguf.ValueUint32, uint32(2)},
		{"lora.alpha", gguf.ValueFloat32, float32(4)},
	}
	if len(f.KVs) != len(wantKeys) {
		t.Errorf("%d keys, want %d", len(f.KVs), len(wantKeys))
	}
	for i, w := range wantKeys {
		if i >= len(f.KVs) {
			break
		}
		kv := f.KVs[i]
		if kv.Key != w.key || kv.Value.Type() != w.typ {
			t.Errorf("key %d: %s %v, want %s %v", i, kv.Key, kv.Value.Type(), w.key, w.typ)
			continue
		}
		if got := kv.Value.Any(); !equalAny(got, w.val) {
			t.Errorf("%s = %v, want %v", w.key, got, w.val)
		}
	}
	var names []string
	for _, ti := range f.Tensors {
		names = append(names, ti.Name)
		if ti.Type != gguf.TypeF32 {
			t.Errorf("%s is %v, want F32", ti.Name, ti.Type)
		}
		if !strings.HasSuffix(ti.Name, ".lora_a") && !strings.HasSuffix(ti.Name, ".lora_b") {
			t.Errorf("llama.cpp would refuse tensor %s (unexpected suffix)", ti.Name)
		}
	}
	want := []string{"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.0.ffn_down.weight.lora_a", "blk.0.ffn_down.weight.lora_b",
		"blk.1.attn_q.weight.lora_a", "blk.1.attn_q.weight.lora_b", "blk.1.ffn_down.weight.lora_a", "blk.1.ffn_down.weight.lora_b"}
	if !slices.Equal(names, want) {
		t.Fatalf("tensors %v, want %v", names, want)
	}
	// Dims in ggml ne order and the bytes of A [r, in] and B [out, r] unchanged.
	for _, l := range Adapters[float32](m) {
		a, _ := f.Tensor(l.Name() + ".weight.lora_a")
		b, _ := f.Tensor(l.Name() + ".weight.lora_b")
		if !slices.Equal(a.Dims, []uint64{uint64(l.InFeatures()), 2}) || !slices.Equal(b.Dims, []uint64{2, uint64(l.OutFeatures())}) {
			t.Errorf("%s: lora_a %v lora_b %v, want [%d 2] [2 %d]", l.Name(), a.Dims, b.Dims, l.InFeatures(), l.OutFeatures())
		}
		av, _ := f.ReadTensorF32(a.Name)
		bv, _ := f.ReadTensorF32(b.Name)
		if !slices.Equal(av, l.A.Value.Data()) || !slices.Equal(bv, l.B.Value.Data()) {
			t.Errorf("%s: tensor data is not A and B row-major", l.Name())
		}
	}
}

func equalAny(a, b any) bool {
	if s, ok := a.([]string); ok {
		t, ok := b.([]string)
		return ok && slices.Equal(s, t)
	}
	return a == b
}

// TestAdapterGolden pins the writer's bytes (regenerate with -update).
func TestAdapterGolden(t *testing.T) {
	data := adapterBytes(t, trainedModel(t, 2, []string{"attn_q", "lm_head"}))
	path := filepath.Join("testdata", "adapter.gguf")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lora -run Golden -update)", err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("adapter bytes differ from %s (%d vs %d bytes); if intended, rerun with -update", path, len(data), len(want))
	}
	// The golden file loads into a fresh model.
	m := newTestModel[float32](t, 1)
	if err := ReadAdapter[float32](bytes.NewReader(want), int64(len(want)), m); err != nil {
		t.Fatal(err)
	}
	if got := wrappedNames[float32](m); !slices.Equal(got, []string{"blk.0.attn_q", "blk.1.attn_q", "output"}) {
		t.Fatalf("golden file wraps %v", got)
	}
}

func TestSaveErrors(t *testing.T) {
	m := newTestModel[float32](t, 1)
	wantErr(t, WriteAdapter[float32](&bytes.Buffer{}, m), ErrNotInjected)
	wantErr(t, SaveAdapter[float32](filepath.Join(t.TempDir(), "a.gguf"), m), ErrNotInjected)
	if err := SaveAdapter[float32](filepath.Join(t.TempDir(), "no", "such", "dir", "a.gguf"), trainedModel(t, 2, []string{"attn_q"})); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
	// Adapters differing in alpha cannot share adapter.lora.alpha.
	if err := InjectLoRA[float32](m, 2, 4, []string{"attn_q"}, nil); err != nil {
		t.Fatal(err)
	}
	Adapters[float32](m)[1].setAlpha(2, 8, false)
	wantErr(t, WriteAdapter[float32](&bytes.Buffer{}, m), ErrConfig)
}
