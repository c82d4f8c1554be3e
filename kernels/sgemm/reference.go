package sgemm

// Reference is the obviously correct triple loop the fast paths are tested
// against. It has Gemm's signature and semantics (threads is ignored); sums
// are accumulated in float64 so that it is a tighter yardstick than the code
// it checks.
func Reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	_ = threads
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			r := alpha * float32(s)
			if beta != 0 {
				r += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = r
		}
	}
}
