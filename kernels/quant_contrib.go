package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// The com.microsoft operators of ONNX Runtime's QOperator format, with the
// semantics of ONNX Runtime's contrib operator documentation. Where ONNX
// Runtime works through a float intermediate (scale ratios, lookup tables),
// so do these, in float32, so that results agree to the last bit in all
// but rounding ties.

const msDomain = "com.microsoft"

func init() {
	registerDomain(msDomain, "QLinearAdd", 1, func(*graph.Node, int) (Op, error) { return qlinearBinary(false), nil })
	registerDomain(msDomain, "QLinearMul", 1, func(*graph.Node, int) (Op, error) { return qlinearBinary(true), nil })
	registerDomain(msDomain, "QLinearSigmoid", 1, func(*graph.Node, int) (Op, error) {
		return qlinearUnary(func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }), nil
	})
	registerDomain(msDomain, "QLinearLeakyRelu", 1, func(n *graph.Node, _ int) (Op, error) {
		alpha := n.AttrFloat("alpha", 0.01)
		return qlinearUnary(func(x float32) float32 {
			if x < 0 {
				return alpha * x
			}
			return x
		}), nil
	})
	registerDomain(msDomain, "QLinearGlobalAveragePool", 1, func(n *graph.Node, _ int) (Op, error) {
		return &qGlobalAvgPool{channelsLast: n.AttrInt("channels_last", 0) != 0}, nil
	})
	registerDomain(msDomain, "QLinearAveragePool", 1, buildQLinearAveragePool)
	registerDomain(msDomain, "QLinearConcat", 1, func(n *graph.Node, _ int) (Op, error) {
		return qConcat(int(n.AttrInt("axis", 0))), nil
	})
	registerDomain(msDomain, "QGemm", 1, func(n *graph.Node, _ int) (Op, error) {
		return &qGemm{alpha: n.AttrFloat("alpha", 1), transA: n.AttrInt("transA", 0) != 0, transB: n.AttrInt("transB", 0) != 0}, nil
	})
	registerDomain(msDomain, "DynamicQuantizeMatMul", 1, func(*graph.Node, int) (Op, error) { return OpFunc(dynamicQuantizeMatMul), nil })
	registerDomain(msDomain, "MatMulIntegerToFloat", 1, func(*graph.Node, int) (Op, error) { return OpFunc(matMulIntegerToFloat), nil })
	registerDomain(msDomain, "QLinearWhere", 1, func(*graph.Node, int) (Op, error) { return OpFunc(qlinearWhere), nil })
	registerDomain(msDomain, "QLinearSoftmax", 1, func(n *graph.Node, _ int) (Op, error) {
		op := &qSoftmax{opset: int(n.AttrInt("opset", 13))}
		def := int64(-1)
		if op.opset < 13 {
			def = 1
		}
		op.axis = int(n.AttrInt("axis", def))
		return op, nil
	})
	registerDomain(msDomain, "QLinearConv", 1, func(n *graph.Node, opset int) (Op, error) {
		if n.AttrInt("channels_last", 0) != 0 {
			return nil, fmt.Errorf("QLinearConv with channels_last: %w", errChannelsLast)
		}
		return buildQLinearConv(n, opset)
	})
}

var errChannelsLast = fmt.Errorf("channels_last layout not supported")

// qParams reads a per-tensor scale and optional zero point.
func qParams(scale, zp *tensor.Tensor, what string) (float32, int32, error) {
	s, err := qFloats(scale, what+" scale")
	if err != nil {
		return 0, 0, err
	}
	if len(s) != 1 {
		return 0, 0, fmt.Errorf("%s scale: want a scalar, got %d values", what, len(s))
	}
	z, err := qScalarZP(zp, what+" zero point")
	if err != nil {
		return 0, 0, err
	}
	return s[0], z, nil
}

