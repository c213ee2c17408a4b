package tokenizer

import (
	"container/heap"
	"fmt"
	"strings"
)

// BPEOptions configures TrainBPE.
type BPEOptions struct {
	Pre          string // pre-tokenizer (tokenizer.ggml.pre); "" means "llama3"
	Merges       int    // number of merges to learn (at most)
	MinFrequency int    // stop when the best pair occurs fewer times; 0 means 2
}

// TrainBPE learns a byte-level BPE vocabulary ("gpt2") from text: 256 byte
// tokens (id = byte value, GPT-2's byte-to-character map), then one token per
// learned merge, then "<|begin_of_text|>" (BOS) and "<|end_of_text|>" (EOS) as
// control tokens. Words come from the chosen pre-tokenizer, so merges never
// cross the boundaries the tokenizer will cut at. Ties between equally
// frequent pairs go to the lexicographically smallest pair: the result is
// deterministic.
func TrainBPE(text string, opt BPEOptions) (Vocab, error) {
	if opt.Pre == "" {
		opt.Pre = "llama3"
	}
	info, ok := preNames[opt.Pre]
	if !ok {
		return Vocab{}, fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, opt.Pre)
	}
	if opt.Merges < 0 || opt.Merges > MaxMerges {
		return Vocab{}, invalid("%d merges requested", opt.Merges)
	}
	tokens := make([]string, 256)
	for b := range tokens {
		tokens[b] = byteChars[b]
	}
	words := map[string]int{}
	cpts := decodeCpts(text)
	start := 0
	var buf []byte
	for _, n := range split(info.kind, cpts) {
		buf = buf[:0]
		for _, r := range cpts[start : start+n] {
			buf = appendCpt(buf, r)
		}
		start += n
		words[string(buf)]++
	}
	seqs := map[string][]int{}
	for w := range words {
		s := make([]int, len(w))
		for i := 0; i < len(w); i++ {
			s[i] = int(w[i])
		}
		seqs[w] = s
	}
	tokens, merges := learnMerges(tokens, words, seqs, opt.Merges, minFreq(opt.MinFrequency))
	n := len(tokens)
	tokens = append(tokens, "<|begin_of_text|>", "<|end_of_text|>")
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = TypeNormal
	}
	types[n], types[n+1] = TypeControl, TypeControl
	return Vocab{
		Model: "gpt2", Pre: opt.Pre, Tokens: tokens, Types: types, Merges: merges,
		BOS: n, EOS: n + 1, UNK: -1, PAD: -1, AddBOS: info.addBOS,
	}, nil
}

// SPMOptions configures TrainSPM.
type SPMOptions struct {
	Pieces       int // number of merged pieces to learn (at most)
	MinFrequency int // stop when the best pair occurs fewer times; 0 means 2
}

// ByteVocab returns the smallest SentencePiece ("llama") vocabulary that
// tokenizes any text: 0 "<unk>", 1 "<s>" (BOS), 2 "</s>" (EOS), 3..258 the
// byte tokens "<0x00>".."<0xFF>", 259 "▁"; scores 0; BOS added, space prefix on.
func ByteVocab() Vocab {
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{TypeUnknown, TypeControl, TypeControl}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, TypeByte)
	}
	tokens = append(tokens, "▁")
	types = append(types, TypeNormal)
	return Vocab{
		Model: "llama", Tokens: tokens, Scores: make([]float32, len(tokens)), Types: types,
		BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true,
	}
}

