package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestGenerateDefaultsToBuiltin runs generate without --model: the built-in
// story model answers, and its greedy continuation is story text.
func TestGenerateDefaultsToBuiltin(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"generate", "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res struct {
		Tokens []int  `json:"tokens"`
		Text   string `json:"text"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bad JSON %q: %v", out.String(), err)
	}
	if len(res.Tokens) == 0 || !strings.Contains(strings.ToLower(res.Text), "there") {
		t.Fatalf("built-in model gave %q (tokens %v), want a story opening", res.Text, res.Tokens)
	}
}
