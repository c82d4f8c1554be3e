//go:build !purego

#include "textflag.h"

// func dwPlaneS1AVX512(dst *float32, outH, outW int, src *float32, pw int, w *float32, kh, kw int, bias, lo, hi float32)
//
// One channel of a kh×kw, stride-1, undilated depthwise convolution over a
// zero-padded plane src (row stride pw): dst[oh][ow] = bias + Σ
// w[r·kw+j]·src[(oh+r)·pw + ow + j]. The last vector of each row is masked.
TEXT ·dwPlaneS1AVX512(SB), NOSPLIT, $0-76
	MOVQ dst+0(FP), DI
	MOVQ outH+8(FP), R8
	MOVQ outW+16(FP), R9
	MOVQ src+24(FP), BX
	MOVQ pw+32(FP), R10
	SHLQ $2, R10
	VBROADCASTSS bias+64(FP), Z9
	VBROADCASTSS lo+68(FP), Z30
	VBROADCASTSS hi+72(FP), Z31
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
	VMAXPS Z10, Z30, Z10
	VMINPS Z10, Z31, Z10
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
	VMAXPS Z10, Z30, Z10
	VMINPS Z10, Z31, Z10
	VMOVUPS Z10, K1, (DI)(R12*1)

kxnext:
	ADDQ R10, BX
	LEAQ (DI)(R9*4), DI
	DECQ R8
	JMP kxrow

kxdone:
	VZEROUPPER
	RET

// dw3Args (nn_dwplane_amd64.go) field offsets.
#define A_OUTH 0
#define A_OUTW 8
#define A_INH 16
#define A_INW 24
#define A_PT 32
#define A_COLOFF 40
#define A_NV 48
#define A_MASKS 56
#define A_ZERO 64
#define A_NFULL 72

// DW3ROWS sets BX, R12 and R13 to input rows R8, R8+1 and R8+2 of the
// plane at SI (the zero row where a row is outside the plane), each moved
// by the column offset. Clobbers AX and R15.
#define DW3ROWS \
	MOVQ R8, AX \
	IMULQ R10, AX \
	ADDQ SI, AX \
	MOVQ A_ZERO(R11), BX \
	CMPQ R8, A_INH(R11) \
	CMOVQCS AX, BX \
	ADDQ A_COLOFF(R11), BX \
	LEAQ 1(R8), R15 \
	ADDQ R10, AX \
	MOVQ A_ZERO(R11), R12 \
	CMPQ R15, A_INH(R11) \
	CMOVQCS AX, R12 \
	ADDQ A_COLOFF(R11), R12 \
	LEAQ 2(R8), R15 \
	ADDQ R10, AX \
	MOVQ A_ZERO(R11), R13 \
	CMPQ R15, A_INH(R11) \
	CMOVQCS AX, R13 \
	ADDQ A_COLOFF(R11), R13

// DW3CHAN loads the next channel's nine weights into Z0-Z8 and its bias
// into Z9 from the pointers kept in the frame, and advances them.
#define DW3CHAN \
	MOVQ wp-16(SP), AX \
	VBROADCASTSS 0(AX), Z0 \
	VBROADCASTSS 4(AX), Z1 \
	VBROADCASTSS 8(AX), Z2 \
	VBROADCASTSS 12(AX), Z3 \
	VBROADCASTSS 16(AX), Z4 \
	VBROADCASTSS 20(AX), Z5 \
	VBROADCASTSS 24(AX), Z6 \
	VBROADCASTSS 28(AX), Z7 \
	VBROADCASTSS 32(AX), Z8 \
	ADDQ $36, AX \
	MOVQ AX, wp-16(SP) \
	MOVQ bp-24(SP), AX \
	VBROADCASTSS (AX), Z9 \
	ADDQ $4, AX \
	MOVQ AX, bp-24(SP)

