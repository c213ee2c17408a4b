package main

import (
	"fmt"

	"github.com/webtune/webtune/kernels"
)

// norms: rows × cols not multiples of 256 (and the C = 2048 maximum), one
// case of tiny values where eps weighs in mean(x²), one with out = x.
func (g *gen) norms() {
	for _, c := range []struct {
		rows, cols int
		eps, sd    float32
		alias      bool
	}{
		{37, 83, 1e-5, 2, false},
		{5, 2048, 1e-6, 1, false},
		{300, 13, 1e-6, 1e-3, false},
		{37, 83, 1e-6, 1, true},
	} {
		x := g.normal(c.rows*c.cols, c.sd)
		w := g.uniform(c.cols, 0.5, 1.5)
		out := make([]float32, len(x))
		rstd := make([]float32, c.rows)
		kernels.RMSNormForward(out, rstd, x, w, c.rows, c.cols, c.eps)
		bufs := map[string]buffer{"x": g.in(x), "w": g.in(w), "rstd": g.in(g.normal(c.rows, 1))}
		if c.alias {
			bufs["out"] = buffer{Alias: "x"}
		} else {
			bufs["out"] = g.in(g.normal(len(x), 1))
		}
		name := fmt.Sprintf("%d×%d eps=%g sd=%g out=x:%v", c.rows, c.cols, c.eps, c.sd, c.alias)
		g.add(testCase{
			Name: "rmsnorm " + name, Op: "rmsnorm",
			Args: map[string]any{"rows": c.rows, "cols": c.cols, "eps": c.eps},
			Bufs: bufs, Outs: []output{g.out("out", out), g.out("rstd", rstd)},
		})
		dy := g.normal(len(x), 1)
		dx := g.normal(len(x), 0.1*c.sd) // prior gradient of the input's own scale
		ref := clone(dx)
		kernels.RMSNormBackward(ref, nil, dy, x, w, rstd, c.rows, c.cols)
		g.add(testCase{
			Name: "rmsnormBackward " + name, Op: "rmsnormBackward",
			Args: map[string]any{"rows": c.rows, "cols": c.cols},
			Bufs: map[string]buffer{"dx": g.in(dx), "dy": g.in(dy), "x": g.in(x), "w": g.in(w), "rstd": g.in(rstd)},
			Outs: []output{g.out("dx", ref)},
		})
	}
}

// rope: both layouts, pos0 = 0 and > 0, HS from 10 to 128, out = x once.
func (g *gen) rope() {
	for _, c := range []struct {
		B, T, H, HS, pos0 int
		mode              kernels.RopeMode
		alias             bool
	}{
		{2, 5, 3, 10, 0, kernels.RopeNorm, false},
		{2, 5, 3, 10, 3, kernels.RopeNeox, false},
		{1, 17, 4, 64, 7, kernels.RopeNeox, true},
		{2, 3, 2, 128, 5, kernels.RopeNorm, true},
	} {
		half := c.HS / 2
		P := c.pos0 + c.T + 2
		cos, sin := make([]float32, P*half), make([]float32, P*half)
		kernels.RopeCache(cos, sin, P, c.HS, kernels.Rope{Mode: c.mode, Base: 10000})
		n := c.B * c.T * c.H * c.HS
		x := g.normal(n, 1)
		out := make([]float32, n)
		kernels.RopeForward(out, x, cos, sin, c.B, c.T, c.H, c.HS, c.pos0, c.mode)
		neox := c.mode == kernels.RopeNeox
		args := map[string]any{"B": c.B, "T": c.T, "H": c.H, "HS": c.HS, "pos0": c.pos0, "neox": neox}
		bufs := map[string]buffer{"x": g.in(x), "cos": g.in(cos), "sin": g.in(sin)}
		outArg := "out"
		if c.alias {
			bufs["out"] = buffer{Alias: "x"}
			outArg = "x"
		} else {
			bufs["out"] = g.in(g.normal(n, 1))
		}
		name := fmt.Sprintf("B=%d T=%d H=%d HS=%d pos0=%d neox=%v", c.B, c.T, c.H, c.HS, c.pos0, neox)
		g.add(testCase{Name: fmt.Sprintf("rope %s out=x:%v", name, c.alias), Op: "rope", Args: args, Bufs: bufs,
			Outs: []output{g.out(outArg, out)}})
		dy := g.normal(n, 1)
		dx := g.normal(n, 1)
		ref := clone(dx)
		kernels.RopeBackward(ref, dy, cos, sin, c.B, c.T, c.H, c.HS, c.pos0, c.mode)
		g.add(testCase{Name: "ropeBackward " + name, Op: "ropeBackward", Args: args,
			Bufs: map[string]buffer{"dx": g.in(dx), "dy": g.in(dy), "cos": g.in(cos), "sin": g.in(sin)},
			Outs: []output{g.out("dx", ref)}})
	}
}

