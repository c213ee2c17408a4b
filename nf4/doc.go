// Package nf4 holds frozen weight matrices as 4-bit NormalFloat (NF4) codes,
// bit-compatible with bitsandbytes, and multiplies with them without ever
// expanding them to a full float matrix. It is the storage of QLoRA's frozen
// base weights; it imports nothing else of webtune and only the standard library.
//
// # Storage order and notation
//
// A Tensor is a rows×cols matrix ([out, in] for a linear layer) numbered in
// row-major order: element k = r·cols + c. Blocks of BlockSize consecutive
// elements share one scale, so blocks may straddle rows. Byte j of Packed
// holds element 2j in its high nibble and 2j+1 in its low nibble (the
// opposite of ggml's Q4_0); an odd element count ends with a padding nibble
// of code 7. Inside the kernels n is the number of activation rows, R = rows,
// C = cols.
//
// # Quantization (QLoRA §3, bitsandbytes)
//
// The 16 NF4 values are bitsandbytes' get_4bit_type("nf4") table (the
// normal-distribution quantiles of create_normal_map(offset=0.9677083),
// normalised to [-1, 1]; 7 negative values, 0, 8 positive), each exact in
// float32. Per block:
//
//	absmax = max |x|                           (stored as float32)
//	v      = x · (float32(1) / max(absmax, 1e-38))
//	code   = #{ i : v > t_i },  t_i = float32((NF4[i] + NF4[i+1]) / 2)
//	x̂      = NF4[code] · absmax                 (float32)
//
// so a value exactly on a midpoint takes the lower code. This is the rule of
// bitsandbytes' PyTorch path (backends/default/ops.py quantize_4bit:
// torch.bucketize on float32 midpoints, right=False). The CUDA kernel
// (csrc/kernels.cu dQuantizeNF4) uses decimal literals that round to the same
// float32 midpoints when taken through float64, but are one ulp away when
// rounded directly to float32 at four thresholds (0/1, 8/9, 12/13, 14/15); it
// is also built with fast math. Codes can therefore differ from CUDA only for
// a normalised value within one ulp of a threshold.
//
// Choices where bitsandbytes' backends disagree:
//   - All-zero block: like the PyTorch path (absmax clamped to 1e-38 before
//     the reciprocal), every code is 7 (bytes 0x77); absmax is stored as 0, so
//     the block dequantizes to zeros. (CUDA would write 0x00: 0·inf = NaN.)
//   - Partial last block: normalised with the reciprocal like every other
//     block, as CUDA does (the PyTorch path divides x/absmax there instead;
//     the two agree except within an ulp of a threshold).
//   - NaN or ±Inf anywhere in the input is an error (ErrNonFinite).
//
// # Double quantization (QLoRA §3 "Double Quantization")
//
// With Options.DoubleQuant the per-block absmax values are not kept as
// float32: offset = mean(absmax) (float64 sum, rounded once), then
// absmax−offset is quantized blockwise (256) to 8-bit indices into
// bitsandbytes' signed dynamic map create_dynamic_map(signed=True,
// max_exponent_bits=7, total_bits=8), with one float32 absmax2 per 256
// blocks, by the same rule (reciprocal, bucketize on float32 midpoints).
// The scale used to dequantize is float32(map[q]·absmax2) + offset; Absmax
// returns these scales. Codes are chosen with the true absmax, as in
// bitsandbytes, where double quantization happens after the 4-bit pass.
// BitsPerParam at block size 64 is 4 + 32/64 = 4.5 without and
// 4 + 8/64 + 32/(64·256) ≈ 4.127 with double quantization.
//
// Provenance of the dynamic map: it is recomputed at init by the formula of
// bitsandbytes' functional.py (for i in 0..6, 10^(i−6)·means of
// torch.linspace(0.1, 1, 2^i+1), both signs, plus 0 and 1). PyTorch's CPU
// linspace is emulated in float32 with the scalar formula of
// aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp (start + step·i below
// the halfway index, end − step·(steps−1−i) above it). A given torch build
// may move some entries by one ulp (its vectorised Vectorized::arange path
// and FMA contraction round differently), so a map dumped from a particular
// torch install can differ in the last bit of some entries; every entry here
// is within 2 ulp of its exact decimal value (TestDynamicMapValues).
// Quantizer and dequantizer here always share this table, and Marshal keeps
// the indices, so checkpoints round-trip bit-exactly; only re-importing
// bitsandbytes-produced qabsmax bytes would see the ≤1-ulp table difference
// (a relative scale change of about 1e-7).
//
// # Fused kernels
//
// MatMulXWt (y = x·Wᵀ, the forward of a linear layer) and MatMulXW
// (dx = dy·W, its input gradient) dequantize rowGroup (4) rows of W at a
// time into scratch (MatMulXW: only the worker's own column range of those
// rows) and consume them against every activation row, register-blocked
// two activation rows × four W rows in both directions. Scratch is a few rows per worker; no
// full-size float copy of W exists at any time (TestKernelsNoFullCopy). On
// amd64 the float32 inner loops are SSE assembly (baseline amd64, no CPU
// feature checks needed); other platforms, wasm included, and the float64
// instantiation use the portable Go loops. Large products are split across
// GOMAXPROCS goroutines (never under wasm, where GOMAXPROCS is 1).
//
// # Sources
//
//   - Dettmers, Pagnoni, Holtzman, Zettlemoyer, "QLoRA: Efficient Finetuning
//     of Quantized LLMs", arXiv:2305.14314 (NF4, double quantization).
//   - bitsandbytes (github.com/bitsandbytes-foundation/bitsandbytes):
//     bitsandbytes/functional.py (get_4bit_type, create_normal_map,
//     create_dynamic_map, quantize_4bit), bitsandbytes/backends/default/ops.py
//     (quantize_4bit, quantize_blockwise, dequantize_4bit), csrc/kernels.cu
//     (kQuantizeBlockwise, dQuantizeNF4, nf4_dequantization_lut).
//   - PyTorch aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp (linspace).
//   - docs/nf4.md
//
// # Tests and benchmarks
//
//	go test ./nf4/
//	GOOS=js GOARCH=wasm go test -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" ./nf4/
//	go test ./nf4/ -run='^$' -bench=.          # add the -exec flag above for wasm
//	go test ./nf4/ -run='^$' -fuzz=FuzzQuantize -fuzztime=5m
package nf4
