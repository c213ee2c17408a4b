package kernels

import (
	"math"

	"github.com/webtune/webtune/tensor"
)

// RopeMode is how rope pairs the values of a head (ggml's rope modes).
type RopeMode int

const (
	// RopeNorm rotates adjacent pairs (x[2i], x[2i+1]) (llama).
	RopeNorm RopeMode = iota
	// RopeNeox rotates the pairs (x[i], x[i+HS/2]) (qwen2, qwen3, gemma3).
	RopeNeox
)

// Rope describes a rotary position embedding as llama.cpp builds it with
// ggml_rope_ext (no YaRN: ext_factor 0).
type Rope struct {
	Mode RopeMode
	// Base is the frequency base (rope.freq_base).
	Base float32
	// FreqScale multiplies every angle: 1/rope.scaling.factor for linear
	// scaling; 0 means 1.
	FreqScale float32
	// AttnFactor multiplies cos and sin (rope.scaling.attn_factor); 0 means 1.
	AttnFactor float32
	// FreqFactors, when not nil, are [HS/2] divisors of each pair's angle
	// (Llama 3's rope_freqs.weight).
	FreqFactors []float32
}

// RopeCache fills cos and sin ([P, HS/2], positions 0..P-1) as ggml's
// ggml_rope_cache_init with ext_factor 0: the angle pos·base^(−2i/HS) is
// built in float32 by repeated multiplication with powf(base, −2/HS),
// divided by the pair's frequency factor, multiplied by FreqScale, and
// cos and sin are multiplied by AttnFactor, each step rounded to float32.
func RopeCache[T tensor.Numeric](cos, sin []T, P, HS int, r Rope) {
	half := HS / 2
	scale, mscale := r.FreqScale, r.AttnFactor
	if scale == 0 {
		scale = 1
	}
	if mscale == 0 {
		mscale = 1
	}
	thetaScale := float32(math.Pow(float64(r.Base), float64(float32(-2)/float32(HS)))) // powf(base, -2.0f/n_dims)
	for p := 0; p < P; p++ {
		theta := float32(p)
		for i := 0; i < half; i++ {
			th := theta
			if r.FreqFactors != nil {
				th = theta / r.FreqFactors[i]
			}
			th = scale * th
			cos[p*half+i] = T(float32(math.Cos(float64(th))) * mscale)
			sin[p*half+i] = T(float32(math.Sin(float64(th))) * mscale)
			theta *= thetaScale
		}
	}
}

// ropeStride returns the distance between the two values of a pair and
// the step from one pair's first value to the next.
func ropeStride(mode RopeMode, HS int) (off, step int) {
	if mode == RopeNeox {
		return HS / 2, 1
	}
	return 1, 2
}

// RopeForward rotates every head's pairs (a, b) = (x[j], x[j+off]), pair i
// by the angle of position pos0+t:
//
//	out[a] = x[a]·cos − x[b]·sin
//	out[b] = x[a]·sin + x[b]·cos
//
// with j = 2i, off = 1 (RopeNorm) or j = i, off = HS/2 (RopeNeox). out may
// alias inp.
//
//	out, inp [B, T, NH, HS]
//	cos, sin [P, HS/2] with P ≥ pos0+T
func RopeForward[T tensor.Numeric](out, inp, cos, sin []T, B, Tn, NH, HS, pos0 int, mode RopeMode) {
	half := HS / 2
	off, step := ropeStride(mode, HS)
	for b := 0; b < B; b++ {
		for t := 0; t < Tn; t++ {
			c := cos[(pos0+t)*half : (pos0+t+1)*half]
			s := sin[(pos0+t)*half : (pos0+t+1)*half]
			row := (b*Tn + t) * NH * HS
			for h := 0; h < NH; h++ {
				x := inp[row+h*HS : row+(h+1)*HS]
				y := out[row+h*HS : row+(h+1)*HS]
				for i := 0; i < half; i++ {
					j := i * step
					x0, x1 := x[j], x[j+off]
					y[j] = x0*c[i] - x1*s[i]
					y[j+off] = x0*s[i] + x1*c[i]
				}
			}
		}
	}
}

// RopeBackward accumulates dinp += Rᵀ·dout (the inverse rotation), in the
// layout of mode.
func RopeBackward[T tensor.Numeric](dinp, dout, cos, sin []T, B, Tn, NH, HS, pos0 int, mode RopeMode) {
	half := HS / 2
	off, step := ropeStride(mode, HS)
	for b := 0; b < B; b++ {
		for t := 0; t < Tn; t++ {
			c := cos[(pos0+t)*half : (pos0+t+1)*half]
			s := sin[(pos0+t)*half : (pos0+t+1)*half]
			row := (b*Tn + t) * NH * HS
			for h := 0; h < NH; h++ {
				dy := dout[row+h*HS : row+(h+1)*HS]
				dx := dinp[row+h*HS : row+(h+1)*HS]
				for i := 0; i < half; i++ {
					j := i * step
					d0, d1 := dy[j], dy[j+off]
					dx[j] += d0*c[i] + d1*s[i]
					dx[j+off] += -d0*s[i] + d1*c[i]
				}
			}
		}
	}
}
