package kernels

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// Indexing operators: Gather, GatherElements, GatherND, ScatterElements
// (and the opset 9 Scatter), ScatterND, Pad, NonZero, Trilu, OneHot,
// Compress, ReverseSequence, Unique and Det.

func init() {
	register("Gather", 1, func(n *graph.Node, opset int) (Op, error) {
		axis := int(n.AttrInt("axis", 0))
		return binaryOp(func(ctx *Context, x, ind *tensor.Tensor) (*tensor.Tensor, error) { return gather(ctx, x, ind, axis) }), nil
	})
	register("GatherElements", 11, func(n *graph.Node, opset int) (Op, error) {
		axis := int(n.AttrInt("axis", 0))
		return binaryOp(func(ctx *Context, x, ind *tensor.Tensor) (*tensor.Tensor, error) {
			return gatherElements(ctx, x, ind, axis)
		}), nil
	})
	register("GatherND", 11, func(n *graph.Node, opset int) (Op, error) {
		b := int(n.AttrInt("batch_dims", 0))
		return binaryOp(func(ctx *Context, x, ind *tensor.Tensor) (*tensor.Tensor, error) { return gatherND(ctx, x, ind, b) }), nil
	})
	scatterEl := func(n *graph.Node, opset int) (Op, error) {
		axis := int(n.AttrInt("axis", 0))
		red := n.AttrString("reduction", "none")
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
				return nil, fmt.Errorf("want 3 inputs")
			}
			t, err := scatterElements(ctx, in[0], in[1], in[2], axis, red)
			return []*tensor.Tensor{t}, err
		}), nil
	}
	register("Scatter", 9, scatterEl)
	register("ScatterElements", 11, scatterEl)
	register("ScatterND", 11, func(n *graph.Node, opset int) (Op, error) {
		red := n.AttrString("reduction", "none")
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
				return nil, fmt.Errorf("want 3 inputs")
			}
			t, err := scatterND(ctx, in[0], in[1], in[2], red)
			return []*tensor.Tensor{t}, err
		}), nil
	})
	register("Pad", 1, buildPad)
	register("NonZero", 9, func(n *graph.Node, opset int) (Op, error) { return unaryOp(nonZero), nil })
	register("Trilu", 14, buildTrilu)
	register("OneHot", 9, buildOneHot)
	register("Compress", 9, buildCompress)
	register("ReverseSequence", 10, buildReverseSequence)
	register("Unique", 11, buildUnique)
	register("Det", 11, func(n *graph.Node, opset int) (Op, error) { return unaryOp(det), nil })
}

func strides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// fixIndex maps a possibly negative index into [0, dim) or reports it.
func fixIndex(i, dim int) (int, error) {
	if i < -dim || i >= dim {
		return 0, fmt.Errorf("index %d out of range for dimension of size %d", i, dim)
	}
	if i < 0 {
		i += dim
	}
	return i, nil
}

