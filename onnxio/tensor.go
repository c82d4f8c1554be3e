package onnxio

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// ToTensor decodes a TensorProto into a typed tensor. It reads raw_data when
// present and the typed repeated field ONNX assigns to the data type
// otherwise. External data must already have been loaded (Load does that).
// The tensor never shares memory with tp: callers may change it freely.
func ToTensor(tp *onnx.TensorProto) (*tensor.Tensor, error) {
	if tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data not loaded", tp.GetName())
	}
	shape := make([]int, len(tp.GetDims()))
	// The product is checked as it grows: dims whose product overflows would
	// otherwise wrap to a small count and let a short data field pass.
	elems := int64(1)
	for i, d := range tp.GetDims() {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q: negative dimension %d", tp.GetName(), d)
		}
		if d > 0 && elems > (1<<40)/d {
			return nil, fmt.Errorf("tensor %q: dimensions %v hold too many elements", tp.GetName(), tp.GetDims())
		}
		elems *= d
		shape[i] = int(d)
	}
	dt := tensor.DType(tp.GetDataType())
	if _, ok := elemSize[dt]; !ok && dt != tensor.String {
		return nil, fmt.Errorf("tensor %q: unsupported data type %v", tp.GetName(), dt)
	}
	n := tensor.NumElements(shape)
	if n > 1<<40 {
		return nil, fmt.Errorf("tensor %q: %d elements is too many", tp.GetName(), n)
	}
	t := &tensor.Tensor{DType: dt, Shape: shape}
	var err error
	if tp.RawData != nil && dt != tensor.String {
		t.Data, err = decodeRaw(dt, tp.GetRawData(), n)
	} else {
		t.Data, err = decodeTyped(dt, tp, n)
	}
	if err != nil {
		return nil, fmt.Errorf("tensor %q (%v%v): %w", tp.GetName(), dt, shape, err)
	}
	return t, nil
}

// elemSize is the stored size in bytes of one element in raw_data; the
// 4-bit types have size 0 and are packed two to a byte.
var elemSize = map[tensor.DType]int{
	tensor.Float: 4, tensor.Uint8: 1, tensor.Int8: 1, tensor.Uint16: 2, tensor.Int16: 2,
	tensor.Int32: 4, tensor.Int64: 8, tensor.Bool: 1, tensor.Float16: 2, tensor.Double: 8,
	tensor.Uint32: 4, tensor.Uint64: 8, tensor.Complex64: 8, tensor.Complex128: 16,
	tensor.BFloat16: 2, tensor.Float8E4M3FN: 1, tensor.Float8E4M3FNUZ: 1, tensor.Float8E5M2: 1,
	tensor.Float8E5M2FNUZ: 1, tensor.Uint4: 0, tensor.Int4: 0, tensor.Float4E2M1: 0,
}

func is4bit(dt tensor.DType) bool {
	return dt == tensor.Int4 || dt == tensor.Uint4 || dt == tensor.Float4E2M1
}

func rawLen(dt tensor.DType, n int) int {
	if is4bit(dt) {
		return (n + 1) / 2
	}
	return n * elemSize[dt]
}

