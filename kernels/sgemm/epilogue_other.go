//go:build purego || !amd64

package sgemm

// fastEpilogue reports that there is no vectorised epilogue in this build.
func fastEpilogue(ep *Epilogue, c []float32, ldc, row0, col0, rows, cols int) bool { return false }
