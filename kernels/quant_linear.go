package kernels

import (
	"fmt"
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear.
//
// x / scale is computed in float32, as ONNX's reference does, so that values
// landing exactly on .5 round (half to even) the same way.

func init() {
	for _, v := range []int{10, 13, 19, 21} {
		register("QuantizeLinear", v, buildQuantizeLinear)
		register("DequantizeLinear", v, buildDequantizeLinear)
	}
	register("DynamicQuantizeLinear", 11, func(*graph.Node, int) (Op, error) {
		return OpFunc(dynamicQuantizeLinear), nil
	})
}

// qGrain is the smallest slice of elements worth a goroutine.
const qGrain = 1 << 15

type qdqOp struct {
	axis     int
	block    int
	saturate bool
	outType  tensor.DType // QuantizeLinear's output_dtype; 0 when not given
	perAxis  bool         // opset >= 13
}

func parseQDQ(n *graph.Node, opset int) (*qdqOp, error) {
	op := &qdqOp{
		axis:     int(n.AttrInt("axis", 1)),
		saturate: n.AttrInt("saturate", 1) != 0,
		perAxis:  opset >= 13,
	}
	if opset >= 21 {
		op.block = int(n.AttrInt("block_size", 0))
		op.outType = tensor.DType(n.AttrInt("output_dtype", 0))
		if op.block < 0 {
			return nil, fmt.Errorf("block_size %d must not be negative", op.block)
		}
	}
	return op, nil
}

func buildQuantizeLinear(n *graph.Node, opset int) (Op, error) {
	op, err := parseQDQ(n, opset)
	if err != nil {
		return nil, err
	}
	return OpFunc(op.quantize), nil
}

func buildDequantizeLinear(n *graph.Node, opset int) (Op, error) {
	op, err := parseQDQ(n, opset)
	if err != nil {
		return nil, err
	}
	return OpFunc(op.dequantize), nil
}

func (op *qdqOp) layout(x, scale *tensor.Tensor) (qLayout, error) {
	if !op.perAxis && scale.Len() != 1 {
		return qLayout{}, fmt.Errorf("scale %v: this opset allows only a per-tensor scale", scale.Shape)
	}
	l, err := newQLayout(x.Shape, scale.Shape, op.axis, op.block)
	if err != nil {
		return l, fmt.Errorf("scale: %w", err)
	}
	return l, nil
}

func optIn(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

func (op *qdqOp) quantize(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, scale, zp := optIn(in, 0), optIn(in, 1), optIn(in, 2)
	xs, err := qFloats(x, "x")
	if err != nil {
		return nil, err
	}
	ss, err := qFloats(scale, "y_scale")
	if err != nil {
		return nil, err
	}
	dt := tensor.Uint8
	if op.outType != 0 {
		dt = op.outType
	}
	if zp != nil {
		if op.outType != 0 && zp.DType != op.outType {
			return nil, fmt.Errorf("y_zero_point is %v but output_dtype is %v", zp.DType, op.outType)
		}
		dt = zp.DType
		if !slices.Equal(zp.Shape, scale.Shape) && !(zp.Len() == 1 && scale.Len() == 1) {
			return nil, fmt.Errorf("y_zero_point %v and y_scale %v differ in shape", zp.Shape, scale.Shape)
		}
	}
	l, err := op.layout(x, scale)
	if err != nil {
		return nil, err
	}
	if isFloat8(dt) {
		zf := make([]float32, scale.Len())
		if zp != nil {
			for i, b := range zp.Data.([]uint8) {
				zf[i] = float8ToFloat32(b, dt)
			}
		}
		out := ctx.NewTensor(dt, x.Shape...)
		d := out.Data.([]uint8)
		l.each(func(start, n, pb, ps int) {
			for j := range n {
				p := pb + j*ps
				d[start+j] = float32ToFloat8(xs[start+j]/ss[p]+zf[p], dt, op.saturate)
			}
		})
		return []*tensor.Tensor{out}, nil
	}
	lo, hi, ok := qRange(dt)
	if !ok || dt == tensor.Int32 {
		return nil, fmt.Errorf("output type %v not supported", dt)
	}
	zi := make([]int32, scale.Len())
	if zp != nil {
		if zi, err = qInts(zp, "y_zero_point"); err != nil {
			return nil, err
		}
	}
	if l.mode == 0 && (dt == tensor.Uint8 || dt == tensor.Int8) {
		// The activation path of QDQ models: no int32 intermediate, split
		// across threads.
		out := ctx.NewTensor(dt, x.Shape...)
		s, z := ss[0], zi[0]
		switch d := out.Data.(type) {
		case []uint8:
			ctx.Parallel(len(xs), qGrain, func(a, b int) {
				for i := a; i < b; i++ {
					d[i] = uint8(qRound(xs[i]/s, z, lo, hi))
				}
			})
		case []int8:
			ctx.Parallel(len(xs), qGrain, func(a, b int) {
				for i := a; i < b; i++ {
					d[i] = int8(qRound(xs[i]/s, z, lo, hi))
				}
			})
		}
		return []*tensor.Tensor{out}, nil
	}
	q := make([]int32, len(xs))
	l.each(func(start, n, pb, ps int) {
		for j := range n {
			p := pb + j*ps
			q[start+j] = qRound(xs[start+j]/ss[p], zi[p], lo, hi)
		}
	})
	return []*tensor.Tensor{qFromInts(ctx, dt, x.Shape, q)}, nil
}

func (op *qdqOp) dequantize(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, scale, zp := optIn(in, 0), optIn(in, 1), optIn(in, 2)
	if x == nil {
		return nil, fmt.Errorf("x: missing input")
	}
	ss, err := qFloats(scale, "x_scale")
	if err != nil {
		return nil, err
	}
	if zp != nil && zp.DType != x.DType {
		return nil, fmt.Errorf("x_zero_point is %v but x is %v", zp.DType, x.DType)
	}
	if zp != nil && zp.Len() != scale.Len() {
		return nil, fmt.Errorf("x_zero_point %v and x_scale %v differ in shape", zp.Shape, scale.Shape)
	}
	l, err := op.layout(x, scale)
	if err != nil {
		return nil, err
	}
	outT := ctx.NewTensor(tensor.Float, x.Shape...)
	out := outT.Float32()
	if isFloat8(x.DType) {
		xb := x.Data.([]uint8)
		zf := make([]float32, scale.Len())
		if zp != nil {
			for i, b := range zp.Data.([]uint8) {
				zf[i] = float8ToFloat32(b, x.DType)
			}
		}
		l.each(func(start, n, pb, ps int) {
			for j := range n {
				p := pb + j*ps
				out[start+j] = (float8ToFloat32(xb[start+j], x.DType) - zf[p]) * ss[p]
			}
		})
	} else if l.mode == 0 && (x.DType == tensor.Uint8 || x.DType == tensor.Int8) {
		// One table lookup per element for the 8-bit per-tensor case.
		z, err := qScalarZP(zp, "x_zero_point")
		if err != nil {
			return nil, err
		}
		var table [256]float32
		lo, _, _ := qRange(x.DType)
		for v := range int32(256) {
			table[v] = float32((v+lo)-z) * ss[0]
		}
		switch d := x.Data.(type) {
		case []uint8:
			ctx.Parallel(len(d), qGrain, func(a, b int) {
				for i := a; i < b; i++ {
					out[i] = table[d[i]]
				}
			})
		case []int8:
			ctx.Parallel(len(d), qGrain, func(a, b int) {
				for i := a; i < b; i++ {
					out[i] = table[uint8(int32(d[i])+128)]
				}
			})
		}
	} else {
		xi, err := qInts(x, "x")
		if err != nil {
			return nil, err
		}
		zi := make([]int32, scale.Len())
		if zp != nil {
			if zi, err = qInts(zp, "x_zero_point"); err != nil {
				return nil, err
			}
			if x.DType == tensor.Int32 {
				for _, z := range zi {
					if z != 0 {
						return nil, fmt.Errorf("x_zero_point must be 0 for int32 input, got %d", z)
					}
				}
			}
		}
		l.each(func(start, n, pb, ps int) {
			for j := range n {
				p := pb + j*ps
				// int64 so that int32 inputs cannot overflow when the zero
				// point is subtracted.
				out[start+j] = float32(int64(xi[start+j])-int64(zi[p])) * ss[p]
			}
		})
	}
	if scale.DType == tensor.Float {
		return []*tensor.Tensor{outT}, nil
	}
	t, err := qStoreFloats(ctx, scale.DType, x.Shape, out)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{t}, nil
}

// dynamicQuantizeLinear quantizes to uint8 with a range that always holds 0.
func dynamicQuantizeLinear(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := optIn(in, 0)
	if x == nil || x.DType != tensor.Float {
		return nil, fmt.Errorf("x: want float32")
	}
	xs := x.Float32()
	var lo, hi float32
	for _, v := range xs {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	scale := (hi - lo) / 255
	var zp int32
	if scale != 0 {
		zp = qRound(0-lo/scale, 0, 0, 255)
	}
	q := make([]int32, len(xs))
	if scale != 0 {
		for i, v := range xs {
			q[i] = qRound(v/scale, zp, 0, 255)
		}
	}
	s := ctx.NewTensor(tensor.Float)
	s.Float32()[0] = scale
	z := ctx.NewTensor(tensor.Uint8)
	z.Data.([]uint8)[0] = uint8(zp)
	return []*tensor.Tensor{qFromInts(ctx, tensor.Uint8, x.Shape, q), s, z}, nil
}
