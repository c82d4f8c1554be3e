package kernels

// Implicit-GEMM convolution for 2-D convolutions at stride 1 or 2 (ResNet's
// 7×7 stem, its stride-2 3×3 and 5×5 layers): no im2col matrix. The input
// is copied once into zero-padded phase planes, x[S·i+r][S·j+s] in plane
// (r, s), laid out so that every tap reads, for a run of output positions,
// one contiguous stretch of one plane. Outputs are computed on a grid as
// wide as a padded plane row (the few extra columns are thrown away), and
// the packed-panel kernel reads each tap's row through a table of offsets.

// implicitGeom is the plane layout of one convolution geometry.
type implicitGeom struct {
	s            int // stride, both axes
	q1min, q2min int // smallest tap shift (in phase rows and columns)
	phH, phW     int // padded plane: rows, and the output grid's width
	planeLen     int // floats per plane, with slack for the last row's reads
	imgLen       int // floats per image: c·s² planes
	offs         []int
	maxOff       int
}

// nnImplicitOK reports whether g takes the implicit path (with group 1).
func nnImplicitOK(g *nnGeom) bool {
	return g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.s[1] == g.s[2] && (g.s[1] == 1 || g.s[1] == 2)
}

// floorDivMod is (⌊a/b⌋, a mod b) with a non-negative remainder.
func floorDivMod(a, b int) (int, int) {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q, a - q*b
}

func newImplicitGeom(g *nnGeom, c int) *implicitGeom {
	s := g.s[1]
	kh, kw := g.k[1], g.k[2]
	ig := &implicitGeom{s: s}
	q1max, q2max := 0, 0
	ig.q1min, ig.q2min = 1<<30, 1<<30
	for k1 := range kh {
		q, _ := floorDivMod(k1*g.d[1]-g.pb[1], s)
		ig.q1min, q1max = min(ig.q1min, q), max(q1max, q)
	}
	for k2 := range kw {
		q, _ := floorDivMod(k2*g.d[2]-g.pb[2], s)
		ig.q2min, q2max = min(ig.q2min, q), max(q2max, q)
	}
	ig.phH = g.out[1] + q1max - ig.q1min
	ig.phW = g.out[2] + q2max - ig.q2min
	ig.planeLen = ig.phH*ig.phW + q2max - ig.q2min
	ig.imgLen = c * s * s * ig.planeLen
	ig.offs = make([]int, c*kh*kw)
	for ci := range c {
		for k1 := range kh {
			q1, r1 := floorDivMod(k1*g.d[1]-g.pb[1], s)
			for k2 := range kw {
				q2, r2 := floorDivMod(k2*g.d[2]-g.pb[2], s)
				off := (ci*s*s+r1*s+r2)*ig.planeLen + (q1-ig.q1min)*ig.phW + q2 - ig.q2min
				ig.offs[(ci*kh+k1)*kw+k2] = off
				ig.maxOff = max(ig.maxOff, off)
			}
		}
	}
	return ig
}

// implicitFor returns the plane layout for g, cached in o: an op sees the
// same input shape run after run.
func (o *convOp) implicitFor(g *nnGeom, c int) *implicitGeom {
	if ic := o.implicit.Load(); ic != nil && ic.geo == *g && ic.c == c {
		return ic.ig
	}
	ig := newImplicitGeom(g, c)
	o.implicit.Store(&implicitCache{geo: *g, c: c, ig: ig})
	return ig
}

// implicitCache is an implicitGeom with the geometry it was made for.
type implicitCache struct {
	geo nnGeom
	c   int
	ig  *implicitGeom
}

