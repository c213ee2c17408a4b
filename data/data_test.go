package data

import (
	"errors"
	"strings"
	"testing"

	"github.com/webtune/webtune/chat"
	"github.com/webtune/webtune/tokenizer"
)

// byteTok is a byte-level BPE vocabulary without merges (one token per
// byte) plus <|im_start|> and <|im_end|> as control tokens, so trained
// tokens can be counted by hand: one per byte of text, one per marker.
func byteTok(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	v, err := tokenizer.TrainBPE("", tokenizer.BPEOptions{Pre: "llama3", Merges: 0})
	if err != nil {
		t.Fatal(err)
	}
	v.Tokens[v.BOS], v.Tokens[v.EOS] = "<|im_start|>", "<|im_end|>"
	v.AddBOS = false
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func chatml(t testing.TB) *chat.Template {
	t.Helper()
	tm, err := chat.New(chat.ChatML, "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseFormats(t *testing.T) {
	for _, c := range []struct {
		name, content, format string
		want                  string
		records               int
	}{
		{"a.txt", "plain text\nlines", "", FormatText, 1},
		{"a.jsonl", `{"text": "a"}` + "\n\n" + `{"text": "b"}`, "", FormatText, 2},
		{"a.jsonl", `{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}`, "", FormatMessages, 1},
		{"a.jsonl", `{"prompt": "p", "completion": "c"}`, "", FormatPromptCompletion, 1},
		{"a.jsonl", `{"prompt": [{"role": "user", "content": "p"}], "completion": [{"role": "assistant", "content": "c"}]}`, "", FormatPromptCompletion, 1},
		{"a.jsonl", `{"instruction": "i", "input": "x", "output": "o"}`, "", FormatAlpaca, 1},
		{"data", `{"instruction": "i", "output": "o"}`, FormatAlpaca, FormatAlpaca, 1},
	} {
		f, err := Parse(c.name, []byte(c.content), c.format)
		if err != nil {
			t.Errorf("%s %q: %v", c.name, c.content, err)
			continue
		}
		if f.Format != c.want || len(f.Records) != c.records {
			t.Errorf("%q: format %s with %d records, want %s with %d", c.content, f.Format, len(f.Records), c.want, c.records)
		}
	}
}

// TestParseRefuses: every refusal names the line and the problem.
func TestParseRefuses(t *testing.T) {
	msgs := `{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}`
	for _, c := range []struct {
		name, content, format, want string
	}{
		{"a.jsonl", msgs + "\n" + `{"text": "b"}`, "", "line 2 is a text record, but the file's records before it are messages"},
		{"a.jsonl", msgs + "\n" + `{"messages": [}`, "", "line 2: not a JSON object"},
		{"a.jsonl", `{"messages": [{"role": "user", "content": "q"}]}`, "", "line 1: \"messages\" has no assistant message"},
		{"a.jsonl", `{"messages": [{"role": "robot", "content": "q"}]}`, "", `line 1: messages[0] has role "robot"`},
		{"a.jsonl", `{"messages": [{"role": "user", "content": 3}]}`, "", `messages[0] has no string "content"`},
		{"a.jsonl", `{"prompt": "p"}`, "", "needs both \"prompt\" and \"completion\""},
		{"a.jsonl", `{"prompt": "p", "completion": [{"role": "assistant", "content": "c"}]}`, "", "must both be strings or both message lists"},
		{"a.jsonl", `{"prompt": [{"role": "user", "content": "p"}], "completion": [{"role": "user", "content": "c"}]}`, "", `"completion" has no assistant message`},
		{"a.jsonl", `{"other": 1}`, "", "line 1: no \"messages\""},
		{"a.jsonl", msgs, FormatAlpaca, "line 1 is a messages record, but the file's records before it are alpaca"},
		{"a.txt", "x", FormatMessages, "plain text, not JSON Lines"},
		{"a.png", "\x89PNG\r\n\x1a\n\x00\x00", "", "byte 8 is NUL: this is a binary file"},
		{"a.txt", "caf\xe9", "", "byte 3 is not UTF-8"},
		{"a.txt", "x", "yaml", `format "yaml"`},
	} {
		_, err := Parse(c.name, []byte(c.content), c.format)
		if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.content, err, c.want)
		}
	}
}

