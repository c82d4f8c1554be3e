package kernels

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("DepthToSpace", 1, buildDepthToSpace)
	register("SpaceToDepth", 1, buildSpaceToDepth)
}

// nnGather builds a tensor of the given shape whose element i is src's
// element idx[i]; it works for every element type since it only moves data.
func nnGather(ctx *Context, src *tensor.Tensor, shape []int, idx []int) (*tensor.Tensor, error) {
	y := ctx.NewTensor(src.DType, shape...)
	switch d := y.Data.(type) {
	case []float32:
		nnGatherT(d, src.Data.([]float32), idx)
	case []float64:
		nnGatherT(d, src.Data.([]float64), idx)
	case []int64:
		nnGatherT(d, src.Data.([]int64), idx)
	case []int32:
		nnGatherT(d, src.Data.([]int32), idx)
	case []int16:
		nnGatherT(d, src.Data.([]int16), idx)
	case []int8:
		nnGatherT(d, src.Data.([]int8), idx)
	case []uint8:
		nnGatherT(d, src.Data.([]uint8), idx)
	case []uint16:
		nnGatherT(d, src.Data.([]uint16), idx)
	case []uint32:
		nnGatherT(d, src.Data.([]uint32), idx)
	case []uint64:
		nnGatherT(d, src.Data.([]uint64), idx)
	case []bool:
		nnGatherT(d, src.Data.([]bool), idx)
	case []string:
		nnGatherT(d, src.Data.([]string), idx)
	default:
		return nil, fmt.Errorf("unsupported element type %v", src.DType)
	}
	return y, nil
}

func nnGatherT[E any](dst, src []E, idx []int) {
	for i, k := range idx {
		dst[i] = src[k]
	}
}

type depthToSpaceOp struct {
	block int
	crd   bool
}

func buildDepthToSpace(n *graph.Node, opset int) (Op, error) {
	b := int(n.AttrInt("blocksize", 0))
	if b < 1 {
		return nil, fmt.Errorf("DepthToSpace: blocksize %d must be positive", b)
	}
	mode := n.AttrString("mode", "DCR")
	if mode != "DCR" && mode != "CRD" {
		return nil, fmt.Errorf("DepthToSpace: unknown mode %q", mode)
	}
	return &depthToSpaceOp{block: b, crd: mode == "CRD"}, nil
}

func (o *depthToSpaceOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("DepthToSpace: missing input")
	}
	x := in[0]
	if x.Rank() != 4 {
		return nil, fmt.Errorf("DepthToSpace: input %v must be 4-D", x.Shape)
	}
	nb, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	b := o.block
	if c%(b*b) != 0 {
		return nil, fmt.Errorf("DepthToSpace: %d channels not divisible by blocksize² %d", c, b*b)
	}
	oc, oh, ow := c/(b*b), h*b, w*b
	idx := make([]int, x.Len())
	i := 0
	for n := range nb {
		for co := range oc {
			for y := range oh {
				for xx := range ow {
					bh, bw := y%b, xx%b
					ch := (bh*b+bw)*oc + co
					if o.crd {
						ch = co*b*b + bh*b + bw
					}
					idx[i] = ((n*c+ch)*h+y/b)*w + xx/b
					i++
				}
			}
		}
	}
	y, err := nnGather(ctx, x, []int{nb, oc, oh, ow}, idx)
	if err != nil {
		return nil, fmt.Errorf("DepthToSpace: %w", err)
	}
	return []*tensor.Tensor{y}, nil
}

type spaceToDepthOp struct{ block int }

func buildSpaceToDepth(n *graph.Node, opset int) (Op, error) {
	b := int(n.AttrInt("blocksize", 0))
	if b < 1 {
		return nil, fmt.Errorf("SpaceToDepth: blocksize %d must be positive", b)
	}
	return &spaceToDepthOp{block: b}, nil
}

func (o *spaceToDepthOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("SpaceToDepth: missing input")
	}
	x := in[0]
	if x.Rank() != 4 {
		return nil, fmt.Errorf("SpaceToDepth: input %v must be 4-D", x.Shape)
	}
	nb, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	b := o.block
	if h%b != 0 || w%b != 0 {
		return nil, fmt.Errorf("SpaceToDepth: spatial size %dx%d not divisible by blocksize %d", h, w, b)
	}
	oc, oh, ow := c*b*b, h/b, w/b
	idx := make([]int, x.Len())
	i := 0
	for n := range nb {
		for co := range oc {
			blk, ch := co/c, co%c
			bh, bw := blk/b, blk%b
			for y := range oh {
				for xx := range ow {
					idx[i] = ((n*c+ch)*h+y*b+bh)*w + xx*b + bw
					i++
				}
			}
		}
	}
	y, err := nnGather(ctx, x, []int{nb, oc, oh, ow}, idx)
	if err != nil {
		return nil, fmt.Errorf("SpaceToDepth: %w", err)
	}
	return []*tensor.Tensor{y}, nil
}
