package nf4

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by this package wrap one of these sentinels; test with errors.Is.
var (
	// ErrShape reports dimensions that do not match the data or overflow.
	ErrShape = errors.New("nf4: bad shape")
	// ErrBlockSize reports a block size other than 32, 64, ..., 4096.
	ErrBlockSize = errors.New("nf4: unsupported block size")
	// ErrNonFinite reports a NaN or an infinity in the input.
	ErrNonFinite = errors.New("nf4: non-finite input")
	// ErrFormat reports malformed serialised bytes (see UnmarshalBinary).
	ErrFormat = errors.New("nf4: malformed data")
)

// DefaultBlockSize is the block size used when Options.BlockSize is 0
// (bitsandbytes' quantize_4bit default).
const DefaultBlockSize = 64

// DQBlockSize is the block size of the second-level (8-bit) quantization of
// the absmax values under double quantization (bitsandbytes' default 256).
const DQBlockSize = 256

// MaxElements bounds rows·cols so that every byte count derived from it fits
// in an int (on 32-bit platforms it is math.MaxInt).
const MaxElements = min(1<<34, math.MaxInt)

// minScale is the clamp bitsandbytes' PyTorch path applies to absmax before
// taking the reciprocal (absmax.clamp(min=1e-38)); float32(1e-38) is
// subnormal, 1/it is finite. It only matters for all-zero blocks (which then
// normalise to 0 and take code 7) and blocks whose absmax is below 1e-38.
const minScale float32 = 1e-38

// codeBits are the IEEE-754 bit patterns of the 16 NF4 values, code order
// 0b0000..0b1111 (bitsandbytes functional.py get_4bit_type("nf4"), csrc
// nf4_dequantization_lut). They are stored as bits so that no decimal
// rounding can creep in; TestCodeBits checks them against the source literals.
var codeBits = [16]uint32{
	0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0,
	0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000,
	0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a,
	0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
}

// code holds the 16 NF4 values; thresholds[i] is the float32 midpoint
// (code[i]+code[i+1])/2 computed in float32 arithmetic, as torch does.
var (
	code       [16]float32
	thresholds [15]float32
	// thrKey holds orderKey of each threshold, padded to 16 entries so that
	// masked indices need no bounds check in quantizeValue.
	thrKey [16]int64
	// pairLUT maps a packed byte to its two code values (high nibble first),
	// so a dequantizing loop does one table load per two elements.
	pairLUT [256][2]float32
)

func init() {
	for i, b := range codeBits {
		code[i] = math.Float32frombits(b)
	}
	for i := range thresholds {
		// Float32 sum, then an exact halving: the torch CPU path's midpoints.
		s := code[i] + code[i+1]
		thresholds[i] = s / 2
	}
	for i, t := range thresholds {
		thrKey[i] = int64(orderKey(t))
	}
	thrKey[15] = math.MaxInt64
	for b := range pairLUT {
		pairLUT[b] = [2]float32{code[b>>4], code[b&15]}
	}
	initDynamicMap()
}

// Code returns the 16 NF4 values in code order (index = 4-bit code).
func Code() [16]float32 { return code }

// Thresholds returns the 15 decision thresholds: code(v) is the number of
// thresholds t with v > t, so a value exactly on a midpoint takes the lower code.
func Thresholds() [15]float32 { return thresholds }

// orderKey maps a non-NaN float32 to an int32 with the same order (-0 sorts
// just below +0, which no threshold can tell apart).
func orderKey(f float32) int32 {
	i := int32(math.Float32bits(f))
	return i ^ (i >> 31 & 0x7fffffff)
}

// quantizeValue returns the NF4 code of a normalised value v: the number of
// thresholds strictly below v.
func quantizeValue(v float32) byte { return codeOfKey(int64(orderKey(v))) }

// codeOfKey is quantizeValue on an order key: a 4-step binary search over
// thrKey, branch-free (sign-bit arithmetic) because the comparisons are
// data-dependent and would mispredict as branches. Small enough to inline.
func codeOfKey(k int64) byte {
	c := uint(thrKey[7]-k) >> 63 << 3
	c |= uint(thrKey[c|3]-k) >> 63 << 2
	c |= uint(thrKey[c|1]-k) >> 63 << 1
	return byte(c | uint(thrKey[c]-k)>>63)
}

// Options selects the block size and whether the absmax values are
// themselves quantized. The zero value means block size 64, no double quantization.
type Options struct {
	// BlockSize is the number of consecutive (row-major) values sharing one
	// absmax: 32, 64, 128, ..., 4096; 0 means 64.
	BlockSize int
	// DoubleQuant quantizes absmax-mean(absmax) to 8 bits in blocks of 256
	// with the signed dynamic map (QLoRA double quantization).
	DoubleQuant bool
}

