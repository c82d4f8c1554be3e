//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func maxAVX2(d, s *float32, n int)

// nnMax sets d[i] = max(d[i], s[i]) with Go's max, eight at a time where
// the CPU can.
func nnMax(d, s []float32) {
	s = s[:len(d)]
	i := 0
	if nnHasAVX2 && len(d) >= 8 {
		i = len(d) &^ 7
		maxAVX2(&d[0], &s[0], i)
	}
	for ; i < len(d); i++ {
		d[i] = max(d[i], s[i])
	}
}

//go:noescape
func maxH3s2AVX512(dst, src *float32, n int)

// nnMaxH3s2 sets dst[o] = max(src[2o-1], src[2o], src[2o+1]) for o from o0
// (at least 1) up to where the row or its three taps end, and returns
// that end; a run not a multiple of 16 ends with a vector overlapping the
// one before. It is nil without AVX-512.
var nnMaxH3s2 = func() func(dst, src []float32, o0 int) int {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return func(dst, src []float32, o0 int) int {
		// the kernel reads src[2o-1] through src[2(o+n)] from o
		end := min(len(dst), (len(src)-1)/2)
		n := end - o0
		if o0 < 1 || n < 16 {
			return o0
		}
		maxH3s2AVX512(&dst[o0], &src[2*o0], n&^15)
		if n%16 != 0 {
			maxH3s2AVX512(&dst[end-16], &src[2*(end-16)], 16)
		}
		return end
	}
}()
