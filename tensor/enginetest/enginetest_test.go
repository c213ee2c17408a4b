package enginetest_test

import (
	"testing"

	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/tensor/enginetest"
)

func TestCPUFloat32(t *testing.T) { enginetest.All(t, tensor.NewCPU[float32](), 2e-6) }
func TestCPUFloat64(t *testing.T) { enginetest.All(t, tensor.NewCPU[float64](), 1e-14) }

func TestBlockedFloat32(t *testing.T) { enginetest.All(t, tensor.NewBlocked[float32](), 2e-6) }
func TestBlockedFloat64(t *testing.T) { enginetest.All(t, tensor.NewBlocked[float64](), 1e-14) }

// TestBlockedNamedType checks a named ~float32 type on the blocked engine.
func TestBlockedNamedType(t *testing.T) {
	type f32 float32
	enginetest.All(t, tensor.NewBlocked[f32](), 2e-6)
}

// TestBlockedLarge covers the k blocking (k > 256), several row blocks in
// parallel and edge tiles in both directions.
func TestBlockedLarge(t *testing.T) {
	e := tensor.NewBlocked[float32]()
	for _, sz := range [][3]int{{200, 70, 600}, {97, 530, 300}} {
		enginetest.One(t, e, sz[0], sz[1], sz[2], 2e-6)
	}
}
