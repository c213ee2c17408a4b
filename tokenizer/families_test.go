package tokenizer_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/webtune/webtune/internal/testvocab"
	"github.com/webtune/webtune/tokenizer"
)

// familyCorpus trains the pieces the family vocabularies are built around.
const familyCorpus = `The quick brown fox jumps over the lazy dog. It's the fox's day; they'll see, won't they?
User: Hello! How are you today? Assistant: I'm fine, thank you. The answer is 42, or 12345.
Le café est très bon. 日本語のテキスト。你好，世界！ Emoji 😀🚀 and numbers 2024-06-01 3.14159.
def main():
    print("hello world")
	Indented   with    spaces and	tabs
<table><tr><td>cell</td></tr></table>
the the the and and and to to of of in in is is`

var (
	baseOnce sync.Once
	bpeBase  map[string]testvocab.BPE // by pre-tokenizer
	spmBase  testvocab.SPM
)

func bases(t testing.TB) (map[string]testvocab.BPE, testvocab.SPM) {
	baseOnce.Do(func() {
		bpeBase = map[string]testvocab.BPE{}
		for _, pre := range []string{"qwen2", "llama-bpe", "smollm"} {
			v, err := tokenizer.TrainBPE(familyCorpus, tokenizer.BPEOptions{Pre: pre, Merges: 400, MinFrequency: 1})
			if err != nil {
				panic(err)
			}
			bpeBase[pre] = testvocab.BPEFrom(v)
		}
		v, err := tokenizer.TrainSPM(familyCorpus, tokenizer.SPMOptions{Pieces: 400, MinFrequency: 1})
		if err != nil {
			panic(err)
		}
		spmBase = testvocab.SPMFrom(v)
	})
	return bpeBase, spmBase
}

func mustNew(t testing.TB, v tokenizer.Vocab) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func idOf(t testing.TB, tok *tokenizer.Tokenizer, text string) int {
	t.Helper()
	id, ok := tok.TokenID(text)
	if !ok {
		t.Fatalf("no token %q", text)
	}
	return id
}

// chatPart is a piece of a rendered chat: a special token's text or plain text.
type chatPart struct {
	special bool
	text    string
}

func sp(s string) chatPart { return chatPart{true, s} }
func tx(s string) chatPart { return chatPart{false, s} }

type familyCase struct {
	name    string
	v       tokenizer.Vocab
	eog     []string // texts of the end-of-generation set
	eot     string   // text of EOT ("" for none)
	chat    []chatPart
	userDef string // a user-defined token, matched even without parse_special ("" for none)
}

func familyCases(t testing.TB) []familyCase {
	bpe, spm := bases(t)
	return []familyCase{
		{
			name: "qwen2", v: testvocab.Qwen2(bpe["qwen2"], 0),
			eog: []string{"<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"},
			eot: "<|im_end|>", userDef: "<think>",
			chat: []chatPart{sp("<|im_start|>"), tx("system\nYou are helpful."), sp("<|im_end|>"), tx("\n"),
				sp("<|im_start|>"), tx("user\nWhat's 12345+678?"), sp("<|im_end|>"), tx("\n"),
				sp("<|im_start|>"), tx("assistant\n"), sp("<think>"), tx("\n\n"), sp("</think>"),
				tx("\n\n13023 😀"), sp("<|im_end|>"), tx("\n")},
		},
		{
			name: "llama3", v: testvocab.Llama3(bpe["llama-bpe"], 0),
			eog: []string{"<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"}, eot: "<|eot_id|>",
			chat: []chatPart{sp("<|begin_of_text|>"), sp("<|start_header_id|>"), tx("system"), sp("<|end_header_id|>"),
				tx("\n\nCutting Knowledge Date: December 2023\n\n"), sp("<|eot_id|>"),
				sp("<|start_header_id|>"), tx("user"), sp("<|end_header_id|>"), tx("\n\nI'm   fine, 1234567 ok?"),
				sp("<|eot_id|>"), sp("<|start_header_id|>"), tx("assistant"), sp("<|end_header_id|>"), tx("\n\n")},
		},
		{
			name: "smollm", v: testvocab.SmolLM(bpe["smollm"], 0),
			eog: []string{"<|endoftext|>", "<|im_end|>", "<reponame>"}, eot: "<|im_end|>",
			chat: []chatPart{sp("<|im_start|>"), tx("system\nYou are SmolLM."), sp("<|im_end|>"), tx("\n"),
				sp("<|im_start|>"), tx("user\n  Hi there 2024!"), sp("<|im_end|>"), tx("\n"),
				sp("<|im_start|>"), tx("assistant\n")},
		},
		{
			name: "gemma3", v: testvocab.Gemma3(spm, 8, 0),
			eog: []string{"<eos>", "<end_of_turn>"}, eot: "<end_of_turn>", userDef: "  ",
			chat: []chatPart{sp("<bos>"), sp("<start_of_turn>"), tx("user\nYou are kind."), sp("\n\n"),
				tx("Hello, world! 日本語"), sp("<end_of_turn>"), tx("\n"), sp("<start_of_turn>"), tx("model\nHi"),
				sp("  "), tx("there"), sp("<end_of_turn>"), tx("\n")},
		},
	}
}

