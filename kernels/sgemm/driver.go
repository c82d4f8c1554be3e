package sgemm

import (
	"math"
	"sync"
)

// Cache blocking, in elements, for the Xeon (Sapphire/Emerald Rapids: 48
// KiB L1d, 2 MiB L2 per core) this was tuned on. KC×nr floats of B (32 KiB
// with nr=32) stay in L1d while A micro-panels stream from L2; an MC×KC
// block of A (384 KiB) and a KC×NC block of B (1 MiB) share L2. KC of 128,
// 192 and 384 and NC of 768 to 3072 measured no better.
const (
	blockM = 384
	blockK = 256
	blockN = 1024
)

// directBMaxM is the largest m (rows of C in one worker) for which B is read
// in place rather than packed. Reading B in place saves the copy, which
// matters most when few tiles share a B micro-panel (m of a few dozen:
// 1.3-2.2x on resnet18 conv1/layer1 and mobilenet_v2 projections); it
// measured as fast as packing up to m=1280 but was only checked that far.
// Strides that are multiples of 4 KiB (ldb%1024 == 0) keep packing: every
// row of the micro-panel then lands in the same L1 sets (n=3072 ran at
// 0.6x in place).
const directBMaxM = 1280

// smallWork is the m*n*k below which packing does not pay for itself.
const smallWork = 8 * 8 * 8

// best is the fastest micro-kernel this CPU runs, chosen once at start-up.
var best = kernels()[0]

// arena holds one worker's packing buffers; arenas are recycled through
// arenaPool so that steady-state calls do not allocate.
type arena struct {
	a, b []float32
	tile []float32
	args tileArgs
	// a column of B and the dot products of dotColumns
	x, dots []float32
}

