package nn_test

import (
	"testing"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// BenchmarkLinear measures forward + backward (dx and dW, no bias) of a
// Linear on x [256 tokens × 512] → 512 in float32: three 256×512×512
// products, 6·N·in·out flops per iteration.
func BenchmarkLinear(b *testing.B) {
	const n, in, out = 256, 512, 512
	l, err := nn.NewLinear("fc", in, out, tensor.NewCPU[float32](), nn.LinearOptions{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	x := tensor.Zeros[float32](n, in)
	for i := range x.Data() {
		x.Data()[i] = float32(i%17)/17 - 0.5
	}
	dy := tensor.Zeros[float32](n, out)
	tensor.Fill(dy.Data(), 0.01)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.Forward(ctx, x); err != nil {
				b.Fatal(err)
			}
		}
		reportGFLOPs(b, 2*n*in*out)
	})
	b.Run("forward+backward", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.Forward(ctx, x); err != nil {
				b.Fatal(err)
			}
			if _, err := l.Backward(ctx, nn.FullBackprop, dy, x); err != nil {
				b.Fatal(err)
			}
		}
		reportGFLOPs(b, 6*n*in*out)
	})
}

func reportGFLOPs(b *testing.B, flops int) {
	b.ReportMetric(float64(flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
