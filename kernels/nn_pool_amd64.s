//go:build amd64 && !purego

#include "textflag.h"

// func maxAVX2(d, s *float32, n int)
//
// d[i] = max(d[i], s[i]) for i < n (a multiple of 8), the instruction
// sequence the Go compiler emits for the max builtin, one vector at a time:
// NaN wins and +0 beats -0, as in Go.
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	MOVL $0x80000000, AX
	MOVD AX, X1
	VBROADCASTSS X1, Y1

loop:
	TESTQ CX, CX
	JEQ done
	VMOVUPS (SI), Y0
	VXORPS Y1, Y0, Y0
	VMOVUPS (DI), Y2
	VXORPS Y1, Y2, Y2
	VMOVAPS Y2, Y3
	VMINPS Y0, Y2, Y2
	VMOVAPS Y2, Y0
	VMINPS Y3, Y2, Y2
	VORPS Y0, Y2, Y2
	VXORPS Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JMP loop

done:
	VZEROUPPER
	RET

// gomax sets z to Go's max(z, s) (NaN wins, +0 beats -0) as maxAVX2 does,
// with sign the sign-bit mask and t1, t2 scratch.
#define GOMAX(s, z, sign, t1, t2) \
	VXORPS sign, s, t1 \
	VXORPS sign, z, t2 \
	VMINPS t1, t2, z \
	VMINPS t2, t1, t1 \
	VORPS t1, z, z \
	VXORPS sign, z, z

// func maxH3s2AVX512(dst, src *float32, n int)
//
// dst[o] = max(src[2o-1], src[2o], src[2o+1]) for o < n (a multiple of
// 16), with Go's max: the row pass of a 3-wide, stride-2 MaxPool.
// src[-1] through src[2n] are read; VPERMT2PS picks the even and odd
// columns out of pairs of vectors.
TEXT ·maxH3s2AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	SUBQ $4, SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z31
	VMOVUPS maxIdx<>+0(SB), Z29
	VMOVUPS maxIdx<>+64(SB), Z30

h3loop:
	TESTQ CX, CX
	JEQ h3done
	VMOVUPS 0(SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z29, Z2
	VPERMT2PS Z1, Z30, Z0
	VMOVUPS 8(SI), Z3
	VMOVUPS 72(SI), Z1
	VPERMT2PS Z1, Z29, Z3
	GOMAX(Z0, Z2, Z31, Z4, Z5)
	GOMAX(Z3, Z2, Z31, Z4, Z5)
	VMOVUPS Z2, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JMP h3loop

h3done:
	VZEROUPPER
	RET

DATA maxIdx<>+0(SB)/4, $0
DATA maxIdx<>+4(SB)/4, $2
DATA maxIdx<>+8(SB)/4, $4
DATA maxIdx<>+12(SB)/4, $6
DATA maxIdx<>+16(SB)/4, $8
DATA maxIdx<>+20(SB)/4, $10
DATA maxIdx<>+24(SB)/4, $12
DATA maxIdx<>+28(SB)/4, $14
DATA maxIdx<>+32(SB)/4, $16
DATA maxIdx<>+36(SB)/4, $18
DATA maxIdx<>+40(SB)/4, $20
DATA maxIdx<>+44(SB)/4, $22
DATA maxIdx<>+48(SB)/4, $24
DATA maxIdx<>+52(SB)/4, $26
DATA maxIdx<>+56(SB)/4, $28
DATA maxIdx<>+60(SB)/4, $30
DATA maxIdx<>+64(SB)/4, $1
DATA maxIdx<>+68(SB)/4, $3
DATA maxIdx<>+72(SB)/4, $5
DATA maxIdx<>+76(SB)/4, $7
DATA maxIdx<>+80(SB)/4, $9
DATA maxIdx<>+84(SB)/4, $11
DATA maxIdx<>+88(SB)/4, $13
DATA maxIdx<>+92(SB)/4, $15
DATA maxIdx<>+96(SB)/4, $17
DATA maxIdx<>+100(SB)/4, $19
DATA maxIdx<>+104(SB)/4, $21
DATA maxIdx<>+108(SB)/4, $23
DATA maxIdx<>+112(SB)/4, $25
DATA maxIdx<>+116(SB)/4, $27
DATA maxIdx<>+120(SB)/4, $29
DATA maxIdx<>+124(SB)/4, $31
GLOBL maxIdx<>(SB), RODATA|NOPTR, $128
