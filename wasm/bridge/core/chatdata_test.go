package core

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/webtune/webtune/train"
)

const chatJSONL = `{"messages": [{"role": "user", "content": "Tell me a story."}, {"role": "assistant", "content": "Once upon a time there was a cat."}]}
{"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, friend."}]}
{"messages": [{"role": "user", "content": "A dog?"}, {"role": "assistant", "content": "The dog ran to the park."}]}
`

// TestChatTextStats: pasted JSONL conversations are examples rendered with
// ChatML (the built-in model has no template), with a preview whose trained
// pieces are the first assistant answer and its end marker.
func TestChatTextStats(t *testing.T) {
	m := loadBuiltin(t, false)
	s, err := m.TextStats(chatJSONL, TrainOptions{SeqLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != "messages" || s.Examples != 3 || s.Turns != 7 || s.Trained == 0 || s.TrainWindows != 2 || s.EvalWindows != 1 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(s.Template, "ChatML") || !strings.Contains(s.Summary, "3 messages examples") {
		t.Errorf("template %q, summary %q", s.Template, s.Summary)
	}
	var all, trained strings.Builder
	for i, p := range s.Preview.Pieces {
		all.WriteString(p)
		if s.Preview.Trained[i] {
			trained.WriteString(p)
		}
	}
	if !strings.HasPrefix(all.String(), "<|im_start|>user\nTell me a story.") || trained.String() != "Once upon a time there was a cat.<|im_end|>" {
		t.Errorf("preview %q, trained %q", all.String(), trained.String())
	}
	if _, err := m.TextStats(`{"messages": [{"role": "user"}]}`, TrainOptions{}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("malformed line: %v", err)
	}
	if _, err := m.TextStats("\x89PNG\r\n\x1a\n\x00\x00\x00", TrainOptions{}); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Errorf("binary data: %v", err)
	}
}

// TestChatTrain: a run on conversations trains and its loss falls.
func TestChatTrain(t *testing.T) {
	m := loadBuiltin(t, false)
	r, err := m.Train(TrainOptions{Text: chatJSONL, Steps: 8, Batch: 2, SeqLen: 64, LR: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Loop(context.Background(), nil, nil)
	if s != StateDone || err != nil {
		t.Fatalf("%s %v", s, err)
	}
	h := r.History()
	if len(h.Losses) != 8 || h.Losses[7] >= h.Losses[0] {
		t.Errorf("losses %v", h.Losses)
	}
}

// TestChatGenerate: a chat prompt is rendered with the template (ChatML
// here) and tokenized with it; the plain prompt is not.
func TestChatGenerate(t *testing.T) {
	m := loadBuiltin(t, false)
	plain, err := m.Generate(context.Background(), "Hi", GenerateOptions{MaxTokens: 3, Temperature: 0})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Generate(context.Background(), "Hi", GenerateOptions{MaxTokens: 3, Temperature: 0, Chat: true, System: "Be kind."})
	if err != nil {
		t.Fatal(err)
	}
	want := m.tok.Tokenize("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", false, true)
	if len(c.Prompt) != len(want) || len(plain.Prompt) >= len(c.Prompt) {
		t.Fatalf("chat prompt %v, want %v (plain %v)", c.Prompt, want, plain.Prompt)
	}
	for i := range want {
		if c.Prompt[i] != want[i] {
			t.Fatalf("chat prompt %v, want %v", c.Prompt, want)
		}
	}
	if m.Info().ChatTemplate {
		t.Error("the built-in model has no chat template")
	}
}

// TestTextTooLarge: a text above the tab's limit is refused with its size
// and the limit before anything is tokenized; one at the limit is taken,
// streamed to the same ids as tokenizing it whole.
func TestTextTooLarge(t *testing.T) {
	m := loadBuiltin(t, false)
	defer func(l int) { textLimit = l }(textLimit)
	textLimit = 2_000_000
	text := strings.Repeat("The fox ran home to sleep.\nAnd then it woke up. ", 2_000_000/50)
	_, err := m.TextStats(text+strings.Repeat("x", textLimit-len(text)+1), TrainOptions{})
	if !errors.Is(err, ErrTextTooLarge) || !strings.Contains(err.Error(), "is 2.0 MB") || !strings.Contains(err.Error(), "at most 2 MB") {
		t.Fatalf("error %v, want ErrTextTooLarge naming 2.0 MB and the 2 MB limit", err)
	}
	s, err := m.TextStats(text, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(train.Tokenize(m.tok, text)); s.Tokens != want {
		t.Fatalf("%d tokens, want %d", s.Tokens, want)
	}
}

// TestTextTokenizedOnce: the page counts one text several times and then
// trains on it; the text is tokenized once and a changed text again, and
// the stats say how long tokenizing took.
func TestTextTokenizedOnce(t *testing.T) {
	m := loadBuiltin(t, false)
	text := strings.Repeat("The fox ran home to sleep. And then it woke up.\n", 2000)
	s1, err := m.TextStats(text, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := m.texts.tokens
	s2, err := m.TextStats(text, TrainOptions{EvalFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if m.texts.tokens != first || s1.Tokens != s2.Tokens || s1.TokenizeMs <= 0 || s2.TokenizeMs != s1.TokenizeMs {
		t.Fatalf("second count: cache %p→%p, tokens %d/%d, tokenize ms %v/%v", first, m.texts.tokens, s1.Tokens, s2.Tokens, s1.TokenizeMs, s2.TokenizeMs)
	}
	changed := strings.Replace(text, "fox", "cat", 1)
	s3, err := m.TextStats(changed, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.texts.tokens == first || s3.Tokens != len(train.Tokenize(m.tok, changed)) {
		t.Fatalf("a changed text reused the old ids (%d tokens)", s3.Tokens)
	}
}
