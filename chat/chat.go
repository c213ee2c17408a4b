// Package chat renders conversations with a model's chat template (the
// Jinja template a GGUF file keeps in tokenizer.chat_template), as the
// Hugging Face tokenizer's apply_chat_template and llama.cpp do, and finds
// the parts of the rendered text that training learns: each assistant
// message with its end-of-turn marker (TRL's assistant_only_loss).
//
// The template engine is github.com/ardanlabs/jinja; its output is checked
// against @huggingface/jinja (the engine transformers.js uses) on the real
// templates in testdata/templates.
package chat

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// ErrTemplate reports a template that does not compile or does not render
// a conversation (a template may refuse one on purpose, e.g. Gemma's when
// roles do not alternate).
var ErrTemplate = errors.New("chat: template")

// Roles of a message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatML is the template of a model that has none: the
// <|im_start|>role … <|im_end|> layout of Qwen and SmolLM, without a
// default system prompt.
const ChatML = "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

// DateString is the date templates that print one (Llama 3's "Today Date")
// are given, so that a rendering does not depend on the day it runs: the
// value Llama 3's own template falls back to.
const DateString = "26 Jul 2024"

// Template is a compiled chat template with the special-token strings it
// may print.
type Template struct {
	Source string // Source is the Jinja text.
	BOS    string // BOS is the text of the beginning-of-sequence token (bos_token).
	EOS    string // EOS is the text of the end-of-sequence token (eos_token).
	t      *jinja.Template
}

// New compiles source; bos and eos are the texts of the model's BOS and EOS
// tokens ("" when it has none).
func New(source, bos, eos string) (*Template, error) {
	t, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	return &Template{Source: source, BOS: bos, EOS: eos, t: t}, nil
}

// Render returns the text of msgs; with addGenerationPrompt it ends with
// what opens an assistant turn, ready for the model to answer.
func (t *Template) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err := t.t.Render(map[string]any{
		"messages":              list,
		"add_generation_prompt": addGenerationPrompt,
		"bos_token":             t.BOS,
		"eos_token":             t.EOS,
		"date_string":           DateString,
	})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	return out, nil
}

// Span is a byte range [Start, End) of a rendered text.
type Span struct{ Start, End int }

// RenderTrained renders msgs and returns the spans of the text that
// training learns: for every assistant message, from where the model's
// answer starts (the end of the same conversation rendered up to that
// message with a generation prompt) through the first end-of-turn marker
// after the message's content (one of ends, e.g. "<|im_end|>"), or the end
// of the turn's text when no marker follows. A template whose rendering of
// a prefix is not a prefix of the whole (Qwen3 drops earlier turns'
// reasoning) falls back to finding the message's content in the text.
func (t *Template) RenderTrained(msgs []Message, ends []string) (string, []Span, error) {
	full, err := t.Render(msgs, false)
	if err != nil {
		return "", nil, err
	}
	var spans []Span
	from := 0 // spans are in order and do not overlap
	for i, m := range msgs {
		if m.Role != RoleAssistant {
			continue
		}
		start, turnEnd, ok := t.turnByPrefix(msgs, i, full)
		if !ok || start < from {
			if start, turnEnd, ok = locate(full, m.Content, from); !ok {
				return "", nil, fmt.Errorf("%w: cannot find assistant message %d in the rendered conversation", ErrTemplate, i+1)
			}
		}
		end := markerEnd(full, start, turnEnd, strings.TrimSpace(m.Content), ends)
		spans = append(spans, Span{start, end})
		from = end
	}
	return full, spans, nil
}

// turnByPrefix returns where assistant message i's turn starts and ends in
// full, from renderings of the conversation up to it.
func (t *Template) turnByPrefix(msgs []Message, i int, full string) (start, end int, ok bool) {
	prompt, err := t.Render(msgs[:i], true)
	if err != nil {
		return 0, 0, false
	}
	through, err := t.Render(msgs[:i+1], false)
	if err != nil || !strings.HasPrefix(through, prompt) || !strings.HasPrefix(full, through) {
		return 0, 0, false
	}
	return len(prompt), len(through), true
}

// locate finds content in full at or after from: the turn is taken to run
// from the content to the end of the text.
func locate(full, content string, from int) (start, end int, ok bool) {
	c := strings.TrimSpace(content)
	k := strings.Index(full[from:], c)
	if k < 0 {
		return 0, 0, false
	}
	return from + k, len(full), true
}

// markerEnd returns the end of the trained span of a turn [start, turnEnd):
// just after the first end marker that follows the content, else turnEnd
// with trailing white space left out.
func markerEnd(full string, start, turnEnd int, content string, ends []string) int {
	after := start
	if content != "" {
		if k := strings.Index(full[start:turnEnd], content); k >= 0 {
			after = start + k + len(content)
		}
	}
	best := -1
	for _, e := range ends {
		if e == "" {
			continue
		}
		if k := strings.Index(full[after:turnEnd], e); k >= 0 && (best < 0 || after+k+len(e) < best) {
			best = after + k + len(e)
		}
	}
	if best >= 0 {
		return best
	}
	return start + len(strings.TrimRight(full[start:turnEnd], " \t\r\n"))
}
