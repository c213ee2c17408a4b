// Package nn holds webtune's layers, losses and optimizers: Parameter, the
// layer interface Node (Forward/Backward/Parameters), Linear, NF4Linear
// (QLoRA's frozen 4-bit base), Embedding, RMSNorm, activations, Sequential,
// MSE and cross-entropy losses, AdamW, SGD and gradient clipping. Matrix
// products run on a tensor.Engine; nn never imports gonum itself.
//
// # Shapes
//
// Tensors are row-major (see package tensor). "[..., C]" means any leading
// dimensions; layers flatten them to N rows of C features, so a [B, T, C]
// activation is a [B·T, C] matrix. Linear weights are [out, in] (PyTorch's
// layout), so a Linear computes
//
//	y[N, out] = x[N, in]·Wᵀ + b          W [out, in], b [out]
//	dx[N, in] = dy[N, out]·W
//	dW       += dyᵀ·x                    (skipped when frozen)
//	db       += Σ_N dy
//
// Inside kernels the letters are N (rows), C (features), V (vocabulary).
//
// # Forward and backward
//
// Each op is an xxxForward/xxxBackward kernel pair in the same file, over
// plain slices. A layer's Backward receives the output gradient and the
// same inputs that went into Forward, accumulates parameter gradients with
// += (clear them with ZeroGrads between steps) and returns the input
// gradients; frozen parameters (Trainable false, nil Grad) cost no gradient
// compute, and BackwardMode ParamsOnly lets the first layer skip dx.
// Sequential remembers each layer's inputs from its last Forward and calls
// the layers' Backward in reverse order.
//
// Every Backward is checked against central finite differences in float64
// (internal/gradcheck).
//
// # Sources
//
// PyTorch's nn.Linear (initialisation U(±1/√in)), nn.Embedding (N(0, 1)),
// nn.MSELoss, nn.CrossEntropyLoss (ignore_index), optim.AdamW (Loshchilov &
// Hutter, "Decoupled Weight Decay Regularization"), optim.SGD and
// clip_grad_norm_; RMSNorm as in llama (Zhang & Sennrich 2019); GELU's tanh
// approximation (Hendrycks & Gimpel); NF4 and QLoRA (Dettmers et al. 2023)
// via package nf4.
//
// # Errors
//
// Bad shapes, unknown names and out-of-range ids at the exported entry
// points return errors wrapping ErrShape, ErrNotFound or ErrRange (prefix
// "nn: "). Layers keep the shape of their last output and Sequential its
// inputs, so a layer is not safe for concurrent use.
package nn
