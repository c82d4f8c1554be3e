package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Constant, ConstantOfShape, EyeLike and Range: operators that make tensors
// from attributes and shapes.

func init() {
	register("Constant", 1, buildConstant)
	register("ConstantOfShape", 9, buildConstantOfShape)
	register("EyeLike", 9, buildEyeLike)
	register("Range", 11, func(n *graph.Node, opset int) (Op, error) { return OpFunc(rangeOp), nil })
}

// protoTensor converts a TensorProto held in the model (attribute values,
// initializers of single-node tests) to a tensor, from raw_data or from the
// typed fields.
func protoTensor(tp *onnx.TensorProto) (*tensor.Tensor, error) {
	if tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data not loaded", tp.GetName())
	}
	shape := make([]int, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		shape[i] = int(d)
	}
	dt := tensor.DType(tp.GetDataType())
	t := tensor.New(dt, shape...)
	n := t.Len()
	raw := tp.GetRawData()
	le := binary.LittleEndian
	short := func(size int) error {
		if len(raw) < n*size {
			return fmt.Errorf("tensor %q: raw data of %d bytes, want %d", tp.GetName(), len(raw), n*size)
		}
		return nil
	}
	useRaw := raw != nil && dt != tensor.String
	var err error
	switch d := t.Data.(type) {
	case []float32:
		if useRaw {
			if err = short(4); err == nil {
				for i := range d {
					d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
				}
			}
		} else {
			copy(d, tp.GetFloatData())
		}
	case []float64:
		if useRaw {
			if err = short(8); err == nil {
				for i := range d {
					d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
				}
			}
		} else {
			copy(d, tp.GetDoubleData())
		}
	case []int64:
		if useRaw {
			if err = short(8); err == nil {
				for i := range d {
					d[i] = int64(le.Uint64(raw[8*i:]))
				}
			}
		} else {
			copy(d, tp.GetInt64Data())
		}
	case []uint64:
		if useRaw {
			if err = short(8); err == nil {
				for i := range d {
					d[i] = le.Uint64(raw[8*i:])
				}
			}
		} else {
			copy(d, tp.GetUint64Data())
		}
	case []uint32:
		if useRaw {
			if err = short(4); err == nil {
				for i := range d {
					d[i] = le.Uint32(raw[4*i:])
				}
			}
		} else {
			for i, v := range tp.GetUint64Data() {
				d[i] = uint32(v)
			}
		}
	case []int32:
		if useRaw {
			if err = short(4); err == nil {
				for i := range d {
					d[i] = int32(le.Uint32(raw[4*i:]))
				}
			}
		} else {
			copy(d, tp.GetInt32Data())
		}
	case []int16:
		if useRaw {
			if err = short(2); err == nil {
				for i := range d {
					d[i] = int16(le.Uint16(raw[2*i:]))
				}
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = int16(v)
			}
		}
	case []uint16:
		if useRaw {
			if err = short(2); err == nil {
				for i := range d {
					d[i] = le.Uint16(raw[2*i:])
				}
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = uint16(v)
			}
		}
	case []int8:
		if dt == tensor.Int4 {
			src := raw
			if !useRaw {
				src = make([]byte, len(tp.GetInt32Data()))
				for i, v := range tp.GetInt32Data() {
					src[i] = byte(v)
				}
			}
			for i := range d {
				b := src[i/2] >> (4 * (i % 2)) & 0xf
				d[i] = int8(b<<4) >> 4
			}
		} else if useRaw {
			if err = short(1); err == nil {
				for i := range d {
					d[i] = int8(raw[i])
				}
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = int8(v)
			}
		}
	case []uint8:
		if dt == tensor.Uint4 || dt == tensor.Float4E2M1 {
			src := raw
			if !useRaw {
				src = make([]byte, len(tp.GetInt32Data()))
				for i, v := range tp.GetInt32Data() {
					src[i] = byte(v)
				}
			}
			for i := range d {
				d[i] = src[i/2] >> (4 * (i % 2)) & 0xf
			}
		} else if useRaw {
			if err = short(1); err == nil {
				copy(d, raw)
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = uint8(v)
			}
		}
	case []bool:
		if useRaw {
			if err = short(1); err == nil {
				for i := range d {
					d[i] = raw[i] != 0
				}
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = v != 0
			}
		}
	case []string:
		for i, v := range tp.GetStringData() {
			if i < len(d) {
				d[i] = string(v)
			}
		}
	case []complex64:
		if useRaw {
			if err = short(8); err == nil {
				for i := range d {
					d[i] = complex(math.Float32frombits(le.Uint32(raw[8*i:])), math.Float32frombits(le.Uint32(raw[8*i+4:])))
				}
			}
		} else {
			f := tp.GetFloatData()
			for i := range d {
				d[i] = complex(f[2*i], f[2*i+1])
			}
		}
	case []complex128:
		if useRaw {
			if err = short(16); err == nil {
				for i := range d {
					d[i] = complex(math.Float64frombits(le.Uint64(raw[16*i:])), math.Float64frombits(le.Uint64(raw[16*i+8:])))
				}
			}
		} else {
			f := tp.GetDoubleData()
			for i := range d {
				d[i] = complex(f[2*i], f[2*i+1])
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// buildConstant reads whichever value attribute the node carries; the
// tensor is made once and copied per run so callers may own their outputs.
func buildConstant(n *graph.Node, opset int) (Op, error) {
	var t *tensor.Tensor
	var err error
	switch {
	case n.Attr("value") != nil:
		t, err = protoTensor(n.AttrTensor("value"))
	case n.Attr("sparse_value") != nil:
		t, err = sparseTensor(n.Attr("sparse_value").GetSparseTensor())
	case n.Attr("value_float") != nil:
		t = tensor.FromFloat32([]float32{n.AttrFloat("value_float", 0)})
	case n.Attr("value_floats") != nil:
		v := append([]float32(nil), n.AttrFloats("value_floats", nil)...)
		t = tensor.FromFloat32(v, len(v))
	case n.Attr("value_int") != nil:
		t = tensor.FromInt64([]int64{n.AttrInt("value_int", 0)})
	case n.Attr("value_ints") != nil:
		v := append([]int64(nil), n.AttrInts("value_ints", nil)...)
		t = tensor.FromInt64(v, len(v))
	case n.Attr("value_string") != nil:
		t = &tensor.Tensor{DType: tensor.String, Shape: []int{}, Data: []string{n.AttrString("value_string", "")}}
	case n.Attr("value_strings") != nil:
		v := n.AttrStrings("value_strings", nil)
		t = &tensor.Tensor{DType: tensor.String, Shape: []int{len(v)}, Data: v}
	default:
		return nil, fmt.Errorf("Constant without a value attribute")
	}
	if err != nil {
		return nil, err
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return []*tensor.Tensor{cloneTensor(ctx, t)}, nil
	}), nil
}

// sparseTensor densifies a SparseTensorProto: indices are either [NNZ]
// linear offsets or [NNZ, rank] coordinates.
func sparseTensor(sp *onnx.SparseTensorProto) (*tensor.Tensor, error) {
	if sp == nil {
		return nil, fmt.Errorf("sparse_value is not a sparse tensor")
	}
	vals, err := protoTensor(sp.GetValues())
	if err != nil {
		return nil, err
	}
	it, err := protoTensor(sp.GetIndices())
	if err != nil {
		return nil, err
	}
	ix, err := asInts(it, "sparse indices")
	if err != nil {
		return nil, err
	}
	shape := nnToInts(sp.GetDims())
	total := tensor.NumElements(shape)
	nnz := vals.Len()
	idx := make([]int, total)
	for i := range idx {
		idx[i] = -1
	}
	for k := range nnz {
		off := 0
		if len(it.Shape) == 2 {
			for j := range shape {
				off = off*shape[j] + ix[k*len(shape)+j]
			}
		} else {
			off = ix[k]
		}
		if off < 0 || off >= total {
			return nil, fmt.Errorf("sparse index %d out of range", off)
		}
		idx[off] = k
	}
	return takeTensor(nil, vals, idx, shape), nil
}

func buildConstantOfShape(n *graph.Node, opset int) (Op, error) {
	fill := tensor.FromFloat32([]float32{0}, 1)
	if tp := n.AttrTensor("value"); tp != nil {
		var err error
		if fill, err = protoTensor(tp); err != nil {
			return nil, err
		}
		if fill.Len() != 1 {
			return nil, fmt.Errorf("value must hold one element, has %d", fill.Len())
		}
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("want 1 input")
		}
		shape, err := asInts(in[0], "shape")
		if err != nil {
			return nil, err
		}
		for _, d := range shape {
			if d < 0 {
				return nil, fmt.Errorf("negative dimension in shape %v", shape)
			}
		}
		idx := make([]int, tensor.NumElements(shape))
		return []*tensor.Tensor{takeTensor(ctx, fill, idx, shape)}, nil
	}), nil
}

