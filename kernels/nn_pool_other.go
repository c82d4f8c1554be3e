//go:build !amd64 || purego

package kernels

// nnMax sets d[i] = max(d[i], s[i]).
func nnMax(d, s []float32) {
	s = s[:len(d)]
	for i, v := range s {
		d[i] = max(d[i], v)
	}
}

// nnMaxH3s2 has no portable vector version.
var nnMaxH3s2 func(dst, src []float32, o0 int) int