func gather(ctx *Context, x, ind *tensor.Tensor, axis int) (*tensor.Tensor, error) {
	ax, err := nnNormAxis(axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	iv, err := asInts(ind, "indices")
	if err != nil {
		return nil, err
	}
	o, dim, inner := splitAt(x.Shape, ax)
	out := append(append(append([]int{}, x.Shape[:ax]...), ind.Shape...), x.Shape[ax+1:]...)
	for k, v := range iv {
		if iv[k], err = fixIndex(v, dim); err != nil {
			return nil, err
		}
	}
	if inner >= 16 {
		// rows long enough (embedding lookups) are copied as blocks
		res := ctx.NewTensor(x.DType, out...)
		p := 0
		for a := range o {
			for _, v := range iv {
				base := (a*dim + v) * inner
				copyBlock(res.Data, p, x.Data, base, inner)
				p += inner
			}
		}
		return res, nil
	}
	idx := make([]int, 0, o*len(iv)*inner)
	for a := range o {
		for _, v := range iv {
			base := (a*dim + v) * inner
			for j := range inner {
				idx = append(idx, base+j)
			}
		}
	}
	return takeTensor(ctx, x, idx, out), nil
}

// forEachCoord calls f with the coordinates of every element of shape in
// row-major order (the slice is reused).
func forEachCoord(shape []int, f func(i int, c []int) error) error {
	n := tensor.NumElements(shape)
	c := make([]int, len(shape))
	for i := range n {
		if err := f(i, c); err != nil {
			return err
		}
		for k := len(shape) - 1; k >= 0; k-- {
			c[k]++
			if c[k] < shape[k] {
				break
			}
			c[k] = 0
		}
	}
	return nil
}

// elementIndex maps each element of indices (shape ish) to an offset in x:
// the element's coordinates with the axis coordinate replaced by its value.
func elementIndex(xs, ish []int, iv []int, ax int) ([]int, error) {
	if len(ish) != len(xs) {
		return nil, fmt.Errorf("indices rank %d differs from data rank %d", len(ish), len(xs))
	}
	st := strides(xs)
	idx := make([]int, len(iv))
	err := forEachCoord(ish, func(i int, c []int) error {
		v, err := fixIndex(iv[i], xs[ax])
		if err != nil {
			return err
		}
		off := 0
		for k, ck := range c {
			if k == ax {
				ck = v
			} else if ck >= xs[k] {
				return fmt.Errorf("indices shape %v exceeds data shape %v", ish, xs)
			}
			off += ck * st[k]
		}
		idx[i] = off
		return nil
	})
	return idx, err
}

func gatherElements(ctx *Context, x, ind *tensor.Tensor, axis int) (*tensor.Tensor, error) {
	ax, err := nnNormAxis(axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	iv, err := asInts(ind, "indices")
	if err != nil {
		return nil, err
	}
	idx, err := elementIndex(x.Shape, ind.Shape, iv, ax)
	if err != nil {
		return nil, err
	}
	return takeTensor(ctx, x, idx, ind.Shape), nil
}

// ndIndex resolves GatherND/ScatterND indices: for every index tuple, the
// offset of the addressed slice in data, and the slice size.
func ndIndex(xs []int, ind *tensor.Tensor, batch int) (offs []int, slice int, err error) {
	iv, err := asInts(ind, "indices")
	if err != nil {
		return nil, 0, err
	}
	q := len(ind.Shape)
	if q < 1 {
		return nil, 0, fmt.Errorf("indices must have rank >= 1")
	}
	k := ind.Shape[q-1]
	if batch+k > len(xs) {
		return nil, 0, fmt.Errorf("index tuples of %d with %d batch dims exceed data rank %d", k, batch, len(xs))
	}
	for i := range batch {
		if ind.Shape[i] != xs[i] {
			return nil, 0, fmt.Errorf("batch dimension %d differs: %d vs %d", i, ind.Shape[i], xs[i])
		}
	}
	st := strides(xs)
	slice = tensor.NumElements(xs[batch+k:])
	batchSize := tensor.NumElements(xs[batch:])
	tuples := tensor.NumElements(ind.Shape[:q-1])
	perBatch := max(1, tuples/max(1, tensor.NumElements(ind.Shape[:batch])))
	offs = make([]int, tuples)
	for t := range tuples {
		off := (t / perBatch) * batchSize
		if tensor.NumElements(ind.Shape[:batch]) == 0 {
			off = 0
		}
		for j := range k {
			v, err := fixIndex(iv[t*k+j], xs[batch+j])
			if err != nil {
				return nil, 0, err
			}
			off += v * st[batch+j]
		}
		offs[t] = off
	}
	return offs, slice, nil
}

func gatherND(ctx *Context, x, ind *tensor.Tensor, batch int) (*tensor.Tensor, error) {
	offs, slice, err := ndIndex(x.Shape, ind, batch)
	if err != nil {
		return nil, err
	}
	q := len(ind.Shape)
	out := append(append([]int{}, ind.Shape[:q-1]...), x.Shape[batch+ind.Shape[q-1]:]...)
	idx := make([]int, 0, len(offs)*slice)
	for _, o := range offs {
		for j := range slice {
			idx = append(idx, o+j)
		}
	}
	return takeTensor(ctx, x, idx, out), nil
}

// scatterInto writes updates (in order) to out at offsets dst, combining
// with the existing value by reduction.
func scatterInto(out, upd *tensor.Tensor, dst []int, red string) error {
	if out.DType != upd.DType {
		return fmt.Errorf("updates type %v differs from data type %v", upd.DType, out.DType)
	}
	if red == "none" || red == "" {
		switch d := out.Data.(type) {
		case []bool:
			s := upd.Data.([]bool)
			for i, o := range dst {
				d[o] = s[i]
			}
			return nil
		case []string:
			s := upd.Data.([]string)
			for i, o := range dst {
				d[o] = s[i]
			}
			return nil
		}
	}
	switch d := out.Data.(type) {
	case []float32:
		return scatterT(d, upd.Data.([]float32), dst, red)
	case []float64:
		return scatterT(d, upd.Data.([]float64), dst, red)
	case []int64:
		return scatterT(d, upd.Data.([]int64), dst, red)
	case []int32:
		return scatterT(d, upd.Data.([]int32), dst, red)
	case []int16:
		return scatterT(d, upd.Data.([]int16), dst, red)
	case []int8:
		return scatterT(d, upd.Data.([]int8), dst, red)
	case []uint8:
		return scatterT(d, upd.Data.([]uint8), dst, red)
	case []uint16:
		if isHalf(out.DType) && red != "none" {
			return fmt.Errorf("reduction %q on %v not supported", red, out.DType)
		}
		return scatterT(d, upd.Data.([]uint16), dst, red)
	case []uint32:
		return scatterT(d, upd.Data.([]uint32), dst, red)
	case []uint64:
		return scatterT(d, upd.Data.([]uint64), dst, red)
	}
	return fmt.Errorf("unsupported element type %v", out.DType)
}

func scatterT[T elemNum](d, s []T, dst []int, red string) error {
	switch red {
	case "", "none":
		for i, o := range dst {
			d[o] = s[i]
		}
	case "add":
		for i, o := range dst {
			d[o] += s[i]
		}
	case "mul":
		for i, o := range dst {
			d[o] *= s[i]
		}
	case "max":
		for i, o := range dst {
			d[o] = max(d[o], s[i])
		}
	case "min":
		for i, o := range dst {
			d[o] = min(d[o], s[i])
		}
	default:
		return fmt.Errorf("unknown reduction %q", red)
	}
	return nil
}

func scatterElements(ctx *Context, x, ind, upd *tensor.Tensor, axis int, red string) (*tensor.Tensor, error) {
	ax, err := nnNormAxis(axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	iv, err := asInts(ind, "indices")
	if err != nil {
		return nil, err
	}
	if !slices.Equal(ind.Shape, upd.Shape) {
		return nil, fmt.Errorf("indices shape %v differs from updates shape %v", ind.Shape, upd.Shape)
	}
	dst, err := elementIndex(x.Shape, ind.Shape, iv, ax)
	if err != nil {
		return nil, err
	}
	out := cloneTensor(ctx, x)
	return out, scatterInto(out, upd, dst, red)
}

func scatterND(ctx *Context, x, ind, upd *tensor.Tensor, red string) (*tensor.Tensor, error) {
	offs, slice, err := ndIndex(x.Shape, ind, 0)
	if err != nil {
		return nil, err
	}
	if upd.Len() != len(offs)*slice {
		return nil, fmt.Errorf("updates shape %v does not match %d slices of %d", upd.Shape, len(offs), slice)
	}
	dst := make([]int, 0, upd.Len())
	for _, o := range offs {
		for j := range slice {
			dst = append(dst, o+j)
		}
	}
	out := cloneTensor(ctx, x)
	return out, scatterInto(out, upd, dst, red)
}

// buildPad reads pads and the constant from attributes before opset 11 and
// from inputs after; opset 18 adds the axes input, 19 the wrap mode.
func buildPad(n *graph.Node, opset int) (Op, error) {
	mode := n.AttrString("mode", "constant")
	switch mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	attrPads := nnToInts(n.AttrInts("pads", n.AttrInts("paddings", nil)))
	attrValue := float64(n.AttrFloat("value", 0))
	return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		r := len(x.Shape)
		pads := attrPads
		var value *tensor.Tensor
		var axes []int
		if opset >= 11 {
			if len(in) < 2 || in[1] == nil {
				return nil, fmt.Errorf("missing pads input")
			}
			var err error
			if pads, err = asInts(in[1], "pads"); err != nil {
				return nil, err
			}
			if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
				value = in[2]
			}
			if len(in) > 3 && in[3] != nil {
				if axes, err = asInts(in[3], "axes"); err != nil {
					return nil, err
				}
			}
		} else if attrValue != 0 {
			var err error
			if value, err = fromFloat64s([]float64{attrValue}, x.DType, nil); err != nil {
				return nil, err
			}
		}
		pb, pe := make([]int, r), make([]int, r)
		if axes == nil {
			if len(pads) != 2*r {
				return nil, fmt.Errorf("pads %v: want %d values for rank %d", pads, 2*r, r)
			}
			copy(pb, pads[:r])
			copy(pe, pads[r:])
		} else {
			if len(pads) != 2*len(axes) {
				return nil, fmt.Errorf("pads %v: want %d values for axes %v", pads, 2*len(axes), axes)
			}
			for i, a := range axes {
				ax, err := nnNormAxis(a, r)
				if err != nil {
					return nil, err
				}
				pb[ax], pe[ax] = pads[i], pads[len(axes)+i]
			}
		}
		out := make([]int, r)
		for i, d := range x.Shape {
			out[i] = d + pb[i] + pe[i]
			if out[i] < 0 {
				return nil, fmt.Errorf("pads %v crop below zero", pads)
			}
			if mode != "constant" && d+min(0, pb[i])+min(0, pe[i]) <= 0 && out[i] > 0 {
				return nil, fmt.Errorf("%s padding of an empty axis", mode)
			}
		}
		st := strides(x.Shape)
		idx := make([]int, tensor.NumElements(out))
		var fill []int
		_ = forEachCoord(out, func(i int, c []int) error {
			off := 0
			for k, ck := range c {
				// Negative pads crop first; the modes then work on the
				// cropped region [lo, lo+d).
				lo := max(0, -pb[k])
				d := x.Shape[k] - lo - max(0, -pe[k])
				s := ck - max(0, pb[k])
				if s < 0 || s >= d {
					switch mode {
					case "constant":
						off = -1
					case "edge":
						s = max(0, min(s, d-1))
					case "wrap":
						s = ((s % d) + d) % d
					case "reflect":
						if d == 1 {
							s = 0
						} else {
							p := 2 * (d - 1)
							s = ((s % p) + p) % p
							if s >= d {
								s = p - s
							}
						}
					}
				}
				if off < 0 {
					break
				}
				off += (s + lo) * st[k]
			}
			idx[i] = off
			if off < 0 {
				fill = append(fill, i)
			}
			return nil
		})
		t := takeTensor(ctx, x, idx, out)
		if value != nil && len(fill) > 0 {
			if value.DType != x.DType {
				return nil, fmt.Errorf("constant_value type %v differs from data type %v", value.DType, x.DType)
			}
			vi := make([]int, len(fill))
			scatterInto(t, takeTensor(ctx, value, vi, []int{len(fill)}), fill, "none")
		}
		return t, nil
	}), nil
}