// Tensor is a rows×cols float32 matrix held as NF4 codes plus per-block scales.
// Elements are numbered in row-major order; element k is in block k/BlockSize
// and in byte k/2 of Packed (high nibble when k is even).
type Tensor struct {
	rows, cols int
	blockSize  int
	packed     []byte // [(rows·cols+1)/2] two codes per byte, high nibble first

	// Without double quantization the scales are held directly.
	absmax []float32 // [nblocks] max|x| of each block; nil when double-quantized

	// With double quantization: scale[b] = dqCode[qabsmax[b]]·absmax2[b/256] + offset.
	qabsmax []uint8   // [nblocks]
	absmax2 []float32 // [ceil(nblocks/256)]
	offset  float32   // mean of the original absmax values
}

// Quantize converts the row-major rows×cols matrix w to NF4. It returns an
// error wrapping ErrShape, ErrBlockSize or ErrNonFinite for bad input.
func Quantize(w []float32, rows, cols int, opt Options) (*Tensor, error) {
	bs := opt.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if err := checkBlockSize(bs); err != nil {
		return nil, err
	}
	n, err := checkShape(rows, cols)
	if err != nil {
		return nil, err
	}
	if len(w) != n {
		return nil, fmt.Errorf("nf4: len(w) = %d, want %d×%d = %d: %w", len(w), rows, cols, n, ErrShape)
	}
	t := &Tensor{rows: rows, cols: cols, blockSize: bs, packed: make([]byte, (n+1)/2)}
	absmax := make([]float32, (n+bs-1)/bs)
	for b := range absmax {
		lo, hi := b*bs, min((b+1)*bs, n)
		var ok bool
		if absmax[b], ok = quantizeBlock(t.packed, w[lo:hi], lo); !ok {
			return nil, nonFinite(w, lo, cols)
		}
	}
	if n%2 == 1 {
		t.packed[n/2] |= padCode // low nibble of the last byte is padding
	}
	if opt.DoubleQuant {
		t.doubleQuantize(absmax)
	} else {
		t.absmax = absmax
	}
	return t, nil
}

// padCode is the code of the padding nibble of an odd-length tensor: the
// torch path pads the normalised values with 0.0, which is code 7.
const padCode = 7

// quantizeBlock writes the codes of block x (whose first element has flat
// index lo) into packed and returns the block's absmax, or ok = false if
// the block holds a NaN or an infinity.
func quantizeBlock(packed []byte, x []float32, lo int) (absmax float32, ok bool) {
	// For non-negative floats the bit patterns order like the values, so
	// the maximum is an integer max (a conditional move, unlike float max).
	var m uint32
	for _, v := range x {
		m = max(m, math.Float32bits(v)&^(1<<31))
	}
	if m >= 0x7f800000 {
		return 0, false
	}
	am := math.Float32frombits(m)
	inv := float32(1) / max(am, minScale)
	if lo%2 == 1 { // starts on a low nibble (only if BlockSize were odd)
		packed[lo/2] |= quantizeValue(x[0] * inv)
		x, lo = x[1:], lo+1
	}
	dst := packed[lo/2 : lo/2+len(x)/2]
	for j := range dst {
		hi := codeOfKey(int64(orderKey(x[2*j] * inv)))
		dst[j] = hi<<4 | codeOfKey(int64(orderKey(x[2*j+1]*inv)))
	}
	if len(x)%2 == 1 {
		packed[(lo+len(x))/2] = quantizeValue(x[len(x)-1]*inv) << 4
	}
	return am, true
}

// nonFinite returns the ErrNonFinite error naming the first NaN or
// infinity at or after index lo.
func nonFinite(w []float32, lo, cols int) error {
	for i := lo; i < len(w); i++ {
		if v := float64(w[i]); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("nf4: element %d (row %d, col %d) is %v: %w", i, i/cols, i%cols, w[i], ErrNonFinite)
		}
	}
	panic("nf4: nonFinite found no non-finite value")
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func checkBlockSize(bs int) error {
	if bs < 32 || bs > 4096 || bs&(bs-1) != 0 {
		return fmt.Errorf("nf4: block size %d (want a power of two in 32..4096): %w", bs, ErrBlockSize)
	}
	return nil
}

func checkShape(rows, cols int) (int, error) {
	if rows <= 0 || cols <= 0 || rows > MaxElements || cols > MaxElements/rows {
		return 0, fmt.Errorf("nf4: shape %d×%d (want positive, at most %d elements): %w", rows, cols, MaxElements, ErrShape)
	}
	return rows * cols, nil
}
