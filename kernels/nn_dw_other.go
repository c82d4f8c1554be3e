//go:build !amd64 || purego

package kernels

// nnDwRow3s1 has no vector version on this architecture or build.
var nnDwRow3s1 func(dst, r0, r1, r2 []float32, w *[9]float32, bias float32) int

// nnAxpy adds a·src to dst (same length).
func nnAxpy(dst, src []float32, a float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += a * v
	}
}

// nnDwRow3s2 has no vector version on this architecture or build.
var nnDwRow3s2 func(dst []float32, e, o [3][]float32, w *[9]float32, bias float32) int

// nnDeinterleave sets ev[i] = src[2i] and od[i] = src[2i+1] for
// i < len(ev) (len(od) == len(ev), len(src) >= 2·len(ev)).
func nnDeinterleave(ev, od, src []float32) {
	od, src = od[:len(ev)], src[:2*len(ev)]
	for i := range ev {
		ev[i], od[i] = src[2*i], src[2*i+1]
	}
}

// The whole-plane kernels have no portable version.
var (
	nnDwPlaneS1  func(dst []float32, outH, outW int, src []float32, pw int, w []float32, kh, kw int, bias, lo, hi float32)
	nnGatherEven func(d, src []float32)
	nnDw3Direct  func(outH, outW, inH, inW, stride, pt, pl int) func(dst, src, w, bias []float32, lo, hi float32)
)
