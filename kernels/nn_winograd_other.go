//go:build !amd64 || purego

package kernels

// winoFast is nil: without vector transforms the Winograd convolution is
// slower than im2col, so convolutions stay there.
var winoFast, winoFast4 *winoFuncs