// TestFamilySpecialTokens checks each family's end-of-generation set, EOT,
// the attributes llama.cpp derives at load, and that the special tokens of
// a rendered chat become single ids with the text between them tokenized on
// its own (llama.cpp's parse_special); the llama.cpp interop test checks the
// same vocabularies against llama.cpp itself.
func TestFamilySpecialTokens(t *testing.T) {
	for _, fc := range familyCases(t) {
		t.Run(fc.name, func(t *testing.T) {
			tok := mustNew(t, fc.v)
			var eog []int
			for _, s := range fc.eog {
				eog = append(eog, idOf(t, tok, s))
			}
			slices.Sort(eog)
			if got := tok.EOG(); !slices.Equal(got, eog) {
				t.Errorf("EOG = %v, want %v (%q)", got, eog, fc.eog)
			}
			for _, id := range eog {
				if !tok.IsEOG(id) || !tok.IsControl(id) {
					t.Errorf("token %d %q: IsEOG %v, control %v", id, tok.TokenText(id), tok.IsEOG(id), tok.IsControl(id))
				}
			}
			if tok.IsEOG(tok.BOS()) && tok.BOS() != tok.EOS() && !slices.Contains(fc.eog, tok.TokenText(tok.BOS())) {
				t.Errorf("BOS %d is EOG", tok.BOS())
			}
			if got := tok.EOT(); got != idOf(t, tok, fc.eot) {
				t.Errorf("EOT = %d %q, want %q", got, tok.TokenText(got), fc.eot)
			}
			var want []int
			var text strings.Builder
			for _, p := range fc.chat {
				text.WriteString(p.text)
				if p.special {
					want = append(want, idOf(t, tok, p.text))
				} else {
					want = append(want, tok.Encode(p.text, false)...)
				}
			}
			got := tok.EncodeSpecial(text.String())
			if !slices.Equal(got, want) {
				t.Fatalf("EncodeSpecial(%q)\n got %v\nwant %v", text.String(), got, want)
			}
			if back := tok.DecodeWith(got, tokenizer.DecodeOptions{RenderSpecial: true, Exact: true}); back != text.String() {
				t.Errorf("decoded %q, want %q", back, text.String())
			}
			// Without parse_special control texts stay text; user-defined tokens are always cut out.
			plain := tok.Encode(text.String(), false)
			for _, id := range plain {
				if tok.IsControl(id) {
					t.Errorf("Encode produced control token %d %q", id, tok.TokenText(id))
				}
			}
			if fc.userDef != "" && !slices.Contains(plain, idOf(t, tok, fc.userDef)) {
				t.Errorf("Encode did not cut out user-defined %q", fc.userDef)
			}
		})
	}
}

