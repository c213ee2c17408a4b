// Package llamastep is the training-throughput workload of issue 8: one
// training step (forward, backward, AdamW) of the reference llama config
// (llama2.c's stories15M shape: dim 288, 6 layers, 6 heads, ffn 768, vocab
// 4096) on one 256-token sequence with LoRA r=8 on every linear layer of
// the blocks, on a chosen engine: llama.NewRandomOn puts every layer (the
// tied output head too) and attention's per-head products on it.
package llamastep

import (
	"context"
	"math/rand/v2"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/models"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Tokens is the number of tokens one step trains on.
const Tokens = 256

// RefConfig is the reference model of the benchmarks.
func RefConfig() llama.Config {
	return llama.Config{VocabSize: 4096, Dim: 288, Layers: 6, Heads: 6, KVHeads: 6, HeadDim: 48, FFN: 768,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 256}
}

// Train is a model with LoRA, an optimizer and one batch.
type Train struct {
	m               *llama.Model[float32]
	opt             *nn.AdamW[float32]
	tokens, targets [][]int
}

// BuiltinConfig returns the config of the built-in model (models package,
// webtune-stories-1m); the workload draws random weights of that shape,
// since speed does not depend on their values.
func BuiltinConfig() (llama.Config, error) {
	f, err := models.Open()
	if err != nil {
		return llama.Config{}, err
	}
	return llama.ConfigFromGGUF(f)
}

// New builds the workload for the reference config on engine e.
func New(e tensor.Engine[float32]) (*Train, error) { return NewConfig(e, RefConfig()) }

// NewConfig builds the workload for model config cfg on engine e.
func NewConfig(e tensor.Engine[float32], cfg llama.Config) (*Train, error) {
	m := llama.NewRandomOn[float32](cfg, 1, e)
	if err := lora.InjectLoRA(m, 8, 16, []string{"all-linear"}, e); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(1, 1))
	row := make([]int, Tokens+1)
	for i := range row {
		row[i] = r.IntN(cfg.VocabSize)
	}
	return &Train{m: m, opt: nn.NewAdamW[float32](nn.AdamWConfig{LR: 1e-4}),
		tokens: [][]int{row[:Tokens]}, targets: [][]int{row[1:]}}, nil
}

// Step runs one training step and returns the loss.
func (t *Train) Step() (float64, error) {
	ctx := context.Background()
	t.m.ZeroGrad()
	loss, err := t.m.ForwardBackward(ctx, t.tokens, t.targets, 1)
	if err != nil {
		return 0, err
	}
	return loss, t.opt.Step(ctx, t.m.Parameters())
}
