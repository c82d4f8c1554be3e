package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("Resize", 10, buildResize)
	register("Upsample", 7, buildUpsample)
}

// resizeOp is Resize (opsets 10 to 19) and Upsample (7, 9), which is Resize
// with opset 10's fixed coordinate rules.
type resizeOp struct {
	name       string
	opset      int
	mode       string // nearest, linear, cubic
	coord      string
	nearest    string // round_prefer_floor, round_prefer_ceil, floor, ceil, or simple (opset < 11)
	cubicA     float64
	exclude    bool
	extrap     float64
	antialias  bool
	axes       []int
	policy     string
	attrScales []float32 // Upsample-7
}

func buildResize(n *graph.Node, opset int) (Op, error) {
	o := &resizeOp{
		name:      "Resize",
		opset:     opset,
		mode:      n.AttrString("mode", "nearest"),
		coord:     n.AttrString("coordinate_transformation_mode", "half_pixel"),
		nearest:   n.AttrString("nearest_mode", "round_prefer_floor"),
		cubicA:    float64(n.AttrFloat("cubic_coeff_a", -0.75)),
		exclude:   n.AttrInt("exclude_outside", 0) != 0,
		extrap:    float64(n.AttrFloat("extrapolation_value", 0)),
		antialias: n.AttrInt("antialias", 0) != 0,
		axes:      nnToInts(n.AttrInts("axes", nil)),
		policy:    n.AttrString("keep_aspect_ratio_policy", "stretch"),
	}
	if opset < 11 {
		// opset 10 had no coordinate modes: asymmetric, nearest by
		// truncation, as ONNX Runtime implements it
		o.coord, o.nearest = "asymmetric", "simple"
	}
	if len(o.axes) == 0 {
		o.axes = nil
	}
	return o, o.check()
}

func buildUpsample(n *graph.Node, opset int) (Op, error) {
	o := &resizeOp{
		name:    "Upsample",
		opset:   opset,
		mode:    n.AttrString("mode", "nearest"),
		coord:   "asymmetric",
		nearest: "simple",
		cubicA:  -0.75,
		policy:  "stretch",
	}
	if o.mode == "bilinear" {
		o.mode = "linear"
	}
	if opset < 9 {
		o.attrScales = n.AttrFloats("scales", nil)
		if o.attrScales == nil {
			return nil, fmt.Errorf("Upsample: scales attribute is required before opset 9")
		}
	}
	return o, o.check()
}

func (o *resizeOp) check() error {
	switch o.mode {
	case "nearest", "linear", "cubic":
	default:
		return fmt.Errorf("%s: unknown mode %q", o.name, o.mode)
	}
	switch o.coord {
	case "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
	default:
		return fmt.Errorf("%s: unknown coordinate_transformation_mode %q", o.name, o.coord)
	}
	switch o.nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple":
	default:
		return fmt.Errorf("%s: unknown nearest_mode %q", o.name, o.nearest)
	}
	switch o.policy {
	case "stretch", "not_larger", "not_smaller":
	default:
		return fmt.Errorf("%s: unknown keep_aspect_ratio_policy %q", o.name, o.policy)
	}
	return nil
}

// resizeAxis is the resampling plan of one axis: for each output index, the
// input indices and weights to combine, or extrapolate when the coordinate
// falls outside the input (tf_crop_and_resize).
type resizeAxis struct {
	idx [][]int
	w   [][]float64
	ext []bool
}

