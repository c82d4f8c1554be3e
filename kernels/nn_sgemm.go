package kernels

import "github.com/ptq-dev/ptq/kernels/sgemm"

// nnSgemm is the single entry point through which the NN operators reach the
// fast single-precision GEMM (kernels/sgemm), so a change of GEMM is one edit.
func nnSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	if m == 0 || n == 0 {
		return
	}
	sgemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads)
}
