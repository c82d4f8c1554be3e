package kernels

import "unsafe"

// Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016) computes each 2×2
// block of a 3×3 stride-1 convolution's output from a 4×4 patch of input
// with 16 multiplies per input channel instead of 36:
//
//	Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// Summed over input channels, the element-wise product becomes 16
// independent GEMMs, one per position ξ of the 4×4 transformed tile:
// M_ξ (m × tiles) = U_ξ (m × c) · V_ξ (c × tiles). That is 2.25 times fewer
// multiply-adds than im2col's GEMM, and the input is copied 4 times (16
// values per 2×2 outputs) instead of 9: resnet18's 3×3 layers run 1.5 to
// 1.7 times faster at 1 thread (BenchmarkConv). The transforms only add and subtract
// (Bᵀ, Aᵀ) or halve (G, once per weight), so the result differs from the
// direct sum by rounding alone, a few units in the last place relative to
// the largest partial sums.

// winoTiles is the number of 2-wide tiles covering n outputs.
func winoTiles(n int) int { return (n + 1) / 2 }

// winoUsable reports whether the convolution geometry suits F(2×2, 3×3):
// 2-D, 3×3, stride 1, undilated, ungrouped, with enough channels that the
// 16 GEMMs are not dominated by the transforms. Any padding works.
func winoUsable(g *nnGeom, group, c, m int) bool {
	if g.nd != 2 || group != 1 || g.k != [3]int{1, 3, 3} || g.s != [3]int{1, 1, 1} || g.d != [3]int{1, 1, 1} {
		return false
	}
	if c < 16 || m < 16 {
		return false
	}
	// The 16 GEMMs are as wide as there are tiles and stream a weight
	// 16/9 the size of im2col's. At 16 tiles (ResNet's 7×7 layers) that
	// still wins in resnet18 (2.5 against 2.9 ms per layer at 1 thread,
	// 1.0 against 1.5 at 2); narrower products fill less of a micro-tile
	// and were not measured to pay off.
	return winoTiles(g.out[1])*winoTiles(g.out[2]) >= 16
}

// winoWeights is a convolution weight in the transformed layout U[ξ][m][c]
// with the identity of the weight data it came from, so a cached copy is
// recomputed if the op ever sees other weights.
type winoWeights struct {
	src  *float32
	n    int
	m, c int
	u    []float32
}

// winoTransformWeights computes U_ξ = G g Gᵀ for every (output, input)
// channel pair of w ([m][c][3][3]), in float64 so the halvings round once.
// Each U_ξ (m × c) is stored packed for the GEMM: panels of panelMR output
// channels, each c steps of panelMR values, the rows past m zero.
func winoTransformWeights(w []float32, m, c int) []float32 {
	plane := panelPadM(m) * c
	u := make([]float32, 16*plane)
	for k := range m {
		at := k/panelMR*panelMR*c + k%panelMR // (panel, row) within a plane
		for ch := range c {
			g := w[(k*c+ch)*9 : (k*c+ch)*9+9]
			var t [4][3]float64 // G g
			for col := range 3 {
				g0, g1, g2 := float64(g[col]), float64(g[3+col]), float64(g[6+col])
				t[0][col] = g0
				t[1][col] = (g0 + g1 + g2) / 2
				t[2][col] = (g0 - g1 + g2) / 2
				t[3][col] = g2
			}
			for r := range 4 {
				a0, a1, a2 := t[r][0], t[r][1], t[r][2]
				v := [4]float64{a0, (a0 + a1 + a2) / 2, (a0 - a1 + a2) / 2, a2}
				for q := range 4 {
					u[(r*4+q)*plane+at+ch*panelMR] = float32(v[q])
				}
			}
		}
	}
	return u
}

// winoWeightsFor returns the transformed weights, cached in o when the
// weight is an initializer.
func (o *convOp) winoWeightsFor(w []float32, m, c int) []float32 {
	if !o.constW {
		return winoTransformWeights(w, m, c)
	}
	if ww := o.wino.Load(); ww != nil && ww.src == unsafe.SliceData(w) && ww.n == len(w) && ww.m == m && ww.c == c {
		return ww.u
	}
	ww := &winoWeights{src: unsafe.SliceData(w), n: len(w), m: m, c: c, u: winoTransformWeights(w, m, c)}
	o.wino.Store(ww)
	return ww.u
}