// TrainSPM extends ByteVocab with pieces learned from text by BPE over
// characters, words being "▁"-prefixed runs between spaces and newlines. The
// i-th learned piece gets score -(i+1), so llama.cpp's score-ordered merging
// rebuilds pieces in the order they were learned.
func TrainSPM(text string, opt SPMOptions) (Vocab, error) {
	if opt.Pieces < 0 || opt.Pieces > MaxTokens {
		return Vocab{}, invalid("%d pieces requested", opt.Pieces)
	}
	v := ByteVocab()
	// Initial symbols: every character of every word; ids index into syms.
	syms := []string{}
	symID := map[string]int{}
	words := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		for _, w := range strings.Split(line, " ") {
			if w != "" {
				words["▁"+w]++
			}
		}
	}
	seqs := map[string][]int{}
	for w := range words {
		var s []int
		for off := 0; off < len(w); {
			n := min(utf8Len(w[off]), len(w)-off)
			c := w[off : off+n]
			id, ok := symID[c]
			if !ok {
				id = len(syms)
				syms = append(syms, c)
				symID[c] = id
			}
			s = append(s, id)
			off += n
		}
		seqs[w] = s
	}
	all, _ := learnMerges(syms, words, seqs, opt.Pieces, minFreq(opt.MinFrequency))
	have := map[string]bool{}
	for _, s := range v.Tokens {
		have[s] = true
	}
	k := 0
	for _, p := range all[len(syms):] {
		if have[p] {
			continue
		}
		have[p] = true
		k++
		v.Tokens = append(v.Tokens, p)
		v.Scores = append(v.Scores, -float32(k))
		v.Types = append(v.Types, TypeNormal)
	}
	return v, nil
}

// pairCount is a heap entry: a candidate pair and its count when pushed.
type pairCount struct {
	a, b  int
	count int
}

type pairHeap struct {
	items  []pairCount
	tokens *[]string
}

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	x, y := h.items[i], h.items[j]
	if x.count != y.count {
		return x.count > y.count
	}
	t := *h.tokens
	if t[x.a] != t[y.a] {
		return t[x.a] < t[y.a]
	}
	return t[x.b] < t[y.b]
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// learnMerges runs BPE training: words[w] is the frequency of word w, seqs[w]
// its symbols (ids into tokens). It returns tokens extended by the merged
// symbols and the merges as "left right".
func learnMerges(tokens []string, words map[string]int, seqs map[string][]int, nMerges, minFreq int) ([]string, []string) {
	type key struct{ a, b int }
	names := make([]string, 0, len(words))
	for w := range words {
		names = append(names, w)
	}
	sortStrings(names) // deterministic word order
	counts := map[key]int{}
	where := map[key]map[int]bool{}
	add := func(wi int, s []int, sign int) {
		f := words[names[wi]] * sign
		for i := 1; i < len(s); i++ {
			k := key{s[i-1], s[i]}
			counts[k] += f
			if sign > 0 {
				if where[k] == nil {
					where[k] = map[int]bool{}
				}
				where[k][wi] = true
			}
		}
	}
	for wi, w := range names {
		add(wi, seqs[w], 1)
	}
	h := &pairHeap{tokens: &tokens}
	for k, c := range counts {
		h.items = append(h.items, pairCount{k.a, k.b, c})
	}
	heap.Init(h)
	ids := map[string]int{}
	for i, t := range tokens {
		ids[t] = i
	}
	var merges []string
	for len(merges) < nMerges && h.Len() > 0 {
		top := heap.Pop(h).(pairCount)
		k := key{top.a, top.b}
		if counts[k] != top.count {
			continue // stale entry
		}
		if top.count < minFreq {
			break
		}
		text := tokens[k.a] + tokens[k.b]
		id, ok := ids[text]
		if !ok {
			id = len(tokens)
			tokens = append(tokens, text)
			ids[text] = id
		}
		merges = append(merges, tokens[k.a]+" "+tokens[k.b])
		touched := map[key]bool{}
		for _, wi := range sortedKeys(where[k]) {
			s := seqs[names[wi]]
			add(wi, s, -1)
			for i := 1; i < len(s); i++ {
				touched[key{s[i-1], s[i]}] = true
			}
			var ns []int
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == k.a && s[i+1] == k.b {
					ns = append(ns, id)
					i++
				} else {
					ns = append(ns, s[i])
				}
			}
			seqs[names[wi]] = ns
			add(wi, ns, 1)
			for i := 1; i < len(ns); i++ {
				touched[key{ns[i-1], ns[i]}] = true
			}
		}
		delete(where, k)
		for t := range touched {
			if c := counts[t]; c > 0 {
				heap.Push(h, pairCount{t.a, t.b, c})
			}
		}
	}
	return tokens, merges
}

func minFreq(f int) int {
	if f <= 0 {
		return 2
	}
	return f
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ { // insertion sort keeps this dependency-free and deterministic
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
