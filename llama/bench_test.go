package llama

import (
	"context"
	"runtime"
	"testing"

	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// refConfig is the benchmark's reference model: dim 288, 6 layers, 6 heads,
// 6 KV heads, ffn 768, vocab 4096 (llama2.c's stories15M shape).
func refConfig() Config {
	return Config{VocabSize: 4096, Dim: 288, Layers: 6, Heads: 6, KVHeads: 6, HeadDim: 48, FFN: 768,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 256}
}

// benchTrain measures forward + backward + AdamW step on one sequence of
// 256 tokens with LoRA r=8 on every linear layer of the blocks (PEFT's
// all-linear), over a dense or an NF4 (QLoRA) base; or full fine-tuning.
func benchTrain(b *testing.B, mode string) {
	ctx := context.Background()
	cfg := refConfig()
	m := NewRandom[float32](cfg, 1)
	switch mode {
	case "qlora":
		if err := m.QuantizeNF4(nf4.Options{}); err != nil {
			b.Fatal(err)
		}
		fallthrough
	case "lora":
		if err := lora.InjectLoRA(m, 8, 16, []string{"all-linear"}, tensor.NewCPU[float32]()); err != nil {
			b.Fatal(err)
		}
	case "full":
		if err := m.SetTrainable(true); err != nil {
			b.Fatal(err)
		}
	}
	tokens, targets := tinyBatch(cfg, 1, 256, 1)
	opt := nn.NewAdamW[float32](nn.AdamWConfig{LR: 1e-4})
	step := func() {
		m.ZeroGrad()
		if _, err := m.ForwardBackward(ctx, tokens, targets, 1); err != nil {
			b.Fatal(err)
		}
		if err := opt.Step(ctx, m.Parameters()); err != nil {
			b.Fatal(err)
		}
	}
	step() // allocate activations and optimizer state
	runtime.GC()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N*256)/cpu, "tokens/cpu-s")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "MiB-sys")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap")
}

func BenchmarkTrainStepLoRA(b *testing.B)  { benchTrain(b, "lora") }
func BenchmarkTrainStepQLoRA(b *testing.B) { benchTrain(b, "qlora") }
func BenchmarkTrainStepFull(b *testing.B)  { benchTrain(b, "full") }
