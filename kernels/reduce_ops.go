package kernels

import (
	"fmt"
	"math"
	"sort"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// The Reduce* family, ArgMax/ArgMin, CumSum and TopK. Every reduction is
// brought to the shape [outer, reduced, inner] (transposing first when the
// reduced axes are not adjacent) and run by one typed kernel.

type reduceKind int

const (
	rdSum reduceKind = iota
	rdMean
	rdMax
	rdMin
	rdProd
	rdL1
	rdL2
	rdLogSum
	rdLogSumExp
	rdSumSquare
)

func init() {
	for _, r := range []struct {
		name      string
		k         reduceKind
		axesInput int // opset from which axes is an input
	}{
		{"ReduceSum", rdSum, 13}, {"ReduceMean", rdMean, 18}, {"ReduceMax", rdMax, 18}, {"ReduceMin", rdMin, 18},
		{"ReduceProd", rdProd, 18}, {"ReduceL1", rdL1, 18}, {"ReduceL2", rdL2, 18}, {"ReduceLogSum", rdLogSum, 18},
		{"ReduceLogSumExp", rdLogSumExp, 18}, {"ReduceSumSquare", rdSumSquare, 18},
	} {
		k, axesInput := r.k, r.axesInput
		register(r.name, 1, func(n *graph.Node, opset int) (Op, error) {
			keep := n.AttrInt("keepdims", 1) != 0
			noop := n.AttrInt("noop_with_empty_axes", 0) != 0
			attrAxes := nnToInts(n.AttrInts("axes", nil))
			fromInput := opset >= axesInput
			return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
				axes := attrAxes
				if fromInput {
					axes = nil
					if len(in) > 1 && in[1] != nil {
						var err error
						if axes, err = asInts(in[1], "axes"); err != nil {
							return nil, err
						}
					}
				}
				return reduce(ctx, k, in[0], axes, keep, noop && fromInput)
			}), nil
		})
	}
	register("ArgMax", 1, buildArg(true))
	register("ArgMin", 1, buildArg(false))
	register("CumSum", 11, buildCumSum)
	register("TopK", 1, buildTopK)
}

// unaryOpN adapts a function of all inputs (the first required) to Op.
func unaryOpN(f func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error)) Op {
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		t, err := f(ctx, in)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{t}, nil
	})
}

// normAxes maps axes into [0, rank), sorted, rejecting duplicates.
func normAxes(axes []int, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := map[int]bool{}
	for i, a := range axes {
		v, err := nnNormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[v] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[v] = true
		out[i] = v
	}
	sort.Ints(out)
	return out, nil
}

// reduceLayout prepares x for a reduction over axes: it returns the data
// (transposed when the axes are not adjacent), the [outer, reduced, inner]
// sizes, and the output shape.
func reduceLayout(x *tensor.Tensor, axes []int, keep bool) (data any, o, r, in int, out []int) {
	rank := len(x.Shape)
	red := make([]bool, rank)
	for _, a := range axes {
		red[a] = true
	}
	for i, d := range x.Shape {
		if red[i] {
			if keep {
				out = append(out, 1)
			}
		} else {
			out = append(out, d)
		}
	}
	if out == nil {
		out = []int{}
	}
	first, last := rank, -1
	for i := range rank {
		if red[i] && x.Shape[i] != 1 {
			first = min(first, i)
			last = max(last, i)
		}
	}
	adjacent := true
	for i := first; i <= last; i++ {
		if !red[i] && x.Shape[i] != 1 {
			adjacent = false
		}
	}
	o, r, in = 1, 1, 1
	if adjacent {
		for i, d := range x.Shape {
			switch {
			case red[i]:
				r *= d
			case i < first:
				o *= d
			default:
				in *= d
			}
		}
		if last < 0 { // only axes of size 1 are reduced
			o, in = x.Len(), 1
		}
		return x.Data, o, r, in, out
	}
	var perm []int
	for i := range rank {
		if !red[i] {
			perm = append(perm, i)
			o *= x.Shape[i]
		}
	}
	for i := range rank {
		if red[i] {
			perm = append(perm, i)
			r *= x.Shape[i]
		}
	}
	idx, _ := transposeIndex(x.Shape, perm)
	return takeAny(x.Data, idx), o, r, 1, out
}

