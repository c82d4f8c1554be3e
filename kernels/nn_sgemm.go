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

// nnSgemmFused is nnSgemm with a per-row and a per-column bias (nil for
// none) and an activation, applied by the GEMM while each block of C is in
// cache.
func nnSgemmFused(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int, rowBias, colBias []float32, act nnAct) {
	if m == 0 || n == 0 {
		return
	}
	var ep *sgemm.Epilogue
	if rowBias != nil || colBias != nil || act.kind != nnActNone {
		ep = &sgemm.Epilogue{RowBias: rowBias, ColBias: colBias}
		switch act.kind {
		case nnActRelu:
			ep.Act = sgemm.Relu
		case nnActClip:
			ep.Act, ep.Min, ep.Max = sgemm.Clip, act.lo, act.hi
		}
	}
	sgemm.GemmWith(sgemm.Options{Threads: threads, Epilogue: ep}, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
