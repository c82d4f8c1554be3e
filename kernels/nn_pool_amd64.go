//go:build amd64 && !purego

package kernels

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