var arenaPool = sync.Pool{New: func() any { return new(arena) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	run(best, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, nil)
}

// run splits the product among up to threads goroutines and runs the
// blocked algorithm with micro-kernel kr in each.
func run(kr *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int, ep *Epilogue) {
	if k == 0 || alpha == 0 {
		for i := range m {
			scaleC(c[i*ldc:i*ldc+n], beta)
		}
		ep.apply(c, ldc, 0, 0, m, n)
		return
	}
	if m == 1 && transB && n >= 16 && kr.direct != nil {
		// A single row of C times a transposed B (a fully connected layer
		// on one sample, Gemm with transB=1): packing B, the whole weight
		// matrix, would cost ten times the multiply.
		// Compute the transpose instead, an n×1 column C' = op(B)'·op(A)',
		// which reads the weights in place as the A operand.
		ldx := 1
		if transA {
			ldx = lda
		}
		var ept *Epilogue
		if ep != nil {
			ept = &Epilogue{RowBias: ep.ColBias, ColBias: ep.RowBias, Act: ep.Act, Min: ep.Min, Max: ep.Max}
		}
		run(kr, !transB, false, n, 1, k, alpha, b, ldb, a, ldx, beta, c, 1, threads, ept)
		return
	}
	if m*n*k <= smallWork {
		smallGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		ep.apply(c, ldc, 0, 0, m, n)
		return
	}
	parts, splitN := split(kr, m, n, k, threads)
	if parts <= 1 {
		blocked(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, 0, 0)
		return
	}
	// Chunks are whole micro-tiles so that no tile straddles two workers.
	unit, total := kr.mr, m
	if splitN {
		unit, total = kr.nr, n
	}
	tiles := (total + unit - 1) / unit
	Parallel(tiles, 1, parts, func(lo, hi int) {
		lo, hi = lo*unit, min(hi*unit, total)
		if splitN {
			bo := lo
			if transB {
				bo = lo * ldb
			}
			blocked(kr, transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc, ep, 0, lo)
			return
		}
		ao := lo * lda
		if transA {
			ao = lo
		}
		blocked(kr, transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc, ep, lo, 0)
	})
}

// split decides how many workers to use and along which dimension of C.
// Each worker packs its own panels, so splitting columns repacks all of A
// in every worker and splitting rows repacks B: cut the dimension whose
// operand is cheaper to repeat, provided it has a tile per worker.
func split(kr *kernel, m, n, k, threads int) (parts int, splitN bool) {
	// Below about 2^17 multiply-adds handing work to a helper costs more
	// than it saves.
	if threads <= 1 || m*n*k < 1<<17 {
		return 1, false
	}
	tilesM := (m + kr.mr - 1) / kr.mr
	tilesN := (n + kr.nr - 1) / kr.nr
	preferN := m <= n
	switch {
	case preferN && tilesN >= threads:
		return threads, true
	case tilesM >= threads:
		return threads, false
	case tilesN >= threads:
		return threads, true
	}
	if tilesN >= tilesM {
		return tilesN, true
	}
	return tilesM, false
}

// blocked is the single-threaded Goto/BLIS loop nest. row0 and col0 locate
// this sub-product in the caller's C for the epilogue's bias vectors.
func blocked(kr *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue, row0, col0 int) {
	// B in place needs alpha == 1 because alpha is folded into packing.
	directB := !transB && alpha == 1 && m <= directBMaxM && ldb%1024 != 0
	if directB && kr.directABE != nil {
		blockedInPlaceB(kr, transA, m, n, k, a, lda, b, ldb, beta, c, ldc, ep, row0, col0)
		return
	}
	directB = directB && kr.directAB != nil
	ar := arenaPool.Get().(*arena)
	defer arenaPool.Put(ar)
	mcMax := min(blockM, (m+kr.mr-1)/kr.mr*kr.mr)
	// k blocks of KC and a remainder. Equal blocks (576 = 2×288 rather than
	// 256+256+64) measured no faster, and changed rounding enough to push
	// the Conv tests' 1e-5 tolerance at k=576.
	kcMax := min(blockK, k)
	ncMax := min(blockN, (n+kr.nr-1)/kr.nr*kr.nr)
	ar.a = grow(ar.a, mcMax*kcMax)
	ar.b = grow(ar.b, kcMax*ncMax)
	ar.tile = grow(ar.tile, kr.mr*kr.nr)
	direct := !transA && kr.direct != nil
	for jc := 0; jc < n; jc += blockN {
		nc := min(blockN, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			// In place, B needs packing only for a partial last micro-panel.
			fullN := 0
			if directB {
				fullN = nc / kr.nr * kr.nr
			}
			if fullN < nc {
				packB(ar.b[fullN*kc:], transB, b, ldb, pc, jc+fullN, kc, nc-fullN, kr, alpha)
			}
			bet := beta
			if pc > 0 {
				bet = 1
			}
			last := pc+kc == k
			for ic := 0; ic < m; ic += blockM {
				mc := min(blockM, m-ic)
				// In place, A needs packing only for a partial last micro-panel.
				full := 0
				if direct {
					full = mc / kr.mr * kr.mr
				}
				if full < mc {
					packA(ar.a[full*kc:], transA, a, lda, ic+full, pc, mc-full, kc, kr.mr)
				}
				for jr := 0; jr < nc; {
					if jr < fullN {
						inPlaceB(kr, kc, a, lda, b[pc*ldb+jc+jr:], ldb, c, ldc, bet, ar, ic, pc, mc, full, jc+jr, direct)
						if last && ep != nil {
							ep.apply(c[ic*ldc+jc+jr:], ldc, row0+ic, col0+jc+jr, mc, kr.nr)
						}
						jr += kr.nr
						continue
					}
					kk := panelWidth(kr, jr-fullN, nc-fullN)
					cols := min(kk.nr, nc-jr)
					bp := ar.b[jr*kc : jr*kc+kk.nr*kc]
					for ir := 0; ir < mc; ir += kr.mr {
						rows := min(kr.mr, mc-ir)
						ct := c[(ic+ir)*ldc+jc+jr:]
						switch {
						case ir < full && cols == kk.nr:
							kk.direct(kc, a[(ic+ir)*lda+pc:], lda, bp, ct, ldc, bet)
						case ir < full:
							kk.direct(kc, a[(ic+ir)*lda+pc:], lda, bp, ar.tile, kk.nr, 0)
							mergeTile(ar.tile, kk.nr, ct, ldc, bet, rows, cols)
						case direct && kk == kr && cols == kr.nr && kr.subFor(rows) != nil:
							kr.subFor(rows).direct(kc, a[(ic+ir)*lda+pc:], lda, bp, ct, ldc, bet)
						case rows == kk.mr && cols == kk.nr:
							kk.fn(kc, ar.a[ir*kc:ir*kc+kr.mr*kc], bp, ct, ldc, bet)
						default:
							kk.fn(kc, ar.a[ir*kc:ir*kc+kr.mr*kc], bp, ar.tile, kk.nr, 0)
							mergeTile(ar.tile, kk.nr, ct, ldc, bet, rows, cols)
						}
						if last && ep != nil {
							ep.apply(ct, ldc, row0+ic+ir, col0+jc+jr, rows, cols)
						}
					}
					jr += kk.nr
				}
			}
		}
	}
}

// blockedInPlaceB is blocked for kernels that read B in place with masked
// columns and run the epilogue themselves (epKernel): B is never packed,
// edge tiles need no scratch tile and C is written once per k block.
func blockedInPlaceB(kr *kernel, transA bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue, row0, col0 int) {
	ar := arenaPool.Get().(*arena)
	defer arenaPool.Put(ar)
	kcMax := min(blockK, k)
	ar.a = grow(ar.a, min(blockM, (m+kr.mr-1)/kr.mr*kr.mr)*kcMax)
	direct := !transA && kr.direct != nil
	var flags int
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if ep != nil {
		if ep.RowBias != nil {
			flags |= tileRowBias
		}
		if ep.ColBias != nil {
			flags |= tileColBias
		}
		switch ep.Act {
		case Relu:
			flags |= tileClamp
			lo = 0
		case Clip:
			flags |= tileClamp
			lo, hi = ep.Min, ep.Max
		}
	}
	// The arena holds the kernels' argument block so that passing it
	// through a func value does not allocate.
	t := &ar.args
	for jc := 0; jc < n; jc += blockN {
		nc := min(blockN, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			last := pc+kc == k
			for ic := 0; ic < m; ic += blockM {
				mc := min(blockM, m-ic)
				// A in place for whole micro-panels and for a bottom edge
				// that a sub-kernel fits exactly; packed otherwise.
				full, sub := 0, (*kernel)(nil)
				if direct {
					full = mc / kr.mr * kr.mr
					if full < mc {
						sub = kr.subFor(mc - full)
					}
				}
				if full < mc && sub == nil {
					packA(ar.a[full*kc:], transA, a, lda, ic+full, pc, mc-full, kc, kr.mr)
				}
				*t = tileArgs{beta: bet, lo: lo, hi: hi}
				if last {
					t.flags = flags
				}
				for jr := 0; jr < nc; {
					cols := min(kr.nr, nc-jr)
					if r := nc - jr; direct && kr.dot != nil && kr.half != nil {
						switch {
						case r <= dotCols:
							// the last few columns as dot products
							dotColumns(kr, kc, a[ic*lda+pc:], lda, b[pc*ldb+jc+jr:], ldb, c[ic*ldc+jc+jr:], ldc, mc, r, ar, t, ep, row0+ic, col0+jc+jr)
							jr += r
							continue
						case r > kr.half.nr && r <= kr.nr && r-kr.half.nr <= dotCols:
							// a half-width tile, then dot products
							cols = kr.half.nr
						}
					}
					bj := b[pc*ldb+jc+jr:]
					if t.flags&tileColBias != 0 {
						cb := ep.ColBias[col0+jc+jr : col0+jc+jr+cols]
						t.colBias = &cb[0]
					}
					kf, ks := narrowest(kr, cols), (*kernel)(nil)
					if sub != nil {
						ks = narrowest(sub, cols)
					}
					ir := 0
					if full > 0 && kf.column != nil {
						var rb []float32
						if t.flags&tileRowBias != 0 {
							rb = ep.RowBias[row0+ic : row0+ic+full]
						}
						kf.column(kc, a[ic*lda+pc:], lda, bj, ldb, c[ic*ldc+jc+jr:], ldc, cols, full, rb, t)
						ir = full
					}
					for ; ir < mc; ir += kr.mr {
						t.rows = min(kr.mr, mc-ir)
						if t.flags&tileRowBias != 0 {
							rb := ep.RowBias[row0+ic+ir : row0+ic+ir+t.rows]
							t.rowBias = &rb[0]
						}
						ct := c[(ic+ir)*ldc+jc+jr:]
						switch {
						case ir < full:
							kf.directABE(kc, a[(ic+ir)*lda+pc:], lda, bj, ldb, ct, ldc, cols, t)
						case ks != nil:
							ks.directABE(kc, a[(ic+ir)*lda+pc:], lda, bj, ldb, ct, ldc, cols, t)
						default:
							kf.directBE(kc, ar.a[ir*kc:ir*kc+kr.mr*kc], kr.mr, bj, ldb, ct, ldc, cols, t)
						}
					}
					jr += cols
				}
			}
		}
	}
}

// dotCols is the most columns at the right-hand edge of C computed as dot
// products rather than with a vector-wide tile. A column costs about a
// sixteenth of a 16-wide tile plus the horizontal sums.
const dotCols = 3

// dotColumns computes cols (<= dotCols) columns of C, rows rows, as dot
// products of the rows of A (in place) with each column of B, then applies
// beta and, on the last k block (t.flags), the epilogue as the kernels do.
func dotColumns(kr *kernel, kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, rows, cols int, ar *arena, t *tileArgs, ep *Epilogue, row0, col0 int) {
	ar.x = grow(ar.x, kc)
	ar.dots = grow(ar.dots, rows)
	x, out := ar.x, ar.dots
	for j := range cols {
		for p := range x {
			x[p] = b[p*ldb+j]
		}
		kr.dot(kc, a, lda, x, out)
		for i, v := range out {
			ci := &c[i*ldc+j]
			if t.beta != 0 {
				v += t.beta * *ci
			}
			if t.flags&tileRowBias != 0 {
				v += ep.RowBias[row0+i]
			}
			if t.flags&tileColBias != 0 {
				v += ep.ColBias[col0+j]
			}
			if t.flags&tileClamp != 0 {
				v = min(max(v, t.lo), t.hi)
			}
			*ci = v
		}
	}
}

// narrowest is kr or, when cols fit in it, its half-width kernel.
func narrowest(kr *kernel, cols int) *kernel {
	if kr.half != nil && cols <= kr.half.nr {
		return kr.half
	}
	return kr
}

// inPlaceB runs the column of tiles at column j of C whose B micro-panel is
// read in place: full rows of A in place too, the partial last micro-panel
// from the packed buffer.
func inPlaceB(kr *kernel, kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta float32, ar *arena, ic, pc, mc, full, j int, direct bool) {
	for ir := 0; ir < mc; ir += kr.mr {
		ct := c[(ic+ir)*ldc+j:]
		if ir < full {
			kr.directAB(kc, a[(ic+ir)*lda+pc:], lda, b, ldb, ct, ldc, beta)
			continue
		}
		if s := kr.subFor(mc - ir); s != nil && direct {
			s.directAB(kc, a[(ic+ir)*lda+pc:], lda, b, ldb, ct, ldc, beta)
			continue
		}
		kr.directB(kc, ar.a[ir*kc:ir*kc+kr.mr*kc], kr.mr, b, ldb, ar.tile, kr.nr, 0)
		mergeTile(ar.tile, kr.nr, ct, ldc, beta, min(kr.mr, mc-ir), kr.nr)
	}
}

// mergeTile adds the rows×cols corner of a scratch tile (stride ldt) into
// C: C = tile + beta*C, not reading C when beta is 0.
func mergeTile(tile []float32, ldt int, c []float32, ldc int, beta float32, rows, cols int) {
	for i := range rows {
		t := tile[i*ldt : i*ldt+cols]
		ci := c[i*ldc : i*ldc+cols]
		if beta == 0 {
			copy(ci, t)
			continue
		}
		for j, v := range t {
			ci[j] = v + beta*ci[j]
		}
	}
}
