package kernels

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("Conv", 1, buildConv)
}

// nnActKind is an activation that a graph pass may fuse into the epilogue
// of Conv (and later Gemm) without changing the operator's API.
type nnActKind int

const (
	nnActNone nnActKind = iota
	nnActRelu
	nnActClip // clamp to [lo, hi]
)

// nnAct is a fused activation.
type nnAct struct {
	kind   nnActKind
	lo, hi float32
}

// fuseActivation makes op apply an activation to its output in the
// epilogue; it reports whether the op supports it. A graph pass uses it only
// where the activation's input is not a tensor the quantizer observes.
func fuseActivation(op Op, a nnAct) bool {
	switch o := op.(type) {
	case *convOp:
		if o.act.kind != nnActNone {
			return false
		}
		o.act = a
		return true
	case *gemmOp:
		if o.act.kind != nnActNone {
			return false
		}
		o.act = a
		return true
	}
	return false
}

// then is a finishing function that applies a and then post (either may
// be absent); nil when there is nothing to do.
func (a nnAct) then(post func(d []float32, ch, off int)) func(d []float32, ch, off int) {
	if a.kind == nnActNone {
		return post
	}
	return func(d []float32, ch, off int) {
		a.applyFast(d)
		if post != nil {
			post(d, ch, off)
		}
	}
}

// bounds is the activation as a clamp range, ±Inf for none.
func (a nnAct) bounds() (lo, hi float32) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	switch a.kind {
	case nnActRelu:
		lo = 0
	case nnActClip:
		lo, hi = a.lo, a.hi
	}
	return lo, hi
}

// applyFast is apply with the vector loops where there are some.
func (a nnAct) applyFast(y []float32) {
	switch a.kind {
	case nnActRelu:
		vecClamp(y, 0, float32(math.Inf(1)))
	case nnActClip:
		vecClamp(y, a.lo, a.hi)
	}
}

func (a nnAct) apply(y []float32) {
	switch a.kind {
	case nnActRelu:
		for i, v := range y {
			if v < 0 {
				y[i] = 0
			}
		}
	case nnActClip:
		for i, v := range y {
			if v < a.lo {
				y[i] = a.lo
			} else if v > a.hi {
				y[i] = a.hi
			}
		}
	}
}

// convOp is Conv. Weights are read from the input each run: their layout
// [M, C/group, k...] already is the row-major A operand of the GEMM.
type convOp struct {
	win   nnWindow
	group int
	// act is an activation fused into the epilogue by a later pass; the
	// reference path applies it too so both stay comparable.
	act nnAct
	// ref selects the naive reference implementation.
	ref bool
	// constW records that the weight is an initializer, so a prepared
	// (packed, transformed) form of it may be cached across runs.
	constW bool
	// scratch recycles im2col buffers (*[]float32) across runs.
	scratch sync.Pool
	// wino caches the Winograd-transformed weight when constW.
	wino atomic.Pointer[winoWeights]
	// winoRows recycles the Winograd transforms' row buffers.
	winoRows sync.Pool
	// splits recycles the column-split copies of stride-2 inputs.
	splits sync.Pool
	// packed caches the weight in panels (nn_panel.go) when constW.
	packed atomic.Pointer[packedWeights]
	// implicit caches the implicit-GEMM plane layout (nn_conv_implicit.go).
	implicit atomic.Pointer[implicitCache]
}

func buildConv(n *graph.Node, opset int) (Op, error) {
	w, err := nnParseWindow(n)
	if err != nil {
		return nil, err
	}
	w.ceil = false
	g := int(n.AttrInt("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("group %d must be positive", g)
	}
	constW := len(n.Inputs) > 1 && n.Inputs[1] != nil && n.Inputs[1].Initializer != nil
	return &convOp{win: w, group: g, constW: constW}, nil
}

// convShapes validates Conv operands and resolves the geometry.
func convShapes(win *nnWindow, group int, x, w, b *tensor.Tensor) (nnGeom, int, int, int, error) {
	var geo nnGeom
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return geo, 0, 0, 0, fmt.Errorf("Conv: X %v and W %v must have the same rank >= 3", x.Shape, w.Shape)
	}
	nb, c, m := x.Shape[0], x.Shape[1], w.Shape[0]
	if c != w.Shape[1]*group || m%group != 0 {
		return geo, 0, 0, 0, fmt.Errorf("Conv: X %v, W %v do not match group %d", x.Shape, w.Shape, group)
	}
	k := w.Shape[2:]
	if win.kernel != nil && !slices.Equal(win.kernel, k) {
		return geo, 0, 0, 0, fmt.Errorf("Conv: kernel_shape %v differs from W %v", win.kernel, w.Shape)
	}
	if b != nil && b.Len() != m {
		return geo, 0, 0, 0, fmt.Errorf("Conv: B %v, want %d values", b.Shape, m)
	}
	geo, err := win.resolve(x.Shape[2:], k)
	if err != nil {
		return geo, 0, 0, 0, fmt.Errorf("Conv: %w", err)
	}
	return geo, nb, c, m, nil
}

