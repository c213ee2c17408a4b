package tokenizer

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// spmTestVocab is ByteVocab plus a few scored pieces, small enough to merge by hand.
func spmTestVocab(t *testing.T, extra map[string]float32) *Tokenizer {
	t.Helper()
	v := ByteVocab()
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		v.Tokens = append(v.Tokens, k)
		v.Scores = append(v.Scores, extra[k])
		v.Types = append(v.Types, TypeNormal)
	}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ids(t *testing.T, tok *Tokenizer, texts ...string) []int {
	t.Helper()
	var out []int
	for _, s := range texts {
		id, ok := tok.TokenID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		out = append(out, id)
	}
	return out
}

func byteID(b byte) int { return 3 + int(b) } // in ByteVocab

func TestSPMEncodeHandChecked(t *testing.T) {
	tok := spmTestVocab(t, map[string]float32{"▁h": -1, "el": -2, "▁he": -3, "ll": -1.5})
	// "▁hello": ▁h (-1) merges first, then ll (-1.5); el (-2) is stale by then
	// (its right symbol grew), then ▁he (-3). "o" is no piece: byte fallback.
	want := append(ids(t, tok, "▁he", "ll"), byteID('o'))
	if got := tok.Encode("hello", false); !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(hello) = %v, want %v", got, want)
	}
	if got := tok.Encode("hello", true); !reflect.DeepEqual(got, append([]int{1}, want...)) {
		t.Errorf("Encode(hello, addSpecial) = %v, want BOS first", got)
	}
	// Non-ASCII without pieces: UTF-8 bytes; "▁" alone is a token.
	want = []int{259, byteID(0xC3), byteID(0xA9)}
	if got := tok.Encode("é", false); !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(é) = %v, want %v", got, want)
	}
	if got := tok.Encode("", true); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("Encode(\"\", true) = %v, want [1]", got)
	}
	if got := tok.Encode("", false); len(got) != 0 {
		t.Errorf("Encode(\"\", false) = %v, want []", got)
	}
}