// winoFuncs are the two tile-row transforms; the vector versions are in
// nn_winograd_amd64.s, the portable ones below define what they compute.
type winoFuncs struct {
	// input transforms one row of nt tiles: rows holds the four
	// zero-padded input rows at stride rs >= 2·nt+2, followed by
	// winoSlack floats the vector version may read (into lanes it
	// discards); it writes Bᵀ d B of tile j to v[ξ·vs + j] for ξ < 16.
	input func(rows []float32, rs, nt int, v []float32, vs int)
	// output inverts one row of nt tiles: m holds the 16 products at
	// stride ms; it writes the 2×2 outputs of tile j, plus bias and
	// clamped to [lo, hi], to out0[2j:2j+2] and out1[2j:2j+2], as much
	// of them as fits (the rows hold 2·nt or 2·nt-1 values).
	output func(m []float32, ms, nt int, out0, out1 []float32, bias, lo, hi float32)
	// gemm is the panel kernel (nn_panel.go) the products run on.
	gemm panelGemmFunc
}

// winoSlack is how far past 4 rows of 2·nt+2 the vector input transform
// may read: its last step loads 34 values from column 2·j0 for a tile j0
// that may be the last.
const winoSlack = 64

var winoGo = &winoFuncs{input: winoInputGo, output: winoOutputGo, gemm: panelGemmGo}

func winoInputGo(rows []float32, rs, nt int, v []float32, vs int) {
	r0, r1, r2, r3 := rows[:2*nt+2], rows[rs:rs+2*nt+2], rows[2*rs:2*rs+2*nt+2], rows[3*rs:3*rs+2*nt+2]
	for j := range nt {
		x := 2 * j
		var t [4][4]float32
		for q := range 4 {
			d0, d1, d2, d3 := r0[x+q], r1[x+q], r2[x+q], r3[x+q]
			t[0][q], t[1][q], t[2][q], t[3][q] = d0-d2, d1+d2, d2-d1, d1-d3
		}
		for r := range 4 {
			t0, t1, t2, t3 := t[r][0], t[r][1], t[r][2], t[r][3]
			b := r * 4 * vs
			v[b+j], v[b+vs+j], v[b+2*vs+j], v[b+3*vs+j] = t0-t2, t1+t2, t2-t1, t1-t3
		}
	}
}

func winoOutputGo(m []float32, ms, nt int, out0, out1 []float32, bias, lo, hi float32) {
	clamp := func(v float32) float32 {
		// the order of vecClamp: lo first, then hi
		v = max(v, lo)
		return min(v, hi)
	}
	for j := range nt {
		var s [2][4]float32
		for q := range 4 {
			m0, m1, m2, m3 := m[q*ms+j], m[(4+q)*ms+j], m[(8+q)*ms+j], m[(12+q)*ms+j]
			s[0][q] = m0 + m1 + m2
			s[1][q] = m1 - m2 - m3
		}
		for r, out := range [2][]float32{out0, out1} {
			s0, s1, s2, s3 := s[r][0], s[r][1], s[r][2], s[r][3]
			out[2*j] = clamp(s0 + s1 + s2 + bias)
			if 2*j+1 < len(out) {
				out[2*j+1] = clamp(s1 - s2 - s3 + bias)
			}
		}
	}
}

// winoBudget bounds the transformed input of one block of tile rows
// (16·c·tiles floats), so the block and its products stay near L2.
const winoBudget = 1 << 20