// reduce runs a Reduce* operator. Empty axes reduce everything, or nothing
// when noop is set.
func reduce(ctx *Context, k reduceKind, x *tensor.Tensor, axes []int, keep, noop bool) (*tensor.Tensor, error) {
	if len(axes) == 0 {
		if noop {
			return cloneTensor(ctx, x), nil
		}
		axes = make([]int, len(x.Shape))
		for i := range axes {
			axes[i] = i
		}
	}
	axes, err := normAxes(axes, len(x.Shape))
	if err != nil {
		return nil, err
	}
	if isHalf(x.DType) {
		t, err := reduce(ctx, k, halfToF32(x), axes, keep, noop)
		if err != nil {
			return nil, err
		}
		return f32ToHalf(t, x.DType), nil
	}
	data, o, r, in, out := reduceLayout(x, axes, keep)
	res := ctx.NewTensor(x.DType, out...)
	switch s := data.(type) {
	case []float32:
		reduceOIR(ctx, k, res.Data.([]float32), s, o, r, in)
	case []float64:
		reduceOIR(ctx, k, res.Data.([]float64), s, o, r, in)
	case []int64:
		reduceOIR(ctx, k, res.Data.([]int64), s, o, r, in)
	case []int32:
		reduceOIR(ctx, k, res.Data.([]int32), s, o, r, in)
	case []uint64:
		reduceOIR(ctx, k, res.Data.([]uint64), s, o, r, in)
	case []uint32:
		reduceOIR(ctx, k, res.Data.([]uint32), s, o, r, in)
	case []int8:
		reduceOIR(ctx, k, res.Data.([]int8), s, o, r, in)
	case []uint8:
		reduceOIR(ctx, k, res.Data.([]uint8), s, o, r, in)
	default:
		return nil, fmt.Errorf("unsupported element type %v", x.DType)
	}
	return res, nil
}

// reduceOIR reduces src of shape [o, r, in] over r into d of [o, in],
// accumulating in float64.
func reduceOIR[T elemNum](ctx *Context, k reduceKind, d, src []T, o, r, in int) {
	if in == 1 && k != rdLogSumExp && r > 0 {
		reduceRows(ctx, k, d, src, o, r)
		return
	}
	ctx.Parallel(o, max(1, elemGrain/max(1, r*in)), func(lo, hi int) {
		acc := make([]float64, in)
		shift := make([]float64, in)
		for a := lo; a < hi; a++ {
			base := src[a*r*in : (a+1)*r*in]
			if k == rdLogSumExp {
				for j := range shift {
					shift[j] = math.Inf(-1)
				}
				for b := range r {
					row := base[b*in : (b+1)*in]
					for j, v := range row {
						shift[j] = math.Max(shift[j], float64(v))
					}
				}
				for j := range shift {
					if math.IsInf(shift[j], 0) {
						shift[j] = 0
					}
				}
			}
			var init float64
			switch k {
			case rdProd:
				init = 1
			case rdMax:
				init = math.Inf(-1)
			case rdMin:
				init = math.Inf(1)
			}
			for j := range acc {
				acc[j] = init
			}
			for b := range r {
				row := base[b*in : (b+1)*in]
				switch k {
				case rdSum, rdMean, rdLogSum:
					for j, v := range row {
						acc[j] += float64(v)
					}
				case rdMax:
					for j, v := range row {
						if f := float64(v); f > acc[j] || f != f {
							acc[j] = f
						}
					}
				case rdMin:
					for j, v := range row {
						if f := float64(v); f < acc[j] || f != f {
							acc[j] = f
						}
					}
				case rdProd:
					for j, v := range row {
						acc[j] *= float64(v)
					}
				case rdL1:
					for j, v := range row {
						acc[j] += math.Abs(float64(v))
					}
				case rdL2, rdSumSquare:
					for j, v := range row {
						f := float64(v)
						acc[j] += f * f
					}
				case rdLogSumExp:
					for j, v := range row {
						acc[j] += math.Exp(float64(v) - shift[j])
					}
				}
			}
			dst := d[a*in : (a+1)*in]
			for j, v := range acc {
				switch k {
				case rdMean:
					v /= float64(r)
				case rdL2:
					v = math.Sqrt(v)
				case rdLogSum:
					v = math.Log(v)
				case rdLogSumExp:
					v = math.Log(v) + shift[j]
				}
				if !isFloatType[T]() {
					if k == rdMax && r == 0 {
						v = minOf[T]()
					} else if k == rdMin && r == 0 {
						v = maxOf[T]()
					}
				}
				dst[j] = T(v)
			}
		}
	})
}