func nonZero(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	v, err := asFloat64s(x)
	if err != nil {
		return nil, err
	}
	r := len(x.Shape)
	var coords [][]int
	_ = forEachCoord(x.Shape, func(i int, c []int) error {
		if v[i] != 0 {
			coords = append(coords, append([]int{}, c...))
		}
		return nil
	})
	nz := len(coords)
	if r == 0 {
		// a nonzero scalar has one (empty) coordinate
		return tensor.FromInt64([]int64{}, 0, nz), nil
	}
	d := make([]int64, r*nz)
	for j, c := range coords {
		for k := range r {
			d[k*nz+j] = int64(c[k])
		}
	}
	return tensor.FromInt64(d, r, nz), nil
}

func buildTrilu(n *graph.Node, opset int) (Op, error) {
	upper := n.AttrInt("upper", 1) != 0
	return unaryOpN(func(ctx *Context, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		k := 0
		if len(in) > 1 && in[1] != nil {
			kv, err := asInts(in[1], "k")
			if err != nil || len(kv) != 1 {
				return nil, fmt.Errorf("k: want an integer scalar")
			}
			k = kv[0]
		}
		r := len(x.Shape)
		if r < 2 {
			return nil, fmt.Errorf("want rank >= 2, got %v", x.Shape)
		}
		rows, cols := x.Shape[r-2], x.Shape[r-1]
		idx := make([]int, x.Len())
		for i := range idx {
			a, b := (i/cols)%max(rows, 1), i%cols
			keep := b-a >= k
			if !upper {
				keep = b-a <= k
			}
			if keep {
				idx[i] = i
			} else {
				idx[i] = -1
			}
		}
		return takeTensor(ctx, x, idx, x.Shape), nil
	}), nil
}

