package lora

import (
	"fmt"
	"strconv"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// TotalParamCount returns the number of parameters of m, frozen ones
// included, each counted once (tied weights too): every Parameter of every
// layer (a LoRA layer's A, B and its base's), plus every element of an NF4
// or GGUF-quantized base weight (rows·cols, which is not a Parameter; a
// model's QuantMatrices() too, such as a quantized token embedding), plus the parameters
// outside Layers of a model that lists them with
// AllParameters() []*nn.Parameter[T] (llama.Model's embeddings and norms).
func TotalParamCount[T tensor.Numeric](m Model[T]) int {
	total, _ := countParams(m)
	return total
}

// TrainableParamCount returns the number of trainable parameters of m
// (LoRA's A and B after InjectLoRA), counted as TotalParamCount does.
func TrainableParamCount[T tensor.Numeric](m Model[T]) int {
	_, trainable := countParams(m)
	return trainable
}

// Summary returns PEFT's print_trainable_parameters line:
//
//	trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622
//
// (trainable% is 100·trainable/all with four decimals; 0 for an empty model).
func Summary[T tensor.Numeric](m Model[T]) string {
	total, trainable := countParams(m)
	return summaryLine(trainable, total)
}

// summaryLine formats the counts as PEFT does.
func summaryLine(trainable, total int) string {
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(trainable) / float64(total)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(trainable), commas(total), pct)
}

// countParams walks m once, deduplicating parameters and NF4 weights by
// pointer.
func countParams[T tensor.Numeric](m Model[T]) (total, trainable int) {
	if m == nil {
		return 0, 0
	}
	seen := map[*nn.Parameter[T]]bool{}
	seenQ := map[*nf4.Tensor]bool{}
	seenM := map[*quant.Matrix]bool{}
	addMatrix := func(w *quant.Matrix) {
		if w != nil && !seenM[w] {
			seenM[w] = true
			total += w.Rows() * w.Cols()
		}
	}
	if qm, ok := m.(interface{ QuantMatrices() []*quant.Matrix }); ok {
		for _, w := range qm.QuantMatrices() {
			addMatrix(w)
		}
	}
	add := func(ps []*nn.Parameter[T]) {
		for _, p := range ps {
			if p == nil || p.Value == nil || seen[p] {
				continue
			}
			seen[p] = true
			total += p.Value.Size()
			if p.Trainable {
				trainable += p.Value.Size()
			}
		}
	}
	if all, ok := m.(interface{ AllParameters() []*nn.Parameter[T] }); ok {
		add(all.AllParameters())
	}
	var walk func(l Layer[T])
	walk = func(l Layer[T]) {
		if l == nil {
			return
		}
		add(l.Parameters())
		if ll, ok := l.(*LoraLinear[T]); ok {
			walk(ll.base)
		}
		if q, ok := l.(interface{ Quantized() *nf4.Tensor }); ok {
			if w := q.Quantized(); w != nil && !seenQ[w] {
				seenQ[w] = true
				total += w.Rows() * w.Cols()
			}
		}
		if q, ok := l.(interface{ Matrix() *quant.Matrix }); ok {
			addMatrix(q.Matrix())
		}
	}
	for _, l := range m.Layers() {
		walk(l)
	}
	return total, trainable
}

// commas formats n with thousands separators (Python's {:,}).
func commas(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