func (o *convOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("Conv: want 2 or 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "Conv X"); err != nil {
		return nil, err
	}
	var b *tensor.Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if in[0].DType == tensor.Double || o.ref {
		if in[0].DType == tensor.Double {
			return convRefRun[float64](o, ctx, in[0], in[1], b)
		}
		return convRefRun[float32](o, ctx, in[0], in[1], b)
	}
	return o.runFast(ctx, in[0], in[1], b, nil)
}

func convRefRun[T nnFloat](o *convOp, ctx *Context, x, w, b *tensor.Tensor) ([]*tensor.Tensor, error) {
	geo, nb, c, m, err := convShapes(&o.win, o.group, x, w, b)
	if err != nil {
		return nil, err
	}
	xd, err := nnData[T](x, "Conv X")
	if err != nil {
		return nil, err
	}
	wd, err := nnData[T](w, "Conv W")
	if err != nil {
		return nil, err
	}
	var bd []T
	if b != nil {
		if bd, err = nnData[T](b, "Conv B"); err != nil {
			return nil, err
		}
	}
	y := ctx.NewTensor(nnDType[T](), append([]int{nb, m}, geo.outShape()...)...)
	convRef(xd, wd, bd, y.Data.([]T), &geo, nb, c, m, o.group)
	if yf, ok := y.Data.([]float32); ok {
		o.act.apply(yf)
	}
	return []*tensor.Tensor{y}, nil
}

// convRef is the plain-loop convolution every fast path is tested against.
func convRef[T nnFloat](x, w, b, y []T, g *nnGeom, nb, c, m, group int) {
	cg, mg := c/group, m/group
	inVol, outVol, kVol := g.inVol(), g.outVol(), g.kVol()
	for n := range nb {
		for oc := range m {
			grp := oc / mg
			yo := y[(n*m+oc)*outVol:]
			for o0 := range g.out[0] {
				for o1 := range g.out[1] {
					for o2 := range g.out[2] {
						var s T
						if b != nil {
							s = b[oc]
						}
						for ic := range cg {
							xc := x[(n*c+grp*cg+ic)*inVol:]
							wc := w[(oc*cg+ic)*kVol:]
							for k0 := range g.k[0] {
								i0 := o0*g.s[0] - g.pb[0] + k0*g.d[0]
								if i0 < 0 || i0 >= g.in[0] {
									continue
								}
								for k1 := range g.k[1] {
									i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
									if i1 < 0 || i1 >= g.in[1] {
										continue
									}
									for k2 := range g.k[2] {
										i2 := o2*g.s[2] - g.pb[2] + k2*g.d[2]
										if i2 < 0 || i2 >= g.in[2] {
											continue
										}
										s += xc[(i0*g.in[1]+i1)*g.in[2]+i2] * wc[(k0*g.k[1]+k1)*g.k[2]+k2]
									}
								}
							}
						}
						yo[(o0*g.out[1]+o1)*g.out[2]+o2] = s
					}
				}
			}
		}
	}
}