func buildEyeLike(n *graph.Node, opset int) (Op, error) {
	k := int(n.AttrInt("k", 0))
	dt := tensor.DType(n.AttrInt("dtype", 0))
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil || len(in[0].Shape) != 2 {
			return nil, fmt.Errorf("want one 2-D input")
		}
		odt := dt
		if odt == tensor.Undefined {
			odt = in[0].DType
		}
		r, c := in[0].Shape[0], in[0].Shape[1]
		v := make([]float64, r*c)
		for i := range r {
			if j := i + k; j >= 0 && j < c {
				v[i*c+j] = 1
			}
		}
		t, err := fromFloat64s(v, odt, in[0].Shape)
		return []*tensor.Tensor{t}, err
	}), nil
}

// rangeOp computes start, start+delta, ... up to limit, with
// max(ceil((limit-start)/delta), 0) elements.
func rangeOp(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("want 3 inputs")
	}
	dt := in[0].DType
	var sv [3]float64
	for i, t := range in {
		if t.Len() != 1 {
			return nil, fmt.Errorf("input %d must be a scalar, has shape %v", i, t.Shape)
		}
		v, err := asFloat64s(t)
		if err != nil {
			return nil, err
		}
		sv[i] = v[0]
	}
	start, limit, delta := sv[0], sv[1], sv[2]
	if delta == 0 {
		return nil, fmt.Errorf("delta is zero")
	}
	count := max(int(math.Ceil((limit-start)/delta)), 0)
	switch dt {
	case tensor.Float:
		// accumulate in float32 like the reference, so the last element
		// rounds the same way
		d := make([]float32, count)
		s, dl := float32(start), float32(delta)
		for i := range d {
			d[i] = s + float32(i)*dl
		}
		return []*tensor.Tensor{{DType: dt, Shape: []int{count}, Data: d}}, nil
	}
	v := make([]float64, count)
	for i := range v {
		v[i] = start + float64(i)*delta
	}
	t, err := fromFloat64s(v, dt, []int{count})
	return []*tensor.Tensor{t}, err
}
