package main

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/quant"
)

// prodRef is a product's expected output buffer and per-element scale:
// prior values outside the product's region kept, inside overwritten or added
// to (acc), scale Σ|terms| (+ |prior| when added).
type prodRef struct {
	ref, scale []float32
}

func newProdRef(prior []float32) *prodRef {
	p := &prodRef{ref: clone(prior), scale: make([]float32, len(prior))}
	for i, v := range prior {
		p.scale[i] = float32(math.Abs(float64(v)))
	}
	return p
}

// set stores the float64 product s (with Σ|terms| b) at element o.
func (p *prodRef) set(o int, s, b float64, acc bool) {
	if acc {
		b += math.Abs(float64(p.ref[o]))
		s += float64(p.ref[o])
	}
	p.ref[o] = float32(s)
	p.scale[o] = float32(b)
}

func (g *gen) prodOut(arg string, p *prodRef) output {
	return output{Arg: arg, Ref: g.f32(p.ref), Len: len(p.ref), Scales: g.f32(p.scale)}
}

// products writes linearInto, linearBackwardInto, embed and matmulInto cases.
func (g *gen) products(seed uint64) error {
	const rows, n, xoff, yoff = 301, 7, 5, 3
	types := []gguf.TensorType{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_K}
	for i, t := range types {
		cols := 83
		switch t.BlockSize() {
		case 32:
			cols = 5 * 32
		case 256:
			cols = 2 * 256
		}
		data, err := weightBytes(t, rows, cols, seed+uint64(i), g)
		if err != nil {
			return err
		}
		W := make([]float32, rows*cols)
		if err := gguf.Decode(t, W, data); err != nil {
			return err
		}
		file := g.write(data)
		// A cap of a third of the weight (at least the largest activation buffer) splits it into ≥ 3 row ranges.
		capBytes := max((len(data)/3+3)/4*4, 4*(xoff+n*max(rows, cols)+2))
		for _, split := range []bool{false, true} {
			acc := split
			wcap := 0
			if split {
				wcap = capBytes
			}
			wt := &weight{Arg: "w", Type: t.String(), File: file, Rows: rows, Cols: cols, Cap: wcap}
			g.linear(wt, W, n, xoff, yoff, acc)
			g.linearBackward(wt, W, n, xoff, yoff, acc)
			g.embed(wt, W, split)
		}
	}
	g.matmuls()
	return nil
}

func weightBytes(t gguf.TensorType, rows, cols int, seed uint64, g *gen) ([]byte, error) {
	if t != gguf.TypeF32 {
		return quant.Random(t, rows, cols, 0.5, seed)
	}
	w := g.uniform(rows*cols, -0.5, 0.5)
	b := make([]byte, 4*len(w))
	for i, x := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b, nil
}

func (g *gen) linear(wt *weight, W []float32, n, xoff, yoff int, acc bool) {
	rows, cols := wt.Rows, wt.Cols
	x := g.uniform(xoff+n*cols+2, -1, 1)
	y := g.normal(yoff+n*rows+2, 1)
	p := newProdRef(y)
	for i := range n {
		for r := range rows {
			var s, b float64
			for c := range cols {
				v := float64(x[xoff+i*cols+c]) * float64(W[r*cols+c])
				s, b = s+v, b+math.Abs(v)
			}
			p.set(yoff+i*rows+r, s, b, acc)
		}
	}
	g.add(testCase{
		Name: fmt.Sprintf("linearInto %s acc=%v cap=%d", wt.Type, acc, wt.Cap), Op: "linearInto", Product: true,
		Args:   map[string]any{"n": n, "acc": acc, "xoff": xoff, "yoff": yoff},
		Bufs:   map[string]buffer{"x": g.in(x), "y": g.in(y)},
		Weight: wt, Outs: []output{g.prodOut("y", p)},
	})
}

