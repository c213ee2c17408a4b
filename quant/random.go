package quant

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/webtune/webtune/gguf"
)

// scaleFields gives, per quantized type, the byte offsets of a block's f16
// scale d and (for types with one) its f16 offset or min, and the divisor
// that keeps |x| near the requested scale given the largest code.
var scaleFields = map[gguf.TensorType]struct {
	d, m       int // offsets in the block; m < 0 when the type has none
	dDiv, mDiv float32
}{
	gguf.TypeQ4_1: {0, 2, 8, 1}, gguf.TypeQ5_0: {0, -1, 16, 0}, gguf.TypeQ5_1: {0, 2, 16, 1},
	gguf.TypeQ4_K: {0, 2, 63 * 8, 63}, gguf.TypeQ5_K: {0, 2, 63 * 16, 63}, gguf.TypeQ6_K: {208, -1, 64 * 32, 0},
}

// Random returns the bytes of a rows×cols tensor of type typ (any
// Supported type) with random values of magnitude about scale, drawn from
// seed: F16, BF16, Q8_0 and Q4_0 by encoding uniform values with
// gguf.Encode, the other types as random codes under random positive
// scales. Tests and benchmarks use it to build random-weight models of
// real shapes.
func Random(typ gguf.TensorType, rows, cols int, scale float32, seed uint64) ([]byte, error) {
	if !Supported(typ) {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, typ)
	}
	bs, ts := typ.BlockSize(), typ.TypeSize()
	if rows <= 0 || cols <= 0 || cols%bs != 0 {
		return nil, fmt.Errorf("%w: %v tensor %d×%d", ErrShape, typ, rows, cols)
	}
	r := rand.New(rand.NewPCG(seed, 0x51a7e))
	if gguf.CanEncode(typ) {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = scale * (2*r.Float32() - 1)
		}
		return gguf.Encode(typ, v)
	}
	f := scaleFields[typ]
	out := make([]byte, rows*cols/bs*ts)
	for i := 0; i+8 <= len(out); i += 8 {
		binary.LittleEndian.PutUint64(out[i:], r.Uint64())
	}
	for i := len(out) &^ 7; i < len(out); i++ {
		out[i] = byte(r.Uint32())
	}
	for b := 0; b < len(out); b += ts {
		d := scale / f.dDiv * (0.5 + r.Float32())
		binary.LittleEndian.PutUint16(out[b+f.d:], gguf.Float32ToFloat16(d))
		if f.m >= 0 {
			m := scale / f.mDiv * (0.5 + r.Float32())
			if typ == gguf.TypeQ4_1 || typ == gguf.TypeQ5_1 {
				m = -scale * (0.5 + r.Float32()) // x = q·d + m: centre the codes
			}
			binary.LittleEndian.PutUint16(out[b+f.m:], gguf.Float32ToFloat16(m))
		}
	}
	return out, nil
}
