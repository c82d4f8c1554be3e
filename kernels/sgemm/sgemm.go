package sgemm

import "fmt"

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices, where
// op(A) is A (m×k, leading dimension lda) or, if transA, the transpose of a
// k×m A; likewise op(B) is k×n. threads bounds the number of goroutines used
// (values below 1 mean 1). Gemm panics if a slice is too short for its shape.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	check(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, max(threads, 1))
}

func check(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(name string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("sgemm: %s leading dimension %d < %d columns", name, ld, cols))
		}
		if min := (rows-1)*ld + cols; len(s) < min {
			panic(fmt.Sprintf("sgemm: %s has %d elements, %d×%d with stride %d needs %d", name, len(s), rows, cols, ld, min))
		}
	}
	need("A", a, ar, ac, lda)
	need("B", b, br, bc, ldb)
	need("C", c, m, n, ldc)
}

// Kernel names the micro-kernel Gemm uses on this CPU and build, for
// benchmark reports: "avx512-12x32", "avx2-6x16" or "generic4x8".
func Kernel() string { return best.name }