// TestTrainedCountsByHand: with one token per byte, the trained tokens of
// a conversation are the bytes of each assistant answer plus one
// <|im_end|> each; prompts, roles and the newline after <|im_end|> are not
// trained. --train-on all trains every token but the first.
func TestTrainedCountsByHand(t *testing.T) {
	tok, tm := byteTok(t), chatml(t)
	content := `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "bee"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "dd"}]}
{"instruction": "Add", "input": "1 2", "output": "3"}`
	for _, c := range []struct {
		content string
		trained []string // the trained text of each example
	}{
		{strings.Split(content, "\n")[0], []string{"bee<|im_end|>dd<|im_end|>"}},
		{`{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "yo"}]}`, []string{"yo<|im_end|>"}},
		{`{"prompt": "Q: 2+2? A:", "completion": " 4"}`, []string{" 4<|im_end|>"}},
		{strings.Split(content, "\n")[1], []string{"3<|im_end|>"}},
	} {
		f, err := Parse("x.jsonl", []byte(c.content), "")
		if err != nil {
			t.Fatal(err)
		}
		ex, s, err := Build(f, tok, tm, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ex {
			var got strings.Builder
			n := 0
			for k, id := range e.Tokens {
				if e.Trained[k] {
					got.WriteString(tok.Piece(id, true))
					n++
				}
			}
			if got.String() != c.trained[i] {
				t.Errorf("%s: trains %q, want %q (rendered %q)", c.content, got.String(), c.trained[i], e.Text)
			}
			want := len(c.trained[i]) - strings.Count(c.trained[i], "<|im_end|>")*(len("<|im_end|>")-1)
			if n != want || e.TrainedCount() != want || s.Trained != want {
				t.Errorf("%s: %d trained tokens (summary %d), hand count %d", c.content, n, s.Trained, want)
			}
		}
		all, _, err := Build(f, tok, tm, Options{TrainOn: TrainAll})
		if err != nil {
			t.Fatal(err)
		}
		if n := all[0].TrainedCount(); n != len(all[0].Tokens)-1 {
			t.Errorf("--train-on all: %d of %d tokens trained", n, len(all[0].Tokens))
		}
	}
}

// TestAlpacaRendersOneTurn: instruction and input become one user message.
func TestAlpacaRendersOneTurn(t *testing.T) {
	f, err := Parse("a.jsonl", []byte(`{"instruction": "Add", "input": "1 2", "output": "3"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	ex, _, err := Build(f, byteTok(t), chatml(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>user\nAdd\n\n1 2<|im_end|>\n<|im_start|>assistant\n3<|im_end|>\n"
	if ex[0].Text != want {
		t.Errorf("rendered %q, want %q", ex[0].Text, want)
	}
}

// TestSpecialTokensParsed: markers in the rendered text are single
// special tokens, never their characters.
func TestSpecialTokensParsed(t *testing.T) {
	tok := byteTok(t)
	f, _ := Parse("a.jsonl", []byte(`{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}`), "")
	ex, _, err := Build(f, tok, chatml(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	specials := 0
	for _, id := range ex[0].Tokens {
		if id == tok.BOS() || id == tok.EOS() {
			specials++
		}
	}
	if specials != 4 || len(ex[0].Tokens) != len(ex[0].Text)-2*len("<|im_start|>")-2*len("<|im_end|>")+4 {
		t.Errorf("%d special tokens in %d tokens of %q", specials, len(ex[0].Tokens), ex[0].Text)
	}
}

// TestCutAtSeqLen: a long example is cut to SeqLen+1 tokens and counted.
func TestCutAtSeqLen(t *testing.T) {
	f, _ := Parse("a.jsonl", []byte(`{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "`+strings.Repeat("x", 100)+`"}]}`+"\n"+
		`{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "y"}]}`), "")
	ex, s, err := Build(f, byteTok(t), chatml(t), Options{SeqLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex[0].Tokens) != 33 || ex[0].Cut == 0 || ex[1].Cut != 0 || s.Cut != 1 || s.CutTokens != ex[0].Cut {
		t.Errorf("cut: %d tokens, cut %d / %d; summary %+v", len(ex[0].Tokens), ex[0].Cut, ex[1].Cut, s)
	}
	if !strings.Contains(s.String(), "1 examples cut at the sequence length") {
		t.Errorf("summary %q", s.String())
	}
}
