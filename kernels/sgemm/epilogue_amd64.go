//go:build !purego

package sgemm

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:noescape
func epilogueAVX512(c *float32, ldc, rows, cols int, rowBias, colBias *float32, lo, hi float32)

// fastEpilogue runs the epilogue with AVX-512 when the CPU has it and
// reports whether it did. Bounds are checked here, not in the assembly.
func fastEpilogue(ep *Epilogue, c []float32, ldc, row0, col0, rows, cols int) bool {
	if !cpu.X86.HasAVX512F || rows == 0 || cols == 0 {
		return false
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	switch ep.Act {
	case Relu:
		lo = 0
	case Clip:
		lo, hi = ep.Min, ep.Max
	}
	_ = c[(rows-1)*ldc+cols-1]
	var rb, cb *float32
	if ep.RowBias != nil {
		_ = ep.RowBias[row0+rows-1]
		rb = &ep.RowBias[row0]
	}
	if ep.ColBias != nil {
		_ = ep.ColBias[col0+cols-1]
		cb = &ep.ColBias[col0]
	}
	epilogueAVX512(&c[0], ldc, rows, cols, rb, cb, lo, hi)
	return true
}