// qlinearBinary is QLinearAdd or QLinearMul: inputs A, A_scale, A_zp, B,
// B_scale, B_zp, C_scale, C_zp, with broadcasting.
func qlinearBinary(mul bool) Op {
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		a, b := optIn(in, 0), optIn(in, 3)
		av, err := qInts(a, "A")
		if err != nil {
			return nil, err
		}
		bv, err := qInts(b, "B")
		if err != nil {
			return nil, err
		}
		if a.DType != b.DType {
			return nil, fmt.Errorf("A is %v but B is %v", a.DType, b.DType)
		}
		sa, za, err := qParams(optIn(in, 1), optIn(in, 2), "A")
		if err != nil {
			return nil, err
		}
		sb, zb, err := qParams(optIn(in, 4), optIn(in, 5), "B")
		if err != nil {
			return nil, err
		}
		sc, zc, err := qParams(optIn(in, 6), optIn(in, 7), "C")
		if err != nil {
			return nil, err
		}
		lo, hi, _ := qRange(a.DType)
		out, err := bcastShape(a.Shape, b.Shape)
		if err != nil {
			return nil, err
		}
		var f func(x, y int32) int32
		if mul {
			m := sa * sb / sc
			f = func(x, y int32) int32 { return qRound(float32(x-za)*float32(y-zb)*m, zc, lo, hi) }
		} else {
			ra, rb := sa/sc, sb/sc
			f = func(x, y int32) int32 { return qRound(ra*float32(x-za)+rb*float32(y-zb), zc, lo, hi) }
		}
		d := make([]int32, tensor.NumElements(out))
		binApply(ctx, d, av, a.Shape, bv, b.Shape, out, loopsOf(f))
		return []*tensor.Tensor{qFromInts(ctx, a.DType, out, d)}, nil
	})
}

// qlinearUnary applies f to dequantized values through a table of every
// possible 8-bit input, as ONNX Runtime does: inputs X, X_scale, X_zp,
// Y_scale, Y_zp.
func qlinearUnary(f func(float32) float32) Op {
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := optIn(in, 0)
		xv, err := qInts(x, "X")
		if err != nil {
			return nil, err
		}
		lo, hi, _ := qRange(x.DType)
		if hi > 255 {
			return nil, fmt.Errorf("X: want an 8-bit type, got %v", x.DType)
		}
		sx, zx, err := qParams(optIn(in, 1), optIn(in, 2), "X")
		if err != nil {
			return nil, err
		}
		sy, zy, err := qParams(optIn(in, 3), optIn(in, 4), "Y")
		if err != nil {
			return nil, err
		}
		var table [256]int32
		for v := lo; v <= hi; v++ {
			table[v-lo] = qRound(f(float32(v-zx)*sx)/sy, zy, lo, hi)
		}
		d := make([]int32, len(xv))
		for i, v := range xv {
			d[i] = table[v-lo]
		}
		return []*tensor.Tensor{qFromInts(ctx, x.DType, x.Shape, d)}, nil
	})
}

// qToChannelsFirst moves the last axis of an [N, D..., C] array to position
// 1, returning the permuted data and shape; back reverses it.
func qToChannelsFirst(v []int32, shape []int) ([]int32, []int) {
	n, c := shape[0], shape[len(shape)-1]
	sp := tensor.NumElements(shape[1 : len(shape)-1])
	out := make([]int32, len(v))
	for b := range n {
		for s := range sp {
			for ch := range c {
				out[(b*c+ch)*sp+s] = v[(b*sp+s)*c+ch]
			}
		}
	}
	ns := append([]int{n, c}, shape[1:len(shape)-1]...)
	return out, ns
}

func qToChannelsLast(v []int32, shape []int) ([]int32, []int) {
	n, c := shape[0], shape[1]
	sp := tensor.NumElements(shape[2:])
	out := make([]int32, len(v))
	for b := range n {
		for ch := range c {
			for s := range sp {
				out[(b*sp+s)*c+ch] = v[(b*c+ch)*sp+s]
			}
		}
	}
	ns := append(append([]int{n}, shape[2:]...), c)
	return out, ns
}

type qGlobalAvgPool struct{ channelsLast bool }

func (op *qGlobalAvgPool) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := optIn(in, 0)
	xv, err := qInts(x, "X")
	if err != nil {
		return nil, err
	}
	if x.Rank() < 3 {
		return nil, fmt.Errorf("X %v: want rank 3 or more", x.Shape)
	}
	sx, zx, err := qParams(optIn(in, 1), optIn(in, 2), "x")
	if err != nil {
		return nil, err
	}
	sy, zy, err := qParams(optIn(in, 3), optIn(in, 4), "y")
	if err != nil {
		return nil, err
	}
	shape := x.Shape
	if op.channelsLast {
		xv, shape = qToChannelsFirst(xv, shape)
	}
	nc := shape[0] * shape[1]
	sp := tensor.NumElements(shape[2:])
	lo, hi, _ := qRange(x.DType)
	// One multiplier for the whole sum, as ONNX Runtime's kernel does.
	m := sx / (sy * float32(sp))
	d := make([]int32, nc)
	for i := range nc {
		var acc int64
		for _, v := range xv[i*sp : (i+1)*sp] {
			acc += int64(v)
		}
		acc -= int64(zx) * int64(sp)
		d[i] = qRound(float32(acc)*m, zy, lo, hi)
	}
	oshape := []int{shape[0], shape[1]}
	for range shape[2:] {
		oshape = append(oshape, 1)
	}
	if op.channelsLast {
		d, oshape = qToChannelsLast(d, oshape)
	}
	return []*tensor.Tensor{qFromInts(ctx, x.DType, oshape, d)}, nil
}

