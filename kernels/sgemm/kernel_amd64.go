//go:build !purego

package sgemm

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

//go:noescape
func kernel12x32AVX512(kc int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel12x16AVX512(kc int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel6x8AVX2(kc int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel12x32AVX512Direct(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel12x16AVX512Direct(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel6x16AVX2Direct(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel6x8AVX2Direct(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32)

// asm adapts an assembly kernel to microKernel. The bounds checks here are
// the only ones: the kernel itself reads exactly kc*mr, kc*nr and the tile.
func asm(f func(kc int, a, b, c *float32, ldc int, beta float32), mr, nr int) microKernel {
	return func(kc int, a, b, c []float32, ldc int, beta float32) {
		if kc == 0 {
			panic("sgemm: micro-kernel called with kc=0")
		}
		_ = a[kc*mr-1]
		_ = b[kc*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], &b[0], &c[0], ldc, beta)
	}
}

//go:noescape
func kernel6x16AVX2DirectAB(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta float32)

//go:noescape
func kernel6x16AVX2DirectB(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta float32)

//go:noescape
func kernel8x32AVX512(kc int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel8x32AVX512Direct(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel4x32AVX512(kc int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel4x32AVX512Direct(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32)

//go:noescape
func kernel12x32AVX512DirectABE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel12x32AVX512DirectBE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel12x16AVX512DirectABE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel12x16AVX512DirectBE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel8x32AVX512DirectABE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel8x32AVX512DirectBE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel8x16AVX512DirectABE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel8x16AVX512DirectBE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel4x32AVX512DirectABE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel4x32AVX512DirectBE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel4x16AVX512DirectABE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

//go:noescape
func kernel4x16AVX512DirectBE(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs)

// asmEp adapts an AVX-512 in-place-B kernel with column masks and the
// epilogue; directA says whether it reads A in place (else A is a packed
// micro-panel). It reads cols columns of B and writes t.rows rows and cols
// columns of C.
func asmEp(f func(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs), mr, nr int, directA bool) epKernel {
	return func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, cols int, t *tileArgs) {
		if kc == 0 || cols <= 0 || cols > nr || t.rows <= 0 || t.rows > mr {
			panic(fmt.Sprintf("sgemm: %dx%d kernel called with kc=%d, %d rows, %d columns", mr, nr, kc, t.rows, cols))
		}
		if directA {
			_ = a[(mr-1)*lda+kc-1]
		} else {
			_ = a[kc*mr-1]
		}
		_ = b[(kc-1)*ldb+cols-1]
		_ = c[(t.rows-1)*ldc+cols-1]
		mask := uint32(1)<<cols - 1
		t.mask = [2]uint16{uint16(mask), uint16(mask >> 16)}
		f(kc, &a[0], lda, &b[0], ldb, &c[0], ldc, t)
	}
}

//go:noescape
func dotRowsAVX512(kc int, a *float32, lda int, x *float32, rows int, out *float32)

// dotRows is dotKernel in assembly.
func dotRows(kc int, a []float32, lda int, x []float32, out []float32) {
	rows := len(out)
	if kc <= 0 || rows == 0 {
		panic("sgemm: dot kernel called with nothing to do")
	}
	_ = a[(rows-1)*lda+kc-1]
	_ = x[kc-1]
	dotRowsAVX512(kc, &a[0], lda, &x[0], rows, &out[0])
}

// asmColumn adapts an AVX-512 in-place-A-and-B kernel with column masks
// and the epilogue to epColumn.
func asmColumn(f func(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, t *tileArgs), mr, nr int) epColumn {
	return func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, cols, rows int, rowBias []float32, t *tileArgs) {
		if kc == 0 || cols <= 0 || cols > nr || rows <= 0 || rows%mr != 0 {
			panic(fmt.Sprintf("sgemm: %dx%d kernel called with kc=%d, %d rows, %d columns", mr, nr, kc, rows, cols))
		}
		_ = a[(rows-1)*lda+kc-1]
		_ = b[(kc-1)*ldb+cols-1]
		_ = c[(rows-1)*ldc+cols-1]
		if rowBias != nil {
			_ = rowBias[rows-1]
		}
		mask := uint32(1)<<cols - 1
		t.mask = [2]uint16{uint16(mask), uint16(mask >> 16)}
		t.rows = mr
		for ir := 0; ir < rows; ir += mr {
			if rowBias != nil {
				t.rowBias = &rowBias[ir]
			}
			f(kc, &a[ir*lda], lda, &b[0], ldb, &c[ir*ldc], ldc, t)
		}
	}
}

// asmDirectB adapts an in-place-B assembly kernel; directA says whether it
// reads A in place (else A is a packed micro-panel).
func asmDirectB(f func(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta float32), mr, nr int, directA bool) directBKernel {
	return func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta float32) {
		if kc == 0 {
			panic("sgemm: micro-kernel called with kc=0")
		}
		if directA {
			_ = a[(mr-1)*lda+kc-1]
		} else {
			_ = a[kc*mr-1]
		}
		_ = b[(kc-1)*ldb+nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], lda, &b[0], ldb, &c[0], ldc, beta)
	}
}

// asmDirect adapts an in-place-A assembly kernel to directKernel.
func asmDirect(f func(kc int, a *float32, lda int, b, c *float32, ldc int, beta float32), mr, nr int) directKernel {
	return func(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32) {
		if kc == 0 {
			panic("sgemm: micro-kernel called with kc=0")
		}
		_ = a[(mr-1)*lda+kc-1]
		_ = b[kc*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], lda, &b[0], &c[0], ldc, beta)
	}
}

var (
	avx512Kernel = &kernel{name: "avx512-12x32", mr: 12, nr: 32, dot: dotRows,
		fn: asm(kernel12x32AVX512, 12, 32), direct: asmDirect(kernel12x32AVX512Direct, 12, 32),
		directABE: asmEp(kernel12x32AVX512DirectABE, 12, 32, true),
		directBE:  asmEp(kernel12x32AVX512DirectBE, 12, 32, false),
		column:    asmColumn(kernel12x32AVX512DirectABE, 12, 32),
		half: &kernel{name: "avx512-12x16", mr: 12, nr: 16,
			fn: asm(kernel12x16AVX512, 12, 16), direct: asmDirect(kernel12x16AVX512Direct, 12, 16),
			directABE: asmEp(kernel12x16AVX512DirectABE, 12, 16, true),
			directBE:  asmEp(kernel12x16AVX512DirectBE, 12, 16, false),
			column:    asmColumn(kernel12x16AVX512DirectABE, 12, 16)},
		sub: []*kernel{
			{name: "avx512-8x32", mr: 8, nr: 32,
				fn: asm(kernel8x32AVX512, 8, 32), direct: asmDirect(kernel8x32AVX512Direct, 8, 32),
				directABE: asmEp(kernel8x32AVX512DirectABE, 8, 32, true),
				directBE:  asmEp(kernel8x32AVX512DirectBE, 8, 32, false),
				half: &kernel{name: "avx512-8x16", mr: 8, nr: 16,
					directABE: asmEp(kernel8x16AVX512DirectABE, 8, 16, true),
					directBE:  asmEp(kernel8x16AVX512DirectBE, 8, 16, false)}},
			{name: "avx512-4x32", mr: 4, nr: 32,
				fn: asm(kernel4x32AVX512, 4, 32), direct: asmDirect(kernel4x32AVX512Direct, 4, 32),
				directABE: asmEp(kernel4x32AVX512DirectABE, 4, 32, true),
				directBE:  asmEp(kernel4x32AVX512DirectBE, 4, 32, false),
				half: &kernel{name: "avx512-4x16", mr: 4, nr: 16,
					directABE: asmEp(kernel4x16AVX512DirectABE, 4, 16, true),
					directBE:  asmEp(kernel4x16AVX512DirectBE, 4, 16, false)}},
		}}
	avx2Kernel = &kernel{name: "avx2-6x16", mr: 6, nr: 16,
		fn: asm(kernel6x16AVX2, 6, 16), direct: asmDirect(kernel6x16AVX2Direct, 6, 16),
		directAB: asmDirectB(kernel6x16AVX2DirectAB, 6, 16, true),
		directB:  asmDirectB(kernel6x16AVX2DirectB, 6, 16, false),
		half: &kernel{name: "avx2-6x8", mr: 6, nr: 8,
			fn: asm(kernel6x8AVX2, 6, 8), direct: asmDirect(kernel6x8AVX2Direct, 6, 8)}}
)

// kernels lists the micro-kernels this CPU can run, fastest first.
func kernels() []*kernel {
	var ks []*kernel
	// The OS must also save the upper ZMM state; x/sys/cpu folds that
	// check into HasAVX512F and HasAVX2.
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}
