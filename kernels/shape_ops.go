package kernels

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// Operators that only move elements: Reshape, Flatten, Squeeze, Unsqueeze,
// Transpose, Concat, Split, Slice, Expand, Tile, Shape and Size. Each computes
// an index map (or a block copy) and moves elements of any type.

func init() {
	register("Reshape", 1, buildReshape)
	register("Flatten", 1, buildFlatten)
	register("Squeeze", 1, buildSqueeze)
	register("Unsqueeze", 1, buildUnsqueeze)
	register("Transpose", 1, buildTranspose)
	register("Concat", 1, buildConcat)
	register("Split", 1, buildSplit)
	register("Slice", 1, buildSlice)
	register("Expand", 8, func(n *graph.Node, opset int) (Op, error) { return OpFunc(expand), nil })
	register("Tile", 6, func(n *graph.Node, opset int) (Op, error) { return OpFunc(tile), nil })
	register("Shape", 1, buildShape)
	register("Size", 1, func(n *graph.Node, opset int) (Op, error) {
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
			return tensor.FromInt64([]int64{int64(x.Len())}), nil
		}), nil
	})
}

func ints64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// reshapeTo resolves a Reshape target: 0 copies the input dimension (unless
// allowzero) and one -1 is inferred.
func reshapeTo(in []int, target []int, allowzero bool) ([]int, error) {
	out := make([]int, len(target))
	infer := -1
	known := 1
	for i, d := range target {
		switch {
		case d == 0 && !allowzero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v: 0 at %d beyond input rank %d", target, i, len(in))
			}
			out[i] = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("shape %v: invalid dimension %d", target, d)
		default:
			out[i] = d
		}
		known *= out[i]
	}
	total := tensor.NumElements(in)
	if infer >= 0 {
		if known == 0 {
			if total != 0 {
				return nil, fmt.Errorf("cannot infer -1 in %v for %d elements", target, total)
			}
			out[infer] = 0
		} else {
			if total%known != 0 {
				return nil, fmt.Errorf("cannot reshape %v to %v", in, target)
			}
			out[infer] = total / known
		}
	}
	if tensor.NumElements(out) != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, target)
	}
	return out, nil
}

func buildReshape(n *graph.Node, opset int) (Op, error) {
	allowzero := n.AttrInt("allowzero", 0) != 0
	attrShape := nnToInts(n.AttrInts("shape", nil))
	return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
		target := attrShape
		if opset >= 5 {
			if len(in) < 2 || in[1] == nil {
				return nil, fmt.Errorf("missing shape input")
			}
			var err error
			if target, err = asInts(in[1], "shape"); err != nil {
				return nil, err
			}
		}
		out, err := reshapeTo(in[0].Shape, target, allowzero)
		if err != nil {
			return nil, err
		}
		return reshaped(ctx, in[0], out), nil
	}), nil
}

func buildFlatten(n *graph.Node, opset int) (Op, error) {
	axis := int(n.AttrInt("axis", 1))
	return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
		r := len(x.Shape)
		a := axis
		if a < 0 {
			a += r
		}
		if a < 0 || a > r {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, r)
		}
		outer := tensor.NumElements(x.Shape[:a])
		return reshaped(ctx, x, []int{outer, tensor.NumElements(x.Shape[a:])}), nil
	}), nil
}

// axesArg returns the axes of Squeeze/Unsqueeze: the attribute before
// opset 13, the optional second input after.
func axesArg(attr []int, opset int, in []*tensor.Tensor) ([]int, error) {
	if opset < 13 {
		return attr, nil
	}
	if len(in) > 1 && in[1] != nil {
		return asInts(in[1], "axes")
	}
	return nil, nil
}

func buildSqueeze(n *graph.Node, opset int) (Op, error) {
	attr := nnToInts(n.AttrInts("axes", nil))
	return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		axes, err := axesArg(attr, opset, in)
		if err != nil {
			return nil, err
		}
		drop := make([]bool, len(x.Shape))
		if len(axes) == 0 {
			for i, d := range x.Shape {
				drop[i] = d == 1
			}
		}
		for _, a := range axes {
			v, err := nnNormAxis(a, len(x.Shape))
			if err != nil {
				return nil, err
			}
			if x.Shape[v] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, x.Shape[v])
			}
			drop[v] = true
		}
		out := []int{}
		for i, d := range x.Shape {
			if !drop[i] {
				out = append(out, d)
			}
		}
		return reshaped(ctx, x, out), nil
	}), nil
}

