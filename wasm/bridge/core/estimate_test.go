package core

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
)

// realShape is a model of one of the real shapes scripts/bench/realsize
// writes: its config and its tensor table (types as that script quantizes).
func realShape(name string) (llama.Config, *gguf.File) {
	type sh struct {
		embd, layers, heads, kv, hd, ffn, vocab int
		w, emb                                  gguf.TensorType
	}
	s := map[string]sh{
		"smollm2-135m": {576, 30, 9, 3, 64, 1536, 49152, gguf.TypeQ8_0, gguf.TypeQ8_0},
		"qwen2.5-0.5b": {896, 24, 14, 2, 64, 4864, 151936, gguf.TypeQ4_K, gguf.TypeQ6_K},
		"llama3.2-1b":  {2048, 16, 32, 8, 64, 8192, 128256, gguf.TypeQ4_K, gguf.TypeQ6_K},
	}[name]
	c := llama.Config{Dim: s.embd, Layers: s.layers, Heads: s.heads, KVHeads: s.kv, HeadDim: s.hd, FFN: s.ffn,
		VocabSize: s.vocab, ContextLength: 2048, TiedOutput: true}
	f := &gguf.File{}
	add := func(name string, typ gguf.TensorType, rows, cols int) {
		if cols%typ.BlockSize() != 0 { // llama.cpp's fallback, as the bench script does
			typ = gguf.TypeQ5_0
			if strings.HasPrefix(name, "token_embd") {
				typ = gguf.TypeQ8_0
			}
		}
		if rows == 1 {
			typ = gguf.TypeF32
		}
		f.Tensors = append(f.Tensors, gguf.TensorInfo{Name: name, Type: typ, Dims: []uint64{uint64(cols), uint64(rows)}})
	}
	add("token_embd.weight", s.emb, s.vocab, s.embd)
	add("output_norm.weight", gguf.TypeF32, 1, s.embd)
	q, kv := s.heads*s.hd, s.kv*s.hd
	for l := range s.layers {
		p := fmt.Sprintf("blk.%d.", l)
		add(p+"attn_norm.weight", gguf.TypeF32, 1, s.embd)
		add(p+"attn_q.weight", s.w, q, s.embd)
		add(p+"attn_k.weight", s.w, kv, s.embd)
		add(p+"attn_v.weight", s.w, kv, s.embd)
		add(p+"attn_output.weight", s.w, s.embd, q)
		add(p+"ffn_norm.weight", gguf.TypeF32, 1, s.embd)
		add(p+"ffn_gate.weight", s.w, s.ffn, s.embd)
		add(p+"ffn_up.weight", s.w, s.ffn, s.embd)
		add(p+"ffn_down.weight", s.w, s.embd, s.ffn)
	}
	return c, f
}

// TestEstimateTrainingMeasured: the estimate is within ±20 % of the peak
// wasm memory per worker measured in Chromium by
// scripts/bench/page-realsize.mjs (LoRA r=8 attn_q,attn_v, 3 steps; the
// figures in BENCHMARKS.md).
func TestEstimateTrainingMeasured(t *testing.T) {
	for _, m := range []struct {
		shape         string
		seqLen, batch int
		workers       int
		measuredMB    float64
	}{
		// 2026-12-06, Chromium 2 cores (load 11-17): peak wasm memory of the primary worker
		{"smollm2-135m", 256, 1, 1, 771},
		{"smollm2-135m", 256, 2, 2, 793},
		{"qwen2.5-0.5b", 256, 1, 1, 1480},
		// 2026-12-06 04:08-04:24, Chromium on an Intel Xeon, 2 vCPUs (load 2-8): the JS API rows
		{"smollm2-135m", 256, 1, 1, 749},
		{"qwen2.5-0.5b", 256, 1, 1, 1392},
		{"llama3.2-1b", 256, 1, 1, 2104},
	} {
		c, f := realShape(m.shape)
		e := EstimateTraining(c, f, TrainSettings{Rank: 8, Targets: []string{"attn_q", "attn_v"}, SeqLen: m.seqLen, Batch: m.batch, Workers: m.workers})
		got := float64(e.WorkerBytes) / 1e6
		t.Logf("%s seq %d batch %d: estimate %.0f MB, measured %.0f MB (%+.0f %%)", m.shape, m.seqLen, m.batch, got, m.measuredMB, 100*(got/m.measuredMB-1))
		if r := got / m.measuredMB; math.Abs(r-1) > 0.2 {
			t.Errorf("%s seq %d batch %d: estimate %.0f MB, measured %.0f MB (ratio %.2f)", m.shape, m.seqLen, m.batch, got, m.measuredMB, r)
		}
		if !e.Fits || e.Workers != min(m.workers, m.batch) {
			t.Errorf("%s: fits %v on %d workers (%s)", m.shape, e.Fits, e.Workers, e.Problem)
		}
	}
}

// TestEstimateTrainingRefuses: what cannot fit is refused, more workers
// than fit train on fewer, a batch of one trains on one.
func TestEstimateTrainingRefuses(t *testing.T) {
	c, f := realShape("llama3.2-1b")
	one := EstimateTraining(c, f, TrainSettings{SeqLen: 256, Batch: 1, Workers: 1})
	if !one.Fits || one.Workers != 1 || one.WorkerBytes > WorkerBudget {
		t.Fatalf("1B shape, one worker at seq 256: %+v", one)
	}
	// two workers of one window each do not fit together, one worker of
	// two windows does not fit alone
	two := EstimateTraining(c, f, TrainSettings{SeqLen: 256, Batch: 2, Workers: 2})
	if two.Fits || two.Workers != 0 || !strings.Contains(two.Problem, "2 workers would need") {
		t.Errorf("1B shape on 2 workers: %+v", two)
	}
	huge := EstimateTraining(c, f, TrainSettings{SeqLen: 2048, Batch: 16, Workers: 1})
	if huge.Fits || huge.Workers != 0 || !strings.Contains(huge.Problem, "per worker") {
		t.Errorf("1B shape at batch 16 × 2048: %+v", huge)
	}
	c, f = realShape("smollm2-135m")
	b1 := EstimateTraining(c, f, TrainSettings{SeqLen: 256, Batch: 1, Workers: 2})
	if b1.Workers != 1 || !strings.Contains(b1.Problem, "trains on 1 worker") {
		t.Errorf("batch 1 on 2 workers: %+v", b1)
	}
	// every setting moves it the right way
	base := EstimateTraining(c, f, TrainSettings{Rank: 8, SeqLen: 256, Batch: 1})
	for name, s := range map[string]TrainSettings{
		"rank 64":     {Rank: 64, SeqLen: 256, Batch: 1},
		"all targets": {Rank: 8, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}, SeqLen: 256, Batch: 1},
		"seq-len 512": {Rank: 8, SeqLen: 512, Batch: 1},
		"batch 2":     {Rank: 8, SeqLen: 256, Batch: 2},
	} {
		if e := EstimateTraining(c, f, s); e.WorkerBytes <= base.WorkerBytes {
			t.Errorf("%s: %d bytes, not more than %d", name, e.WorkerBytes, base.WorkerBytes)
		}
	}
}
