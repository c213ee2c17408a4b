package step

import (
	"math"
	"testing"

	"github.com/webtune/webtune/tensor"
)

func TestStepLossFalls(t *testing.T) {
	s, err := New(tensor.NewCPU[float32](), NewData(1))
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	var last float32
	for range 5 {
		if last, err = s.Run(); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < first) {
		t.Fatalf("loss %g -> %g, want a decrease", first, last)
	}
}

func BenchmarkStep(b *testing.B) {
	for _, e := range engines() {
		b.Run(e.Name(), func(b *testing.B) {
			s, err := New(e, NewData(1))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(Flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGemmBase times only the step's dominant product, y = x·Wᵀ.
func BenchmarkGemmBase(b *testing.B) {
	d := NewData(1)
	y := make([]float32, N*Out)
	for _, e := range engines() {
		b.Run(e.Name(), func(b *testing.B) {
			for b.Loop() {
				e.Gemm(false, true, N, Out, In, 1, d.X, d.W, 0, y)
			}
			b.ReportMetric(2*N*In*Out*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestDataParallelMatches checks that two half-batch workers whose
// gradients are averaged take the same step as one worker.
func TestDataParallelMatches(t *testing.T) {
	d := NewData(2)
	e := tensor.NewCPU[float32]()
	one, err := New(e, d)
	if err != nil {
		t.Fatal(err)
	}
	var parts [2]*Step
	for i := range parts {
		if parts[i], err = NewPart(e, d, i*N/2, (i+1)*N/2); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := one.Run(); err != nil {
			t.Fatal(err)
		}
		dA, dB := make([]float32, Rank*In), make([]float32, Out*Rank)
		for _, p := range parts {
			if _, err := p.Grads(); err != nil {
				t.Fatal(err)
			}
			for i, v := range p.GradA() {
				dA[i] += v / 2
			}
			for i, v := range p.GradB() {
				dB[i] += v / 2
			}
		}
		for _, p := range parts {
			if err := p.Apply(dA, dB); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, v := range one.A() {
		if d := math.Abs(float64(v - parts[1].A()[i])); d > 1e-6 {
			t.Fatalf("A[%d]: one worker %g, two workers %g", i, v, parts[1].A()[i])
		}
	}
}