func buildUnsqueeze(n *graph.Node, opset int) (Op, error) {
	attr := nnToInts(n.AttrInts("axes", nil))
	return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		axes, err := axesArg(attr, opset, in)
		if err != nil {
			return nil, err
		}
		r := len(x.Shape) + len(axes)
		ins := make([]bool, r)
		for _, a := range axes {
			v, err := nnNormAxis(a, r)
			if err != nil {
				return nil, err
			}
			if ins[v] {
				return nil, fmt.Errorf("axis %d repeated", a)
			}
			ins[v] = true
		}
		out := make([]int, r)
		j := 0
		for i := range out {
			if ins[i] {
				out[i] = 1
			} else {
				out[i] = x.Shape[j]
				j++
			}
		}
		return reshaped(ctx, x, out), nil
	}), nil
}

// transposeIndex returns, for each output element of the transpose of
// shape by perm, its input offset, and the output shape.
func transposeIndex(shape, perm []int) ([]int, []int) {
	r := len(shape)
	out := make([]int, r)
	st := make([]int, r)
	in := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		in[i] = acc
		acc *= shape[i]
	}
	for i, p := range perm {
		out[i] = shape[p]
		st[i] = in[p]
	}
	n := tensor.NumElements(out)
	idx := make([]int, n)
	if n == 0 {
		return idx, out
	}
	c := make([]int, r)
	off := 0
	for i := range idx {
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			c[k]++
			off += st[k]
			if c[k] < out[k] {
				break
			}
			off -= st[k] * out[k]
			c[k] = 0
		}
	}
	return idx, out
}

func buildTranspose(n *graph.Node, opset int) (Op, error) {
	attr := nnToInts(n.AttrInts("perm", nil))
	return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
		r := len(x.Shape)
		perm := attr
		if len(perm) == 0 {
			perm = make([]int, r)
			for i := range perm {
				perm[i] = r - 1 - i
			}
		}
		if len(perm) != r {
			return nil, fmt.Errorf("perm %v for rank %d", perm, r)
		}
		seen := make([]bool, r)
		for _, p := range perm {
			if p < 0 || p >= r || seen[p] {
				return nil, fmt.Errorf("perm %v is not a permutation", perm)
			}
			seen[p] = true
		}
		if x.DType == tensor.Float {
			return transposeF32(ctx, x, perm), nil
		}
		idx, out := transposeIndex(x.Shape, perm)
		return takeTensor(ctx, x, idx, out), nil
	}), nil
}

// transposeF32 is the float32 transpose without an index map: rows of the
// output are filled with a strided read (the inner loop of attention's
// head split/merge).
func transposeF32(ctx *Context, x *tensor.Tensor, perm []int) *tensor.Tensor {
	r := len(x.Shape)
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		st[i] = acc
		acc *= x.Shape[i]
	}
	out := make([]int, r)
	ost := make([]int, r)
	for i, p := range perm {
		out[i] = x.Shape[p]
		ost[i] = st[p]
	}
	o := ctx.NewTensor(tensor.Float, out...)
	d, s := o.Float32(), x.Float32()
	if len(d) == 0 {
		return o
	}
	if r == 0 {
		d[0] = s[0]
		return o
	}
	L := out[r-1]
	ls := ost[r-1]
	rows := len(d) / L
	ctx.Parallel(rows, max(1, elemGrain/L), func(lo, hi int) {
		c := make([]int, r-1)
		off := 0
		rem := lo
		for k := r - 2; k >= 0; k-- {
			c[k] = rem % out[k]
			rem /= out[k]
			off += c[k] * ost[k]
		}
		for row := lo; row < hi; row++ {
			dr := d[row*L : row*L+L]
			if ls == 1 {
				copy(dr, s[off:off+L])
			} else {
				p := off
				for i := range dr {
					dr[i] = s[p]
					p += ls
				}
			}
			for k := r - 2; k >= 0; k-- {
				c[k]++
				off += ost[k]
				if c[k] < out[k] {
					break
				}
				off -= ost[k] * out[k]
				c[k] = 0
			}
		}
	})
	return o
}

