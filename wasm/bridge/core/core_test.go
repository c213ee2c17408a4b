package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/train"
)

const text = `The quick brown fox jumps over the lazy dog. A wizard's job is to vex chumps quickly in fog.
Pack my box with five dozen liquor jugs. How vexingly quick daft zebras jump! `

func trainText() string { return strings.Repeat(text, 4) }

func loadBuiltin(t *testing.T, qlora bool) *Model {
	t.Helper()
	m, err := LoadBuiltin(qlora)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var smallRun = TrainOptions{Steps: 6, LR: 1e-2, Batch: 2, SeqLen: 16, Seed: 3}

func withText(o TrainOptions) TrainOptions { o.Text = trainText(); return o }

func TestInfoAndSummary(t *testing.T) {
	m := loadBuiltin(t, false)
	in := m.Info()
	c := BuiltinConfig()
	if in.Architecture != "llama" || in.VocabSize != c.VocabSize || in.Layers != c.Layers || in.Tokenizer != "gpt2" ||
		in.Params != c.ParamCount() || in.TrainableParams != 0 || in.LoRA != nil || !slices.Contains(in.Targets, "ffn_down") {
		t.Fatalf("info %+v", in)
	}
	o, err := m.InjectLoRA(LoRAOptions{Rank: 4, Targets: []string{"attn_q", "attn_v"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Alpha != 8 {
		t.Errorf("default alpha %v, want 2·rank", o.Alpha)
	}
	// A: [4, C], B: [NH·HS or NKV·HS, 4] per layer.
	want := c.Layers * (4*c.Dim + c.Heads*c.HeadDim*4 + 4*c.Dim + c.KVHeads*c.HeadDim*4)
	s := m.Summary()
	if s.Trainable != want || m.Info().TrainableParams != want || !strings.Contains(s.Text, "trainable params") {
		t.Fatalf("summary %+v, want %d trainable", s, want)
	}
	if name, _, _ := Builtin(); m.AdapterFileName() != name+"-lora-r4.gguf" {
		t.Errorf("file name %q", m.AdapterFileName())
	}
	if _, err := m.InjectLoRA(LoRAOptions{}); err == nil {
		t.Error("second injection accepted")
	}
}

func TestTextStatsMatchesRun(t *testing.T) {
	m := loadBuiltin(t, false)
	o := withText(TrainOptions{SeqLen: 16, Stride: 8, Batch: 2})
	st, err := m.TextStats(o.Text, o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Train(o)
	if err != nil {
		t.Fatal(err)
	}
	d := r.r.Data()
	if st.Tokens != d.Tokens() || st.TrainWindows != d.TrainWindows() || st.EvalWindows != d.EvalWindows() || st.SeqLen != 16 {
		t.Fatalf("stats %+v, run has %d tokens, %d/%d windows", st, d.Tokens(), d.TrainWindows(), d.EvalWindows())
	}
}

func TestLoadErrorsArePlain(t *testing.T) {
	_, good, _ := Builtin()
	other := func() []byte {
		f, _ := gguf.Open(strings.NewReader(string(good)), int64(len(good)))
		w := gguf.NewWriter()
		for _, kv := range f.KVs {
			if kv.Key == "general.architecture" {
				kv.Value = gguf.String("gpt2")
			}
			_ = w.Add(kv.Key, kv.Value)
		}
		var sb strings.Builder
		_, _ = w.WriteTo(&sb)
		return []byte(sb.String())
	}()
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("this is not a gguf file at all, just text"), "not a valid GGUF"},
		{"truncated", good[:len(good)/2], "GGUF"},
		{"empty", nil, "not a valid GGUF"},
		{"other architecture", other, "llama-architecture"},
	} {
		_, err := LoadModel(c.data, LoadOptions{})
		if err == nil || !strings.Contains(Plain(err), c.want) {
			t.Errorf("%s: %v → %q, want it to say %q", c.name, err, Plain(err), c.want)
		}
	}
	cfg := BuiltinConfig()
	cfg.Dim, cfg.VocabSize = 4096, 150000
	// a float32 embedding of 150000 × 4096 alone is 2.3 GiB
	huge := &gguf.File{Tensors: []gguf.TensorInfo{{Name: "token_embd.weight", Type: gguf.TypeF32, Dims: []uint64{4096, 150000}}}}
	if need := estimateMemory(cfg, huge, false); need <= MaxMemory {
		t.Errorf("a model of %d float32 weights needs %d bytes, under the limit", 4096*150000, need)
	}
	if !strings.Contains(Plain(ErrTooLarge), "too large") || Plain(nil) != "" {
		t.Error("plain words")
	}
	lost := fmt.Errorf("train: step 3: %w: worker 2 of 2", ErrWorkerLost)
	if p := Plain(lost); !strings.HasPrefix(p, "Training stopped: one of the training workers stopped") || !strings.Contains(p, "worker 2 of 2") {
		t.Errorf("a lost worker: %q", p)
	}
}

func TestRunPauseResumeStop(t *testing.T) {
	m := loadBuiltin(t, true)
	r, err := m.Train(withText(smallRun))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	r.Pause()
	done := make(chan State)
	go func() {
		s, _ := r.Loop(context.Background(), func(p Progress) {
			steps = append(steps, p.Step)
			if p.Step == 2 {
				r.Stop()
			}
		}, nil)
		done <- s
	}()
	time.Sleep(20 * time.Millisecond)
	if r.State() != StatePaused || len(steps) != 0 {
		t.Fatalf("paused run: state %s, steps %v", r.State(), steps)
	}
	r.Resume()
	if s := <-done; s != StateStopped || !slices.Equal(steps, []int{1, 2}) {
		t.Fatalf("stopped run: state %s, steps %v", s, steps)
	}
	// a stopped run continues with Resume: true and finishes
	r2, err := m.Train(TrainOptions{Resume: true})
	if err != nil || r2 != r {
		t.Fatalf("resume: %v", err)
	}
	s, err := r.Loop(context.Background(), func(p Progress) { steps = append(steps, p.Step) }, nil)
	if s != StateDone || err != nil || !slices.Equal(steps, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("finished run: %s %v %v", s, err, steps)
	}
	h := r.History()
	if h.Step != 6 || len(h.Losses) != 6 || len(h.Evals) == 0 || r.Last().EtaSec != 0 {
		t.Fatalf("history %+v", h)
	}
}

func TestCheckpointRestoreGivesSameLosses(t *testing.T) {
	ctx := context.Background()
	full := loadBuiltin(t, false)
	r, _ := full.Train(withText(smallRun))
	if s, err := r.Loop(ctx, nil, nil); s != StateDone {
		t.Fatal(s, err)
	}
	want := r.History().Losses

	a := loadBuiltin(t, false)
	ra, _ := a.Train(withText(smallRun))
	ra.Loop(ctx, func(p Progress) {
		if p.Step == 3 {
			ra.Stop()
		}
	}, nil)
	ck, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	b := loadBuiltin(t, false) // a fresh page: no LoRA yet
	res, err := b.Restore(ck)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "run" || res.History.Step != 3 || res.Train.Text != trainText() || res.LoRA.Rank != 8 {
		t.Fatalf("restored %+v", res)
	}
	rb, err := b.Train(TrainOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := rb.Loop(ctx, nil, nil); s != StateDone {
		t.Fatal(s, err)
	}
	got := rb.History().Losses
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("losses after resume %v, want %v", got, want)
		}
	}
	// Refusals leave the model unchanged.
	if _, err := b.Restore(ck[:20]); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("truncated checkpoint: %v", err)
	}
	if _, err := b.Restore([]byte("nope")); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("garbage checkpoint: %v", err)
	}
}

