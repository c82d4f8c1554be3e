package kernels

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("ConvTranspose", 1, buildConvTranspose)
}

type convTransposeOp struct {
	win      nnWindow
	group    int
	outPad   []int
	outShape []int
	ref      bool
	scratch  sync.Pool
}

func buildConvTranspose(n *graph.Node, opset int) (Op, error) {
	w, err := nnParseWindow(n)
	if err != nil {
		return nil, err
	}
	g := int(n.AttrInt("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("group %d must be positive", g)
	}
	op := &convTransposeOp{
		win:      w,
		group:    g,
		outPad:   nnToInts(n.AttrInts("output_padding", nil)),
		outShape: nnToInts(n.AttrInts("output_shape", nil)),
	}
	if len(op.outPad) == 0 {
		op.outPad = nil
	}
	if len(op.outShape) == 0 {
		op.outShape = nil
	}
	return op, nil
}

// geometry resolves the output size and pads, returned as the geometry of
// the equivalent forward convolution: in = ConvTranspose output, out =
// ConvTranspose input, so col2im is the adjoint of im2col on it.
func (o *convTransposeOp) geometry(x, w, b *tensor.Tensor) (nnGeom, int, int, int, error) {
	var g nnGeom
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return g, 0, 0, 0, fmt.Errorf("ConvTranspose: X %v and W %v must have the same rank >= 3", x.Shape, w.Shape)
	}
	nd := x.Rank() - 2
	if nd > 3 {
		return g, 0, 0, 0, fmt.Errorf("ConvTranspose: %d spatial dimensions not supported", nd)
	}
	nb, c := x.Shape[0], x.Shape[1]
	if w.Shape[0] != c || c%o.group != 0 {
		return g, 0, 0, 0, fmt.Errorf("ConvTranspose: X %v, W %v do not match group %d", x.Shape, w.Shape, o.group)
	}
	m := w.Shape[1] * o.group
	if b != nil && b.Len() != m {
		return g, 0, 0, 0, fmt.Errorf("ConvTranspose: B %v, want %d values", b.Shape, m)
	}
	k := w.Shape[2:]
	if o.win.kernel != nil && !slices.Equal(o.win.kernel, k) {
		return g, 0, 0, 0, fmt.Errorf("ConvTranspose: kernel_shape %v differs from W %v", o.win.kernel, w.Shape)
	}
	check := func(v []int, n int, name string) error {
		if v != nil && len(v) != n {
			return fmt.Errorf("ConvTranspose: %s %v: want %d values", name, v, n)
		}
		return nil
	}
	for _, e := range []error{check(o.win.strides, nd, "strides"), check(o.win.dilations, nd, "dilations"),
		check(o.win.pads, 2*nd, "pads"), check(o.outPad, nd, "output_padding")} {
		if e != nil {
			return g, 0, 0, 0, e
		}
	}
	os := o.outShape
	if os != nil && len(os) == nd+2 {
		os = os[2:]
	}
	if err := check(os, nd, "output_shape"); err != nil {
		return g, 0, 0, 0, err
	}
	at := func(v []int, i, def int) int {
		if v == nil {
			return def
		}
		return v[i]
	}
	g.nd = nd
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := range nd {
		j := 3 - nd + i
		in := x.Shape[2+i]
		s, d, op := at(o.win.strides, i, 1), at(o.win.dilations, i, 1), at(o.outPad, i, 0)
		ext := (k[i]-1)*d + 1
		var pb, pe, out int
		switch {
		case os != nil || o.win.autoPad == "SAME_UPPER" || o.win.autoPad == "SAME_LOWER":
			if os != nil {
				out = os[i]
			} else {
				out = in * s
			}
			total := s*(in-1) + op + ext - out
			// floor division, as in ONNX's reference: a negative total
			// (output_shape larger than natural) pads at the end
			half := total >> 1
			if o.win.autoPad == "SAME_UPPER" {
				pb = half
			} else {
				pb = total - half
			}
			pe = total - pb
		default:
			if o.win.autoPad != "VALID" {
				pb, pe = at(o.win.pads, i, 0), at(o.win.pads, nd+i, 0)
			}
			out = s*(in-1) + op + ext - pb - pe
		}
		if out < 0 {
			return g, 0, 0, 0, fmt.Errorf("ConvTranspose: negative output size %d", out)
		}
		g.in[j], g.out[j], g.k[j], g.s[j], g.d[j], g.pb[j], g.pe[j] = out, in, k[i], s, d, pb, pe
	}
	return g, nb, c, m, nil
}

func (o *convTransposeOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("ConvTranspose: want 2 or 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "ConvTranspose X"); err != nil {
		return nil, err
	}
	var b *tensor.Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if in[0].DType == tensor.Double {
		return convTransposeRun[float64](o, ctx, in[0], in[1], b)
	}
	return convTransposeRun[float32](o, ctx, in[0], in[1], b)
}