// convWinograd computes y = conv(x, w) + b for nb images of c channels and
// m outputs, then act and post (nil for none) on each output channel's
// rows of a block while they are in cache. u is the transformed weight
// (winoTransformWeights) and f the transforms.
func (o *convOp) convWinograd(ctx *Context, f *winoFuncs, x, u, b, y []float32, g *nnGeom, nb, c, m int, act nnAct, post func(d []float32, ch, off int)) {
	inH, inW, outH, outW := g.in[1], g.in[2], g.out[1], g.out[2]
	padT, padL := g.pb[1], g.pb[2]
	th, tw := winoTiles(outH), winoTiles(outW)
	// blocks of equal size: a last block of one tile row would make 16
	// GEMMs too narrow to run well
	rowsPer := max(1, min(th, winoBudget/(16*4*c*tw)))
	blocks := (th + rowsPer - 1) / rowsPer
	rowsPer = (th + blocks - 1) / blocks
	lo, hi := act.bounds()
	// padded input row stride: the columns of every tile
	pw := 2*tw + 2
	outVol := outH * outW
	// The transformed input and the products of one block, with 16 slack
	// floats: the vector output transform may load a whole vector past
	// the last tile of the last plane.
	tbMax := rowsPer * tw
	mp := panelPadM(m)
	bufp := o.getScratch(16*c*tbMax + 16*mp*tbMax + 16)
	defer o.scratch.Put(bufp)
	for n := range nb {
		xs := x[n*c*inH*inW : (n+1)*c*inH*inW]
		ys := y[n*m*outVol : (n+1)*m*outVol]
		for t0 := 0; t0 < th; t0 += rowsPer {
			t1 := min(th, t0+rowsPer)
			tb := (t1 - t0) * tw
			v, mm := (*bufp)[:16*c*tb], (*bufp)[16*c*tbMax:]
			ctx.Parallel(c, 1, func(c0, c1 int) {
				// the block's input rows, zero-padded, in one buffer: each
				// input row is copied once, not once per tile row using it
				nr := 2*(t1-t0) + 2
				rp := o.winoRow(nr*pw + winoSlack)
				defer o.winoRows.Put(rp)
				rows := *rp
				for ch := c0; ch < c1; ch++ {
					plane := xs[ch*inH*inW : (ch+1)*inH*inW]
					winoPadRows(rows, pw, plane, inH, inW, 2*t0-padT, nr, padL)
					for t := t0; t < t1; t++ {
						f.input(rows[2*(t-t0)*pw:], pw, tw, v[ch*tb+(t-t0)*tw:], c*tb)
					}
				}
			})
			// M_ξ = U_ξ V_ξ, one packed panel of U at a time
			panels := mp / panelMR
			ctx.Parallel(16*panels, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					xi, p := i/panels, i%panels
					f.gemm(c, u[xi*mp*c+p*panelMR*c:], v[xi*c*tb:], tb, mm[(xi*mp+p*panelMR)*tb:], tb, tb, &noBias, panelLo, panelHi)
				}
			})
			ctx.Parallel(m, 1, func(k0, k1 int) {
				// where an output row pair has no second row
				op := o.winoRow(outW)
				defer o.winoRows.Put(op)
				spare := *op
				for k := k0; k < k1; k++ {
					bias := float32(0)
					if b != nil {
						bias = b[k]
					}
					yc := ys[k*outVol : (k+1)*outVol]
					for t := t0; t < t1; t++ {
						oy := 2 * t
						row1 := spare
						if oy+1 < outH {
							row1 = yc[(oy+1)*outW : (oy+2)*outW]
						}
						f.output(mm[k*tb+(t-t0)*tw:], mp*tb, tw, yc[oy*outW:(oy+1)*outW], row1, bias, lo, hi)
					}
					if post != nil {
						r0, r1 := 2*t0, min(outH, 2*t1)
						post(yc[r0*outW:r1*outW], k, (n*m+k)*outVol+r0*outW)
					}
				}
			})
		}
	}
}

// winoPadRows copies nr rows of a channel plane (inH×inW), starting at
// row y0 (negative or past the end: zero rows), into dst with row stride
// pw and padL zero columns on the left; every other column is zero.
func winoPadRows(dst []float32, pw int, plane []float32, inH, inW, y0, nr, padL int) {
	for r := range nr {
		row := dst[r*pw : (r+1)*pw]
		iy := y0 + r
		if iy < 0 || iy >= inH {
			clear(row)
			continue
		}
		src := plane[iy*inW : (iy+1)*inW]
		at := padL
		if at < 0 {
			src, at = src[min(-at, len(src)):], 0
		}
		n := copy(row[at:], src)
		clear(row[:at])
		clear(row[at+n:])
	}
}

// winoRow is a per-worker row buffer of at least n floats. They have a pool
// of their own: sharing o.scratch with the much larger block buffers would
// hand a row buffer to a block request and allocate afresh every run.
func (o *convOp) winoRow(n int) *[]float32 {
	if p, ok := o.winoRows.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