func TestAdapterOnOffAndRoundTrip(t *testing.T) {
	ctx := context.Background()
	m := loadBuiltin(t, false)
	r, _ := m.Train(withText(TrainOptions{Steps: 8, LR: 3e-2, Batch: 2, SeqLen: 16}))
	r.Loop(ctx, nil, nil)
	off := false
	base, err := m.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 12, Adapter: &off})
	if err != nil {
		t.Fatal(err)
	}
	tuned, _ := m.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 12})
	base2, _ := m.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 12, Adapter: &off, Logprobs: true})
	if lp := base2.Logprobs(); len(lp) != BuiltinConfig().VocabSize || base.Logprobs() != nil {
		t.Fatalf("logprobs: %d values", len(lp))
	}
	if slices.Equal(base.Tokens, tuned.Tokens) || !slices.Equal(base.Tokens, base2.Tokens) || base.Adapter || !tuned.Adapter {
		t.Fatalf("base %v, tuned %v, base again %v", base.Tokens, tuned.Tokens, base2.Tokens)
	}
	ad, err := m.SaveAdapter()
	if err != nil {
		t.Fatal(err)
	}
	fresh := loadBuiltin(t, false)
	o, err := fresh.LoadAdapter(ad)
	if err != nil {
		t.Fatal(err)
	}
	if o.Rank != 8 || !slices.Equal(o.Targets, []string{"attn_q", "attn_v"}) || o.Alpha != 16 {
		t.Errorf("adapter options %+v", o)
	}
	again, _ := fresh.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 12})
	if !slices.Equal(again.Tokens, tuned.Tokens) {
		t.Errorf("loaded adapter generates %v, want %v", again.Tokens, tuned.Tokens)
	}
	// An adapter for another model is refused and the model stays usable.
	other := loadBuiltin(t, false)
	if _, err := other.LoadAdapter(ad[:len(ad)-7]); err == nil {
		t.Error("truncated adapter accepted")
	}
	if other.Info().LoRA != nil {
		t.Error("failed load left LoRA layers")
	}
	// An adapter-only checkpoint.
	ck, err := fresh.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	third := loadBuiltin(t, false)
	if res, err := third.Restore(ck); err != nil || res.Kind != "adapter" {
		t.Fatal(res, err)
	}
	if g, _ := third.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 12}); !slices.Equal(g.Tokens, tuned.Tokens) {
		t.Error("adapter checkpoint differs")
	}
}

