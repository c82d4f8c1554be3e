package kernels

import (
	"math"
	"unsafe"
)

// A packed-panel GEMM for constant left operands (convolution weights):
// the weight is stored once as panels of panelMR rows, each k steps of
// panelMR values, so the kernel streams it in order. The right operand
// (an im2col tile, Winograd's transformed input) is read in place.

// panelMR is the rows of one panel.
const panelMR = 16

// panelPadM is m rounded up to whole panels.
func panelPadM(m int) int { return (m + panelMR - 1) / panelMR * panelMR }

// nnPackPanels packs a (m rows of k, row stride lda) into panels: the
// value of row i, step j is at (i/panelMR)·panelMR·k + j·panelMR + i%panelMR;
// rows past m are zero.
func nnPackPanels(a []float32, m, k, lda int) []float32 {
	p := make([]float32, panelPadM(m)*k)
	for i := range m {
		at := i/panelMR*panelMR*k + i%panelMR
		for j, v := range a[i*lda : i*lda+k] {
			p[at+j*panelMR] = v
		}
	}
	return p
}

// panelGemmFunc sets the panelMR rows of c (row stride ldc) to a·b plus
// bias, clamped to [lo, hi], for one panel a (kc steps) and b (kc rows of
// n, row stride ldb).
type panelGemmFunc func(kc int, a, b []float32, ldb int, c []float32, ldc, n int, bias *[panelMR]float32, lo, hi float32)

// panelGemmGo defines what the vector kernel computes: panelGemmIndGo
// with B's rows ldb apart.
func panelGemmGo(kc int, a, b []float32, ldb int, c []float32, ldc, n int, bias *[panelMR]float32, lo, hi float32) {
	offs := make([]int, kc)
	for k := range offs {
		offs[k] = k * ldb
	}
	panelGemmIndGo(kc, a, offs, max(kc-1, 0)*ldb, b, c, ldc, n, bias, lo, hi)
}

// panelGemmIndFunc is panelGemmFunc with B's row k at b[offs[k]:], where
// 0 <= offs[k] <= maxOff for every k < kc and b holds maxOff+n values.
type panelGemmIndFunc func(kc int, a []float32, offs []int, maxOff int, b []float32, c []float32, ldc, n int, bias *[panelMR]float32, lo, hi float32)

// panelGemmIndGo defines what the vector indirect kernel computes.
func panelGemmIndGo(kc int, a []float32, offs []int, maxOff int, b []float32, c []float32, ldc, n int, bias *[panelMR]float32, lo, hi float32) {
	if kc > 0 && n > 0 {
		_ = b[maxOff+n-1]
	}
	for r := range panelMR {
		row := c[r*ldc : r*ldc+n]
		for j := range row {
			row[j] = bias[r]
		}
		for k := range kc {
			nnAxpy(row, b[offs[k]:offs[k]+n], a[k*panelMR+r])
		}
		for j, v := range row {
			row[j] = min(max(v, lo), hi)
		}
	}
}

// noBias and the infinite bounds turn the epilogue off.
var (
	noBias           [panelMR]float32
	panelLo, panelHi = float32(math.Inf(-1)), float32(math.Inf(1))
)

// packedWeights is a convolution weight packed per group for panelGemm,
// with the identity of the data it came from (see winoWeights).
type packedWeights struct {
	src  *float32
	n    int
	mg   int // rows per group
	kk   int
	data []float32 // group g at g·panelPadM(mg)·kk
}

// panelUsable reports whether a group's GEMM (mg output channels) goes
// through packed panels: wide enough that padding rows to a whole panel
// wastes at most an eighth.
func panelUsable(mg int) bool {
	return panelGemm != nil && mg >= panelMR && panelPadM(mg)*8 <= mg*9
}

// packedFor returns w ([group·mg][kk]) packed, cached in o.
func (o *convOp) packedFor(w []float32, group, mg, kk int) []float32 {
	if p := o.packed.Load(); p != nil && p.src == unsafe.SliceData(w) && p.n == len(w) && p.mg == mg && p.kk == kk {
		return p.data
	}
	pm := panelPadM(mg)
	data := make([]float32, group*pm*kk)
	for g := range group {
		copy(data[g*pm*kk:], nnPackPanels(w[g*mg*kk:], mg, kk, kk))
	}
	o.packed.Store(&packedWeights{src: unsafe.SliceData(w), n: len(w), mg: mg, kk: kk, data: data})
	return data
}

// panelRows is panel p's first row and its number of rows (fewer than
// panelMR past m), and sets bv to their bias (zero past m, or for none).
// bv is the caller's, reused across panels: passed to a kernel through a
// function value, a fresh one would be allocated every call.
func panelRows(p, m int, bias []float32, bv *[panelMR]float32) (r0, rows int) {
	r0 = p * panelMR
	rows = min(panelMR, m-r0)
	*bv = [panelMR]float32{}
	if bias != nil {
		copy(bv[:], bias[r0:r0+rows])
	}
	return r0, rows
}

// panelConv sets y (mg rows of w outputs, row stride ldy) to the packed
// weights pk times b (kk rows of w, row stride ldb) plus bias (nil for
// none), clamped to act's bounds. A last panel with rows past mg goes
// through scratch.
func (o *convOp) panelConv(ctx *Context, pk, b []float32, ldb int, y []float32, ldy, mg, kk, w int, bias []float32, act nnAct, threads int) {
	lo, hi := act.bounds()
	panels := panelPadM(mg) / panelMR
	run := func(p0, p1 int) {
		bv := new([panelMR]float32)
		for p := p0; p < p1; p++ {
			r0, rows := panelRows(p, mg, bias, bv)
			a := pk[p*panelMR*kk:]
			if rows == panelMR {
				panelGemm(kk, a, b, ldb, y[r0*ldy:], ldy, w, bv, lo, hi)
				continue
			}
			tp := o.winoRow(panelMR * w)
			panelGemm(kk, a, b, ldb, *tp, w, w, bv, lo, hi)
			for r := range rows {
				copy(y[(r0+r)*ldy:(r0+r)*ldy+w], (*tp)[r*w:(r+1)*w])
			}
			o.winoRows.Put(tp)
		}
	}
	if threads > 1 {
		ctx.Parallel(panels, 1, run)
	} else {
		run(0, panels)
	}
}
