package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("BatchNormalization", 1, buildBatchNorm)
	register("InstanceNormalization", 1, buildInstanceNorm)
	register("LayerNormalization", 17, buildLayerNorm)
	register("GroupNormalization", 18, buildGroupNorm)
	register("LRN", 1, buildLRN)
	register("MeanVarianceNormalization", 1, buildMVN)
}

type batchNormOp struct {
	eps, momentum float64
	training      bool
}

func buildBatchNorm(n *graph.Node, opset int) (Op, error) {
	return &batchNormOp{
		eps:      float64(n.AttrFloat("epsilon", 1e-5)),
		momentum: float64(n.AttrFloat("momentum", 0.9)),
		training: opset >= 14 && n.AttrInt("training_mode", 0) != 0,
	}, nil
}

func (o *batchNormOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 5 {
		return nil, fmt.Errorf("BatchNormalization: want 5 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "BatchNormalization X"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return batchNormRun[float64](o, ctx, in)
	}
	return batchNormRun[float32](o, ctx, in)
}

func batchNormRun[T nnFloat](o *batchNormOp, ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("BatchNormalization: X %v must have rank >= 2", x.Shape)
	}
	xd := x.Data.([]T)
	nb, c := x.Shape[0], x.Shape[1]
	vol := tensor.NumElements(x.Shape[2:])
	var p [4][]float64
	for i, name := range []string{"scale", "B", "mean", "var"} {
		v, err := nnFloats(in[i+1])
		if err != nil {
			return nil, fmt.Errorf("BatchNormalization %s: %w", name, err)
		}
		// spatial=0 (before opset 9) gives per-element parameters
		if len(v) != c && len(v) != c*vol {
			return nil, fmt.Errorf("BatchNormalization %s %v: want %d values", name, in[i+1].Shape, c)
		}
		p[i] = v
	}
	var out []*tensor.Tensor
	if o.training {
		// statistics of this batch, population variance, as in ONNX's reference
		mean, vr := make([]float64, c), make([]float64, c)
		cnt := float64(nb * vol)
		for ch := range c {
			var s float64
			for n := range nb {
				for _, v := range xd[(n*c+ch)*vol : (n*c+ch+1)*vol] {
					s += float64(v)
				}
			}
			m := s / cnt
			var q float64
			for n := range nb {
				for _, v := range xd[(n*c+ch)*vol : (n*c+ch+1)*vol] {
					d := float64(v) - m
					q += d * d
				}
			}
			mean[ch], vr[ch] = m, q/cnt
		}
		runMean, runVar := ctx.NewTensor(x.DType, c), ctx.NewTensor(x.DType, c)
		rm, rv := runMean.Data.([]T), runVar.Data.([]T)
		for ch := range c {
			rm[ch] = T(p[2][ch]*o.momentum + mean[ch]*(1-o.momentum))
			rv[ch] = T(p[3][ch]*o.momentum + vr[ch]*(1-o.momentum))
		}
		p[2], p[3] = mean, vr
		out = append(out, nil, runMean, runVar)
	}
	y := ctx.newTensorFull(x.DType, x.Shape...)
	yd := y.Data.([]T)
	perElem := len(p[0]) == c*vol && vol != 1
	ctx.Parallel(nb*c, max(1, 8192/max(vol, 1)), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			ch := j % c
			xs, ys := xd[j*vol:(j+1)*vol], yd[j*vol:(j+1)*vol]
			if !perElem || len(p[0]) == c {
				a := p[0][ch] / math.Sqrt(p[3][ch]+o.eps)
				b := p[1][ch] - p[2][ch]*a
				at, bt := T(a), T(b)
				for i, v := range xs {
					ys[i] = v*at + bt
				}
				continue
			}
			for i, v := range xs {
				k := ch*vol + i
				ys[i] = T((float64(v)-p[2][k])/math.Sqrt(p[3][k]+o.eps)*p[0][k] + p[1][k])
			}
		}
	})
	if out == nil {
		return []*tensor.Tensor{y}, nil
	}
	out[0] = y
	return out, nil
}

type instanceNormOp struct{ eps float64 }

func buildInstanceNorm(n *graph.Node, opset int) (Op, error) {
	return &instanceNormOp{eps: float64(n.AttrFloat("epsilon", 1e-5))}, nil
}

