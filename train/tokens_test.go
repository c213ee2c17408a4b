package train

import (
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/internal/testvocab"
	"github.com/webtune/webtune/tokenizer"
)

// storeOf holds ids in a tokenStore.
func storeOf(t testing.TB, ids []int) tokenStore {
	t.Helper()
	var s tokenStore
	if err := s.add(ids...); err != nil {
		t.Fatal(err)
	}
	return s
}

// genText returns a few MB of varied English-like text in lines.
func genText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 2))
	words := strings.Fields("the quick brown fox jumps over lazy dog it's a day they'll see hello world answer is 42 café naïve 日本語 😀 and to of in")
	var b strings.Builder
	for b.Len() < n {
		k := 3 + r.IntN(12)
		for i := range k {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteString(".\n")
		if r.IntN(8) == 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func qwenTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	v, err := tokenizer.TrainBPE(genText(1, 20000), tokenizer.BPEOptions{Pre: "qwen2", Merges: 300, MinFrequency: 1})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(testvocab.Qwen2(testvocab.BPEFrom(v), 0))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenizeReaderMatchesDocuments: the streamed ids equal
// TokenizeDocuments' for every documents format, and the stream's data hash
// is the one computed over the ids as ints (checkpoints stay valid).
func TestTokenizeReaderMatchesDocuments(t *testing.T) {
	tok := qwenTokenizer(t)
	text := genText(3, 300_000) + "\r\n  \nlast line without newline"
	jsonl := `{"text": "first doc"}` + "\n\n" + `{"text": "  "}` + "\r\n" + `{"text": "second\ndoc"}`
	for _, c := range []struct{ format, text string }{{DocumentsNone, text}, {"", text}, {DocumentsLines, text}, {DocumentsJSONL, jsonl}} {
		want, err := TokenizeDocuments(tok, c.text, c.format)
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		got, err := TokenizeReader(tok, strings.NewReader(c.text), c.format, func(r int64) { last = r })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs(), want) {
			t.Fatalf("format %q: %d ids, want %d", c.format, got.Len(), len(want))
		}
		if last != int64(len(c.text)) {
			t.Fatalf("format %q: progress ended at %d of %d bytes", c.format, last, len(c.text))
		}
		h := fnv.New64a()
		for _, id := range want {
			h.Write([]byte{byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)})
		}
		if got.s.hash() != h.Sum64() {
			t.Fatalf("format %q: data hash changed", c.format)
		}
	}
	if _, err := TokenizeReader(tok, strings.NewReader(`{"x": 1}`), DocumentsJSONL, nil); err == nil {
		t.Fatal("a JSON line without text was accepted")
	}
}

// TestTokenStoreAcrossBlocks: windows that straddle a block boundary read
// back the ids they hold.
func TestTokenStoreAcrossBlocks(t *testing.T) {
	ids := make([]int, 3*blockLen+17)
	for i := range ids {
		ids[i] = (i * 7919) % 151936
	}
	s := storeOf(t, ids)
	for _, at := range []int{0, blockLen - 5, 2*blockLen - 1, len(ids) - 40} {
		dst := make([]int, 40)
		s.read(dst, at)
		if !slices.Equal(dst, ids[at:at+40]) || s.at(at) != ids[at] {
			t.Fatalf("window at %d reads %v", at, dst[:4])
		}
	}
	if err := s.add(-1); err == nil {
		t.Fatal("a negative id was accepted")
	}
}

// TestStreamMemoryBound: tokenizing a few MB of text and building the run's
// dataset keeps 4 bytes per token (plus one block) and makes no allocation
// per token; the whole-text path held 8 bytes per text byte's worth of ids
// (Tokenize's []int sized for len(text)/2 ids) and allocated per word.
func TestStreamMemoryBound(t *testing.T) {
	tok := qwenTokenizer(t)
	text := genText(5, 3<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	toks, err := TokenizeReader(tok, strings.NewReader(text), DocumentsNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := newDataset(toks.s, Config{SeqLen: 128, Stride: 128, EvalFraction: 0.1}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := toks.Len()
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d bytes of text, %d tokens: %d bytes held (%.2f per token), %d allocations", len(text), n, held, float64(held)/float64(n), mallocs)
	if limit := int64(4*n + 4*blockLen + 64<<10 + 24*n/128); held > limit {
		t.Errorf("%d bytes held for %d tokens; want at most %d (4 per token)", held, n, limit)
	}
	if mallocs > uint64(n/64) {
		t.Errorf("%d allocations for %d tokens: allocating per token", mallocs, n)
	}
	runtime.KeepAlive(d)
	runtime.KeepAlive(tok)
	runtime.KeepAlive(text)
}
