package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/tensor"
)

// Helpers shared by the quantized operators (quant_*.go): integer element
// types read as int32, saturation ranges, and the mapping from an element to
// its scale and zero point (per tensor, per axis or per block).

// qRange is the representable range of an integer quantized type.
func qRange(dt tensor.DType) (lo, hi int32, ok bool) {
	switch dt {
	case tensor.Uint8:
		return 0, 255, true
	case tensor.Int8:
		return -128, 127, true
	case tensor.Uint16:
		return 0, 65535, true
	case tensor.Int16:
		return -32768, 32767, true
	case tensor.Uint4:
		return 0, 15, true
	case tensor.Int4:
		return -8, 7, true
	case tensor.Int32:
		return math.MinInt32, math.MaxInt32, true
	}
	return 0, 0, false
}

// qInts reads an integer tensor as int32 values.
func qInts(t *tensor.Tensor, what string) ([]int32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: missing input", what)
	}
	switch d := t.Data.(type) {
	case []int32:
		return d, nil
	case []int8:
		return convSlice[int8, int32](d), nil
	case []uint8:
		if t.DType == tensor.Uint8 || t.DType == tensor.Uint4 {
			return convSlice[uint8, int32](d), nil
		}
	case []int16:
		return convSlice[int16, int32](d), nil
	case []uint16:
		if t.DType == tensor.Uint16 {
			return convSlice[uint16, int32](d), nil
		}
	}
	return nil, fmt.Errorf("%s: element type %v is not a quantized integer type", what, t.DType)
}

// qFromInts builds a tensor of integer type dt from values already in range.
func qFromInts(ctx *Context, dt tensor.DType, shape []int, v []int32) *tensor.Tensor {
	t := ctx.NewTensor(dt, shape...)
	switch d := t.Data.(type) {
	case []int32:
		copy(d, v)
	case []int8:
		for i, x := range v {
			d[i] = int8(x)
		}
	case []uint8:
		for i, x := range v {
			d[i] = uint8(x)
		}
	case []int16:
		for i, x := range v {
			d[i] = int16(x)
		}
	case []uint16:
		for i, x := range v {
			d[i] = uint16(x)
		}
	}
	return t
}

// qFloats reads a float32, float16 or bfloat16 tensor (scales, float data)
// as float32 values.
func qFloats(t *tensor.Tensor, what string) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: missing input", what)
	}
	switch t.DType {
	case tensor.Float:
		return t.Float32(), nil
	case tensor.Float16, tensor.BFloat16:
		return halfToF32(t).Float32(), nil
	case tensor.Double, tensor.Int32:
		v, err := asFloat64s(t)
		if err != nil {
			return nil, err
		}
		return convSlice[float64, float32](v), nil
	}
	return nil, fmt.Errorf("%s: element type %v is not a float type", what, t.DType)
}

// qStoreFloats converts float32 results to the output type dt (float32,
// float16 or bfloat16).
func qStoreFloats(ctx *Context, dt tensor.DType, shape []int, v []float32) (*tensor.Tensor, error) {
	switch dt {
	case tensor.Float:
		t := ctx.NewTensor(dt, shape...)
		copy(t.Float32(), v)
		return t, nil
	case tensor.Float16, tensor.BFloat16:
		return f32ToHalf(tensor.FromFloat32(v, shape...), dt), nil
	}
	return nil, fmt.Errorf("output element type %v not supported", dt)
}

// qRound rounds half to even and saturates to [lo, hi].
func qRound(v float32, zp int32, lo, hi int32) int32 {
	r := math.RoundToEven(float64(v)) + float64(zp)
	if r < float64(lo) {
		return lo
	}
	if r > float64(hi) {
		return hi
	}
	if r != r { // NaN saturates to zero like a cast of NaN would be undefined
		return 0
	}
	return int32(r)
}

// qLayout maps elements of x to the index of their scale and zero point.
type qLayout struct {
	outer, dim, inner int
	mode              int // 0 per tensor, 1 per axis, 2 blocked
	block             int
}

// newQLayout works out how a scale of shape sShape applies to x: a scalar
// (or a single element) is per tensor; a 1-D scale of x's axis length is per
// axis; with block > 0, a scale of x's rank whose axis is split in blocks.
func newQLayout(xShape, sShape []int, axis, block int) (qLayout, error) {
	var l qLayout
	n := tensor.NumElements(sShape)
	if block <= 0 && n == 1 && len(sShape) <= 1 {
		l.outer, l.dim, l.inner = 1, 1, tensor.NumElements(xShape)
		return l, nil
	}
	if len(xShape) == 0 {
		return l, fmt.Errorf("scale %v for a scalar input", sShape)
	}
	a, err := nnNormAxis(axis, len(xShape))
	if err != nil {
		return l, err
	}
	l.outer, l.dim, l.inner = 1, xShape[a], 1
	for _, d := range xShape[:a] {
		l.outer *= d
	}
	for _, d := range xShape[a+1:] {
		l.inner *= d
	}
	if block <= 0 {
		if len(sShape) != 1 || sShape[0] != xShape[a] {
			return l, fmt.Errorf("per-axis scale %v: want [%d] (axis %d of %v)", sShape, xShape[a], a, xShape)
		}
		l.mode = 1
		return l, nil
	}
	if len(sShape) != len(xShape) {
		return l, fmt.Errorf("blocked scale %v: want rank %d like the input %v", sShape, len(xShape), xShape)
	}
	for i := range xShape {
		want := xShape[i]
		if i == a {
			want = (xShape[i] + block - 1) / block
		}
		if sShape[i] != want {
			return l, fmt.Errorf("blocked scale %v: want dim %d = %d for input %v, block_size %d, axis %d", sShape, i, want, xShape, block, a)
		}
	}
	l.mode, l.block = 2, block
	return l, nil
}

// each calls fn for every run of contiguous elements that share how their
// parameter index advances: element start+j uses parameter pbase+j*pstep.
func (l qLayout) each(fn func(start, n, pbase, pstep int)) {
	switch l.mode {
	case 0:
		fn(0, l.outer*l.dim*l.inner, 0, 0)
	case 1:
		for o := range l.outer {
			for a := range l.dim {
				fn((o*l.dim+a)*l.inner, l.inner, a, 0)
			}
		}
	case 2:
		nb := (l.dim + l.block - 1) / l.block
		for o := range l.outer {
			for a := range l.dim {
				fn((o*l.dim+a)*l.inner, l.inner, (o*nb+a/l.block)*l.inner, 1)
			}
		}
	}
}
