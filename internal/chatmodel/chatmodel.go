// Package chatmodel writes a tiny instruct-shaped llama model and a chat
// data set for the end-to-end tests of chat fine-tuning (cmd/webtune's
// TestChatEndToEnd and, through `go run ./internal/chatmodel/gen OUTDIR`,
// scripts/tests/chat-interop.test.mjs).
//
// DIR/chat-base.gguf is a random-weight llama model whose byte-level BPE
// vocabulary has SmolLM2's special tokens (<|im_start|>, <|im_end|> as
// control tokens; <|im_end|> is EOS) and SmolLM2's chat template in
// tokenizer.chat_template. DIR/chat.jsonl holds 50 conversations whose
// assistant always answers in one fixed JSON format.
package chatmodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// Answer is what the assistant always says.
const Answer = `{"answer": "ok"}`

// Template is SmolLM2-Instruct's chat template.
const Template = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

var questions = []string{
	"What is the weather like", "Tell me about cats", "How do I bake bread", "Where is the station",
	"Can you help me", "What time is it", "Who wrote this book", "Why is the sky blue",
	"How far is the moon", "What should I cook tonight",
}

// Conversations returns the data set: 50 questions (some with a system
// message), each answered with Answer.
func Conversations() []map[string]any {
	var out []map[string]any
	for i := range 50 {
		q := fmt.Sprintf("%s, number %d?", questions[i%len(questions)], i)
		msgs := []map[string]string{}
		if i%5 == 0 {
			msgs = append(msgs, map[string]string{"role": "system", "content": "Answer in JSON."})
		}
		msgs = append(msgs, map[string]string{"role": "user", "content": q}, map[string]string{"role": "assistant", "content": Answer})
		out = append(out, map[string]any{"messages": msgs})
	}
	return out
}

// Write writes chat-base.gguf and chat.jsonl into dir.
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var jsonl bytes.Buffer
	var corpus strings.Builder
	for _, c := range Conversations() {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		jsonl.Write(b)
		jsonl.WriteByte('\n')
		for _, m := range c["messages"].([]map[string]string) {
			corpus.WriteString(m["role"] + "\n" + m["content"] + "\n")
		}
	}
	corpus.WriteString("You are a helpful AI assistant named SmolLM, trained by Hugging Face\n")
	v, err := tokenizer.TrainBPE(corpus.String(), tokenizer.BPEOptions{Pre: "llama3", Merges: 200})
	if err != nil {
		return err
	}
	// SmolLM2's specials: <|im_start|> and <|im_end|> replace the trained
	// BOS and EOS texts; no BOS is added (the template writes everything).
	v.Tokens[v.BOS], v.Tokens[v.EOS] = "<|im_start|>", "<|im_end|>"
	v.AddBOS = false
	tok, err := tokenizer.New(v)
	if err != nil {
		return err
	}
	cfg := llama.Config{VocabSize: tok.VocabSize(), Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16,
		FFN: 128, Eps: 1e-5, RopeBase: 10000, ContextLength: 256}
	m := llama.NewRandom[float32](cfg, 42)
	kvs := append(tok.GGUFKVs(), gguf.KV{Key: "tokenizer.chat_template", Value: gguf.String(Template)})
	var buf bytes.Buffer
	if err := llama.SaveAs(&buf, m, gguf.TypeF32, kvs...); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "chat-base.gguf"), buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chat.jsonl"), jsonl.Bytes(), 0o644)
}