// DW3S1TAPS adds one input row's three taps (weights wa, wb, wc) to acc
// from the row's previous, current and next vectors: the centre tap is
// cur, the left one cur moved up a lane with prev's last lane, the right
// one cur moved down a lane with next's first. Then prev, cur = cur, next.
#define DW3S1TAPS(prev, cur, next, wa, wb, wc, acc) \
	VALIGND $15, prev, cur, Z12 \
	VALIGND $1, cur, next, Z13 \
	VFMADD231PS Z12, wa, acc \
	VFMADD231PS cur, wb, acc \
	VFMADD231PS Z13, wc, acc \
	VMOVAPS cur, prev \
	VMOVAPS next, cur

// func dw3s1DirectAVX512(dst, src *float32, args *dw3Args, w, bias *float32, nch int, lo, hi float32)
//
// One channel of a 3x3, stride-1 depthwise convolution read straight from
// the unpadded input plane: dst[oh][ow] = clamp(bias + Σ
// w[3r+j]·x[oh-pt+r][ow-pl+j], lo, hi). Each input row is loaded once per
// vector, at the centre tap's column (the row pointers are moved by 1-pl),
// and the side taps are shifted from it and its neighbours with VALIGND:
// three loads per output vector instead of nine mostly cache-line-splitting
// ones. Loads are masked to the row (masks per output vector: its load,
// the column before the row's first load (vector 0 only), unused, the
// store; one vector more than the row has, for the last right-hand taps),
// rows above or below the plane read the zero row. It runs over nch
// consecutive channels (planes, nine weights and a bias each), saving a
// call per plane on small planes.
TEXT ·dw3s1DirectAVX512(SB), NOSPLIT, $24-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ args+16(FP), R11
	MOVQ w+24(FP), AX
	MOVQ AX, wp-16(SP)
	MOVQ bias+32(FP), AX
	MOVQ AX, bp-24(SP)
	MOVQ nch+40(FP), AX
	MOVQ AX, n-8(SP)
	VBROADCASTSS lo+48(FP), Z30
	VBROADCASTSS hi+52(FP), Z31
	MOVQ A_INW(R11), R10
	SHLQ $2, R10

d1chan:
	DW3CHAN
	MOVQ A_PT(R11), R8
	NEGQ R8
	MOVQ A_OUTH(R11), R9

d1row:
	DW3ROWS
	MOVQ DI, DX
	MOVQ A_MASKS(R11), R14
	MOVQ A_NV(R11), CX
	KMOVW 2(R14), K5
	VMOVUPS.Z -64(BX), K5, Z20
	VMOVUPS.Z -64(R12), K5, Z21
	VMOVUPS.Z -64(R13), K5, Z22
	KMOVW 0(R14), K1
	VMOVUPS.Z 0(BX), K1, Z23
	VMOVUPS.Z 0(R12), K1, Z24
	VMOVUPS.Z 0(R13), K1, Z25

	// vectors whose look-ahead lies inside the row load it unmasked
	MOVQ A_NFULL(R11), AX
	SUBQ AX, CX
	TESTQ AX, AX
	JEQ d1vecm

d1vec:
	KMOVW 6(R14), K4
	VMOVUPS 64(BX), Z26
	VMOVUPS 64(R12), Z27
	VMOVUPS 64(R13), Z28
	VMOVAPS Z9, Z10
	VPXORD Z11, Z11, Z11
	DW3S1TAPS(Z20, Z23, Z26, Z0, Z1, Z2, Z10)
	DW3S1TAPS(Z21, Z24, Z27, Z3, Z4, Z5, Z11)
	DW3S1TAPS(Z22, Z25, Z28, Z6, Z7, Z8, Z10)
	VADDPS Z11, Z10, Z10
	VMAXPS Z10, Z30, Z10
	VMINPS Z10, Z31, Z10
	VMOVUPS Z10, K4, (DX)
	ADDQ $64, BX
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, DX
	ADDQ $8, R14
	DECQ AX
	JNE d1vec
	TESTQ CX, CX
	JEQ d1rowend