func buildConcat(n *graph.Node, opset int) (Op, error) {
	if n.Attr("axis") == nil && opset >= 4 {
		return nil, fmt.Errorf("missing attribute axis")
	}
	axis := int(n.AttrInt("axis", 1))
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		var ts []*tensor.Tensor
		for _, t := range in {
			if t != nil {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("no inputs")
		}
		r := len(ts[0].Shape)
		ax, err := nnNormAxis(axis, r)
		if err != nil {
			return nil, err
		}
		out := append([]int{}, ts[0].Shape...)
		out[ax] = 0
		for i, t := range ts {
			if t.DType != ts[0].DType || len(t.Shape) != r {
				return nil, fmt.Errorf("input %d: %v does not match %v", i, t, ts[0])
			}
			for k := range r {
				if k != ax && t.Shape[k] != out[k] {
					return nil, fmt.Errorf("input %d: shape %v does not match %v off axis %d", i, t.Shape, ts[0].Shape, ax)
				}
			}
			out[ax] += t.Shape[ax]
		}
		o := ctx.newTensorFull(ts[0].DType, out...) // the inputs cover it
		outer := tensor.NumElements(out[:ax])
		orow := tensor.NumElements(out[ax:])
		pos := 0
		for _, t := range ts {
			row := tensor.NumElements(t.Shape[ax:])
			for a := range outer {
				copyBlock(o.Data, a*orow+pos, t.Data, a*row, row)
			}
			pos += row
		}
		return []*tensor.Tensor{o}, nil
	}), nil
}

// splitAxis copies the parts of x along axis with the given sizes.
func splitAxis(ctx *Context, x *tensor.Tensor, ax int, sizes []int) []*tensor.Tensor {
	outer := tensor.NumElements(x.Shape[:ax])
	inner := tensor.NumElements(x.Shape[ax+1:])
	row := x.Shape[ax] * inner
	var res []*tensor.Tensor
	pos := 0
	for _, s := range sizes {
		sh := append([]int{}, x.Shape...)
		sh[ax] = s
		o := ctx.NewTensor(x.DType, sh...)
		n := s * inner
		for a := range outer {
			copyBlock(o.Data, a*n, x.Data, a*row+pos, n)
		}
		pos += n
		res = append(res, o)
	}
	return res
}

func buildSplit(n *graph.Node, opset int) (Op, error) {
	axis := int(n.AttrInt("axis", 0))
	attrSplit := nnToInts(n.AttrInts("split", nil))
	numOut := int(n.AttrInt("num_outputs", 0))
	nOut := len(n.Outputs)
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		ax, err := nnNormAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		split := attrSplit
		if opset >= 13 {
			split = nil
			if len(in) > 1 && in[1] != nil {
				if split, err = asInts(in[1], "split"); err != nil {
					return nil, err
				}
			}
		}
		dim := x.Shape[ax]
		if len(split) == 0 {
			parts := nOut
			if opset >= 18 && numOut > 0 {
				parts = numOut
			}
			if parts <= 0 {
				return nil, fmt.Errorf("no outputs")
			}
			chunk := dim / parts
			if opset >= 18 {
				chunk = (dim + parts - 1) / parts
			} else if dim%parts != 0 {
				return nil, fmt.Errorf("axis of size %d does not split into %d equal parts", dim, parts)
			}
			for i := range parts {
				split = append(split, max(0, min(chunk, dim-i*chunk)))
			}
		}
		total := 0
		for _, s := range split {
			if s < 0 {
				return nil, fmt.Errorf("negative split %v", split)
			}
			total += s
		}
		if total != dim {
			return nil, fmt.Errorf("split %v does not sum to %d", split, dim)
		}
		return splitAxis(ctx, x, ax, split), nil
	}), nil
}

// sliceSpec resolves starts/ends/steps against a dimension the way numpy
// does, clamping out-of-range values.
func sliceRange(start, end, step, dim int) (int, int) {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start = max(0, min(start, dim))
		end = max(0, min(end, dim))
	} else {
		start = max(-1, min(start, dim-1))
		end = max(-1, min(end, dim-1))
	}
	return start, end
}

