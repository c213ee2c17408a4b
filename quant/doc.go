// Package quant holds frozen weight matrices in their GGUF type — F16,
// BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K — and the fused
// dequantize-and-multiply products a frozen linear layer needs:
//
//	MatMulXWt: y[n×rows]  = x[n×cols] · Wᵀ   (forward)
//	MatMulXW:  dx[n×cols] = dy[n×rows] · W   (backward to the input)
//
// W is rows×cols, row-major ([out, in] of a linear layer); in the GGUF file
// the same bytes carry dims [cols, rows]. Row r of W is the r-th run of
// cols/BlockSize blocks, so any run of whole rows decodes on its own.
//
// The products never build a float32 copy of W: they dequantize a tile of
// whole rows (at most tileFloats values, a few MiB) into scratch, multiply
// it with the caller's tensor.Engine (the blocked AVX2 kernel natively,
// the WebAssembly SIMD kernel in the page, gonum for float64), and move on
// to the next tile. Dequantized values come from gguf.Decode, whose block
// decoders follow ggml's dequantize_row_* bit for bit, so a fused product
// equals dequantize-then-multiply up to the summation order of the engine.
// The float64 instantiation (gradient checks) decodes to float32 first and
// widens, so it multiplies exactly the values ggml would.
//
// Storage is row-major throughout; this package imports gguf and tensor
// only.
package quant
