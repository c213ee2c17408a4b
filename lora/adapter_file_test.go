package lora

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// zt is a tensor of zeros.
func zt(name string, typ gguf.TensorType, dims ...uint64) tensorSpec {
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	return tensorSpec{name, typ, dims, make([]float32, n)}
}

// converterSpec is an adapter as llama.cpp's convert_lora_to_gguf.py writes
// it: no webtune keys, alpha 8, rank-4 attn_q and attn_v of one layer with
// n_embd 32.
func converterSpec() *fileSpec {
	return &fileSpec{
		kvs: []gguf.KV{
			{Key: "general.architecture", Value: gguf.String("llama")},
			{Key: "general.type", Value: gguf.String("adapter")},
			{Key: "adapter.type", Value: gguf.String("lora")},
			{Key: "adapter.lora.alpha", Value: gguf.Float32(8)},
		},
		tensors: []tensorSpec{
			zt("blk.0.attn_q.weight.lora_a", gguf.TypeF32, 32, 4), zt("blk.0.attn_q.weight.lora_b", gguf.TypeF32, 4, 32),
			zt("blk.0.attn_v.weight.lora_a", gguf.TypeF32, 32, 4), zt("blk.0.attn_v.weight.lora_b", gguf.TypeF32, 4, 32),
		},
	}
}

// withPair returns s with its tensors replaced by one pair of the given dims.
func (s *fileSpec) withPair(base string, typ gguf.TensorType, a, b []uint64) *fileSpec {
	s.tensors = []tensorSpec{zt(base+".lora_a", typ, a...), zt(base+".lora_b", typ, b...)}
	return s
}

// inspectBytes opens data and inspects it.
func inspectBytes(t testing.TB, data []byte) (*AdapterFile, error) {
	t.Helper()
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("gguf.Open: %v", err)
	}
	return InspectAdapter(f)
}

func TestInspectAdapterAccepts(t *testing.T) {
	rs := trainedModel(t, 2, []string{"attn_q"}, WithRSLoRA())
	for _, tc := range []struct {
		name      string
		data      func(t testing.TB) []byte
		fileAlpha float32
		alpha     float64
		rslora    bool
		rankKey   int
		ranks     []int
		pairs     []string
		skipped   []string
	}{
		{name: "converter", data: func(t testing.TB) []byte { return converterSpec().bytes(t) },
			fileAlpha: 8, alpha: 8, ranks: []int{4}, pairs: []string{"blk.0.attn_q.weight", "blk.0.attn_v.weight"}},
		{name: "webtune-rslora", data: func(t testing.TB) []byte { return adapterBytes(t, rs) },
			fileAlpha: float32(4 * math.Sqrt2), alpha: 4, rslora: true, rankKey: 2, ranks: []int{2},
			pairs: []string{"blk.0.attn_q.weight", "blk.1.attn_q.weight"}},
		{name: "no-alpha", data: func(t testing.TB) []byte { return converterSpec().delKV("adapter.lora.alpha").bytes(t) },
			ranks: []int{4}, pairs: []string{"blk.0.attn_q.weight", "blk.0.attn_v.weight"}},
		{name: "mixed-ranks-and-types", data: func(t testing.TB) []byte {
			s := converterSpec()
			s.tensors = append(s.tensors, zt("output.weight.lora_a", gguf.TypeF16, 32, 8), zt("output.weight.lora_b", gguf.TypeBF16, 8, 100))
			return s.bytes(t)
		}, fileAlpha: 8, alpha: 8, ranks: []int{4, 8}, pairs: []string{"blk.0.attn_q.weight", "blk.0.attn_v.weight", "output.weight"}},
		{name: "token-embd-transposed-a", data: func(t testing.TB) []byte {
			return converterSpec().withPair("token_embd.weight", gguf.TypeF32, []uint64{4, 100}, []uint64{4, 32}).bytes(t)
		}, fileAlpha: 8, alpha: 8, ranks: []int{4}, pairs: []string{"token_embd.weight"}},
		{name: "q8_0", data: func(t testing.TB) []byte {
			return converterSpec().withPair("blk.0.ffn_up.weight", gguf.TypeQ8_0, []uint64{64, 32}, []uint64{32, 96}).bytes(t)
		}, fileAlpha: 8, alpha: 8, ranks: []int{32}, pairs: []string{"blk.0.ffn_up.weight"}},
		{name: "norm-skipped", data: func(t testing.TB) []byte {
			s := converterSpec()
			s.tensors = append(s.tensors, zt("blk.0.attn_norm.weight", gguf.TypeF32, 32))
			return s.bytes(t)
		}, fileAlpha: 8, alpha: 8, ranks: []int{4}, pairs: []string{"blk.0.attn_q.weight", "blk.0.attn_v.weight"},
			skipped: []string{"blk.0.attn_norm.weight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			af, err := inspectBytes(t, tc.data(t))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range af.Pairs {
				names = append(names, p.Name)
				if p.A.Name != p.Name+".lora_a" || p.B.Name != p.Name+".lora_b" || p.Rank != int(p.B.Dims[0]) {
					t.Errorf("pair %s: A %s, B %s, rank %d", p.Name, p.A.Name, p.B.Name, p.Rank)
				}
			}
			wantArch := "llama"
			if tc.name == "webtune-rslora" {
				wantArch = DefaultArchitecture
			}
			if af.Architecture != wantArch || af.FileAlpha != tc.fileAlpha || math.Abs(af.Alpha-tc.alpha) > 1e-6 ||
				af.RSLoRA != tc.rslora || af.Rank != tc.rankKey || !slices.Equal(af.Ranks(), tc.ranks) ||
				!slices.Equal(names, tc.pairs) || !slices.Equal(af.Skipped, tc.skipped) {
				t.Errorf("got %+v (ranks %v, pairs %v)", *af, af.Ranks(), names)
			}
		})
	}
}