d1vecm:
	KMOVW 8(R14), K1
	KMOVW 6(R14), K4
	VMOVUPS.Z 64(BX), K1, Z26
	VMOVUPS.Z 64(R12), K1, Z27
	VMOVUPS.Z 64(R13), K1, Z28
	VMOVAPS Z9, Z10
	VPXORD Z11, Z11, Z11
	DW3S1TAPS(Z20, Z23, Z26, Z0, Z1, Z2, Z10)
	DW3S1TAPS(Z21, Z24, Z27, Z3, Z4, Z5, Z11)
	DW3S1TAPS(Z22, Z25, Z28, Z6, Z7, Z8, Z10)
	VADDPS Z11, Z10, Z10
	VMAXPS Z10, Z30, Z10
	VMINPS Z10, Z31, Z10
	VMOVUPS Z10, K4, (DX)
	ADDQ $64, BX
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, DX
	ADDQ $8, R14
	DECQ CX
	JNE d1vecm

d1rowend:
	INCQ R8
	MOVQ A_OUTW(R11), AX
	LEAQ (DI)(AX*4), DI
	DECQ R9
	JNE d1row
	// next channel: the output rows ran on; the input moves a plane
	MOVQ A_INH(R11), AX
	IMULQ R10, AX
	ADDQ AX, SI
	DECQ n-8(SP)
	JNE d1chan
	VZEROUPPER
	RET

// dw3EvenOdd holds the VPERMT2PS indices that pick the even, then the odd,
// lanes of two concatenated vectors.
DATA dw3EvenOdd<>+0(SB)/4, $0
DATA dw3EvenOdd<>+4(SB)/4, $2
DATA dw3EvenOdd<>+8(SB)/4, $4
DATA dw3EvenOdd<>+12(SB)/4, $6
DATA dw3EvenOdd<>+16(SB)/4, $8
DATA dw3EvenOdd<>+20(SB)/4, $10
DATA dw3EvenOdd<>+24(SB)/4, $12
DATA dw3EvenOdd<>+28(SB)/4, $14
DATA dw3EvenOdd<>+32(SB)/4, $16
DATA dw3EvenOdd<>+36(SB)/4, $18
DATA dw3EvenOdd<>+40(SB)/4, $20
DATA dw3EvenOdd<>+44(SB)/4, $22
DATA dw3EvenOdd<>+48(SB)/4, $24
DATA dw3EvenOdd<>+52(SB)/4, $26
DATA dw3EvenOdd<>+56(SB)/4, $28
DATA dw3EvenOdd<>+60(SB)/4, $30
DATA dw3EvenOdd<>+64(SB)/4, $1
DATA dw3EvenOdd<>+68(SB)/4, $3
DATA dw3EvenOdd<>+72(SB)/4, $5
DATA dw3EvenOdd<>+76(SB)/4, $7
DATA dw3EvenOdd<>+80(SB)/4, $9
DATA dw3EvenOdd<>+84(SB)/4, $11
DATA dw3EvenOdd<>+88(SB)/4, $13
DATA dw3EvenOdd<>+92(SB)/4, $15
DATA dw3EvenOdd<>+96(SB)/4, $17
DATA dw3EvenOdd<>+100(SB)/4, $19
DATA dw3EvenOdd<>+104(SB)/4, $21
DATA dw3EvenOdd<>+108(SB)/4, $23
DATA dw3EvenOdd<>+112(SB)/4, $25
DATA dw3EvenOdd<>+116(SB)/4, $27
DATA dw3EvenOdd<>+120(SB)/4, $29
DATA dw3EvenOdd<>+124(SB)/4, $31
GLOBL dw3EvenOdd<>(SB), RODATA|NOPTR, $128