type qAvgPool struct {
	win          nnWindow
	includePad   bool
	channelsLast bool
}

func buildQLinearAveragePool(n *graph.Node, _ int) (Op, error) {
	w, err := nnParseWindow(n)
	if err != nil {
		return nil, err
	}
	if w.kernel == nil {
		return nil, fmt.Errorf("kernel_shape is required")
	}
	return &qAvgPool{win: w, includePad: n.AttrInt("count_include_pad", 0) != 0, channelsLast: n.AttrInt("channels_last", 0) != 0}, nil
}

// Run dequantizes, averages in float32 and quantizes, per the operator's
// definition.
func (op *qAvgPool) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := optIn(in, 0)
	xv, err := qInts(x, "X")
	if err != nil {
		return nil, err
	}
	if x.Rank() < 3 {
		return nil, fmt.Errorf("X %v: want rank 3 or more", x.Shape)
	}
	sx, zx, err := qParams(optIn(in, 1), optIn(in, 2), "x")
	if err != nil {
		return nil, err
	}
	sy, zy, err := qParams(optIn(in, 3), optIn(in, 4), "y")
	if err != nil {
		return nil, err
	}
	shape := x.Shape
	if op.channelsLast {
		xv, shape = qToChannelsFirst(xv, shape)
	}
	g, err := op.win.resolve(shape[2:], op.win.kernel)
	if err != nil {
		return nil, err
	}
	nc := shape[0] * shape[1]
	inVol, outVol := g.inVol(), g.outVol()
	lo, hi, _ := qRange(x.DType)
	d := make([]int32, nc*outVol)
	ctx.Parallel(nc, 1, func(a, b int) {
		for c := a; c < b; c++ {
			src := xv[c*inVol : (c+1)*inVol]
			for od := range g.out[0] {
				for oh := range g.out[1] {
					for ow := range g.out[2] {
						var sum float32
						count, padCount := 0, 1
						for ax, o := range [3]int{od, oh, ow} {
							// Window extent clipped to the padded input, for
							// count_include_pad.
							start := o*g.s[ax] - g.pb[ax]
							end := min(start+(g.k[ax]-1)*g.d[ax]+1, g.in[ax]+g.pe[ax])
							padCount *= (end - start + g.d[ax] - 1) / g.d[ax]
						}
						for kd := range g.k[0] {
							id := od*g.s[0] - g.pb[0] + kd*g.d[0]
							if id < 0 || id >= g.in[0] {
								continue
							}
							for kh := range g.k[1] {
								ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
								if ih < 0 || ih >= g.in[1] {
									continue
								}
								for kw := range g.k[2] {
									iw := ow*g.s[2] - g.pb[2] + kw*g.d[2]
									if iw < 0 || iw >= g.in[2] {
										continue
									}
									sum += float32(src[(id*g.in[1]+ih)*g.in[2]+iw]-zx) * sx
									count++
								}
							}
						}
						if op.includePad {
							count = padCount
						}
						var avg float32
						if count > 0 {
							avg = sum / float32(count)
						}
						d[c*outVol+(od*g.out[1]+oh)*g.out[2]+ow] = qRound(avg/sy, zy, lo, hi)
					}
				}
			}
		}
	})
	oshape := append([]int{shape[0], shape[1]}, g.outShape()...)
	if op.channelsLast {
		d, oshape = qToChannelsLast(d, oshape)
	}
	return []*tensor.Tensor{qFromInts(ctx, x.DType, oshape, d)}, nil
}

