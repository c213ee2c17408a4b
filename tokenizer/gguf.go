package tokenizer

import (
	"errors"
	"fmt"

	"github.com/webtune/webtune/gguf"
)

// GGUF metadata keys of the tokenizer (llama-arch.cpp LLM_KV_TOKENIZER_*).
const (
	KeyModel          = "tokenizer.ggml.model"
	KeyPre            = "tokenizer.ggml.pre"
	KeyTokens         = "tokenizer.ggml.tokens"
	KeyScores         = "tokenizer.ggml.scores"
	KeyTokenType      = "tokenizer.ggml.token_type"
	KeyMerges         = "tokenizer.ggml.merges"
	KeyBOS            = "tokenizer.ggml.bos_token_id"
	KeyEOS            = "tokenizer.ggml.eos_token_id"
	KeyUNK            = "tokenizer.ggml.unknown_token_id"
	KeyPAD            = "tokenizer.ggml.padding_token_id"
	KeyAddBOS         = "tokenizer.ggml.add_bos_token"
	KeyAddEOS         = "tokenizer.ggml.add_eos_token"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
)

// FromGGUF reads the tokenizer of a GGUF file the way llama.cpp's
// llama_vocab::load does: the defaults of the model type ("llama": bos 1,
// eos 2, unk 0, add_bos, space prefix; "gpt2": bos = eos = 11, add_bos for
// the llama3 family), overridden by the keys present. Keys of the wrong type
// are errors (llama.cpp throws too); special ids out of range keep the default.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	v, err := VocabFromGGUF(f)
	if err != nil {
		return nil, err
	}
	return New(v)
}

// VocabFromGGUF is FromGGUF without building the tokenizer.
func VocabFromGGUF(f *gguf.File) (Vocab, error) {
	var v Vocab
	var err error
	if v.Model, err = f.GetString(KeyModel); err != nil {
		return v, fmt.Errorf("tokenizer: %w", err)
	}
	if v.Pre, err = optional(f.GetString(KeyPre)); err != nil {
		return v, err
	}
	if v.Tokens, err = f.GetStrings(KeyTokens); err != nil {
		return v, fmt.Errorf("tokenizer: %w", err)
	}
	n := len(v.Tokens)
	if err := readScores(f, &v, n); err != nil {
		return v, err
	}
	if types, err := optional(f.GetInt32s(KeyTokenType)); err != nil {
		return v, err
	} else if types != nil {
		if len(types) < n {
			return v, invalid("%d token types for %d tokens", len(types), n)
		}
		v.Types = types[:n]
	}
	v.BOS, v.EOS, v.UNK, v.PAD = -1, -1, -1, -1
	switch v.Model {
	case "llama":
		v.BOS, v.EOS, v.UNK = 1, 2, 0
		v.AddBOS, v.AddSpacePrefix = true, true
	case "gpt2":
		if v.Merges, err = f.GetStrings(KeyMerges); err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
		v.BOS, v.EOS = 11, 11
		info, ok := preNames[v.Pre]
		if !ok {
			return v, fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, v.Pre)
		}
		v.AddBOS = info.addBOS
	default:
		return v, fmt.Errorf("%w: tokenizer model %q", ErrUnsupported, v.Model)
	}
	for _, s := range []struct {
		key string
		id  *int
	}{{KeyBOS, &v.BOS}, {KeyEOS, &v.EOS}, {KeyUNK, &v.UNK}, {KeyPAD, &v.PAD}} {
		if *s.id >= n {
			*s.id = -1
		}
		x, err := optional(f.GetUint32(s.key))
		if err != nil {
			return v, err
		}
		if _, present := f.Value(s.key); present && int64(x) < int64(n) {
			*s.id = int(x)
		}
	}
	if err := readRoles(f, &v, n); err != nil {
		return v, err
	}
	for _, s := range []struct {
		key string
		b   *bool
	}{{KeyAddBOS, &v.AddBOS}, {KeyAddEOS, &v.AddEOS}, {KeyAddSpacePrefix, &v.AddSpacePrefix}} {
		x, err := optional(f.GetBool(s.key))
		if err != nil {
			return v, err
		}
		if _, present := f.Value(s.key); present {
			*s.b = x
		}
	}
	return v, nil
}

