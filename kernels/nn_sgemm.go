package kernels

// nnSgemm is the single entry point through which the NN operators reach the
// fast single-precision GEMM, with the agreed sgemm.Gemm signature.
func nnSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	if m == 0 || n == 0 {
		return
	}
	nnGemmLoop(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
