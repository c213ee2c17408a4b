// Package step is the benchmark workload of issue 8: one LoRA training
// step on a frozen 512×512 linear layer, batch 256, rank 8, MSE loss,
// gradients for A and B, one SGD update, built from webtune's own layers
// (nn.Linear frozen, lora.LoraLinear, nn.MSELoss, nn.SGD) on a given
// engine. The same data is handed to TF.js by the bench page.
package step

import (
	"context"
	"math/rand/v2"

	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// The step's sizes.
const (
	N, In, Out, Rank = 256, 512, 512, 8
	Alpha            = 16
	LR               = 0.01
)

// Flops is the useful work of one step (multiply-adds count 2): base
// forward 2·N·In·Out, adapter forward h and y, backward dB, dh, dA (as
// TF.js computes it; webtune also recomputes h, 2·N·In·Rank more).
const Flops = 2*N*In*Out + 2*N*Rank*(2*In+3*Out)

// Data is the step's input, all row-major float32.
type Data struct {
	X      []float32 // [N, In]
	Target []float32 // [N, Out]
	W      []float32 // [Out, In], frozen
	A      []float32 // [Rank, In]
	B      []float32 // [Out, Rank] (non-zero so that dA is too)
}

// NewData draws the step's data from seed.
func NewData(seed uint64) *Data {
	r := rand.New(rand.NewPCG(seed, 7))
	u := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((r.Float64()*2 - 1) * s)
		}
		return v
	}
	return &Data{X: u(N*In, 1), Target: u(N*Out, 1), W: u(Out*In, 0.044),
		A: u(Rank*In, 0.044), B: u(Out*Rank, 0.01)}
}

// Step holds the model, optimizer and buffers of the workload.
type Step struct {
	layer  *lora.LoraLinear[float32]
	x, tgt *tensor.Tensor[float32]
	opt    *nn.SGD[float32]
	params []*nn.Parameter[float32]
}

// New builds the workload on engine e from a copy of d.
func New(e tensor.Engine[float32], d *Data) (*Step, error) { return NewPart(e, d, 0, N) }

// NewPart builds the workload on rows r0..r1 of the batch only: a data-
// parallel worker's share. Its gradients (Grads) are those of its
// micro-batch's mean loss, so the full batch's gradient is the mean of the
// workers' (equal shares).
func NewPart(e tensor.Engine[float32], d *Data, r0, r1 int) (*Step, error) {
	n := r1 - r0
	w, err := tensor.FromSlice(append([]float32(nil), d.W...), Out*In).Reshape(Out, In)
	if err != nil {
		return nil, err
	}
	base, err := nn.NewLinearFrom("fc", w, nil, e)
	if err != nil {
		return nil, err
	}
	base.SetFrozen(true)
	l, err := lora.NewLoraLinear[float32]("fc", base, Rank, Alpha, e, In, Out)
	if err != nil {
		return nil, err
	}
	copy(l.A.Value.Data(), d.A)
	copy(l.B.Value.Data(), d.B)
	x, err := tensor.FromSlice(append([]float32(nil), d.X[r0*In:r1*In]...), n*In).Reshape(n, In)
	if err != nil {
		return nil, err
	}
	t, err := tensor.FromSlice(append([]float32(nil), d.Target[r0*Out:r1*Out]...), n*Out).Reshape(n, Out)
	if err != nil {
		return nil, err
	}
	return &Step{layer: l, x: x, tgt: t, opt: nn.NewSGD[float32](nn.SGDConfig{LR: LR}),
		params: l.Parameters()}, nil
}

// Run does one training step and returns the loss before the update.
func (s *Step) Run() (float32, error) {
	loss, err := s.Grads()
	if err != nil {
		return 0, err
	}
	return loss, s.opt.Step(context.Background(), s.params)
}

// Grads computes the loss and the gradients of A and B (left in the
// parameters, see GradA and GradB) without updating anything.
func (s *Step) Grads() (float32, error) {
	ctx := context.Background()
	for _, p := range s.params {
		p.ZeroGrad()
	}
	y, err := s.layer.Forward(ctx, s.x)
	if err != nil {
		return 0, err
	}
	loss, dy, err := nn.MSELoss(y, s.tgt)
	if err != nil {
		return 0, err
	}
	_, err = s.layer.Backward(ctx, nn.ParamsOnly, dy, s.x)
	return loss, err
}

// Apply replaces the gradients with dA [Rank, In] and dB [Out, Rank] (the
// workers' mean) and takes the SGD step.
func (s *Step) Apply(dA, dB []float32) error {
	copy(s.layer.A.Grad.Data(), dA)
	copy(s.layer.B.Grad.Data(), dB)
	return s.opt.Step(context.Background(), s.params)
}

// GradA returns the gradient of A, [Rank, In].
func (s *Step) GradA() []float32 { return s.layer.A.Grad.Data() }

// GradB returns the gradient of B, [Out, Rank].
func (s *Step) GradB() []float32 { return s.layer.B.Grad.Data() }

// A and B return the adapter's current values (for cross-checks).
func (s *Step) A() []float32 { return s.layer.A.Value.Data() }

// B returns the current B [Out, Rank].
func (s *Step) B() []float32 { return s.layer.B.Value.Data() }
