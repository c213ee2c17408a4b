package pretrain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// ErrConfig reports an invalid model config or options.
var ErrConfig = errors.New("pretrain: bad config")

// Tokenizer choices of Config.Tokenizer.
const (
	TokenizerByte = "byte" // llama.cpp's minimal SentencePiece byte vocabulary (tokenizer.ByteVocab)
	TokenizerBPE  = "bpe"  // byte-level BPE ("gpt2") learned from the corpus (tokenizer.TrainBPE)
)

// Config names a model to train from scratch: the architecture sizes and
// the tokenizer. It is the JSON of `webtune pretrain --config`, e.g.
//
//	{"name": "tiny", "dim": 128, "layers": 4, "heads": 4, "ffn": 384,
//	 "context_length": 256, "tokenizer": "bpe", "vocab_size": 1024}
type Config struct {
	Name          string  `json:"name"`              // Name is general.name.
	Dim           int     `json:"dim"`               // Dim is n_embd.
	Layers        int     `json:"layers"`            // Layers is n_layer.
	Heads         int     `json:"heads"`             // Heads is n_head.
	KVHeads       int     `json:"kv_heads"`          // KVHeads is n_head_kv (default Heads).
	FFN           int     `json:"ffn"`               // FFN is n_ff (default the multiple of 32 nearest 8/3·Dim).
	ContextLength int     `json:"context_length"`    // ContextLength is llama.context_length (default 256).
	TiedOutput    bool    `json:"tied_output"`       // TiedOutput shares token_embd with the output head.
	Eps           float32 `json:"rms_eps"`           // Eps is the RMSNorm epsilon (default 1e-5).
	RopeBase      float32 `json:"rope_base"`         // RopeBase is the RoPE frequency base (default 10000).
	Tokenizer     string  `json:"tokenizer"`         // Tokenizer is "byte" or "bpe" (default "bpe").
	VocabSize     int     `json:"vocab_size"`        // VocabSize is the BPE vocabulary size at most (default 1024; "bpe" only).
	Pre           string  `json:"pre"`               // Pre is the BPE pre-tokenizer (default "llama3"; "bpe" only).
	WeightType    string  `json:"weight_type"`       // WeightType stores the 2-D weights as "F32" (default) or "F16".
	MinFrequency  int     `json:"bpe_min_frequency"` // MinFrequency stops BPE merges below this pair count (default 2).
}

// ParseConfig decodes a JSON config (unknown fields are errors), fills the
// defaults and validates it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	c = c.WithDefaults()
	return c, c.Validate()
}

// WithDefaults returns c with zero fields filled.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = "webtune-pretrained"
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.FFN == 0 {
		c.FFN = max(32, (8*c.Dim/3+16)/32*32)
	}
	if c.ContextLength == 0 {
		c.ContextLength = 256
	}
	if c.Eps == 0 {
		c.Eps = 1e-5
	}
	if c.RopeBase == 0 {
		c.RopeBase = 10000
	}
	if c.Tokenizer == "" {
		c.Tokenizer = TokenizerBPE
	}
	if c.Tokenizer == TokenizerBPE {
		if c.VocabSize == 0 {
			c.VocabSize = 1024
		}
		if c.Pre == "" {
			c.Pre = "llama3"
		}
	}
	if c.WeightType == "" {
		c.WeightType = "F32"
	}
	return c
}

// Validate checks the sizes and choices (the vocabulary size of the byte
// tokenizer is fixed, so only BPE sizes are checked here).
func (c Config) Validate() error {
	switch {
	case c.Tokenizer != TokenizerByte && c.Tokenizer != TokenizerBPE:
		return fmt.Errorf("%w: tokenizer %q (want %q or %q)", ErrConfig, c.Tokenizer, TokenizerByte, TokenizerBPE)
	case c.Tokenizer == TokenizerBPE && (c.VocabSize < 258 || c.VocabSize > 1<<16):
		return fmt.Errorf("%w: BPE vocab size %d outside [258, 65536] (256 bytes + BOS + EOS at least)", ErrConfig, c.VocabSize)
	case c.Heads <= 0 || c.Dim <= 0 || c.Dim%c.Heads != 0:
		return fmt.Errorf("%w: dim %d not a positive multiple of heads %d", ErrConfig, c.Dim, c.Heads)
	case c.WeightType != "F32" && c.WeightType != "F16":
		return fmt.Errorf("%w: weight type %q (want F32 or F16)", ErrConfig, c.WeightType)
	case c.WeightType == "F16" && c.Dim%32 != 0:
		return fmt.Errorf("%w: F16 weights need dim %d a multiple of 32", ErrConfig, c.Dim)
	}
	if err := c.Llama(c.vocabGuess()).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// vocabGuess is the vocabulary size used to validate before the tokenizer
// exists.
func (c Config) vocabGuess() int {
	if c.Tokenizer == TokenizerByte {
		return len(tokenizer.ByteVocab().Tokens)
	}
	return c.VocabSize
}

// Llama returns the llama config of c with vocabulary size vocab.
func (c Config) Llama(vocab int) llama.Config {
	hd := 0
	if c.Heads > 0 {
		hd = c.Dim / c.Heads
	}
	return llama.Config{VocabSize: vocab, Dim: c.Dim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		HeadDim: hd, FFN: c.FFN, Eps: c.Eps, RopeBase: c.RopeBase, ContextLength: c.ContextLength,
		TiedOutput: c.TiedOutput}
}

// weightType returns the GGUF type of the 2-D weights.
func (c Config) weightType() gguf.TensorType {
	if c.WeightType == "F16" {
		return gguf.TypeF16
	}
	return gguf.TypeF32
}

// BuildTokenizer returns the tokenizer of c: the byte vocabulary, or a BPE
// vocabulary of at most VocabSize tokens learned from text (deterministic).
func (c Config) BuildTokenizer(text string) (*tokenizer.Tokenizer, error) {
	var v tokenizer.Vocab
	switch c.Tokenizer {
	case TokenizerByte:
		v = tokenizer.ByteVocab()
	case TokenizerBPE:
		var err error
		v, err = tokenizer.TrainBPE(text, tokenizer.BPEOptions{Pre: c.Pre, Merges: c.VocabSize - 258, MinFrequency: c.MinFrequency})
		if err != nil {
			return nil, fmt.Errorf("pretrain: BPE: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w: tokenizer %q", ErrConfig, c.Tokenizer)
	}
	t, err := tokenizer.New(v)
	if err != nil {
		return nil, fmt.Errorf("pretrain: tokenizer: %w", err)
	}
	return t, nil
}

// Documents tokenizes text line by line: every non-empty line (trailing
// "\r" dropped) becomes BOS · tokens · EOS, and the documents are
// concatenated into one stream.
func Documents(tok *tokenizer.Tokenizer, text string) []int {
	var out []int
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, tok.BOS())
		out = append(out, tok.Encode(line, false)...)
		out = append(out, tok.EOS())
	}
	return out
}
