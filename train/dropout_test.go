package train

import (
	"bytes"
	"context"
	"math"
	"sync"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
)

// dropoutModel is loraModel with LoRA dropout p.
func dropoutModel(t testing.TB, p float64) *llama.Model[float32] {
	t.Helper()
	m := llama.NewRandom[float32](tinyConfig(), 11)
	if err := lora.InjectLoRA[float32](m, 4, 8, allLinear, m.Engine(), lora.WithSeed(5), lora.WithDropout(p)); err != nil {
		t.Fatal(err)
	}
	return m
}

func adapterBytes(t testing.TB, m *llama.Model[float32]) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := lora.WriteAdapter[float32](&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var dropoutCfg = Config{SeqLen: 16, Batch: 2, GradAccum: 2, Steps: 6, LR: 1e-2, EvalEvery: 2, Seed: 4}

// TestResumeWithDropoutExact: with LoRA dropout 0.1, a run checkpointed at
// step 3 and resumed on a freshly injected model gives every later loss,
// every evaluation and the final adapter bytes of the uninterrupted run
// (masks are drawn from the step, micro-batch and row, not from a stream
// the checkpoint would have to hold).
func TestResumeWithDropoutExact(t *testing.T) {
	ctx := context.Background()
	toks := Tokenize(byteTokenizer(t), sampleText)
	m0 := dropoutModel(t, 0.1)
	r0, err := New[float32](m0, toks, dropoutCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r0.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// dropout is really on: without it the losses differ
	plain, _ := New[float32](dropoutModel(t, 0), toks, dropoutCfg)
	if err := plain.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if plain.Losses()[1] == r0.Losses()[1] {
		t.Fatal("dropout 0.1 and 0 gave the same step-2 loss: dropout is not applied")
	}

	r1, _ := New[float32](dropoutModel(t, 0.1), toks, dropoutCfg)
	for range 3 {
		if _, err := r1.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ck := checkpointBytes(t, r1)
	m2 := dropoutModel(t, 0.1)
	r2, _ := New[float32](m2, toks, dropoutCfg)
	if err := r2.Restore(bytes.NewReader(ck)); err != nil {
		t.Fatal(err)
	}
	if err := r2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	sameLosses(t, "resumed with dropout", r2.Losses(), r0.Losses())
	if e0, e2 := r0.EvalLosses(), r2.EvalLosses(); len(e0) != len(e2) || len(e0) == 0 {
		t.Fatalf("evals %v, uninterrupted %v", e2, e0)
	} else {
		for i := range e0 {
			if e0[i] != e2[i] {
				t.Fatalf("eval %d: resumed %v, uninterrupted %v", i, e2[i], e0[i])
			}
		}
	}
	if !bytes.Equal(adapterBytes(t, m0), adapterBytes(t, m2)) {
		t.Fatal("the resumed run wrote a different adapter")
	}
}

// TestReplicasWithDropoutMatchOneRun: two data-parallel replicas with LoRA
// dropout draw the masks a single run draws for the same rows, so losses,
// gradient norms and the adapter match the single run up to float rounding.
func TestReplicasWithDropoutMatchOneRun(t *testing.T) {
	ctx := context.Background()
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := dropoutCfg
	cfg.Batch = 4
	var soloNorms []float64
	solo, _ := New[float32](dropoutModel(t, 0.2), toks, cfg)
	solo.OnProgress = func(p Progress) { soloNorms = append(soloNorms, p.GradNorm) }
	if err := solo.Run(ctx); err != nil {
		t.Fatal(err)
	}
	red := NewLocal[float32](2)
	runs := make([]*Run[float32], 2)
	norms := make([][]float64, 2)
	for i := range runs {
		runs[i], _ = New[float32](dropoutModel(t, 0.2), toks, cfg)
		runs[i].OnProgress = func(p Progress) { norms[i] = append(norms[i], p.GradNorm) }
		if err := runs[i].SetReplica(i, 2, red.AllReduce(i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range runs {
		wg.Go(func() { errs[i] = r.Run(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	for s, want := range solo.Losses() {
		if got := runs[0].Losses()[s]; math.Abs(got-want) > 1e-5*want {
			t.Errorf("loss[%d] = %.7f on 2 replicas, %.7f alone", s, got, want)
		}
		if got := norms[0][s]; math.Abs(got-soloNorms[s]) > 1e-4*soloNorms[s] {
			t.Errorf("gradient norm[%d] = %.7g on 2 replicas, %.7g alone", s, got, soloNorms[s])
		}
	}
	for k, p := range runs[0].params {
		for j, v := range p.Value.Data() {
			if w := solo.params[k].Value.Data()[j]; math.Abs(float64(v-w)) > 1e-5 {
				t.Fatalf("%s[%d] = %g on 2 replicas, %g alone", p.Name, j, v, w)
			}
		}
	}
}