func (o *convOp) getScratch(n int) *[]float32 {
	if p, ok := o.scratch.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// getSplit is a buffer of n floats from o.splits.
func (o *convOp) getSplit(n int) *[]float32 {
	if p, ok := o.splits.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// runFast is the float32 convolution. prog, when not nil, is an
// elementwise chain applied to each block of the output while it is in
// cache (it replaces o.act).
func (o *convOp) runFast(ctx *Context, x, w, b *tensor.Tensor, prog *epiProg) ([]*tensor.Tensor, error) {
	geo, nb, c, m, err := convShapes(&o.win, o.group, x, w, b)
	if err != nil {
		return nil, err
	}
	xd, err := nnData[float32](x, "Conv X")
	if err != nil {
		return nil, err
	}
	wd, err := nnData[float32](w, "Conv W")
	if err != nil {
		return nil, err
	}
	var bd []float32
	if b != nil {
		if bd, err = nnData[float32](b, "Conv B"); err != nil {
			return nil, err
		}
	}
	// Every path below writes each output element.
	y := ctx.newTensorFull(tensor.Float, append([]int{nb, m}, geo.outShape()...)...)
	yd := y.Data.([]float32)
	outVol := geo.outVol()
	if outVol == 0 || nb == 0 || m == 0 {
		return []*tensor.Tensor{y}, nil
	}
	act := o.act
	if prog != nil {
		act, prog = prog.splitAct()
	}
	group := o.group
	cg, mg := c/group, m/group
	if cg == 1 && group > 1 {
		// post finishes len(d) outputs of channel ch starting at flat
		// index off, while they are in cache.
		var post func(d []float32, ch, off int)
		if prog != nil {
			post = prog.run
		}
		if geo.nd == 2 {
			o.convDepthwise2D(ctx, xd, wd, bd, yd, &geo, nb, c, m, act, post)
		} else {
			convDepthwise(ctx, xd, wd, bd, yd, &geo, nb, c, m, act.then(post))
		}
		return []*tensor.Tensor{y}, nil
	}
	if f := winoPick(&geo, group, c, m); f != nil {
		var post func(d []float32, ch, off int)
		if prog != nil {
			post = prog.run
		}
		o.convWinograd(ctx, f, xd, o.winoWeightsFor(wd, m, c, f.tile), bd, yd, &geo, nb, c, m, act, post)
		return []*tensor.Tensor{y}, nil
	}
	inVol, kVol := geo.inVol(), geo.kVol()
	kk := cg * kVol
	pointwise := kVol == 1 && geo.s == [3]int{1, 1, 1} && geo.pb == [3]int{} && geo.pe == [3]int{}
	if group == 1 && !pointwise && o.constW && panelGemmInd != nil && panelUsable(m) && nnImplicitOK(&geo) {
		o.convImplicit(ctx, o.implicitFor(&geo, c), xd, o.packedFor(wd, 1, m, kk), bd, yd, &geo, nb, c, m, act, prog)
		return []*tensor.Tensor{y}, nil
	}
	// 2-D with stride 2 along rows: split every input row into even and
	// odd columns once (nn_im2col_s2.go)
	var split []float32
	var splitPlane int
	poly := !pointwise && nnPolyphaseOK(&geo)
	if !pointwise && geo.in[0] == 1 && geo.out[0] == 1 && geo.k[0] == 1 && geo.s[2] == 2 {
		splitPlane = geo.in[1] * 2 * ((geo.in[2] + 1) / 2)
		if poly {
			splitPlane = nnPolyphaseLen(&geo)
		}
		sp := o.getSplit(nb * c * splitPlane)
		defer o.splits.Put(sp)
		split = *sp
		ctx.Parallel(nb*c, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d, x := split[i*splitPlane:(i+1)*splitPlane], xd[i*inVol:(i+1)*inVol]
				if poly {
					nnPolyphase(d, x, geo.in[1], geo.in[2])
				} else {
					nnSplitCols(d, x, geo.in[1], geo.in[2])
				}
			}
		})
	}
	// Constant weights of im2col convolutions are packed once and stream
	// through the panel kernel; 1×1 convolutions read their input in
	// place and stay on sgemm.
	var pk []float32
	if o.constW && !pointwise && panelUsable(mg) {
		pk = o.packedFor(wd, group, mg, kk)
	}
	// The output columns are cut into tiles so the im2col buffer stays
	// near the L2 size and the tiles give threads independent work.
	tile := nnConvTile(kk, outVol, geo.out[2])
	tiles := (outVol + tile - 1) / tile
	if threads := nnThreads(ctx); pointwise && threads > 1 && nb*group*tiles >= 2*threads {
		// as many tiles per thread: 12544 columns in tiles of 4032 left
		// one of two threads 8064 columns and the other 4480
		tiles = (tiles + threads - 1) / threads * threads
		tile = ((outVol+tiles-1)/tiles + 15) &^ 15
		tiles = (outVol + tile - 1) / tile
	}
	// one (image, group, tile): Y[mg × tile] = W_g (mg × kk) · col (kk × tile) + bias
	one := func(n, g, t int, col []float32, threads int) {
		p0, p1 := t*tile, min((t+1)*tile, outVol)
		w := p1 - p0
		yo := yd[(n*m+g*mg)*outVol+p0:]
		xs := xd[(n*c+g*cg)*inVol : (n*c+(g+1)*cg)*inVol]
		var bias []float32
		if bd != nil {
			bias = bd[g*mg : (g+1)*mg]
		}
		bmat, ldb := xs[p0:], inVol
		if !pointwise {
			fill := func(lo, hi int) { nnIm2colRows(xs, col, &geo, lo, hi, p0, p1) }
			if split != nil {
				sp := split[(n*c+g*cg)*splitPlane : (n*c+(g+1)*cg)*splitPlane]
				fill = func(lo, hi int) { nnIm2colS2(sp, col, &geo, lo, hi, p0, p1) }
				if poly {
					fill = func(lo, hi int) { nnIm2colPoly(sp, col, &geo, lo, hi, p0, p1) }
				}
			}
			if threads > 1 {
				// one tile for all threads (late, small layers): share
				// its im2col too
				ctx.Parallel(kk, 16, fill)
			} else {
				fill(0, kk)
			}
			bmat, ldb = col, w
		}
		// bias and activation run in the GEMM's epilogue
		if pk != nil {
			o.panelConv(ctx, pk[g*panelPadM(mg)*kk:], bmat, ldb, yo, outVol, mg, kk, w, bias, act, threads)
		} else {
			nnSgemmFused(false, false, mg, w, kk, 1, wd[g*mg*kk:], kk, bmat, ldb, 0, yo, outVol, threads, bias, nil, act)
		}
		if prog == nil {
			return
		}
		// The block (mg rows of w outputs, a tile chosen to fit L2) is
		// still in cache.
		rows := func(lo, hi int) {
			for r := lo; r < hi; r++ {
				ch := g*mg + r
				prog.run(yo[r*outVol:r*outVol+w], ch, (n*m+ch)*outVol+p0)
			}
		}
		if threads > 1 {
			ctx.Parallel(mg, 1, rows)
		} else {
			rows(0, mg)
		}
	}
	colLen := 0
	if !pointwise {
		colLen = kk * tile
	}
	threads := nnThreads(ctx)
	jobs := nb * group * tiles
	if jobs >= 2*threads && threads > 1 {
		ctx.Parallel(jobs, 1, func(lo, hi int) {
			p := o.getScratch(colLen)
			defer o.scratch.Put(p)
			for j := lo; j < hi; j++ {
				one(j/(group*tiles), (j/tiles)%group, j%tiles, *p, 1)
			}
		})
	} else {
		p := o.getScratch(colLen)
		defer o.scratch.Put(p)
		for j := range jobs {
			one(j/(group*tiles), (j/tiles)%group, j%tiles, *p, threads)
		}
	}
	return []*tensor.Tensor{y}, nil
}