func (o *instanceNormOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 3 {
		return nil, fmt.Errorf("InstanceNormalization: want 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "InstanceNormalization X"); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("InstanceNormalization: X %v must have rank >= 3", x.Shape)
	}
	scale, err := nnFloats(in[1])
	if err != nil {
		return nil, fmt.Errorf("InstanceNormalization scale: %w", err)
	}
	bias, err := nnFloats(in[2])
	if err != nil {
		return nil, fmt.Errorf("InstanceNormalization B: %w", err)
	}
	c := x.Shape[1]
	if len(scale) != c || len(bias) != c {
		return nil, fmt.Errorf("InstanceNormalization: scale %v and B %v must have %d values", in[1].Shape, in[2].Shape, c)
	}
	vol := tensor.NumElements(x.Shape[2:])
	// one group per channel, scaled per channel
	return nnGroupNorm(ctx, x, x.Shape[0]*c, vol, o.eps, func(j int) (float64, float64) { return scale[j%c], bias[j%c] })
}

// nnGroupNorm normalizes x viewed as groups contiguous runs of length vol
// each to zero mean and unit variance, then applies the affine map (scale,
// bias) that ab returns for the run.
func nnGroupNorm(ctx *Context, x *tensor.Tensor, groups, vol int, eps float64, ab func(run int) (float64, float64)) ([]*tensor.Tensor, error) {
	y := ctx.NewTensor(x.DType, x.Shape...)
	switch xd := x.Data.(type) {
	case []float32:
		nnNormRuns(ctx, xd, y.Data.([]float32), groups, vol, eps, func(run int, m, inv float64, xs, ys []float32) {
			a, b := ab(run)
			at, bt := float32(a*inv), float32(b-m*a*inv)
			for i, v := range xs {
				ys[i] = v*at + bt
			}
		})
	case []float64:
		nnNormRuns(ctx, xd, y.Data.([]float64), groups, vol, eps, func(run int, m, inv float64, xs, ys []float64) {
			a, b := ab(run)
			for i, v := range xs {
				ys[i] = (v-m)*inv*a + b
			}
		})
	}
	return []*tensor.Tensor{y}, nil
}

// nnNormRuns computes mean and 1/sqrt(var+eps) of each run (two passes in
// float64) and hands them to emit.
func nnNormRuns[T nnFloat](ctx *Context, x, y []T, runs, vol int, eps float64, emit func(run int, mean, inv float64, xs, ys []T)) {
	ctx.Parallel(runs, max(1, 8192/max(vol, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, ys := x[r*vol:(r+1)*vol], y[r*vol:(r+1)*vol]
			m, inv := nnMeanInvStd(xs, eps)
			emit(r, m, inv, xs, ys)
		}
	})
}

func nnMeanInvStd[T nnFloat](xs []T, eps float64) (float64, float64) {
	var s float64
	for _, v := range xs {
		s += float64(v)
	}
	m := s / float64(len(xs))
	var q float64
	for _, v := range xs {
		d := float64(v) - m
		q += d * d
	}
	return m, 1 / math.Sqrt(q/float64(len(xs))+eps)
}

type layerNormOp struct {
	axis int
	eps  float64
}

func buildLayerNorm(n *graph.Node, opset int) (Op, error) {
	return &layerNormOp{axis: int(n.AttrInt("axis", -1)), eps: float64(n.AttrFloat("epsilon", 1e-5))}, nil
}

func (o *layerNormOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("LayerNormalization: want 2 or 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "LayerNormalization X"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return layerNormRun[float64](o, ctx, in)
	}
	return layerNormRun[float32](o, ctx, in)
}

// nnExpandTrailing broadcasts p (shape pshape) to the trailing shape, as
// a flat slice of its element count.
func nnExpandTrailing[T nnFloat](p []T, pshape, shape []int) ([]T, error) {
	n := tensor.NumElements(shape)
	if len(p) == n {
		return p, nil
	}
	if _, err := nnBroadcastShapes(shape, pshape); err != nil || len(pshape) > len(shape) {
		return nil, fmt.Errorf("shape %v does not broadcast to %v", pshape, shape)
	}
	out := make([]T, n)
	idx := make([]int, len(shape))
	off := len(shape) - len(pshape)
	for i := range n {
		k := 0
		for a, d := range pshape {
			k *= d
			if d != 1 {
				k += idx[a+off]
			}
		}
		if len(p) == 1 {
			k = 0
		}
		out[i] = p[k]
		for a := len(shape) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return out, nil
}

func layerNormRun[T nnFloat](o *layerNormOp, ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	axis, err := nnNormAxis(o.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization: %w", err)
	}
	xd := x.Data.([]T)
	rows := tensor.NumElements(x.Shape[:axis])
	vol := tensor.NumElements(x.Shape[axis:])
	sd, err := nnData[T](in[1], "LayerNormalization Scale")
	if err != nil {
		return nil, err
	}
	scale, err := nnExpandTrailing(sd, in[1].Shape, x.Shape[axis:])
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization Scale: %w", err)
	}
	var bias []T
	if len(in) > 2 && in[2] != nil {
		bd, err := nnData[T](in[2], "LayerNormalization B")
		if err != nil {
			return nil, err
		}
		if bias, err = nnExpandTrailing(bd, in[2].Shape, x.Shape[axis:]); err != nil {
			return nil, fmt.Errorf("LayerNormalization B: %w", err)
		}
	}
	y := ctx.NewTensor(x.DType, x.Shape...)
	sshape := append([]int(nil), x.Shape...)
	for i := axis; i < len(sshape); i++ {
		sshape[i] = 1
	}
	meanT, invT := ctx.NewTensor(x.DType, sshape...), ctx.NewTensor(x.DType, sshape...)
	md, id := meanT.Data.([]T), invT.Data.([]T)
	nnNormRuns(ctx, xd, y.Data.([]T), rows, vol, o.eps, func(r int, m, inv float64, xs, ys []T) {
		md[r], id[r] = T(m), T(inv)
		mt, it := T(m), T(inv)
		if bias != nil {
			for i, v := range xs {
				ys[i] = (v-mt)*it*scale[i] + bias[i]
			}
		} else {
			for i, v := range xs {
				ys[i] = (v - mt) * it * scale[i]
			}
		}
	})
	return []*tensor.Tensor{y, meanT, invT}, nil
}

type groupNormOp struct {
	groups int
	eps    float64
}

func buildGroupNorm(n *graph.Node, opset int) (Op, error) {
	g := int(n.AttrInt("num_groups", 0))
	if g < 1 {
		return nil, fmt.Errorf("GroupNormalization: num_groups %d must be positive", g)
	}
	return &groupNormOp{groups: g, eps: float64(n.AttrFloat("epsilon", 1e-5))}, nil
}

func (o *groupNormOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 3 {
		return nil, fmt.Errorf("GroupNormalization: want 3 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "GroupNormalization X"); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("GroupNormalization: X %v must have rank >= 2", x.Shape)
	}
	nb, c := x.Shape[0], x.Shape[1]
	if c%o.groups != 0 {
		return nil, fmt.Errorf("GroupNormalization: %d channels not divisible by num_groups %d", c, o.groups)
	}
	scale, err := nnFloats(in[1])
	if err != nil {
		return nil, fmt.Errorf("GroupNormalization scale: %w", err)
	}
	bias, err := nnFloats(in[2])
	if err != nil {
		return nil, fmt.Errorf("GroupNormalization bias: %w", err)
	}
	// opset 18 has one scale per group, opset 21 one per channel
	if (len(scale) != c && len(scale) != o.groups) || len(bias) != len(scale) {
		return nil, fmt.Errorf("GroupNormalization: scale %v and bias %v must have %d (channels) or %d (groups) values", in[1].Shape, in[2].Shape, c, o.groups)
	}
	cg := c / o.groups
	vol := tensor.NumElements(x.Shape[2:])
	// normalize per group, then scale per channel: normalize into y first
	y, err := nnGroupNorm(ctx, x, nb*o.groups, cg*vol, o.eps, func(int) (float64, float64) { return 1, 0 })
	if err != nil {
		return nil, err
	}
	perChan := len(scale) == c
	apply := func(j int) (float64, float64) {
		ch := j % c
		if perChan {
			return scale[ch], bias[ch]
		}
		return scale[ch/cg], bias[ch/cg]
	}
	switch yd := y[0].Data.(type) {
	case []float32:
		for j := range nb * c {
			a, b := apply(j)
			at, bt := float32(a), float32(b)
			for i, v := range yd[j*vol : (j+1)*vol] {
				yd[j*vol+i] = v*at + bt
			}
		}
	case []float64:
		for j := range nb * c {
			a, b := apply(j)
			for i, v := range yd[j*vol : (j+1)*vol] {
				yd[j*vol+i] = v*a + b
			}
		}
	}
	return y, nil
}

type lrnOp struct {
	size              int
	alpha, beta, bias float64
}

func buildLRN(n *graph.Node, opset int) (Op, error) {
	s := int(n.AttrInt("size", 0))
	if s < 1 {
		return nil, fmt.Errorf("LRN: size %d must be positive", s)
	}
	return &lrnOp{size: s, alpha: float64(n.AttrFloat("alpha", 1e-4)), beta: float64(n.AttrFloat("beta", 0.75)), bias: float64(n.AttrFloat("bias", 1))}, nil
}

func (o *lrnOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("LRN: missing input")
	}
	if err := nnCheckFloat(in[0], "LRN X"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return lrnRun[float64](o, ctx, in[0])
	}
	return lrnRun[float32](o, ctx, in[0])
}

func lrnRun[T nnFloat](o *lrnOp, ctx *Context, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	if x.Rank() < 2 {
		return nil, fmt.Errorf("LRN: X %v must have rank >= 2", x.Shape)
	}
	xd := x.Data.([]T)
	y := ctx.NewTensor(x.DType, x.Shape...)
	yd := y.Data.([]T)
	nb, c := x.Shape[0], x.Shape[1]
	vol := tensor.NumElements(x.Shape[2:])
	// channels [c - floor((size-1)/2), c + ceil((size-1)/2)]
	lo := (o.size - 1) / 2
	hi := o.size - 1 - lo
	ctx.Parallel(nb*c, 1, func(a, b int) {
		for j := a; j < b; j++ {
			n, ch := j/c, j%c
			c0, c1 := max(0, ch-lo), min(c-1, ch+hi)
			for i := range vol {
				var s float64
				for k := c0; k <= c1; k++ {
					v := float64(xd[(n*c+k)*vol+i])
					s += v * v
				}
				yd[j*vol+i] = T(float64(xd[j*vol+i]) / math.Pow(o.bias+o.alpha/float64(o.size)*s, o.beta))
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

type mvnOp struct{ axes []int }

func buildMVN(n *graph.Node, opset int) (Op, error) {
	return &mvnOp{axes: nnToInts(n.AttrInts("axes", []int64{0, 2, 3}))}, nil
}

func (o *mvnOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("MeanVarianceNormalization: missing input")
	}
	if err := nnCheckFloat(in[0], "MeanVarianceNormalization X"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return mvnRun[float64](o, ctx, in[0])
	}
	return mvnRun[float32](o, ctx, in[0])
}

// mvnRun follows the operator's function body: (X - E[X]) / (sqrt(E[X²] -
// E[X]²) + 1e-9) over the given axes.
func mvnRun[T nnFloat](o *mvnOp, ctx *Context, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	r := x.Rank()
	reduced := make([]bool, r)
	for _, a := range o.axes {
		a, err := nnNormAxis(a, r)
		if err != nil {
			return nil, fmt.Errorf("MeanVarianceNormalization: %w", err)
		}
		reduced[a] = true
	}
	// kept index of every element
	keptStride := make([]int, r)
	kept := 1
	for a := r - 1; a >= 0; a-- {
		if !reduced[a] {
			keptStride[a] = kept
			kept *= x.Shape[a]
		}
	}
	n := x.Len()
	ki := make([]int, n)
	idx := make([]int, r)
	for i := range n {
		k := 0
		for a := range r {
			k += idx[a] * keptStride[a]
		}
		ki[i] = k
		for a := r - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < x.Shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	xd := x.Data.([]T)
	sum, sq, cnt := make([]float64, kept), make([]float64, kept), make([]float64, kept)
	for i, v := range xd {
		sum[ki[i]] += float64(v)
		sq[ki[i]] += float64(v) * float64(v)
		cnt[ki[i]]++
	}
	for k := range kept {
		m := sum[k] / cnt[k]
		sum[k] = m
		sq[k] = math.Sqrt(max(0, sq[k]/cnt[k]-m*m)) + 1e-9
	}
	y := ctx.NewTensor(x.DType, x.Shape...)
	yd := y.Data.([]T)
	for i, v := range xd {
		yd[i] = T((float64(v) - sum[ki[i]]) / sq[ki[i]])
	}
	return []*tensor.Tensor{y}, nil
}
