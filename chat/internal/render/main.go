// Command render prints, as JSON, every template in a folder rendered on
// every conversation of a JSON file, with and without the generation
// prompt: the Go side of the comparison with @huggingface/jinja
// (scripts/tests/chat-template.test.mjs).
//
//	go run ./chat/internal/render chat/testdata/templates chat/testdata/conversations.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/webtune/webtune/chat"
)

type conversation struct {
	Name     string         `json:"name"`
	Messages []chat.Message `json:"messages"`
}

type result struct {
	Template     string `json:"template"`
	Conversation string `json:"conversation"`
	Generation   bool   `json:"generation"`
	Text         string `json:"text,omitempty"`
	Error        string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: render TEMPLATE_DIR CONVERSATIONS.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(dir, convFile string) error {
	b, err := os.ReadFile(convFile)
	if err != nil {
		return err
	}
	var convs []conversation
	if err := json.Unmarshal(b, &convs); err != nil {
		return err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.jinja"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	names = append(names, "chatml")
	var out []result
	for _, path := range names {
		src := chat.ChatML
		if path != "chatml" {
			s, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src = string(s)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".jinja")
		t, err := chat.New(src, "<s>", "</s>")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range convs {
			for _, gen := range []bool{false, true} {
				r := result{Template: name, Conversation: c.Name, Generation: gen}
				if r.Text, err = t.Render(c.Messages, gen); err != nil {
					r.Error = err.Error()
				}
				out = append(out, r)
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
