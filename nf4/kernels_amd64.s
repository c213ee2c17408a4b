#include "textflag.h"

// SSE (baseline amd64) float32 inner loops of the fused kernels; see
// kernels_amd64.go. n is a multiple of 4; the Go wrappers do the tail.

// func dot2x4SSE(a, b, w0, w1, w2, w3 *float32, n int, out *[8]float32)
// out = [a·w0, a·w1, a·w2, a·w3, b·w0, b·w1, b·w2, b·w3] over n elements.
TEXT ·dot2x4SSE(SB), NOSPLIT, $0-64
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ w0+16(FP), R8
	MOVQ w1+24(FP), R9
	MOVQ w2+32(FP), R10
	MOVQ w3+40(FP), R11
	MOVQ n+48(FP), CX
	MOVQ out+56(FP), DX
	XORPS X0, X0
	XORPS X1, X1
	XORPS X2, X2
	XORPS X3, X3
	XORPS X4, X4
	XORPS X5, X5
	XORPS X6, X6
	XORPS X7, X7
	XORQ AX, AX
	SHRQ $2, CX
	JZ   dotreduce

dotloop:
	MOVUPS (SI)(AX*1), X8
	MOVUPS (DI)(AX*1), X9
	MOVUPS (R8)(AX*1), X10
	MOVAPS X10, X11
	MULPS  X8, X10
	MULPS  X9, X11
	ADDPS  X10, X0
	ADDPS  X11, X4
	MOVUPS (R9)(AX*1), X12
	MOVAPS X12, X13
	MULPS  X8, X12
	MULPS  X9, X13
	ADDPS  X12, X1
	ADDPS  X13, X5
	MOVUPS (R10)(AX*1), X10
	MOVAPS X10, X11
	MULPS  X8, X10
	MULPS  X9, X11
	ADDPS  X10, X2
	ADDPS  X11, X6
	MOVUPS (R11)(AX*1), X12
	MOVAPS X12, X13
	MULPS  X8, X12
	MULPS  X9, X13
	ADDPS  X12, X3
	ADDPS  X13, X7
	ADDQ   $16, AX
	DECQ   CX
	JNZ    dotloop

dotreduce:
	// Transpose-and-add X0..X3 into [Σa·w0, Σa·w1, Σa·w2, Σa·w3].
	MOVAPS   X0, X8
	UNPCKLPS X1, X8
	MOVAPS   X0, X9
	UNPCKHPS X1, X9
	ADDPS    X9, X8
	MOVAPS   X2, X10
	UNPCKLPS X3, X10
	MOVAPS   X2, X11
	UNPCKHPS X3, X11
	ADDPS    X11, X10
	MOVAPS   X8, X9
	MOVLHPS  X10, X9
	MOVHLPS  X8, X10
	ADDPS    X10, X9
	MOVUPS   X9, (DX)
	// Same for X4..X7.
	MOVAPS   X4, X8
	UNPCKLPS X5, X8
	MOVAPS   X4, X9
	UNPCKHPS X5, X9
	ADDPS    X9, X8
	MOVAPS   X6, X10
	UNPCKLPS X7, X10
	MOVAPS   X6, X11
	UNPCKHPS X7, X11
	ADDPS    X11, X10
	MOVAPS   X8, X9
	MOVLHPS  X10, X9
	MOVHLPS  X8, X10
	ADDPS    X10, X9
	MOVUPS   X9, 16(DX)
	RET

// func axpy4SSE(d *float32, a *[4]float32, w0, w1, w2, w3 *float32, n int)
// d[k] += a[0]·w0[k] + a[1]·w1[k] + a[2]·w2[k] + a[3]·w3[k] for k < n.
TEXT ·axpy4SSE(SB), NOSPLIT, $0-56
	MOVQ   d+0(FP), DI
	MOVQ   a+8(FP), SI
	MOVQ   w0+16(FP), R8
	MOVQ   w1+24(FP), R9
	MOVQ   w2+32(FP), R10
	MOVQ   w3+40(FP), R11
	MOVQ   n+48(FP), CX
	MOVUPS (SI), X4
	MOVAPS X4, X0
	SHUFPS $0x00, X0, X0
	MOVAPS X4, X1
	SHUFPS $0x55, X1, X1
	MOVAPS X4, X2
	SHUFPS $0xAA, X2, X2
	MOVAPS X4, X3
	SHUFPS $0xFF, X3, X3
	XORQ   AX, AX
	MOVQ   CX, BX
	SHRQ   $3, BX
	JZ     axpytail

axpyloop8:
	MOVUPS (R8)(AX*1), X4
	MOVUPS 16(R8)(AX*1), X8
	MULPS  X0, X4
	MULPS  X0, X8
	MOVUPS (R9)(AX*1), X5
	MOVUPS 16(R9)(AX*1), X9
	MULPS  X1, X5
	MULPS  X1, X9
	ADDPS  X5, X4
	ADDPS  X9, X8
	MOVUPS (R10)(AX*1), X6
	MOVUPS 16(R10)(AX*1), X10
	MULPS  X2, X6
	MULPS  X2, X10
	MOVUPS (R11)(AX*1), X7
	MOVUPS 16(R11)(AX*1), X11
	MULPS  X3, X7
	MULPS  X3, X11
	ADDPS  X7, X6
	ADDPS  X11, X10
	ADDPS  X6, X4
	ADDPS  X10, X8
	MOVUPS (DI)(AX*1), X5
	MOVUPS 16(DI)(AX*1), X9
	ADDPS  X4, X5
	ADDPS  X8, X9
	MOVUPS X5, (DI)(AX*1)
	MOVUPS X9, 16(DI)(AX*1)
	ADDQ   $32, AX
	DECQ   BX
	JNZ    axpyloop8

axpytail:
	TESTQ  $4, CX
	JZ     axpydone
	MOVUPS (R8)(AX*1), X4
	MULPS  X0, X4
	MOVUPS (R9)(AX*1), X5
	MULPS  X1, X5
	ADDPS  X5, X4
	MOVUPS (R10)(AX*1), X6
	MULPS  X2, X6
	MOVUPS (R11)(AX*1), X7
	MULPS  X3, X7
	ADDPS  X7, X6
	ADDPS  X6, X4
	MOVUPS (DI)(AX*1), X5
	ADDPS  X4, X5
	MOVUPS X5, (DI)(AX*1)

axpydone:
	RET
