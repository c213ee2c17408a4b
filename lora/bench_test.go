package lora

import (
	"testing"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Benchmark shape: x [N = 256 tokens × 512] → 512, rank 8, float32.
const benchN, benchIn, benchOut, benchR = 256, 512, 512, 8

// Flops per forward+backward (multiply-adds count 2):
//   - dense trainable Linear (full fine-tuning): y, dx, dW = 6·N·in·out;
//   - dense frozen Linear: y, dx = 4·N·in·out;
//   - LoRA: frozen base 4·N·in·out plus the adapter 2·N·r·(4·in + 3·out)
//     (forward h and y; backward h again, dB, dh, dA, dx).
const (
	flopsTrainable = 6 * benchN * benchIn * benchOut
	flopsFrozen    = 4 * benchN * benchIn * benchOut
	flopsLoRA      = flopsFrozen + 2*benchN*benchR*(4*benchIn+3*benchOut)
)

func benchData() (x, dy *tensor.Tensor[float32]) {
	return randInput[float32](1, benchN, benchIn), randInput[float32](2, benchN, benchOut)
}

// benchNode times Forward + Backward (FullBackprop) of l.
func benchNode(b *testing.B, l nn.Node[float32], flops int) {
	x, dy := benchData()
	for b.Loop() {
		if _, err := l.Forward(ctx, x); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Backward(ctx, nn.FullBackprop, dy, x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func benchLinear(b *testing.B, frozen bool) *nn.Linear[float32] {
	l, err := nn.NewLinear("fc", benchIn, benchOut, tensor.NewCPU[float32](), nn.LinearOptions{Seed: 1, Frozen: frozen})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func benchLoRA(b *testing.B, base nn.Node[float32]) *LoraLinear[float32] {
	l, err := NewLoraLinear[float32]("fc", base, benchR, 16, tensor.NewCPU[float32](), benchIn, benchOut)
	if err != nil {
		b.Fatal(err)
	}
	randomizeB[float32](nn.NewSequential[float32]("m", l), 1, 0.01)
	return l
}

// BenchmarkDenseLinear: the plain dense layer, trained in full.
func BenchmarkDenseLinear(b *testing.B) { benchNode(b, benchLinear(b, false), flopsTrainable) }

// BenchmarkDenseLinearFrozen: the plain dense layer, frozen (dx only).
func BenchmarkDenseLinearFrozen(b *testing.B) { benchNode(b, benchLinear(b, true), flopsFrozen) }

// BenchmarkLoraLinearDense: LoRA r=8 over a dense base.
func BenchmarkLoraLinearDense(b *testing.B) {
	benchNode(b, benchLoRA(b, benchLinear(b, false)), flopsLoRA)
}

// BenchmarkLoraLinearNF4: LoRA r=8 over an NF4 base (QLoRA).
func BenchmarkLoraLinearNF4(b *testing.B) {
	q, err := nn.QuantizeLinear(benchLinear(b, false), nf4.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchNode(b, benchLoRA(b, q), flopsLoRA)
}
