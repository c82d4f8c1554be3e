//go:build !purego

#include "textflag.h"

// func epiScalarAVX2(k int, x *float32, n int, b float32)
//
// x[i] = x[i] op b for i < n (a multiple of 8); op is epiKind k (add,
// sub, rsub, mul, div, rdiv).
TEXT ·epiScalarAVX2(SB), NOSPLIT, $0-28
	MOVQ k+0(FP), AX
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	VBROADCASTSS b+24(FP), Y1
	CMPQ AX, $0
	JEQ sadd
	CMPQ AX, $1
	JEQ ssub
	CMPQ AX, $2
	JEQ srsub
	CMPQ AX, $3
	JEQ smul
	CMPQ AX, $4
	JEQ sdiv
	CMPQ AX, $5
	JEQ srdiv
	JMP sdone

sadd:
	TESTQ CX, CX
	JEQ sdone
	VMOVUPS (DI), Y0
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP sadd

ssub:
	TESTQ CX, CX
	JEQ sdone
	VMOVUPS (DI), Y0
	VSUBPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP ssub

srsub:
	TESTQ CX, CX
	JEQ sdone
	VMOVUPS (DI), Y0
	VSUBPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP srsub

smul:
	TESTQ CX, CX
	JEQ sdone
	VMOVUPS (DI), Y0
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP smul

sdiv:
	TESTQ CX, CX
	JEQ sdone
	VMOVUPS (DI), Y0
	VDIVPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP sdiv

srdiv:
	TESTQ CX, CX
	JEQ sdone
	VMOVUPS (DI), Y0
	VDIVPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP srdiv

sdone:
	VZEROUPPER
	RET

// func epiVectorAVX2(k int, x, b *float32, n int)
//
// x[i] = x[i] op b[i] for i < n (a multiple of 8).
TEXT ·epiVectorAVX2(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), AX
	MOVQ x+8(FP), DI
	MOVQ b+16(FP), SI
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	CMPQ AX, $0
	JEQ vadd
	CMPQ AX, $1
	JEQ vsub
	CMPQ AX, $2
	JEQ vrsub
	CMPQ AX, $3
	JEQ vmul
	CMPQ AX, $4
	JEQ vdiv
	CMPQ AX, $5
	JEQ vrdiv
	JMP vdone

vadd:
	TESTQ CX, CX
	JEQ vdone
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JMP vadd

vsub:
	TESTQ CX, CX
	JEQ vdone
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VSUBPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JMP vsub

vrsub:
	TESTQ CX, CX
	JEQ vdone
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VSUBPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JMP vrsub

vmul:
	TESTQ CX, CX
	JEQ vdone
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JMP vmul

vdiv:
	TESTQ CX, CX
	JEQ vdone
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VDIVPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JMP vdiv

vrdiv:
	TESTQ CX, CX
	JEQ vdone
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VDIVPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JMP vrdiv

vdone:
	VZEROUPPER
	RET

// func epiClampAVX2(x *float32, n int, lo, hi float32)
//
// x[i] = min(max(x[i], lo), hi) for i < n (a multiple of 8); NaN stays
// NaN, as in the Go loop.
TEXT ·epiClampAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VBROADCASTSS lo+16(FP), Y2
	VBROADCASTSS hi+20(FP), Y3
cloop:
	TESTQ CX, CX
	JEQ cdone
	VMOVUPS (DI), Y0
	VMAXPS Y0, Y2, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP cloop

cdone:
	VZEROUPPER
	RET

// func epiHardSwishAVX2(x *float32, n int)
//
// x[i] = x[i] * max(0, min(1, x[i]/6 + 0.5)) for i < n (a multiple of 8).
TEXT ·epiHardSwishAVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	MOVL $0x40c00000, AX
	MOVD AX, X4
	VBROADCASTSS X4, Y4 // 6
	MOVL $0x3f000000, AX
	MOVD AX, X5
	VBROADCASTSS X5, Y5 // 0.5
	MOVL $0x3f800000, AX
	MOVD AX, X6
	VBROADCASTSS X6, Y6 // 1
	VXORPS Y7, Y7, Y7
hloop:
	TESTQ CX, CX
	JEQ hdone
	VMOVUPS (DI), Y0
	VDIVPS Y4, Y0, Y1
	VADDPS Y5, Y1, Y1
	VMINPS Y1, Y6, Y1
	VMAXPS Y1, Y7, Y1
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP hloop

hdone:
	VZEROUPPER
	RET

// func epiHardSigmoidAVX2(x *float32, n int, a, b float32)
//
// x[i] = max(0, min(1, a*x[i] + b)) for i < n (a multiple of 8), without
// fused multiply-add, as the Go loop computes it.
TEXT ·epiHardSigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VBROADCASTSS a+16(FP), Y4
	VBROADCASTSS b+20(FP), Y5
	MOVL $0x3f800000, AX
	MOVD AX, X6
	VBROADCASTSS X6, Y6 // 1
	VXORPS Y7, Y7, Y7
gloop:
	TESTQ CX, CX
	JEQ gdone
	VMOVUPS (DI), Y0
	VMULPS Y0, Y4, Y0
	VADDPS Y5, Y0, Y0
	VMINPS Y0, Y6, Y0
	VMAXPS Y0, Y7, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JMP gloop

gdone:
	VZEROUPPER
	RET
