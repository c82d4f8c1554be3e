// Package tensor is the n-dimensional array that flows between the loader, the
// engine, the observers and the rewriter: an element type, a shape and a typed
// Go slice. It imports nothing from the rest of ptq so that every layer can use it.
package tensor

import (
	"fmt"
	"math"
)

// DType is an element type, numbered as ONNX's TensorProto.DataType.
type DType int32

// The element types, with ONNX's numbers.
const (
	Undefined      DType = 0
	Float          DType = 1
	Uint8          DType = 2
	Int8           DType = 3
	Uint16         DType = 4
	Int16          DType = 5
	Int32          DType = 6
	Int64          DType = 7
	String         DType = 8
	Bool           DType = 9
	Float16        DType = 10
	Double         DType = 11
	Uint32         DType = 12
	Uint64         DType = 13
	Complex64      DType = 14
	Complex128     DType = 15
	BFloat16       DType = 16
	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
	Float4E2M1     DType = 23
)

var dtypeNames = map[DType]string{
	Undefined: "undefined", Float: "float32", Uint8: "uint8", Int8: "int8", Uint16: "uint16",
	Int16: "int16", Int32: "int32", Int64: "int64", String: "string", Bool: "bool",
	Float16: "float16", Double: "float64", Uint32: "uint32", Uint64: "uint64",
	Complex64: "complex64", Complex128: "complex128", BFloat16: "bfloat16",
	Float8E4M3FN: "float8e4m3fn", Float8E4M3FNUZ: "float8e4m3fnuz", Float8E5M2: "float8e5m2",
	Float8E5M2FNUZ: "float8e5m2fnuz", Uint4: "uint4", Int4: "int4", Float4E2M1: "float4e2m1",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Tensor is a dense array in row-major order.
//
// Data holds a slice whose Go element type depends on DType:
//
//	Float []float32, Double []float64, Int64 []int64, Int32 []int32,
//	Int16 []int16, Int8 []int8, Uint8 []uint8, Uint16 []uint16,
//	Uint32 []uint32, Uint64 []uint64, Bool []bool, String []string,
//	Float16 and BFloat16 []uint16 (the bit patterns),
//	the float8 and float4 types []uint8 (the bit patterns, one per byte),
//	Int4 []int8 and Uint4 []uint8 (one value per element, unpacked),
//	Complex64 []complex64, Complex128 []complex128.
type Tensor struct {
	DType DType
	Shape []int
	Data  any
}

// NumElements is the product of the dimensions (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New allocates a zero tensor.
func New(dt DType, shape ...int) *Tensor {
	n := NumElements(shape)
	return &Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: MakeSlice(dt, n)}
}

// MakeSlice allocates the Go slice that holds n elements of dt.
func MakeSlice(dt DType, n int) any {
	switch dt {
	case Float:
		return make([]float32, n)
	case Double:
		return make([]float64, n)
	case Int64:
		return make([]int64, n)
	case Int32:
		return make([]int32, n)
	case Int16:
		return make([]int16, n)
	case Int8, Int4:
		return make([]int8, n)
	case Uint8, Uint4, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1:
		return make([]uint8, n)
	case Uint16, Float16, BFloat16:
		return make([]uint16, n)
	case Uint32:
		return make([]uint32, n)
	case Uint64:
		return make([]uint64, n)
	case Bool:
		return make([]bool, n)
	case String:
		return make([]string, n)
	case Complex64:
		return make([]complex64, n)
	case Complex128:
		return make([]complex128, n)
	}
	panic(fmt.Sprintf("tensor: no Go slice type for %v", dt))
}

// FromFloat32 wraps data (not copied) in a float tensor of the given shape.
func FromFloat32(data []float32, shape ...int) *Tensor {
	return &Tensor{DType: Float, Shape: append([]int(nil), shape...), Data: data}
}

// FromInt64 wraps data (not copied) in an int64 tensor of the given shape.
func FromInt64(data []int64, shape ...int) *Tensor {
	return &Tensor{DType: Int64, Shape: append([]int(nil), shape...), Data: data}
}

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Float32 returns the data of a Float tensor; it panics on another type.
func (t *Tensor) Float32() []float32 { return t.Data.([]float32) }

// Int64 returns the data of an Int64 tensor; it panics on another type.
func (t *Tensor) Int64() []int64 { return t.Data.([]int64) }

// Clone copies the tensor and its data.
func (t *Tensor) Clone() *Tensor {
	c := New(t.DType, t.Shape...)
	copySlice(c.Data, t.Data)
	return c
}

func copySlice(dst, src any) { CopyAt(dst, src, 0) }

// CopyAt copies the slice src into the slice dst (of the same element type)
// starting at element off, and returns how many elements it copied. It
// panics when the types differ.
func CopyAt(dst, src any, off int) int {
	switch d := dst.(type) {
	case []float32:
		return copy(d[off:], src.([]float32))
	case []float64:
		return copy(d[off:], src.([]float64))
	case []int64:
		return copy(d[off:], src.([]int64))
	case []int32:
		return copy(d[off:], src.([]int32))
	case []int16:
		return copy(d[off:], src.([]int16))
	case []int8:
		return copy(d[off:], src.([]int8))
	case []uint8:
		return copy(d[off:], src.([]uint8))
	case []uint16:
		return copy(d[off:], src.([]uint16))
	case []uint32:
		return copy(d[off:], src.([]uint32))
	case []uint64:
		return copy(d[off:], src.([]uint64))
	case []bool:
		return copy(d[off:], src.([]bool))
	case []string:
		return copy(d[off:], src.([]string))
	case []complex64:
		return copy(d[off:], src.([]complex64))
	case []complex128:
		return copy(d[off:], src.([]complex128))
	}
	panic(fmt.Sprintf("tensor: cannot copy %T", dst))
}

// String shows the type and shape, not the data.
func (t *Tensor) String() string { return fmt.Sprintf("%v%v", t.DType, t.Shape) }

// Float16ToFloat32 converts IEEE 754 half-precision bits to float32.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToFloat16 converts to half precision, rounding to nearest even.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 converts to bfloat16, rounding to nearest even.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
