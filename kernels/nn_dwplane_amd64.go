//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// Whole-plane depthwise kernels (nn_dwplane_amd64.s). One call per
// channel instead of one per row: MobileNet's late planes are 14 or 7
// wide, where the per-row call and the scalar tail cost more than the
// arithmetic.

//go:noescape
func dwPlaneS1AVX512(dst *float32, outH, outW int, src *float32, pw int, w *float32, kh, kw int, bias, lo, hi float32)

// nnDwPlaneS1 computes dst (outH×outW) for a kh×kw stride-1 undilated
// kernel from the zero-padded plane src (row stride pw, at least
// outH+kh-1 rows of outW+kw-1), or is nil.
var nnDwPlaneS1 = func() func(dst []float32, outH, outW int, src []float32, pw int, w []float32, kh, kw int, bias, lo, hi float32) {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return func(dst []float32, outH, outW int, src []float32, pw int, w []float32, kh, kw int, bias, lo, hi float32) {
		if outH == 0 || outW == 0 || kh == 0 || kw == 0 {
			return
		}
		_ = dst[outH*outW-1]
		_ = src[(outH+kh-2)*pw+outW+kw-2]
		_ = w[kh*kw-1]
		dwPlaneS1AVX512(&dst[0], outH, outW, &src[0], pw, &w[0], kh, kw, bias, lo, hi)
	}
}()

// dw3Args describes a 3x3 depthwise plane for the direct kernels; the
// assembly reads its fields by offset (nn_dwplane_amd64.s).
type dw3Args struct {
	outH, outW, inH, inW int
	pt                   int     // rows of padding above the plane
	colOff               int     // bytes added to each row pointer: 4·(1-pl)
	nv                   int     // vectors per output row
	masks                *uint16 // 4 per output vector, see the kernels
	zero                 *float32
	// Stride 1: the leading vectors of a row whose next vector lies inside
	// it, which load it unmasked.
	nfull int
}

// dw3Flat describes a stride-1 3x3 depthwise plane whose rows keep their
// width for dw3s1FlatAVX512, which reads its fields by offset.
type dw3Flat struct {
	nv    int     // vectors over the whole output plane
	off   [3]int  // bytes from an output's flat index to kernel row r's first tap
	masks *uint16 // 10 per vector: taps 3r+kw, then the store
	in    int     // bytes of an input plane
	out   int     // bytes of an output plane
}

//go:noescape
func dw3s1FlatAVX512(dst, src *float32, args *dw3Flat, w, bias *float32, nch int, lo, hi float32)

//go:noescape
func dw3s1DirectAVX512(dst, src *float32, args *dw3Args, w, bias *float32, nch int, lo, hi float32)

//go:noescape
func dw3s2DirectAVX512(dst, src *float32, args *dw3Args, w, bias *float32, nch int, lo, hi float32)

// nnDw3Direct is a 3x3 depthwise convolution at stride 1 or 2, undilated,
// with padding pt rows above and pl columns left, that reads the unpadded
// input plane, or nil when the CPU or build has none. It returns nil too
// for geometries it does not handle.
//
// The returned function computes len(bias) consecutive channels: their
// planes in dst (outH×outW each) from their planes in src (inH×inW each),
// nine weights each in w, clamped to [lo, hi]. It may be called
// concurrently.
var nnDw3Direct = func() func(outH, outW, inH, inW, stride, pt, pl int) func(dst, src, w, bias []float32, lo, hi float32) {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return newDw3Direct
}()

