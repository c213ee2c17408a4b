package core

import (
	"bytes"
	"sync"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// Builtin returns the name and GGUF bytes of the built-in model. It is the
// one hook for the model the project ships (package models, which
// go:embeds web/models' webtune-stories-1m.gguf): once that file exists the
// body becomes
//
//	return models.BuiltinName, models.Builtin(), nil
//
// Until then it returns "builtin", a small seeded random llama model with
// the byte-level SentencePiece vocabulary, which trains, saves adapters that
// llama.cpp loads, and generates (noise, until trained).
var Builtin = func() (string, []byte, error) {
	builtinOnce.Do(func() { builtinBytes, builtinErr = randomBuiltin() })
	return "builtin", builtinBytes, builtinErr
}

var (
	builtinOnce  sync.Once
	builtinBytes []byte
	builtinErr   error
)

// BuiltinConfig is the shape of the random stand-in for the built-in model:
// the byte vocabulary (260 tokens), width 96, 4 blocks of 4 heads (2 KV
// heads), feed-forward 256, context 256: about 0.5 M parameters.
func BuiltinConfig() llama.Config {
	return llama.Config{VocabSize: len(tokenizer.ByteVocab().Tokens), Dim: 96, Layers: 4, Heads: 4, KVHeads: 2,
		HeadDim: 24, FFN: 256, Eps: 1e-5, RopeBase: 10000, ContextLength: 256}
}

// randomBuiltin builds the stand-in model's GGUF bytes.
func randomBuiltin() ([]byte, error) {
	tok, err := tokenizer.New(tokenizer.ByteVocab())
	if err != nil {
		return nil, err
	}
	m := llama.NewRandom[float32](BuiltinConfig(), 42)
	var buf bytes.Buffer
	if err := llama.Save(&buf, m, tok.GGUFKVs()...); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// LoadBuiltin loads the built-in model.
func LoadBuiltin(qlora bool) (*Model, error) {
	name, b, err := Builtin()
	if err != nil {
		return nil, err
	}
	return LoadModel(b, LoadOptions{Name: name, QLoRA: qlora})
}
