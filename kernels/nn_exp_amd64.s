//go:build !purego

#include "textflag.h"

// func exp32AVX512(d, s *float32, n int)
//
// d[i] = nnExp32(s[i]) for i < n (a multiple of 16), operation for
// operation the same float32 arithmetic as the Go function, so the bits
// agree: 2^k·p(r) with k = floor(x·log2e + 0.5), r = x - k·ln2hi - k·ln2lo
// and the degree-7 Taylor polynomial in Horner form without fused
// multiply-add; +Inf above 88.72283, 0 below -87.33654, NaN kept.
TEXT ·exp32AVX512(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	MOVL $0x3fb8aa3b, AX // log2e
	VPBROADCASTD AX, Z16
	MOVL $0x3f000000, AX // half
	VPBROADCASTD AX, Z17
	MOVL $0x3f317200, AX // ln2hi
	VPBROADCASTD AX, Z18
	MOVL $0x35bfbe8e, AX // ln2lo
	VPBROADCASTD AX, Z19
	MOVL $0x3f800000, AX // one
	VPBROADCASTD AX, Z20
	MOVL $0x3e2aaaab, AX // c6
	VPBROADCASTD AX, Z21
	MOVL $0x3d2aaaab, AX // c24
	VPBROADCASTD AX, Z22
	MOVL $0x3c088889, AX // c120
	VPBROADCASTD AX, Z23
	MOVL $0x3ab60b61, AX // c720
	VPBROADCASTD AX, Z24
	MOVL $0x39500d01, AX // c5040
	VPBROADCASTD AX, Z25
	MOVL $0x42b17217, AX // hi
	VPBROADCASTD AX, Z26
	MOVL $0xc2aeac4f, AX // lo
	VPBROADCASTD AX, Z27
	MOVL $0x7f800000, AX // inf
	VPBROADCASTD AX, Z28
	MOVL $127, AX
	VPBROADCASTD AX, Z29 // 127
	VPXORD Z30, Z30, Z30 // 0

loop:
	TESTQ CX, CX
	JEQ done
	VMOVUPS (SI), Z0 // x
	VMULPS Z16, Z0, Z1
	VADDPS Z17, Z1, Z1 // t
	VRNDSCALEPS $1, Z1, Z2 // kf = floor(t)
	VCVTTPS2DQ Z2, Z3 // k
	VMULPS Z18, Z2, Z4
	VSUBPS Z4, Z0, Z4
	VMULPS Z19, Z2, Z5
	VSUBPS Z5, Z4, Z4 // r
	VMULPS Z25, Z4, Z6
	VADDPS Z24, Z6, Z6
	VMULPS Z6, Z4, Z6
	VADDPS Z23, Z6, Z6
	VMULPS Z6, Z4, Z6
	VADDPS Z22, Z6, Z6
	VMULPS Z6, Z4, Z6
	VADDPS Z21, Z6, Z6
	VMULPS Z6, Z4, Z6
	VADDPS Z17, Z6, Z6
	VMULPS Z6, Z4, Z6
	VADDPS Z20, Z6, Z6
	VMULPS Z6, Z4, Z6
	VADDPS Z20, Z6, Z6 // p
	VPMINSD Z29, Z3, Z7 // k' = min(k, 127)
	VPSUBD Z7, Z3, Z8 // k - k' (0 or 1)
	VCVTDQ2PS Z8, Z8
	VADDPS Z20, Z8, Z8
	VMULPS Z8, Z6, Z6
	VPADDD Z29, Z7, Z7
	VPSLLD $23, Z7, Z7 // 2^k'
	VMULPS Z7, Z6, Z6
	VCMPPS $1, Z27, Z0, K2 // x < lo
	VMOVAPS Z30, K2, Z6
	VCMPPS $14, Z26, Z0, K3 // x > hi
	VMOVAPS Z28, K3, Z6
	VCMPPS $3, Z0, Z0, K4 // NaN
	VMOVAPS Z0, K4, Z6
	VMOVUPS Z6, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JMP loop

done:
	VZEROUPPER
	RET
