package lora

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
)

// FuzzReadAdapter feeds arbitrary bytes to ReadAdapter, into a fresh model
// and into an injected one. It must never panic; a refused file must leave
// the model unchanged; an accepted one must leave a working model. Seeds:
// the golden file, a legacy-named and a converter-style file.
func FuzzReadAdapter(f *testing.F) {
	if golden, err := os.ReadFile(filepath.Join("testdata", "adapter.gguf")); err == nil {
		f.Add(golden)
	}
	good := goodSpec(f)
	f.Add(good.bytes(f))
	legacy := goodSpec(f).delKV("general.architecture", "general.type", "adapter.type")
	for i := range legacy.tensors {
		legacy.tensors[i].name = "lora.blk." + string(rune('0'+i/2)) + ".attn_q.weight_" + string(rune('a'+i%2))
	}
	f.Add(legacy.bytes(f))
	f.Add(goodSpec(f).delKV("webtune.lora.alpha", "lora.alpha", "webtune.lora.rank", "lora.rank").bytes(f))
	f16 := goodSpec(f)
	f16.tensors[0].typ = gguf.TypeF16
	f.Add(f16.bytes(f))
	f.Add([]byte("GGUF"))
	x := randInput[float32](1, 2, tmIn)
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, m := range refusalTargets(t) {
			before := takeSnapshot(m)
			err := ReadAdapter(bytes.NewReader(data), int64(len(data)), m)
			if err != nil {
				if !takeSnapshot(m).equal(before) {
					t.Fatalf("%s model changed after a refused load: %v", name, err)
				}
				continue
			}
			if len(Adapters(m)) == 0 {
				t.Fatalf("%s: accepted file left no LoRA layers", name)
			}
			if _, err := m.(*nn.Sequential[float32]).Forward(ctx, x); err != nil {
				t.Fatalf("%s: model fails after an accepted load: %v", name, err)
			}
		}
	})
}