// qConcat is QLinearConcat: Y_scale, Y_zp, then (tensor, scale, zp) triples,
// each requantized to Y's parameters and joined along axis.
func qConcat(axis int) Op {
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 5 || (len(in)-2)%3 != 0 {
			return nil, fmt.Errorf("%d inputs: want Y_scale, Y_zero_point and (tensor, scale, zero point) triples", len(in))
		}
		sy, zy, err := qParams(in[0], in[1], "Y")
		if err != nil {
			return nil, err
		}
		first := in[2]
		if first == nil {
			return nil, fmt.Errorf("input 0 is missing")
		}
		dt := first.DType
		if in[1] != nil {
			dt = in[1].DType
		}
		lo, hi, ok := qRange(dt)
		if !ok || hi > 255 {
			return nil, fmt.Errorf("want 8-bit tensors, got %v", dt)
		}
		r := first.Rank()
		ax, err := nnNormAxis(axis, r)
		if err != nil {
			return nil, err
		}
		outer := tensor.NumElements(first.Shape[:ax])
		inner := tensor.NumElements(first.Shape[ax+1:])
		oshape := append([]int(nil), first.Shape...)
		oshape[ax] = 0
		type part struct {
			v   []int32
			dim int
		}
		var parts []part
		for i := 2; i < len(in); i += 3 {
			t := in[i]
			if t == nil || t.Rank() != r {
				return nil, fmt.Errorf("input %d: want rank %d", (i-2)/3, r)
			}
			for k := range r {
				if k != ax && t.Shape[k] != first.Shape[k] {
					return nil, fmt.Errorf("input %d shape %v does not match %v off axis %d", (i-2)/3, t.Shape, first.Shape, ax)
				}
			}
			if t.DType != dt {
				return nil, fmt.Errorf("input %d is %v, want %v", (i-2)/3, t.DType, dt)
			}
			v, err := qInts(t, "input")
			if err != nil {
				return nil, err
			}
			s, z, err := qParams(in[i+1], in[i+2], fmt.Sprintf("input %d", (i-2)/3))
			if err != nil {
				return nil, err
			}
			if s != sy || z != zy {
				var table [256]int32
				for q := lo; q <= hi; q++ {
					table[q-lo] = qRound(float32(q-z)*s/sy, zy, lo, hi)
				}
				rq := make([]int32, len(v))
				for j, q := range v {
					rq[j] = table[q-lo]
				}
				v = rq
			}
			parts = append(parts, part{v, t.Shape[ax]})
			oshape[ax] += t.Shape[ax]
		}
		d := make([]int32, tensor.NumElements(oshape))
		off := 0
		for o := range outer {
			for _, p := range parts {
				n := p.dim * inner
				copy(d[off:off+n], p.v[o*n:(o+1)*n])
				off += n
			}
		}
		return []*tensor.Tensor{qFromInts(ctx, dt, oshape, d)}, nil
	})
}

type qGemm struct {
	alpha          float32
	transA, transB bool
}

// transpose2 transposes an [r, c] int32 matrix.
func transpose2(v []int32, r, c int) []int32 {
	out := make([]int32, len(v))
	for i := range r {
		for j := range c {
			out[j*r+i] = v[i*c+j]
		}
	}
	return out
}

func (op *qGemm) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b := optIn(in, 0), optIn(in, 3)
	av, err := qInts(a, "A")
	if err != nil {
		return nil, err
	}
	bv, err := qInts(b, "B")
	if err != nil {
		return nil, err
	}
	if a.Rank() != 2 || b.Rank() != 2 {
		return nil, fmt.Errorf("A %v and B %v: want matrices", a.Shape, b.Shape)
	}
	as, bs := []int{a.Shape[0], a.Shape[1]}, []int{b.Shape[0], b.Shape[1]}
	if op.transA {
		av, as = transpose2(av, as[0], as[1]), []int{as[1], as[0]}
	}
	if op.transB {
		bv, bs = transpose2(bv, bs[0], bs[1]), []int{bs[1], bs[0]}
	}
	sa, za, err := qParams(optIn(in, 1), optIn(in, 2), "a")
	if err != nil {
		return nil, err
	}
	bzp, err := qOptInts(optIn(in, 5), "b_zero_point")
	if err != nil {
		return nil, err
	}
	r, err := qMatMul(ctx, &tensor.Tensor{Shape: as}, av, &tensor.Tensor{Shape: bs}, bv, []int32{za}, bzp)
	if err != nil {
		return nil, err
	}
	M, N := r.m, r.n
	sb, err := qFloats(optIn(in, 4), "b_scale")
	if err != nil {
		return nil, err
	}
	if sb, err = qVector(sb, N, 0, "b_scale"); err != nil {
		return nil, err
	}
	acc := r.acc
	if c := optIn(in, 6); c != nil {
		cv, err := qInts(c, "C")
		if err != nil || c.DType != tensor.Int32 {
			return nil, fmt.Errorf("C: want int32, got %v", c.DType)
		}
		if _, err := bcastShape(c.Shape, []int{M, N}); err != nil || len(c.Shape) > 2 {
			return nil, fmt.Errorf("C %v does not broadcast to [%d %d]", c.Shape, M, N)
		}
		for i, j := range bcastIndex(c.Shape, []int{M, N}) {
			acc[i] += cv[j]
		}
	}
	ys := optIn(in, 7)
	if ys == nil {
		out := ctx.NewTensor(tensor.Float, M, N)
		d := out.Float32()
		for i, v := range acc {
			d[i] = float32(v) * (op.alpha * sa * sb[i%N])
		}
		return []*tensor.Tensor{out}, nil
	}
	sy, zy, err := qParams(ys, optIn(in, 8), "y")
	if err != nil {
		return nil, err
	}
	dt := a.DType
	if z := optIn(in, 8); z != nil {
		dt = z.DType
	}
	rows := repeatF32(op.alpha*sa, M)
	t, err := qRequant(ctx, acc, []int{M, N}, M, N, rows, sb, sy, zy, dt)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{t}, nil
}

