package gguf

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlockDecoderMatchesDecode decodes random blocks of every quantized
// type, F16 and BF16 with BlockDecoder and with Decode: the same bits.
func TestBlockDecoderMatchesDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, typ := range []TensorType{TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		src := make([]byte, 3*typ.TypeSize())
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		want := make([]float32, 3*typ.BlockSize())
		if err := Decode(typ, want, src); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(want))
		BlockDecoder(typ)(got, src)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v: value %d = %x, Decode gives %x", typ, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
	if BlockDecoder(TypeF32) != nil || BlockDecoder(TypeQ2_K) != nil {
		t.Fatal("BlockDecoder of an unsupported type is not nil")
	}
}
