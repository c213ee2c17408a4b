package tensor

// The blocked engine's micro-kernel is AVX2 + FMA assembly on amd64, used
// when the CPU and the OS support it (CPUID, XGETBV); see gemm_blocked.go.

//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha float32)

func blkCPUID(eax, ecx uint32) (a, b, c, d uint32)

func blkXGETBV() uint32

// haveBlkKernel reports AVX2 and FMA with the OS saving ymm state.
var haveBlkKernel = func() bool {
	maxID, _, _, _ := blkCPUID(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, c1, _ := blkCPUID(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&fma == 0 || c1&osxsave == 0 || c1&avx == 0 || blkXGETBV()&6 != 6 {
		return false
	}
	_, b7, _, _ := blkCPUID(7, 0)
	return b7&(1<<5) != 0 // AVX2
}()

// blkKernel runs the 6×16 tile; see sgemmKernel6x16.
func blkKernel(k int, a, b, c []float32, ldc int, alpha float32) {
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, alpha)
}
