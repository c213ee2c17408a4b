package tokenizer_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/tokenizer"
)

// streamText builds a varied text of about n bytes: corpus lines, special
// token texts, runs of spaces and newlines, punctuation before line ends,
// CRLF, multi-byte text and malformed UTF-8, many lines starting with a
// letter (where TokenizeReader may cut).
func streamText(seed uint64, n int, specials []string) string {
	r := rand.New(rand.NewPCG(seed, 1))
	parts := append(strings.Split(familyCorpus, "\n"), "It's", "'s", "they'LL", "12345678", "3.14",
		"...", "!?\n", "\r\n", "\n\n\n", "   ", "\t", "日本語", "😀🚀", "\xff\xc3", "é", "▁x", "a\u00a0b",
		"<table>", "\n", "\nA", "x\n", "x\nY", ".\nZ", " \nQ", "1\nW", "  \nR", "\t\nT", "ok.\nLine", "e b", "<br>\nLine")
	var b strings.Builder
	for b.Len() < n {
		switch r.IntN(5) {
		case 4:
			if len(specials) > 0 {
				b.WriteString(specials[r.IntN(len(specials))])
			}
		case 0:
			b.WriteString(parts[r.IntN(len(parts))])
		case 1:
			b.WriteString(parts[r.IntN(len(parts))])
			b.WriteString("\n")
		default:
			b.WriteString("Line ")
			b.WriteString(parts[r.IntN(len(parts))])
			b.WriteString(".\n")
		}
	}
	return b.String()
}

// streamIDs tokenizes text through TokenizeReader in pieces of about chunk
// bytes and returns the ids and the number of pieces emitted.
func streamIDs(t *testing.T, tok *tokenizer.Tokenizer, text string, addSpecial, parseSpecial bool, chunk int) ([]int, int) {
	t.Helper()
	var ids []int
	pieces := 0
	last := int64(-1)
	err := tok.TokenizeReaderChunk(strings.NewReader(text), addSpecial, parseSpecial, chunk, func(p []int, read int64) error {
		if read < last || read > int64(len(text)) {
			t.Fatalf("read %d after %d of %d bytes", read, last, len(text))
		}
		last = read
		ids = append(ids, p...)
		pieces++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(text)) {
		t.Fatalf("last progress %d, want %d", last, len(text))
	}
	return ids, pieces
}

// streamCase is a vocabulary TokenizeReader is tested on.
type streamCase struct {
	name string
	v    tokenizer.Vocab
}

// straddlers are user-defined tokens whose texts hold the places
// TokenizeReader cuts at ("\n" before a letter, a space between letters)
// or end where a cut would follow: a cut next to one would change the ids.
var straddlers = []string{"ok.\nLine", "e b", "<br>\n", "x\nY"}

// withUserDefined returns v with user-defined tokens added.
func withUserDefined(v tokenizer.Vocab, texts ...string) tokenizer.Vocab {
	n := len(v.Tokens)
	v.Tokens = append(slices.Clone(v.Tokens), texts...)
	if v.Scores != nil {
		v.Scores = append(slices.Clone(v.Scores), make([]float32, len(texts))...)
	}
	types := slices.Clone(v.Types)
	for len(types) < n {
		types = append(types, tokenizer.TypeNormal)
	}
	for range texts {
		types = append(types, tokenizer.TypeUserDefined)
	}
	v.Types = types
	return v
}

// streamCases are the family vocabularies with their special tokens,
// trained vocabularies of every pre-tokenizer kind and SentencePiece with
// a space prefix, each with the straddlers added, and two SentencePiece
// vocabularies whose pieces rule out one or both kinds of cut.
func streamCases(t *testing.T) []streamCase {
	type tc = streamCase
	var cases []tc
	for _, f := range familyCases(t) {
		cases = append(cases, tc{f.name, f.v})
	}
	for _, pre := range []string{"gpt-2", "default", "llama3", "qwen2", "smollm"} {
		v, err := tokenizer.TrainBPE(familyCorpus, tokenizer.BPEOptions{Pre: pre, Merges: 300, MinFrequency: 1})
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{"trained-" + pre, v})
	}
	spm, err := tokenizer.TrainSPM(familyCorpus, tokenizer.SPMOptions{Pieces: 300, MinFrequency: 1})
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, tc{"trained-spm-prefix", spm})
	for i := range cases {
		cases[i].v = withUserDefined(cases[i].v, straddlers...)
	}
	// an SPM vocabulary with pieces that join "\n" to a letter: cuts only before spaces
	nl := spm
	nl.Tokens = append(slices.Clone(spm.Tokens), "\nL", "\nLine")
	nl.Scores = append(slices.Clone(spm.Scores), 100, 200)
	nl.Types = append(slices.Clone(spm.Types), tokenizer.TypeNormal, tokenizer.TypeNormal)
	cases = append(cases, tc{"spm-newline-piece", nl})
	both := nl
	both.Tokens = append(slices.Clone(nl.Tokens), "e▁L", "s▁")
	both.Scores = append(slices.Clone(nl.Scores), 300, 300)
	both.Types = append(slices.Clone(nl.Types), tokenizer.TypeNormal, tokenizer.TypeNormal)
	cases = append(cases, tc{"spm-both-pieces", both}) // no exact cut: tokenized whole
	return cases
}