func buildSlice(n *graph.Node, opset int) (Op, error) {
	aStarts := nnToInts(n.AttrInts("starts", nil))
	aEnds := nnToInts(n.AttrInts("ends", nil))
	aAxes := nnToInts(n.AttrInts("axes", nil))
	return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		starts, ends, axes := aStarts, aEnds, aAxes
		var steps []int
		if opset >= 10 {
			get := func(i int, what string) ([]int, error) {
				if len(in) > i && in[i] != nil {
					return asInts(in[i], what)
				}
				return nil, nil
			}
			var err error
			if starts, err = get(1, "starts"); err != nil {
				return nil, err
			}
			if ends, err = get(2, "ends"); err != nil {
				return nil, err
			}
			if axes, err = get(3, "axes"); err != nil {
				return nil, err
			}
			if steps, err = get(4, "steps"); err != nil {
				return nil, err
			}
		}
		if len(starts) != len(ends) {
			return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
		}
		r := len(x.Shape)
		st := make([]int, r)
		en := append([]int{}, x.Shape...)
		sp := make([]int, r)
		for i := range sp {
			sp[i] = 1
		}
		for i := range starts {
			a := i
			if len(axes) > 0 {
				if len(axes) != len(starts) {
					return nil, fmt.Errorf("axes %v and starts %v differ in length", axes, starts)
				}
				a = axes[i]
			}
			ax, err := nnNormAxis(a, r)
			if err != nil {
				return nil, err
			}
			step := 1
			if len(steps) > 0 {
				step = steps[i]
			}
			if step == 0 {
				return nil, fmt.Errorf("step is 0")
			}
			st[ax], en[ax] = sliceRange(starts[i], ends[i], step, x.Shape[ax])
			sp[ax] = step
		}
		out := make([]int, r)
		for i := range out {
			if sp[i] > 0 {
				out[i] = max(0, (en[i]-st[i]+sp[i]-1)/sp[i])
			} else {
				out[i] = max(0, (st[i]-en[i]-sp[i]-1)/(-sp[i]))
			}
		}
		return takeTensor(ctx, x, stridedIndex(x.Shape, st, sp, out), out), nil
	}), nil
}

// stridedIndex lists the input offsets of the elements start + i*step for
// each output coordinate i.
func stridedIndex(shape, start, step, out []int) []int {
	r := len(shape)
	in := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		in[i] = acc
		acc *= shape[i]
	}
	n := tensor.NumElements(out)
	idx := make([]int, n)
	if n == 0 {
		return idx
	}
	off := 0
	st := make([]int, r)
	for i := range r {
		off += start[i] * in[i]
		st[i] = step[i] * in[i]
	}
	c := make([]int, r)
	for i := range idx {
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			c[k]++
			off += st[k]
			if c[k] < out[k] {
				break
			}
			off -= st[k] * out[k]
			c[k] = 0
		}
	}
	return idx
}

func expand(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("want 2 inputs")
	}
	shape, err := asInts(in[1], "shape")
	if err != nil {
		return nil, err
	}
	out, err := bcastShape(in[0].Shape, shape)
	if err != nil {
		return nil, err
	}
	x := in[0]
	o := ctx.NewTensor(x.DType, out...)
	if o.Len() == 0 {
		return []*tensor.Tensor{o}, nil
	}
	p := planRows([][]int{x.Shape}, out)
	L, s := p.inner, p.innerStride[0]
	p.each(0, o.Len()/L, func(row int, offs []int) {
		if s == 1 {
			copyBlock(o.Data, row*L, x.Data, offs[0], L)
		} else {
			fillBlock(o.Data, row*L, x.Data, offs[0], L)
		}
	})
	return []*tensor.Tensor{o}, nil
}

func tile(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("want 2 inputs")
	}
	x := in[0]
	reps, err := asInts(in[1], "repeats")
	if err != nil {
		return nil, err
	}
	if len(reps) != len(x.Shape) {
		return nil, fmt.Errorf("repeats %v for rank %d", reps, len(x.Shape))
	}
	r := len(x.Shape)
	out := make([]int, r)
	for i, d := range x.Shape {
		if reps[i] < 0 {
			return nil, fmt.Errorf("negative repeat %v", reps)
		}
		out[i] = d * reps[i]
	}
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		st[i] = acc
		acc *= x.Shape[i]
	}
	n := tensor.NumElements(out)
	idx := make([]int, n)
	c := make([]int, r)
	for i := range idx {
		off := 0
		for k := range r {
			off += (c[k] % x.Shape[k]) * st[k]
		}
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			c[k]++
			if c[k] < out[k] {
				break
			}
			c[k] = 0
		}
	}
	return []*tensor.Tensor{takeTensor(ctx, x, idx, out)}, nil
}

func buildShape(n *graph.Node, opset int) (Op, error) {
	start := int(n.AttrInt("start", 0))
	end, hasEnd := int(n.AttrInt("end", 0)), n.Attr("end") != nil
	return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
		r := len(x.Shape)
		s, e := start, r
		if hasEnd {
			e = end
		}
		if s < 0 {
			s += r
		}
		if e < 0 {
			e += r
		}
		s, e = max(0, min(s, r)), max(0, min(e, r))
		if e < s {
			e = s
		}
		v := ints64(x.Shape[s:e])
		return tensor.FromInt64(v, len(v)), nil
	}), nil
}
