package tokenizer

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// naivePartition is llama.cpp's tokenizer_st_partition as written there: every
// special token in turn, longest first, cuts the raw pieces left so far. The
// partition used by Tokenize must equal it.
func (t *Tokenizer) naivePartition(text string, parseSpecial bool) []fragment {
	frags := []fragment{{token: -1, off: 0, n: len(text)}}
	for _, id := range t.special {
		if !parseSpecial && t.attrs[id]&(attrControl|attrUnknown) != 0 {
			continue
		}
		tok := t.v.Tokens[id]
		var next []fragment
		for _, f := range frags {
			if f.token >= 0 {
				next = append(next, f)
				continue
			}
			off, end := f.off, f.off+f.n
			for off < end {
				k := strings.Index(text[off:end], tok)
				if k < 0 {
					break
				}
				if k > 0 {
					next = append(next, fragment{token: -1, off: off, n: k})
				}
				next = append(next, fragment{token: id})
				off += k + len(tok)
			}
			if off < end {
				next = append(next, fragment{token: -1, off: off, n: end - off})
			}
		}
		frags = next
	}
	return frags
}

var (
	specialOnce sync.Once
	specialToks []*Tokenizer
)

// overlapping special tokens: prefixes, suffixes and repeats of one another,
// control and user-defined, ASCII and not.
var specialTexts = []struct {
	text string
	typ  int32
}{
	{"<|im_start|>", TypeControl}, {"<|im_end|>", TypeControl}, {"<|im", TypeUserDefined}, {"im_", TypeControl},
	{"<", TypeControl}, {"<<", TypeUserDefined}, {"ab", TypeUserDefined}, {"aba", TypeControl}, {"bab", TypeControl},
	{"  ", TypeUserDefined}, {"   ", TypeUserDefined}, {"\n\n", TypeUserDefined}, {"é", TypeControl},
	{"<end_of_turn>", TypeNormal}, {"▁<PRE>", TypeNormal}, {"<unused1>", TypeControl},
}

// specialTokenizers: the fuzz vocabularies (an SPM one and a BPE one per
// pre-tokenizer) with specialTexts added.
func specialTokenizers(tb testing.TB) []*Tokenizer {
	specialOnce.Do(func() {
		for _, base := range fuzzTokenizers(tb)[1:] {
			v := base.Vocab()
			for _, s := range specialTexts {
				if _, ok := base.TokenID(s.text); ok {
					continue
				}
				v.Tokens = append(v.Tokens, s.text)
				v.Types = append(v.Types, s.typ)
				if v.Scores != nil {
					v.Scores = append(v.Scores, 0)
				}
			}
			tok, err := New(v)
			if err != nil {
				panic(err)
			}
			specialToks = append(specialToks, tok)
		}
	})
	return specialToks
}

var specialSeeds = []string{
	"", "<|im_start|>user\nHi<|im_end|>\n", "<|im_end|><|im_start|>", "<|im_sta", "<<|im_end|>>", "abababab",
	"ab aba bab", "     x   \n\n\n", "éé<é>", "<end_of_turn><unused1>", "<<<<", "im_im_<|im", "\xff<|im_end|>\xc3",
}

func TestPartitionEqualsLlamaCpps(t *testing.T) {
	for _, tok := range specialTokenizers(t) {
		for _, s := range append(specialSeeds, sampleText) {
			checkSpecial(t, tok, s)
		}
	}
}

// checkSpecial: the partition equals llama.cpp's, ids are in range, and a
// byte-level BPE vocabulary gives the text back (special tokens rendered).
func checkSpecial(t *testing.T, tok *Tokenizer, s string) {
	t.Helper()
	for _, parse := range []bool{false, true} {
		if s == "" {
			break // Tokenize does not partition empty text
		}
		got, want := tok.partition(s, parse), tok.naivePartition(s, parse)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s/%s: partition(%q, %v) = %v, want %v", tok.Model(), tok.v.Pre, s, parse, got, want)
		}
	}
	ids := tok.EncodeSpecial(s)
	for _, id := range ids {
		if id < 0 || id >= tok.VocabSize() {
			t.Fatalf("id %d out of range", id)
		}
	}
	if tok.Model() == "gpt2" && utf8.ValidString(s) {
		if got := tok.DecodeWith(ids, DecodeOptions{RenderSpecial: true, Exact: true}); got != s {
			t.Fatalf("%s: round trip of %q gave %q (ids %v)", tok.v.Pre, s, got, ids)
		}
	}
}

// FuzzEncodeSpecial checks special-token parsing on fuzzed text against
// llama.cpp's partition algorithm written plainly (naivePartition).
func FuzzEncodeSpecial(f *testing.F) {
	for _, s := range specialSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range specialTokenizers(t) {
			checkSpecial(t, tok, s)
		}
	})
}

// BenchmarkPartition compares the partition of 64 KiB of chat-like text
// against llama.cpp's one-pass-per-token algorithm, on a vocabulary with
// 6,000 control tokens (Gemma 3 has about as many).
func BenchmarkPartition(b *testing.B) {
	v := fuzzTokenizers(b)[1].Vocab()
	for i := 0; i < 6000; i++ {
		v.Tokens = append(v.Tokens, "<unused"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoaTest(i)+">")
		v.Types = append(v.Types, TypeControl)
		v.Scores = append(v.Scores, 0)
	}
	v.Tokens = append(v.Tokens, "<start_of_turn>", "<end_of_turn>")
	v.Types = append(v.Types, TypeControl, TypeControl)
	v.Scores = append(v.Scores, 0, 0)
	tok, err := New(v)
	if err != nil {
		b.Fatal(err)
	}
	turn := "<start_of_turn>user\n" + sampleText + "<end_of_turn>\n<start_of_turn>model\n<b>ok</b><end_of_turn>\n"
	text := strings.Repeat(turn, 65536/len(turn)+1)
	for _, tc := range []struct {
		name string
		f    func(string, bool) []fragment
	}{{"index", tok.partition}, {"llama.cpp", tok.naivePartition}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				tc.f(text, true)
			}
		})
	}
}

func itoaTest(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoaTest(n/10) + string(rune('0'+n%10))
}