func decodeRaw(dt tensor.DType, raw []byte, n int) (any, error) {
	if want := rawLen(dt, n); len(raw) != want {
		return nil, fmt.Errorf("raw_data has %d bytes, want %d", len(raw), want)
	}
	le := binary.LittleEndian
	switch dt {
	case tensor.Float:
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return d, nil
	case tensor.Double:
		d := make([]float64, n)
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return d, nil
	case tensor.Int64:
		d := make([]int64, n)
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
		return d, nil
	case tensor.Uint64:
		d := make([]uint64, n)
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
		return d, nil
	case tensor.Int32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
		return d, nil
	case tensor.Uint32:
		d := make([]uint32, n)
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
		return d, nil
	case tensor.Int16:
		d := make([]int16, n)
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
		return d, nil
	case tensor.Uint16, tensor.Float16, tensor.BFloat16:
		d := make([]uint16, n)
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
		return d, nil
	case tensor.Int8:
		d := make([]int8, n)
		for i := range d {
			d[i] = int8(raw[i])
		}
		return d, nil
	case tensor.Uint8, tensor.Float8E4M3FN, tensor.Float8E4M3FNUZ, tensor.Float8E5M2, tensor.Float8E5M2FNUZ:
		return append([]uint8(nil), raw...), nil
	case tensor.Bool:
		d := make([]bool, n)
		for i := range d {
			d[i] = raw[i] != 0
		}
		return d, nil
	case tensor.Int4:
		d := make([]int8, n)
		for i := range d {
			d[i] = signExtend4(nibble(raw, i))
		}
		return d, nil
	case tensor.Uint4, tensor.Float4E2M1:
		d := make([]uint8, n)
		for i := range d {
			d[i] = nibble(raw, i)
		}
		return d, nil
	case tensor.Complex64:
		d := make([]complex64, n)
		for i := range d {
			d[i] = complex(math.Float32frombits(le.Uint32(raw[8*i:])), math.Float32frombits(le.Uint32(raw[8*i+4:])))
		}
		return d, nil
	case tensor.Complex128:
		d := make([]complex128, n)
		for i := range d {
			d[i] = complex(math.Float64frombits(le.Uint64(raw[16*i:])), math.Float64frombits(le.Uint64(raw[16*i+8:])))
		}
		return d, nil
	}
	return nil, fmt.Errorf("unsupported data type %v", dt)
}

// nibble returns element i of a 4-bit packed buffer: the low nibble holds
// the even element, as ONNX packs int4.
func nibble(b []byte, i int) uint8 {
	v := b[i/2]
	if i%2 == 1 {
		v >>= 4
	}
	return v & 0x0f
}

func signExtend4(v uint8) int8 { return int8(v<<4) >> 4 }

func decodeTyped(dt tensor.DType, tp *onnx.TensorProto, n int) (any, error) {
	count := func(have, want int) error {
		if have != want {
			return fmt.Errorf("has %d values, want %d", have, want)
		}
		return nil
	}
	switch dt {
	case tensor.Float:
		return append([]float32(nil), tp.GetFloatData()...), count(len(tp.GetFloatData()), n)
	case tensor.Complex64:
		f := tp.GetFloatData()
		if err := count(len(f), 2*n); err != nil {
			return nil, err
		}
		d := make([]complex64, n)
		for i := range d {
			d[i] = complex(f[2*i], f[2*i+1])
		}
		return d, nil
	case tensor.Double:
		return append([]float64(nil), tp.GetDoubleData()...), count(len(tp.GetDoubleData()), n)
	case tensor.Complex128:
		f := tp.GetDoubleData()
		if err := count(len(f), 2*n); err != nil {
			return nil, err
		}
		d := make([]complex128, n)
		for i := range d {
			d[i] = complex(f[2*i], f[2*i+1])
		}
		return d, nil
	case tensor.Int64:
		return append([]int64(nil), tp.GetInt64Data()...), count(len(tp.GetInt64Data()), n)
	case tensor.Uint64:
		return append([]uint64(nil), tp.GetUint64Data()...), count(len(tp.GetUint64Data()), n)
	case tensor.Uint32:
		src := tp.GetUint64Data()
		d := make([]uint32, len(src))
		for i, v := range src {
			d[i] = uint32(v)
		}
		return d, count(len(src), n)
	case tensor.String:
		src := tp.GetStringData()
		d := make([]string, len(src))
		for i, v := range src {
			d[i] = string(v)
		}
		return d, count(len(src), n)
	}
	// Every other type lives in int32_data, one element per entry, except
	// the 4-bit types, which pack two elements into each entry.
	src := tp.GetInt32Data()
	if is4bit(dt) {
		if err := count(len(src), (n+1)/2); err != nil {
			return nil, err
		}
		packed := make([]byte, len(src))
		for i, v := range src {
			packed[i] = byte(v)
		}
		return decodeRaw(dt, packed, n)
	}
	if err := count(len(src), n); err != nil {
		return nil, err
	}
	switch dt {
	case tensor.Int32:
		return append([]int32(nil), src...), nil
	case tensor.Int16:
		d := make([]int16, n)
		for i, v := range src {
			d[i] = int16(v)
		}
		return d, nil
	case tensor.Int8:
		d := make([]int8, n)
		for i, v := range src {
			d[i] = int8(v)
		}
		return d, nil
	case tensor.Uint16, tensor.Float16, tensor.BFloat16:
		d := make([]uint16, n)
		for i, v := range src {
			d[i] = uint16(v)
		}
		return d, nil
	case tensor.Uint8, tensor.Float8E4M3FN, tensor.Float8E4M3FNUZ, tensor.Float8E5M2, tensor.Float8E5M2FNUZ:
		d := make([]uint8, n)
		for i, v := range src {
			d[i] = uint8(v)
		}
		return d, nil
	case tensor.Bool:
		d := make([]bool, n)
		for i, v := range src {
			d[i] = v != 0
		}
		return d, nil
	}
	return nil, fmt.Errorf("unsupported data type %v", dt)
}

