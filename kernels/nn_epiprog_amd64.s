//go:build !purego

#include "textflag.h"

// func epiProgAVX512(x *float32, n int, steps *epiAsmStep, nsteps int)
//
// Runs a chain program (nn_epilogue.go) over x[:n], n a multiple of 64,
// 64 values at a time held in Z0-Z3 from load to store: each step is one
// vector operation per register, so a chain of eight nodes costs one
// pass over memory. Kept chain values live in Z12-Z15 (slot 0) and
// Z16-Z19 (slot 1). Each step is 16 bytes: code int32, two float32
// arguments, padding. Arithmetic is the Go loops' own, operation for
// operation, without fused multiply-add.
TEXT ·epiProgAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $6, CX
	MOVL $0x40c00000, AX
	VPBROADCASTD AX, Z24 // 6
	MOVL $0x3f000000, AX
	VPBROADCASTD AX, Z25 // 0.5
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z26 // 1
	VPXORD Z27, Z27, Z27 // 0

block:
	TESTQ CX, CX
	JEQ done
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	MOVQ steps+16(FP), R8
	MOVQ nsteps+24(FP), R9

step:
	TESTQ R9, R9
	JEQ store
	MOVL (R8), AX
	VBROADCASTSS 4(R8), Z4
	VBROADCASTSS 8(R8), Z5
	CMPL AX, $0
	JEQ add_s
	CMPL AX, $1
	JEQ sub_s
	CMPL AX, $2
	JEQ rsub_s
	CMPL AX, $3
	JEQ mul_s
	CMPL AX, $4
	JEQ div_s
	CMPL AX, $5
	JEQ rdiv_s
	CMPL AX, $10
	JEQ add_p0
	CMPL AX, $11
	JEQ sub_p0
	CMPL AX, $12
	JEQ rsub_p0
	CMPL AX, $13
	JEQ mul_p0
	CMPL AX, $14
	JEQ div_p0
	CMPL AX, $15
	JEQ rdiv_p0
	CMPL AX, $20
	JEQ add_p1
	CMPL AX, $21
	JEQ sub_p1
	CMPL AX, $22
	JEQ rsub_p1
	CMPL AX, $23
	JEQ mul_p1
	CMPL AX, $24
	JEQ div_p1
	CMPL AX, $25
	JEQ rdiv_p1
	CMPL AX, $30
	JEQ clamp
	CMPL AX, $31
	JEQ hswish
	CMPL AX, $32
	JEQ hsig
	CMPL AX, $40
	JEQ save0
	CMPL AX, $41
	JEQ save1
	JMP next

add_s:
	VADDPS Z4, Z0, Z0
	VADDPS Z4, Z1, Z1
	VADDPS Z4, Z2, Z2
	VADDPS Z4, Z3, Z3
	JMP next

sub_s:
	VSUBPS Z4, Z0, Z0
	VSUBPS Z4, Z1, Z1
	VSUBPS Z4, Z2, Z2
	VSUBPS Z4, Z3, Z3
	JMP next

rsub_s:
	VSUBPS Z0, Z4, Z0
	VSUBPS Z1, Z4, Z1
	VSUBPS Z2, Z4, Z2
	VSUBPS Z3, Z4, Z3
	JMP next

mul_s:
	VMULPS Z4, Z0, Z0
	VMULPS Z4, Z1, Z1
	VMULPS Z4, Z2, Z2
	VMULPS Z4, Z3, Z3
	JMP next

div_s:
	VDIVPS Z4, Z0, Z0
	VDIVPS Z4, Z1, Z1
	VDIVPS Z4, Z2, Z2
	VDIVPS Z4, Z3, Z3
	JMP next

rdiv_s:
	VDIVPS Z0, Z4, Z0
	VDIVPS Z1, Z4, Z1
	VDIVPS Z2, Z4, Z2
	VDIVPS Z3, Z4, Z3
	JMP next

add_p0:
	VADDPS Z12, Z0, Z0
	VADDPS Z13, Z1, Z1
	VADDPS Z14, Z2, Z2
	VADDPS Z15, Z3, Z3
	JMP next

sub_p0:
	VSUBPS Z12, Z0, Z0
	VSUBPS Z13, Z1, Z1
	VSUBPS Z14, Z2, Z2
	VSUBPS Z15, Z3, Z3
	JMP next

rsub_p0:
	VSUBPS Z0, Z12, Z0
	VSUBPS Z1, Z13, Z1
	VSUBPS Z2, Z14, Z2
	VSUBPS Z3, Z15, Z3
	JMP next

