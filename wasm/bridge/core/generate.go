package core

import (
	"context"
	"errors"
	"github.com/webtune/webtune/chat"
	"github.com/webtune/webtune/data"
	"strings"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
)

// GenerateOptions configure Model.Generate.
type GenerateOptions struct {
	MaxTokens   int     `js:"maxTokens" json:"maxTokens"`     // MaxTokens to generate (default 64).
	Temperature float64 `js:"temperature" json:"temperature"` // Temperature (0: greedy).
	TopK        int     `js:"topK" json:"topK"`
	TopP        float64 `js:"topP" json:"topP"`
	Seed        uint64  `js:"seed" json:"seed"`
	// Adapter applies the LoRA adapter (default true); false runs the base
	// model alone.
	Adapter *bool `js:"adapter" json:"adapter"`
	// Logprobs returns the log-softmax over the vocabulary at the last
	// prompt position (to compare with llama.cpp).
	Logprobs bool `js:"logprobs" json:"logprobs"`
	// Chat makes the prompt a user message: rendered with the model's chat
	// template (ChatTemplate overrides it; ChatML when it has none) after an
	// optional System message, and generation stops at the end of the turn.
	Chat         bool   `js:"chat" json:"chat"`
	System       string `js:"system" json:"system"`
	ChatTemplate string `js:"chatTemplate" json:"chatTemplate"`
}

// Generation is the result of Generate.
type Generation struct {
	Text    string `js:"text" json:"text"`       // the generated continuation
	Tokens  []int  `js:"tokens" json:"tokens"`   // its token ids
	Prompt  []int  `js:"prompt" json:"prompt"`   // the prompt's token ids (BOS included when the vocab adds it)
	Adapter bool   `js:"adapter" json:"adapter"` // whether the adapter was applied
	// logprobs is the next-token log-softmax after the prompt [V], when
	// asked for; unexported so that vert leaves it alone and the bridge
	// copies it to a Float32Array at once.
	logprobs []float32
}

// Logprobs returns the next-token log-softmax after the prompt [V] (nil
// unless GenerateOptions.Logprobs).
func (g Generation) Logprobs() []float32 { return g.logprobs }

// Generate continues prompt. With Adapter false and LoRA injected, the
// adapters' B matrices are zeroed for the call (the exact base output) and
// put back afterwards; a run in progress waits for it between two steps.
func (m *Model) Generate(ctx context.Context, prompt string, o GenerateOptions) (Generation, error) {
	if m.tok == nil {
		return Generation{}, ErrNoTokenizer
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 64
	}
	ids := m.tok.Encode(prompt, true)
	stop := m.tok.EOG() // EOS, end-of-turn and the other tokens llama.cpp stops at
	if o.Chat {
		var err error
		if ids, err = m.chatPrompt(prompt, o); err != nil {
			return Generation{}, err
		}
		stop = append(stop, data.EndTokens(m.tok)...)
	}
	if len(ids) == 0 {
		return Generation{}, errors.New("webtune: empty prompt")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.m.Config.ContextLength; len(ids) >= c {
		ids = ids[len(ids)-c+1:]
	}
	useAdapter := o.Adapter == nil || *o.Adapter
	if !useAdapter {
		defer m.withoutAdapter()()
	}
	out, lp, err := m.m.Generate(ctx, ids, llama.SampleOptions{MaxTokens: o.MaxTokens, Temperature: o.Temperature,
		TopK: o.TopK, TopP: o.TopP, Seed: o.Seed, Stop: stop})
	if err != nil {
		return Generation{}, err
	}
	text := strings.ToValidUTF8(m.tok.Decode(out), "\uFFFD")
	g := Generation{Text: text, Tokens: out, Prompt: ids, Adapter: useAdapter && m.lora != nil}
	if o.Logprobs {
		g.logprobs = make([]float32, len(lp))
		for i, x := range lp {
			g.logprobs[i] = float32(x)
		}
	}
	return g, nil
}

// withoutAdapter zeroes every LoRA B and returns the function that restores
// them.
func (m *Model) withoutAdapter() func() {
	var saved [][]float32
	ls := lora.Adapters[float32](m.m)
	for _, l := range ls {
		b := l.B.Value.Data()
		saved = append(saved, append([]float32(nil), b...))
		clear(b)
	}
	return func() {
		for i, l := range ls {
			copy(l.B.Value.Data(), saved[i])
		}
	}
}

// chatPrompt renders the system and user messages with the chat template
// and a generation prompt, tokenized with special tokens parsed.
func (m *Model) chatPrompt(prompt string, o GenerateOptions) ([]int, error) {
	tmpl, _, err := data.Template(m.chatTemplate, o.ChatTemplate, m.tok)
	if err != nil {
		return nil, err
	}
	var msgs []chat.Message
	if o.System != "" {
		msgs = append(msgs, chat.Message{Role: chat.RoleSystem, Content: o.System})
	}
	text, err := tmpl.Render(append(msgs, chat.Message{Role: chat.RoleUser, Content: prompt}), true)
	if err != nil {
		return nil, err
	}
	return m.tok.Tokenize(text, false, true), nil
}