func buildOneHot(n *graph.Node, opset int) (Op, error) {
	axis := int(n.AttrInt("axis", -1))
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
			return nil, fmt.Errorf("want 3 inputs")
		}
		iv, err := asFloat64s(in[0])
		if err != nil {
			return nil, err
		}
		dv, err := asFloat64s(in[1])
		if err != nil || len(dv) != 1 {
			return nil, fmt.Errorf("depth: want a numeric scalar")
		}
		depth := int(dv[0])
		vals := in[2]
		if vals.Len() != 2 {
			return nil, fmt.Errorf("values: want [off, on], got shape %v", vals.Shape)
		}
		r := len(in[0].Shape) + 1
		ax, err := nnNormAxis(axis, r)
		if err != nil {
			return nil, err
		}
		out := append(append(append([]int{}, in[0].Shape[:ax]...), depth), in[0].Shape[ax:]...)
		o, _, inner := splitAt(out, ax)
		idx := make([]int, tensor.NumElements(out))
		for a := range o {
			for j := range inner {
				v := int(iv[a*inner+j])
				if v < 0 {
					v += depth
				}
				for dd := range depth {
					if dd == v {
						idx[(a*depth+dd)*inner+j] = 1
					}
				}
			}
		}
		return []*tensor.Tensor{takeTensor(ctx, vals, idx, out)}, nil
	}), nil
}

