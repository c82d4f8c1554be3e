//go:build !purego

#include "textflag.h"

// DOTSUM reduces the 16 lanes of Z to one float at off(DI).
#define DOTSUM(z, y, x, off) \
	VEXTRACTF64X4 $1, z, Y9 \
	VADDPS Y9, y, y \
	VEXTRACTF128 $1, y, X9 \
	VADDPS X9, x, x \
	VMOVHLPS x, x, X9 \
	VADDPS X9, x, x \
	VPSHUFD $1, x, X9 \
	VADDSS X9, x, x \
	VMOVSS x, off(DI)

// func dotRowsAVX512(kc int, a *float32, lda int, x *float32, rows int, out *float32)
//
// out[i] = Σ_p a[i·lda+p]·x[p] for p < kc and i < rows: C's columns past
// the last vector-wide panel, as dot products of rows of A with a column
// of B (gathered into x). Four rows at a time share the loads of x; the
// last kc%16 values are masked, so nothing past a row is read.
TEXT ·dotRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	SHLQ $2, R8
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R9
	MOVQ out+40(FP), DI
	MOVQ CX, R10
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ R10, CX
	SHRQ $4, CX

four:
	CMPQ R9, $4
	JLT one
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ SI, R11
	LEAQ (SI)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	LEAQ (R13)(R8*1), R14
	MOVQ BX, R15
	MOVQ CX, DX

fourvec:
	TESTQ DX, DX
	JEQ fourtail
	VMOVUPS (R15), Z8
	VFMADD231PS (R11), Z8, Z0
	VFMADD231PS (R12), Z8, Z1
	VFMADD231PS (R13), Z8, Z2
	VFMADD231PS (R14), Z8, Z3
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, R14
	ADDQ $64, R15
	DECQ DX
	JMP fourvec

fourtail:
	KORTESTW K1, K1
	JEQ foursum
	VMOVUPS.Z (R15), K1, Z8
	VMOVUPS.Z (R11), K1, Z10
	VFMADD231PS Z10, Z8, Z0
	VMOVUPS.Z (R12), K1, Z10
	VFMADD231PS Z10, Z8, Z1
	VMOVUPS.Z (R13), K1, Z10
	VFMADD231PS Z10, Z8, Z2
	VMOVUPS.Z (R14), K1, Z10
	VFMADD231PS Z10, Z8, Z3

foursum:
	// Fold each row's 16 lanes to 8, then pairwise horizontal adds give
	// the four rows' partial sums in each 128-bit half; the halves added
	// are the four dot products, stored together.
	VEXTRACTF64X4 $1, Z0, Y9
	VADDPS Y9, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y9
	VADDPS Y9, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y9
	VADDPS Y9, Y2, Y2
	VEXTRACTF64X4 $1, Z3, Y9
	VADDPS Y9, Y3, Y3
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X9
	VADDPS X9, X0, X0
	VMOVUPS X0, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R9
	JMP four

one:
	TESTQ R9, R9
	JEQ done
	VPXORD Z0, Z0, Z0
	MOVQ SI, R11
	MOVQ BX, R15
	MOVQ CX, DX

onevec:
	TESTQ DX, DX
	JEQ onetail
	VMOVUPS (R15), Z8
	VFMADD231PS (R11), Z8, Z0
	ADDQ $64, R11
	ADDQ $64, R15
	DECQ DX
	JMP onevec

onetail:
	KORTESTW K1, K1
	JEQ onesum
	VMOVUPS.Z (R15), K1, Z8
	VMOVUPS.Z (R11), K1, Z10
	VFMADD231PS Z10, Z8, Z0

onesum:
	DOTSUM(Z0, Y0, X0, 0)
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JMP one

done:
	VZEROUPPER
	RET