func (o *resizeOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("%s: missing input", o.name)
	}
	if err := nnCheckFloat(in[0], o.name+" X"); err != nil {
		return nil, err
	}
	x := in[0]
	r := x.Rank()
	opt := func(i int) *tensor.Tensor {
		if i < len(in) && in[i] != nil && in[i].Len() > 0 {
			return in[i]
		}
		return nil
	}
	var roiT, scalesT, sizesT *tensor.Tensor
	switch {
	case o.attrScales != nil:
	case o.name == "Upsample" || o.opset < 11:
		scalesT = opt(1)
		if scalesT == nil {
			return nil, fmt.Errorf("%s: scales input is required", o.name)
		}
	default:
		roiT, scalesT, sizesT = opt(1), opt(2), opt(3)
	}
	axes := make([]int, 0, r)
	if o.axes != nil {
		seen := make([]bool, r)
		for _, a := range o.axes {
			a, err := nnNormAxis(a, r)
			if err != nil || seen[a] {
				return nil, fmt.Errorf("%s: bad axes %v for rank %d", o.name, o.axes, r)
			}
			seen[a] = true
			axes = append(axes, a)
		}
	} else {
		for a := range r {
			axes = append(axes, a)
		}
	}
	scale := make([]float64, r)
	out := append([]int(nil), x.Shape...)
	for a := range scale {
		scale[a] = 1
	}
	switch {
	case sizesT != nil:
		sizes, err := nnInts(sizesT)
		if err != nil {
			return nil, fmt.Errorf("%s sizes: %w", o.name, err)
		}
		if len(sizes) != len(axes) {
			return nil, fmt.Errorf("%s: sizes %v, want %d values", o.name, sizes, len(axes))
		}
		for i, a := range axes {
			out[a] = sizes[i]
			scale[a] = float64(sizes[i]) / float64(x.Shape[a])
		}
		if o.policy != "stretch" {
			s := scale[axes[0]]
			for _, a := range axes {
				if o.policy == "not_larger" {
					s = math.Min(s, scale[a])
				} else {
					s = math.Max(s, scale[a])
				}
			}
			for _, a := range axes {
				scale[a] = s
				out[a] = int(s*float64(x.Shape[a]) + 0.5)
			}
		}
	case scalesT != nil || o.attrScales != nil:
		var sc []float64
		if o.attrScales != nil {
			for _, v := range o.attrScales {
				sc = append(sc, float64(v))
			}
		} else {
			var err error
			if sc, err = nnFloats(scalesT); err != nil {
				return nil, fmt.Errorf("%s scales: %w", o.name, err)
			}
		}
		if len(sc) != len(axes) {
			return nil, fmt.Errorf("%s: scales %v, want %d values", o.name, sc, len(axes))
		}
		for i, a := range axes {
			if sc[i] <= 0 {
				return nil, fmt.Errorf("%s: scales %v must be positive", o.name, sc)
			}
			scale[a] = sc[i]
			out[a] = int(sc[i] * float64(x.Shape[a]))
		}
	default:
		return nil, fmt.Errorf("%s: one of scales and sizes is required", o.name)
	}
	roiStart, roiEnd := make([]float64, r), make([]float64, r)
	for a := range roiEnd {
		roiEnd[a] = 1
	}
	if roiT != nil && o.coord == "tf_crop_and_resize" {
		roi, err := nnFloats(roiT)
		if err != nil {
			return nil, fmt.Errorf("%s roi: %w", o.name, err)
		}
		if len(roi) != 2*len(axes) {
			return nil, fmt.Errorf("%s: roi has %d values, want %d", o.name, len(roi), 2*len(axes))
		}
		for i, a := range axes {
			roiStart[a], roiEnd[a] = roi[i], roi[len(axes)+i]
		}
	}
	plans := make([]*resizeAxis, r)
	for a := range r {
		identity := out[a] == x.Shape[a] && scale[a] == 1 && (o.coord != "tf_crop_and_resize" || (roiStart[a] == 0 && roiEnd[a] == 1))
		if !identity {
			plans[a] = o.plan(x.Shape[a], out[a], scale[a], roiStart[a], roiEnd[a])
		}
	}
	if x.DType == tensor.Double {
		return resizeRun[float64](ctx, x, out, plans, o.extrap)
	}
	return resizeRun[float32](ctx, x, out, plans, o.extrap)
}

// origin maps an output coordinate to the input, per the transformation
// mode; ok is false when it falls outside the crop (tf_crop_and_resize).
func (o *resizeOp) origin(xr float64, in, out int, scale, rs, re float64) (float64, bool) {
	outF := scale * float64(in)
	switch o.coord {
	case "align_corners":
		if outF == 1 {
			return 0, true
		}
		return xr * float64(in-1) / (outF - 1), true
	case "asymmetric":
		return xr / scale, true
	case "tf_half_pixel_for_nn":
		return (xr + 0.5) / scale, true
	case "pytorch_half_pixel":
		if out <= 1 {
			return 0, true
		}
		return (xr+0.5)/scale - 0.5, true
	case "half_pixel_symmetric":
		adj := float64(out) / outF
		center := float64(in) / 2
		return center*(1-adj) + (xr+0.5)/scale - 0.5, true
	case "tf_crop_and_resize":
		var v float64
		if outF == 1 {
			v = (re - rs) * float64(in-1) / 2
		} else {
			v = xr * (re - rs) * float64(in-1) / (outF - 1)
		}
		v += rs * float64(in-1)
		return v, v >= 0 && v <= float64(in-1)
	}
	return (xr+0.5)/scale - 0.5, true
}

