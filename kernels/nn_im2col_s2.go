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
