package llama

import (
	"context"
	"math"
	"testing"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tensor"
)

// withLossChunks makes the loss run rows rows per chunk for the test.
func withLossChunks(t *testing.T, rows, V int) {
	t.Helper()
	oldF, oldR := lossChunkFloats, minLossRows
	lossChunkFloats, minLossRows = rows*V, 1
	t.Cleanup(func() { lossChunkFloats, minLossRows = oldF, oldR })
}

// unchunkedForwardBackward is the loss and backward over the whole
// [N × V] logits: Forward, the cross-entropy of every row, Backward.
func unchunkedForwardBackward[T float32 | float64](t *testing.T, m *Model[T], tokens, targets [][]int) float64 {
	t.Helper()
	logits, err := m.Forward(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	N, V := len(tokens)*len(tokens[0]), m.Config.VocabSize
	flat := make([]int, 0, N)
	for _, row := range targets {
		flat = append(flat, row...)
	}
	losses, lse := make([]T, N), make([]T, N)
	count := kernels.CrossEntropyForward(losses, lse, logits.Data(), flat, N, V)
	var sum float64
	for _, l := range losses {
		sum += float64(l)
	}
	dlogits := tensor.Zeros[T](N, V)
	kernels.CrossEntropyBackward(dlogits.Data(), logits.Data(), lse, flat, N, V, T(1/float64(count)))
	if err := m.Backward(context.Background(), dlogits); err != nil {
		t.Fatal(err)
	}
	return sum / float64(count)
}

// gradsOf copies every trainable parameter's gradient.
func gradsOf[T float32 | float64](m *Model[T]) [][]T {
	var g [][]T
	for _, p := range m.Parameters() {
		g = append(g, append([]T(nil), p.Grad.Data()...))
	}
	return g
}

// TestChunkedLossMatchesUnchunked runs the chunked loss (3 rows per chunk
// of 10; a LoRA head, or a tied head under full fine-tuning, whose
// gradients add up over the chunks) against the
// loss and backward over the whole logits: same loss and gradients up to
// float rounding; Loss agrees too.
func TestChunkedLossMatchesUnchunked(t *testing.T) {
	for _, tied := range []bool{false, true} {
		cfg := TinyConfig()
		cfg.TiedOutput = tied
		m := NewRandom[float64](cfg, 46)
		if tied { // full fine-tuning: the embedding gets its head gradient chunk by chunk
			if err := m.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := lora.InjectLoRA(m, 2, 4, []string{"attn_q", "attn_v", "ffn_down", "output"}, tensor.NewCPU[float64]()); err != nil {
				t.Fatal(err)
			}
			randomizeB(m, 3)
		}
		tokens, tgts := tinyBatch(cfg, 2, 5, 11)
		m.ZeroGrad()
		wantLoss := unchunkedForwardBackward(t, m, tokens, tgts)
		want := gradsOf(m)
		withLossChunks(t, 3, cfg.VocabSize)
		m.ZeroGrad()
		loss, err := m.ForwardBackward(context.Background(), tokens, tgts, 1)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(loss-wantLoss) > 1e-12 {
			t.Fatalf("tied=%v: chunked loss %v, unchunked %v", tied, loss, wantLoss)
		}
		for i, g := range gradsOf(m) {
			if d := maxDiff(g, want[i]); d > 1e-12 {
				t.Fatalf("tied=%v: %s gradient differs by %g", tied, m.Parameters()[i].Name, d)
			}
		}
		if l, err := m.Loss(context.Background(), tokens, tgts); err != nil || math.Abs(l-wantLoss) > 1e-12 {
			t.Fatalf("tied=%v: Loss %v (%v), want %v", tied, l, err, wantLoss)
		}
	}
}

// TestChunkedLossGradients checks the chunked backward against finite
// differences: full fine-tuning of a tied model (the embedding gets its
// head gradient chunk by chunk) and LoRA on every target.
func TestChunkedLossGradients(t *testing.T) {
	cfg := TinyConfig()
	cfg.TiedOutput = true
	withLossChunks(t, 4, cfg.VocabSize)
	m := NewRandom[float64](cfg, 47)
	if err := m.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	tokens, targets := tinyBatch(cfg, 2, 5, 12)
	checkModelGrads(t, m, tokens, targets)

	cfg.TiedOutput = false
	m = NewRandom[float64](cfg, 48)
	if err := lora.InjectLoRA(m, 2, 4, allTargets, tensor.NewCPU[float64]()); err != nil {
		t.Fatal(err)
	}
	randomizeB(m, 4)
	checkModelGrads(t, m, tokens, targets)
}
