//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func exp32AVX512(d, s *float32, n int)

var nnHasAVX512 = cpu.X86.HasAVX512F

// vecExp32 sets d[i] = nnExp32(s[i]), sixteen at a time where the CPU can.
func vecExp32(d, s []float32) {
	s = s[:len(d)]
	i := 0
	if nnHasAVX512 && len(d) >= 16 {
		i = len(d) &^ 15
		exp32AVX512(&d[0], &s[0], i)
	}
	for ; i < len(d); i++ {
		d[i] = nnExp32(s[i])
	}
}