// DW3S2TAPS adds one input row's three taps (weights wa, wb, wc) to acc:
// the 32 input columns at r split into even (tap 1) and odd (tap 2)
// lanes, tap 0 being the odd lanes moved up by one with the previous
// vector's last odd column (prev, updated) in lane 0.
#define DW3S2TAPS(r, prev, wa, wb, wc, acc) \
	VMOVUPS.Z 0(r), K1, Z14 \
	VMOVUPS.Z 64(r), K2, Z15 \
	VMOVAPS Z14, Z16 \
	VPERMT2PS Z15, Z28, Z14 \
	VPERMT2PS Z15, Z29, Z16 \
	VALIGND $15, prev, Z16, Z17 \
	VMOVAPS Z16, prev \
	VFMADD231PS Z17, wa, acc \
	VFMADD231PS Z14, wb, acc \
	VFMADD231PS Z16, wc, acc

// func dw3s2DirectAVX512(dst, src *float32, args *dw3Args, w, bias *float32, nch int, lo, hi float32)
//
// The stride-2 version of dw3s1DirectAVX512. Output vector j reads the 32
// input columns from base = 32j+1-pl (the row pointers are moved by 1-pl):
// its even lanes are kernel column 1, its odd lanes column 2, and column 0
// is column 2 one lane later. Masks per output vector: the two loads, the
// column before the row's first vector (only in vector 0), the store.
TEXT ·dw3s2DirectAVX512(SB), NOSPLIT, $24-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ args+16(FP), R11
	MOVQ w+24(FP), AX
	MOVQ AX, wp-16(SP)
	MOVQ bias+32(FP), AX
	MOVQ AX, bp-24(SP)
	MOVQ nch+40(FP), AX
	MOVQ AX, n-8(SP)
	VBROADCASTSS lo+48(FP), Z30
	VBROADCASTSS hi+52(FP), Z31
	VMOVUPS dw3EvenOdd<>+0(SB), Z28
	VMOVUPS dw3EvenOdd<>+64(SB), Z29
	MOVQ A_INW(R11), R10
	SHLQ $2, R10
d2chan:
	DW3CHAN
	MOVQ A_PT(R11), R8
	NEGQ R8
	MOVQ A_OUTH(R11), R9

d2row:
	DW3ROWS
	MOVQ DI, DX
	MOVQ A_MASKS(R11), R14
	MOVQ A_NV(R11), CX
	KMOVW 4(R14), K3
	VMOVUPS.Z -64(BX), K3, Z11
	VMOVUPS.Z -64(R12), K3, Z12
	VMOVUPS.Z -64(R13), K3, Z13

d2vec:
	KMOVW 0(R14), K1
	KMOVW 2(R14), K2
	KMOVW 6(R14), K4
	VMOVAPS Z9, Z10
	VPXORD Z18, Z18, Z18
	DW3S2TAPS(BX, Z11, Z0, Z1, Z2, Z10)
	DW3S2TAPS(R12, Z12, Z3, Z4, Z5, Z18)
	DW3S2TAPS(R13, Z13, Z6, Z7, Z8, Z10)
	VADDPS Z18, Z10, Z10
	VMAXPS Z10, Z30, Z10
	VMINPS Z10, Z31, Z10
	VMOVUPS Z10, K4, (DX)
	ADDQ $128, BX
	ADDQ $128, R12
	ADDQ $128, R13
	ADDQ $64, DX
	ADDQ $8, R14
	DECQ CX
	JNE d2vec

	ADDQ $2, R8
	MOVQ A_OUTW(R11), AX
	LEAQ (DI)(AX*4), DI
	DECQ R9
	JNE d2row
	// next channel: the output rows ran on; the input moves a plane
	MOVQ A_INH(R11), AX
	IMULQ R10, AX
	ADDQ AX, SI
	DECQ n-8(SP)
	JNE d2chan
	VZEROUPPER
	RET