func buildCompress(n *graph.Node, opset int) (Op, error) {
	hasAxis := n.Attr("axis") != nil
	axis := int(n.AttrInt("axis", 0))
	return binaryOp(func(ctx *Context, x, cond *tensor.Tensor) (*tensor.Tensor, error) {
		c, err := asFloat64s(cond)
		if err != nil {
			return nil, err
		}
		if !hasAxis {
			var idx []int
			for i := 0; i < min(len(c), x.Len()); i++ {
				if c[i] != 0 {
					idx = append(idx, i)
				}
			}
			return takeTensor(ctx, x, idx, []int{len(idx)}), nil
		}
		ax, err := nnNormAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		o, dim, inner := splitAt(x.Shape, ax)
		var keep []int
		for i := 0; i < min(len(c), dim); i++ {
			if c[i] != 0 {
				keep = append(keep, i)
			}
		}
		out := append([]int{}, x.Shape...)
		out[ax] = len(keep)
		idx := make([]int, 0, o*len(keep)*inner)
		for a := range o {
			for _, b := range keep {
				for j := range inner {
					idx = append(idx, (a*dim+b)*inner+j)
				}
			}
		}
		return takeTensor(ctx, x, idx, out), nil
	}), nil
}

func buildReverseSequence(n *graph.Node, opset int) (Op, error) {
	bAxis := int(n.AttrInt("batch_axis", 1))
	tAxis := int(n.AttrInt("time_axis", 0))
	return binaryOp(func(ctx *Context, x, lens *tensor.Tensor) (*tensor.Tensor, error) {
		lv, err := asInts(lens, "sequence_lens")
		if err != nil {
			return nil, err
		}
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("want rank >= 2")
		}
		st := strides(x.Shape)
		idx := make([]int, x.Len())
		err = forEachCoord(x.Shape, func(i int, c []int) error {
			b, t := c[bAxis], c[tAxis]
			if b >= len(lv) {
				return fmt.Errorf("sequence_lens has %d entries, batch is %d", len(lv), x.Shape[bAxis])
			}
			off := i
			if t < lv[b] {
				off += (lv[b] - 1 - 2*t) * st[tAxis]
			}
			idx[i] = off
			return nil
		})
		if err != nil {
			return nil, err
		}
		return takeTensor(ctx, x, idx, x.Shape), nil
	}), nil
}

