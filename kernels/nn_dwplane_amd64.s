//go:build !purego

#include "textflag.h"

// func dwPlane3s1AVX512(dst *float32, outH, outW int, src *float32, pw int, w *float32, bias float32)
//
// One channel of a 3x3, stride-1 depthwise convolution: dst (outH rows of
// outW) = bias + Σ w[3r+j]·src[(oh+r)·pw + ow + j] over a zero-padded
// plane src with row stride pw. The last vector of each row is masked, so
// nothing is read or written past a row.
TEXT ·dwPlane3s1AVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ outH+8(FP), R8
	MOVQ outW+16(FP), R9
	MOVQ src+24(FP), SI
	MOVQ pw+32(FP), R10
	SHLQ $2, R10
	MOVQ w+40(FP), AX
	VBROADCASTSS 0(AX), Z0
	VBROADCASTSS 4(AX), Z1
	VBROADCASTSS 8(AX), Z2
	VBROADCASTSS 12(AX), Z3
	VBROADCASTSS 16(AX), Z4
	VBROADCASTSS 20(AX), Z5
	VBROADCASTSS 24(AX), Z6
	VBROADCASTSS 28(AX), Z7
	VBROADCASTSS 32(AX), Z8
	VBROADCASTSS bias+48(FP), Z9
	MOVQ R9, CX
	ANDQ $15, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1
	MOVQ R9, R11
	SHRQ $4, R11

s1row:
	TESTQ R8, R8
	JEQ s1done
	MOVQ SI, BX
	LEAQ (SI)(R10*1), R12
	LEAQ (R12)(R10*1), R13
	MOVQ DI, DX
	MOVQ R11, CX

s1vec:
	TESTQ CX, CX
	JEQ s1tail
	VMOVAPS Z9, Z10
	VFMADD231PS 0(BX), Z0, Z10
	VFMADD231PS 4(BX), Z1, Z10
	VFMADD231PS 8(BX), Z2, Z10
	VFMADD231PS 0(R12), Z3, Z10
	VFMADD231PS 4(R12), Z4, Z10
	VFMADD231PS 8(R12), Z5, Z10
	VFMADD231PS 0(R13), Z6, Z10
	VFMADD231PS 4(R13), Z7, Z10
	VFMADD231PS 8(R13), Z8, Z10
	VMOVUPS Z10, (DX)
	ADDQ $64, BX
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, DX
	DECQ CX
	JMP s1vec

s1tail:
	KORTESTW K1, K1
	JEQ s1next
	VMOVAPS Z9, Z10
	VMOVUPS.Z 0(BX), K1, Z11
	VFMADD231PS Z11, Z0, Z10
	VMOVUPS.Z 4(BX), K1, Z11
	VFMADD231PS Z11, Z1, Z10
	VMOVUPS.Z 8(BX), K1, Z11
	VFMADD231PS Z11, Z2, Z10
	VMOVUPS.Z 0(R12), K1, Z11
	VFMADD231PS Z11, Z3, Z10
	VMOVUPS.Z 4(R12), K1, Z11
	VFMADD231PS Z11, Z4, Z10
	VMOVUPS.Z 8(R12), K1, Z11
	VFMADD231PS Z11, Z5, Z10
	VMOVUPS.Z 0(R13), K1, Z11
	VFMADD231PS Z11, Z6, Z10
	VMOVUPS.Z 4(R13), K1, Z11
	VFMADD231PS Z11, Z7, Z10
	VMOVUPS.Z 8(R13), K1, Z11
	VFMADD231PS Z11, Z8, Z10
	VMOVUPS Z10, K1, (DX)

s1next:
	ADDQ R10, SI
	LEAQ (DI)(R9*4), DI
	DECQ R8
	JMP s1row

s1done:
	VZEROUPPER
	RET

