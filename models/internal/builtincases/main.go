// Command builtincases prints, as JSON, what webtune computes on a model
// file for scripts/tests/builtin-model.test.mjs to compare with llama.cpp:
// token ids of a few texts and greedy continuations of a few prompts.
//
//	go run ./models/internal/builtincases web/models/webtune-stories-1m.gguf
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// Texts are tokenized; they cover the corpus's style and text it never saw.
var texts = []string{
	"Once upon a time, there was a little girl named Lily.",
	`"Hello, little fox," said Ben. "Why are you sad?"`,
	"The end.",
	"Arr, matey! Shiver me timbers, the treasure be buried on Skull Island.",
	"Numbers 12345 and tabs\tand  double  spaces\nnew line, émigré café 日本",
	" leading space",
}

// Prompts are continued greedily.
var prompts = []string{"Once upon a time", "One day, Tom went to the park with his dog."}

type textCase struct {
	Text    string `json:"text"`
	IDs     []int  `json:"ids"`    // no BOS (llama.cpp model.tokenize)
	IDsBOS  []int  `json:"idsBOS"` // with add_special
	Decoded string `json:"decoded"`
}

type genCase struct {
	Prompt    string `json:"prompt"`
	PromptIDs []int  `json:"promptIds"`
	Tokens    []int  `json:"tokens"`
	Text      string `json:"text"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: builtincases model.gguf")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "builtincases:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	m, f, err := llama.Load[float32](fh, st.Size(), llama.LoadOptions{})
	if err != nil {
		return err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return err
	}
	out := struct {
		VocabSize int        `json:"vocabSize"`
		BOS       int        `json:"bos"`
		EOS       int        `json:"eos"`
		Texts     []textCase `json:"texts"`
		Greedy    []genCase  `json:"greedy"`
	}{VocabSize: tok.VocabSize(), BOS: tok.BOS(), EOS: tok.EOS()}
	for _, t := range texts {
		ids := tok.Encode(t, false)
		out.Texts = append(out.Texts, textCase{Text: t, IDs: ids, IDsBOS: tok.Encode(t, true), Decoded: tok.Decode(ids)})
	}
	for _, p := range prompts {
		ids := tok.Encode(p, true)
		gen, _, err := m.Generate(context.Background(), ids, llama.SampleOptions{MaxTokens: 48, Stop: []int{tok.EOS()}})
		if err != nil {
			return err
		}
		out.Greedy = append(out.Greedy, genCase{Prompt: p, PromptIDs: ids, Tokens: gen, Text: tok.Decode(gen)})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
