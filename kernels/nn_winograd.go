package kernels

import (
	"math"
	"unsafe"
)

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

// winoUsable reports whether the convolution geometry suits Winograd's
// F(tile×tile, 3×3): 2-D, 3×3, stride 1, undilated, ungrouped, with enough
// channels that the GEMMs are not dominated by the transforms. Any
// padding works.
func winoUsable(g *nnGeom, group, c, m int) bool {
	if g.nd != 2 || group != 1 || g.k != [3]int{1, 3, 3} || g.s != [3]int{1, 1, 1} || g.d != [3]int{1, 1, 1} {
		return false
	}
	return c >= 16 && m >= 16
}

// winoTileCount is the number of tile×tile tiles covering the output.
func winoTileCount(g *nnGeom, tile int) int {
	return ((g.out[1] + tile - 1) / tile) * ((g.out[2] + tile - 1) / tile)
}

// winoPick chooses the variant for a usable geometry, or nil for im2col.
//
// The GEMMs are as wide as there are tiles and stream a weight (tile+2)²/9
// the size of im2col's: 16/9 for F(2×2), 4 for F(4×4). F(4×4) needs 1.8
// times fewer multiplies than F(2×2), so it runs wherever its weight stays
// small enough to come from cache: resnet18's 64-channel layers take
// 1.0-1.1 ms with it against 1.3 with F(2×2) and 1.7 with im2col (1
// thread). F(2×2) runs on wider layers down to 16 tiles: resnet18's 7×7
// layers take 2.0 ms against 2.9 with im2col. Narrower products fill less
// of a micro-tile and were not measured to pay off.
func winoPick(g *nnGeom, group, c, m int) *winoFuncs {
	if !winoUsable(g, group, c, m) {
		return nil
	}
	if winoFast4 != nil && 36*4*panelPadM(m)*c <= winoF4Weight && winoTileCount(g, 4) >= 16 {
		return winoFast4
	}
	if winoFast != nil && winoTileCount(g, 2) >= 16 {
		return winoFast
	}
	return nil
}

// winoF4Weight bounds the bytes of an F(4×4) transformed weight.
const winoF4Weight = 5 << 19

// winoWeights is a convolution weight in the transformed layout U[ξ][m][c]
// with the identity of the weight data it came from, so a cached copy is
// recomputed if the op ever sees other weights.
type winoWeights struct {
	src        *float32
	n          int
	m, c, tile int
	u          []float32
}

