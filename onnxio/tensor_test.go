package onnxio

import (
	"math"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// TestTensorRoundTrip encodes a tensor of every numeric type to raw_data,
// through the protobuf wire format, and back.
func TestTensorRoundTrip(t *testing.T) {
	tests := []struct {
		dt   tensor.DType
		data any
	}{
		{tensor.Float, []float32{1.5, -2, float32(math.Inf(1)), 0, 3e-38}},
		{tensor.Double, []float64{1.5, -2, math.MaxFloat64, 0, 1e-300}},
		{tensor.Int8, []int8{-128, -1, 0, 1, 127}},
		{tensor.Uint8, []uint8{0, 1, 128, 254, 255}},
		{tensor.Int16, []int16{-32768, -1, 0, 1, 32767}},
		{tensor.Uint16, []uint16{0, 1, 0x8000, 0xfffe, 0xffff}},
		{tensor.Int32, []int32{math.MinInt32, -1, 0, 1, math.MaxInt32}},
		{tensor.Uint32, []uint32{0, 1, 1 << 31, 1<<32 - 2, 1<<32 - 1}},
		{tensor.Int64, []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}},
		{tensor.Uint64, []uint64{0, 1, 1 << 63, 1<<64 - 2, 1<<64 - 1}},
		{tensor.Bool, []bool{true, false, false, true, true}},
		{tensor.Float16, []uint16{0x3c00, 0xbc00, 0x7c00, 0x0001, 0x7bff}},
		{tensor.BFloat16, []uint16{0x3f80, 0xbf80, 0x7f80, 0x0001, 0x7f7f}},
		{tensor.Float8E4M3FN, []uint8{0x38, 0xb8, 0x7e, 0x01, 0x00}},
		{tensor.Float8E5M2, []uint8{0x3c, 0xbc, 0x7b, 0x01, 0x00}},
		{tensor.Complex64, []complex64{1 + 2i, -3, 0, 4i, 5 - 6i}},
		{tensor.Complex128, []complex128{1 + 2i, -3, 0, 4i, 5 - 6i}},
		{tensor.Int4, []int8{-8, -1, 0, 1, 7}}, // odd length: last byte half used
		{tensor.Uint4, []uint8{0, 1, 8, 14, 15}},
		{tensor.String, []string{"a", "", "ünï", "x y", "\x00"}},
	}
	for _, tt := range tests {
		t.Run(tt.dt.String(), func(t *testing.T) {
			in := &tensor.Tensor{DType: tt.dt, Shape: []int{5}, Data: tt.data}
			tp, err := FromTensor("t", in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(tp)
			if err != nil {
				t.Fatal(err)
			}
			back := &onnx.TensorProto{}
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			got, err := ToTensor(back)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != tt.dt || !reflect.DeepEqual(got.Shape, []int{5}) || !reflect.DeepEqual(got.Data, tt.data) {
				t.Errorf("got %v %v %v, want %v", got.DType, got.Shape, got.Data, tt.data)
			}
		})
	}
}

// TestTensorRawLayout pins the byte layout ONNX specifies: little-endian,
// 4-bit values two to a byte with the first element in the low nibble.
func TestTensorRawLayout(t *testing.T) {
	tests := []struct {
		t    *tensor.Tensor
		want []byte
	}{
		{&tensor.Tensor{DType: tensor.Float, Shape: []int{1}, Data: []float32{1}}, []byte{0, 0, 0x80, 0x3f}},
		{&tensor.Tensor{DType: tensor.Int16, Shape: []int{2}, Data: []int16{1, -2}}, []byte{1, 0, 0xfe, 0xff}},
		{&tensor.Tensor{DType: tensor.Int64, Shape: []int{1}, Data: []int64{0x0102030405060708}}, []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{&tensor.Tensor{DType: tensor.Int4, Shape: []int{3}, Data: []int8{1, -1, 7}}, []byte{0xf1, 0x07}},
		{&tensor.Tensor{DType: tensor.Uint4, Shape: []int{2, 2}, Data: []uint8{1, 2, 3, 15}}, []byte{0x21, 0xf3}},
		{&tensor.Tensor{DType: tensor.Bool, Shape: []int{3}, Data: []bool{true, false, true}}, []byte{1, 0, 1}},
	}
	for _, tt := range tests {
		tp, err := FromTensor("t", tt.t)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tp.GetRawData(), tt.want) {
			t.Errorf("%v: raw %x, want %x", tt.t, tp.GetRawData(), tt.want)
		}
	}
}

// TestTensorTypedFields reads tensors stored in the typed repeated fields
// instead of raw_data, as older exporters write them.
func TestTensorTypedFields(t *testing.T) {
	dt := func(d tensor.DType) *int32 { v := int32(d); return &v }
	tests := []struct {
		name string
		tp   *onnx.TensorProto
		want any
	}{
		{"float_data", &onnx.TensorProto{DataType: dt(tensor.Float), Dims: []int64{2}, FloatData: []float32{1, -2}}, []float32{1, -2}},
		{"complex64 in float_data", &onnx.TensorProto{DataType: dt(tensor.Complex64), Dims: []int64{1}, FloatData: []float32{1, -2}}, []complex64{1 - 2i}},
		{"double_data", &onnx.TensorProto{DataType: dt(tensor.Double), Dims: []int64{2}, DoubleData: []float64{1, -2}}, []float64{1, -2}},
		{"int64_data", &onnx.TensorProto{DataType: dt(tensor.Int64), Dims: []int64{2}, Int64Data: []int64{-1, 1 << 40}}, []int64{-1, 1 << 40}},
		{"uint64_data", &onnx.TensorProto{DataType: dt(tensor.Uint64), Dims: []int64{1}, Uint64Data: []uint64{1 << 63}}, []uint64{1 << 63}},
		{"uint32 in uint64_data", &onnx.TensorProto{DataType: dt(tensor.Uint32), Dims: []int64{1}, Uint64Data: []uint64{1<<32 - 1}}, []uint32{1<<32 - 1}},
		{"int32_data", &onnx.TensorProto{DataType: dt(tensor.Int32), Dims: []int64{2}, Int32Data: []int32{-7, 7}}, []int32{-7, 7}},
		{"int8 in int32_data", &onnx.TensorProto{DataType: dt(tensor.Int8), Dims: []int64{2}, Int32Data: []int32{-128, 127}}, []int8{-128, 127}},
		{"uint8 in int32_data", &onnx.TensorProto{DataType: dt(tensor.Uint8), Dims: []int64{2}, Int32Data: []int32{0, 255}}, []uint8{0, 255}},
		{"int16 in int32_data", &onnx.TensorProto{DataType: dt(tensor.Int16), Dims: []int64{1}, Int32Data: []int32{-300}}, []int16{-300}},
		{"uint16 in int32_data", &onnx.TensorProto{DataType: dt(tensor.Uint16), Dims: []int64{1}, Int32Data: []int32{65535}}, []uint16{65535}},
		{"bool in int32_data", &onnx.TensorProto{DataType: dt(tensor.Bool), Dims: []int64{3}, Int32Data: []int32{1, 0, 1}}, []bool{true, false, true}},
		{"float16 bits in int32_data", &onnx.TensorProto{DataType: dt(tensor.Float16), Dims: []int64{1}, Int32Data: []int32{0x3c00}}, []uint16{0x3c00}},
		{"bfloat16 bits in int32_data", &onnx.TensorProto{DataType: dt(tensor.BFloat16), Dims: []int64{1}, Int32Data: []int32{0x3f80}}, []uint16{0x3f80}},
		{"float8 in int32_data", &onnx.TensorProto{DataType: dt(tensor.Float8E4M3FN), Dims: []int64{1}, Int32Data: []int32{0x38}}, []uint8{0x38}},
		{"int4 packed in int32_data", &onnx.TensorProto{DataType: dt(tensor.Int4), Dims: []int64{3}, Int32Data: []int32{0xf1, 0x07}}, []int8{1, -1, 7}},
		{"uint4 packed in int32_data", &onnx.TensorProto{DataType: dt(tensor.Uint4), Dims: []int64{2}, Int32Data: []int32{0x21}}, []uint8{1, 2}},
		{"string_data", &onnx.TensorProto{DataType: dt(tensor.String), Dims: []int64{2}, StringData: [][]byte{[]byte("a"), []byte("bc")}}, []string{"a", "bc"}},
		{"scalar", &onnx.TensorProto{DataType: dt(tensor.Float), FloatData: []float32{4}}, []float32{4}},
	}
	for _, tt := range tests {
		got, err := ToTensor(tt.tp)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got.Data, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got.Data, tt.want)
		}
		// The tensor must not share memory with the proto (callers such as
		// the folding passes change it in place).
		before := proto.Clone(tt.tp)
		clobber(got.Data)
		if !proto.Equal(before, tt.tp) {
			t.Errorf("%s: changing the tensor changed the proto", tt.name)
		}
	}
	raw, err := FromTensor("w", tensor.FromFloat32([]float32{1, 2, 3}, 3))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToTensor(raw)
	if err != nil {
		t.Fatal(err)
	}
	before := proto.Clone(raw)
	clobber(got.Data)
	if !proto.Equal(before, raw) {
		t.Errorf("raw_data: changing the tensor changed the proto")
	}
}