// TestTokenizeReaderEveryCut: at every place TokenizeReader may cut the
// test texts (with straddling user-defined tokens, one-line texts, every
// tokenizer family), tokenizing the two sides apart gives the whole text's
// ids, with and without BOS/EOS and special parsing.
func TestTokenizeReaderEveryCut(t *testing.T) {
	for _, c := range streamCases(t) {
		t.Run(c.name, func(t *testing.T) {
			tok := mustNew(t, c.v)
			specials := specialTexts(tok)
			tried := 0
			for seed := range uint64(4) {
				text := streamText(seed+10, 1200, specials)
				if seed >= 2 {
					text = strings.NewReplacer("\n", " ", "\r", " ").Replace(text)
				}
				for _, mode := range [][2]bool{{true, false}, {false, true}} {
					bad, n := tok.BadCuts(text, mode[0], mode[1])
					tried += n
					if len(bad) > 0 {
						p := bad[0]
						t.Fatalf("seed %d add/parse %v: cutting at %d (%q|%q) changes the ids (%d bad cuts of %d)",
							seed, mode, p, text[max(0, p-12):p], text[p:min(len(text), p+12)], len(bad), n)
					}
				}
			}
			if c.name != "spm-both-pieces" && tried < 40 {
				t.Fatalf("only %d cuts tried", tried)
			}
		})
	}
}

// specialTexts returns the texts of tok's control and user-defined tokens.
func specialTexts(tok *tokenizer.Tokenizer) []string {
	var specials []string
	for id := range tok.VocabSize() {
		if tok.Attr(id)&(8|16) != 0 { // control or user-defined
			specials = append(specials, tok.TokenText(id))
		}
	}
	return specials
}

// TestTokenizeReaderMatchesWhole checks that tokenizing in pieces gives the
// ids of tokenizing the whole text, for every tokenizer family (the family
// vocabularies with their special tokens, and trained vocabularies of every
// pre-tokenizer kind), with and without BOS/EOS and special parsing, at
// piece sizes that put a cut in almost every line.
func TestTokenizeReaderMatchesWhole(t *testing.T) {
	cases := streamCases(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := mustNew(t, c.v)
			specials := specialTexts(tok)
			for seed := range uint64(3) {
				text := streamText(seed, 4000, specials)
				if seed == 2 { // one line: only cuts before spaces
					text = strings.NewReplacer("\n", " ", "\r", " ").Replace(text)
				}
				for _, chunk := range []int{16, 200, 4096} {
					for _, mode := range [][2]bool{{true, false}, {false, false}, {true, true}, {false, true}} {
						want := tok.Tokenize(text, mode[0], mode[1])
						got, pieces := streamIDs(t, tok, text, mode[0], mode[1], chunk)
						if !slices.Equal(got, want) {
							i := 0
							for i < len(got) && i < len(want) && got[i] == want[i] {
								i++
							}
							t.Fatalf("seed %d chunk %d add/parse %v: %d ids, want %d; first difference at id %d",
								seed, chunk, mode, len(got), len(want), i)
						}
						if c.name == "spm-both-pieces" && pieces != 1 {
							t.Fatalf("%d pieces; a vocabulary with \"\\nL\" and \"e▁L\" must be tokenized whole", pieces)
						}
						if c.name != "spm-both-pieces" && chunk == 200 && pieces < 10 {
							t.Fatalf("only %d pieces of a %d-byte text at chunk 200: the text is not streamed", pieces, len(text))
						}
					}
				}
			}
		})
	}
}

// TestTokenizeReaderEdges: empty input, a text without any cut, and an
// error from emit stops the stream.
func TestTokenizeReaderEdges(t *testing.T) {
	tok := mustNew(t, familyCases(t)[0].v)
	for _, text := range []string{"", "a", strings.Repeat("no line breaks here ", 50), "x\nY"} {
		got, _ := streamIDs(t, tok, text, true, false, 16)
		if want := tok.Tokenize(text, true, false); !slices.Equal(got, want) {
			t.Fatalf("%q: %v, want %v", text, got, want)
		}
	}
	stop := strings.NewReader(streamText(9, 2000, nil))
	n := 0
	err := tok.TokenizeReaderChunk(stop, false, false, 64, func([]int, int64) error {
		n++
		if n == 2 {
			return errStop
		}
		return nil
	})
	if err != errStop || n != 2 {
		t.Fatalf("err %v after %d pieces, want errStop after 2", err, n)
	}
}

type stopErr struct{}

func (stopErr) Error() string { return "stop" }

var errStop error = stopErr{}
