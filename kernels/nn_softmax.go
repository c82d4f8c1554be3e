package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	for _, k := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		register(k, 1, buildSoftmax(k))
	}
}

type softmaxOp struct {
	kind string
	axis int
	// coerce2D is the semantics before opset 13: the input is flattened to
	// 2-D at axis and the operator runs over the whole trailing block.
	coerce2D bool
}

func buildSoftmax(kind string) Builder {
	return func(n *graph.Node, opset int) (Op, error) {
		o := &softmaxOp{kind: kind, coerce2D: opset < 13}
		def := int64(-1)
		if o.coerce2D {
			def = 1
		}
		o.axis = int(n.AttrInt("axis", def))
		return o, nil
	}
}

func (o *softmaxOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("%s: missing input", o.kind)
	}
	if err := nnCheckFloat(in[0], o.kind+" input"); err != nil {
		return nil, err
	}
	x := in[0]
	r := max(x.Rank(), 1)
	axis, err := nnNormAxis(o.axis, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.kind, err)
	}
	shape := x.Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	outer := tensor.NumElements(shape[:axis])
	n, inner := shape[axis], tensor.NumElements(shape[axis+1:])
	if o.coerce2D {
		n, inner = n*inner, 1
	}
	if x.DType == tensor.Double {
		return softmaxRun[float64](o, ctx, x, outer, n, inner)
	}
	return softmaxRun[float32](o, ctx, x, outer, n, inner)
}

func softmaxRun[T nnFloat](o *softmaxOp, ctx *Context, x *tensor.Tensor, outer, n, inner int) ([]*tensor.Tensor, error) {
	xd := x.Data.([]T)
	y := ctx.NewTensor(x.DType, x.Shape...)
	yd := y.Data.([]T)
	lines := outer * inner
	ctx.Parallel(lines, max(1, 4096/max(n, 1)), func(lo, hi int) {
		var buf []T
		if inner != 1 {
			buf = make([]T, 2*n)
		}
		for l := lo; l < hi; l++ {
			base := (l/inner)*n*inner + l%inner
			var xs, ys []T
			if inner == 1 {
				xs, ys = xd[base:base+n], yd[base:base+n]
			} else {
				xs, ys = buf[:n], buf[n:]
				for i := range n {
					xs[i] = xd[base+i*inner]
				}
			}
			switch o.kind {
			case "Softmax":
				nnSoftmaxLine(xs, ys, false)
			case "LogSoftmax":
				nnSoftmaxLine(xs, ys, true)
			default:
				best := 0
				for i, v := range xs {
					if v > xs[best] {
						best = i
					}
				}
				clear(ys)
				if n > 0 {
					ys[best] = 1
				}
			}
			if inner != 1 {
				for i := range n {
					yd[base+i*inner] = ys[i]
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

func nnSoftmaxLine[T nnFloat](xs, ys []T, log bool) {
	if len(xs) == 0 {
		return
	}
	m := xs[0]
	for _, v := range xs {
		m = max(m, v)
	}
	var s float64
	if y32, ok := any(ys).([]float32); ok {
		x32 := any(xs).([]float32)
		m32 := float32(m)
		y32 = y32[:len(x32)]
		for i, v := range x32 {
			y32[i] = v - m32
		}
		vecExp32(y32, y32)
		for _, e := range y32 {
			s += float64(e)
		}
	} else {
		for i, v := range xs {
			e := T(math.Exp(float64(v - m)))
			ys[i] = e
			s += float64(e)
		}
	}
	if log {
		ls := T(math.Log(s))
		for i, v := range xs {
			ys[i] = v - m - ls
		}
		return
	}
	inv := T(1 / s)
	for i := range ys {
		ys[i] *= inv
	}
}

// nnExp32 is exp for float32 arguments, within 3e-7 relative of the float64
// math.Exp and several times faster: 2^k·e^r with
// |r| <= ln2/2 and a degree-7 Taylor polynomial for e^r.
func nnExp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125
		ln2lo = 1.42860682030941723212e-6
	)
	switch {
	case x != x:
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		// below the smallest normal; the subnormal tail is negligible here
		return 0
	}
	t := x*log2e + 0.5
	k := int32(t)
	if t < float32(k) {
		k-- // floor for negative t
	}
	kf := float32(k)
	r := x - kf*ln2hi - kf*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	if k > 127 {
		// 2^128 is not a float32; scale in two steps
		return p * 2 * math.Float32frombits(uint32(k+126)<<23)
	}
	return p * math.Float32frombits(uint32(k+127)<<23)
}
