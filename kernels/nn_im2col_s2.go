package kernels

// Stride-2 im2col. A tap of a convolution with stride 2 along rows reads
// every other input column: gathering that strided run for every (tap,
// output row) pair reads each input row k1·k2 times over through a
// de-interleave (ResNet's 7×7 stem: 147 taps × 112 rows of 112). Splitting
// each input row into its even and odd columns once per convolution makes
// every such run contiguous in one half, so im2col becomes plain copies.

// nnSplitCols writes, for each of the rows of width w in x, its even
// columns then its odd ones into dst, at row stride 2·((w+1)/2).
func nnSplitCols(dst, x []float32, rows, w int) {
	half := (w + 1) / 2
	for r := range rows {
		src := x[r*w : (r+1)*w]
		d := dst[r*2*half : (r+1)*2*half]
		nnDeinterleave(d[:w/2], d[half:half+w/2], src)
		if w%2 == 1 {
			d[w/2] = src[w-1]
		}
	}
}

// nnIm2colS2 is nnIm2colRows for 2-D convolutions (in[0] == 1) with stride
// 2 along rows, reading split, the channels' rows as nnSplitCols leaves
// them, instead of x.
func nnIm2colS2(split, col []float32, g *nnGeom, r0, r1, p0, p1 int) {
	kVol := g.kVol()
	in1, in2, out2 := g.in[1], g.in[2], g.out[2]
	half := (in2 + 1) / 2
	plane := in1 * 2 * half
	w := p1 - p0
	for r := r0; r < r1; r++ {
		ci, kk := r/kVol, r%kVol
		k1, k2 := kk/g.k[2], kk%g.k[2]
		dst := col[r*w : (r+1)*w]
		xc := split[ci*plane : (ci+1)*plane]
		off2 := k2*g.d[2] - g.pb[2]
		lo2, hi2 := nnValidRange(off2, 2, in2, out2)
		// x[i1][2·o2+off2] is at o2+q in the even (par 0) or odd half
		q, par := off2>>1, off2&1
		o2, o1 := p0%out2, p0/out2
		for p := p0; p < p1; {
			e2 := min(out2, o2+p1-p)
			d := dst[p-p0 : p-p0+e2-o2]
			p += e2 - o2
			i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
			a, b := max(lo2, o2), min(hi2, e2)
			s := o2
			o2, o1 = 0, o1+1
			if i1 < 0 || i1 >= in1 || a >= b {
				clear(d)
				continue
			}
			clear(d[:a-s])
			run := xc[i1*2*half+par*half:]
			copy(d[a-s:b-s], run[a+q:b+q])
			clear(d[b-s:])
		}
	}
}

// Stride 2 along both axes with outW = ⌈inW/2⌉ (ResNet's stem, its
// downsampling 3×3 and 1×1 layers: "same" padding) goes one step further:
// the input is split into its four polyphase planes, x[2i+r][2j+s] at
// phase (r, s), each ⌈inH/2⌉ × ⌈inW/2⌉. A tap then reads, for a whole run
// of output positions, one phase plane shifted by a constant: one copy per
// tap and tile, as nnIm2colShift does for stride 1, and only the positions
// that read padding are cleared afterwards.

// nnPolyphaseOK reports whether the geometry takes that path.
func nnPolyphaseOK(g *nnGeom) bool {
	return g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.s[1] == 2 && g.s[2] == 2 && g.out[2] == (g.in[2]+1)/2
}

// nnPolyphaseLen is the length of one channel's four phase planes.
func nnPolyphaseLen(g *nnGeom) int { return 4 * ((g.in[1] + 1) / 2) * ((g.in[2] + 1) / 2) }

// nnPolyphase writes the four phase planes of one channel plane x (h×w)
// to dst (nnPolyphaseLen): phase (r, s) at (2r+s)·ph·pw, its slots past the
// plane's edge zero.
func nnPolyphase(dst, x []float32, h, w int) {
	ph, pw := (h+1)/2, (w+1)/2
	for i := range h {
		r := i & 1
		src := x[i*w : (i+1)*w]
		ev := dst[(2*r*ph+i/2)*pw : (2*r*ph+i/2+1)*pw]
		od := dst[((2*r+1)*ph+i/2)*pw : ((2*r+1)*ph+i/2+1)*pw]
		nnDeinterleave(ev[:w/2], od[:w/2], src)
		if w%2 == 1 {
			ev[w/2], od[w/2] = src[w-1], 0
		}
	}
	if h%2 == 1 {
		clear(dst[(2*ph+ph-1)*pw : (2*ph+ph)*pw]) // phases (1, 0) and (1, 1):
		clear(dst[(3*ph+ph-1)*pw : (3*ph+ph)*pw]) // their last rows
	}
}

// nnIm2colPoly is nnIm2colRows for nnPolyphaseOK geometries, reading the
// channels' phase planes (poly) instead of x.
func nnIm2colPoly(poly, col []float32, g *nnGeom, r0, r1, p0, p1 int) {
	kVol := g.kVol()
	inH, inW, outH, outW := g.in[1], g.in[2], g.out[1], g.out[2]
	ph, pw := (inH+1)/2, (inW+1)/2
	plane := ph * pw
	w := p1 - p0
	for r := r0; r < r1; r++ {
		ci, kk := r/kVol, r%kVol
		k1, k2 := kk/g.k[2], kk%g.k[2]
		off1, off2 := k1*g.d[1]-g.pb[1], k2*g.d[2]-g.pb[2]
		lo1, hi1 := nnValidRange(off1, 2, inH, outH)
		lo2, hi2 := nnValidRange(off2, 2, inW, outW)
		dst := col[r*w : (r+1)*w]
		src := poly[(ci*4+2*(off1&1)+off2&1)*plane : (ci*4+2*(off1&1)+off2&1+1)*plane]
		// output p reads src[p + shift] (outW == pw)
		shift := (off1>>1)*pw + off2>>1
		a, b := max(p0, -shift), min(p1, plane-shift)
		if a >= b || lo1 >= hi1 || lo2 >= hi2 {
			clear(dst)
			continue
		}
		clear(dst[:a-p0])
		copy(dst[a-p0:b-p0], src[a+shift:b+shift])
		clear(dst[b-p0:])
		// positions that read padding got a neighbour's value
		for o1 := p0 / outW; o1*outW < p1; o1++ {
			s, e := max(o1*outW, p0), min((o1+1)*outW, p1)
			row := dst[s-p0 : e-p0]
			if o1 < lo1 || o1 >= hi1 {
				clear(row)
				continue
			}
			if c := o1*outW + lo2; c > s {
				clear(row[:min(c, e)-s])
			}
			if c := o1*outW + hi2; c < e {
				clear(row[max(c, s)-s:])
			}
		}
	}
}
