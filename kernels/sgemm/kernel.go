package sgemm

// microKernel computes one mr×nr tile of C = A·B + beta*C from packed
// micro-panels: a holds kc steps of mr floats, b holds kc steps of nr floats,
// c is row-major with stride ldc. When beta is 0, C is not read. The driver
// only hands it full tiles; edge tiles go through a scratch tile.
type microKernel func(kc int, a, b, c []float32, ldc int, beta float32)

// directKernel is a microKernel that reads A in place: mr rows of a
// row-major matrix with stride lda, kc columns each, instead of a packed
// micro-panel. It saves packing A, which for weights times a thin B (late
// convolution layers, n of 49 or 196) costs as much as the multiply.
type directKernel func(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)

// directBKernel reads B in place too: kc rows of nr floats with stride ldb.
// For the packed-A variant, lda is ignored. With few rows of C to share a
// packed B panel (m of a few dozen: early convolution layers, 1×1
// projections), packing B costs more than it saves.
type directBKernel func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta float32)

// tileArgs is what an epKernel needs besides its operands; the assembly
// reads it by offset (gen_amd64.go).
type tileArgs struct {
	rowBias, colBias *float32 // used only when flags ask for them
	rows             int      // rows of C to write, 1..mr
	flags            int      // tileRowBias | tileColBias | tileClamp
	mask             [2]uint16
	beta             float32
	lo, hi           float32
}

// tileArgs flags: the epilogue steps the kernel runs before its store.
const (
	tileRowBias = 1 << iota
	tileColBias
	tileClamp
)

// epKernel reads B in place (kc rows of cols <= nr floats, stride ldb) and
// A in place or packed, like a directBKernel, but writes only t.rows rows
// and cols columns of C (masked), and runs the epilogue in t on the tile in
// registers. It saves packing a partial last panel of B, the scratch tile
// for edges and a second pass over C for the epilogue.
type epKernel func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, cols int, t *tileArgs)

// dotKernel sets out[i] to the dot product of row i of A (kc values in
// place, stride lda) with x (kc values), for every i < len(out). The
// in-place-B driver computes the last few columns of C with it, one column
// of B at a time, when a vector-wide tile would be mostly empty (n = 49:
// one column past 48).
type dotKernel func(kc int, a []float32, lda int, x []float32, out []float32)

// epColumn runs an epKernel with A in place on rows (a multiple of mr) rows
// of C, one tile after another down a column panel of cols columns. The
// first rows of rowBias, when not nil, are the tiles' row biases; t holds
// the rest of the epilogue.
type epColumn func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, cols, rows int, rowBias []float32, t *tileArgs)

// kernel describes a micro-kernel and its register tile. half, when set,
// is a kernel with the same mr and nr/2 columns for right-hand edge tiles
// that fit in it, which saves computing a half-empty tile.
type kernel struct {
	name   string
	mr     int
	nr     int
	fn     microKernel
	direct directKernel // nil if the kernel has no in-place-A variant
	// In-place-B variants with A in place (directAB) or packed (directB);
	// nil if the kernel has none.
	directAB, directB directBKernel
	// The epKernel variants of directAB and directB; a kernel has either
	// these or the plain ones.
	directABE, directBE epKernel
	dot                 dotKernel // nil if the kernel has none
	// column runs directABE down rows/mr whole tiles of one column panel
	// (A in place), checking the operands once rather than per tile; nil
	// if the kernel has none.
	column epColumn
	half   *kernel
	// sub are kernels with the same nr and fewer rows, used in place of a
	// zero-padded tile when the rows left over at the bottom of C number
	// exactly their mr.
	sub []*kernel
}

// subFor returns the sub-kernel for exactly rows rows, or nil.
func (k *kernel) subFor(rows int) *kernel {
	for _, s := range k.sub {
		if s.mr == rows {
			return s
		}
	}
	return nil
}

// genericKernel is the portable micro-kernel: a 4×8 tile kept in local
// arrays, which the compiler holds in registers well enough to beat the
// plain triple loop by a wide margin.
var genericKernel = &kernel{name: "generic4x8", mr: 4, nr: 8, fn: kernel4x8Go}

func kernel4x8Go(kc int, a, b, c []float32, ldc int, beta float32) {
	var c0, c1, c2, c3 [8]float32
	a = a[:kc*4]
	b = b[:kc*8]
	for p := 0; p < kc; p++ {
		bp := (*[8]float32)(b[p*8:])
		ap := (*[4]float32)(a[p*4:])
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		for j, bv := range bp {
			c0[j] += a0 * bv
			c1[j] += a1 * bv
			c2[j] += a2 * bv
			c3[j] += a3 * bv
		}
	}
	for i, row := range [4]*[8]float32{&c0, &c1, &c2, &c3} {
		ci := (*[8]float32)(c[i*ldc:])
		if beta == 0 {
			*ci = *row
			continue
		}
		for j := range ci {
			ci[j] = row[j] + beta*ci[j]
		}
	}
}
