package simd

// The kernel module is generated here, in Go, at start-up: no wat compiler,
// no checked-in binary. It imports Go's own memory (env.mem) so the kernels
// read and write Go slices in place; every address and stride is in bytes.
//
// Export:
//
//	sgemm(m, n, k i32, alpha f32, a, rsA, csA, b, rsB, csB i32, beta f32, c, ldc, work i32)
//	    c[i,j] = alpha·Σ_p A(i,p)·B(p,j) + beta·c[i,j]  (beta = 0 overwrites)
//	    with A(i,p) at a + i·rsA + p·csA and B(p,j) at b + p·rsB + j·csB (so
//	    either operand may be stored transposed), row i of c at c + i·ldc;
//	    k ≥ 1; work holds m·k + 8·k + 48 floats (WorkFloats).
//
// The BLIS recipe without its outer cache loops (the Go caller blocks m and
// k): A is packed once into row slivers of MR ([k][MR] each, leftover rows
// as [k] slivers), then for each panel of 8 columns B is packed into a
// contiguous [k][8] panel (zero-padded past n) that stays in L1 while every
// sliver runs an MR×8 register tile: per p, two f32x4 loads of the panel,
// MR splat loads of the sliver and 2·MR multiply-adds into 2·MR
// accumulators. Packing makes every inner-loop load sequential whatever the
// operands' layout, which is what makes the transposed cases as fast as
// the plain one.

// Variant selects the generated kernel.
type Variant struct {
	MR      int  // rows per register tile (1..6)
	Relaxed bool // f32x4.relaxed_madd (one fused op) instead of mul + add
	Unroll  int  // steps of k per loop iteration, a power of two (0 = 1)
}

// DefaultVariant returns the tile chosen by measurement (BENCHMARKS.md)
// for a host without relaxed SIMD: 4×8 (Node 20's V8 ran it fastest, and
// without fused multiply-adds taller tiles gained nothing in Chromium).
func DefaultVariant() Variant { return Variant{MR: 4} }

// RelaxedVariant returns the tile chosen by measurement for a host with
// relaxed SIMD (Chromium): 6×8 with f32x4.relaxed_madd, whose twelve
// accumulators keep both FMA units busy where 4×8 left them waiting
// (Chromium 156: about 52 against 44 GFLOP/s on 256×576·576×1536, and a
// SmolLM2-135M step about 10 % faster; BENCHMARKS.md).
func RelaxedVariant() Variant { return Variant{MR: 6, Relaxed: true} }

// WorkFloats is the size of sgemm's work buffer, in floats, for an m×k A.
func WorkFloats(m, k int) int { return m*k + 8*k + 48 }

// Module returns the binary WebAssembly module for v.
func Module(v Variant) []byte {
	if v.MR < 1 || v.MR > 6 || v.Unroll&(v.Unroll-1) != 0 {
		panic("simd: MR must be 1..6 and Unroll a power of two")
	}
	b := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	types := []byte{1, 0x60, 14, i32, i32, i32, f32, i32, i32, i32, i32, i32, i32, f32, i32, i32, i32, 0}
	b = section(b, 1, types)
	// import env.mem: memory, no maximum, minimum 0
	b = section(b, 2, []byte{1, 3, 'e', 'n', 'v', 3, 'm', 'e', 'm', 0x02, 0x00, 0x00})
	b = section(b, 3, []byte{1, 0})
	b = section(b, 7, append(append([]byte{1, 5}, "sgemm"...), 0x00, 0))
	return section(b, 10, append([]byte{1}, sgemmFn(v).body()...))
}

func section(b []byte, id byte, content []byte) []byte {
	b = append(b, id)
	b = uleb(b, uint64(len(content)))
	return append(b, content...)
}

// sgemm parameters, in order.
const (
	pM, pN, pK, pAlpha, pA, pRsA, pCsA, pB, pRsB, pCsB, pBeta, pC, pLdc, pWork uint32 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13
)

// gen holds the locals of sgemm while it is generated.
type gen struct {
	*fn
	mr, unroll                       int
	pbEndU                           uint32
	i0, j0, nvalid, p, pa, pb, pbEnd uint32
	pc, tmp, bpack, temp             uint32
	rs                               [6]uint32 // r·rsA
	cs                               [8]uint32 // c·csB
	tv                               [8]uint32 // transpose8x4's vectors
	acc                              [6][2]uint32
	bv                               [2]uint32
	av, alphaV, betaV, zero          uint32
}

