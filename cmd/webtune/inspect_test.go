package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// runCLI runs the CLI in-process and returns its exit status, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeInspectFile writes a small model with long arrays, a long string, non-finite floats and
// four tensor types.
func writeInspectFile(t *testing.T) string {
	t.Helper()
	w := gguf.NewWriter()
	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok%d", i)
	}
	for _, kv := range []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "llama.block_count", Value: gguf.Uint32(2)},
		{Key: "llama.rope.freq_base", Value: gguf.Float32(10000)},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Strings(tokens)},
		{Key: "tokenizer.chat_template", Value: gguf.String(strings.Repeat("é", 200))},
		{Key: "test.bytes", Value: gguf.Array(gguf.ValueUint8, []uint8{1, 2, 250})},
		{Key: "test.nonfinite", Value: gguf.Float32s([]float32{float32(math.NaN()), float32(math.Inf(-1)), 1.25})},
		{Key: "test.flag", Value: gguf.Bool(true)},
		{Key: "test.i64", Value: gguf.Int64(-7)},
	} {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		typ  gguf.TensorType
		dims []uint64
	}{
		{"token_embd.weight", gguf.TypeF32, []uint64{64, 4}},
		{"blk.0.attn_q.weight", gguf.TypeQ8_0, []uint64{64, 2}},
		{"blk.0.attn_k.weight", gguf.TypeQ4_0, []uint64{32, 1}},
		{"output_norm.weight", gguf.TypeF16, []uint64{64}},
	} {
		n := 1
		for _, d := range tt.dims {
			n *= int(d)
		}
		if err := w.AddTensorF32(tt.name, tt.dims, make([]float32, n), tt.typ); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "model.gguf")
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspectJSON(t *testing.T) {
	path := writeInspectFile(t)
	code, out, errOut := runCLI("inspect", "--json", path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, `{"version":3,"alignment":32,"metadata":{"general.architecture":"llama","llama.block_count":2,`) {
		t.Fatalf("unexpected start: %.120s", out)
	}
	var got struct {
		Version   int
		Alignment int
		Metadata  map[string]any
		Tensors   []struct {
			Name   string
			Type   string
			Dims   []uint64
			Offset uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if toks := got.Metadata["tokenizer.ggml.tokens"].([]any); len(toks) != 100 || toks[99] != "tok99" {
		t.Errorf("tokens not in full: %d", len(toks))
	}
	for key, want := range map[string]any{
		"llama.rope.freq_base": 10000.0, "test.bytes": []any{1.0, 2.0, 250.0}, "test.flag": true,
		"test.nonfinite": []any{"NaN", "-Inf", 1.25}, "test.i64": -7.0,
		"tokenizer.chat_template": strings.Repeat("é", 200),
	} {
		if !reflect.DeepEqual(got.Metadata[key], want) {
			t.Errorf("%s = %#v, want %#v", key, got.Metadata[key], want)
		}
	}
	wantT := []string{"token_embd.weight F32 [64 4] 0", "blk.0.attn_q.weight Q8_0 [64 2] 1024",
		"blk.0.attn_k.weight Q4_0 [32 1] 1184", "output_norm.weight F16 [64] 1216"}
	for i, tt := range got.Tensors {
		if s := fmt.Sprintf("%s %s %v %d", tt.Name, tt.Type, tt.Dims, tt.Offset); s != wantT[i] {
			t.Errorf("tensor %d: %s, want %s", i, s, wantT[i])
		}
	}
}

func TestInspectText(t *testing.T) {
	path := writeInspectFile(t)
	code, out, _ := runCLI("inspect", path)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"version:   3", "alignment: 32",
		`tokenizer.ggml.tokens    ARRAY[STRING] (100)  ["tok0" "tok1"`, `"tok7" ... (92 more)]`,
		"... (400 bytes)", "test.nonfinite", "[NaN -Inf 1.25]",
		"blk.0.attn_q.weight  Q8_0  [64 2]  1024    136",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	hostile := append([]byte("GGUF\x03\x00\x00\x00"), make([]byte, 192)...)
	hostile[8+5] = 1 // tensor count 2^40
	os.WriteFile(bad, hostile, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no file", []string{"inspect"}, "usage: webtune inspect"},
		{"two files", []string{"inspect", bad, bad}, "usage: webtune inspect"},
		{"missing file", []string{"inspect", filepath.Join(dir, "nope.gguf")}, "nope.gguf"},
		{"hostile file", []string{"inspect", bad}, "offset 8"},
		{"bad flag", []string{"inspect", "--yaml", bad}, "flag provided but not defined"},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q (want %q)", tc.name, code, out, errOut, tc.want)
		}
		if tc.name == "hostile file" && strings.Count(errOut, "\n") != 1 {
			t.Errorf("error is not one line: %q", errOut)
		}
	}
}
