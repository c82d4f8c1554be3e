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
