package data

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary files to Parse and, when they parse, to Build:
// every outcome is a result or an ErrData/chat error, never a panic, and a
// built example always has one trained flag per token.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"plain text",
		`{"text": "a"}`,
		`{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}`,
		`{"prompt": "p", "completion": "c"}`,
		`{"prompt": [{"role": "user", "content": "p"}], "completion": [{"role": "assistant", "content": "c"}]}`,
		`{"instruction": "i", "input": "x", "output": "o"}` + "\n" + `{"instruction": "j", "output": "p"}`,
		"{\"messages\": [{\"role\": \"assistant\", \"content\": \"<|im_end|>\\u0000\"}]}",
	} {
		f.Add("x.jsonl", []byte(s))
		f.Add("x.txt", []byte(s))
	}
	tok := byteTok(f)
	tm := chatml(f)
	f.Fuzz(func(t *testing.T, name string, content []byte) {
		file, err := Parse(name, content, "")
		if err != nil {
			if !errors.Is(err, ErrData) {
				t.Fatalf("error without ErrData: %v", err)
			}
			return
		}
		if file.Format == FormatText {
			return
		}
		ex, _, err := Build(file, tok, tm, Options{SeqLen: 64})
		if err != nil {
			return
		}
		for _, e := range ex {
			if len(e.Trained) != len(e.Tokens) || len(e.Tokens) > 65 {
				t.Fatalf("example with %d tokens and %d flags", len(e.Tokens), len(e.Trained))
			}
		}
	})
}
