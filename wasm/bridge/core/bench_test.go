package core

import (
	"context"
	"testing"
)

// BenchmarkBuiltinTrainStep measures training throughput (forward, backward,
// AdamW) of the built-in model with LoRA r=8 on attn_q and attn_v, the page's
// defaults (batch 4 × 64 tokens), dense and QLoRA.
func BenchmarkBuiltinTrainStep(b *testing.B) {
	for _, qlora := range []bool{false, true} {
		name := "dense"
		if qlora {
			name = "qlora"
		}
		b.Run(name, func(b *testing.B) {
			m, err := LoadBuiltin(qlora)
			if err != nil {
				b.Fatal(err)
			}
			o := withText(TrainOptions{Steps: 1 << 30, Batch: 4, SeqLen: 64, EvalFraction: -1})
			r, err := m.Train(o)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				if _, err := r.step(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*4*64)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