func sgemmFn(v Variant) *fn {
	g := &gen{fn: newFn(i32, i32, i32, f32, i32, i32, i32, i32, i32, i32, f32, i32, i32, i32), mr: v.MR, unroll: max(1, v.Unroll)}
	g.relaxed = v.Relaxed
	for _, p := range []*uint32{&g.i0, &g.j0, &g.nvalid, &g.p, &g.pa, &g.pb, &g.pbEnd, &g.pc, &g.tmp, &g.bpack, &g.temp, &g.pbEndU} {
		*p = g.local(i32)
	}
	for r := 1; r < v.MR; r++ {
		g.rs[r] = g.local(i32)
	}
	for r := range v.MR {
		g.acc[r] = [2]uint32{g.local(v128), g.local(v128)}
	}
	g.bv = [2]uint32{g.local(v128), g.local(v128)}
	g.cs[1] = pCsB
	for c := 2; c < 8; c++ {
		g.cs[c] = g.local(i32)
	}
	for c := range g.tv {
		g.tv[c] = g.local(v128)
	}
	g.av, g.alphaV, g.betaV, g.zero = g.local(v128), g.local(v128), g.local(v128), g.local(v128)

	g.get(pAlpha).simd(simdF32x4Splat).set(g.alphaV)
	g.get(pBeta).simd(simdF32x4Splat).set(g.betaV)
	g.v128zero().set(g.zero)
	// bpack = work + m·k·4; temp = bpack + k·32
	g.get(pWork).get(pM).get(pK).op(opI32Mul).i32c(4).op(opI32Mul).op(opI32Add).set(g.bpack)
	g.get(g.bpack).get(pK).i32c(32).op(opI32Mul).op(opI32Add).set(g.temp)
	for r := 1; r < v.MR; r++ {
		g.get(pRsA).i32c(int32(r)).op(opI32Mul).set(g.rs[r])
	}
	for c := 2; c < 8; c++ {
		g.get(pCsB).i32c(int32(c)).op(opI32Mul).set(g.cs[c])
	}
	g.packA()
	// for j0 = 0; j0 < n; j0 += 8
	g.i32c(0).set(g.j0)
	g.while(func() { g.get(g.j0).get(pN).op(opI32GeS) }, func() {
		// nvalid = min(n - j0, 8)
		g.get(pN).get(g.j0).op(opI32Sub).set(g.nvalid)
		g.get(g.nvalid).i32c(8).op(opI32GtS).op(opIf, blockVoid).i32c(8).set(g.nvalid).op(opEnd)
		g.packB()
		g.i32c(0).set(g.i0)
		for _, h := range g.heights() {
			g.while(func() { g.rowsLeftBelow(h) }, func() {
				g.tile(h)
				g.addConst(g.i0, int32(h))
			})
		}
		g.addConst(g.j0, 8)
	})
	return g.fn
}

// while emits: loop { if exit() break; body() }.
func (g *gen) while(exit, body func()) {
	g.op(opBlock, blockVoid, opLoop, blockVoid)
	exit()
	g.op(opBrIf, 1)
	body()
	g.op(opBr, 0, opEnd, opEnd)
}

// countdown emits a do-while loop running body k times (k ≥ 1) with p as
// the counter.
func (g *gen) countdown(count uint32, body func()) {
	g.get(count).set(g.p)
	g.op(opLoop, blockVoid)
	body()
	g.get(g.p).i32c(1).op(opI32Sub).tee(g.p).op(opBrIf, 0, opEnd)
}

// packA writes A's row slivers to work: the sliver of rows i0.. starts at
// work + i0·k·4 and holds [k][MR] (full slivers) or [k] (leftover rows).
func (g *gen) packA() {
	g.i32c(0).set(g.i0)
	for _, h := range g.heights() {
		g.while(func() { g.rowsLeftBelow(h) }, func() {
			g.get(pA).get(g.i0).get(pRsA).op(opI32Mul).op(opI32Add).set(g.pa)
			g.get(pWork).get(g.i0).get(pK).op(opI32Mul).i32c(4).op(opI32Mul).op(opI32Add).set(g.pb)
			g.countdown(pK, func() {
				for r := range h {
					g.get(g.pb).get(g.pa)
					if r > 0 {
						g.get(g.rs[r]).op(opI32Add)
					}
					g.f32load(0).f32store(uint32(4 * r))
				}
				g.addLocal(g.pa, pCsA)
				g.addConst(g.pb, int32(4*h))
			})
			g.addConst(g.i0, int32(h))
		})
	}
}

// heights returns the tile heights: MR, then 1 for the m mod MR rows left
// over (the engine gives those to a shorter variant when there are several:
// engine_js.go).
func (g *gen) heights() []int {
	if g.mr == 1 {
		return []int{1}
	}
	return []int{g.mr, 1}
}

// rowsLeftBelow pushes m − i0 < h (the loop over tiles of h rows is done).
func (g *gen) rowsLeftBelow(h int) {
	g.get(pM).get(g.i0).op(opI32Sub).i32c(int32(h)).op(opI32LtS)
}