func (o *resizeOp) plan(in, out int, scale, rs, re float64) *resizeAxis {
	p := &resizeAxis{idx: make([][]int, out), w: make([][]float64, out), ext: make([]bool, out)}
	clampIdx := func(i int) int { return min(max(i, 0), in-1) }
	for j := range out {
		xo, ok := o.origin(float64(j), in, out, scale, rs, re)
		if !ok {
			p.ext[j] = true
			continue
		}
		base := math.Floor(xo)
		ratio := xo - base
		if ratio == 0 {
			// the reference prefers the pixel to the left: ratio in (0, 1]
			base--
			ratio = 1
		}
		if o.mode == "nearest" {
			var k float64
			switch o.nearest {
			case "round_prefer_floor":
				k = base + 1
				if ratio <= 0.5 {
					k = base
				}
			case "round_prefer_ceil":
				k = base + 1
				if ratio < 0.5 {
					k = base
				}
			case "floor":
				k = math.Floor(xo)
			case "ceil":
				k = math.Ceil(xo)
			case "simple":
				// ONNX Runtime's opset-10 rule: truncate when upsampling,
				// round up when downsampling
				if scale < 1 {
					k = math.Ceil(xo)
				} else {
					k = math.Trunc(xo)
				}
			}
			p.idx[j] = []int{clampIdx(int(k))}
			p.w[j] = []float64{1}
			continue
		}
		s := 1.0
		if o.antialias {
			s = math.Min(scale, 1)
		}
		var start, n int
		var kernel func(float64) float64
		if o.mode == "linear" {
			start = int(math.Floor(-1/s) + 1)
			n = 2 - 2*start
			kernel = func(d float64) float64 { return math.Max(0, 1-math.Abs(d)) }
		} else {
			start = int(math.Floor(-2/s) + 1)
			n = 2 - 2*start
			a := o.cubicA
			kernel = func(d float64) float64 {
				d = math.Abs(d)
				switch {
				case d <= 1:
					return ((a+2)*d-(a+3))*d*d + 1
				case d < 2:
					return ((a*d-5*a)*d+8*a)*d - 4*a
				}
				return 0
			}
		}
		idx, w := make([]int, n), make([]float64, n)
		var sum float64
		for t := range n {
			i := start + t
			k := int(base) + i
			wt := kernel((float64(i) - ratio) * s)
			if o.exclude && (k < 0 || k >= in) {
				wt = 0
			}
			idx[t], w[t] = clampIdx(k), wt
			sum += wt
		}
		if (o.antialias || o.exclude) && sum != 0 {
			for t := range w {
				w[t] /= sum
			}
		}
		p.idx[j], p.w[j] = idx, w
	}
	return p
}

// resizeRun applies the per-axis plans one axis at a time (the kernels are
// separable), then writes the extrapolation value where any axis fell
// outside the crop.
func resizeRun[T nnFloat](ctx *Context, x *tensor.Tensor, out []int, plans []*resizeAxis, extrap float64) ([]*tensor.Tensor, error) {
	cur := x.Data.([]T)
	shape := append([]int(nil), x.Shape...)
	r := len(shape)
	anyExt := false
	y := ctx.NewTensor(x.DType, out...)
	yd := y.Data.([]T)
	last := -1 // the axis resampled last writes straight into y
	for a := r - 1; a >= 0; a-- {
		if plans[a] != nil {
			last = a
		}
	}
	if last < 0 {
		copy(yd, cur)
	}
	for a := r - 1; a >= 0; a-- {
		p := plans[a]
		if p == nil {
			continue
		}
		outer := tensor.NumElements(shape[:a])
		inner := tensor.NumElements(shape[a+1:])
		in := shape[a]
		shape[a] = out[a]
		next := yd
		if a != last {
			next = make([]T, outer*out[a]*inner)
		}
		if inner == 1 {
			// last axis: one output row per outer index, gathered directly
			ctx.Parallel(outer, max(1, 4096/max(out[a], 1)), func(lo, hi int) {
				for ob := lo; ob < hi; ob++ {
					src := cur[ob*in : (ob+1)*in]
					dst := next[ob*out[a] : (ob+1)*out[a]]
					for j := range dst {
						if p.ext[j] {
							continue
						}
						idx, w := p.idx[j], p.w[j]
						if len(idx) == 1 {
							dst[j] = src[idx[0]]
							continue
						}
						var s float64
						for t, k := range idx {
							s += w[t] * float64(src[k])
						}
						dst[j] = T(s)
					}
				}
			})
			for _, e := range p.ext {
				anyExt = anyExt || e
			}
			cur = next
			continue
		}
		ctx.Parallel(outer*out[a], max(1, 4096/max(inner, 1)), func(lo, hi int) {
			for l := lo; l < hi; l++ {
				ob, j := l/out[a], l%out[a]
				dst := next[l*inner : (l+1)*inner]
				if p.ext[j] {
					continue
				}
				idx, w := p.idx[j], p.w[j]
				if len(idx) == 1 {
					copy(dst, cur[(ob*in+idx[0])*inner:(ob*in+idx[0]+1)*inner])
					continue
				}
				for i := range dst {
					var s float64
					for t, k := range idx {
						s += w[t] * float64(cur[(ob*in+k)*inner+i])
					}
					dst[i] = T(s)
				}
			}
		})
		for _, e := range p.ext {
			anyExt = anyExt || e
		}
		cur = next
	}
	if anyExt {
		idx := make([]int, r)
		for i := range yd {
			for a := range r {
				if plans[a] != nil && plans[a].ext[idx[a]] {
					yd[i] = T(extrap)
					break
				}
			}
			for a := r - 1; a >= 0; a-- {
				idx[a]++
				if idx[a] < out[a] {
					break
				}
				idx[a] = 0
			}
		}
	}
	return []*tensor.Tensor{y}, nil
}
