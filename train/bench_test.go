package train

import (
	"bytes"
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
)

// benchConfig is the reference config of issue 5's benchmark: dim 288, 6
// layers, 6 heads, 6 KV heads, ffn 768, vocab 4096 (llama2.c's 15M model).
func benchConfig() llama.Config {
	return llama.Config{VocabSize: 4096, Dim: 288, Layers: 6, Heads: 6, KVHeads: 6, HeadDim: 48, FFN: 768,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 256}
}

// BenchmarkTrainStep measures training throughput (forward + backward +
// AdamW step, one window of 256 tokens per step, r = 8 on every block
// linear) on the dense and the NF4 (QLoRA) base. Run with -cpu 1,2 for the
// thread counts; reports tok/s and the peak Go heap in MB.
func BenchmarkTrainStep(b *testing.B) {
	for _, qlora := range []bool{false, true} {
		name := "dense"
		if qlora {
			name = "qlora"
		}
		b.Run(name, func(b *testing.B) {
			cfg := benchConfig()
			m := llama.NewRandom[float32](cfg, 1)
			if qlora {
				var buf bytes.Buffer
				if err := llama.Save(&buf, m); err != nil {
					b.Fatal(err)
				}
				var err error
				if m, _, err = llama.Load[float32](bytes.NewReader(buf.Bytes()), int64(buf.Len()), llama.LoadOptions{QLoRA: true}); err != nil {
					b.Fatal(err)
				}
			}
			if err := lora.InjectLoRA[float32](m, 8, 16, allLinear, m.Engine(), lora.WithSeed(1)); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			toks := make([]int, 8*257)
			for i := range toks {
				toks[i] = rng.IntN(cfg.VocabSize)
			}
			r, err := New[float32](m, toks, Config{SeqLen: 256, Batch: 1, Steps: b.N + 1, EvalFraction: -1})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := r.Step(ctx); err != nil { // warm-up: allocations, rope cache
				b.Fatal(err)
			}
			var ms runtime.MemStats
			peak := uint64(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Step(ctx); err != nil {
					b.Fatal(err)
				}
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
		})
	}
}