func convTransposeRun[T nnFloat](o *convTransposeOp, ctx *Context, x, w, b *tensor.Tensor) ([]*tensor.Tensor, error) {
	g, nb, c, m, err := o.geometry(x, w, b)
	if err != nil {
		return nil, err
	}
	xd, err := nnData[T](x, "ConvTranspose X")
	if err != nil {
		return nil, err
	}
	wd, err := nnData[T](w, "ConvTranspose W")
	if err != nil {
		return nil, err
	}
	var bd []T
	if b != nil {
		if bd, err = nnData[T](b, "ConvTranspose B"); err != nil {
			return nil, err
		}
	}
	y := ctx.NewTensor(nnDType[T](), append([]int{nb, m}, g.in[3-g.nd:]...)...)
	yd := y.Data.([]T)
	yVol := g.inVol()
	// contributions are added, so start from the bias (or zero: buffers
	// from ctx.NewTensor may be recycled)
	for i := range nb * m {
		row := yd[i*yVol : (i+1)*yVol]
		if bd == nil {
			clear(row)
			continue
		}
		v := bd[i%m]
		for j := range row {
			row[j] = v
		}
	}
	if o.ref {
		convTransposeRef(xd, wd, yd, &g, nb, c, m, o.group)
		return []*tensor.Tensor{y}, nil
	}
	cg, mg := c/o.group, m/o.group
	xVol, kVol := g.outVol(), g.kVol()
	rows := mg * kVol
	threads := nnThreads(ctx)
	for n := range nb {
		for grp := range o.group {
			var colT []T
			var p *[]float32
			if _, ok := any(colT).([]float32); ok {
				p = o.getScratch(rows * xVol)
				colT = any(*p).([]T)
			} else {
				colT = make([]T, rows*xVol)
			}
			// col (mg·kVol × xVol) = W_gᵀ · X_g, with W_g stored as cg × (mg·kVol)
			nnGemm(true, false, rows, xVol, cg, 1, wd[grp*cg*rows:], rows, xd[(n*c+grp*cg)*xVol:], xVol, 0, colT, xVol, threads)
			nnCol2im(ctx, colT, yd[(n*m+grp*mg)*yVol:(n*m+(grp+1)*mg)*yVol], &g, mg)
			if p != nil {
				o.scratch.Put(p)
			}
		}
	}
	return []*tensor.Tensor{y}, nil
}

func (o *convTransposeOp) getScratch(n int) *[]float32 {
	if p, ok := o.scratch.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// convTransposeRef scatters every input element times the kernel into the
// output, the definition of the transposed convolution.
func convTransposeRef[T nnFloat](x, w, y []T, g *nnGeom, nb, c, m, group int) {
	cg, mg := c/group, m/group
	xVol, yVol, kVol := g.outVol(), g.inVol(), g.kVol()
	for n := range nb {
		for ic := range c {
			grp := ic / cg
			xc := x[(n*c+ic)*xVol:]
			for oc := range mg {
				yc := y[(n*m+grp*mg+oc)*yVol:]
				wc := w[(ic*mg+oc)*kVol:]
				for i0 := range g.out[0] {
					for i1 := range g.out[1] {
						for i2 := range g.out[2] {
							v := xc[(i0*g.out[1]+i1)*g.out[2]+i2]
							for k0 := range g.k[0] {
								o0 := i0*g.s[0] - g.pb[0] + k0*g.d[0]
								if o0 < 0 || o0 >= g.in[0] {
									continue
								}
								for k1 := range g.k[1] {
									o1 := i1*g.s[1] - g.pb[1] + k1*g.d[1]
									if o1 < 0 || o1 >= g.in[1] {
										continue
									}
									for k2 := range g.k[2] {
										o2 := i2*g.s[2] - g.pb[2] + k2*g.d[2]
										if o2 < 0 || o2 >= g.in[2] {
											continue
										}
										yc[(o0*g.in[1]+o1)*g.in[2]+o2] += v * wc[(k0*g.k[1]+k1)*g.k[2]+k2]
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// nnCol2im is the adjoint of nnIm2colTile over all columns: it adds every column entry back into
// the image position it was read from (entries from padding are dropped).
// Channels are independent, so they run in parallel.
func nnCol2im[T nnFloat](ctx *Context, col, y []T, g *nnGeom, channels int) {
	kVol, yVol, cVol := g.kVol(), g.inVol(), g.outVol()
	ctx.Parallel(channels, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			yc := y[ch*yVol : (ch+1)*yVol]
			for kk := range kVol {
				k0, k1, k2 := kk/(g.k[1]*g.k[2]), (kk/g.k[2])%g.k[1], kk%g.k[2]
				src := col[(ch*kVol+kk)*cVol : (ch*kVol+kk+1)*cVol]
				off2 := k2*g.d[2] - g.pb[2]
				lo2, hi2 := nnValidRange(off2, g.s[2], g.in[2], g.out[2])
				if lo2 >= hi2 {
					continue
				}
				for o0 := range g.out[0] {
					i0 := o0*g.s[0] - g.pb[0] + k0*g.d[0]
					if i0 < 0 || i0 >= g.in[0] {
						continue
					}
					for o1 := range g.out[1] {
						i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
						if i1 < 0 || i1 >= g.in[1] {
							continue
						}
						s := src[(o0*g.out[1]+o1)*g.out[2]:]
						d := yc[(i0*g.in[1]+i1)*g.in[2]:]
						if g.s[2] == 1 {
							dd := d[lo2+off2 : hi2+off2]
							for i, v := range s[lo2:hi2] {
								dd[i] += v
							}
						} else {
							for o2 := lo2; o2 < hi2; o2++ {
								d[o2*g.s[2]+off2] += s[o2]
							}
						}
					}
				}
			}
		}
	})
}
