//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// Whole-plane 3x3 depthwise kernels (nn_dwplane_amd64.s). One call per
// channel instead of one per row: MobileNet's late planes are 14 or 7
// wide, where the per-row call and the scalar tail cost more than the
// arithmetic.

//go:noescape
func dwPlane3s1AVX512(dst *float32, outH, outW int, src *float32, pw int, w *float32, bias, lo, hi float32)

//go:noescape
func dwPlane3s2AVX512(dst *float32, outH, outW int, even, odd *float32, hw int, w *float32, bias, lo, hi float32)

// nnDwPlane3s1 computes dst (outH×outW) from the zero-padded plane src
// (row stride pw, at least outH+2 rows of outW+2), clamped to [lo, hi], or
// is nil.
var nnDwPlane3s1 = func() func(dst []float32, outH, outW int, src []float32, pw int, w *[9]float32, bias, lo, hi float32) {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return func(dst []float32, outH, outW int, src []float32, pw int, w *[9]float32, bias, lo, hi float32) {
		if outH == 0 || outW == 0 {
			return
		}
		_ = dst[outH*outW-1]
		_ = src[(outH+1)*pw+outW+1]
		dwPlane3s1AVX512(&dst[0], outH, outW, &src[0], pw, &w[0], bias, lo, hi)
	}
}()

// nnDwPlane3s2 computes dst (outH×outW) from the even and odd columns of
// the zero-padded plane (row stride hw, at least 2·outH+1 rows; even rows
// hold outW+1 values, odd rows outW), or is nil.
var nnDwPlane3s2 = func() func(dst []float32, outH, outW int, even, odd []float32, hw int, w *[9]float32, bias, lo, hi float32) {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return func(dst []float32, outH, outW int, even, odd []float32, hw int, w *[9]float32, bias, lo, hi float32) {
		if outH == 0 || outW == 0 {
			return
		}
		_ = dst[outH*outW-1]
		_ = even[2*outH*hw+outW]
		_ = odd[2*outH*hw+outW-1]
		dwPlane3s2AVX512(&dst[0], outH, outW, &even[0], &odd[0], hw, &w[0], bias, lo, hi)
	}
}()

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
