package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("RoiAlign", 10, buildRoiAlign)
}

type roiAlignOp struct {
	max        bool
	outH, outW int
	ratio      int
	scale      float64
	halfPixel  bool // opset 16 default; opset 10 behaves as output_half_pixel
}

func buildRoiAlign(n *graph.Node, opset int) (Op, error) {
	mode := n.AttrString("mode", "avg")
	if mode != "avg" && mode != "max" {
		return nil, fmt.Errorf("RoiAlign: unknown mode %q", mode)
	}
	ctm := "output_half_pixel"
	if opset >= 16 {
		ctm = n.AttrString("coordinate_transformation_mode", "half_pixel")
	}
	if ctm != "half_pixel" && ctm != "output_half_pixel" {
		return nil, fmt.Errorf("RoiAlign: unknown coordinate_transformation_mode %q", ctm)
	}
	o := &roiAlignOp{
		max:       mode == "max",
		outH:      int(n.AttrInt("output_height", 1)),
		outW:      int(n.AttrInt("output_width", 1)),
		ratio:     int(n.AttrInt("sampling_ratio", 0)),
		scale:     float64(n.AttrFloat("spatial_scale", 1)),
		halfPixel: ctm == "half_pixel",
	}
	if o.outH < 1 || o.outW < 1 || o.ratio < 0 {
		return nil, fmt.Errorf("RoiAlign: bad output size %dx%d or sampling_ratio %d", o.outH, o.outW, o.ratio)
	}
	return o, nil
}

func (o *roiAlignOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("RoiAlign: want 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "RoiAlign X"); err != nil {
		return nil, err
	}
	x := in[0]
	rois, err := nnFloats(in[1])
	if err != nil {
		return nil, fmt.Errorf("RoiAlign rois: %w", err)
	}
	bidx, err := nnInts(in[2])
	if err != nil {
		return nil, fmt.Errorf("RoiAlign batch_indices: %w", err)
	}
	if x.Rank() != 4 || in[1].Rank() != 2 || in[1].Shape[1] != 4 || len(bidx) != in[1].Shape[0] {
		return nil, fmt.Errorf("RoiAlign: X %v, rois %v, batch_indices %v do not fit", x.Shape, in[1].Shape, in[2].Shape)
	}
	for _, b := range bidx {
		if b < 0 || b >= x.Shape[0] {
			return nil, fmt.Errorf("RoiAlign: batch index %d out of range [0, %d)", b, x.Shape[0])
		}
	}
	if x.DType == tensor.Double {
		return roiAlignRun[float64](o, ctx, x, rois, bidx)
	}
	return roiAlignRun[float32](o, ctx, x, rois, bidx)
}

// roiAlignRun averages (or takes the maximum of) bilinear samples on a
// regular grid inside each bin, as ONNX Runtime does; samples more than one
// pixel outside the map count as zero.
func roiAlignRun[T nnFloat](o *roiAlignOp, ctx *Context, x *tensor.Tensor, rois []float64, bidx []int) ([]*tensor.Tensor, error) {
	c, h, w := x.Shape[1], x.Shape[2], x.Shape[3]
	nr := len(bidx)
	y := ctx.NewTensor(x.DType, nr, c, o.outH, o.outW)
	xd, yd := x.Data.([]T), y.Data.([]T)
	off := 0.0
	if o.halfPixel {
		off = 0.5
	}
	ctx.Parallel(nr*c, 1, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			r, ch := l/c, l%c
			plane := xd[(bidx[r]*c+ch)*h*w : (bidx[r]*c+ch+1)*h*w]
			x0, y0 := rois[4*r]*o.scale-off, rois[4*r+1]*o.scale-off
			x1, y1 := rois[4*r+2]*o.scale-off, rois[4*r+3]*o.scale-off
			rw, rh := x1-x0, y1-y0
			if !o.halfPixel {
				rw, rh = math.Max(rw, 1), math.Max(rh, 1)
			}
			bw, bh := rw/float64(o.outW), rh/float64(o.outH)
			gh, gw := o.ratio, o.ratio
			if o.ratio == 0 {
				gh, gw = int(math.Ceil(rh/float64(o.outH))), int(math.Ceil(rw/float64(o.outW)))
			}
			cnt := float64(max(gh*gw, 1))
			dst := yd[l*o.outH*o.outW : (l+1)*o.outH*o.outW]
			for ph := range o.outH {
				for pw := range o.outW {
					var acc float64
					first := true
					for iy := range gh {
						sy := y0 + float64(ph)*bh + (float64(iy)+0.5)*bh/float64(gh)
						for ix := range gw {
							sx := x0 + float64(pw)*bw + (float64(ix)+0.5)*bw/float64(gw)
							v := nnBilinearSample(plane, h, w, sy, sx, o.max)
							switch {
							case !o.max:
								acc += v
							case first || v > acc:
								acc = v
							}
							first = false
						}
					}
					if !o.max {
						acc /= cnt
					}
					dst[ph*o.outW+pw] = T(acc)
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// nnBilinearSample interpolates plane at (sy, sx) with RoiAlign's border
// rules; with maxOfCorners it returns the largest weighted corner instead of
// their sum (ONNX Runtime's "max" mode).
func nnBilinearSample[T nnFloat](plane []T, h, w int, sy, sx float64, maxOfCorners bool) float64 {
	if sy < -1 || sy > float64(h) || sx < -1 || sx > float64(w) {
		return 0
	}
	sy, sx = math.Max(sy, 0), math.Max(sx, 0)
	yl, xl := int(sy), int(sx)
	var yh, xh int
	if yl >= h-1 {
		yl, yh, sy = h-1, h-1, float64(h-1)
	} else {
		yh = yl + 1
	}
	if xl >= w-1 {
		xl, xh, sx = w-1, w-1, float64(w-1)
	} else {
		xh = xl + 1
	}
	ly, lx := sy-float64(yl), sx-float64(xl)
	hy, hx := 1-ly, 1-lx
	v1, v2 := hy*hx*float64(plane[yl*w+xl]), hy*lx*float64(plane[yl*w+xh])
	v3, v4 := ly*hx*float64(plane[yh*w+xl]), ly*lx*float64(plane[yh*w+xh])
	if maxOfCorners {
		return math.Max(math.Max(v1, v2), math.Max(v3, v4))
	}
	return v1 + v2 + v3 + v4
}