// qMatMulToFloat finishes MatMulIntegerToFloat and DynamicQuantizeMatMul:
// y = acc * a_scale * b_scale[col] + bias[col].
func qMatMulToFloat(ctx *Context, r *qMatMulResult, sa float32, sbT, biasT *tensor.Tensor) (*tensor.Tensor, error) {
	sb, err := qFloats(sbT, "b_scale")
	if err != nil {
		return nil, err
	}
	if sb, err = qVector(sb, r.n, 0, "b_scale"); err != nil {
		return nil, err
	}
	var bias []float32
	if biasT != nil {
		if bias, err = qFloats(biasT, "bias"); err != nil {
			return nil, err
		}
		if len(bias) != r.n {
			return nil, fmt.Errorf("bias %v: want [%d]", biasT.Shape, r.n)
		}
	}
	out := ctx.NewTensor(tensor.Float, r.shape...)
	d := out.Float32()
	for i, v := range r.acc {
		j := i % r.n
		d[i] = float32(v) * (sa * sb[j])
		if bias != nil {
			d[i] += bias[j]
		}
	}
	return out, nil
}

// matMulIntegerToFloat: A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias.
func matMulIntegerToFloat(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b := optIn(in, 0), optIn(in, 1)
	av, err := qInts(a, "A")
	if err != nil {
		return nil, err
	}
	bv, err := qInts(b, "B")
	if err != nil {
		return nil, err
	}
	sa, err := qFloats(optIn(in, 2), "a_scale")
	if err != nil {
		return nil, err
	}
	if len(sa) != 1 {
		return nil, fmt.Errorf("a_scale: want a scalar, got %d values", len(sa))
	}
	za, err := qScalarZP(optIn(in, 4), "a_zero_point")
	if err != nil {
		return nil, err
	}
	zb, err := qOptInts(optIn(in, 5), "b_zero_point")
	if err != nil {
		return nil, err
	}
	r, err := qMatMul(ctx, a, av, b, bv, []int32{za}, zb)
	if err != nil {
		return nil, err
	}
	y, err := qMatMulToFloat(ctx, r, sa[0], optIn(in, 3), optIn(in, 6))
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{y}, nil
}

// dynamicQuantizeMatMul: A (float), B, b_scale, b_zero_point, bias. A is
// quantized to uint8 as DynamicQuantizeLinear does.
func dynamicQuantizeMatMul(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	q, err := dynamicQuantizeLinear(ctx, in[:1])
	if err != nil {
		return nil, fmt.Errorf("A: %w", err)
	}
	b := optIn(in, 1)
	bv, err := qInts(b, "B")
	if err != nil {
		return nil, err
	}
	av, _ := qInts(q[0], "A")
	zb, err := qOptInts(optIn(in, 3), "b_zero_point")
	if err != nil {
		return nil, err
	}
	za := int32(q[2].Data.([]uint8)[0])
	r, err := qMatMul(ctx, q[0], av, b, bv, []int32{za}, zb)
	if err != nil {
		return nil, err
	}
	y, err := qMatMulToFloat(ctx, r, q[1].Float32()[0], optIn(in, 2), optIn(in, 4))
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{y}, nil
}