// activations: SwiGLU and GeGLU with gates over ±12 and a few at ±30.
func (g *gen) activations() {
	const n = 4099
	gate := g.uniform(n, -12, 12)
	gate[0], gate[1], gate[2], gate[3] = 30, -30, 0, -0.001
	up := g.uniform(n, -2, 2)
	dout := g.normal(n, 1)
	for _, act := range []struct {
		name     string
		fwd, bwd func(out, a, b, c, d []float32)
	}{
		{"swiglu", func(o, ga, u, _, _ []float32) { kernels.SwiGLUForward(o, ga, u) },
			func(dg, du, d, ga, u []float32) { kernels.SwiGLUBackward(dg, du, d, ga, u) }},
		{"geglu", func(o, ga, u, _, _ []float32) { kernels.GeGLUForward(o, ga, u) },
			func(dg, du, d, ga, u []float32) { kernels.GeGLUBackward(dg, du, d, ga, u) }},
	} {
		out := make([]float32, n)
		act.fwd(out, gate, up, nil, nil)
		g.add(testCase{Name: act.name + " n=4099", Op: act.name, Args: map[string]any{"n": n},
			Bufs: map[string]buffer{"gate": g.in(gate), "up": g.in(up), "out": g.in(g.normal(n, 1))},
			Outs: []output{g.out("out", out)}})
		dgate, dup := g.normal(n, 1), g.normal(n, 1)
		rg, ru := clone(dgate), clone(dup)
		act.bwd(rg, ru, dout, gate, up)
		g.add(testCase{Name: act.name + "Backward n=4099", Op: act.name + "Backward", Args: map[string]any{"n": n},
			Bufs: map[string]buffer{"dgate": g.in(dgate), "dup": g.in(dup), "dout": g.in(dout), "gate": g.in(gate), "up": g.in(up)},
			Outs: []output{g.out("dgate", rg), g.out("dup", ru)}})
	}
}

// elementwise: bias, residual (and out = a), axpy, fill, softcap and its backward.
func (g *gen) elementwise() {
	const rows, cols, n = 37, 83, 4099
	y, b := g.normal(rows*cols, 1), g.normal(cols, 1)
	ref := clone(y)
	kernels.BiasForward(ref, b, rows, cols)
	g.add(testCase{Name: "bias 37×83", Op: "bias", Args: map[string]any{"rows": rows, "cols": cols},
		Bufs: map[string]buffer{"y": g.in(y), "b": g.in(b)}, Outs: []output{g.out("y", ref)}})

	x1, x2 := g.normal(n, 1), g.normal(n, 1)
	sum := make([]float32, n)
	kernels.ResidualForward(sum, x1, x2)
	g.add(testCase{Name: "residual n=4099", Op: "residual", Args: map[string]any{"n": n},
		Bufs: map[string]buffer{"a": g.in(x1), "b": g.in(x2), "out": g.in(g.normal(n, 1))}, Outs: []output{g.out("out", sum)}})
	g.add(testCase{Name: "residual n=4099 out=a", Op: "residual", Args: map[string]any{"n": n},
		Bufs: map[string]buffer{"a": g.in(x1), "b": g.in(x2), "out": {Alias: "a"}}, Outs: []output{g.out("a", sum)}})

	const alpha = float32(-0.37)
	ax := clone(x1)
	for i := range ax {
		ax[i] += alpha * x2[i]
	}
	g.add(testCase{Name: "axpy n=4099", Op: "axpy", Args: map[string]any{"n": n, "alpha": alpha},
		Bufs: map[string]buffer{"y": g.in(x1), "x": g.in(x2)}, Outs: []output{g.out("y", ax)}})
	filled := clone(x1)
	for i := range 1000 {
		filled[i] = 0.25
	}
	g.add(testCase{Name: "fill 1000 of 4099", Op: "fill", Args: map[string]any{"n": 1000, "value": 0.25},
		Bufs: map[string]buffer{"y": g.in(x1)}, Outs: []output{g.out("y", filled)}})

	const cp = float32(30)
	sx := g.uniform(n, -100, 100)
	copy(sx, g.uniform(500, -8, 8)) // x/c under ¼: tanh's series
	capped := clone(sx)
	kernels.SoftcapForward(capped, cp)
	g.add(testCase{Name: "softcap n=4099 cap=30", Op: "softcap", Args: map[string]any{"n": n, "cap": cp},
		Bufs: map[string]buffer{"x": g.in(sx)}, Outs: []output{g.out("x", capped)}})
	dy := g.normal(n, 1)
	dref := clone(dy)
	kernels.SoftcapBackward(dref, capped, cp)
	g.add(testCase{Name: "softcapBackward n=4099 cap=30", Op: "softcapBackward", Args: map[string]any{"n": n, "cap": cp},
		Bufs: map[string]buffer{"dy": g.in(dy), "y": g.in(capped)}, Outs: []output{g.out("dy", dref)}})
}