// nnConvTile picks how many output columns one im2col tile holds: about
// 256 KiB of scratch, at least 256 columns (GEMM efficiency), a multiple of
// 16, never more than there are. Where it can, the tile holds whole output
// rows of width rowW (so nnIm2colShift copies every row of it), and then a
// multiple of 16 rows' worth as well when that fits.
func nnConvTile(kk, outVol, rowW int) int {
	t := (1 << 16) / max(kk, 1)
	t = max(256, t&^15)
	if l := rowW / nnGCD(rowW, 16) * 16; rowW > 0 && l <= t {
		t = t / l * l
	} else if rowW > 0 && rowW <= t {
		t = t / rowW * rowW
	}
	return min(t, outVol)
}

func nnGCD(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// nnIm2colTile fills col (cg·kVol rows × (p1-p0) columns) with the output
// columns [p0, p1) of the im2col matrix of x (cg channels): row (c, k0, k1,
// k2) holds, for each output position, the input value that tap reads, zero
// where it reads padding.
func nnIm2colTile(x, col []float32, g *nnGeom, cg, p0, p1 int) {
	nnIm2colRows(x, col, g, 0, cg*g.kVol(), p0, p1)
}

func nnIm2colRows(x, col []float32, g *nnGeom, r0, r1, p0, p1 int) {
	if nnIm2colShift(x, col, g, r0, r1, p0, p1) {
		return
	}
	nnIm2colPart(x, col, g, r0, r1, p0, p1, p0, p1)
}

// nnIm2colPart fills columns [pa, pb) of rows [r0, r1) of the im2col tile
// for output columns [p0, p1).
func nnIm2colPart(x, col []float32, g *nnGeom, r0, r1, p0, p1, pa, pb int) {
	if pa >= pb {
		return
	}
	kVol, inVol := g.kVol(), g.inVol()
	w := p1 - p0
	for r := r0; r < r1; r++ {
		ci, kk := r/kVol, r%kVol
		k0, k1, k2 := kk/(g.k[1]*g.k[2]), (kk/g.k[2])%g.k[1], kk%g.k[2]
		dst := col[r*w : (r+1)*w]
		xc := x[ci*inVol : (ci+1)*inVol]
		// valid output range along the innermost axis for this tap
		off2 := k2*g.d[2] - g.pb[2]
		lo2, hi2 := nnValidRange(off2, g.s[2], g.in[2], g.out[2])
		// The output position is split into (o0, o1, o2) once and then
		// stepped row by row: with small output planes (7x7, 14x14) the
		// divisions per segment cost more than the copies.
		out1, out2, in0, in1, in2, s2 := g.out[1], g.out[2], g.in[0], g.in[1], g.in[2], g.s[2]
		o2 := pa % out2
		o1, o0 := (pa/out2)%out1, pa/out2/out1
		for p := pa; p < pb; {
			e2 := min(out2, o2+pb-p) // segment [o2, e2) of this output row
			d := dst[p-p0 : p-p0+e2-o2]
			p += e2 - o2
			i0 := o0*g.s[0] - g.pb[0] + k0*g.d[0]
			i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
			a, b := max(lo2, o2), min(hi2, e2)
			// step to the next output row before any continue
			o2 = 0
			if o1++; o1 == out1 {
				o1, o0 = 0, o0+1
			}
			if i0 < 0 || i0 >= in0 || i1 < 0 || i1 >= in1 || a >= b {
				clear(d)
				continue
			}
			src := xc[(i0*in1+i1)*in2:]
			lo := d[:len(d)-(e2-a)]
			clear(lo)
			clear(d[b-(e2-len(d)):])
			switch {
			case s2 == 1:
				copy(d[len(lo):len(lo)+b-a], src[a+off2:b+off2])
			case s2 == 2 && a*2+off2+2*(b-a) <= len(src):
				// even elements of a run: vector de-interleave
				nnGather2(d[len(lo):len(lo)+b-a], src[a*2+off2:a*2+off2+2*(b-a)])
			default:
				dd := d[len(lo) : len(lo)+b-a]
				for q := range dd {
					dd[q] = src[(a+q)*s2+off2]
				}
			}
		}
	}
}

// nnIm2colShift is im2col for 2-D convolutions with stride 1 whose output
// rows keep the input's width ("same" padding along it), most 3x3 layers
// of a ResNet. For one kernel tap, whole output rows of the tile then read
// the input plane shifted by the tap's offset: one copy for the run of
// rows, after which only the columns that read padding (and got a
// neighbouring row's value) are cleared. It reports false for other
// geometries.
func nnIm2colShift(x, col []float32, g *nnGeom, r0, r1, p0, p1 int) bool {
	if g.in[0] != 1 || g.out[0] != 1 || g.k[0] != 1 || g.s[1] != 1 || g.s[2] != 1 || g.d[2] != 1 || g.out[2] != g.in[2] {
		return false
	}
	W := g.out[2]
	ra, rb := (p0+W-1)/W, p1/W // the tile's whole output rows
	if ra >= rb {
		return false
	}
	kVol, inVol := g.kVol(), g.inVol()
	w := p1 - p0
	for r := r0; r < r1; r++ {
		nnIm2colPart(x, col, g, r, r+1, p0, p1, p0, ra*W)
		nnIm2colPart(x, col, g, r, r+1, p0, p1, rb*W, p1)
		ci, kk := r/kVol, r%kVol
		k1, k2 := kk/g.k[2], kk%g.k[2]
		off1, off2 := k1*g.d[1]-g.pb[1], k2-g.pb[2]
		dst := col[r*w+ra*W-p0 : r*w+rb*W-p0]
		xc := x[ci*inVol : (ci+1)*inVol]
		va, vb := nnValidRange(off1, 1, g.in[1], g.out[1])
		va, vb = min(max(va, ra), rb), min(max(vb, ra), rb)
		if va >= vb {
			clear(dst)
			continue
		}
		clear(dst[:(va-ra)*W])
		clear(dst[(vb-ra)*W:])
		d := dst[(va-ra)*W : (vb-ra)*W]
		src := (va+off1)*W + off2 // where d[0] reads, before clipping to the plane
		lo, hi := max(0, -src), min(len(d), inVol-src)
		if lo >= hi {
			clear(d)
			continue
		}
		clear(d[:lo])
		copy(d[lo:hi], xc[src+lo:src+hi])
		clear(d[hi:])
		switch n := min(W, max(off2, -off2)); {
		case off2 < 0:
			for q := 0; q < len(d); q += W {
				clear(d[q : q+n])
			}
		case off2 > 0:
			for q := W - n; q < len(d); q += W {
				clear(d[q : q+n])
			}
		}
	}
	return true
}

// nnValidRange is the range [lo, hi) of outputs o in [0, out) with
// 0 <= o*s + off < in.
func nnValidRange(off, s, in, out int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	hi := 0
	if in-off > 0 {
		hi = (in - off + s - 1) / s
	}
	hi = min(hi, out)
	lo = min(lo, hi)
	return lo, hi
}

// convDepthwise handles group == C (each output channel reads one input
// channel) tap by tap: for every kernel tap it adds w·x over the whole
// valid output range, so the inner loop is a bounds-free axpy.
func convDepthwise(ctx *Context, x, w, b, y []float32, g *nnGeom, nb, c, m int, post func(d []float32, ch, off int)) {
	mult := m / c
	inVol, outVol, kVol := g.inVol(), g.outVol(), g.kVol()
	ctx.Parallel(nb*m, 1, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			n, oc := j/m, j%m
			ic := oc / mult
			xc := x[(n*c+ic)*inVol : (n*c+ic+1)*inVol]
			wc := w[oc*kVol : (oc+1)*kVol]
			yo := y[j*outVol : (j+1)*outVol]
			bias := float32(0)
			if b != nil {
				bias = b[oc]
			}
			for i := range yo {
				yo[i] = bias
			}
			for k0 := range g.k[0] {
				off0 := k0*g.d[0] - g.pb[0]
				lo0, hi0 := nnValidRange(off0, g.s[0], g.in[0], g.out[0])
				for k1 := range g.k[1] {
					off1 := k1*g.d[1] - g.pb[1]
					lo1, hi1 := nnValidRange(off1, g.s[1], g.in[1], g.out[1])
					for k2 := range g.k[2] {
						off2 := k2*g.d[2] - g.pb[2]
						lo2, hi2 := nnValidRange(off2, g.s[2], g.in[2], g.out[2])
						wv := wc[(k0*g.k[1]+k1)*g.k[2]+k2]
						if lo2 >= hi2 {
							continue
						}
						for o0 := lo0; o0 < hi0; o0++ {
							i0 := o0*g.s[0] + off0
							for o1 := lo1; o1 < hi1; o1++ {
								i1 := o1*g.s[1] + off1
								src := xc[(i0*g.in[1]+i1)*g.in[2]:]
								dst := yo[(o0*g.out[1]+o1)*g.out[2]:]
								if g.s[2] == 1 {
									s := src[lo2+off2 : hi2+off2]
									d := dst[lo2:hi2]
									for i, v := range s {
										d[i] += wv * v
									}
								} else {
									for o2 := lo2; o2 < hi2; o2++ {
										dst[o2] += wv * src[o2*g.s[2]+off2]
									}
								}
							}
						}
					}
				}
			}
			if post != nil {
				post(yo, oc, j*outVol)
			}
		}
	})
}