// reduceRows reduces contiguous rows of length r (the last-axis case of
// LayerNorm-style graphs) with the kind switch outside the element loop.
func reduceRows[T elemNum](ctx *Context, k reduceKind, d, src []T, o, r int) {
	ctx.Parallel(o, max(1, elemGrain/r), func(lo, hi int) {
		for a := lo; a < hi; a++ {
			row := src[a*r : (a+1)*r]
			var v float64
			switch k {
			case rdSum, rdMean, rdLogSum:
				for _, x := range row {
					v += float64(x)
				}
				switch k {
				case rdMean:
					v /= float64(r)
				case rdLogSum:
					v = math.Log(v)
				}
			case rdMax:
				v = float64(row[0])
				for _, x := range row[1:] {
					if f := float64(x); f > v || f != f {
						v = f
					}
				}
			case rdMin:
				v = float64(row[0])
				for _, x := range row[1:] {
					if f := float64(x); f < v || f != f {
						v = f
					}
				}
			case rdProd:
				v = 1
				for _, x := range row {
					v *= float64(x)
				}
			case rdL1:
				for _, x := range row {
					v += math.Abs(float64(x))
				}
			case rdL2, rdSumSquare:
				for _, x := range row {
					f := float64(x)
					v += f * f
				}
				if k == rdL2 {
					v = math.Sqrt(v)
				}
			}
			d[a] = T(v)
		}
	})
}

func minOf[T elemNum]() float64 {
	var z T
	switch any(z).(type) {
	case int8:
		return math.MinInt8
	case int16:
		return math.MinInt16
	case int32:
		return math.MinInt32
	case int64:
		return math.MinInt64
	}
	return 0
}

func maxOf[T elemNum]() float64 {
	var z T
	switch any(z).(type) {
	case int8:
		return math.MaxInt8
	case int16:
		return math.MaxInt16
	case int32:
		return math.MaxInt32
	case int64:
		return math.MaxInt64
	case uint8:
		return math.MaxUint8
	case uint16:
		return math.MaxUint16
	case uint32:
		return math.MaxUint32
	}
	return math.MaxUint64
}

// buildArg makes ArgMax or ArgMin: int64 indices of the first (or, with
// select_last_index, the last) extreme along axis.
func buildArg(isMax bool) Builder {
	return func(n *graph.Node, opset int) (Op, error) {
		axis := int(n.AttrInt("axis", 0))
		keep := n.AttrInt("keepdims", 1) != 0
		last := n.AttrInt("select_last_index", 0) != 0
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
			ax, err := nnNormAxis(axis, len(x.Shape))
			if err != nil {
				return nil, err
			}
			v, err := asFloat64s(x)
			if err != nil {
				return nil, err
			}
			o, r, in := splitAt(x.Shape, ax)
			if r == 0 {
				return nil, fmt.Errorf("axis %d has size 0", axis)
			}
			var out []int
			for i, d := range x.Shape {
				if i != ax {
					out = append(out, d)
				} else if keep {
					out = append(out, 1)
				}
			}
			res := ctx.NewTensor(tensor.Int64, out...)
			d := res.Int64()
			for a := range o {
				for j := range in {
					best, bi := v[a*r*in+j], 0
					for b := 1; b < r; b++ {
						f := v[(a*r+b)*in+j]
						better := f > best
						if !isMax {
							better = f < best
						}
						if better || (last && f == best) {
							best, bi = f, b
						}
					}
					d[a*in+j] = int64(bi)
				}
			}
			return res, nil
		}), nil
	}
}

