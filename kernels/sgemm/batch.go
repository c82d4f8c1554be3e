package sgemm

import "fmt"

// GemmStrided runs batch independent products C_i = alpha*op(A_i)*op(B_i) +
// beta*C_i where A_i starts at a[i*strideA], B_i at b[i*strideB] and C_i at
// c[i*strideC], as MatMul with leading batch dimensions needs. A stride of
// 0 broadcasts one matrix to every product. Threads go to whole products
// when there are at least as many products as threads, since each one is
// then too small to split well; otherwise each product is split as by Gemm.
func GemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch, threads int) {
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("sgemm: negative batch %d or stride (%d, %d, %d)", batch, strideA, strideB, strideC))
	}
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	// Checking the last product checks them all: strides are non-negative.
	last := batch - 1
	check(transA, transB, m, n, k, a[min(last*strideA, len(a)):], lda, b[min(last*strideB, len(b)):], ldb, c[min(last*strideC, len(c)):], ldc)
	threads = max(threads, 1)
	one := func(i, t int) {
		run(best, transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc, t, nil)
	}
	if threads == 1 || batch < threads {
		for i := range batch {
			one(i, threads)
		}
		return
	}
	Parallel(batch, 1, threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			one(i, 1)
		}
	})
}