// convDepthwise2D is the 2-D depthwise path. Undilated 3x3 kernels at
// stride 1 or 2 (mobile networks) read the input plane in place where the
// CPU has the masked-load kernels; otherwise each channel's plane is copied
// once into a zero-padded scratch plane so the loops need no bounds tests.
// act and then post (when not nil) finish each output; the whole-plane
// kernels apply act themselves.
func (o *convOp) convDepthwise2D(ctx *Context, x, w, b, y []float32, g *nnGeom, nb, c, m int, act nnAct, post func(d []float32, ch, off int)) {
	finish := act.then(post)
	clo, chi := act.bounds()
	mult := m / c
	inH, inW, outH, outW := g.in[1], g.in[2], g.out[1], g.out[2]
	kh, kw, sh, sw, dh, dw := g.k[1], g.k[2], g.s[1], g.s[2], g.d[1], g.d[2]
	if kh == 3 && kw == 3 && dh == 1 && dw == 1 && sh == sw && nnDw3Direct != nil {
		if planes := nnDw3Direct(outH, outW, inH, inW, sh, g.pb[1], g.pb[2]); planes != nil {
			bias := b
			if bias == nil {
				bias = make([]float32, m)
			}
			inV, outV := inH*inW, outH*outW
			// no padded copy: the kernel masks the taps in the padding
			ctx.Parallel(nb*m, 1, func(lo, hi int) {
				for j := lo; j < hi; {
					n, oc := j/m, j%m
					// one call for a run of channels of one image; one
					// per channel where post wants each plane in cache or
					// output channels share an input
					e := min(hi, (n+1)*m)
					if post != nil || mult > 1 {
						e = j + 1
					}
					ic := n*c + oc/mult
					planes(y[j*outV:e*outV], x[ic*inV:(ic+e-j)*inV], w[oc*9:(oc+e-j)*9], bias[oc:oc+e-j], clo, chi)
					if post != nil {
						post(y[j*outV:e*outV], oc, j*outV)
					}
					j = e
				}
			})
			return
		}
	}
	ph := max((outH-1)*sh+(kh-1)*dh+1, g.pb[1]+inH)
	pw := max((outW-1)*sw+(kw-1)*dw+1, g.pb[2]+inW)
	ctx.Parallel(nb*m, 1, func(lo, hi int) {
		hw := (pw + 1) / 2
		need := ph * pw
		if sw == 2 {
			need += 2 * ph * hw
		}
		// After the planes: slack that the vector row kernels may read
		// past the last row when they compute a short row's last outputs
		// (a whole vector, the lanes past the row thrown away), then
		// those 8 outputs.
		const slack = 16
		buf := o.getScratch(need + slack + 8)
		defer o.scratch.Put(buf)
		pad := (*buf)[:ph*pw]
		clear(pad) // the border stays zero: only the interior is rewritten
		all := (*buf)[:need+slack]
		tmp := (*buf)[need+slack:]
		var even, odd []float32
		if sw == 2 {
			even, odd = (*buf)[ph*pw:ph*pw+ph*hw], (*buf)[ph*pw+ph*hw:need]
		}
		split := false // even/odd hold the current plane
		lastIC := -1
		for j := lo; j < hi; j++ {
			n, oc := j/m, j%m
			ic := n*c + oc/mult
			if ic != lastIC {
				xc := x[ic*inH*inW : (ic+1)*inH*inW]
				for r := range inH {
					copy(pad[(r+g.pb[1])*pw+g.pb[2]:], xc[r*inW:(r+1)*inW])
				}
				lastIC = ic
				split = false
			}
			wc := w[oc*kh*kw : (oc+1)*kh*kw]
			yo := y[j*outH*outW : (j+1)*outH*outW]
			bias := float32(0)
			if b != nil {
				bias = b[oc]
			}
			// Long rows are finished while in L1; short ones a plane at a
			// time, so the chain's per-call cost is spread over more work.
			rowPost := finish != nil && outW >= 256
			planeDone := true // a whole-plane kernel ran: act is applied
			switch {
			case sh == 1 && sw == 1 && dh == 1 && dw == 1 && nnDwPlaneS1 != nil:
				// other kernel sizes (PP-OCR's 5x5)
				nnDwPlaneS1(yo, outH, outW, pad, pw, wc, kh, kw, bias, clo, chi)
				rowPost = false
			case kh == 3 && kw == 3 && dh == 1 && dw == 1 && sw == 1:
				planeDone = false
				w0, w1, w2, w3, w4, w5, w6, w7, w8 := wc[0], wc[1], wc[2], wc[3], wc[4], wc[5], wc[6], wc[7], wc[8]
				wv := [9]float32{w0, w1, w2, w3, w4, w5, w6, w7, w8}
				for oh := range outH {
					r := oh * sh * pw
					r0 := pad[r : r+outW+2]
					r1 := pad[r+pw : r+pw+outW+2]
					r2 := pad[r+2*pw : r+2*pw+outW+2]
					dst := yo[oh*outW : (oh+1)*outW]
					start := 0
					if nnDwRow3s1 != nil {
						start = nnDwRow3s1(dst, r0, r1, r2, &wv, bias)
						if start < outW {
							nnDwRow3s1(tmp[:8], all[r+start:r+start+10], all[r+pw+start:r+pw+start+10], all[r+2*pw+start:r+2*pw+start+10], &wv, bias)
							start += copy(dst[start:], tmp[:8])
						}
					}
					for ow := start; ow < len(dst); ow++ {
						dst[ow] = bias + w0*r0[ow] + w1*r0[ow+1] + w2*r0[ow+2] +
							w3*r1[ow] + w4*r1[ow+1] + w5*r1[ow+2] +
							w6*r2[ow] + w7*r2[ow+1] + w8*r2[ow+2]
					}
					if rowPost {
						finish(dst, oc, j*outH*outW+oh*outW)
					}
				}
			case kh == 3 && kw == 3 && dh == 1 && dw == 1 && sw == 2 && nnDwRow3s2 != nil:
				planeDone = false
				split = nnSplitEvenOdd(pad, even, odd, ph, pw, hw, split)
				wv := [9]float32(wc[:9])
				for oh := range outH {
					dst := yo[oh*outW : (oh+1)*outW]
					var e, od [3][]float32
					for k := range 3 {
						r := oh*sh + k
						e[k], od[k] = even[r*hw:(r+1)*hw], odd[r*hw:(r+1)*hw]
					}
					start := nnDwRow3s2(dst, e, od, &wv, bias)
					if start < outW {
						var et, ot [3][]float32
						for k := range 3 {
							r := (oh*sh+k)*hw + start
							et[k], ot[k] = all[ph*pw+r:ph*pw+r+9], all[ph*pw+ph*hw+r:ph*pw+ph*hw+r+8]
						}
						nnDwRow3s2(tmp[:8], et, ot, &wv, bias)
						start += copy(dst[start:], tmp[:8])
					}
					for ow := start; ow < outW; ow++ {
						v := bias
						for k := range 3 {
							v += wv[3*k]*e[k][ow] + wv[3*k+1]*od[k][ow] + wv[3*k+2]*e[k][ow+1]
						}
						dst[ow] = v
					}
					if rowPost {
						finish(dst, oc, j*outH*outW+oh*outW)
					}
				}
			default:
				planeDone = false
				if sw == 2 {
					// de-interleave the padded rows once per channel so
					// stride-2 taps become contiguous (vector) runs
					split = nnSplitEvenOdd(pad, even, odd, ph, pw, hw, split)
				}
				for oh := range outH {
					dst := yo[oh*outW : (oh+1)*outW]
					for i := range dst {
						dst[i] = bias
					}
					for ki := range kh {
						r := oh*sh + ki*dh
						for kj := range kw {
							wv := wc[ki*kw+kj]
							off := kj * dw
							switch {
							case sw == 1:
								nnAxpy(dst, pad[r*pw+off:r*pw+off+outW], wv)
							case sw == 2 && off%2 == 0:
								nnAxpy(dst, even[r*hw+off/2:r*hw+off/2+outW], wv)
							case sw == 2:
								nnAxpy(dst, odd[r*hw+off/2:r*hw+off/2+outW], wv)
							default:
								row := pad[r*pw+off:]
								for ow := range dst {
									dst[ow] += wv * row[ow*sw]
								}
							}
						}
					}
					if rowPost {
						finish(dst, oc, j*outH*outW+oh*outW)
					}
				}
			}
			switch {
			case planeDone && post != nil:
				post(yo, oc, j*outH*outW)
			case !planeDone && !rowPost && finish != nil:
				finish(yo, oc, j*outH*outW)
			}
		}
	})
}

// nnSplitEvenOdd de-interleaves the padded plane's rows into even and odd
// columns unless done is already true; it returns true.
func nnSplitEvenOdd(pad, even, odd []float32, ph, pw, hw int, done bool) bool {
	if done {
		return true
	}
	half := pw / 2
	for r := range ph {
		row := pad[r*pw : (r+1)*pw]
		nnDeinterleave(even[r*hw:r*hw+half], odd[r*hw:r*hw+half], row)
		if pw%2 == 1 {
			even[r*hw+half] = row[pw-1]
		}
	}
	return true
}

// nnGather2 sets d[i] = src[2i] (len(src) >= 2·len(d)), in one vector pass
// where there is one, else through the vector de-interleave a piece at a
// time.
func nnGather2(d, src []float32) {
	if nnGatherEven != nil {
		nnGatherEven(d, src)
		return
	}
	var odd [128]float32
	for len(d) > 0 {
		n := min(len(d), len(odd))
		nnDeinterleave(d[:n], odd[:n], src[:2*n])
		d, src = d[n:], src[2*n:]
	}
}
