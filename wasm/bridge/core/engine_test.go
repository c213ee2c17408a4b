package core

import (
	"runtime"
	"strings"
	"testing"

	"github.com/webtune/webtune/nn"
)

// TestEngine checks that models, LoRA layers and the Sequential path all
// compute with the bridge's engine: the SIMD engine under GOOS=js (Node and
// browsers have WebAssembly SIMD), the default engine natively.
func TestEngine(t *testing.T) {
	e := Engine()
	t.Logf("engine %s", e.Name())
	if runtime.GOOS == "js" && !strings.HasPrefix(e.Name(), "wasm-simd") {
		t.Errorf("engine under GOOS=js is %q, want the SIMD engine", e.Name())
	}
	for _, qlora := range []bool{false, true} {
		m := loadBuiltin(t, qlora)
		if m.m.Engine() != e {
			t.Fatalf("qlora=%v: model engine %s", qlora, m.m.Engine().Name())
		}
		for _, l := range m.m.Layers() {
			switch l := l.(type) {
			case *nn.Linear[float32]:
				if l.Engine() != e {
					t.Errorf("%s on %s", l.Name(), l.Engine().Name())
				}
			case *nn.NF4Linear[float32]:
				if l.Engine() != e {
					t.Errorf("%s on %s", l.Name(), l.Engine().Name())
				}
			}
		}
	}
}
