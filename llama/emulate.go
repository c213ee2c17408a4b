package llama

import (
	"math"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// ggml's CPU matmul does not multiply a quantized weight by float
// activations: it first converts each activation row to the weight type's
// vec_dot_type (ggml-cpu.c type_traits_cpu): F16 for F16 weights, BF16 for
// BF16, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants.
// With Q8_0 weights that rounding moves log-probs by ~0.05, so to agree
// with llama.cpp within 1e-3 we apply the same rounding to the input of
// every such layer (LoadOptions.MatchGGML). Only the base matmul sees it in
// llama.cpp; here the whole layer input is rounded, which a LoRA delta
// notices only at second order.
//
// Checked against llama.cpp 3.21.1's CPU backend (AVX2): log-probs within
// ~1e-6 for F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K weights. Q4_1
// and Q5_1 stay ~1e-2 apart: their dot product adds min·s with s =
// fp16(d·Σq) rounded separately from the per-element scale, which rounding
// the activations alone cannot reproduce.

// vecDotType returns the activation type ggml uses against weights of type
// t, or F32 for none.
func vecDotType(t gguf.TensorType) gguf.TensorType {
	switch t {
	case gguf.TypeF16, gguf.TypeBF16:
		return t
	case gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ8_0:
		return gguf.TypeQ8_0
	case gguf.TypeQ4_1, gguf.TypeQ5_1:
		return gguf.TypeQ8_1
	case gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K:
		return gguf.TypeQ8_K
	}
	return gguf.TypeF32
}

// roundActivations writes into dst the values of src [N, K] after ggml's
// conversion to typ and back (dst may alias src).
func roundActivations[T tensor.Numeric](dst, src []T, typ gguf.TensorType, K int) {
	switch typ {
	case gguf.TypeF16:
		for i, x := range src {
			dst[i] = T(gguf.Float16ToFloat32(gguf.Float32ToFloat16(float32(x))))
		}
	case gguf.TypeBF16:
		for i, x := range src {
			dst[i] = T(bf16Round(float32(x)))
		}
	case gguf.TypeQ8_0, gguf.TypeQ8_1:
		for b := 0; b+32 <= len(src); b += 32 {
			q8Block(dst[b:b+32], src[b:b+32])
		}
	case gguf.TypeQ8_K:
		for b := 0; b+256 <= len(src); b += 256 {
			q8KBlock(dst[b:b+256], src[b:b+256])
		}
	default:
		copy(dst, src)
	}
}

// bf16Round is ggml_compute_fp32_to_bf16 followed by the widening back.
func bf16Round(f float32) float32 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return math.Float32frombits((u>>16 | 64) << 16)
	}
	return math.Float32frombits(((u + 0x7fff + (u>>16)&1) >> 16) << 16)
}

// q8Block is the AVX2 quantize_row_q8_0 of one block of 32 (q8_1 has the
// same values): d = max|x|/127 stored as F16, q = round-half-even(x·127/max).
func q8Block[T tensor.Numeric](dst, src []T) {
	var amax float32
	for _, x := range src {
		amax = max(amax, float32(math.Abs(float64(x))))
	}
	d := gguf.Float16ToFloat32(gguf.Float32ToFloat16(amax / 127))
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for i, x := range src {
		q := float32(math.RoundToEven(float64(float32(x) * id)))
		dst[i] = T(q * d)
	}
}

// q8KBlock is quantize_row_q8_K_ref for one block of 256: the scale comes
// from the signed value of largest magnitude, d = 1/(−127/max) in F32.
func q8KBlock[T tensor.Numeric](dst, src []T) {
	var amax, mx float32
	for _, x := range src {
		if ax := float32(math.Abs(float64(x))); ax > amax {
			amax, mx = ax, float32(x)
		}
	}
	if amax == 0 {
		clear(dst)
		return
	}
	iscale := -127 / mx
	d := 1 / iscale
	for i, x := range src {
		q := min(127, float32(math.RoundToEven(float64(iscale*float32(x)))))
		dst[i] = T(q * d)
	}
}

// ggml's CPU backend computes the fused GELU-gated product of Gemma's
// feed-forward network (ggml_vec_geglu_f32, GGML_GELU_FP16 defined) through
// a 65536-entry F16 table: 0 for a gate x ≤ −10, x·up for x ≥ 10, and
// otherwise F16(gelu_f32(F16(x)))·up, with gelu_f32 the tanh approximation
// in float32 and F16 conversion rounding to nearest even. The GELU value is
// thus quantised to F16 (relative error up to ~5e-4), which moves the
// log-probs of an F32 gemma3 model by ~1e-3; under MatchGGML we compute the
// same table entry (docs/gemma3.md).

// geluF32 is ggml's gelu_f32 in float32 with its operation order:
// 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x·x))).
func geluF32(x float32) float32 {
	const sqrt2OverPi, coefA = 0.79788456080286535587989211986876, 0.044715
	inner := float32(sqrt2OverPi) * x * (1 + float32(coefA)*x*x)
	return 0.5 * x * (1 + float32(math.Tanh(float64(inner))))
}

// geluGGML is the value ggml's geglu multiplies up by for gate x.
func geluGGML(x float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	xr := gguf.Float16ToFloat32(gguf.Float32ToFloat16(x))
	return gguf.Float16ToFloat32(gguf.Float32ToFloat16(geluF32(xr)))
}

// gegluForwardGGML is kernels.GeGLUForward with ggml's F16-table GELU:
// out = geluGGML(gate)·up, in float32.
//
//	out, gate, up [N·F]
func gegluForwardGGML[T tensor.Numeric](out, gate, up []T) {
	for i, g := range gate {
		out[i] = T(geluGGML(float32(g)) * float32(up[i]))
	}
}
