package kernels

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("Gemm", 1, buildGemm) // before opset 7 "broadcast" gated what we always do
	register("MatMul", 1, buildMatMul)
}

// nnGemm runs a GEMM on T: float32 through the fast sgemm, float64 through
// the plain-Go loop.
func nnGemm[T nnFloat](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, threads int) {
	switch c := any(c).(type) {
	case []float32:
		nnSgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), c, ldc, threads)
	default:
		nnGemmLoop(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c.([]T), ldc)
	}
}

type gemmOp struct {
	transA, transB bool
	alpha, beta    float32
	// act is an activation a later pass may fuse into the epilogue.
	act nnAct
	// ref selects the naive reference kernel (tests compare against it).
	ref bool
}

func buildGemm(n *graph.Node, opset int) (Op, error) {
	return &gemmOp{
		transA: n.AttrInt("transA", 0) != 0,
		transB: n.AttrInt("transB", 0) != 0,
		alpha:  n.AttrFloat("alpha", 1),
		beta:   n.AttrFloat("beta", 1),
	}, nil
}

func (o *gemmOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("Gemm: want at least 2 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "Gemm A"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return gemmRun[float64](o, ctx, in)
	}
	return gemmRun[float32](o, ctx, in)
}

func gemmRun[T nnFloat](o *gemmOp, ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, err := nnData[T](in[0], "Gemm A")
	if err != nil {
		return nil, err
	}
	b, err := nnData[T](in[1], "Gemm B")
	if err != nil {
		return nil, err
	}
	if in[0].Rank() != 2 || in[1].Rank() != 2 {
		return nil, fmt.Errorf("Gemm: A %v and B %v must be 2-D", in[0].Shape, in[1].Shape)
	}
	m, k := in[0].Shape[0], in[0].Shape[1]
	if o.transA {
		m, k = k, m
	}
	kb, n := in[1].Shape[0], in[1].Shape[1]
	if o.transB {
		kb, n = n, kb
	}
	if k != kb {
		return nil, fmt.Errorf("Gemm: inner dimensions differ: A %v (transA=%v), B %v (transB=%v)", in[0].Shape, o.transA, in[1].Shape, o.transB)
	}
	y := ctx.NewTensor(nnDType[T](), m, n)
	yd := y.Data.([]T)
	beta := T(o.beta)
	lda, ldb := k, n
	if o.transA {
		lda = m
	}
	if o.transB {
		ldb = k
	}
	// float32 with a row-vector C (the usual Linear bias) and beta 1: bias
	// and activation go into the GEMM's epilogue
	if y32, ok := any(yd).([]float32); ok && !o.ref && beta == 1 && len(in) > 2 && in[2] != nil &&
		in[2].DType == tensor.Float && in[2].Len() == n && (in[2].Rank() == 1 || (in[2].Rank() == 2 && in[2].Shape[0] == 1)) {
		nnSgemmFused(o.transA, o.transB, m, n, k, o.alpha, any(a).([]float32), lda, any(b).([]float32), ldb, 0, y32, n, nnThreads(ctx), nil, in[2].Float32(), o.act)
		return []*tensor.Tensor{y}, nil
	}
	if len(in) > 2 && in[2] != nil && beta != 0 {
		c, err := nnData[T](in[2], "Gemm C")
		if err != nil {
			return nil, err
		}
		if err := nnBroadcastTo2D(yd, c, in[2].Shape, m, n); err != nil {
			return nil, fmt.Errorf("Gemm: C: %w", err)
		}
	} else {
		beta = 0
	}
	if o.ref {
		nnGemmRef(o.transA, o.transB, m, n, k, T(o.alpha), a, lda, b, ldb, beta, yd, n)
	} else {
		nnGemm(o.transA, o.transB, m, n, k, T(o.alpha), a, lda, b, ldb, beta, yd, n, nnThreads(ctx))
	}
	if y32, ok := any(yd).([]float32); ok {
		o.act.apply(y32)
	}
	return []*tensor.Tensor{y}, nil
}

// nnThreads is the thread budget of an op, at least 1.
func nnThreads(c *Context) int {
	if c == nil || c.Threads < 1 {
		return 1
	}
	return c.Threads
}

