package tokenizer

import (
	"strings"
	"testing"
)

// BenchmarkEncode reports encoding throughput (bytes/s) on the sample text
// repeated to 64 KiB, for a trained SPM and a trained llama3 BPE vocabulary.
func BenchmarkEncode(b *testing.B) {
	text := strings.Repeat(sampleText+"\n", 65536/len(sampleText)+1)[:65536]
	toks := fuzzTokenizers(b)
	for _, tc := range []struct {
		name string
		tok  *Tokenizer
	}{{"spm", toks[1]}, {"bpe-llama3", toks[2]}, {"bpe-default", toks[5]}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				tc.tok.Encode(text, true)
			}
		})
	}
}
