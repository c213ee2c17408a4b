package llama

import (
	"context"
	"math"
	"testing"

	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tensor"
)

// TestRecomputeSameGradients trains one step of each family with and
// without block recomputation (full fine-tuning, and LoRA on every target
// with dropout) and expects the same loss and gradients, bit for bit.
func TestRecomputeSameGradients(t *testing.T) {
	for _, c := range archCases() {
		for _, full := range []bool{true, false} {
			run := func(recompute bool) (float64, [][]float64) {
				m := newArchModel[float64](c, 43)
				if full {
					if err := m.SetTrainable(true); err != nil {
						t.Fatal(err)
					}
				} else {
					targets := allTargets
					if c.cfg.TiedOutput {
						targets = allTargets[:7]
					}
					if err := lora.InjectLoRA(m, 2, 4, targets, tensor.NewCPU[float64](), lora.WithDropout(0.2), lora.WithSeed(3)); err != nil {
						t.Fatal(err)
					}
					randomizeB(m, 5)
					m.SetTraining(true)
					m.SetDropoutKey(7, 0) // as train.Run does before every micro-batch
				}
				m.SetRecompute(recompute)
				tokens, targets := tinyBatch(c.cfg, 2, 6, 13)
				m.ZeroGrad()
				loss, err := m.ForwardBackward(context.Background(), tokens, targets, 1)
				if err != nil {
					t.Fatal(err)
				}
				if recompute && len(m.acts.layers) > 1 && &m.acts.layers[0].att[0] != &m.acts.layers[1].att[0] {
					t.Fatal("recompute: blocks do not share their activation buffers")
				}
				return loss, gradsOf(m)
			}
			l0, g0 := run(false)
			l1, g1 := run(true)
			if l0 != l1 {
				t.Fatalf("%s full=%v: loss %v with recompute, %v without", c.name, full, l1, l0)
			}
			for i := range g0 {
				for j := range g0[i] {
					if math.Float64bits(g0[i][j]) != math.Float64bits(g1[i][j]) {
						t.Fatalf("%s full=%v: gradient %d[%d] = %v with recompute, %v without", c.name, full, i, j, g1[i][j], g0[i][j])
					}
				}
			}
		}
	}
}