func (g *gen) linearBackward(wt *weight, W []float32, n, dyoff, dxoff int, acc bool) {
	rows, cols := wt.Rows, wt.Cols
	dy := g.uniform(dyoff+n*rows+2, -1, 1)
	dx := g.normal(dxoff+n*cols+2, 1)
	p := newProdRef(dx)
	for i := range n {
		for c := range cols {
			var s, b float64
			for r := range rows {
				v := float64(dy[dyoff+i*rows+r]) * float64(W[r*cols+c])
				s, b = s+v, b+math.Abs(v)
			}
			p.set(dxoff+i*cols+c, s, b, acc)
		}
	}
	g.add(testCase{
		Name: fmt.Sprintf("linearBackwardInto %s acc=%v cap=%d", wt.Type, acc, wt.Cap), Op: "linearBackwardInto", Product: true,
		Args:   map[string]any{"n": n, "acc": acc, "dyoff": dyoff, "dxoff": dxoff},
		Bufs:   map[string]buffer{"dy": g.in(dy), "dx": g.in(dx)},
		Weight: wt, Outs: []output{g.prodOut("dx", p)},
	})
}

// embed gathers 13 rows (the first, the last, a repeat) into a prefilled out; scaled by float32(√C) when split.
func (g *gen) embed(wt *weight, W []float32, scaled bool) {
	rows, cols := wt.Rows, wt.Cols
	tokens := []int{0, rows - 1, 5, 5, 17}
	for len(tokens) < 13 {
		tokens = append(tokens, g.rng.IntN(rows))
	}
	scale := float32(1)
	if scaled {
		scale = float32(math.Sqrt(float64(cols)))
	}
	out := g.normal(len(tokens)*cols, 1)
	ref := make([]float32, len(out))
	for i, tok := range tokens {
		for c := range cols {
			ref[i*cols+c] = W[tok*cols+c] * scale
		}
	}
	g.add(testCase{
		Name: fmt.Sprintf("embed %s scale=%v cap=%d", wt.Type, scale, wt.Cap), Op: "embed",
		Args:   map[string]any{"n": len(tokens), "scale": scale},
		Bufs:   map[string]buffer{"tokens": {File: g.ints(tokens), Type: "u32", Len: len(tokens)}, "out": g.in(out)},
		Weight: wt, Outs: []output{g.out("out", ref)},
	})
}

// matmuls: the four layouts, alpha ≠ 1, acc, offsets into A and C.
func (g *gen) matmuls() {
	for _, c := range []struct {
		m, k, n        int
		transA, transB bool
		alpha          float32
		acc            bool
		aoff, coff     int
	}{
		{7, 45, 23, false, true, 1.75, false, 0, 0},
		{7, 23, 45, false, false, 1, true, 3, 5},
		{45, 7, 23, true, false, 0.5, true, 0, 0},
		{33, 130, 17, true, true, -2, false, 11, 2},
		{1, 1, 1, false, false, 1, false, 0, 0},
	} {
		a := g.uniform(c.aoff+c.m*c.k, -1, 1)
		b := g.uniform(c.k*c.n, -1, 1)
		cc := g.normal(c.coff+c.m*c.n+3, 1)
		p := newProdRef(cc)
		for i := range c.m {
			for j := range c.n {
				var s, bound float64
				for q := range c.k {
					av := a[c.aoff+i*c.k+q]
					if c.transA {
						av = a[c.aoff+q*c.m+i]
					}
					bv := b[q*c.n+j]
					if c.transB {
						bv = b[j*c.k+q]
					}
					v := float64(av) * float64(bv) * float64(c.alpha)
					s, bound = s+v, bound+math.Abs(v)
				}
				p.set(c.coff+i*c.n+j, s, bound, c.acc)
			}
		}
		g.add(testCase{
			Name: fmt.Sprintf("matmulInto %d×%d·%d×%d transA=%v transB=%v alpha=%v acc=%v", c.m, c.k, c.k, c.n, c.transA, c.transB, c.alpha, c.acc),
			Op:   "matmulInto", Product: true,
			Args: map[string]any{"m": c.m, "k": c.k, "n": c.n, "transA": c.transA, "transB": c.transB,
				"alpha": c.alpha, "acc": c.acc, "aoff": c.aoff, "coff": c.coff},
			Bufs: map[string]buffer{"a": g.in(a), "b": g.in(b), "c": g.in(cc)},
			Outs: []output{g.prodOut("c", p)},
		})
	}
}
