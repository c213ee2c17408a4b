package llama

import (
	"context"
	"math"
	"slices"
	"testing"
)

func TestSessionMatchesForward(t *testing.T) {
	ctx := context.Background()
	for _, tied := range []bool{false, true} {
		cfg := TinyConfig()
		cfg.TiedOutput = tied
		m := NewRandom[float32](cfg, 21)
		tokens, _ := tinyBatch(cfg, 1, 9, 4)
		full := logitsOf(t, m, tokens)
		V := cfg.VocabSize
		for _, chunks := range [][]int{{9}, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {4, 2, 3}} {
			s := m.NewSession(0)
			pos := 0
			for _, n := range chunks {
				l, err := s.Eval(ctx, tokens[0][pos:pos+n])
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(l.Data(), full[pos*V:(pos+n)*V]); d > 1e-5 {
					t.Fatalf("tied=%v chunks %v: logits at %d differ by %g", tied, chunks, pos, d)
				}
				pos += n
			}
			if s.Pos() != 9 {
				t.Fatalf("pos %d", s.Pos())
			}
		}
	}
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	cfg := TinyConfig()
	m := NewRandom[float32](cfg, 22)
	prompt := []int{1, 5, 7}
	got, lp, err := m.Generate(ctx, prompt, SampleOptions{MaxTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("generated %v", got)
	}
	// greedy = argmax of the full forward, step by step
	seq := slices.Clone(prompt)
	for i := 0; i < 6; i++ {
		l := logitsOf(t, m, [][]int{seq})
		last := l[(len(seq)-1)*cfg.VocabSize:]
		best := 0
		for j, x := range last {
			if x > last[best] {
				best = j
			}
		}
		if i == 0 {
			ref := LogSoftmax(last)
			for j := range ref {
				if math.Abs(ref[j]-lp[j]) > 1e-6 {
					t.Fatalf("next logprobs differ at %d", j)
				}
			}
		}
		if got[i] != best {
			t.Fatalf("greedy token %d = %d, full forward argmax %d", i, got[i], best)
		}
		seq = append(seq, best)
	}
	// stop id ends generation without being returned
	stop, _, _ := m.Generate(ctx, prompt, SampleOptions{MaxTokens: 6, Stop: []int{got[2]}})
	if !slices.Equal(stop, got[:slices.Index(got, got[2])]) {
		t.Fatalf("stop: %v from %v", stop, got)
	}
	// top-k 1 is greedy at any temperature
	k1, _, _ := m.Generate(ctx, prompt, SampleOptions{MaxTokens: 6, Temperature: 5, TopK: 1, Seed: 3})
	if !slices.Equal(k1, got) {
		t.Fatalf("top-k 1 %v, greedy %v", k1, got)
	}
	// seeded sampling is reproducible and seeds differ
	opt := SampleOptions{MaxTokens: 12, Temperature: 1.5, TopK: 8, TopP: 0.95, Seed: 7}
	a, _, _ := m.Generate(ctx, prompt, opt)
	b, _, _ := m.Generate(ctx, prompt, opt)
	opt.Seed = 8
	c, _, _ := m.Generate(ctx, prompt, opt)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Fatalf("seeded sampling: %v %v %v", a, b, c)
	}
	// context length bounds generation
	long, _, err := m.Generate(ctx, prompt, SampleOptions{})
	if err != nil || len(long) != cfg.ContextLength-len(prompt) {
		t.Fatalf("unbounded generation: %d tokens, %v", len(long), err)
	}
}

func TestSamplerTopP(t *testing.T) {
	logits := []float64{math.Log(0.5), math.Log(0.3), math.Log(0.15), math.Log(0.05)}
	s := NewSampler(SampleOptions{Temperature: 1, TopP: 0.7, Seed: 1})
	seen := map[int]int{}
	for i := 0; i < 2000; i++ {
		seen[s.Sample(logits)]++
	}
	if seen[2] != 0 || seen[3] != 0 || seen[0] < 1100 || seen[1] < 600 {
		t.Fatalf("top-p 0.7 draws %v", seen)
	}
}

func TestSessionGrowsCache(t *testing.T) {
	ctx := context.Background()
	cfg := TinyConfig()
	cfg.ContextLength = 160
	m := NewRandom[float32](cfg, 23)
	tokens, _ := tinyBatch(cfg, 1, 150, 6)
	full := logitsOf(t, m, tokens)
	V := cfg.VocabSize
	s := m.NewSession(0)
	pos := 0
	for _, n := range append([]int{40, 30}, slices.Repeat([]int{1}, 80)...) {
		l, err := s.Eval(ctx, tokens[0][pos:pos+n])
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(l.Data(), full[pos*V:(pos+n)*V]); d > 1e-4 {
			t.Fatalf("logits at %d differ by %g", pos, d)
		}
		pos += n
	}
	if _, err := s.Eval(ctx, tokens[0][:11]); err == nil {
		t.Fatal("evaluating past the context length succeeded")
	}
}