// splitAt returns the sizes before, at and after axis.
func splitAt(shape []int, axis int) (o, r, in int) {
	o, in = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			o *= d
		case i > axis:
			in *= d
		}
	}
	return o, shape[axis], in
}

func buildCumSum(n *graph.Node, opset int) (Op, error) {
	excl := n.AttrInt("exclusive", 0) != 0
	rev := n.AttrInt("reverse", 0) != 0
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 2 || in[0] == nil || in[1] == nil {
			return nil, fmt.Errorf("want 2 inputs")
		}
		x := in[0]
		av, err := asInts(in[1], "axis")
		if err != nil || len(av) != 1 {
			return nil, fmt.Errorf("axis: want an integer scalar")
		}
		ax, err := nnNormAxis(av[0], len(x.Shape))
		if err != nil {
			return nil, err
		}
		o, r, inner := splitAt(x.Shape, ax)
		res := ctx.NewTensor(x.DType, x.Shape...)
		switch s := x.Data.(type) {
		case []float32:
			cumsum(res.Data.([]float32), s, o, r, inner, excl, rev)
		case []float64:
			cumsum(res.Data.([]float64), s, o, r, inner, excl, rev)
		case []int64:
			cumsum(res.Data.([]int64), s, o, r, inner, excl, rev)
		case []int32:
			cumsum(res.Data.([]int32), s, o, r, inner, excl, rev)
		case []uint64:
			cumsum(res.Data.([]uint64), s, o, r, inner, excl, rev)
		case []uint32:
			cumsum(res.Data.([]uint32), s, o, r, inner, excl, rev)
		default:
			return nil, fmt.Errorf("unsupported element type %v", x.DType)
		}
		return []*tensor.Tensor{res}, nil
	}), nil
}

func cumsum[T elemNum](d, s []T, o, r, in int, excl, rev bool) {
	for a := range o {
		for j := range in {
			var acc T
			for step := range r {
				b := step
				if rev {
					b = r - 1 - step
				}
				i := (a*r+b)*in + j
				if excl {
					d[i] = acc
					acc += s[i]
				} else {
					acc += s[i]
					d[i] = acc
				}
			}
		}
	}
}

// buildTopK returns the k largest (or smallest) elements along an axis and
// their int64 indices; equal values keep the lower index first.
func buildTopK(n *graph.Node, opset int) (Op, error) {
	axis := int(n.AttrInt("axis", -1))
	largest := n.AttrInt("largest", 1) != 0
	attrK := int(n.AttrInt("k", -1))
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		k := attrK
		if opset >= 10 {
			if len(in) < 2 || in[1] == nil {
				return nil, fmt.Errorf("missing input K")
			}
			kv, err := asInts(in[1], "K")
			if err != nil || len(kv) != 1 {
				return nil, fmt.Errorf("K: want one integer")
			}
			k = kv[0]
		}
		ax, err := nnNormAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		o, r, inner := splitAt(x.Shape, ax)
		if k < 0 || k > r {
			return nil, fmt.Errorf("k=%d out of range for axis of size %d", k, r)
		}
		v, err := asFloat64s(x)
		if err != nil {
			return nil, err
		}
		out := append([]int{}, x.Shape...)
		out[ax] = k
		src := make([]int, o*k*inner)
		ind := ctx.NewTensor(tensor.Int64, out...)
		id := ind.Int64()
		order := make([]int, r)
		for a := range o {
			for j := range inner {
				for b := range order {
					order[b] = b
				}
				at := func(b int) float64 { return v[(a*r+b)*inner+j] }
				sort.SliceStable(order, func(p, q int) bool {
					x, y := at(order[p]), at(order[q])
					if largest {
						return x > y || (y != y && x == x)
					}
					return x < y || (y != y && x == x)
				})
				for c := range k {
					i := (a*k+c)*inner + j
					id[i] = int64(order[c])
					src[i] = (a*r+order[c])*inner + j
				}
			}
		}
		return []*tensor.Tensor{takeTensor(ctx, x, src, out), ind}, nil
	}), nil
}
