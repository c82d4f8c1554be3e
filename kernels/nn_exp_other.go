//go:build !amd64 || purego

package kernels

// vecExp32 sets d[i] = nnExp32(s[i]).
func vecExp32(d, s []float32) {
	s = s[:len(d)]
	for i, v := range s {
		d[i] = nnExp32(v)
	}
}
