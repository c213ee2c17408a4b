package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// TestDecodeQ6KMatchesGGUF: the fast Q6_K decoder gives gguf's (ggml's)
// values bit for bit, on quantized weights and on arbitrary bytes (every
// scale, every 6-bit value, any f16 d including Inf and NaN).
func TestDecodeQ6KMatchesGGUF(t *testing.T) {
	const blocks = 64
	random, err := Random(gguf.TypeQ6_K, 4, blocks/4*256, 0.05, 7)
	if err != nil {
		t.Fatal(err)
	}
	arbitrary := make([]byte, blocks*210)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range arbitrary {
		arbitrary[i] = byte(r.Uint32())
	}
	for name, src := range map[string][]byte{"quantized": random, "arbitrary bytes": arbitrary} {
		want := make([]float32, blocks*256)
		if err := gguf.Decode(gguf.TypeQ6_K, want, src); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, blocks*256)
		decodeQ6K(got, src)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: value %d (block %d) = %v (%#x), gguf %v (%#x)", name, i, i/256, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}

// BenchmarkDecodeQ6K compares gguf's Q6_K block decoder with decodeQ6K
// (values per second; run it under wasm too, where the difference matters).
func BenchmarkDecodeQ6K(b *testing.B) {
	const blocks = 1024
	src, err := Random(gguf.TypeQ6_K, 1, blocks*256, 0.05, 3)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, blocks*256)
	for name, dec := range map[string]func([]float32, []byte){"gguf": gguf.BlockDecoder(gguf.TypeQ6_K), "fast": decodeQ6K} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				dec(dst, src)
			}
			b.ReportMetric(float64(len(dst))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}
