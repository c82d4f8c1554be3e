//go:build !purego

#include "textflag.h"

// func epilogueAVX512(c *float32, ldc, rows, cols int, rowBias, colBias *float32, lo, hi float32)
//
// For each of rows rows of C (stride ldc elements) and cols columns:
// c = min(max(c + rowBias[i] + colBias[j], lo), hi), where a nil bias is
// skipped. NaN in c survives max and min, as in the Go version.
TEXT ·epilogueAVX512(SB), NOSPLIT, $0-56
	MOVQ c+0(FP), DI
	MOVQ ldc+8(FP), DX
	SHLQ $2, DX
	MOVQ rows+16(FP), R8
	MOVQ cols+24(FP), R9
	MOVQ rowBias+32(FP), SI
	MOVQ colBias+40(FP), BX
	VBROADCASTSS lo+48(FP), Z30
	VBROADCASTSS hi+52(FP), Z31
	// K1 selects the cols%16 columns of the last, partial vector.
	MOVQ R9, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	SHRQ $4, R9

row:
	TESTQ R8, R8
	JE done
	VPXORD Z29, Z29, Z29
	TESTQ SI, SI
	JE norow
	VBROADCASTSS (SI), Z29
	ADDQ $4, SI

norow:
	MOVQ DI, R10
	MOVQ BX, R11
	MOVQ R9, R12

vec:
	TESTQ R12, R12
	JE tail
	VADDPS (R10), Z29, Z0
	TESTQ R11, R11
	JE nocol
	VADDPS (R11), Z0, Z0
	ADDQ $64, R11

nocol:
	VMAXPS Z0, Z30, Z0
	VMINPS Z0, Z31, Z0
	VMOVUPS Z0, (R10)
	ADDQ $64, R10
	DECQ R12
	JMP vec

tail:
	TESTQ CX, CX
	JE next
	VMOVUPS.Z (R10), K1, Z0
	VADDPS Z29, Z0, Z0
	TESTQ R11, R11
	JE nocolt
	VMOVUPS.Z (R11), K1, Z1
	VADDPS Z1, Z0, Z0

nocolt:
	VMAXPS Z0, Z30, Z0
	VMINPS Z0, Z31, Z0
	VMOVUPS Z0, K1, (R10)

next:
	ADDQ DX, DI
	DECQ R8
	JMP row

done:
	VZEROUPPER
	RET
