package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// SequentialOptions configure NewSequential: the tensor path of the
// published API.
type SequentialOptions struct {
	// Layers are the widths [in, hidden..., out]: len(Layers)-1 Linear
	// layers named fc1, fc2, ... with an activation between two of them.
	Layers     []int   `js:"layers" json:"layers"`
	Activation string  `js:"activation" json:"activation"` // relu (default), tanh, sigmoid, gelu, silu
	Seed       int64   `js:"seed" json:"seed"`             // Seed of the base weights.
	Rank       int     `js:"rank" json:"rank"`             // Rank of the LoRA adapters (default 4).
	Alpha      float64 `js:"alpha" json:"alpha"`           // Alpha (default 2·Rank).
	// Targets are the adapted layers (default every Linear).
	Targets []string `js:"targets" json:"targets"`
	LR      float64  `js:"lr" json:"lr"` // LR of AdamW (default 1e-2).
}

// maxSequentialWidth bounds a layer width from JS.
const maxSequentialWidth = 1 << 14

// Sequential is a small MLP whose Linear layers are held as NF4 and trained
// through LoRA adapters with MSE (lora.QLoRATrainer).
type Sequential struct {
	mu      sync.Mutex
	seq     *nn.Sequential[float32]
	trainer *lora.QLoRATrainer[float32]
	in, out int
	steps   int
}

// NewSequential builds the MLP and its QLoRA trainer.
func NewSequential(o SequentialOptions) (*Sequential, error) {
	if len(o.Layers) < 2 {
		return nil, errors.New("webtune: sequential needs at least [in, out] layer widths")
	}
	for _, w := range o.Layers {
		if w < 1 || w > maxSequentialWidth {
			return nil, fmt.Errorf("webtune: layer width %d outside [1, %d]", w, maxSequentialWidth)
		}
	}
	if o.Activation == "" {
		o.Activation = "relu"
	}
	if o.Rank == 0 {
		o.Rank = 4
	}
	if o.Alpha == 0 {
		o.Alpha = float64(2 * o.Rank)
	}
	if o.LR == 0 {
		o.LR = 1e-2
	}
	eng := Engine()
	var layers []nn.Node[float32]
	var names []string
	for i := 0; i+1 < len(o.Layers); i++ {
		name := fmt.Sprintf("fc%d", i+1)
		l, err := nn.NewLinear(name, o.Layers[i], o.Layers[i+1], eng, nn.LinearOptions{Bias: true, Seed: o.Seed + int64(i), Frozen: true})
		if err != nil {
			return nil, err
		}
		layers, names = append(layers, l), append(names, name)
		if i+2 < len(o.Layers) {
			a, err := nn.NewActivation[float32](fmt.Sprintf("act%d", i+1), o.Activation)
			if err != nil {
				return nil, err
			}
			layers = append(layers, a)
		}
	}
	if len(o.Targets) == 0 {
		o.Targets = names
	}
	seq := nn.NewSequential("mlp", layers...)
	opt := nn.NewAdamW[float32](nn.AdamWConfig{LR: o.LR, NoWeightDecay: true})
	tr, err := lora.NewQLoRATrainer[float32](seq, o.Rank, float32(o.Alpha), o.Targets, eng, opt)
	if err != nil {
		return nil, err
	}
	return &Sequential{seq: seq, trainer: tr, in: o.Layers[0], out: o.Layers[len(o.Layers)-1]}, nil
}

// tensorOf checks data against shape (last dim width) and wraps it.
func tensorOf(what string, data []float32, shape []int, width int) (*tensor.Tensor[float32], error) {
	n := 1
	for _, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("webtune: %s shape %v has a non-positive dimension", what, shape)
		}
		n *= d
	}
	if len(shape) == 0 || shape[len(shape)-1] != width {
		return nil, fmt.Errorf("webtune: %s shape %v must end in %d", what, shape, width)
	}
	if n != len(data) {
		return nil, fmt.Errorf("webtune: %s shape %v needs %d values, got %d", what, shape, n, len(data))
	}
	return tensor.FromSlice(data, slices.Clone(shape)...), nil
}

// Step trains one step on input [..., in] against target [..., out] and
// returns the MSE loss before the step.
func (s *Sequential) Step(ctx context.Context, input []float32, inShape []int, target []float32, tShape []int) (float32, error) {
	x, err := tensorOf("input", input, inShape, s.in)
	if err != nil {
		return 0, err
	}
	y, err := tensorOf("target", target, tShape, s.out)
	if err != nil {
		return 0, err
	}
	if !slices.Equal(inShape[:len(inShape)-1], tShape[:len(tShape)-1]) {
		return 0, fmt.Errorf("webtune: input shape %v and target shape %v disagree on the batch", inShape, tShape)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	loss, err := s.trainer.Step(ctx, x, y)
	if err == nil {
		s.steps++
	}
	return loss, err
}

// Predict runs input [..., in] forward and returns the output and its shape.
func (s *Sequential) Predict(ctx context.Context, input []float32, inShape []int) ([]float32, []int, error) {
	x, err := tensorOf("input", input, inShape, s.in)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	y, err := s.seq.Forward(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	return slices.Clone(y.Data()), y.Shape(), nil
}

// Summary counts the MLP's parameters.
func (s *Sequential) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm := Summary{Trainable: lora.TrainableParamCount[float32](s.seq), All: lora.TotalParamCount[float32](s.seq),
		Text: lora.Summary[float32](s.seq)}
	if sm.All > 0 {
		sm.Percent = 100 * float64(sm.Trainable) / float64(sm.All)
	}
	return sm
}