func TestSPMTiesGoLeftmost(t *testing.T) {
	for _, tc := range []struct {
		ab, bc float32
		want   []string
	}{
		{0, 0, []string{"ab", "c"}}, // equal scores: leftmost pair first
		{0, 1, []string{"a", "bc"}}, // higher score first
		{1, 0, []string{"ab", "c"}},
	} {
		tok := spmTestVocab(t, map[string]float32{"ab": tc.ab, "bc": tc.bc, "a": 0, "c": 0})
		v := tok.Vocab()
		v.AddSpacePrefix = false
		tok, err := New(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tok.Encode("abc", false), ids(t, tok, tc.want...); !reflect.DeepEqual(got, want) {
			t.Errorf("scores ab=%v bc=%v: Encode(abc) = %v, want %v", tc.ab, tc.bc, got, want)
		}
	}
}

func TestSPMDecode(t *testing.T) {
	tok := spmTestVocab(t, map[string]float32{"▁he": -1, "▁h": 0, "ll": -1, "▁w": -2})
	enc := tok.Encode("hello  world", false)
	for _, tc := range []struct {
		ids  []int
		opt  DecodeOptions
		want string
	}{
		{enc, DecodeOptions{}, "hello  world"},                       // prefix space removed
		{append([]int{1}, enc...), DecodeOptions{}, " hello  world"}, // BOS (no text) keeps it
		{append([]int{1}, enc...), DecodeOptions{RemoveSpecial: true}, " hello  world"},
		{append([]int{1}, enc...), DecodeOptions{RenderSpecial: true}, "<s> hello  world"},
		{append(enc, 2), DecodeOptions{RenderSpecial: true}, "hello  world</s>"},
		{[]int{0, byteID('a')}, DecodeOptions{}, "a"}, // unknown is dropped
		{[]int{0, byteID('a')}, DecodeOptions{RenderSpecial: true}, "<unk>a"},
		{[]int{-1, 100000, byteID(' '), byteID('a')}, DecodeOptions{}, "a"}, // bad ids skipped; first piece's space stripped
	} {
		if got := tok.DecodeWith(tc.ids, tc.opt); got != tc.want {
			t.Errorf("DecodeWith(%v, %+v) = %q, want %q", tc.ids, tc.opt, got, tc.want)
		}
	}
}

func TestSPMUserDefinedAndControl(t *testing.T) {
	v := ByteVocab()
	v.Tokens = append(v.Tokens, "<|u|>")
	v.Scores = append(v.Scores, 0)
	v.Types = append(v.Types, TypeUserDefined)
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	u := len(v.Tokens) - 1
	sp := 259
	// User-defined tokens are cut out first and the text after them gets the space prefix again.
	want := []int{sp, byteID('a'), u, sp, byteID('b')}
	if got := tok.Encode("a<|u|>b", false); !reflect.DeepEqual(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	// Control texts are plain text unless parseSpecial.
	if got := tok.Tokenize("<s>", false, false); len(got) != 4 {
		t.Errorf("Tokenize(<s>, parse=false) = %v, want ▁ and 3 bytes", got)
	}
	if got := tok.Tokenize("<s>", false, true); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("Tokenize(<s>, parse=true) = %v, want [1]", got)
	}
}

// bpeTestVocab: bytes, then he, ll, hell, hello, Ġw, or; BOS/EOS control.
func bpeTestVocab(t *testing.T, pre string) *Tokenizer {
	t.Helper()
	v := Vocab{Model: "gpt2", Pre: pre, BOS: -1, EOS: -1, UNK: -1, PAD: -1,
		Merges: []string{"h e", "l l", "he ll", "hell o", "Ġ w", "o r"}}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, ByteChar(byte(b)))
	}
	v.Tokens = append(v.Tokens, "he", "ll", "hell", "hello", "Ġw", "or", "<|bos|>", "<|eos|>")
	v.Types = make([]int32, len(v.Tokens))
	for i := range v.Types {
		v.Types[i] = TypeNormal
	}
	v.Types[len(v.Types)-2], v.Types[len(v.Types)-1] = TypeControl, TypeControl
	v.BOS, v.EOS = len(v.Tokens)-2, len(v.Tokens)-1
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBPEEncodeHandChecked(t *testing.T) {
	tok := bpeTestVocab(t, "gpt-2")
	// words "hello" and " world" -> "Ġworld": Ġw (rank 4) before or (5); "Ġw"+"or" is no merge.
	want := append(ids(t, tok, "hello", "Ġw", "or"), 'l', 'd')
	if got := tok.Encode("hello world", false); !reflect.DeepEqual(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if got := tok.Decode(want); got != "hello world" {
		t.Errorf("Decode = %q", got)
	}
	// bytes: 'Ġ' is the space, é is two byte tokens
	if got := tok.Encode(" é", false); !reflect.DeepEqual(got, []int{' ', 0xC3, 0xA9}) {
		t.Errorf("Encode(\" é\") = %v", got)
	}
}

func TestPreTokenizers(t *testing.T) {
	for _, tc := range []struct {
		pre, text string
		want      []string
	}{
		{"llama3", "Hello world's 12345  \n\n x", []string{"Hello", " world", "'s", " ", "123", "45", "  \n\n", " x"}},
		{"llama3", "I'M (ok)...  a1b22!? \t\r\nz", []string{"I", "'M", " (", "ok", ")...", " ", " a", "1", "b", "22", "!?", " \t\r\n", "z"}},
		{"qwen2", "x=$1+2|y `q` 1234567", []string{"x", "=$", "1", "+", "2", "|y", " `", "q", "`", " ", "1", "2", "3", "4", "5", "6", "7"}},
		{"gpt-2", "I'M (ok)...  a1b22!? \t\r\nz", []string{"I", "'", "M", " (", "ok", ")...", " ", " a", "1", "b", "22", "!?", " \t\r", "\n", "z"}},
		{"gpt-2", "x=$1+2|y `q` 1234567", []string{"x", "=$", "1", "+", "2", "|", "y", " `", "q", "`", " 1234567"}},
		{"default", "Hello world's 12345  \n\n x", []string{"Hello", " world", "'", "s", " ", "123", "45", "  \n\n", " x"}},
		{"default", "x=$1+2|y `q` 1234567", []string{"x", "=$", "1", "+", "2", "|", "y", " `", "q", "`", " ", "123", "456", "7"}},
		{"smollm", "I'M a1b22 x 12", []string{"I", "'", "M", " a", "1", "b", "2", "2", " x", " ", "1", "2"}},
		{"llama3", "你好，世界！ 😀😀 e\u0301", []string{"你好", "，世界", "！", " 😀😀", " e", "\u0301"}},
		{"llama3", "a\u00a0b\u3000\u3000c", []string{"a", "\u00a0b", "\u3000", "\u3000c"}},
	} {
		info := preNames[tc.pre]
		c := decodeCpts(tc.text)
		var got []string
		st := 0
		for _, n := range split(info.kind, c) {
			got = append(got, string(c[st:st+n]))
			st += n
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %q:\n got %q\nwant %q", tc.pre, tc.text, got, tc.want)
		}
	}
}

func TestDecodeCptsLikeLlamaCpp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []rune
	}{
		{"aé€😀", []rune{'a', 'é', '€', '😀'}},
		{"\xC3", []rune{0xFFFD}},                                     // truncated
		{"\x80a", []rune{0xFFFD, 'a'}},                               // lone continuation byte
		{"\xC0\x80", []rune{0}},                                      // overlong form accepted, as llama.cpp
		{"\xED\xA0\x80", []rune{0xD800}},                             // surrogate accepted, as llama.cpp
		{"\xF7\xBF\xBF\xBF", []rune{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}}, // > U+10FFFF (llama.cpp throws)
		{"\xFF", []rune{0xFFFD}},
	} {
		if got := decodeCpts(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decodeCpts(%q) = %U, want %U", tc.in, got, tc.want)
		}
	}
}

