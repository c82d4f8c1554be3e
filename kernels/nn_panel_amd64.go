//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func panelGemm16AVX512(kc int, a, b *float32, ldb int, c *float32, ldc, n int, bias *float32, lo, hi float32)

// panelGemm is the vector panel kernel, or nil where there is none.
var panelGemm = func() panelGemmFunc {
	if !cpu.X86.HasAVX512F {
		return nil
	}
	return func(kc int, a, b []float32, ldb int, c []float32, ldc, n int, bias *[panelMR]float32, lo, hi float32) {
		if n <= 0 {
			return
		}
		if kc == 0 {
			panelGemmGo(kc, a, b, ldb, c, ldc, n, bias, lo, hi)
			return
		}
		_ = a[kc*panelMR-1]
		_ = b[(kc-1)*ldb+n-1]
		_ = c[(panelMR-1)*ldc+n-1]
		panelGemm16AVX512(kc, &a[0], &b[0], ldb, &c[0], ldc, n, &bias[0], lo, hi)
	}
}()

//go:noescape
func panelGemm16IndAVX512(kc int, a *float32, offs *int, b *float32, c *float32, ldc, n int, bias *float32, lo, hi float32)

// panelGemmInd is the vector indirect panel kernel, or nil.
var panelGemmInd = func() panelGemmIndFunc {
	if panelGemm == nil {
		return nil
	}
	return func(kc int, a []float32, offs []int, maxOff int, b []float32, c []float32, ldc, n int, bias *[panelMR]float32, lo, hi float32) {
		if n <= 0 {
			return
		}
		if kc == 0 {
			panelGemmIndGo(kc, a, offs, maxOff, b, c, ldc, n, bias, lo, hi)
			return
		}
		_ = a[kc*panelMR-1]
		_ = offs[kc-1]
		_ = c[(panelMR-1)*ldc+n-1]
		_ = b[maxOff+n-1] // the caller vouches that no offset exceeds maxOff
		panelGemm16IndAVX512(kc, &a[0], &offs[0], &b[0], &c[0], ldc, n, &bias[0], lo, hi)
	}
}()
