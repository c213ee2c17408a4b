package llama

import (
	"fmt"
	"math"

	"github.com/webtune/webtune/gguf"
)

// gemma3DefaultPattern is the sliding-window period llama.cpp assumes when
// a file has a window but no attention.sliding_window_pattern: five local
// layers, then a global one.
const gemma3DefaultPattern = 6

// gemmaKeys reads the keys of the recipe's Gemma 3 parts (docs/gemma3.md)
// into c with llama.cpp's types and defaults: the sliding window, its
// pattern and the local rope base; the final softcap; and derives the 27B
// model's attention scale.
func (c *Config) gemmaKeys(f *gguf.File, rec Recipe) error {
	p := rec.Name + "."
	r := keyReader{f: f}
	if rec.SlidingWindow {
		c.SlidingWindow = r.u32opt(p+"attention.sliding_window", 0)
		if c.SlidingWindow > 0 {
			c.SlidingWindowPattern = r.u32opt(p+"attention.sliding_window_pattern", gemma3DefaultPattern)
			c.RopeBaseSWA = r.f32(p+"rope.freq_base_swa", 10000)
		}
	}
	if rec.Softcap {
		c.FinalSoftcap = r.f32(p+"final_logit_softcapping", 0)
	}
	if rec.GemmaQueryScale {
		c.AttnScale = gemmaQueryScale(*c)
	}
	return r.err
}

// gemmaQueryScale is llama.cpp's gemma3 attention scale for c when it is
// not the default 1/√HS: 1/√(C/NH) for the 62-layer (27B) model, else 0.
func gemmaQueryScale(c Config) float32 {
	if c.Layers != 62 || c.Heads <= 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(float32(c.Dim/c.Heads))))
}

// checkDerived refuses to save a config whose attention scale a file
// cannot carry: no key holds it, llama.cpp derives it from the block
// count.
func (c Config) checkDerived() error {
	want := float32(0)
	if c.recipe().GemmaQueryScale {
		want = gemmaQueryScale(c)
	}
	if c.AttnScale != want {
		return fmt.Errorf("%w: attention scale %g: a %s file cannot carry it (llama.cpp derives %g)", ErrUnsupported, c.AttnScale, c.Architecture(), want)
	}
	return nil
}
