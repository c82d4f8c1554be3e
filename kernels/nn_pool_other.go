//go:build !amd64 || purego

package kernels

// nnMax sets d[i] = max(d[i], s[i]).
func nnMax(d, s []float32) {
	s = s[:len(d)]
	for i, v := range s {
		d[i] = max(d[i], v)
	}
}
