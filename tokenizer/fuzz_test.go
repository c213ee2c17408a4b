package tokenizer

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var (
	fuzzOnce sync.Once
	fuzzToks []*Tokenizer
)

// fuzzTokenizers: the byte vocabulary, a trained SPM one and a trained BPE one per pre-tokenizer.
func fuzzTokenizers(tb testing.TB) []*Tokenizer {
	fuzzOnce.Do(func() {
		vs := []Vocab{ByteVocab()}
		spm, err := TrainSPM(sampleText, SPMOptions{Pieces: 200, MinFrequency: 1})
		if err != nil {
			panic(err)
		}
		vs = append(vs, spm)
		for _, pre := range []string{"llama3", "gpt-2", "qwen2", "default", "smollm"} {
			v, err := TrainBPE(sampleText, BPEOptions{Pre: pre, Merges: 300, MinFrequency: 1})
			if err != nil {
				panic(err)
			}
			vs = append(vs, v)
		}
		for _, v := range vs {
			tok, err := New(v)
			if err != nil {
				panic(err)
			}
			fuzzToks = append(fuzzToks, tok)
		}
	})
	return fuzzToks
}

var fuzzSeeds = []string{
	"", " ", "a", "Hello, world!", sampleText, "  leading", "trailing  ", "\n\n\r\n\t", "it's I'M we'LL",
	"12345678901234", "٣٤٥ Ⅻ ½", "Café naïve", "e\u0301", "你好，世界", "😀🚀 👩‍👩‍👧", "a\u00a0b\u3000c",
	"<s></s><unk><|begin_of_text|>", "\xff\xfe invalid \xc3", "\xed\xa0\x80 surrogate", "\xc0\x80 overlong",
	"$19.99 a<=b `x`", "'s 's's ''s", "▁ lower block",
}

// FuzzTokenizer: encoding never panics, ids are in range, and for valid UTF-8
// DecodeWith(Encode(s, false), Exact) == s (SPM: not for texts holding "▁",
// which SPM cannot tell from a space; with invalid UTF-8 a lead byte may also
// swallow the "▁" of an escaped space, as in llama.cpp).
func FuzzTokenizer(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range fuzzTokenizers(t) {
			ids := tok.Encode(s, false)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("%s/%s: id %d out of range", tok.Model(), tok.v.Pre, id)
				}
			}
			all := tok.Tokenize(s, true, true)
			_ = tok.DecodeWith(all, DecodeOptions{RemoveSpecial: true, RenderSpecial: true})
			check := utf8.ValidString(s)
			if tok.Model() == "llama" && strings.Contains(s, "▁") {
				check = false
			}
			if check {
				if got := tok.DecodeWith(ids, DecodeOptions{Exact: true}); got != s {
					t.Fatalf("%s/%s: round trip of %q gave %q (ids %v)", tok.Model(), tok.v.Pre, s, got, ids)
				}
			}
			// arbitrary ids decode without panicking
			var junk []int
			for i := 0; i < len(s); i++ {
				junk = append(junk, int(s[i])*7-30)
			}
			_ = tok.Decode(junk)
		}
	})
}

// FuzzNew builds vocabularies from fuzzed bytes: New returns an error or a
// tokenizer that encodes and decodes without panicking.
func FuzzNew(f *testing.F) {
	f.Add([]byte("\x00a\x00b\x00ab\x00<0x41>\x00 \x00"), "ab a")
	f.Add([]byte("\x01Ġ\x00h\x00e\x00he\x00h e\x00"), " he")
	f.Add([]byte("\x02\x00\x00\x00"), "")
	f.Fuzz(func(t *testing.T, data []byte, text string) { fuzzNewBody(data, text) })
}

func fuzzNewBody(data []byte, text string) {
	{
		if len(data) == 0 {
			return
		}
		mode := data[0]
		parts := strings.Split(string(data[1:]), "\x00")
		v := Vocab{Tokens: parts, BOS: -1, EOS: -1, UNK: -1, PAD: -1}
		v.Model = []string{"llama", "gpt2", "gpt2", "bert"}[mode%4]
		v.Pre = []string{"", "llama3", "qwen2", "gpt-2", "smollm", "default"}[int(mode/4)%6]
		v.Types = make([]int32, len(parts))
		v.Scores = make([]float32, len(parts))
		for i, p := range parts {
			v.Types[i] = int32(len(p) % 8)
			v.Scores[i] = float32(len(p)) - float32(i%5)
			v.Merges = append(v.Merges, p)
		}
		if mode&0x40 != 0 {
			v.BOS, v.AddBOS = int(mode)%(len(parts)+1)-1, true
		}
		if mode&0x80 != 0 {
			v.UNK = 0
			v.AddSpacePrefix = true
		}
		if mode&0x10 != 0 {
			v.Special = map[string]int{RoleEOT: len(parts) - 1, RoleFIMPad: int(mode) % len(parts)}
		}
		tok, err := New(v)
		if err != nil {
			return
		}
		for _, parse := range []bool{false, true} {
			if text == "" {
				break // Tokenize does not partition empty text
			}
			if a, b := tok.partition(text, parse), tok.naivePartition(text, parse); !reflect.DeepEqual(a, b) {
				panic(fmt.Sprintf("partition(%q, %v) = %v, llama.cpp's %v", text, parse, a, b))
			}
		}
		for _, id := range tok.EOG() {
			if !tok.IsEOG(id) || id < 0 || id >= tok.VocabSize() {
				panic(fmt.Sprintf("EOG id %d", id))
			}
		}
		ids := tok.Tokenize(text, true, mode&0x20 != 0)
		_ = tok.Decode(ids)
		_ = tok.DecodeWith(ids, DecodeOptions{RemoveSpecial: true, RenderSpecial: true, Exact: true})
		_ = tok.GGUFKVs()
	}
}