func TestInspectAdapterRefuses(t *testing.T) {
	conv := converterSpec
	webtune := func() *fileSpec { // converter file plus webtune's keys, rank 4
		return conv().setKV("webtune.lora.rank", gguf.Uint32(4)).setKV("webtune.lora.alpha", gguf.Float32(8))
	}
	q := "blk.0.attn_q.weight"
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		spec *fileSpec
		want error
	}{
		{"general.type model", conv().setKV("general.type", gguf.String("model")), ErrNotAdapter},
		{"general.type missing", conv().delKV("general.type"), ErrNotAdapter},
		{"general.type not a string", conv().setKV("general.type", gguf.Uint32(1)), ErrNotAdapter},
		{"adapter.type control vector", conv().setKV("adapter.type", gguf.String("control_vector")), ErrNotAdapter},
		{"adapter.type missing", conv().delKV("adapter.type"), ErrNotAdapter},
		{"architecture missing", conv().delKV("general.architecture"), ErrArchitecture},
		{"architecture empty", conv().setKV("general.architecture", gguf.String("")), ErrArchitecture},
		{"architecture not a string", conv().setKV("general.architecture", gguf.Uint32(7)), ErrFormat},
		{"alpha as uint32", conv().setKV("adapter.lora.alpha", gguf.Uint32(8)), ErrFormat},
		{"alpha as float64", conv().setKV("adapter.lora.alpha", gguf.Float64(8)), ErrFormat},
		{"alpha negative", conv().setKV("adapter.lora.alpha", gguf.Float32(-1)), ErrFormat},
		{"alpha NaN", conv().setKV("adapter.lora.alpha", gguf.Float32(nan)), ErrFormat},
		{"alpha Inf", conv().setKV("adapter.lora.alpha", gguf.Float32(float32(math.Inf(1)))), ErrFormat},
		{"webtune alpha disagrees", webtune().setKV("webtune.lora.alpha", gguf.Float32(16)), ErrFormat},
		{"webtune alpha zero", webtune().setKV("webtune.lora.alpha", gguf.Float32(0)).delKV("adapter.lora.alpha"), ErrFormat},
		{"webtune alpha not a number", webtune().setKV("webtune.lora.alpha", gguf.String("8")), ErrFormat},
		{"rslora not a bool", webtune().setKV("webtune.lora.use_rslora", gguf.Uint8(1)), ErrFormat},
		{"rslora without alpha", conv().setKV("webtune.lora.use_rslora", gguf.Bool(true)), ErrFormat},
		{"rslora without rank", webtune().delKV("webtune.lora.rank").setKV("webtune.lora.use_rslora", gguf.Bool(true)), ErrFormat},
		{"rank key not a number", conv().setKV("webtune.lora.rank", gguf.String("4")), ErrFormat},
		{"rank key zero", conv().setKV("webtune.lora.rank", gguf.Uint32(0)), ErrRank},
		{"rank key fractional", conv().setKV("lora.rank", gguf.Float32(2.5)), ErrRank},
		{"rank keys disagree", webtune().setKV("lora.rank", gguf.Uint32(8)), ErrRank},
		{"rank key disagrees with pairs", webtune().setKV("webtune.lora.rank", gguf.Uint32(8)), ErrRank},
		{"rank above MaxRank", conv().withPair(q, gguf.TypeF32, []uint64{1, MaxRank + 1}, []uint64{MaxRank + 1, 1}), ErrRank},
		{"no tensors", conv().delTensors(func(string) bool { return true }), ErrFormat},
		{"only a norm tensor", &fileSpec{kvs: conv().kvs, tensors: []tensorSpec{zt("blk.0.attn_norm.weight", gguf.TypeF32, 32)}}, ErrFormat},
		{"unexpected suffix", &fileSpec{kvs: conv().kvs, tensors: append(conv().tensors, zt("rope_freqs.weight", gguf.TypeF32, 4))}, ErrFormat},
		{"published-API names", &fileSpec{kvs: conv().kvs, tensors: []tensorSpec{
			zt("lora.blk.0.attn_q.weight_a", gguf.TypeF32, 32, 4), zt("lora.blk.0.attn_q.weight_b", gguf.TypeF32, 4, 32)}}, ErrFormat},
		{"empty base name", conv().withPair("", gguf.TypeF32, []uint64{32, 4}, []uint64{4, 32}), ErrFormat},
		{"missing lora_b", conv().delTensors(func(n string) bool { return n == q+".lora_b" }), ErrMissingPair},
		{"missing lora_a", conv().delTensors(func(n string) bool { return n == q+".lora_a" }), ErrMissingPair},
		{"Q4_0 tensor", conv().withPair(q, gguf.TypeQ4_0, []uint64{32, 32}, []uint64{32, 32}), ErrFormat},
		{"3-D tensor", conv().withPair(q, gguf.TypeF32, []uint64{32, 4, 2}, []uint64{4, 32}), ErrShape},
		{"1-D tensor", conv().withPair(q, gguf.TypeF32, []uint64{32}, []uint64{4, 32}), ErrShape},
		{"ranks disagree", conv().withPair(q, gguf.TypeF32, []uint64{32, 4}, []uint64{8, 32}), ErrShape},
		{"lora_a transposed", conv().withPair(q, gguf.TypeF32, []uint64{4, 32}, []uint64{4, 32}), ErrShape},
		{"token_embd lora_a not transposed", conv().withPair("token_embd.weight", gguf.TypeF32, []uint64{32, 4}, []uint64{4, 32}), ErrShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			af, err := inspectBytes(t, tc.spec.bytes(t))
			if err == nil {
				t.Fatalf("accepted: %+v", *af)
			}
			wantErr(t, err, tc.want)
			if !strings.HasPrefix(err.Error(), "lora: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			// Callers tell "not an adapter" from "a broken adapter" by ErrNotAdapter alone.
			if got, want := errors.Is(err, ErrNotAdapter), tc.want == ErrNotAdapter; got != want {
				t.Errorf("errors.Is(%v, ErrNotAdapter) = %t, want %t", err, got, want)
			}
			t.Log(err)
		})
	}
}

func TestInspectAdapterNil(t *testing.T) {
	if _, err := InspectAdapter(nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

// TestErrNotAdapterIsErrFormat: older callers test ErrFormat for every bad file.
func TestErrNotAdapterIsErrFormat(t *testing.T) {
	if !errors.Is(ErrNotAdapter, ErrFormat) || errors.Is(ErrFormat, ErrNotAdapter) {
		t.Fatal("ErrNotAdapter must be a case of ErrFormat, not the reverse")
	}
}
