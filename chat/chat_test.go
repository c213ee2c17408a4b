package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var ends = []string{"<|im_end|>", "<end_of_turn>", "<|eot_id|>"}

func load(t *testing.T, name string) *Template {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/templates", name+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := New(string(b), "<bos>", "<eos>")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tm
}

var multiTurn = []Message{
	{Role: RoleSystem, Content: "Be brief."},
	{Role: RoleUser, Content: "Hi!"},
	{Role: RoleAssistant, Content: "Hello."},
	{Role: RoleUser, Content: "Joke?"},
	{Role: RoleAssistant, Content: "No."},
}

// TestRenderTrainedRealTemplates: on every real template the trained
// spans are exactly each assistant answer through its end-of-turn marker.
func TestRenderTrainedRealTemplates(t *testing.T) {
	for name, want := range map[string][]string{
		"qwen2.5":  {"Hello.<|im_end|>", "No.<|im_end|>"},
		"smollm2":  {"Hello.<|im_end|>", "No.<|im_end|>"},
		"llama3.2": {"Hello.<|eot_id|>", "No.<|eot_id|>"},
		"gemma3":   {"Hello.<end_of_turn>", "No.<end_of_turn>"},
		// Qwen3 writes an empty reasoning block before the last answer, which
		// the model generates too: it is trained with the answer.
		"qwen3": {"Hello.<|im_end|>", "<think>\n\n</think>\n\nNo.<|im_end|>"},
	} {
		tm := load(t, name)
		text, spans, err := tm.RenderTrained(multiTurn, ends)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(spans) != len(want) {
			t.Fatalf("%s: %d spans, want %d", name, len(spans), len(want))
		}
		for i, s := range spans {
			if got := text[s.Start:s.End]; got != want[i] {
				t.Errorf("%s: span %d is %q, want %q (in %q)", name, i, got, want[i], text)
			}
		}
		plain, err := tm.Render(multiTurn, false)
		if err != nil || plain != text {
			t.Errorf("%s: RenderTrained's text differs from Render's", name)
		}
	}
}

// TestRenderGenerationPrompt: the prompt for a chat answer ends where the
// trained span of an answer begins.
func TestRenderGenerationPrompt(t *testing.T) {
	tm := load(t, "llama3.2")
	p, err := tm.Render(multiTurn[:2], true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, "<|start_header_id|>assistant<|end_header_id|>\n\n") || !strings.Contains(p, "Today Date: "+DateString) {
		t.Errorf("prompt %q", p)
	}
}

// TestTemplateErrors: a template that does not compile, and a conversation
// a template refuses (Gemma's roles must alternate), are ErrTemplate.
func TestTemplateErrors(t *testing.T) {
	if _, err := New("{% for x in %}", "", ""); !errors.Is(err, ErrTemplate) {
		t.Errorf("bad template: %v", err)
	}
	_, _, err := load(t, "gemma3").RenderTrained([]Message{{Role: RoleUser, Content: "a"}, {Role: RoleUser, Content: "b"}}, ends)
	if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), "alternate") {
		t.Errorf("gemma3 with two user turns: %v", err)
	}
}

// TestChatMLDefault renders the default template.
func TestChatMLDefault(t *testing.T) {
	tm, err := New(ChatML, "", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render(multiTurn[1:3], true)
	want := "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}