// crossEntropy: V = 50000 (each thread of a row's workgroup loops ~200
// times) with a row shifted by +40, and 37×83; ignored targets; offsets into
// targets and losses; backward with dloss ≠ 1 into a prefilled dlogits.
func (g *gen) crossEntropy() {
	for _, c := range []struct {
		rows, V, toff, loff int
		ignored             []int
	}{
		{6, 50000, 3, 2, []int{2}},
		{37, 83, 0, 0, []int{0, 9, 36}},
	} {
		logits := g.normal(c.rows*c.V, 3)
		for i := range c.V {
			logits[4*c.V+i] += 40
		}
		targets := make([]int, c.toff+c.rows+1)
		for i := range targets {
			targets[i] = g.rng.IntN(c.V)
		}
		targets[c.toff+1] = c.V - 1
		for _, r := range c.ignored {
			targets[c.toff+r] = -1
		}
		losses := g.normal(c.loff+c.rows+1, 1)
		lse := g.normal(c.loff+c.rows+1, 1)
		rl, rlse := clone(losses), clone(lse)
		kernels.CrossEntropyForward(rl[c.loff:c.loff+c.rows], rlse[c.loff:c.loff+c.rows], logits, targets[c.toff:c.toff+c.rows], c.rows, c.V)
		tf := buffer{File: g.ints(targets), Type: "i32", Len: len(targets)}
		name := fmt.Sprintf("%d×%d toff=%d loff=%d", c.rows, c.V, c.toff, c.loff)
		g.add(testCase{Name: "crossEntropy " + name, Op: "crossEntropy",
			Args: map[string]any{"rows": c.rows, "V": c.V, "toff": c.toff, "loff": c.loff},
			Bufs: map[string]buffer{"losses": g.in(losses), "lse": g.in(lse), "logits": g.in(logits), "targets": tf},
			Outs: []output{g.out("losses", rl), g.out("lse", rlse)}})
		const dloss = float32(0.37)
		dl := make([]float32, len(logits))
		kernels.CrossEntropyBackward(dl, logits, rlse[c.loff:c.loff+c.rows], targets[c.toff:c.toff+c.rows], c.rows, c.V, dloss)
		g.add(testCase{Name: "crossEntropyBackward " + name + " dloss=0.37", Op: "crossEntropyBackward",
			Args: map[string]any{"rows": c.rows, "V": c.V, "toff": c.toff, "loff": c.loff, "dloss": dloss},
			Bufs: map[string]buffer{"dlogits": g.in(g.normal(len(logits), 1)), "logits": g.in(logits), "lse": g.in(rlse), "targets": tf},
			Outs: []output{g.out("dlogits", dl)}})
		if c.V < 1000 {
			// In place: the gradient overwrites the logits it is computed from.
			g.add(testCase{Name: "crossEntropyBackward " + name + " dloss=0.37 dlogits=logits", Op: "crossEntropyBackward",
				Args: map[string]any{"rows": c.rows, "V": c.V, "toff": c.toff, "loff": c.loff, "dloss": dloss},
				Bufs: map[string]buffer{"dlogits": {Alias: "logits"}, "logits": g.in(logits), "lse": g.in(rlse), "targets": tf},
				Outs: []output{g.out("logits", dl)}})
		}
	}
}
