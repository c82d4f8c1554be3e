//go:build purego || !amd64

package sgemm

// kernels lists the micro-kernels available to this build.
func kernels() []*kernel { return []*kernel{genericKernel} }
