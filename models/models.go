// Package models ships webtune's built-in base model, embedded in the binary
// with go:embed so that a Go program gets a working model with no download
// and no file path: a llama-architecture model of about 0.93 M parameters
// trained from scratch by `webtune pretrain` on generated children's stories
// (scripts/train-builtin.sh reproduces it; the model card is
// web/models/webtune-stories-1m.md, the same file is served as
// web/models/webtune-stories-1m.gguf).
//
//	m, f, err := models.Load()           // *llama.Model[float32], its GGUF
//	tok, err := tokenizer.FromGGUF(f)    // its BPE tokenizer
package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	_ "embed"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
)

// BuiltinName is the built-in model's name (its general.name).
const BuiltinName = "webtune-stories-1m"

// BuiltinFile is the built-in model's file name, here and under web/models/.
const BuiltinFile = BuiltinName + ".gguf"

//go:embed webtune-stories-1m.gguf
var builtin []byte

// Builtin returns the built-in model's GGUF bytes. The slice is shared:
// callers must not modify it.
func Builtin() []byte { return builtin }

// Open parses the built-in model's GGUF header (metadata and tensor infos).
func Open() (*gguf.File, error) {
	f, err := gguf.Open(bytes.NewReader(builtin), int64(len(builtin)))
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", BuiltinFile, err)
	}
	return f, nil
}

// Load loads the built-in model for inference or fine-tuning (frozen
// weights, as llama.Load; opt.QLoRA holds the block linears in NF4).
func Load(opt llama.LoadOptions) (*llama.Model[float32], *gguf.File, error) {
	m, f, err := llama.Load[float32](bytes.NewReader(builtin), int64(len(builtin)), opt)
	if err != nil {
		return nil, nil, fmt.Errorf("models: %s: %w", BuiltinFile, err)
	}
	return m, f, nil
}

// Path returns the path of a file holding the built-in model, for code that
// opens models by path (the CLI's default --model, llama.cpp): it writes the
// embedded bytes once to the user's cache directory, under a name that
// carries their hash, and reuses that file afterwards.
func Path() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	sum := sha256.Sum256(builtin)
	dir = filepath.Join(dir, "webtune")
	path := filepath.Join(dir, BuiltinName+"-"+hex.EncodeToString(sum[:6])+".gguf")
	if st, err := os.Stat(path); err == nil && st.Size() == int64(len(builtin)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".builtin-*")
	if err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(builtin); err != nil {
		tmp.Close()
		return "", fmt.Errorf("models: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	return path, nil
}
