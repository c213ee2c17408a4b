package llama

import (
	"context"
)

// Recomputation (activation checkpointing at block granularity). A
// training forward normally keeps every block's activations for the
// backward pass: at seq-len 256 that is 10–40 MB per block, more than the
// quantized weights of a small model. With SetRecompute(true) the forward
// keeps only each block's input (the residual stream [N, C]) and all
// blocks share one set of activation buffers; the backward pass reruns a
// block's forward from its kept input right before that block's backward.
// Gradients are the same (the forward is deterministic, and LoRA dropout
// masks depend on the key and row that SetDropoutKey set, as train.Run
// does before every micro-batch, not on the number of calls), for about
// one more forward's work per step.

// SetRecompute turns block recomputation on or off (off by default); it
// takes effect at the next Forward, Loss or ForwardBackward.
func (m *Model[T]) SetRecompute(on bool) { m.recompute = on }

// newTrainActivations returns the activations of a (B, T) training batch:
// one set of buffers per block, or, under recomputation, one set shared by
// every block plus each block's own input buffer.
func (m *Model[T]) newTrainActivations(B, Tn int) *activations[T] {
	if !m.recompute {
		return newActivations[T](m.Config, B, Tn, Tn)
	}
	c := m.Config
	one := c
	one.Layers = 1
	a := newActivations[T](one, B, Tn, Tn)
	shared := a.layers[0]
	a.layers = make([]layerActs[T], c.Layers)
	for l := range a.layers {
		a.layers[l] = shared
		if l > 0 {
			a.layers[l].resid = make([]T, B*Tn*c.Dim)
		}
	}
	a.recompute = true
	a.next = make([]T, B*Tn*c.Dim)
	return a
}

// dropOutputs releases the layer outputs a block's forward allocated (the
// shared buffers stay), so that under recomputation only one block's are
// alive at a time.
func (la *layerActs[T]) dropOutputs() {
	la.q, la.k, la.v, la.qraw, la.kraw, la.gate, la.up, la.o, la.d = nil, nil, nil, nil, nil, nil, nil, nil, nil
}

// recomputeBlock reruns block l's forward from its kept input before its
// backward (a no-op without recomputation). The block's output goes to
// scratch: the kept inputs of later blocks are not touched.
func (m *Model[T]) recomputeBlock(ctx context.Context, l int) error {
	a := m.acts
	if !a.recompute {
		return nil
	}
	return m.blockForward(ctx, l, m.Blocks[l], &a.layers[l], a.next, a.B, a.T, 0, nil, nil)
}
