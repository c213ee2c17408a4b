package simd

import (
	"bytes"
	"testing"
)

// TestElemModulesShape checks the element-wise modules' headers and sizes
// (at most the 4 KB browsers allow for synchronous compilation on the main
// thread).
func TestElemModulesShape(t *testing.T) {
	mods := ElemModules()
	for i, b := range mods {
		if !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
			t.Fatalf("module %d: bad header % x", i, b[:8])
		}
		t.Logf("module %d: %d bytes", i, len(b))
		if len(b) > syncCompileLimit {
			t.Errorf("module %d: %d bytes, want <= %d", i, len(b), syncCompileLimit)
		}
	}
}