// clobber changes the first element of a typed slice.
func clobber(d any) {
	v := reflect.ValueOf(d)
	if v.Kind() != reflect.Slice || v.Len() == 0 {
		return
	}
	e := v.Index(0)
	switch e.Kind() {
	case reflect.String:
		e.SetString(e.String() + "x")
	case reflect.Bool:
		e.SetBool(!e.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.SetInt(e.Int() ^ 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.SetUint(e.Uint() ^ 1)
	case reflect.Float32, reflect.Float64:
		e.SetFloat(e.Float() + 1)
	case reflect.Complex64, reflect.Complex128:
		e.SetComplex(e.Complex() + 1)
	}
}

// TestTensorBad checks that inconsistent tensors are errors, not panics or
// silently short data.
func TestTensorBad(t *testing.T) {
	dt := func(d tensor.DType) *int32 { v := int32(d); return &v }
	ext := onnx.TensorProto_EXTERNAL
	for name, tp := range map[string]*onnx.TensorProto{
		"raw too short":     {DataType: dt(tensor.Float), Dims: []int64{2}, RawData: []byte{0, 0, 0x80}},
		"raw too long":      {DataType: dt(tensor.Int8), Dims: []int64{2}, RawData: []byte{1, 2, 3}},
		"typed count":       {DataType: dt(tensor.Float), Dims: []int64{3}, FloatData: []float32{1}},
		"negative dim":      {DataType: dt(tensor.Float), Dims: []int64{-1}},
		"unknown type":      {DataType: proto.Int32(99), Dims: []int64{1}, RawData: []byte{1}},
		"external not read": {DataType: dt(tensor.Float), Dims: []int64{1}, DataLocation: &ext},
		"huge":              {DataType: dt(tensor.Float), Dims: []int64{1 << 40, 1 << 40}},
		"int4 packed count": {DataType: dt(tensor.Int4), Dims: []int64{4}, Int32Data: []int32{1}},
	} {
		if _, err := ToTensor(tp); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