// readRoles reads tokenizer.ggml.<role>_token_id for every role (the
// deprecated FIM keys last, so they win), ignoring ids out of range as
// llama.cpp does.
func readRoles(f *gguf.File, v *Vocab, n int) error {
	read := func(role, key string) error {
		x, err := optional(f.GetUint32(key))
		if err != nil {
			return err
		}
		if _, present := f.Value(key); present && int64(x) < int64(n) {
			if v.Special == nil {
				v.Special = map[string]int{}
			}
			v.Special[role] = int(x)
		}
		return nil
	}
	for _, r := range roles {
		if err := read(r.name, r.key); err != nil {
			return err
		}
	}
	for _, r := range deprecatedRoleKeys {
		if err := read(r.name, r.key); err != nil {
			return err
		}
	}
	return nil
}

// optional turns a missing key into the zero value; other errors are wrapped.
func optional[T any](x T, err error) (T, error) {
	if errors.Is(err, gguf.ErrNotFound) {
		var zero T
		return zero, nil
	}
	if err != nil {
		return x, fmt.Errorf("tokenizer: %w", err)
	}
	return x, nil
}

// readScores accepts FLOAT32 or INT32 score arrays of at least n elements.
func readScores(f *gguf.File, v *Vocab, n int) error {
	val, ok := f.Value(KeyScores)
	if !ok {
		return nil
	}
	switch s := val.Any().(type) {
	case []float32:
		if len(s) < n {
			return invalid("%d scores for %d tokens", len(s), n)
		}
		v.Scores = s[:n]
	case []int32:
		if len(s) < n {
			return invalid("%d scores for %d tokens", len(s), n)
		}
		v.Scores = make([]float32, n)
		for i := range v.Scores {
			v.Scores[i] = float32(s[i])
		}
	default:
		_, err := f.GetFloat32s(KeyScores)
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// GGUFKVs returns the metadata that stores this tokenizer in a GGUF file, in
// the order a writer should add them. Every flag is written explicitly, so
// llama.cpp loads the file with exactly this tokenizer's behaviour.
func (t *Tokenizer) GGUFKVs() []gguf.KV {
	v := &t.v
	kvs := []gguf.KV{{Key: KeyModel, Value: gguf.String(v.Model)}}
	if t.model == modelBPE {
		kvs = append(kvs, gguf.KV{Key: KeyPre, Value: gguf.String(v.Pre)})
	}
	kvs = append(kvs, gguf.KV{Key: KeyTokens, Value: gguf.Strings(v.Tokens)})
	if v.Scores != nil {
		kvs = append(kvs, gguf.KV{Key: KeyScores, Value: gguf.Float32s(v.Scores)})
	}
	if v.Types != nil {
		kvs = append(kvs, gguf.KV{Key: KeyTokenType, Value: gguf.Int32s(v.Types)})
	}
	if t.model == modelBPE {
		merges := v.Merges
		if merges == nil {
			merges = []string{}
		}
		kvs = append(kvs, gguf.KV{Key: KeyMerges, Value: gguf.Strings(merges)})
	}
	for _, s := range []struct {
		key string
		id  int
	}{{KeyBOS, v.BOS}, {KeyEOS, v.EOS}, {KeyUNK, v.UNK}, {KeyPAD, v.PAD}} {
		if s.id >= 0 {
			kvs = append(kvs, gguf.KV{Key: s.key, Value: gguf.Uint32(uint32(s.id))})
		}
	}
	for _, r := range roles {
		if id, ok := v.Special[r.name]; ok {
			kvs = append(kvs, gguf.KV{Key: r.key, Value: gguf.Uint32(uint32(id))})
		}
	}
	kvs = append(kvs,
		gguf.KV{Key: KeyAddBOS, Value: gguf.Bool(v.AddBOS)},
		gguf.KV{Key: KeyAddEOS, Value: gguf.Bool(v.AddEOS)},
		gguf.KV{Key: KeyAddSpacePrefix, Value: gguf.Bool(v.AddSpacePrefix)},
	)
	return kvs
}