// buildUnique returns the unique elements (or slices along axis), their
// first-occurrence indices, the inverse mapping and the counts.
func buildUnique(n *graph.Node, opset int) (Op, error) {
	sorted := n.AttrInt("sorted", 1) != 0
	hasAxis := n.Attr("axis") != nil
	axis := int(n.AttrInt("axis", 0))
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		shape := x.Shape
		ax := 0
		if !hasAxis {
			shape = []int{x.Len()}
		} else {
			var err error
			if ax, err = nnNormAxis(axis, len(x.Shape)); err != nil {
				return nil, err
			}
		}
		o, dim, inner := splitAt(shape, ax)
		var keys [][]float64
		var skeys []string
		if s, ok := x.Data.([]string); ok {
			if hasAxis && x.Len() != dim {
				return nil, fmt.Errorf("Unique with axis on strings not supported")
			}
			skeys = s
		} else {
			v, err := asFloat64s(x)
			if err != nil {
				return nil, err
			}
			keys = make([][]float64, dim)
			for b := range dim {
				k := make([]float64, 0, o*inner)
				for a := range o {
					k = append(k, v[(a*dim+b)*inner:(a*dim+b+1)*inner]...)
				}
				keys[b] = k
			}
		}
		less := func(a, b int) int {
			if skeys != nil {
				switch {
				case skeys[a] < skeys[b]:
					return -1
				case skeys[a] > skeys[b]:
					return 1
				}
				return 0
			}
			for i := range keys[a] {
				switch {
				case keys[a][i] < keys[b][i]:
					return -1
				case keys[a][i] > keys[b][i]:
					return 1
				}
			}
			return 0
		}
		var firsts []int // first occurrence of each unique slice, in order found
		inverse := make([]int, dim)
		for b := range dim {
			found := -1
			for u, f := range firsts {
				if less(f, b) == 0 {
					found = u
					break
				}
			}
			if found < 0 {
				found = len(firsts)
				firsts = append(firsts, b)
			}
			inverse[b] = found
		}
		order := make([]int, len(firsts))
		for i := range order {
			order[i] = i
		}
		if sorted {
			sort.SliceStable(order, func(p, q int) bool { return less(firsts[order[p]], firsts[order[q]]) < 0 })
		}
		rank := make([]int, len(order))
		for newPos, u := range order {
			rank[u] = newPos
		}
		counts := make([]int64, len(order))
		for _, u := range inverse {
			counts[rank[u]]++
		}
		inv := make([]int64, dim)
		for b, u := range inverse {
			inv[b] = int64(rank[u])
		}
		first := make([]int64, len(order))
		for newPos, u := range order {
			first[newPos] = int64(firsts[u])
		}
		out := append([]int{}, shape...)
		out[ax] = len(order)
		idx := make([]int, 0, o*len(order)*inner)
		for a := range o {
			for _, f := range first {
				for j := range inner {
					idx = append(idx, (a*dim+int(f))*inner+j)
				}
			}
		}
		u := len(order)
		return []*tensor.Tensor{takeTensor(ctx, x, idx, out), tensor.FromInt64(first, u), tensor.FromInt64(inv, dim), tensor.FromInt64(counts, u)}, nil
	}), nil
}

// det is the determinant of the trailing square matrices, by LU
// decomposition with partial pivoting in float64.
func det(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	r := len(x.Shape)
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return nil, fmt.Errorf("want [..., M, M], got %v", x.Shape)
	}
	if !isFloatDType(x.DType) {
		return nil, fmt.Errorf("unsupported element type %v", x.DType)
	}
	v, err := asFloat64s(x)
	if err != nil {
		return nil, err
	}
	m := x.Shape[r-1]
	batch := tensor.NumElements(x.Shape[:r-2])
	res := make([]float64, batch)
	a := make([]float64, m*m)
	for b := range batch {
		copy(a, v[b*m*m:(b+1)*m*m])
		d := 1.0
		for c := range m {
			p := c
			for i := c + 1; i < m; i++ {
				if math.Abs(a[i*m+c]) > math.Abs(a[p*m+c]) {
					p = i
				}
			}
			if a[p*m+c] == 0 {
				d = 0
				break
			}
			if p != c {
				for j := range m {
					a[p*m+j], a[c*m+j] = a[c*m+j], a[p*m+j]
				}
				d = -d
			}
			d *= a[c*m+c]
			for i := c + 1; i < m; i++ {
				f := a[i*m+c] / a[c*m+c]
				for j := c; j < m; j++ {
					a[i*m+j] -= f * a[c*m+j]
				}
			}
		}
		res[b] = d
	}
	return fromFloat64s(res, x.DType, x.Shape[:r-2])
}
