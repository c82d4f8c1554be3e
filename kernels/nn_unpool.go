package kernels

import (
	"fmt"
	"math"
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("MaxUnpool", 9, buildMaxUnpool)
	register("LpNormalization", 1, buildLpNorm)
}

type maxUnpoolOp struct{ win nnWindow }

func buildMaxUnpool(n *graph.Node, opset int) (Op, error) {
	w, err := nnParseWindow(n)
	if err != nil {
		return nil, err
	}
	if w.kernel == nil {
		return nil, fmt.Errorf("MaxUnpool: kernel_shape is required")
	}
	return &maxUnpoolOp{win: w}, nil
}

// Run scatters X into a zero tensor at the flat positions I that MaxPool
// reported.
func (o *maxUnpoolOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MaxUnpool: want X and I")
	}
	x, ind := in[0], in[1]
	if err := nnCheckFloat(x, "MaxUnpool X"); err != nil {
		return nil, err
	}
	if x.Rank() < 3 || !slices.Equal(ind.Shape, x.Shape) {
		return nil, fmt.Errorf("MaxUnpool: X %v and I %v must have the same shape of rank >= 3", x.Shape, ind.Shape)
	}
	idx, err := nnInts(ind)
	if err != nil {
		return nil, fmt.Errorf("MaxUnpool I: %w", err)
	}
	nd := x.Rank() - 2
	if len(o.win.kernel) != nd {
		return nil, fmt.Errorf("MaxUnpool: kernel_shape %v for %d spatial dims", o.win.kernel, nd)
	}
	// the indices address the inferred shape; an explicit output_shape
	// pads that result with zeros at the end, as ONNX's reference does
	def := []int{x.Shape[0], x.Shape[1]}
	for i := range nd {
		s, pb, pe := 1, 0, 0
		if o.win.strides != nil {
			s = o.win.strides[i]
		}
		if o.win.pads != nil {
			pb, pe = o.win.pads[i], o.win.pads[nd+i]
		}
		def = append(def, (x.Shape[2+i]-1)*s+o.win.kernel[i]-pb-pe)
	}
	shape := def
	if len(in) > 2 && in[2] != nil {
		if shape, err = nnInts(in[2]); err != nil {
			return nil, fmt.Errorf("MaxUnpool output_shape: %w", err)
		}
		if len(shape) != x.Rank() {
			return nil, fmt.Errorf("MaxUnpool: output_shape %v, want rank %d", shape, x.Rank())
		}
		for i := range shape {
			if shape[i] < def[i] {
				return nil, fmt.Errorf("MaxUnpool: output_shape %v smaller than the inferred %v", shape, def)
			}
		}
	}
	// map a flat index of the inferred shape into the output shape
	same := slices.Equal(shape, def)
	remap := func(k int) int {
		if same {
			return k
		}
		out, mul := 0, 1
		for a := len(def) - 1; a >= 0; a-- {
			out += (k % def[a]) * mul
			k /= def[a]
			mul *= shape[a]
		}
		return out
	}
	dtotal := tensor.NumElements(def)
	for i, k := range idx {
		if k < 0 || k >= dtotal {
			return nil, fmt.Errorf("MaxUnpool: index %d out of range [0, %d)", k, dtotal)
		}
		idx[i] = remap(k)
	}
	y := ctx.NewTensor(x.DType, shape...)
	switch yd := y.Data.(type) {
	case []float32:
		nnScatter(yd, x.Data.([]float32), idx)
	case []float64:
		nnScatter(yd, x.Data.([]float64), idx)
	}
	return []*tensor.Tensor{y}, nil
}

func nnScatter[T nnFloat](y, x []T, idx []int) {
	clear(y)
	for i, k := range idx {
		y[k] = x[i]
	}
}

type lpNormOp struct{ axis, p int }

func buildLpNorm(n *graph.Node, opset int) (Op, error) {
	p := int(n.AttrInt("p", 2))
	if p != 1 && p != 2 {
		return nil, fmt.Errorf("LpNormalization: p must be 1 or 2, got %d", p)
	}
	return &lpNormOp{axis: int(n.AttrInt("axis", -1)), p: p}, nil
}

func (o *lpNormOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("LpNormalization: missing input")
	}
	if err := nnCheckFloat(in[0], "LpNormalization input"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return lpNormRun[float64](o, ctx, in[0])
	}
	return lpNormRun[float32](o, ctx, in[0])
}

func lpNormRun[T nnFloat](o *lpNormOp, ctx *Context, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	axis, err := nnNormAxis(o.axis, max(x.Rank(), 1))
	if err != nil {
		return nil, fmt.Errorf("LpNormalization: %w", err)
	}
	shape := x.Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	outer, n, inner := tensor.NumElements(shape[:axis]), shape[axis], tensor.NumElements(shape[axis+1:])
	xd := x.Data.([]T)
	y := ctx.NewTensor(x.DType, x.Shape...)
	yd := y.Data.([]T)
	for l := range outer * inner {
		base := (l/inner)*n*inner + l%inner
		var s float64
		for i := range n {
			v := float64(xd[base+i*inner])
			if o.p == 1 {
				s += math.Abs(v)
			} else {
				s += v * v
			}
		}
		if o.p == 2 {
			s = math.Sqrt(s)
		}
		for i := range n {
			if s == 0 {
				yd[base+i*inner] = 0
			} else {
				yd[base+i*inner] = T(float64(xd[base+i*inner]) / s)
			}
		}
	}
	return []*tensor.Tensor{y}, nil
}
