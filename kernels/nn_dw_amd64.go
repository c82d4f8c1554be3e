//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// dwRow3s1AVX2 computes n outputs (n a multiple of 8) of one row of a 3x3,
// stride-1 depthwise convolution: dst[i] = bias + Σ w[3r+j]·rows[r][i+j].
// Implemented in nn_dw_amd64.s.
//
//go:noescape
func dwRow3s1AVX2(dst, r0, r1, r2 *float32, n int, w *float32, bias float32)

// nnDwRow3s1 is the vector row kernel when the CPU has it, else nil.
var nnDwRow3s1 = func() func(dst, r0, r1, r2 []float32, w *[9]float32, bias float32) int {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return nil
	}
	// returns how many leading outputs it computed (a multiple of 8)
	return func(dst, r0, r1, r2 []float32, w *[9]float32, bias float32) int {
		n := len(dst) &^ 7
		if n == 0 {
			return 0
		}
		_ = r0[n+1]
		_ = r1[n+1]
		_ = r2[n+1]
		dwRow3s1AVX2(&dst[0], &r0[0], &r1[0], &r2[0], n, &w[0], bias)
		return n
	}
}()

// axpyAVX2 adds a·src[i] to dst[i] for i < n, n a multiple of 8.
// Implemented in nn_dw_amd64.s.
//
//go:noescape
func axpyAVX2(dst, src *float32, n int, a float32)

var nnHasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// nnAxpy adds a·src to dst (same length).
func nnAxpy(dst, src []float32, a float32) {
	src = src[:len(dst)]
	i := 0
	if nnHasAVX2 && len(dst) >= 8 {
		i = len(dst) &^ 7
		axpyAVX2(&dst[0], &src[0], i, a)
	}
	for ; i < len(dst); i++ {
		dst[i] += a * src[i]
	}
}

// dwRow3s2AVX2 computes n outputs (a multiple of 8) of one row of a 3x3,
// stride-2 depthwise convolution from even/odd de-interleaved input rows.
// Implemented in nn_dw_amd64.s.
//
//go:noescape
func dwRow3s2AVX2(dst, e0, o0, e1, o1, e2, o2 *float32, n int, w *float32, bias float32)

// nnDwRow3s2 is the vector stride-2 row kernel when the CPU has it, else
// nil. It returns how many leading outputs it computed (a multiple of 8).
var nnDwRow3s2 = func() func(dst []float32, e, o [3][]float32, w *[9]float32, bias float32) int {
	if !nnHasAVX2 {
		return nil
	}
	return func(dst []float32, e, o [3][]float32, w *[9]float32, bias float32) int {
		n := len(dst) &^ 7
		if n == 0 {
			return 0
		}
		for r := range 3 {
			_ = e[r][n]
			_ = o[r][n-1]
		}
		dwRow3s2AVX2(&dst[0], &e[0][0], &o[0][0], &e[1][0], &o[1][0], &e[2][0], &o[2][0], n, &w[0], bias)
		return n
	}
}()

// deinterleaveAVX2 splits n pairs of src into even and odd elements, n a
// multiple of 8. Implemented in nn_dw_amd64.s.
//
//go:noescape
func deinterleaveAVX2(ev, od, src *float32, n int)

// nnDeinterleave sets ev[i] = src[2i] and od[i] = src[2i+1] for
// i < len(ev) (len(od) == len(ev), len(src) >= 2·len(ev)).
func nnDeinterleave(ev, od, src []float32) {
	n := len(ev)
	od, src = od[:n], src[:2*n]
	i := 0
	if nnHasAVX2 && n >= 8 {
		i = n &^ 7
		deinterleaveAVX2(&ev[0], &od[0], &src[0], i)
	}
	for ; i < n; i++ {
		ev[i], od[i] = src[2*i], src[2*i+1]
	}
}
