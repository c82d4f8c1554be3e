package sgemm

import "sync"

// gemm is the plain-Go implementation: rows of C are split among goroutines
// and each row is accumulated in i-p-j order so the inner loop is a
// contiguous axpy.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	t := min(threads, m)
	if t <= 1 || m*n*k < 1<<15 {
		rowsLoop(transA, transB, 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	chunk := (m + t - 1) / t
	for lo := 0; lo < m; lo += chunk {
		hi := min(lo+chunk, m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rowsLoop(transA, transB, lo, hi, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}()
	}
	wg.Wait()
}

func rowsLoop(transA, transB bool, lo, hi, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var bt []float32
	if transB {
		// Gather op(B) row by row into a k×n scratch so the inner loop stays contiguous.
		bt = make([]float32, k*n)
		for j := range n {
			for p := range k {
				bt[p*n+j] = b[j*ldb+p]
			}
		}
		b, ldb = bt, n
	}
	for i := lo; i < hi; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := range k {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			bp := b[p*ldb : p*ldb+n]
			for j, bv := range bp {
				ci[j] += av * bv
			}
		}
	}
}
