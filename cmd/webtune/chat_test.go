package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/webtune/webtune/internal/chatmodel"
)

// TestChatEndToEnd trains an instruct-shaped model (random weights,
// SmolLM2's special tokens and chat template) on 50 conversations whose
// assistant always gives one JSON answer: the loss on the assistant tokens
// falls below 0.1, and `generate --chat` then gives that answer to
// questions it never saw, stopping at the end of the turn.
func TestChatEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := chatmodel.Write(dir); err != nil {
		t.Fatal(err)
	}
	base, jsonl, adapter := filepath.Join(dir, "chat-base.gguf"), filepath.Join(dir, "chat.jsonl"), filepath.Join(dir, "a.gguf")
	var out, errb bytes.Buffer
	err := runTrain(context.Background(), []string{"--model", base, "--data", jsonl, "--out", adapter,
		"--targets", "all-linear,output", "--rank", "8", "--alpha", "16", "--lr", "1e-2", "--steps", "60",
		"--batch", "4", "--seq-len", "96", "--seed", "1"}, &out, &errb)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, errb.String())
	}
	log := errb.String()
	if !strings.Contains(log, "50 messages examples") || !strings.Contains(log, "chat template: the model's own") {
		t.Errorf("summary line missing or wrong:\n%s", log)
	}
	m := regexp.MustCompile(`step 60/60 loss ([0-9.]+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no final loss in\n%s", log)
	}
	if loss, _ := strconv.ParseFloat(m[1], 64); loss >= 0.1 {
		t.Errorf("loss on assistant tokens %g after 60 steps, want < 0.1", loss)
	}
	for _, q := range []string{"How do I bake bread, number 77?", "Where do penguins live?", "hello"} {
		r := runJSON(t, "--model", base, "--lora", adapter, "--chat", "--prompt", q, "--temperature", "0", "--max-tokens", "40", "--json")
		if r.Text != chatmodel.Answer {
			t.Errorf("%q: answer %q, want %q", q, r.Text, chatmodel.Answer)
		}
		if len(r.Tokens) >= 40 {
			t.Errorf("%q: generation did not stop at the end of the turn (%d tokens)", q, len(r.Tokens))
		}
	}
	// the base model does not give the answer
	if r := runJSON(t, "--model", base, "--chat", "--prompt", "hello", "--temperature", "0", "--max-tokens", "20", "--json"); r.Text == chatmodel.Answer {
		t.Error("the untrained base already answers in the format: the test proves nothing")
	}
}

// TestDataCommand: `webtune data --json` prints one object per example
// with the rendered text, ids and a 0/1 per token; the trained tokens
// spell the assistant's answer and its end-of-turn token, nothing else.
func TestDataCommand(t *testing.T) {
	dir := t.TempDir()
	if err := chatmodel.Write(dir); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runData(context.Background(), []string{"--model", filepath.Join(dir, "chat-base.gguf"), "--data", filepath.Join(dir, "chat.jsonl"), "--json"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	lm, err := loadModel(filepath.Join(dir, "chat-base.gguf"), false)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d JSON lines, want 50", len(lines))
	}
	for i, line := range lines {
		var e struct {
			Text    string `json:"text"`
			Tokens  []int  `json:"tokens"`
			Trained []int  `json:"trained"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if len(e.Tokens) != len(e.Trained) || !strings.Contains(e.Text, "<|im_start|>assistant\n") {
			t.Fatalf("example %d: %d tokens, %d flags, text %q", i, len(e.Tokens), len(e.Trained), e.Text)
		}
		var trained strings.Builder
		for k, id := range e.Tokens {
			if e.Trained[k] == 1 {
				trained.WriteString(lm.Tok.Piece(id, true))
			}
		}
		if got, want := trained.String(), chatmodel.Answer+"<|im_end|>"; got != want {
			t.Errorf("example %d trains %q, want %q", i, got, want)
		}
	}
	if !strings.Contains(errb.String(), "50 messages examples") {
		t.Errorf("summary: %q", errb.String())
	}
}