// packB writes columns j0..j0+nvalid of B to the [k][8] panel at bpack,
// zero-padded: two f32x4 copies per row when the panel is full and B's
// rows are contiguous; 4×4 transposes in registers when the panel is full
// and B's columns are contiguous (B stored transposed, as in x·Wᵀ: eight
// f32x4 loads and eight shuffle pairs give four packed rows, instead of 32
// scalar loads and stores); else a scalar gather.
func (g *gen) packB() {
	g.get(pB).get(g.j0).get(pCsB).op(opI32Mul).op(opI32Add).set(g.pa)
	g.get(g.bpack).set(g.pb)
	g.get(g.nvalid).i32c(8).op(opI32Eq) // i32.eq
	g.get(pCsB).i32c(4).op(opI32Eq).op(opI32And)
	g.op(opIf, blockVoid)
	g.countdown(pK, func() {
		for v := range 2 {
			g.get(g.pb).get(g.pa).v128load(uint32(16 * v)).v128store(uint32(16 * v))
		}
		g.addLocal(g.pa, pRsB)
		g.addConst(g.pb, 32)
	})
	g.op(opElse)
	// rows done by transposes (k/4·4 when the panel is full and rsB = 4, else 0)
	g.i32c(0).set(g.pbEnd)
	g.get(g.nvalid).i32c(8).op(opI32Eq)
	g.get(pRsB).i32c(4).op(opI32Eq).op(opI32And)
	g.get(pK).i32c(4).op(opI32GeS).op(opI32And)
	g.op(opIf, blockVoid)
	g.get(pK).i32c(2).op(opI32ShrU).set(g.pbEndU)
	g.countdown(g.pbEndU, func() { g.transpose8x4() })
	g.get(pK).i32c(-4).op(opI32And).set(g.pbEnd)
	g.op(opEnd)
	// the other rows one scalar at a time
	g.get(pK).get(g.pbEnd).op(opI32Sub).tee(g.pbEndU).op(opIf, blockVoid)
	g.countdown(g.pbEndU, func() {
		for v := range 2 {
			g.get(g.pb).get(g.zero).v128store(uint32(16 * v))
		}
		g.get(g.pa).set(g.pc)
		g.i32c(0).set(g.tmp)
		g.op(opLoop, blockVoid)
		g.get(g.pb).get(g.tmp).i32c(2).op(opI32Shl).op(opI32Add)
		g.get(g.pc).f32load(0).f32store(0)
		g.addLocal(g.pc, pCsB)
		g.addConst(g.tmp, 1)
		g.get(g.tmp).get(g.nvalid).op(opI32LtS).op(opBrIf, 0, opEnd)
		g.addLocal(g.pa, pRsB)
		g.addConst(g.pb, 32)
	})
	g.op(opEnd)
	g.op(opEnd)
}

// transpose8x4 packs four rows p..p+3 of a full panel whose columns are
// contiguous (B(p, j0+c) at pa + cs[c] + 4·(p−p0)): per half of four
// columns, four f32x4 column loads and two rounds of shuffles (the 4×4
// transpose), then four stores into rows of the panel. pa += 16, pb += 128.
func (g *gen) transpose8x4() {
	t := g.tv
	for h := range 2 {
		for c := range 4 {
			g.get(g.pa)
			if j := 4*h + c; j > 0 {
				g.get(g.cs[j]).op(opI32Add)
			}
			g.v128load(0).set(t[c])
		}
		// t4 = (c0[0] c1[0] c0[1] c1[1]), t5 = (c0[2] c1[2] c0[3] c1[3]), t6, t7 the same of c2, c3
		g.shuffle32(t[0], t[1], 0, 4, 1, 5).set(t[4])
		g.shuffle32(t[0], t[1], 2, 6, 3, 7).set(t[5])
		g.shuffle32(t[2], t[3], 0, 4, 1, 5).set(t[6])
		g.shuffle32(t[2], t[3], 2, 6, 3, 7).set(t[7])
		for q, s := range [4][3]uint32{{t[4], t[6], 0}, {t[4], t[6], 2}, {t[5], t[7], 0}, {t[5], t[7], 2}} {
			g.get(g.pb)
			g.shuffle32(s[0], s[1], int(s[2]), int(s[2])+1, int(s[2])+4, int(s[2])+5)
			g.v128store(uint32(32*q + 16*h))
		}
	}
	g.addConst(g.pa, 16)
	g.addConst(g.pb, 128)
}

// shuffle32 pushes i8x16.shuffle of x and y by 32-bit lanes (0–3 of x,
// 4–7 of y).
func (g *gen) shuffle32(x, y uint32, lanes ...int) *gen {
	g.get(x).get(y).simd(simdShuffle)
	for _, l := range lanes {
		g.op(byte(4*l), byte(4*l+1), byte(4*l+2), byte(4*l+3))
	}
	return g
}

