package core

import (
	"sync"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/models"
)

// Builtin returns the name and GGUF bytes of the built-in model: the model
// the project ships (package models, which go:embeds
// webtune-stories-1m.gguf, a llama model trained on generated children's
// stories with its own BPE tokenizer). The bytes are shared: callers must
// not modify them.
func Builtin() (string, []byte, error) {
	return models.BuiltinName, models.Builtin(), nil
}

var (
	builtinCfgOnce sync.Once
	builtinCfg     llama.Config
)

// BuiltinConfig returns the shape of the built-in model, read from its
// GGUF header (the zero Config if that cannot be parsed, which
// models' own tests rule out).
func BuiltinConfig() llama.Config {
	builtinCfgOnce.Do(func() {
		f, err := models.Open()
		if err != nil {
			return
		}
		builtinCfg, _ = llama.ConfigFromGGUF(f)
	})
	return builtinCfg
}

// LoadBuiltin loads the built-in model.
func LoadBuiltin(qlora bool) (*Model, error) {
	name, b, err := Builtin()
	if err != nil {
		return nil, err
	}
	return LoadModel(b, LoadOptions{Name: name, QLoRA: qlora})
}
