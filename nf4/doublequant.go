package nf4

import "sort"

// dqCode is bitsandbytes' signed dynamic 8-bit map,
// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256
// sorted float32 values in [-0.99296875, 1]. dqBounds are the float32
// midpoints of adjacent entries (the torch path's bucketize boundaries).
var (
	dqCode   [256]float32
	dqBounds [255]float32
)

// DynamicMap returns the 256-entry signed dynamic map used by double quantization.
func DynamicMap() [256]float32 { return dqCode }

// initDynamicMap builds dqCode the way bitsandbytes' functional.py does:
//
//	for i in 0..6:  b = torch.linspace(0.1, 1, 2**i + 1)        # float32
//	                m = (b[:-1] + b[1:]) / 2.0                   # float32
//	                data += (10**(i-6) * m) + (-(10**(i-6)) * m) # float32 × float32(scalar)
//	data += [0, 1.0]; sort
//
// torch.linspace is emulated with the scalar formula of PyTorch's CPU kernel
// (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp): step = (end-start)/(steps-1)
// in float32; element idx = start + step·idx for idx < steps/2, otherwise
// end - step·(steps-1-idx), each operation rounded to float32. PyTorch's
// vectorised loop (Vectorized::arange) and compiler FMA contraction can move
// some entries by one ulp on a given build, so a table dumped from one torch
// install may differ from this one in the last bit of some entries; the
// quantizer and dequantizer here always use this same table, so the round
// trip is self-consistent and its accuracy is unaffected (see doc.go).
func initDynamicMap() {
	data := make([]float32, 0, 256)
	for i := range 7 {
		b := linspace32(0.1, 1, 1<<i+1)
		// The Python scalar 10**(i-6) becomes a float32 operand in torch's mul.
		p := float32(pow10[i])
		for j := 0; j+1 < len(b); j++ {
			m := (b[j] + b[j+1]) / 2
			data = append(data, p*m, -p*m)
		}
	}
	data = append(data, 0, 1)
	sort.Slice(data, func(a, b int) bool { return data[a] < data[b] })
	copy(dqCode[:], data)
	for i := range dqBounds {
		s := dqCode[i] + dqCode[i+1]
		dqBounds[i] = s / 2
	}
}

// pow10 are the float64 values of Python's 10**-6 .. 10**0.
var pow10 = [7]float64{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}

// linspace32 emulates torch.linspace(start, end, steps) in float32 (scalar path).
func linspace32(start, end float32, steps int) []float32 {
	out := make([]float32, steps)
	step := (end - start) / float32(steps-1)
	half := steps / 2
	for idx := range out {
		if idx < half {
			p := step * float32(idx)
			out[idx] = start + p
		} else {
			p := step * float32(steps-1-idx)
			out[idx] = end - p
		}
	}
	return out
}

// quantizeDQ returns the index of the dynamic-map entry for normalised v:
// the number of bounds strictly below v (torch.bucketize, right=False), so a
// value exactly on a midpoint takes the lower entry.
func quantizeDQ(v float32) uint8 {
	lo, hi := 0, len(dqBounds) // invariant: bounds[<lo] < v, bounds[>=hi] >= v
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if dqBounds[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return uint8(lo)
}

// doubleQuantize stores absmax as QLoRA does: offset = mean(absmax), then
// absmax-offset quantized blockwise (256) to 8 bits with the dynamic map.
// The mean is accumulated in float64 and rounded once to float32: any
// deterministic mean is valid because offset is stored, never recomputed.
func (t *Tensor) doubleQuantize(absmax []float32) {
	var sum float64
	for _, a := range absmax {
		sum += float64(a)
	}
	t.offset = float32(sum / float64(len(absmax)))
	t.qabsmax = make([]uint8, len(absmax))
	t.absmax2 = make([]float32, (len(absmax)+DQBlockSize-1)/DQBlockSize)
	y := make([]float32, DQBlockSize) // one block of absmax-offset
	for b := range t.absmax2 {
		lo, hi := b*DQBlockSize, min((b+1)*DQBlockSize, len(absmax))
		yb := y[:hi-lo]
		var am float32
		for i := range yb {
			yb[i] = absmax[lo+i] - t.offset
			am = max(am, abs32(yb[i]))
		}
		inv := float32(1) / max(am, minScale)
		for i, v := range yb {
			t.qabsmax[lo+i] = quantizeDQ(v * inv)
		}
		t.absmax2[b] = am
	}
}
