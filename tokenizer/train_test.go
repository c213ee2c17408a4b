package tokenizer

import (
	"reflect"
	"strings"
	"testing"
)

const sampleText = `The quick brown fox jumps over the lazy dog. It's the fox's day; they'll see.
Le café est très bon. 日本語のテキスト。 Emoji 😀🚀 and numbers 12345 3.14.
	Indented   with    spaces
the the the and and and to to of of`

func TestTrainBPEDeterministicAndConsistent(t *testing.T) {
	a, err := TrainBPE(sampleText, BPEOptions{Merges: 150, MinFrequency: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := TrainBPE(sampleText, BPEOptions{Merges: 150, MinFrequency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("TrainBPE is not deterministic")
	}
	if a.Pre != "llama3" || !a.AddBOS || len(a.Merges) < 100 || len(a.Merges) > 150 || len(a.Tokens) > 256+150+2 {
		t.Fatalf("pre %q add_bos %v, %d merges, %d tokens", a.Pre, a.AddBOS, len(a.Merges), len(a.Tokens))
	}
	tok, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(sampleText, true)
	if ids[0] != tok.BOS() {
		t.Error("no BOS")
	}
	if len(ids) > len(sampleText)/2 {
		t.Errorf("%d tokens for %d bytes: merges do not apply", len(ids), len(sampleText))
	}
	if got := tok.DecodeWith(ids, DecodeOptions{Exact: true}); got != sampleText {
		t.Errorf("round trip: %q", got)
	}
	// The first merge is the most frequent pair in the sample: "t h"? whatever it is, it is applied.
	first := strings.ReplaceAll(a.Merges[0], " ", "")
	if id, ok := tok.TokenID(first); !ok || id != 256 {
		t.Errorf("first merge %q is token %d", a.Merges[0], id)
	}
	if _, err := TrainBPE("x", BPEOptions{Pre: "nope"}); err == nil {
		t.Error("unknown pre accepted")
	}
}

func TestTrainSPM(t *testing.T) {
	v, err := TrainSPM(sampleText, SPMOptions{Pieces: 80})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() <= 260 {
		t.Fatal("no pieces learned")
	}
	if _, ok := tok.TokenID("▁the"); !ok {
		t.Error("no ▁the piece")
	}
	ids := tok.Encode(sampleText, false)
	if len(ids) > len(sampleText)*4/5 {
		t.Errorf("%d tokens for %d bytes", len(ids), len(sampleText))
	}
	if got := tok.Decode(ids); got != sampleText {
		t.Errorf("round trip: %q", got)
	}
}
