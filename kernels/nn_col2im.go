package kernels

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("Col2Im", 18, buildCol2Im)
}

type col2ImOp struct{ win nnWindow }

func buildCol2Im(n *graph.Node, opset int) (Op, error) {
	w, err := nnParseWindow(n)
	if err != nil {
		return nil, err
	}
	return &col2ImOp{win: w}, nil
}

// Run rebuilds images from sliding blocks [N, C·∏block, L], adding where
// blocks overlap: the adjoint of the im2col that Conv uses.
func (o *col2ImOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("Col2Im: want 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "Col2Im input"); err != nil {
		return nil, err
	}
	img, err := nnInts(in[1])
	if err != nil {
		return nil, fmt.Errorf("Col2Im image_shape: %w", err)
	}
	blk, err := nnInts(in[2])
	if err != nil {
		return nil, fmt.Errorf("Col2Im block_shape: %w", err)
	}
	if len(img) != len(blk) {
		return nil, fmt.Errorf("Col2Im: image_shape %v and block_shape %v differ in length", img, blk)
	}
	g, err := o.win.resolve(img, blk)
	if err != nil {
		return nil, fmt.Errorf("Col2Im: %w", err)
	}
	x := in[0]
	kVol := g.kVol()
	if x.Rank() != 3 || x.Shape[1]%kVol != 0 || x.Shape[2] != g.outVol() {
		return nil, fmt.Errorf("Col2Im: input %v does not match %d blocks of %v", x.Shape, g.outVol(), blk)
	}
	nb, c := x.Shape[0], x.Shape[1]/kVol
	if x.DType == tensor.Double {
		return col2ImRun[float64](ctx, x, &g, nb, c, img)
	}
	return col2ImRun[float32](ctx, x, &g, nb, c, img)
}

func col2ImRun[T nnFloat](ctx *Context, x *tensor.Tensor, g *nnGeom, nb, c int, img []int) ([]*tensor.Tensor, error) {
	y := ctx.NewTensor(x.DType, append([]int{nb, c}, img...)...)
	xd, yd := x.Data.([]T), y.Data.([]T)
	clear(yd) // blocks are added in; the buffer may be recycled
	per := c * g.kVol() * g.outVol()
	for n := range nb {
		nnCol2im(ctx, xd[n*per:(n+1)*per], yd[n*c*g.inVol():(n+1)*c*g.inVol()], g, c)
	}
	return []*tensor.Tensor{y}, nil
}
