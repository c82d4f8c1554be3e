package sgemm

// smallGemm handles products too small to repay packing. It never
// allocates: rows of C are accumulated in i-p-j order, or as dot products
// when B is transposed.
func smallGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := range m {
		ci := c[i*ldc : i*ldc+n]
		if transB {
			for j := range ci {
				var s float32
				bj := b[j*ldb : j*ldb+k]
				for p, bv := range bj {
					if transA {
						s += a[p*lda+i] * bv
					} else {
						s += a[i*lda+p] * bv
					}
				}
				if beta == 0 {
					ci[j] = alpha * s
				} else {
					ci[j] = alpha*s + beta*ci[j]
				}
			}
			continue
		}
		scaleC(ci, beta)
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

// scaleC sets row = beta*row, writing zeros without reading when beta is 0.
func scaleC(row []float32, beta float32) {
	switch beta {
	case 0:
		clear(row)
	case 1:
	default:
		for j := range row {
			row[j] *= beta
		}
	}
}