// winoG is the weight transform G of F(2×2, 3×3) and of F(4×4, 3×3),
// one row per transformed tap.
var winoG = map[int][][3]float64{
	2: {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
	4: {
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
}

// winoTransformWeights computes U_ξ = G g Gᵀ of F(tile×tile, 3×3) for
// every (output, input) channel pair of w ([m][c][3][3]), in float64 so
// each value rounds once. Each U_ξ (m × c) is stored packed for the panel
// kernel: panels of panelMR output channels, c steps of panelMR values
// each, the rows past m zero.
func winoTransformWeights(w []float32, m, c, tile int) []float32 {
	gm := winoG[tile]
	a := len(gm) // tile + 2
	plane := panelPadM(m) * c
	u := make([]float32, a*a*plane)
	for k := range m {
		at := k/panelMR*panelMR*c + k%panelMR // (panel, row) within a plane
		for ch := range c {
			g := w[(k*c+ch)*9 : (k*c+ch)*9+9]
			var t [6][3]float64 // G g
			for r := range a {
				for col := range 3 {
					t[r][col] = gm[r][0]*float64(g[col]) + gm[r][1]*float64(g[3+col]) + gm[r][2]*float64(g[6+col])
				}
			}
			for r := range a {
				for q := range a {
					v := gm[q][0]*t[r][0] + gm[q][1]*t[r][1] + gm[q][2]*t[r][2]
					u[(r*a+q)*plane+at+ch*panelMR] = float32(v)
				}
			}
		}
	}
	return u
}

// winoWeightsFor returns the transformed weights, cached in o when the
// weight is an initializer.
func (o *convOp) winoWeightsFor(w []float32, m, c, tile int) []float32 {
	if !o.constW {
		return winoTransformWeights(w, m, c, tile)
	}
	if ww := o.wino.Load(); ww != nil && ww.src == unsafe.SliceData(w) && ww.n == len(w) && ww.m == m && ww.c == c && ww.tile == tile {
		return ww.u
	}
	ww := &winoWeights{src: unsafe.SliceData(w), n: len(w), m: m, c: c, tile: tile, u: winoTransformWeights(w, m, c, tile)}
	o.wino.Store(ww)
	return ww.u
}

// winoFuncs are the transforms of one Winograd variant F(tile×tile, 3×3)
// for a row of tiles; the vector versions are in nn_winograd_amd64.s, the
// portable ones below define what they compute. With a = tile+2, a tile
// reads a×a inputs and has a² transformed values ξ.
type winoFuncs struct {
	tile int
	// input transforms one row of nt tiles: rows holds the a zero-padded
	// input rows at stride rs >= tile·nt+2, followed by winoSlack floats
	// the vector version may read (into lanes it discards); it writes
	// Bᵀ d B of tile j to v[ξ·vs + j] for ξ < a².
	input func(rows []float32, rs, nt int, v []float32, vs int)
	// output inverts one row of nt tiles: m holds the a² products at
	// stride ms; it writes the tile×tile outputs of tile j, plus bias and
	// clamped to [lo, hi], to out[r][tile·j:tile·j+tile] for r < tile, as
	// much of them as fits (rows may end inside the last tile).
	output func(m []float32, ms, nt int, out *[4][]float32, bias, lo, hi float32)
	// gemm is the panel kernel (nn_panel.go) the products run on.
	gemm panelGemmFunc
}

// winoSlack is how far past 4 rows of 2·nt+2 the vector input transform
// may read: its last step loads 34 values from column 2·j0 for a tile j0
// that may be the last.
const winoSlack = 64

var (
	winoGo  = &winoFuncs{tile: 2, input: winoInputGo, output: winoOutputGo, gemm: panelGemmGo}
	winoGo4 = &winoFuncs{tile: 4, input: winoInput4Go, output: winoOutput4Go, gemm: panelGemmGo}
)

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

func winoOutputGo(m []float32, ms, nt int, out *[4][]float32, bias, lo, hi float32) {
	for j := range nt {
		var s [2][4]float32
		for q := range 4 {
			m0, m1, m2, m3 := m[q*ms+j], m[(4+q)*ms+j], m[(8+q)*ms+j], m[(12+q)*ms+j]
			s[0][q] = m0 + m1 + m2
			s[1][q] = m1 - m2 - m3
		}
		for r := range 2 {
			s0, s1, s2, s3 := s[r][0], s[r][1], s[r][2], s[r][3]
			winoPut(out[r], 2*j, [4]float32{s0 + s1 + s2, s1 - s2 - s3}, 2, bias, lo, hi)
		}
	}
}

// winoPut stores the first n of y, plus bias and clamped (lo first, as
// vecClamp does), at row[at:], as many as the row holds.
func winoPut(row []float32, at int, y [4]float32, n int, bias, lo, hi float32) {
	for c := range min(n, len(row)-at) {
		row[at+c] = min(max(y[c]+bias, lo), hi)
	}
}

// winoB4 is Bᵀ of F(4×4, 3×3) applied to six values, factored so that
// the vector version does the same operations in the same order (the
// multiplications by 2 and 4 are exact; by 5 it is fused).
func winoB4(d0, d1, d2, d3, d4, d5 float32) (t0, t1, t2, t3, t4, t5 float32) {
	a := d4 - 4*d2
	b := d3 - 4*d1
	c := d4 - d2
	e := d3 - d1
	e += e
	t0 = fma32(-5, d2, 4*d0) + d4
	t5 = fma32(-5, d3, 4*d1) + d5
	return t0, a + b, a - b, c + e, c - e, t5
}

// fma32 is x·y+z rounded once, as the vector FMA does.
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}

// winoA4 is Aᵀ of F(4×4, 3×3) applied to six values.
func winoA4(m0, m1, m2, m3, m4, m5 float32) (y0, y1, y2, y3 float32) {
	p, q := m1+m2, m1-m2
	r, s := m3+m4, m3-m4
	return m0 + p + r, q + 2*s, p + 4*r, q + 8*s + m5
}

func winoInput4Go(rows []float32, rs, nt int, v []float32, vs int) {
	for j := range nt {
		x := 4 * j
		// along each input row first, then down each column, as the
		// vector version does
		var h [6][6]float32
		for i := range 6 {
			r := rows[i*rs+x : i*rs+x+6]
			h[i][0], h[i][1], h[i][2], h[i][3], h[i][4], h[i][5] = winoB4(r[0], r[1], r[2], r[3], r[4], r[5])
		}
		for q := range 6 {
			var o [6]float32
			o[0], o[1], o[2], o[3], o[4], o[5] = winoB4(h[0][q], h[1][q], h[2][q], h[3][q], h[4][q], h[5][q])
			for r := range 6 {
				v[(r*6+q)*vs+j] = o[r]
			}
		}
	}
}

func winoOutput4Go(m []float32, ms, nt int, out *[4][]float32, bias, lo, hi float32) {
	for j := range nt {
		var s [4][6]float32
		for q := range 6 {
			at := func(r int) float32 { return m[(r*6+q)*ms+j] }
			s[0][q], s[1][q], s[2][q], s[3][q] = winoA4(at(0), at(1), at(2), at(3), at(4), at(5))
		}
		for r := range 4 {
			var y [4]float32
			y[0], y[1], y[2], y[3] = winoA4(s[r][0], s[r][1], s[r][2], s[r][3], s[r][4], s[r][5])
			winoPut(out[r], 4*j, y, 4, bias, lo, hi)
		}
	}
}

// winoBudget bounds the transformed input of one block of tile rows
// ((tile+2)²·c·tiles floats), so the block and its products stay in L2;
// 512 KiB measured 2-4% faster than 1 MiB on resnet18.
const winoBudget = 1 << 19

// convWinograd computes y = conv(x, w) + b for nb images of c channels and
// m outputs with the variant f, then act and post (nil for none) on each
// output channel's rows of a block while they are in cache. u is the
// transformed weight (winoTransformWeights with f.tile).
func (o *convOp) convWinograd(ctx *Context, f *winoFuncs, x, u, b, y []float32, g *nnGeom, nb, c, m int, act nnAct, post func(d []float32, ch, off int)) {
	T := f.tile
	a := T + 2
	pts := a * a
	inH, inW, outH, outW := g.in[1], g.in[2], g.out[1], g.out[2]
	padT, padL := g.pb[1], g.pb[2]
	th, tw := (outH+T-1)/T, (outW+T-1)/T
	// blocks of equal size: a last block of one tile row would make the
	// GEMMs too narrow to run well
	rowsPer := max(1, min(th, winoBudget/(pts*4*c*tw)))
	blocks := (th + rowsPer - 1) / rowsPer
	rowsPer = (th + blocks - 1) / blocks
	blocks = (th + rowsPer - 1) / rowsPer
	lo, hi := act.bounds()
	// padded input row stride: the columns of every tile
	pw := T*tw + 2
	outVol := outH * outW
	// The transformed input and the products of one block, with 16 slack
	// floats: the vector output transform may load a whole vector past
	// the last tile of the last plane.
	tbMax := rowsPer * tw
	mp := panelPadM(m)
	bufLen := pts*c*tbMax + pts*mp*tbMax + 16
	// block computes tile rows [t0, t1) of image n with buf as its
	// transformed input and products; par shares each step among threads
	// (or runs it whole).
	block := func(n, t0, t1 int, buf []float32, par func(n, grain int, fn func(lo, hi int))) {
		xs := x[n*c*inH*inW : (n+1)*c*inH*inW]
		ys := y[n*m*outVol : (n+1)*m*outVol]
		tb := (t1 - t0) * tw
		v, mm := buf[:pts*c*tb], buf[pts*c*tbMax:]
		par(c, 1, func(c0, c1 int) {
			// the block's input rows, zero-padded, in one buffer: each
			// input row is copied once, not once per tile row using it
			nr := T*(t1-t0) + 2
			rp := o.winoRow(nr*pw + winoSlack)
			defer o.winoRows.Put(rp)
			rows := *rp
			for ch := c0; ch < c1; ch++ {
				plane := xs[ch*inH*inW : (ch+1)*inH*inW]
				winoPadRows(rows, pw, plane, inH, inW, T*t0-padT, nr, padL)
				for t := t0; t < t1; t++ {
					f.input(rows[T*(t-t0)*pw:], pw, tw, v[ch*tb+(t-t0)*tw:], c*tb)
				}
			}
		})
		// M_ξ = U_ξ V_ξ, one packed panel of U at a time
		panels := mp / panelMR
		par(pts*panels, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				xi, p := i/panels, i%panels
				f.gemm(c, u[xi*mp*c+p*panelMR*c:], v[xi*c*tb:], tb, mm[(xi*mp+p*panelMR)*tb:], tb, tb, &noBias, panelLo, panelHi)
			}
		})
		par(m, 1, func(k0, k1 int) {
			// where a tile row has fewer output rows than the tile
			op := o.winoRow(outW)
			defer o.winoRows.Put(op)
			spare := *op
			// one per worker: handed to f.output, a function value, a
			// local array would be allocated at every call
			rows := new([4][]float32)
			for k := k0; k < k1; k++ {
				bias := float32(0)
				if b != nil {
					bias = b[k]
				}
				yc := ys[k*outVol : (k+1)*outVol]
				for t := t0; t < t1; t++ {
					for r := range T {
						rows[r] = spare
						if oy := T*t + r; oy < outH {
							rows[r] = yc[oy*outW : (oy+1)*outW]
						}
					}
					f.output(mm[k*tb+(t-t0)*tw:], mp*tb, tw, rows, bias, lo, hi)
				}
				if post != nil {
					r0, r1 := T*t0, min(outH, T*t1)
					post(yc[r0*outW:r1*outW], k, (n*m+k)*outVol+r0*outW)
				}
			}
		})
	}
	threads := nnThreads(ctx)
	jobs := nb * blocks
	if threads > 1 && (jobs >= 2*threads || jobs%threads == 0) {
		// Whole blocks per thread: each keeps its transformed input and
		// products in its own core's L2 and needs no step-by-step sync.
		serial := func(n, _ int, fn func(lo, hi int)) { fn(0, n) }
		ctx.Parallel(jobs, 1, func(j0, j1 int) {
			bp := o.getScratch(bufLen)
			defer o.scratch.Put(bp)
			for j := j0; j < j1; j++ {
				t0 := (j % blocks) * rowsPer
				block(j/blocks, t0, min(th, t0+rowsPer), *bp, serial)
			}
		})
		return
	}
	bufp := o.getScratch(bufLen)
	defer o.scratch.Put(bufp)
	for n := range nb {
		for t0 := 0; t0 < th; t0 += rowsPer {
			block(n, t0, min(th, t0+rowsPer), *bufp, ctx.Parallel)
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