mul_p0:
	VMULPS Z12, Z0, Z0
	VMULPS Z13, Z1, Z1
	VMULPS Z14, Z2, Z2
	VMULPS Z15, Z3, Z3
	JMP next

div_p0:
	VDIVPS Z12, Z0, Z0
	VDIVPS Z13, Z1, Z1
	VDIVPS Z14, Z2, Z2
	VDIVPS Z15, Z3, Z3
	JMP next

rdiv_p0:
	VDIVPS Z0, Z12, Z0
	VDIVPS Z1, Z13, Z1
	VDIVPS Z2, Z14, Z2
	VDIVPS Z3, Z15, Z3
	JMP next

add_p1:
	VADDPS Z16, Z0, Z0
	VADDPS Z17, Z1, Z1
	VADDPS Z18, Z2, Z2
	VADDPS Z19, Z3, Z3
	JMP next

sub_p1:
	VSUBPS Z16, Z0, Z0
	VSUBPS Z17, Z1, Z1
	VSUBPS Z18, Z2, Z2
	VSUBPS Z19, Z3, Z3
	JMP next

rsub_p1:
	VSUBPS Z0, Z16, Z0
	VSUBPS Z1, Z17, Z1
	VSUBPS Z2, Z18, Z2
	VSUBPS Z3, Z19, Z3
	JMP next

mul_p1:
	VMULPS Z16, Z0, Z0
	VMULPS Z17, Z1, Z1
	VMULPS Z18, Z2, Z2
	VMULPS Z19, Z3, Z3
	JMP next

div_p1:
	VDIVPS Z16, Z0, Z0
	VDIVPS Z17, Z1, Z1
	VDIVPS Z18, Z2, Z2
	VDIVPS Z19, Z3, Z3
	JMP next

rdiv_p1:
	VDIVPS Z0, Z16, Z0
	VDIVPS Z1, Z17, Z1
	VDIVPS Z2, Z18, Z2
	VDIVPS Z3, Z19, Z3
	JMP next

clamp:
	VMAXPS Z0, Z4, Z0
	VMAXPS Z1, Z4, Z1
	VMAXPS Z2, Z4, Z2
	VMAXPS Z3, Z4, Z3
	VMINPS Z0, Z5, Z0
	VMINPS Z1, Z5, Z1
	VMINPS Z2, Z5, Z2
	VMINPS Z3, Z5, Z3
	JMP next

hswish:
	VDIVPS Z24, Z0, Z7
	VADDPS Z25, Z7, Z7
	VMINPS Z7, Z26, Z7
	VMAXPS Z7, Z27, Z7
	VMULPS Z7, Z0, Z0
	VDIVPS Z24, Z1, Z7
	VADDPS Z25, Z7, Z7
	VMINPS Z7, Z26, Z7
	VMAXPS Z7, Z27, Z7
	VMULPS Z7, Z1, Z1
	VDIVPS Z24, Z2, Z7
	VADDPS Z25, Z7, Z7
	VMINPS Z7, Z26, Z7
	VMAXPS Z7, Z27, Z7
	VMULPS Z7, Z2, Z2
	VDIVPS Z24, Z3, Z7
	VADDPS Z25, Z7, Z7
	VMINPS Z7, Z26, Z7
	VMAXPS Z7, Z27, Z7
	VMULPS Z7, Z3, Z3
	JMP next

hsig:
	VMULPS Z0, Z4, Z0
	VADDPS Z5, Z0, Z0
	VMINPS Z0, Z26, Z0
	VMAXPS Z0, Z27, Z0
	VMULPS Z1, Z4, Z1
	VADDPS Z5, Z1, Z1
	VMINPS Z1, Z26, Z1
	VMAXPS Z1, Z27, Z1
	VMULPS Z2, Z4, Z2
	VADDPS Z5, Z2, Z2
	VMINPS Z2, Z26, Z2
	VMAXPS Z2, Z27, Z2
	VMULPS Z3, Z4, Z3
	VADDPS Z5, Z3, Z3
	VMINPS Z3, Z26, Z3
	VMAXPS Z3, Z27, Z3
	JMP next

save0:
	VMOVAPS Z0, Z12
	VMOVAPS Z1, Z13
	VMOVAPS Z2, Z14
	VMOVAPS Z3, Z15
	JMP next

save1:
	VMOVAPS Z0, Z16
	VMOVAPS Z1, Z17
	VMOVAPS Z2, Z18
	VMOVAPS Z3, Z19

next:
	ADDQ $16, R8
	DECQ R9
	JMP step

store:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, DI
	DECQ CX
	JMP block

done:
	VZEROUPPER
	RET
