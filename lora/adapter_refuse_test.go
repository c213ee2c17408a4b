package lora

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
)

// goodSpec is the adapter of trainedModel(rank 2, attn_q), to be mutated.
func goodSpec(t testing.TB) *fileSpec {
	return parseSpec(t, adapterBytes(t, trainedModel(t, 2, []string{"attn_q"})))
}

// refusalTargets returns the models a bad file is read into: a fresh base
// and one with LoRA rank 2 on attn_q.
func refusalTargets(t testing.TB) map[string]Model[float32] {
	fresh := newTestModel[float32](t, 1)
	inj := newTestModel[float32](t, 1)
	if err := InjectLoRA[float32](inj, 2, 4, []string{"attn_q"}, nil, WithSeed(3)); err != nil {
		t.Fatal(err)
	}
	return map[string]Model[float32]{"fresh": fresh, "injected": inj}
}

func TestReadAdapterRefusals(t *testing.T) {
	isA := func(n string) bool { return strings.HasSuffix(n, ".lora_a") }
	for _, tc := range []struct {
		name  string
		file  func(t testing.TB) []byte
		want  error
		only  string // "fresh" or "injected" when the refusal needs that model
		model func(t testing.TB) Model[float32]
	}{
		{name: "architecture", want: ErrArchitecture, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("general.architecture", gguf.String("llama")).bytes(t)
		}},
		{name: "architecture-missing", want: ErrArchitecture, file: func(t testing.TB) []byte {
			return goodSpec(t).delKV("general.architecture").bytes(t)
		}},
		{name: "architecture-of-model", want: ErrArchitecture, file: func(t testing.TB) []byte {
			return goodSpec(t).bytes(t)
		}, model: func(t testing.TB) Model[float32] {
			return archModel[float32]{newTestModel[float32](t, 1), "llama"}
		}},
		{name: "rank", want: ErrRank, only: "injected", file: func(t testing.TB) []byte {
			return adapterBytes(t, trainedModel(t, 3, []string{"attn_q"}))
		}},
		{name: "rank-key", want: ErrRank, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("webtune.lora.rank", gguf.Uint32(5)).setKV("lora.rank", gguf.Uint32(5)).bytes(t)
		}},
		{name: "rank-keys-disagree", want: ErrRank, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("lora.rank", gguf.Uint32(3)).bytes(t)
		}},
		{name: "shape-in", want: ErrShape, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			a := s.tensor(t, "blk.0.attn_q.weight.lora_a")
			a.dims, a.data = []uint64{tmIn + 1, 2}, make([]float32, 2*(tmIn+1))
			return s.bytes(t)
		}},
		{name: "shape-transposed-a", want: ErrShape, file: func(t testing.TB) []byte {
			s := goodSpec(t).delKV("webtune.lora.rank", "lora.rank")
			a := s.tensor(t, "blk.0.attn_q.weight.lora_a")
			a.dims = []uint64{2, tmIn}
			return s.bytes(t)
		}},
		{name: "shape-3d", want: ErrShape, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			s.tensor(t, "blk.1.attn_q.weight.lora_b").dims = []uint64{2, tmIn, 1}
			return s.bytes(t)
		}},
		{name: "missing-b", want: ErrMissingPair, file: func(t testing.TB) []byte {
			return goodSpec(t).delTensors(func(n string) bool { return n == "blk.1.attn_q.weight.lora_b" }).bytes(t)
		}},
		{name: "missing-a", want: ErrMissingPair, file: func(t testing.TB) []byte {
			return goodSpec(t).delTensors(func(n string) bool { return n == "blk.0.attn_q.weight.lora_a" }).bytes(t)
		}},
		{name: "injected-layer-not-in-file", want: ErrMissingPair, only: "injected", file: func(t testing.TB) []byte {
			return goodSpec(t).delTensors(func(n string) bool { return strings.HasPrefix(n, "blk.1.") }).bytes(t)
		}},
		{name: "unknown-layer", want: ErrUnknownLayer, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			for i := range s.tensors {
				s.tensors[i].name = strings.Replace(s.tensors[i].name, "blk.1.", "blk.7.", 1)
			}
			return s.bytes(t)
		}},
		{name: "unknown-layer-not-linear", want: ErrUnknownLayer, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			s.tensor(t, "blk.1.attn_q.weight.lora_a").name = "blk.1.act.weight.lora_a"
			return s.bytes(t)
		}},
		{name: "unknown-layer-legacy", want: ErrUnknownLayer, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			s.tensors = append(s.tensors, tensorSpec{"lora.blk.9.ffn_up.weight_a", gguf.TypeF32, []uint64{8, 2}, make([]float32, 16)})
			return s.bytes(t)
		}},
		{name: "not-injected", want: ErrNotInjected, only: "injected", file: func(t testing.TB) []byte {
			return adapterBytes(t, trainedModel(t, 2, []string{"attn_q", "ffn_up"}))
		}},
		{name: "general-type", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("general.type", gguf.String("model")).bytes(t)
		}},
		{name: "adapter-type-missing", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).delKV("adapter.type").bytes(t)
		}},
		{name: "adapter-type", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("adapter.type", gguf.String("ia3")).bytes(t)
		}},
		{name: "alpha-type", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("adapter.lora.alpha", gguf.Uint32(4)).bytes(t)
		}},
		{name: "alpha-disagrees", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("adapter.lora.alpha", gguf.Float32(5)).bytes(t)
		}},
		{name: "alpha-negative", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).delKV("adapter.lora.alpha").setKV("webtune.lora.alpha", gguf.Float32(-1)).delKV("lora.alpha").bytes(t)
		}},
		{name: "rslora-type", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).setKV("webtune.lora.use_rslora", gguf.Uint8(1)).bytes(t)
		}},
		{name: "unexpected-tensor", want: ErrFormat, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			s.tensors = append(s.tensors, tensorSpec{"rope_freqs.weight", gguf.TypeF32, []uint64{4}, make([]float32, 4)})
			return s.bytes(t)
		}},
		{name: "no-tensors", want: ErrFormat, file: func(t testing.TB) []byte {
			return goodSpec(t).delTensors(func(string) bool { return true }).bytes(t)
		}},
		{name: "both-namings", want: ErrFormat, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			s.tensor(t, "blk.0.attn_q.weight.lora_b").name = "lora.blk.0.attn_q.weight_b"
			return s.bytes(t)
		}},
		{name: "nan", want: ErrFormat, file: func(t testing.TB) []byte {
			s := goodSpec(t)
			s.tensor(t, "blk.1.attn_q.weight.lora_b").data[3] = float32(math.NaN())
			return s.bytes(t)
		}},
		{name: "not-gguf", want: ErrFormat, file: func(t testing.TB) []byte { return []byte("GGUF but not really") }},
		{name: "truncated", want: ErrFormat, file: func(t testing.TB) []byte {
			b := goodSpec(t).bytes(t)
			return b[:len(b)-40]
		}},
		{name: "a-only-file", want: ErrMissingPair, file: func(t testing.TB) []byte {
			return goodSpec(t).delTensors(func(n string) bool { return !isA(n) }).bytes(t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.file(t)
			models := refusalTargets(t)
			if tc.model != nil {
				models = map[string]Model[float32]{"custom": tc.model(t)}
			}
			for name, m := range models {
				if tc.only != "" && name != tc.only {
					continue
				}
				before := takeSnapshot(m)
				err := ReadAdapter(bytes.NewReader(data), int64(len(data)), m)
				if err == nil {
					t.Fatalf("%s model: ReadAdapter succeeded", name)
				}
				wantErr(t, err, tc.want)
				if !takeSnapshot(m).equal(before) {
					t.Fatalf("%s model changed after a refused load (%v)", name, err)
				}
				t.Logf("%s: %v", name, err)
			}
		})
	}
}

