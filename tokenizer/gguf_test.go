package tokenizer

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// openKVs writes kvs (and no tensors) with our gguf writer and opens the result.
func openKVs(t *testing.T, kvs []gguf.KV) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGGUFRoundTrip(t *testing.T) {
	spm, err := TrainSPM(sampleText, SPMOptions{Pieces: 100})
	if err != nil {
		t.Fatal(err)
	}
	bpe, err := TrainBPE(sampleText, BPEOptions{Pre: "qwen2", Merges: 100})
	if err != nil {
		t.Fatal(err)
	}
	bpe.AddEOS = true
	for _, v := range []Vocab{ByteVocab(), spm, bpe} {
		want, err := New(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromGGUF(openKVs(t, want.GGUFKVs()))
		if err != nil {
			t.Fatalf("%s: %v", v.Model, err)
		}
		if !reflect.DeepEqual(got.Vocab(), want.Vocab()) {
			t.Errorf("%s: vocab changed in the round trip", v.Model)
		}
		for _, s := range []string{sampleText, "Hello, world!", ""} {
			if a, b := got.Encode(s, true), want.Encode(s, true); !reflect.DeepEqual(a, b) {
				t.Errorf("%s: Encode differs after the round trip", v.Model)
			}
		}
	}
}

func TestFromGGUFDefaults(t *testing.T) {
	bv := ByteVocab()
	f := openKVs(t, []gguf.KV{
		{Key: KeyModel, Value: gguf.String("llama")},
		{Key: KeyTokens, Value: gguf.Strings(bv.Tokens)},
		{Key: KeyScores, Value: gguf.Int32s(make([]int32, len(bv.Tokens)+5))}, // longer and INT32: accepted
		{Key: KeyTokenType, Value: gguf.Int32s(bv.Types)},
		{Key: KeyEOS, Value: gguf.Uint32(100000)}, // out of range: keeps the default
	})
	v, err := VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || v.PAD != -1 || !v.AddBOS || v.AddEOS || !v.AddSpacePrefix {
		t.Errorf("SPM defaults: %+v", v)
	}
	if len(v.Scores) != len(v.Tokens) {
		t.Errorf("scores not truncated to the tokens: %d", len(v.Scores))
	}

	tokens := make([]string, 300)
	for b := 0; b < 256; b++ {
		tokens[b] = ByteChar(byte(b))
	}
	for i := 256; i < 300; i++ {
		tokens[i] = string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	for _, tc := range []struct {
		pre    string
		addBOS bool
	}{{"llama-bpe", true}, {"gpt-2", false}, {"", false}} {
		kvs := []gguf.KV{
			{Key: KeyModel, Value: gguf.String("gpt2")},
			{Key: KeyTokens, Value: gguf.Strings(tokens)},
			{Key: KeyMerges, Value: gguf.Strings([]string{"a b"})},
			{Key: KeyAddSpacePrefix, Value: gguf.Bool(false)},
		}
		if tc.pre != "" {
			kvs = append(kvs, gguf.KV{Key: KeyPre, Value: gguf.String(tc.pre)})
		}
		v, err := VocabFromGGUF(openKVs(t, kvs))
		if err != nil {
			t.Fatal(err)
		}
		if v.BOS != 11 || v.EOS != 11 || v.UNK != -1 || v.AddBOS != tc.addBOS {
			t.Errorf("gpt2 %q defaults: bos %d eos %d unk %d add_bos %v", tc.pre, v.BOS, v.EOS, v.UNK, v.AddBOS)
		}
	}
}

func TestFromGGUFErrors(t *testing.T) {
	tokens := gguf.Strings(ByteVocab().Tokens)
	model := gguf.KV{Key: KeyModel, Value: gguf.String("llama")}
	for _, tc := range []struct {
		name string
		kvs  []gguf.KV
		want error
	}{
		{"no model", []gguf.KV{{Key: KeyTokens, Value: tokens}}, gguf.ErrNotFound},
		{"no tokens", []gguf.KV{model}, gguf.ErrNotFound},
		{"model none", []gguf.KV{{Key: KeyModel, Value: gguf.String("none")}, {Key: KeyTokens, Value: tokens}}, ErrUnsupported},
		{"gpt2 without merges", []gguf.KV{{Key: KeyModel, Value: gguf.String("gpt2")}, {Key: KeyTokens, Value: tokens}}, gguf.ErrNotFound},
		{"bos as INT32", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: KeyBOS, Value: gguf.Int32(1)}}, gguf.ErrType},
		{"add_bos as UINT8", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: KeyAddBOS, Value: gguf.Uint8(1)}}, gguf.ErrType},
		{"scores as FLOAT64", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: KeyScores, Value: gguf.Array(gguf.ValueFloat64, make([]float64, 260))}}, gguf.ErrType},
		{"short scores", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: KeyScores, Value: gguf.Float32s(make([]float32, 3))}}, ErrInvalid},
		{"types as UINT32", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: KeyTokenType, Value: gguf.Uint32s(make([]uint32, 260))}}, gguf.ErrType},
		{"short types", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: KeyTokenType, Value: gguf.Int32s(make([]int32, 3))}}, ErrInvalid},
		{"tokens not strings", []gguf.KV{model, {Key: KeyTokens, Value: gguf.Int32s([]int32{1})}}, gguf.ErrType},
		{"duplicate tokens", []gguf.KV{model, {Key: KeyTokens, Value: gguf.Strings([]string{"a", "a"})}}, ErrInvalid},
		{"eot as INT32", []gguf.KV{model, {Key: KeyTokens, Value: tokens}, {Key: "tokenizer.ggml.eot_token_id", Value: gguf.Int32(2)}}, gguf.ErrType},
		{"unknown pre-tokenizer", []gguf.KV{{Key: KeyModel, Value: gguf.String("gpt2")}, {Key: KeyPre, Value: gguf.String("qwen9")},
			{Key: KeyTokens, Value: tokens}, {Key: KeyMerges, Value: gguf.Strings(nil)}}, ErrUnsupported},
	} {
		_, err := FromGGUF(openKVs(t, tc.kvs))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestFromGGUFRoles: tokenizer.ggml.<role>_token_id keys are read (the
// deprecated FIM keys winning, ids out of range ignored, as llama.cpp does),
// written back by GGUFKVs, and a role set by key is what EOT and the
// end-of-generation set use.
func TestFromGGUFRoles(t *testing.T) {
	v := ByteVocab()
	v.Tokens = append(v.Tokens, "<|eot_id|>", "<|im_end|>", "<|fim_prefix|>")
	v.Scores = append(v.Scores, 0, 0, 0)
	v.Types = append(v.Types, TypeNormal, TypeNormal, TypeNormal)
	n := len(v.Tokens)
	kvs := append(mustNewT(t, v).GGUFKVs(),
		gguf.KV{Key: "tokenizer.ggml.eot_token_id", Value: gguf.Uint32(uint32(n - 2))},
		gguf.KV{Key: "tokenizer.ggml.fim_pre_token_id", Value: gguf.Uint32(5)},
		gguf.KV{Key: "tokenizer.ggml.prefix_token_id", Value: gguf.Uint32(6)},
		gguf.KV{Key: "tokenizer.ggml.eom_token_id", Value: gguf.Uint32(uint32(n))}, // out of range: ignored
	)
	tok, err := FromGGUF(openKVs(t, kvs))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{RoleEOT: n - 2, RoleFIMPre: 6}
	if got := tok.Vocab().Special; !reflect.DeepEqual(got, want) {
		t.Errorf("Special = %v, want %v", got, want)
	}
	// "<|eot_id|>" is not EOT (the key chose "<|im_end|>") but still ends generation by its text.
	if tok.EOT() != n-2 || tok.EOM() != -1 || tok.SpecialID(RoleFIMPre) != 6 {
		t.Errorf("EOT %d EOM %d fim_pre %d", tok.EOT(), tok.EOM(), tok.SpecialID(RoleFIMPre))
	}
	if got := tok.EOG(); !reflect.DeepEqual(got, []int{2, n - 3, n - 2}) {
		t.Errorf("EOG = %v", got)
	}
	// "<|fim_prefix|>" is not forced to control: the key took the role.
	if tok.IsControl(n-1) || !tok.IsControl(n-2) || !tok.IsControl(n-3) {
		t.Error("control attributes")
	}
	back, err := FromGGUF(openKVs(t, tok.GGUFKVs()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Vocab(), tok.Vocab()) || !reflect.DeepEqual(back.EOG(), tok.EOG()) {
		t.Error("roles changed in the GGUF round trip")
	}
}

func mustNewT(t *testing.T, v Vocab) *Tokenizer {
	t.Helper()
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
