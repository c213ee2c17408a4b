package train

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// rowCounter counts the rows a replica trains on.
type rowCounter struct {
	*llama.Model[float32]
	rows int
}

func (m *rowCounter) ForwardBackward(ctx context.Context, tokens, targets [][]int, gradScale float64) (float64, error) {
	m.rows += len(tokens)
	return m.Model.ForwardBackward(ctx, tokens, targets, gradScale)
}

// TestReplicasMatchOneRun trains the same LoRA run alone and as 2 and 3
// data-parallel replicas (a batch of 4 splits 2+2 and 1+1+2): the losses
// and the adapter match the single run up to float rounding, and the
// replicas stay bit-identical to each other.
func TestReplicasMatchOneRun(t *testing.T) {
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := Config{SeqLen: 16, Batch: 4, GradAccum: 2, Steps: 6, LR: 1e-2, Seed: 3, ClipNorm: 1}
	solo, err := New[float32](loraModel(t, false), toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// the gradient norm (before clipping) is the all-reduced gradient's: a
	// sum off by a constant factor shows there, where AdamW's update hides it
	var soloNorms []float64
	solo.OnProgress = func(p Progress) { soloNorms = append(soloNorms, p.GradNorm) }
	if err := solo.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int{2, 3} {
		red := NewLocal[float32](count)
		runs := make([]*Run[float32], count)
		models := make([]*rowCounter, count)
		norms := make([][]float64, count)
		for i := range runs {
			models[i] = &rowCounter{Model: loraModel(t, false)}
			if runs[i], err = New[float32](models[i], toks, cfg); err != nil {
				t.Fatal(err)
			}
			runs[i].OnProgress = func(p Progress) { norms[i] = append(norms[i], p.GradNorm) }
			if err := runs[i].SetReplica(i, count, red.AllReduce(i)); err != nil {
				t.Fatal(err)
			}
		}
		errs := make([]error, count)
		var wg sync.WaitGroup
		for i, r := range runs {
			wg.Go(func() { errs[i] = r.Run(context.Background()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%d replicas: replica %d: %v", count, i, err)
			}
		}
		// each replica ran forward/backward on its share of the rows only
		for i, m := range models {
			lo, hi := i*cfg.Batch/count, (i+1)*cfg.Batch/count
			if want := (hi - lo) * cfg.GradAccum * cfg.Steps; m.rows != want {
				t.Errorf("%d replicas: replica %d saw %d rows, want %d", count, i, m.rows, want)
			}
		}
		want := solo.Losses()
		for i, r := range runs {
			got := r.Losses()
			for s := range want {
				if math.Abs(got[s]-want[s]) > 1e-5*math.Abs(want[s]) {
					t.Errorf("%d replicas: replica %d loss[%d] = %.7f, one run %.7f", count, i, s, got[s], want[s])
				}
				if got[s] != runs[0].Losses()[s] {
					t.Errorf("%d replicas: replica %d loss[%d] differs from replica 0", count, i, s)
				}
				if g, w := norms[i][s], soloNorms[s]; math.Abs(g-w) > 1e-5*w {
					t.Errorf("%d replicas: replica %d gradient norm[%d] = %.7g, one run %.7g", count, i, s, g, w)
				}
			}
			for k, p := range r.params {
				for j, v := range p.Value.Data() {
					if v != runs[0].params[k].Value.Data()[j] {
						t.Fatalf("%d replicas: replica %d %s[%d] = %g, replica 0 %g", count, i, p.Name, j, v, runs[0].params[k].Value.Data()[j])
					}
					if w := solo.params[k].Value.Data()[j]; math.Abs(float64(v-w)) > 1e-5 {
						t.Fatalf("%d replicas: %s[%d] = %g, one run %g", count, p.Name, j, v, w)
					}
				}
			}
		}
	}
}

// TestReplicaGoneLeavesRunAsBefore: when the other replicas are gone the
// step fails without changing the run, and the run then trains alone.
func TestReplicaGoneLeavesRunAsBefore(t *testing.T) {
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := Config{SeqLen: 16, Batch: 2, Steps: 4, LR: 1e-2, Seed: 3}
	r, err := New[float32](loraModel(t, false), toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	red := NewLocal[float32](2)
	if err := r.SetReplica(0, 2, red.AllReduce(0)); err != nil {
		t.Fatal(err)
	}
	quit := errors.New("replica 1 ran out of memory")
	red.Close(quit)
	before := append([]float32(nil), r.params[0].Value.Data()...)
	if _, err := r.Step(context.Background()); !errors.Is(err, ErrReplicaGone) || !errors.Is(err, quit) {
		t.Fatalf("step with the replicas gone: %v", err)
	}
	if r.StepsDone() != 0 || len(r.Losses()) != 0 {
		t.Fatalf("the failed step counted: %d steps, losses %v", r.StepsDone(), r.Losses())
	}
	for i, v := range r.params[0].Value.Data() {
		if v != before[i] {
			t.Fatalf("the failed step changed %s[%d]", r.params[0].Name, i)
		}
	}
	if err := r.SetReplica(0, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]int{{-1, 2}, {2, 2}, {0, 0}} {
		if err := r.SetReplica(bad[0], bad[1], red.AllReduce(0)); !errors.Is(err, ErrConfig) {
			t.Errorf("SetReplica(%d, %d): %v", bad[0], bad[1], err)
		}
	}
	if err := r.SetReplica(1, 2, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("SetReplica without an all-reduce: %v", err)
	}
}

// TestLocalWaitEndsWithContext: a replica waiting for the others returns
// when its context ends, and Close wakes a waiting replica.
func TestLocalWaitEndsWithContext(t *testing.T) {
	p := nn.NewParameter("p", tensor.Zeros[float32](3), true)
	red := NewLocal[float32](2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := red.AllReduce(0)(ctx, 1, []*nn.Parameter[float32]{p}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	red = NewLocal[float32](2)
	got := make(chan error)
	go func() {
		_, err := red.AllReduce(0)(context.Background(), 1, []*nn.Parameter[float32]{p})
		got <- err
	}()
	red.Close(errors.New("gone"))
	if err := <-got; !errors.Is(err, ErrReplicaGone) {
		t.Fatalf("wait after Close: %v", err)
	}
}
