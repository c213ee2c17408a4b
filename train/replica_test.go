package train

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/nn"
)

// memReduce is an in-process all-reduce for count replicas in goroutines:
// each deposits its gradients and loss, the last to arrive sums them in
// replica order, and every replica copies the same sums back.
type memReduce struct {
	count int
	mu    sync.Mutex
	cond  *sync.Cond
	gen   int
	got   [][]float32
	loss  []float64
	sum   []float32
	total float64
	quit  bool
}

func newMemReduce(count int) *memReduce {
	m := &memReduce{count: count, got: make([][]float32, count), loss: make([]float64, count)}
	m.cond = sync.NewCond(&m.mu)
	return m
}

var errQuit = errors.New("the other replicas are gone")

func (m *memReduce) fn(index int) AllReduce[float32] {
	arrived := 0
	return func(ctx context.Context, loss float64, params []*nn.Parameter[float32]) (float64, error) {
		var flat []float32
		for _, p := range params {
			flat = append(flat, p.Grad.Data()...)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.quit {
			return 0, errQuit
		}
		gen := m.gen
		m.got[index], m.loss[index] = flat, loss
		arrived = 0
		for _, g := range m.got {
			if g != nil {
				arrived++
			}
		}
		if arrived == m.count {
			m.sum, m.total = make([]float32, len(flat)), 0
			for j := range m.count {
				m.total += m.loss[j]
				for i, v := range m.got[j] {
					if j == 0 {
						m.sum[i] = v
					} else {
						m.sum[i] += v
					}
				}
				m.got[j] = nil
			}
			m.gen++
			m.cond.Broadcast()
		}
		for m.gen == gen && !m.quit {
			m.cond.Wait()
		}
		if m.gen == gen {
			return 0, errQuit
		}
		off := 0
		for _, p := range params {
			off += copy(p.Grad.Data(), m.sum[off:])
		}
		return m.total, nil
	}
}

func (m *memReduce) end() {
	m.mu.Lock()
	m.quit = true
	m.cond.Broadcast()
	m.mu.Unlock()
}

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
	if err := solo.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int{2, 3} {
		red := newMemReduce(count)
		runs := make([]*Run[float32], count)
		models := make([]*rowCounter, count)
		for i := range runs {
			models[i] = &rowCounter{Model: loraModel(t, false)}
			if runs[i], err = New[float32](models[i], toks, cfg); err != nil {
				t.Fatal(err)
			}
			if err := runs[i].SetReplica(i, count, red.fn(i)); err != nil {
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
	red := newMemReduce(2)
	if err := r.SetReplica(0, 2, red.fn(0)); err != nil {
		t.Fatal(err)
	}
	red.end()
	before := append([]float32(nil), r.params[0].Value.Data()...)
	if _, err := r.Step(context.Background()); !errors.Is(err, errQuit) {
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
		if err := r.SetReplica(bad[0], bad[1], red.fn(0)); !errors.Is(err, ErrConfig) {
			t.Errorf("SetReplica(%d, %d): %v", bad[0], bad[1], err)
		}
	}
	if err := r.SetReplica(1, 2, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("SetReplica without an all-reduce: %v", err)
	}
}