// func dwPlane3s2AVX512(dst *float32, outH, outW int, even, odd *float32, hw int, w *float32, bias float32)
//
// One channel of a 3x3, stride-2 depthwise convolution from the padded
// plane split into even and odd columns (row stride hw): output row oh
// reads rows 2oh..2oh+2, dst[ow] = bias + Σ_k w[3k]·e_k[ow] + w[3k+1]·o_k[ow]
// + w[3k+2]·e_k[ow+1].
TEXT ·dwPlane3s2AVX512(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ outH+8(FP), R8
	MOVQ outW+16(FP), R9
	MOVQ even+24(FP), SI
	MOVQ odd+32(FP), R14
	MOVQ hw+40(FP), R10
	SHLQ $2, R10
	MOVQ w+48(FP), AX
	VBROADCASTSS 0(AX), Z0
	VBROADCASTSS 4(AX), Z1
	VBROADCASTSS 8(AX), Z2
	VBROADCASTSS 12(AX), Z3
	VBROADCASTSS 16(AX), Z4
	VBROADCASTSS 20(AX), Z5
	VBROADCASTSS 24(AX), Z6
	VBROADCASTSS 28(AX), Z7
	VBROADCASTSS 32(AX), Z8
	VBROADCASTSS bias+56(FP), Z9
	MOVQ R9, CX
	ANDQ $15, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1
	MOVQ R9, R11
	SHRQ $4, R11

s2row:
	TESTQ R8, R8
	JEQ s2done
	MOVQ SI, BX
	LEAQ (SI)(R10*1), R12
	LEAQ (R12)(R10*1), R13
	MOVQ R14, R15
	LEAQ (R14)(R10*1), AX
	LEAQ (AX)(R10*1), R9
	MOVQ DI, DX
	MOVQ R11, CX

s2vec:
	TESTQ CX, CX
	JEQ s2tail
	VMOVAPS Z9, Z10
	VFMADD231PS (BX), Z0, Z10
	VFMADD231PS (R15), Z1, Z10
	VFMADD231PS 4(BX), Z2, Z10
	VFMADD231PS (R12), Z3, Z10
	VFMADD231PS (AX), Z4, Z10
	VFMADD231PS 4(R12), Z5, Z10
	VFMADD231PS (R13), Z6, Z10
	VFMADD231PS (R9), Z7, Z10
	VFMADD231PS 4(R13), Z8, Z10
	VMOVUPS Z10, (DX)
	ADDQ $64, R9
	ADDQ $64, BX
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, R15
	ADDQ $64, AX
	ADDQ $64, DX
	DECQ CX
	JMP s2vec

s2tail:
	KORTESTW K1, K1
	JEQ s2next
	VMOVAPS Z9, Z10
	VMOVUPS.Z (BX), K1, Z11
	VFMADD231PS Z11, Z0, Z10
	VMOVUPS.Z (R15), K1, Z11
	VFMADD231PS Z11, Z1, Z10
	VMOVUPS.Z 4(BX), K1, Z11
	VFMADD231PS Z11, Z2, Z10
	VMOVUPS.Z (R12), K1, Z11
	VFMADD231PS Z11, Z3, Z10
	VMOVUPS.Z (AX), K1, Z11
	VFMADD231PS Z11, Z4, Z10
	VMOVUPS.Z 4(R12), K1, Z11
	VFMADD231PS Z11, Z5, Z10
	VMOVUPS.Z (R13), K1, Z11
	VFMADD231PS Z11, Z6, Z10
	VMOVUPS.Z (R9), K1, Z11
	VFMADD231PS Z11, Z7, Z10
	VMOVUPS.Z 4(R13), K1, Z11
	VFMADD231PS Z11, Z8, Z10
	VMOVUPS Z10, K1, (DX)

s2next:
	LEAQ (SI)(R10*2), SI
	LEAQ (R14)(R10*2), R14
	MOVQ outW+16(FP), R9
	LEAQ (DI)(R9*4), DI
	DECQ R8
	JMP s2row

s2done:
	VZEROUPPER
	RET

// func dwPlaneS1AVX512(dst *float32, outH, outW int, src *float32, pw int, w *float32, kh, kw int, bias float32)
//
// One channel of a kh×kw, stride-1, undilated depthwise convolution over a
// zero-padded plane src (row stride pw): dst[oh][ow] = bias + Σ
// w[r·kw+j]·src[(oh+r)·pw + ow + j]. The last vector of each row is masked.
TEXT ·dwPlaneS1AVX512(SB), NOSPLIT, $0-68
	MOVQ dst+0(FP), DI
	MOVQ outH+8(FP), R8
	MOVQ outW+16(FP), R9
	MOVQ src+24(FP), BX
	MOVQ pw+32(FP), R10
	SHLQ $2, R10
	VBROADCASTSS bias+64(FP), Z9
	MOVQ R9, CX
	ANDQ $15, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1

kxrow:
	TESTQ R8, R8
	JEQ kxdone
	MOVQ R9, CX
	SHRQ $4, CX
	XORQ R12, R12

kxvec:
	TESTQ CX, CX
	JEQ kxtail
	VMOVAPS Z9, Z10
	MOVQ w+40(FP), AX
	LEAQ (BX)(R12*1), R13
	MOVQ kh+48(FP), R14

kxkrow:
	MOVQ kw+56(FP), R15
	MOVQ R13, SI

kxktap:
	VBROADCASTSS (AX), Z1
	VFMADD231PS (SI), Z1, Z10
	ADDQ $4, AX
	ADDQ $4, SI
	DECQ R15
	JNE kxktap
	ADDQ R10, R13
	DECQ R14
	JNE kxkrow
	VMOVUPS Z10, (DI)(R12*1)
	ADDQ $64, R12
	DECQ CX
	JMP kxvec

kxtail:
	KORTESTW K1, K1
	JEQ kxnext
	VMOVAPS Z9, Z10
	MOVQ w+40(FP), AX
	LEAQ (BX)(R12*1), R13
	MOVQ kh+48(FP), R14

kxtrow:
	MOVQ kw+56(FP), R15
	MOVQ R13, SI

kxttap:
	VBROADCASTSS (AX), Z1
	VMOVUPS.Z (SI), K1, Z2
	VFMADD231PS Z2, Z1, Z10
	ADDQ $4, AX
	ADDQ $4, SI
	DECQ R15
	JNE kxttap
	ADDQ R10, R13
	DECQ R14
	JNE kxtrow
	VMOVUPS Z10, K1, (DI)(R12*1)

kxnext:
	ADDQ R10, BX
	LEAQ (DI)(R9*4), DI
	DECQ R8
	JMP kxrow

kxdone:
	VZEROUPPER
	RET
