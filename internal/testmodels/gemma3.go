package main

import "github.com/webtune/webtune/llama"

// gemma3Config turns the base config of a gemma3 row of Models into Gemma
// 3's: s.Layers layers (2 by default), eps 1e-6, rope bases 1e6 (global)
// and 1e4 (local), the window s.Window. Deeper models keep llama.cpp's
// default pattern of 6; a two-layer one alternates local and global layers
// (pattern 2) and adds a final logit softcap of 8 (its rows also set
// RopeScale, which only the global layers apply), so that every optional
// part of the recipe meets llama.cpp.
func gemma3Config(c llama.Config, s Spec) llama.Config {
	c.Layers = max(s.Layers, 2)
	c.Eps, c.RopeBase, c.RopeBaseSWA = 1e-6, 1e6, 10000
	c.SlidingWindow, c.SlidingWindowPattern = s.Window, 6
	if c.Layers == 2 {
		c.SlidingWindowPattern, c.FinalSoftcap = 2, 8
	}
	return c
}

// gemma3Tol is the interop tolerance of the six-layer F32 gemma3 model.
// ggml's CPU GELU rounds the gate to F16 and reads an F16 table
// (llama.LoadOptions.MatchGGML does the same), so a gate that float32
// summation order puts on the other side of an F16 rounding boundary than
// llama.cpp's moves that GELU by one F16 ulp and the log-probs by ~1e-4.
// With 6 layers × 128 gates × up to 48 tokens such gates are all but
// certain: 0.8e-4..4e-4 on the 9- and 48-token prompts for every seed
// tried, ~2e-6 where none flips (the 1-token prompt); the two-layer F32
// model stays under 1e-4 (4e-5 with one flip). Without the emulation:
// ~3e-3. The Q8_0 model has no such flips: its gate
// inputs are Q8_0-rounded identically on both sides, so its gates are
// bit-equal.
const gemma3Tol = 1e-3