// nnBroadcastTo2D fills dst (m×n) with src broadcast unidirectionally from
// shape.
func nnBroadcastTo2D[T nnFloat](dst, src []T, shape []int, m, n int) error {
	sm, sn := 1, 1
	switch len(shape) {
	case 0:
	case 1:
		sn = shape[0]
	case 2:
		sm, sn = shape[0], shape[1]
	default:
		return fmt.Errorf("shape %v cannot broadcast to [%d %d]", shape, m, n)
	}
	if (sm != 1 && sm != m) || (sn != 1 && sn != n) {
		return fmt.Errorf("shape %v cannot broadcast to [%d %d]", shape, m, n)
	}
	for i := range m {
		row := dst[i*n : (i+1)*n]
		si := 0
		if sm != 1 {
			si = i * sn
		}
		if sn == 1 {
			v := src[si]
			for j := range row {
				row[j] = v
			}
		} else {
			copy(row, src[si:si+n])
		}
	}
	return nil
}

type matMulOp struct{ ref bool }

func buildMatMul(n *graph.Node, opset int) (Op, error) { return &matMulOp{}, nil }

func (o *matMulOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("MatMul: want 2 inputs, got %d", len(in))
	}
	if err := nnCheckFloat(in[0], "MatMul A"); err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return matMulRun[float64](o.ref, ctx, in[0], in[1])
	}
	return matMulRun[float32](o.ref, ctx, in[0], in[1])
}

// nnBroadcastShapes is numpy broadcasting of two shapes.
func nnBroadcastShapes(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// nnBatchOffsets returns, for every index of the broadcast batch shape, the
// element offset of the matching matrix in an operand with batch shape
// bshape and matrix size msize.
func nnBatchOffsets(batch, bshape []int, msize int) []int {
	total := tensor.NumElements(batch)
	offs := make([]int, total)
	r := len(batch)
	// strides of the operand over the broadcast batch dims (0 where broadcast)
	strides := make([]int, r)
	s := msize
	for i := r - 1; i >= 0; i-- {
		j := len(bshape) - r + i
		if j >= 0 && bshape[j] != 1 {
			strides[i] = s
			s *= bshape[j]
		} else if j >= 0 {
			s *= bshape[j]
		}
	}
	idx := make([]int, r)
	for t := range total {
		o := 0
		for i := range r {
			o += idx[i] * strides[i]
		}
		offs[t] = o
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < batch[i] {
				break
			}
			idx[i] = 0
		}
	}
	return offs
}

func matMulRun[T nnFloat](ref bool, ctx *Context, ta, tb *tensor.Tensor) ([]*tensor.Tensor, error) {
	a, err := nnData[T](ta, "MatMul A")
	if err != nil {
		return nil, err
	}
	b, err := nnData[T](tb, "MatMul B")
	if err != nil {
		return nil, err
	}
	as, bs := ta.Shape, tb.Shape
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("MatMul: scalar operands %v, %v", as, bs)
	}
	aVec, bVec := len(as) == 1, len(bs) == 1
	if aVec {
		as = []int{1, as[0]}
	}
	if bVec {
		bs = []int{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	kb, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != kb {
		return nil, fmt.Errorf("MatMul: inner dimensions differ: %v × %v", ta.Shape, tb.Shape)
	}
	batch, err := nnBroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, fmt.Errorf("MatMul: batch dims: %w", err)
	}
	oshape := append([]int(nil), batch...)
	if !aVec {
		oshape = append(oshape, m)
	}
	if !bVec {
		oshape = append(oshape, n)
	}
	y := ctx.NewTensor(nnDType[T](), oshape...)
	yd := y.Data.([]T)
	nb := tensor.NumElements(batch)
	if nb == 0 || m == 0 || n == 0 {
		return []*tensor.Tensor{y}, nil
	}
	gemm := func(a, b, c []T, m, threads int) {
		if ref {
			nnGemmRef(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		} else {
			nnGemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, threads)
		}
	}
	// B shared by every batch (a weight, typically): one tall GEMM.
	if tensor.NumElements(bs[:len(bs)-2]) == 1 && tensor.NumElements(as[:len(as)-2]) == nb {
		gemm(a, b, yd, nb*m, nnThreads(ctx))
		return []*tensor.Tensor{y}, nil
	}
	aoff := nnBatchOffsets(batch, as[:len(as)-2], m*k)
	boff := nnBatchOffsets(batch, bs[:len(bs)-2], k*n)
	threads := nnThreads(ctx)
	if nb >= threads {
		ctx.Parallel(nb, 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				gemm(a[aoff[t]:], b[boff[t]:], yd[t*m*n:], m, 1)
			}
		})
	} else {
		for t := range nb {
			gemm(a[aoff[t]:], b[boff[t]:], yd[t*m*n:], m, threads)
		}
	}
	return []*tensor.Tensor{y}, nil
}