// tile emits one mr×8 register tile for the sliver at i0 and the packed
// panel, then stores it to c (through temp when the panel is partial).
func (g *gen) tile(mr int) {
	g.get(pWork).get(g.i0).get(pK).op(opI32Mul).i32c(4).op(opI32Mul).op(opI32Add).set(g.pa)
	g.get(g.bpack).set(g.pb)
	g.get(g.bpack).get(pK).i32c(32).op(opI32Mul).op(opI32Add).set(g.pbEnd)
	for r := range mr {
		for v := range 2 {
			g.get(g.zero).set(g.acc[r][v])
		}
	}
	// unrolled: while pb != pbEndU { u steps }; then while pb != pbEnd { 1 step }
	u := g.unroll
	g.get(g.bpack).get(pK).i32c(int32(-u)).op(opI32And).i32c(32).op(opI32Mul).op(opI32Add).set(g.pbEndU)
	for pass, steps := range []int{u, 1} {
		if pass == 1 && u == 1 {
			break
		}
		end := g.pbEndU
		if pass == 1 {
			end = g.pbEnd
		}
		g.while(func() { g.get(g.pb).get(end).op(opI32Eq) }, func() {
			for s := range steps {
				for v := range 2 {
					g.get(g.pb).v128load(uint32(32*s + 16*v)).set(g.bv[v])
				}
				for r := range mr {
					g.get(g.pa).splatLoad(uint32(4*mr*s + 4*r)).set(g.av)
					for v := range 2 {
						g.maddInto(g.acc[r][v], func() { g.get(g.av) }, func() { g.get(g.bv[v]) })
					}
				}
			}
			g.addConst(g.pa, int32(4*mr*steps))
			g.addConst(g.pb, int32(32*steps))
		})
	}
	// pc = c + i0·ldc + j0·4
	g.get(pC).get(g.i0).get(pLdc).op(opI32Mul).op(opI32Add).get(g.j0).i32c(4).op(opI32Mul).op(opI32Add).set(g.pc)
	g.get(g.nvalid).i32c(8).op(opI32Eq).op(opIf, blockVoid)
	g.get(pBeta).f32c0().op(opF32Eq).op(opIf, blockVoid)
	g.storeTile(mr, false)
	g.op(opElse)
	g.storeTile(mr, true)
	g.op(opEnd)
	g.op(opElse)
	g.storePartial(mr)
	g.op(opEnd)
}

// storeTile writes c = alpha·acc (+ beta·c) for a full tile.
func (g *gen) storeTile(mr int, withBeta bool) {
	g.get(g.pc).set(g.tmp)
	for r := range mr {
		for v := range 2 {
			off := uint32(16 * v)
			g.get(g.tmp)
			g.get(g.alphaV).get(g.acc[r][v]).simd(simdF32x4Mul)
			if withBeta {
				g.get(g.betaV).get(g.tmp).v128load(off).simd(simdF32x4Mul).simd(simdF32x4Add)
			}
			g.v128store(off)
		}
		if r+1 < mr {
			g.addLocal(g.tmp, pLdc)
		}
	}
}

// storePartial writes alpha·acc to temp, then its first nvalid columns
// (plus beta·c) to c, one scalar at a time.
func (g *gen) storePartial(mr int) {
	for r := range mr {
		for v := range 2 {
			g.get(g.temp).get(g.alphaV).get(g.acc[r][v]).simd(simdF32x4Mul).v128store(uint32(32*r + 16*v))
		}
	}
	g.get(g.temp).set(g.pa)
	g.i32c(int32(mr)).set(g.tmp)
	g.op(opLoop, blockVoid) // rows; tmp counts down, pbEnd is the column
	g.i32c(0).set(g.pbEnd)
	g.op(opLoop, blockVoid)
	g.get(g.pc).get(g.pbEnd).i32c(2).op(opI32Shl).op(opI32Add).set(g.pb)
	g.get(g.pb)
	g.get(g.pa).get(g.pbEnd).i32c(2).op(opI32Shl).op(opI32Add).f32load(0)
	// + (beta != 0 ? beta·c : 0); select drops a NaN read from c
	g.get(pBeta).get(g.pb).f32load(0).op(opF32Mul).f32c0()
	g.get(pBeta).f32c0().op(opF32Ne).op(opSelect).op(opF32Add)
	g.f32store(0)
	g.addConst(g.pbEnd, 1)
	g.get(g.pbEnd).get(g.nvalid).op(opI32LtS).op(opBrIf, 0, opEnd)
	g.addLocal(g.pc, pLdc)
	g.addConst(g.pa, 32)
	g.get(g.tmp).i32c(1).op(opI32Sub).tee(g.tmp).op(opBrIf, 0, opEnd)
}