// func dw3s1FlatAVX512(dst, src *float32, args *dw3Flat, w, bias *float32, nch int, lo, hi float32)
//
// dw3s1DirectAVX512 for planes whose rows keep their width (inW == outW):
// every tap then reads the input at a fixed offset from the output's flat
// index, so the plane is one run of vectors that cross rows, with a mask
// per vector and tap for the taps in the padding (10 masks per vector: 9
// taps, then the store). On 7- and 14-wide planes this saves most of a
// vector per row and the setup of every row.
TEXT ·dw3s1FlatAVX512(SB), NOSPLIT, $24-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ args+16(FP), R11
	MOVQ w+24(FP), AX
	MOVQ AX, wp-16(SP)
	MOVQ bias+32(FP), AX
	MOVQ AX, bp-24(SP)
	MOVQ nch+40(FP), R8
	VBROADCASTSS lo+48(FP), Z30
	VBROADCASTSS hi+52(FP), Z31
flatchan:
	DW3CHAN
	MOVQ DI, R9
	MOVQ 8(R11), BX
	ADDQ SI, BX
	MOVQ 16(R11), R12
	ADDQ SI, R12
	MOVQ 24(R11), R13
	ADDQ SI, R13
	MOVQ 32(R11), R14
	MOVQ 0(R11), CX

flatvec:
	VMOVAPS Z9, Z10
	VPXORD Z11, Z11, Z11
	KMOVW 0(R14), K1
	VFMADD231PS 0(BX), Z0, K1, Z10
	KMOVW 2(R14), K2
	VFMADD231PS 4(BX), Z1, K2, Z11
	KMOVW 4(R14), K3
	VFMADD231PS 8(BX), Z2, K3, Z10
	KMOVW 6(R14), K4
	VFMADD231PS 0(R12), Z3, K4, Z11
	KMOVW 8(R14), K5
	VFMADD231PS 4(R12), Z4, K5, Z10
	KMOVW 10(R14), K6
	VFMADD231PS 8(R12), Z5, K6, Z11
	KMOVW 12(R14), K7
	VFMADD231PS 0(R13), Z6, K7, Z10
	KMOVW 14(R14), K1
	VFMADD231PS 4(R13), Z7, K1, Z11
	KMOVW 16(R14), K2
	VFMADD231PS 8(R13), Z8, K2, Z10
	KMOVW 18(R14), K3
	VADDPS Z11, Z10, Z10
	VMAXPS Z10, Z30, Z10
	VMINPS Z10, Z31, Z10
	VMOVUPS Z10, K3, (DI)
	ADDQ $64, BX
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, DI
	ADDQ $20, R14
	DECQ CX
	JNE flatvec
	// next channel: a plane on in both (the last vector ran past dst's)
	ADDQ 40(R11), SI
	MOVQ R9, DI
	ADDQ 48(R11), DI
	DECQ R8
	JNE flatchan
	VZEROUPPER
	RET

// func gatherEvenAVX512(d, src *float32, n int)
//
// d[i] = src[2i] for i < n (n >= 1): two vectors in, their even lanes
// out. The last 1 to 16 outputs are masked, reading no more than src[2n-2].
TEXT ·gatherEvenAVX512(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), R8
	VMOVUPS dw3EvenOdd<>+0(SB), Z28
	// Whole vectors read 32 values for 16 outputs, one past the last
	// needed (2n-2): they stop short of the last output, which the masked
	// tail (1 to 16 outputs) then does.
	MOVQ R8, DX
	DECQ DX
	SHRQ $4, DX
	MOVQ DX, AX
	SHLQ $4, AX
	SUBQ AX, R8
	TESTQ DX, DX
	JEQ getail

gevec:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VPERMT2PS Z1, Z28, Z0
	VMOVUPS Z0, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ DX
	JNE gevec

getail:
	LEAQ -1(R8)(R8*1), CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	MOVQ R8, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K3
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VPERMT2PS Z1, Z28, Z0
	VMOVUPS Z0, K3, (DI)

gedone:
	VZEROUPPER
	RET