func TestCleanSpaces(t *testing.T) {
	for in, want := range map[string]string{
		"Hello , world . What ? Yes !": "Hello, world. What? Yes!",
		"it 's I 'm we 're you 've":    "it's I'm we're you've",
		"don 't I 'd we 'll":           "don 't I 'd we 'll",
		"a ' b":                        "a'b",
		"a ' ' b":                      "a'' b",
		" .":                           ".",
		"":                             "",
		"x  .":                         "x .",
	} {
		if got := string(cleanSpaces([]byte(in))); got != want {
			t.Errorf("cleanSpaces(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewRejectsBadVocabularies(t *testing.T) {
	good := func() Vocab { return ByteVocab() }
	for _, tc := range []struct {
		name string
		edit func(v *Vocab)
		want error
	}{
		{"unknown model", func(v *Vocab) { v.Model = "bert" }, ErrUnsupported},
		{"unknown pre", func(v *Vocab) { v.Model, v.Pre = "gpt2", "gpt2" }, ErrUnsupported}, // llama.cpp spells it "gpt-2"
		{"no tokens", func(v *Vocab) { v.Tokens, v.Scores, v.Types = nil, nil, nil }, ErrInvalid},
		{"short scores", func(v *Vocab) { v.Scores = v.Scores[:3] }, ErrInvalid},
		{"short types", func(v *Vocab) { v.Types = v.Types[:3] }, ErrInvalid},
		{"bos out of range", func(v *Vocab) { v.BOS = len(v.Tokens) }, ErrInvalid},
		{"eos below -1", func(v *Vocab) { v.EOS = -2 }, ErrInvalid},
		{"add_bos without bos", func(v *Vocab) { v.BOS = -1 }, ErrInvalid},
		{"add_eos without eos", func(v *Vocab) { v.AddEOS, v.EOS = true, -1 }, ErrInvalid},
		{"duplicate token", func(v *Vocab) { v.Tokens[5] = v.Tokens[6] }, ErrInvalid},
		{"empty collides", func(v *Vocab) { v.Tokens[5], v.Tokens[6] = "", "[EMPTY_5]" }, ErrInvalid},
		{"NaN score", func(v *Vocab) { v.Scores[4] = float32(nan()) }, ErrInvalid},
		{"huge token", func(v *Vocab) { v.Tokens[4] = strings.Repeat("x", MaxTokenBytes+1) }, ErrInvalid},
	} {
		v := good()
		tc.edit(&v)
		_, err := New(v)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: New error = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("ByteVocab: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

func TestEmptyTokenRenamedAndMalformedMerges(t *testing.T) {
	v := bpeTestVocab(t, "default").Vocab()
	v.Tokens[261] = "" // "or", which the text below does not need
	v.Merges = append(v.Merges, "nospace", "", " x")
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.TokenText(261); got != fmt.Sprintf("[EMPTY_%d]", 261) {
		t.Errorf("empty token renamed to %q", got)
	}
	_ = tok.Encode("hello x nospace", true)
}

func TestPiecesAndAccessors(t *testing.T) {
	tok := bpeTestVocab(t, "llama3")
	if tok.VocabSize() != 256+8 || tok.Model() != "gpt2" || !tok.IsControl(tok.BOS()) || tok.IsControl(5) {
		t.Fatal("accessors")
	}
	if got := tok.Piece(' ', false); got != " " {
		t.Errorf("Piece(Ġ) = %q", got)
	}
	if got := tok.Piece(tok.EOS(), false); got != "" {
		t.Errorf("control piece = %q, want empty", got)
	}
	if got := tok.Piece(tok.EOS(), true); got != "<|eos|>" {
		t.Errorf("rendered control piece = %q", got)
	}
	if tok.TokenText(-1) != "" || tok.TokenText(1<<30) != "" {
		t.Error("TokenText out of range")
	}
	if names := PreTokenizers(); len(names) < 5 {
		t.Errorf("PreTokenizers = %v", names)
	}
}

func TestEOGAndOddBPEPieces(t *testing.T) {
	v := bpeTestVocab(t, "gpt-2").Vocab()
	v.Tokens = append(v.Tokens, "<|im_end|>", "x€")
	v.Types = append(v.Types, TypeNormal, TypeNormal)
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	imEnd, odd := len(v.Tokens)-2, len(v.Tokens)-1
	if !tok.IsEOG(tok.EOS()) || !tok.IsEOG(imEnd) || tok.IsEOG(tok.BOS()) || tok.IsEOG(-1) || tok.AddBOS() {
		t.Error("IsEOG/AddBOS")
	}
	// "<|im_end|>" is forced to control as in llama.cpp: it decodes to nothing.
	if !tok.IsControl(imEnd) || tok.Decode([]int{imEnd}) != "" {
		t.Error("<|im_end|> not control")
	}
	// A character outside GPT-2's byte map decodes as llama.cpp's llama_decode_text does.
	if got, want := tok.Piece(odd, false), "x[UNK_BYTE_0xe282acx€]"; got != want {
		t.Errorf("Piece = %q, want %q", got, want)
	}
}
