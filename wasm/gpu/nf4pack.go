package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/webtune/webtune/nf4"
)

// ErrNF4Layout: an NF4 tensor whose blocks do not start at its rows (cols
// not a multiple of the block size) has no per-row layout for the GPU.
var ErrNF4Layout = errors.New("gpu: NF4 blocks cross rows")

// PackNF4Rows lays out an NF4 tensor row by row for the WebGPU engine's NF4
// kernel (web/gpu/engine.js): each row holds the float32 scale of each of
// its blocks (the dequantization scale, double quantization resolved) and
// then its cols/2 code bytes (bitsandbytes' packing, high nibble first).
func PackNF4Rows(t *nf4.Tensor) ([]byte, error) {
	rows, cols, bs := t.Rows(), t.Cols(), t.BlockSize()
	if bs <= 0 || cols%bs != 0 || cols%2 != 0 {
		return nil, fmt.Errorf("%w: %d columns, block size %d", ErrNF4Layout, cols, bs)
	}
	nb := cols / bs
	rb := 4*nb + cols/2
	scales, packed := t.Absmax(), t.Packed()
	out := make([]byte, rows*rb)
	for r := range rows {
		row := out[r*rb : (r+1)*rb]
		for b := range nb {
			binary.LittleEndian.PutUint32(row[4*b:], math.Float32bits(scales[r*nb+b]))
		}
		copy(row[4*nb:], packed[r*cols/2:(r+1)*cols/2])
	}
	return out, nil
}
