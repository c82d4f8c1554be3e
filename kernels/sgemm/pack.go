package sgemm

// packA copies the mc×kc block of op(A) starting at row i0, column p0
// into micro-panels of mr rows: panel r holds, for each p, the mr values
// op(A)[i0+r*mr+ii, p0+p] contiguously. Rows past mc are zero so that edge
// tiles can run the full kernel.
func packA(dst []float32, transA bool, a []float32, lda, i0, p0, mc, kc, mr int) {
	for r := 0; r < mc; r += mr {
		rows := min(mr, mc-r)
		panel := dst[r*kc : r*kc+mr*kc]
		if transA {
			for p := range kc {
				src := a[(p0+p)*lda+i0+r:]
				d := panel[p*mr : p*mr+mr]
				copy(d[:rows], src)
				clear(d[rows:])
			}
			continue
		}
		for ii := range rows {
			src := a[(i0+r+ii)*lda+p0 : (i0+r+ii)*lda+p0+kc]
			for p, v := range src {
				panel[p*mr+ii] = v
			}
		}
		for ii := rows; ii < mr; ii++ {
			for p := range kc {
				panel[p*mr+ii] = 0
			}
		}
	}
}

// panelWidth is the column width the packed B panel starting at column j of
// an nc-wide block uses: nr, or the half kernel's width for a narrow
// right-hand edge.
func panelWidth(kr *kernel, j, nc int) *kernel {
	if kr.half != nil && nc-j <= kr.half.nr {
		return kr.half
	}
	return kr
}

// packB copies the kc×nc block of alpha*op(B) at row p0, column j0 into
// micro-panels: the panel for columns j..j+w holds, for each p, w
// contiguous values, and starts at offset j*kc. Columns past nc are zero.
func packB(dst []float32, transB bool, b []float32, ldb, p0, j0, kc, nc int, kr *kernel, alpha float32) {
	for j := 0; j < nc; {
		w := panelWidth(kr, j, nc).nr
		cols := min(w, nc-j)
		panel := dst[j*kc : j*kc+w*kc]
		if transB {
			for jj := range cols {
				src := b[(j0+j+jj)*ldb+p0 : (j0+j+jj)*ldb+p0+kc]
				for p, v := range src {
					panel[p*w+jj] = alpha * v
				}
			}
			if cols < w {
				for p := range kc {
					clear(panel[p*w+cols : p*w+w])
				}
			}
		} else {
			for p := range kc {
				src := b[(p0+p)*ldb+j0+j : (p0+p)*ldb+j0+j+cols]
				d := panel[p*w : p*w+w]
				switch {
				case alpha == 1 && cols == 32:
					// Whole-array copies compile to straight vector moves
					// instead of a memmove call per 128 bytes.
					*(*[32]float32)(d) = *(*[32]float32)(src)
				case alpha == 1 && cols == 16:
					*(*[16]float32)(d) = *(*[16]float32)(src)
				case alpha == 1:
					copy(d, src)
				default:
					for j, v := range src {
						d[j] = alpha * v
					}
				}
				clear(d[cols:])
			}
		}
		j += w
	}
}