// FromTensor encodes a tensor as a TensorProto named name. Numbers go to
// raw_data (little-endian, 4-bit types packed two to a byte, low nibble
// first); strings go to string_data.
func FromTensor(name string, t *tensor.Tensor) (*onnx.TensorProto, error) {
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	dt := int32(t.DType)
	tp := &onnx.TensorProto{Name: &name, Dims: dims, DataType: &dt}
	n := t.Len()
	le := binary.LittleEndian
	if t.DType == tensor.String {
		src, ok := t.Data.([]string)
		if !ok || len(src) != n {
			return nil, fmt.Errorf("tensor %q: data %T does not hold %d strings", name, t.Data, n)
		}
		tp.StringData = make([][]byte, n)
		for i, s := range src {
			tp.StringData[i] = []byte(s)
		}
		return tp, nil
	}
	if _, ok := elemSize[t.DType]; !ok {
		return nil, fmt.Errorf("tensor %q: unsupported data type %v", name, t.DType)
	}
	raw := make([]byte, rawLen(t.DType, n))
	bad := func() (*onnx.TensorProto, error) {
		return nil, fmt.Errorf("tensor %q: data %T does not hold %d elements of %v", name, t.Data, n, t.DType)
	}
	switch d := t.Data.(type) {
	case []float32:
		if len(d) != n || t.DType != tensor.Float {
			return bad()
		}
		for i, v := range d {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case []float64:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case []int64:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case []uint64:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint64(raw[8*i:], v)
		}
	case []int32:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case []uint32:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint32(raw[4*i:], v)
		}
	case []int16:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []uint16:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint16(raw[2*i:], v)
		}
	case []int8:
		if len(d) != n {
			return bad()
		}
		if t.DType == tensor.Int4 {
			for i, v := range d {
				putNibble(raw, i, uint8(v)&0x0f)
			}
		} else {
			for i, v := range d {
				raw[i] = byte(v)
			}
		}
	case []uint8:
		if len(d) != n {
			return bad()
		}
		if is4bit(t.DType) {
			for i, v := range d {
				putNibble(raw, i, v&0x0f)
			}
		} else {
			copy(raw, d)
		}
	case []bool:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			if v {
				raw[i] = 1
			}
		}
	case []complex64:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint32(raw[8*i:], math.Float32bits(real(v)))
			le.PutUint32(raw[8*i+4:], math.Float32bits(imag(v)))
		}
	case []complex128:
		if len(d) != n {
			return bad()
		}
		for i, v := range d {
			le.PutUint64(raw[16*i:], math.Float64bits(real(v)))
			le.PutUint64(raw[16*i+8:], math.Float64bits(imag(v)))
		}
	default:
		return bad()
	}
	tp.RawData = raw
	return tp, nil
}

func putNibble(b []byte, i int, v uint8) {
	if i%2 == 0 {
		b[i/2] = b[i/2]&0xf0 | v
	} else {
		b[i/2] = b[i/2]&0x0f | v<<4
	}
}