func TestNaNLossIsPlain(t *testing.T) {
	m := loadBuiltin(t, false)
	r, _ := m.Train(withText(TrainOptions{Steps: 3, LR: 1e-2, Batch: 2, SeqLen: 16}))
	m.m.Blocks[0].AttnNorm.Value.Data()[0] = float32(math.NaN())
	s, err := r.Loop(context.Background(), nil, nil)
	if s != StateError || !strings.Contains(Plain(err), "NaN") || r.Err() == nil {
		t.Fatalf("state %s, %v", s, Plain(err))
	}
}

// TestDivergenceIsPlain: the page's settings that overflow the activations
// (rank 1, alpha 1e6, learning rate 1) end the run with an error of its own
// (train.ErrDiverged), in plain words, at the last good step.
func TestDivergenceIsPlain(t *testing.T) {
	m := loadBuiltin(t, false)
	if _, err := m.InjectLoRA(LoRAOptions{Rank: 1, Alpha: 1e6,
		Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}); err != nil {
		t.Fatal(err)
	}
	r, err := m.Train(withText(TrainOptions{Steps: 20, LR: 1, Batch: 2, SeqLen: 16}))
	if err != nil {
		t.Fatal(err)
	}
	var zero []int
	s, err := r.Loop(context.Background(), func(p Progress) {
		if p.GradNorm == 0 {
			zero = append(zero, p.Step)
		}
	}, nil)
	if s != StateError || !errors.Is(err, train.ErrDiverged) || len(zero) > 0 {
		t.Fatalf("state %s, err %v, zero-gradient steps reported %v", s, err, zero)
	}
	if msg := Plain(err); !regexp.MustCompile(`diverged.*Lower the learning rate or alpha`).MatchString(msg) {
		t.Fatalf("plain: %q", msg)
	}
	if h := r.History(); h.Step >= 20 || len(h.Losses) != h.Step {
		t.Fatalf("history %+v", h)
	}
}

func TestSequentialLossFalls(t *testing.T) {
	ctx := context.Background()
	s, err := NewSequential(SequentialOptions{Layers: []int{4, 32, 2}, Activation: "tanh", Seed: 1, Rank: 4, LR: 2e-2})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const N = 64
	x, y := make([]float32, N*4), make([]float32, N*2)
	for i := range N {
		for j := range 4 {
			x[i*4+j] = float32(rng.Float64()*2 - 1)
		}
		y[i*2] = float32(math.Sin(float64(x[i*4] + x[i*4+1])))
		y[i*2+1] = x[i*4+2] * x[i*4+3]
	}
	var first, last float32
	for step := range 300 {
		l, err := s.Step(ctx, x, []int{N, 4}, y, []int{N, 2})
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = l
		}
		last = l
	}
	if !(last < first/5) {
		t.Fatalf("loss %v → %v", first, last)
	}
	out, shape, err := s.Predict(ctx, x[:8], []int{2, 4})
	if err != nil || len(out) != 4 || !slices.Equal(shape, []int{2, 2}) {
		t.Fatal(out, shape, err)
	}
	if _, err := s.Step(ctx, x, []int{N, 3}, y, []int{N, 2}); err == nil {
		t.Error("wrong input width accepted")
	}
	if sm := s.Summary(); sm.Trainable != 4*(4+32)+4*(32+2) {
		t.Errorf("summary %+v", sm)
	}
}

func TestBuiltinIsLlama(t *testing.T) {
	_, b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(strings.NewReader(string(b)), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := llama.ConfigFromGGUF(f); err != nil || c != BuiltinConfig() {
		t.Fatalf("config %+v %v", c, err)
	}
}
