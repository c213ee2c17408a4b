package lora

import (
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// TestParamCounts counts newTestModel by hand (see testModelParams) before
// and after LoRA, with dense and NF4 bases.
func TestParamCounts(t *testing.T) {
	m := newTestModel[float32](t, 1)
	if got := TotalParamCount[float32](m); got != testModelParams {
		t.Fatalf("total %d, want %d", got, testModelParams)
	}
	if got := TrainableParamCount[float32](m); got != testModelParams {
		t.Fatalf("trainable %d before injection, want all %d", got, testModelParams)
	}
	// r = 2 on ffn_up (8→16) and ffn_down (16→8) of both blocks:
	// A [2, 8] + B [16, 2] = 48 and A [2, 16] + B [8, 2] = 48, so 4·48 = 192
	// LoRA parameters; the head (36) stays trainable; the blocks' bases freeze.
	if err := InjectLoRA[float32](m, 2, 4, []string{"up_proj", "ffn_down"}, nil); err != nil {
		t.Fatal(err)
	}
	const lora, head = 192, 36
	if got := TotalParamCount[float32](m); got != testModelParams+lora {
		t.Fatalf("total %d after injection, want %d", got, testModelParams+lora)
	}
	// attn_q layers were not targeted: still trainable (2·72).
	if got, want := TrainableParamCount[float32](m), lora+head+2*72; got != want {
		t.Fatalf("trainable %d, want %d", got, want)
	}
	if got, want := Summary[float32](m), "trainable params: 372 || all params: 932 || trainable%: 39.9142"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}

	// QLoRA: NF4 bases count rows·cols (plus their frozen bias).
	q := newTestModel[float32](t, 1)
	if err := QuantizeTargets[float32](q, []string{"ffn_up", "ffn_down"}, nf4.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := InjectLoRA[float32](q, 2, 4, []string{"ffn_up", "ffn_down"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := TotalParamCount[float32](q); got != testModelParams+lora {
		t.Fatalf("total %d with NF4 bases, want %d", got, testModelParams+lora)
	}
	if got, want := TrainableParamCount[float32](q), lora+head+2*72; got != want {
		t.Fatalf("trainable %d with NF4 bases, want %d", got, want)
	}
}

// allParamsModel has parameters outside its layers (like llama's
// embeddings) and a tied head.
type allParamsModel struct {
	*nn.Sequential[float32]
	extra []*nn.Parameter[float32]
}

func (m allParamsModel) AllParameters() []*nn.Parameter[float32] { return m.extra }

func TestParamCountsAllParameters(t *testing.T) {
	seq := newTestModel[float32](t, 1)
	emb := nn.NewParameter("token_embd.weight", tensor.Zeros[float32](10, tmIn), false)
	head := seq.Layers()[len(seq.Layers())-1].Parameters()[0] // counted twice, must count once
	m := allParamsModel{seq, []*nn.Parameter[float32]{emb, head}}
	if got, want := TotalParamCount[float32](m), testModelParams+80; got != want {
		t.Fatalf("total %d, want %d", got, want)
	}
	if got, want := TrainableParamCount[float32](m), testModelParams; got != want {
		t.Fatalf("trainable %d, want %d", got, want)
	}
}

func TestSummaryFormat(t *testing.T) {
	for _, tc := range []struct {
		trainable, total int
		want             string
	}{
		{4194304, 6742609920, "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"},
		{0, 0, "trainable params: 0 || all params: 0 || trainable%: 0.0000"},
		{999, 1000, "trainable params: 999 || all params: 1,000 || trainable%: 99.9000"},
		{100, 100, "trainable params: 100 || all params: 100 || trainable%: 100.0000"},
	} {
		if got := summaryLine(tc.trainable, tc.total); got != tc.want {
			t.Errorf("summaryLine(%d, %d) = %q, want %q", tc.trainable, tc.total, got, tc.want)
		}
	}
	for n, want := range map[int]string{0: "0", 12: "12", 123: "123", 1234: "1,234", 123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

// quantMatricesModel lists quantized matrices outside its layers (like a
// quantized token embedding).
type quantMatricesModel struct {
	*nn.Sequential[float32]
	ms []*quant.Matrix
}

func (m quantMatricesModel) QuantMatrices() []*quant.Matrix { return m.ms }

// TestParamCountsQuantBase counts a GGUF-quantized base weight as rows·cols,
// once even when the model lists it again, before and after LoRA wraps it.
func TestParamCountsQuantBase(t *testing.T) {
	matrix := func(rows, cols int) *quant.Matrix {
		data, err := quant.Random(gguf.TypeF16, rows, cols, 0.5, 1)
		if err != nil {
			t.Fatal(err)
		}
		w, err := quant.NewMatrix(gguf.TypeF16, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	seq := newTestModel[float32](t, 1)
	w, emb := matrix(tmFF, tmIn), matrix(10, tmIn)
	ql, err := nn.NewQuantLinear[float32]("blk.0.ffn_up", w, nil, tensor.NewCPU[float32]())
	if err != nil {
		t.Fatal(err)
	}
	if err := seq.ReplaceLayer("blk.0.ffn_up", ql); err != nil {
		t.Fatal(err)
	}
	m := quantMatricesModel{seq, []*quant.Matrix{w, emb}}
	want := testModelParams - tmFF + 10*tmIn // the quantized layer has no bias
	if got := TotalParamCount[float32](m); got != want {
		t.Fatalf("total %d, want %d", got, want)
	}
	if err := InjectLoRA[float32](m, 2, 4, []string{"ffn_up"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := TotalParamCount[float32](m); got != want+2*48 {
		t.Fatalf("total %d after LoRA, want %d", got, want+2*48)
	}
}
