//go:build !amd64 || purego

package kernels

// panelGemm has no vector version on this architecture or build.
var panelGemm panelGemmFunc

// panelGemmInd has no vector version on this architecture or build.
var panelGemmInd panelGemmIndFunc
