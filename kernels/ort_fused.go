package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// Operators that ONNX Runtime's graph optimiser writes into the models it
// saves (SessionOptions.optimizedModelFilePath), so that such a saved graph
// (for instance a QDQ model after its QLinear fusions) runs here too.

func init() {
	// ONNX Runtime registers it in the default domain although ONNX has
	// no such operator.
	register("SimplifiedLayerNormalization", 1, func(n *graph.Node, _ int) (Op, error) {
		return &simplifiedLayerNorm{axis: int(n.AttrInt("axis", -1)), eps: float64(n.AttrFloat("epsilon", 1e-5))}, nil
	})
}

// simplifiedLayerNorm is RMS normalisation: y = x / sqrt(mean(x²) + eps) *
// scale over the axes from axis on; the optional second output is the
// inverse standard deviation per row.
type simplifiedLayerNorm struct {
	axis int
	eps  float64
}

func (o *simplifiedLayerNorm) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, scale := optIn(in, 0), optIn(in, 1)
	if x == nil || scale == nil {
		return nil, fmt.Errorf("X and scale are required")
	}
	axis, err := nnNormAxis(o.axis, x.Rank())
	if err != nil {
		return nil, err
	}
	xv, err := asFloat64s(x)
	if err != nil {
		return nil, err
	}
	sv, err := asFloat64s(scale)
	if err != nil {
		return nil, err
	}
	if sv, err = nnExpandTrailing(sv, scale.Shape, x.Shape[axis:]); err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	cols := tensor.NumElements(x.Shape[axis:])
	rows := tensor.NumElements(x.Shape[:axis])
	y := make([]float64, len(xv))
	inv := make([]float64, rows)
	ctx.Parallel(rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xv[r*cols : (r+1)*cols]
			ss := 0.0
			for _, v := range row {
				ss += v * v
			}
			is := 1 / math.Sqrt(ss/float64(cols)+o.eps)
			inv[r] = is
			for j, v := range row {
				y[r*cols+j] = v * is * sv[j]
			}
		}
	})
	yt, err := fromFloat64s(y, x.DType, x.Shape)
	if err != nil {
		return nil, err
	}
	invShape := append([]int(nil), x.Shape...)
	for i := axis; i < len(invShape); i++ {
		invShape[i] = 1
	}
	it, err := fromFloat64s(inv, tensor.Float, invShape)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{yt, it}, nil
}
