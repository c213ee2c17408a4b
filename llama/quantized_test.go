package llama

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
)

// mixedConfig is wide enough for every block size (256).
func mixedConfig(tied bool) Config {
	return Config{VocabSize: 40, Dim: 256, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 256,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 32, TiedOutput: tied}
}

// mixedFile writes a random model of cfg whose 2-D tensors have the types
// in types (by name without "blk.0."; F32 when absent). Types gguf can
// encode carry the random model's values; the others random blocks.
func mixedFile(t *testing.T, cfg Config, types map[string]gguf.TensorType) []byte {
	t.Helper()
	f32 := saved(t, NewRandom[float32](cfg, 21), gguf.TypeF32)
	f, err := gguf.Open(bytes.NewReader(f32), int64(len(f32)))
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		w.Add(kv.Key, kv.Value)
	}
	for i, ti := range f.Tensors {
		typ, ok := types[strings.TrimPrefix(ti.Name, "blk.0.")]
		d, err := f.ReadTensorF32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !ok || gguf.CanEncode(typ):
			if !ok {
				typ = gguf.TypeF32
			}
			err = w.AddTensorF32(ti.Name, ti.Dims, d, typ)
		default:
			var raw []byte
			if raw, err = quant.Random(typ, int(ti.Dims[1]), int(ti.Dims[0]), 0.1, uint64(i)); err == nil {
				err = w.AddTensor(ti.Name, typ, ti.Dims, raw)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLoadKeepsWeightsQuantized loads files whose weights have every type
// quant holds and checks that they stay in their type (QuantLinear layers,
// a quantized embedding and tied head, bytes as in the file) and compute
// what the dequantized model computes: logits, loss and LoRA gradients.
func TestLoadKeepsWeightsQuantized(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tied  bool
		types map[string]gguf.TensorType
	}{
		{"tied", true, map[string]gguf.TensorType{"token_embd.weight": gguf.TypeQ6_K,
			"attn_q.weight": gguf.TypeQ4_K, "attn_k.weight": gguf.TypeQ5_K, "attn_v.weight": gguf.TypeQ8_0,
			"attn_output.weight": gguf.TypeQ5_0, "ffn_gate.weight": gguf.TypeQ4_1, "ffn_up.weight": gguf.TypeQ5_1,
			"ffn_down.weight": gguf.TypeF16}},
		{"untied", false, map[string]gguf.TensorType{"token_embd.weight": gguf.TypeQ8_0, "output.weight": gguf.TypeQ6_K,
			"attn_q.weight": gguf.TypeBF16, "attn_k.weight": gguf.TypeQ4_0, "ffn_up.weight": gguf.TypeQ4_K}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mixedConfig(tc.tied)
			withLossChunks(t, 4, cfg.VocabSize) // the quantized head's reused chunk buffer, 4 chunks of 14 rows
			data := mixedFile(t, cfg, tc.types)
			kept, err := load[float32](data, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			deq, err := load[float32](data, LoadOptions{Dequantize: true})
			if err != nil {
				t.Fatal(err)
			}
			checkKeptLayout(t, kept, deq, data, tc.types)
			tokens, targets := tinyBatch(cfg, 2, 7, 5)
			want := logitsOf(t, deq, tokens)
			if d, s := maxDiff(logitsOf(t, kept, tokens), want), maxAbs(want); d > 1e-5*s {
				t.Fatalf("logits differ by %g (max |logit| %g)", d, s)
			}
			for _, m := range []*Model[float32]{kept, deq} {
				if err := lora.InjectLoRA(m, 4, 8, []string{"attn_q", "attn_v", "ffn_up"}, m.Engine()); err != nil {
					t.Fatal(err)
				}
				for _, l := range m.Layers() { // non-zero B so that every gradient flows
					if ll, ok := l.(*lora.LoraLinear[float32]); ok {
						for i := range ll.B.Value.Data() {
							ll.B.Value.Data()[i] = float32(i%7-3) * 0.01
						}
					}
				}
			}
			lk, err := kept.ForwardBackward(context.Background(), tokens, targets, 1)
			if err != nil {
				t.Fatal(err)
			}
			ld, err := deq.ForwardBackward(context.Background(), tokens, targets, 1)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(lk-ld) > 1e-5*math.Abs(ld) {
				t.Fatalf("loss %v kept, %v dequantized", lk, ld)
			}
			gd := gradsOf(deq)
			for i, g := range gradsOf(kept) {
				if d, s := maxDiff(g, gd[i]), maxAbs(gd[i]); d > 1e-4*s {
					t.Fatalf("%s: gradient differs by %g (max %g)", kept.Parameters()[i].Name, d, s)
				}
			}
		})
	}
}

// checkKeptLayout checks which layers stay quantized, the bytes they hold,
// counts, saving, full fine-tuning's refusal and QLoRA's choices.
func checkKeptLayout(t *testing.T, kept, deq *Model[float32], data []byte, types map[string]gguf.TensorType) {
	t.Helper()
	f, _ := gguf.Open(bytes.NewReader(data), int64(len(data)))
	var fileBytes, heldBytes int
	for _, ti := range f.Tensors {
		if ti.Type != gguf.TypeF32 {
			fileBytes += int(ti.NumBytes())
		}
	}
	seen := map[*quant.Matrix]bool{}
	for _, w := range kept.QuantMatrices() {
		seen[w] = true
		heldBytes += len(w.Data())
	}
	for _, l := range kept.Layers() {
		typ, quantized := types[strings.TrimPrefix(l.Name(), "blk.0.")+".weight"]
		if l.Name() == "output" && kept.Config.TiedOutput {
			typ, quantized = types["token_embd.weight"], true
		}
		q, isQ := l.(*nn.QuantLinear[float32])
		if isQ != quantized || (isQ && q.Matrix().Type() != typ) {
			t.Fatalf("layer %s is %s, file type %v", l.Name(), l.OpType(), typ)
		}
		if isQ && !seen[q.Matrix()] {
			seen[q.Matrix()] = true
			heldBytes += len(q.Matrix().Data())
		}
	}
	if heldBytes != fileBytes {
		t.Fatalf("model holds %d bytes of quantized weights, the file %d", heldBytes, fileBytes)
	}
	if kept.TokenEmbd != nil || kept.TokenEmbdMatrix().Type() != types["token_embd.weight"] {
		t.Fatal("token embedding not kept in its type")
	}
	if a, b := lora.TotalParamCount[float32](kept), lora.TotalParamCount[float32](deq); a != b {
		t.Fatalf("parameter count %d kept, %d dequantized", a, b)
	}
	if err := kept.SetTrainable(true); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "token_embd") {
		t.Fatalf("SetTrainable on a quantized model: %v", err)
	}
	if !bytes.Equal(saved(t, kept, gguf.TypeF32), saved(t, deq, gguf.TypeF32)) {
		t.Fatal("saving the kept model differs from saving the dequantized one")
	}
	q, err := load[float32](data, LoadOptions{QLoRA: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range q.Blocks[0].layers() {
		_, isNF4 := l.(*nn.NF4Linear[float32])
		ti, _ := f.Tensor(l.Name() + ".weight")
		if isNF4 != nf4Source(ti.Type) {
			t.Fatalf("QLoRA: %s (%v) is %s", l.Name(), ti.Type, l.OpType())
		}
	}
}

func maxAbs(s []float32) float64 {
	m := 0.0
	for _, v := range s {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// layers returns the block's seven linear layers.
func (b *Block[T]) layers() []nn.Node[T] {
	return []nn.Node[T]{b.Q, b.K, b.V, b.O, b.Gate, b.Up, b.Down}
}