// qRequantTable maps every 8-bit value with parameters (s, z) to the
// nearest value with parameters (sy, zy).
func qRequantTable(s float32, z int32, sy float32, zy int32, lo, hi int32) *[256]int32 {
	var t [256]int32
	for q := lo; q <= hi; q++ {
		t[q-lo] = qRound(float32(q-z)*s/sy, zy, lo, hi)
	}
	return &t
}

// qlinearWhere is QLinearWhere: condition, X, x_scale, x_zp, Y, y_scale,
// y_zp, z_scale, z_zp; X and Y are requantized to Z's parameters.
func qlinearWhere(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	cond, x, y := optIn(in, 0), optIn(in, 1), optIn(in, 4)
	if cond == nil || cond.DType != tensor.Bool {
		return nil, fmt.Errorf("condition: want a bool tensor")
	}
	xv, err := qInts(x, "X")
	if err != nil {
		return nil, err
	}
	yv, err := qInts(y, "Y")
	if err != nil {
		return nil, err
	}
	if x.DType != y.DType {
		return nil, fmt.Errorf("X is %v but Y is %v", x.DType, y.DType)
	}
	lo, hi, _ := qRange(x.DType)
	if hi > 255 {
		return nil, fmt.Errorf("X: want an 8-bit type, got %v", x.DType)
	}
	sx, zx, err := qParams(optIn(in, 2), optIn(in, 3), "x")
	if err != nil {
		return nil, err
	}
	sy, zy, err := qParams(optIn(in, 5), optIn(in, 6), "y")
	if err != nil {
		return nil, err
	}
	sz, zz, err := qParams(optIn(in, 7), optIn(in, 8), "z")
	if err != nil {
		return nil, err
	}
	out, err := bcastShape(cond.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	tx, ty := qRequantTable(sx, zx, sz, zz, lo, hi), qRequantTable(sy, zy, sz, zz, lo, hi)
	ic, ix, iy := bcastIndex(cond.Shape, out), bcastIndex(x.Shape, out), bcastIndex(y.Shape, out)
	c := cond.Data.([]bool)
	d := make([]int32, tensor.NumElements(out))
	for i := range d {
		if c[ic[i]] {
			d[i] = tx[xv[ix[i]]-lo]
		} else {
			d[i] = ty[yv[iy[i]]-lo]
		}
	}
	return []*tensor.Tensor{qFromInts(ctx, x.DType, out, d)}, nil
}

// qSoftmax is QLinearSoftmax: dequantize, softmax in float, quantize. The
// exponentials come from a table over the 256 possible distances to the
// row maximum, so they are exact functions of the input like ONNX
// Runtime's; ONNX Runtime's fixed-point normalisation can still differ by
// one unit in the last place.
type qSoftmax struct {
	axis, opset int
}

func (op *qSoftmax) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := optIn(in, 0)
	xv, err := qInts(x, "X")
	if err != nil {
		return nil, err
	}
	lo, hi, _ := qRange(x.DType)
	if hi > 255 {
		return nil, fmt.Errorf("X: want an 8-bit type, got %v", x.DType)
	}
	sx, _, err := qParams(optIn(in, 1), optIn(in, 2), "x")
	if err != nil {
		return nil, err
	}
	sy, zy, err := qParams(optIn(in, 3), optIn(in, 4), "y")
	if err != nil {
		return nil, err
	}
	ax, err := nnNormAxis(op.axis, x.Rank())
	if err != nil {
		return nil, err
	}
	// Rows of length n, elements stride apart.
	var outer, n, inner int
	if op.opset < 13 {
		outer, n, inner = tensor.NumElements(x.Shape[:ax]), tensor.NumElements(x.Shape[ax:]), 1
	} else {
		outer, n, inner = tensor.NumElements(x.Shape[:ax]), x.Shape[ax], tensor.NumElements(x.Shape[ax+1:])
	}
	var table [256]float64
	for i := range table {
		table[i] = math.Exp(-float64(i) * float64(sx))
	}
	d := make([]int32, len(xv))
	for o := range outer {
		for k := range inner {
			base := o*n*inner + k
			m := lo
			for j := range n {
				m = max(m, xv[base+j*inner])
			}
			sum := 0.0
			for j := range n {
				sum += table[m-xv[base+j*inner]]
			}
			for j := range n {
				p := table[m-xv[base+j*inner]] / sum
				d[base+j*inner] = qRound(float32(p/float64(sy)), zy, lo, hi)
			}
		}
	}
	return []*tensor.Tensor{qFromInts(ctx, x.DType, x.Shape, d)}, nil
}
