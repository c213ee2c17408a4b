package llamastep

import (
	"math"
	"testing"

	"github.com/webtune/webtune/tensor"
)

// TestEnginesAgree checks that the first losses on the alternative engine
// match the CPU engine's.
func TestEnginesAgree(t *testing.T) {
	es := engines()
	var want []float64
	for i, e := range es {
		tr, err := New(e)
		if err != nil {
			t.Fatal(err)
		}
		for s := range 1 {
			l, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				want = append(want, l)
			} else if math.Abs(l-want[s]) > 1e-4*math.Abs(want[s]) {
				t.Fatalf("%s: step %d loss %g, cpu %g", e.Name(), s, l, want[s])
			}
		}
	}
}

func BenchmarkTrain(b *testing.B) {
	for _, e := range engines() {
		b.Run(e.Name(), func(b *testing.B) {
			tr, err := New(e)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tr.Step(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := tr.Step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(Tokens*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

var _ = tensor.NewCPU[float32]

func BenchmarkTrainBuiltin(b *testing.B) {
	cfg, err := BuiltinConfig()
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range engines() {
		b.Run(e.Name(), func(b *testing.B) {
			tr, err := NewConfig(e, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tr.Step(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := tr.Step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(Tokens*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
