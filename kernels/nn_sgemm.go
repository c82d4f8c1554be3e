package kernels

import "sync"

// nnSgemm is the single entry point through which the NN operators reach the
// fast single-precision GEMM, with the agreed sgemm.Gemm signature. Until
// kernels/sgemm lands it runs the plain-Go loop, split over rows of C.
func nnSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	if m == 0 || n == 0 {
		return
	}
	t := min(threads, m)
	if t <= 1 || m*n*k < 1<<15 {
		nnGemmLoop(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	chunk := (m + t - 1) / t
	for lo := 0; lo < m; lo += chunk {
		hi := min(lo+chunk, m)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			aoff := lo * lda
			if transA {
				aoff = lo
			}
			nnGemmLoop(transA, transB, hi-lo, n, k, alpha, a[aoff:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		}(lo, hi)
	}
	wg.Wait()
}
