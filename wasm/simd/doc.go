// Package simd is webtune's browser engine: a tensor.Engine whose matrix
// products run in a small WebAssembly SIMD module (f32x4, and
// f32x4.relaxed_madd where the host has relaxed SIMD) that this package
// generates in Go at start-up (Module) and instantiates with the Go
// program's own WebAssembly.Memory, so the kernels read and write Go slices
// in place: one JavaScript call per Gemm, no copies.
//
// Go's wasm port emits no SIMD and runs gonum's Sgemm at about 1.3 GFLOP/s
// in Chromium; the module's packed, register-tiled kernel runs at 55–60
// (numbers in BENCHMARKS.md). The engine also implements
// tensor.StridedEngine (products on strided sub-matrices) and NF4 products
// (NF4MatMulXWt, NF4MatMulXW: W decoded chunk by chunk, each chunk on the
// kernel) for nn.NF4Linear to use when its engine has them.
//
// A second set of generated modules (ElemModules, elem.go) holds the non-matmul
// work of a llama training step, each call covering a whole matrix:
// SwiGLUForward/Backward, SoftmaxRows/SoftmaxBackwardRows (causal
// attention row blocks), LogSumExpRows and CrossEntropyGrad, and
// RMSNormForward/Backward. Its f32x4 exponential is llama's float32 Cephes
// expf operation for operation, so results equal llama's scalar float32
// kernels element by element (math.Exp in Go still handles arguments
// outside [−87, 88] and NaN); only reductions sum in another order. These
// functions report false when the module cannot run (or SetElementwise
// turned it off), and llama then keeps its scalar loops.
//
//	eng, err := simd.New[float32]() // GOOS=js only; elsewhere ErrUnavailable
//	if err != nil {
//		eng = tensor.NewCPU[float32]()
//	}
//
// Storage is row-major as everywhere in webtune. The module finds Go's
// memory at globalThis.webtuneGoMemory when a host sets it (hosts should:
// globalThis.webtuneGoMemory = instance.exports.mem before go.run), else
// through wasm_exec.js's Go instance (go._inst.exports.mem, how the tests
// under Node find it), and checks it with a small product before use.
// float64 engines are not accelerated (they exist for gradient checks).
//
// Tests: GOOS=js GOARCH=wasm go test -exec=$(go env GOROOT)/lib/wasm/go_js_wasm_exec
// runs the engine conformance suite (tensor/enginetest) on Node 20's SIMD;
// scripts/bench/go_js_wasm_exec_relaxed also enables relaxed SIMD.
package simd