// fill writes the s² padded phase planes of one channel plane x.
func (ig *implicitGeom) fill(dst, x []float32, g *nnGeom) {
	s, inH, inW := ig.s, g.in[1], g.in[2]
	for r := range s {
		for c := range s {
			p := dst[(r*s+c)*ig.planeLen : (r*s+c+1)*ig.planeLen]
			// columns j of the grid read input column s·(j+q2min)+c
			jlo := max(0, ceilDiv(-c, s)-ig.q2min)
			jhi := min(ig.phW, (inW-c+s-1)/s-ig.q2min)
			for i := range ig.phH {
				row := p[i*ig.phW : (i+1)*ig.phW]
				iy := s*(i+ig.q1min) + r
				if iy < 0 || iy >= inH || jlo >= jhi {
					clear(row)
					continue
				}
				clear(row[:jlo])
				clear(row[jhi:])
				src := x[iy*inW+s*(jlo+ig.q2min)+c:]
				d := row[jlo:jhi]
				switch {
				case s == 1:
					copy(d, src)
				case nnGatherEven != nil:
					nnGatherEven(d, src[:2*len(d)-1])
				default:
					for i := range d {
						d[i] = src[2*i]
					}
				}
			}
			clear(p[ig.phH*ig.phW:])
		}
	}
}

// ceilDiv is ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int) int {
	q, r := floorDivMod(a, b)
	if r != 0 {
		q++
	}
	return q
}

// convImplicit computes y = conv(x, w) + b (group 1, nb images) from the
// packed weights pk, clamped to act's bounds, then prog on each channel's
// rows of a tile while they are in cache.
func (o *convOp) convImplicit(ctx *Context, ig *implicitGeom, x, pk, b, y []float32, g *nnGeom, nb, c, m int, act nnAct, prog *epiProg) {
	inVol, outH, outW := g.inVol(), g.out[1], g.out[2]
	outVol := outH * outW
	kk := c * g.k[1] * g.k[2]
	lo, hi := act.bounds()
	mp := panelPadM(m)
	sp := o.getSplit(nb * ig.imgLen)
	defer o.splits.Put(sp)
	planes := *sp
	ctx.Parallel(nb*c, 1, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			s2 := ig.s * ig.s
			ig.fill(planes[i*s2*ig.planeLen:(i+1)*s2*ig.planeLen], x[i*inVol:(i+1)*inVol], g)
		}
	})
	// output rows per tile: about 256 KiB of results
	rowsPer := max(1, min(outH, (1<<16)/mp/ig.phW))
	tiles := (outH + rowsPer - 1) / rowsPer
	rowsPer = (outH + tiles - 1) / tiles // tiles of equal size
	one := func(n, t, p0, p1 int) {
		a, e := t*rowsPer, min(outH, (t+1)*rowsPer)
		w := (e - a) * ig.phW
		tp := o.winoRow(panelMR * w)
		defer o.winoRows.Put(tp)
		tmp := *tp
		img := planes[n*ig.imgLen+a*ig.phW : (n+1)*ig.imgLen]
		bv := new([panelMR]float32)
		for p := p0; p < p1; p++ {
			r0, rows := panelRows(p, m, b, bv)
			panelGemmInd(kk, pk[p*panelMR*kk:], ig.offs, ig.maxOff, img, tmp, w, w, bv, lo, hi)
			for r := range rows {
				k := r0 + r
				yk := y[(n*m+k)*outVol : (n*m+k+1)*outVol]
				for o1 := a; o1 < e; o1++ {
					copy(yk[o1*outW:(o1+1)*outW], tmp[r*w+(o1-a)*ig.phW:])
				}
				if prog != nil {
					prog.run(yk[a*outW:e*outW], k, (n*m+k)*outVol+a*outW)
				}
			}
		}
	}
	panels := mp / panelMR
	threads := nnThreads(ctx)
	jobs := nb * tiles
	// Whole tiles per thread when they share out evenly; otherwise the
	// panels of each tile are shared.
	if jobs >= 2*threads || jobs%threads == 0 {
		ctx.Parallel(jobs, 1, func(j0, j1 int) {
			for j := j0; j < j1; j++ {
				one(j/tiles, j%tiles, 0, panels)
			}
		})
		return
	}
	for j := range jobs {
		ctx.Parallel(panels, 1, func(p0, p1 int) { one(j/tiles, j%tiles, p0, p1) })
	}
}