// TestReadAdapterVariants: files we did not write but must accept.
func TestReadAdapterVariants(t *testing.T) {
	src := trainedModel(t, 2, []string{"attn_q"})
	x := randInput[float32](4, 3, tmIn)
	want := forward[float32](t, src, x)
	legacy := goodSpec(t).delKV("general.architecture", "general.type", "adapter.type", "adapter.lora.alpha",
		"webtune.format_version", "webtune.lora.rank", "webtune.lora.alpha", "webtune.lora.use_rslora", "webtune.lora.target_modules")
	for i := range legacy.tensors {
		n := legacy.tensors[i].name
		n = strings.Replace(strings.Replace(n, ".weight.lora_a", ".weight_a", 1), ".weight.lora_b", ".weight_b", 1)
		legacy.tensors[i].name = "lora." + n
	}
	// llama.cpp's converter: no webtune keys, alpha only in adapter.lora.alpha.
	converted := goodSpec(t).delKV("webtune.format_version", "webtune.lora.rank", "webtune.lora.alpha",
		"webtune.lora.use_rslora", "webtune.lora.target_modules", "lora.rank", "lora.alpha")
	withNorm := goodSpec(t)
	withNorm.tensors = append(withNorm.tensors, tensorSpec{"blk.0.attn_norm.weight", gguf.TypeF32, []uint64{8}, make([]float32, 8)})
	for name, s := range map[string]*fileSpec{"legacy": legacy, "converted": converted, "norm-skipped": withNorm} {
		t.Run(name, func(t *testing.T) {
			for mname, m := range refusalTargets(t) {
				data := s.bytes(t)
				if err := ReadAdapter(bytes.NewReader(data), int64(len(data)), m); err != nil {
					t.Fatalf("%s: %v", mname, err)
				}
				if got := forward[float32](t, m.(*nn.Sequential[float32]), x); !slices.Equal(got, want) {
					t.Fatalf("%s: outputs differ by %g", mname, maxDiff(got, want))
				}
			}
		})
	}
	t.Run("no-alpha-means-scale-1", func(t *testing.T) {
		s := goodSpec(t).delKV("adapter.lora.alpha", "webtune.lora.alpha", "lora.alpha")
		m := newTestModel[float32](t, 1)
		data := s.bytes(t)
		if err := ReadAdapter(bytes.NewReader(data), int64(len(data)), m); err != nil {
			t.Fatal(err)
		}
		if l := Adapters[float32](m)[0]; l.Scale() != 1 || l.Alpha() != 2 {
			t.Fatalf("scale %v alpha %v, want 1 and r", l.Scale(), l.Alpha())
		}
	})
	t.Run("f16-and-bf16", func(t *testing.T) {
		s := goodSpec(t)
		s.tensors[0].typ, s.tensors[1].typ = gguf.TypeF16, gguf.TypeBF16
		m := newTestModel[float32](t, 1)
		data := s.bytes(t)
		if err := ReadAdapter(bytes.NewReader(data), int64(len(data)), m); err != nil {
			t.Fatal(err)
		}
		l := Adapters[float32](m)[0]
		for i, v := range s.tensors[0].data {
			if l.A.Value.Data()[i] != gguf.Float16ToFloat32(gguf.Float32ToFloat16(v)) {
				t.Fatalf("A[%d] = %v, want the F16 rounding of %v", i, l.A.Value.Data()[i], v)
			}
		}
		if d := maxDiff(l.B.Value.Data(), s.tensors[1].data); d == 0 || d > 1e-2 {
			t.Fatalf("B differs from the BF16 data by %g", d)
		}
	})
}

func TestLoadAdapterMissingFile(t *testing.T) {
	m := newTestModel[float32](t, 1)
	if err := LoadAdapter[float32](t.TempDir()+"/none.gguf", m); err == nil {
		t.Fatal("loading a missing file succeeded")
	}
}
