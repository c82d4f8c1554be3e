package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("GridSample", 16, buildGridSample)
}

// gridSampleOp is GridSample on 4-D inputs (opset 16, and opset 20's
// renamed modes linear/cubic).
type gridSampleOp struct {
	mode    string // linear, nearest, cubic
	padding string // zeros, border, reflection
	align   bool
}

func buildGridSample(n *graph.Node, opset int) (Op, error) {
	def := "bilinear"
	if opset >= 20 {
		def = "linear"
	}
	o := &gridSampleOp{
		mode:    n.AttrString("mode", def),
		padding: n.AttrString("padding_mode", "zeros"),
		align:   n.AttrInt("align_corners", 0) != 0,
	}
	switch o.mode {
	case "bilinear":
		o.mode = "linear"
	case "bicubic":
		o.mode = "cubic"
	case "linear", "nearest", "cubic":
	default:
		return nil, fmt.Errorf("GridSample: unknown mode %q", o.mode)
	}
	switch o.padding {
	case "zeros", "border", "reflection":
	default:
		return nil, fmt.Errorf("GridSample: unknown padding_mode %q", o.padding)
	}
	return o, nil
}

func (o *gridSampleOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("GridSample: want 2 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "GridSample X"); err != nil {
		return nil, err
	}
	x, grid := in[0], in[1]
	if x.Rank() != 4 || grid.Rank() != 4 || grid.Shape[0] != x.Shape[0] || grid.Shape[3] != 2 {
		return nil, fmt.Errorf("GridSample: X %v and grid %v: want [N,C,H,W] and [N,Ho,Wo,2] (only 2-D sampling is supported)", x.Shape, grid.Shape)
	}
	gv, err := nnFloats(grid)
	if err != nil {
		return nil, fmt.Errorf("GridSample grid: %w", err)
	}
	if x.DType == tensor.Double {
		return gridSampleRun[float64](o, ctx, x, gv, grid.Shape)
	}
	return gridSampleRun[float32](o, ctx, x, gv, grid.Shape)
}

// unnormalize maps a grid coordinate in [-1, 1] to pixel units.
func (o *gridSampleOp) unnormalize(c float64, size int) float64 {
	if o.align {
		return (c + 1) / 2 * float64(size-1)
	}
	return ((c+1)*float64(size) - 1) / 2
}

// reflect folds c into [lo, hi] by mirroring at the bounds.
func nnReflect(c, lo, hi float64) float64 {
	span := hi - lo
	if span <= 0 {
		return lo
	}
	if c < lo {
		d := lo - c
		n := math.Floor(d / span)
		r := d - n*span
		if int64(n)%2 == 0 {
			return lo + r
		}
		return hi - r
	}
	if c > hi {
		d := c - hi
		n := math.Floor(d / span)
		r := d - n*span
		if int64(n)%2 == 0 {
			return hi - r
		}
		return lo + r
	}
	return c
}

// coord applies the padding mode to a pixel coordinate.
func (o *gridSampleOp) coord(c float64, size int) float64 {
	switch o.padding {
	case "border":
		return math.Min(math.Max(c, 0), float64(size-1))
	case "reflection":
		if o.align {
			return nnReflect(c, 0, float64(size-1))
		}
		return nnReflect(c, -0.5, float64(size)-0.5)
	}
	return c
}

func gridSampleRun[T nnFloat](o *gridSampleOp, ctx *Context, x *tensor.Tensor, grid []float64, gshape []int) ([]*tensor.Tensor, error) {
	nb, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := gshape[1], gshape[2]
	y := ctx.NewTensor(x.DType, nb, c, ho, wo)
	xd, yd := x.Data.([]T), y.Data.([]T)
	// pixel reads x[r][q] of one plane, with the padding mode for
	// positions outside (zeros: 0; border and reflection: clamped / mirrored)
	pixel := func(plane []T, r, q int) float64 {
		if r < 0 || r >= h || q < 0 || q >= w {
			if o.padding == "zeros" {
				return 0
			}
			// border and reflection move each tap inside, as PyTorch
			// and ONNX Runtime do for the cubic taps
			r = int(math.Min(math.Max(o.coord(float64(r), h), 0), float64(h-1)))
			q = int(math.Min(math.Max(o.coord(float64(q), w), 0), float64(w-1)))
		}
		return float64(plane[r*w+q])
	}
	ctx.Parallel(nb*ho, 1, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			n, i := l/ho, l%ho
			for j := range wo {
				g := grid[((n*ho+i)*wo+j)*2:]
				px, py := o.unnormalize(g[0], w), o.unnormalize(g[1], h)
				if o.mode != "cubic" {
					// linear and nearest pad the sample position; cubic
					// pads each of its 16 taps instead (in pixel)
					px, py = o.coord(px, w), o.coord(py, h)
				}
				for ch := range c {
					plane := xd[(n*c+ch)*h*w : (n*c+ch+1)*h*w]
					var v float64
					switch o.mode {
					case "nearest":
						v = pixel(plane, int(math.RoundToEven(py)), int(math.RoundToEven(px)))
					case "linear":
						x0, y0 := math.Floor(px), math.Floor(py)
						fx, fy := px-x0, py-y0
						xi, yi := int(x0), int(y0)
						v = (1-fy)*((1-fx)*pixel(plane, yi, xi)+fx*pixel(plane, yi, xi+1)) +
							fy*((1-fx)*pixel(plane, yi+1, xi)+fx*pixel(plane, yi+1, xi+1))
					default:
						x0, y0 := math.Floor(px), math.Floor(py)
						wx, wy := nnCubicWeights(px-x0), nnCubicWeights(py-y0)
						xi, yi := int(x0)-1, int(y0)-1
						for a := range 4 {
							var row float64
							for b := range 4 {
								row += wx[b] * pixel(plane, yi+a, xi+b)
							}
							v += wy[a] * row
						}
					}
					yd[((n*c+ch)*ho+i)*wo+j] = T(v)
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// nnCubicWeights are the 4 cubic-convolution weights (A = -0.75) for a
// sample at fraction t past the second tap.
func nnCubicWeights(t float64) [4]float64 {
	const a = -0.75
	k := func(d float64) float64 {
		d = math.Abs(d)
		switch {
		case d <= 1:
			return ((a+2)*d-(a+3))*d*d + 1
		case d < 2:
			return ((a*d-5*a)*d+8*a)*d - 4*a
		}
		return 0
	}
	return [4]float64{k(t + 1), k(t), k(1 - t), k(2 - t)}
}