// TestFamilyAttributes checks the attributes llama.cpp's load rules give
// special tokens: control, unused for control tokens named "unused", and
// unused for the converter's "[PAD…]" fillers.
func TestFamilyAttributes(t *testing.T) {
	const (
		unused  = 2
		control = 8
		userDef = 16
	)
	bpe, spm := bases(t)
	qwen := mustNew(t, testvocab.Qwen2(bpe["qwen2"], 0))
	gemma := mustNew(t, testvocab.Gemma3(spm, 8, 0))
	for _, tc := range []struct {
		tok  *tokenizer.Tokenizer
		text string
		attr int
	}{
		{qwen, "<|im_start|>", control}, {qwen, "<tool_call>", userDef}, {qwen, "<|fim_prefix|>", control},
		{qwen, "[PAD" + itoa(qwen.VocabSize()-1) + "]", unused},
		{gemma, "<unused3>", control | unused}, {gemma, "<mask>", control}, {gemma, "  ", userDef},
		{gemma, "<0x41>", 32}, {gemma, "<unk>", 1}, {gemma, "<start_of_turn>", control},
	} {
		if got := tc.tok.Attr(idOf(t, tc.tok, tc.text)); got != tc.attr {
			t.Errorf("Attr(%q) = %d, want %d", tc.text, got, tc.attr)
		}
	}
	if got := qwen.SpecialID(tokenizer.RoleFIMPre); got != idOf(t, qwen, "<|fim_prefix|>") {
		t.Errorf("fim_pre = %d", got)
	}
	if qwen.EOM() != -1 || qwen.SpecialID("nonsense") != -1 {
		t.Error("EOM or unknown role not -1")
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestRoleKeyOverridesText: an EOT set by the vocabulary wins over the
// texts llama.cpp would otherwise find, and joins the end-of-generation set.
func TestRoleKeyOverridesText(t *testing.T) {
	bpe, _ := bases(t)
	v := testvocab.Qwen2(bpe["qwen2"], 0)
	tok := mustNew(t, v)
	start := idOf(t, tok, "<|im_start|>")
	v.Special = map[string]int{tokenizer.RoleEOT: start}
	tok = mustNew(t, v)
	if tok.EOT() != start || !tok.IsEOG(start) || !tok.IsEOG(idOf(t, tok, "<|im_end|>")) {
		t.Errorf("EOT %d (want %d), EOG %v", tok.EOT(), start, tok.EOG())
	}
	v.Special = map[string]int{"eol": 1}
	if _, err := tokenizer.New(v); err == nil {
		t.Error("unknown role accepted")
	}
	v.Special = map[string]int{tokenizer.RoleEOM: len(v.Tokens)}
	if _, err := tokenizer.New(v); err == nil {
		t.Error("role id out of range accepted")
	}
}

// TestFamilyBigVocabularies builds the Qwen2 (151,936 tokens) and Gemma 3
// (262,144 tokens, 6,000 "<unusedN>" control tokens) shapes and checks that
// the special tokens near the end of the vocabulary are found and that text
// round-trips; the time to build them is in BenchmarkLoadBigVocab.
func TestFamilyBigVocabularies(t *testing.T) {
	bpe, spm := bases(t)
	text := familyCorpus + "\n<|im_start|>user\nHi<|im_end|>\n<start_of_turn>model\n<unused5999><end_of_turn>"
	for _, tc := range []struct {
		v       tokenizer.Vocab
		size    int
		special string
	}{
		{testvocab.Qwen2(bpe["qwen2"], testvocab.Qwen2Size), testvocab.Qwen2Size, "<|im_end|>"},
		{testvocab.Gemma3(spm, 6000, testvocab.Gemma3Size), testvocab.Gemma3Size, "<end_of_turn>"},
	} {
		tok := mustNew(t, tc.v)
		if tok.VocabSize() != tc.size {
			t.Errorf("%s: %d tokens, want %d", tc.v.Model, tok.VocabSize(), tc.size)
		}
		ids := tok.EncodeSpecial(text)
		if !slices.Contains(ids, idOf(t, tok, tc.special)) {
			t.Errorf("%s: %q not found as a special token", tc.v.Model, tc.special)
		}
		if back := tok.DecodeWith(ids, tokenizer.DecodeOptions{RenderSpecial: true, Exact: true}); back != text {
			t.Errorf("%s: round trip gave %q", tc.v.Model, back)
		}
		plain := tok.Encode(text, false)
		if back := tok.DecodeWith(plain, tokenizer.DecodeOptions{Exact: true}); back != text {
			t.Errorf("%s: plain round trip gave %q", tc.v.Model, back)
		}
	}
}

// BenchmarkLoadBigVocab times tokenizer.New on the real-size family
// vocabularies (the vocabularies themselves are built once, outside the timing).
func BenchmarkLoadBigVocab(b *testing.B) {
	bpe, spm := bases(b)
	for _, tc := range []struct {
		name string
		v    tokenizer.Vocab
	}{
		{"qwen2-151936", testvocab.Qwen2(bpe["qwen2"], testvocab.Qwen2Size)},
		{"llama3-128256", testvocab.Llama3(bpe["llama-bpe"], testvocab.Llama3Size)},
		{"gemma3-262144", testvocab.Gemma3(spm, 6000, testvocab.Gemma3Size)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				mustNew(b, tc.v)
			}
		})
	}
}

// BenchmarkEncodeBigVocab encodes chat-like text with special tokens on the
// real-size family vocabularies, at 64 KiB and 1 MiB: equal bytes/s at both
// sizes shows the cost is linear in the text.
func BenchmarkEncodeBigVocab(b *testing.B) {
	bpe, spm := bases(b)
	turn := "<|im_start|>user\n" + familyCorpus + "<|im_end|>\n<start_of_turn>model\nOK<end_of_turn>\n"
	for _, tc := range []struct {
		name string
		v    tokenizer.Vocab
	}{
		{"qwen2-151936", testvocab.Qwen2(bpe["qwen2"], testvocab.Qwen2Size)},
		{"llama3-128256", testvocab.Llama3(bpe["llama-bpe"], testvocab.Llama3Size)},
		{"gemma3-262144", testvocab.Gemma3(spm, 6000, testvocab.Gemma3Size)},
	} {
		tok := mustNew(b, tc.v)
		for _, size := range []int{64 << 10, 1 << 20} {
			text := strings.Repeat(turn, size/len(turn)+1)[:size]
			b.Run(tc.name+"/"+itoa(size>>10)+"KiB", func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for i := 0; i < b.N; i++ {
					tok.EncodeSpecial(text)
				}
			})
		}
	}
}