func newDw3Direct(outH, outW, inH, inW, stride, pt, pl int) func(dst, src, w, bias []float32, lo, hi float32) {
	if outH <= 0 || outW <= 0 || inH <= 0 || inW <= 0 || (stride != 1 && stride != 2) {
		return nil
	}
	if pt < 0 || pl < 0 {
		return nil
	}
	if stride == 1 && inW == outW && outW <= dw3FlatMaxW {
		return newDw3Flat(outH, outW, inH, pt, pl)
	}
	nv := (outW + 15) / 16
	// one vector more for the stride-1 kernel's look-ahead
	masks := make([]uint16, 4*(nv+1))
	in := func(c int) bool { return c >= 0 && c < inW }
	for j := range nv + 1 {
		ow0 := 16 * j
		m := masks[4*j : 4*j+4]
		for l := range 16 {
			bit := uint16(1) << l
			if ow0+l < outW {
				m[3] |= bit
			}
			if stride == 1 {
				// the centre tap's column, and the one before the first
				c := ow0 + 1 - pl
				if in(c + l) {
					m[0] |= bit
				}
				if j == 0 && l == 15 && in(c-1) {
					m[1] |= bit
				}
				continue
			}
			base := 2*ow0 + 1 - pl
			if in(base + l) {
				m[0] |= bit
			}
			if in(base + 16 + l) {
				m[1] |= bit
			}
			if j == 0 && l == 15 && in(base-1) {
				m[2] |= bit
			}
		}
	}
	args := &dw3Args{outH: outH, outW: outW, inH: inH, inW: inW, pt: pt, nv: nv, masks: &masks[0], zero: &make([]float32, inW)[0]}
	kern := dw3s1DirectAVX512
	args.colOff = 4 * (1 - pl)
	for args.nfull < nv && 16*(args.nfull+1)+1-pl >= 0 && 16*(args.nfull+2)+1-pl <= inW {
		args.nfull++
	}
	if stride == 2 {
		kern = dw3s2DirectAVX512
		args.colOff = 4 * (1 - pl)
	}
	return func(dst, src, w, bias []float32, lo, hi float32) {
		nch := len(bias)
		if nch == 0 {
			return
		}
		_ = dst[nch*outH*outW-1]
		_ = src[nch*inH*inW-1]
		_ = w[nch*9-1]
		kern(&dst[0], &src[0], args, &w[0], &bias[0], nch, lo, hi)
	}
}

// dw3FlatMaxW is the widest plane that dw3s1FlatAVX512 computes; wider
// rows waste little of their last vector and need no per-tap masks.
const dw3FlatMaxW = 8

func newDw3Flat(outH, w, inH, pt, pl int) func(dst, src, wt, bias []float32, lo, hi float32) {
	total := outH * w
	nv := (total + 15) / 16
	masks := make([]uint16, 10*nv)
	for o := range nv * 16 {
		j, bit := o/16, uint16(1)<<(o%16)
		if o >= total {
			continue
		}
		m := masks[10*j : 10*j+10]
		m[9] |= bit
		oh, ow := o/w, o%w
		for r := range 3 {
			ih := oh - pt + r
			for kw := range 3 {
				if iw := ow - pl + kw; ih >= 0 && ih < inH && iw >= 0 && iw < w {
					m[3*r+kw] |= bit
				}
			}
		}
	}
	args := &dw3Flat{nv: nv, masks: &masks[0], in: 4 * inH * w, out: 4 * total}
	for r := range 3 {
		args.off[r] = 4 * ((r-pt)*w - pl)
	}
	return func(dst, src, wt, bias []float32, lo, hi float32) {
		nch := len(bias)
		if nch == 0 {
			return
		}
		_ = dst[nch*total-1]
		_ = src[nch*inH*w-1]
		_ = wt[nch*9-1]
		dw3s1FlatAVX512(&dst[0], &src[0], args, &wt[0], &bias[0], nch, lo, hi)
	}
}

//go:noescape
func gatherEvenAVX512(d, src *float32, n int)

// nnGatherEven sets d[i] = src[2i] (len(src) >= 2·len(d)-1) in one pass,
// or is nil.
var nnGatherEven = func() func(d, src []float32) {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return func(d, src []float32) {
		if len(d) == 0 {
			return
		}
		_ = src[2*len(d)-2]
		gatherEvenAVX512(&d[0], &src[0], len(d))
	}
}()
