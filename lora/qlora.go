package lora

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// QLoRATrainer trains LoRA adapters on a model whose targeted base weights
// are held as NF4 (QLoRA, Dettmers et al. 2023): the frozen bases cost
// about 4.5 bits per weight and get no gradient; only A and B are stepped.
type QLoRATrainer[T tensor.Numeric] struct {
	model  Model[T]
	node   nn.Node[T]
	opt    nn.Optimizer[T]
	params []*nn.Parameter[T]
	rank   int
	alpha  float32
}

// NewQLoRATrainer quantizes every dense nn.Linear of model matched by
// targetModules to NF4 (nn.QuantizeLinear, block size 64, no double
// quantization; layers that are already NF4 are kept), then wraps the
// targets in LoRA layers as InjectLoRA does with default options. model must
// also be an nn.Node (e.g. *nn.Sequential) so that Step can run it; opt
// steps A and B. On error model is unchanged.
func NewQLoRATrainer[T tensor.Numeric](model Model[T], rank int, alpha float32, targetModules []string, engine tensor.Engine[T], opt nn.Optimizer[T]) (*QLoRATrainer[T], error) {
	node, ok := model.(nn.Node[T])
	if !ok || model == nil {
		return nil, configErr("qlora: the model must also be an nn.Node (Forward/Backward), got %T", model)
	}
	if opt == nil {
		return nil, configErr("qlora: nil optimizer")
	}
	if err := inject(model, rank, alpha, targetModules, engine, config{}, &nf4.Options{}); err != nil {
		return nil, err
	}
	return &QLoRATrainer[T]{model: model, node: node, opt: opt, params: TrainableParameters(model), rank: rank, alpha: alpha}, nil
}

// Step runs one training step on a batch: clear the gradients of A and B,
// forward input, MSE loss against target, backward (ParamsOnly: no input
// gradient), optimizer step on A and B only. It returns the loss before the
// step.
func (q *QLoRATrainer[T]) Step(ctx context.Context, input, target *tensor.Tensor[T]) (float32, error) {
	nn.ZeroGrads(q.params)
	y, err := q.node.Forward(ctx, input)
	if err != nil {
		return 0, fmt.Errorf("lora: qlora step: %w", err)
	}
	loss, grad, err := nn.MSELoss(y, target)
	if err != nil {
		return 0, fmt.Errorf("lora: qlora step: %w", err)
	}
	if _, err := q.node.Backward(ctx, nn.ParamsOnly, grad, input); err != nil {
		return 0, fmt.Errorf("lora: qlora step: %w", err)
	}
	if err := q.opt.Step(ctx, q.params); err != nil {
		return 0, fmt.Errorf("lora: qlora step: %w", err)
	}
	return float32(loss), nil
}

// TrainableParams returns A and B of every LoRA layer, in model order.
func (q *QLoRATrainer[T]) TrainableParams() []*nn.Parameter[T] {
	return append([]*nn.Parameter[T](nil), q.params...)
}

// Alpha returns alpha.
func (q *QLoRATrainer[T]) Alpha() float32 { return q.alpha }

// Rank returns r.
func (q *QLoRATrainer[T]) Rank() int { return q.rank }

// Model returns the trained model.
func (q *QLoRATrainer[T]) Model() Model[T] { return q.model }

// QuantizeTargets replaces every dense nn.Linear of m matched by
// targetModules with its NF4 quantization (nn.QuantizeLinear with opt), the
// first half of NewQLoRATrainer, for callers that then call InjectLoRA with
// options. On error m is unchanged.
func QuantizeTargets[T tensor.Numeric](m Model[T], targetModules []string, opt nf4.Options) error {
	if m == nil {
		return configErr("nil model")
	}
	layers, err := matchTargets(m, targetModules)
	if err != nil {
		return err
	}
	var old, repl []Layer[T]
	for _, l := range layers {
		q, err := quantizeDense(l, opt)
		if err != nil {
			return err
		}
		if q != l {
			old, repl = append(old, l), append(repl, q)
		}
	}
	return replaceAll(m, old, repl)
}
