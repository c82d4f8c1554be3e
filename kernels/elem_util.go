package kernels

import (
	"fmt"

	"github.com/ptq-dev/ptq/tensor"
)

// This file holds the type plumbing shared by the elementwise, shape and
// reduction operators: moving elements of any type by index, and converting
// the half-precision types through float32.

// takeAny returns src[idx[i]] for every i, for any element slice; an index
// of -1 yields the zero value.
func takeAny(src any, idx []int) any {
	switch s := src.(type) {
	case []float32:
		return take(s, idx)
	case []float64:
		return take(s, idx)
	case []int64:
		return take(s, idx)
	case []int32:
		return take(s, idx)
	case []int16:
		return take(s, idx)
	case []int8:
		return take(s, idx)
	case []uint8:
		return take(s, idx)
	case []uint16:
		return take(s, idx)
	case []uint32:
		return take(s, idx)
	case []uint64:
		return take(s, idx)
	case []bool:
		return take(s, idx)
	case []string:
		return take(s, idx)
	case []complex64:
		return take(s, idx)
	case []complex128:
		return take(s, idx)
	}
	panic(fmt.Sprintf("kernels: no element plumbing for %T", src))
}

func take[T any](s []T, idx []int) []T {
	d := make([]T, len(idx))
	for i, j := range idx {
		if j >= 0 {
			d[i] = s[j]
		}
	}
	return d
}

// takeTensor builds a tensor of the given shape, allocated through ctx
// (which may be nil), whose elements are t's elements at idx; an index of
// -1 leaves the zero value.
func takeTensor(ctx *Context, t *tensor.Tensor, idx []int, shape []int) *tensor.Tensor {
	o := ctx.NewTensor(t.DType, shape...)
	takeInto(o.Data, t.Data, idx)
	return o
}

// takeInto sets dst[i] = src[idx[i]] for any element slice type.
func takeInto(dst, src any, idx []int) {
	switch d := dst.(type) {
	case []float32:
		takeT(d, src.([]float32), idx)
	case []float64:
		takeT(d, src.([]float64), idx)
	case []int64:
		takeT(d, src.([]int64), idx)
	case []int32:
		takeT(d, src.([]int32), idx)
	case []int16:
		takeT(d, src.([]int16), idx)
	case []int8:
		takeT(d, src.([]int8), idx)
	case []uint8:
		takeT(d, src.([]uint8), idx)
	case []uint16:
		takeT(d, src.([]uint16), idx)
	case []uint32:
		takeT(d, src.([]uint32), idx)
	case []uint64:
		takeT(d, src.([]uint64), idx)
	case []bool:
		takeT(d, src.([]bool), idx)
	case []string:
		takeT(d, src.([]string), idx)
	case []complex64:
		takeT(d, src.([]complex64), idx)
	case []complex128:
		takeT(d, src.([]complex128), idx)
	default:
		panic(fmt.Sprintf("kernels: no element plumbing for %T", dst))
	}
}

func takeT[T any](d, s []T, idx []int) {
	for i, j := range idx {
		if j >= 0 {
			d[i] = s[j]
		}
	}
}

// copyBlock copies n elements from src[so:] to dst[do:] (same element
// type) without boxing sub-slices.
func copyBlock(dst any, do int, src any, so, n int) {
	switch d := dst.(type) {
	case []float32:
		copy(d[do:do+n], src.([]float32)[so:so+n])
	case []float64:
		copy(d[do:do+n], src.([]float64)[so:so+n])
	case []int64:
		copy(d[do:do+n], src.([]int64)[so:so+n])
	case []int32:
		copy(d[do:do+n], src.([]int32)[so:so+n])
	case []int16:
		copy(d[do:do+n], src.([]int16)[so:so+n])
	case []int8:
		copy(d[do:do+n], src.([]int8)[so:so+n])
	case []uint8:
		copy(d[do:do+n], src.([]uint8)[so:so+n])
	case []uint16:
		copy(d[do:do+n], src.([]uint16)[so:so+n])
	case []uint32:
		copy(d[do:do+n], src.([]uint32)[so:so+n])
	case []uint64:
		copy(d[do:do+n], src.([]uint64)[so:so+n])
	case []bool:
		copy(d[do:do+n], src.([]bool)[so:so+n])
	case []string:
		copy(d[do:do+n], src.([]string)[so:so+n])
	case []complex64:
		copy(d[do:do+n], src.([]complex64)[so:so+n])
	case []complex128:
		copy(d[do:do+n], src.([]complex128)[so:so+n])
	default:
		panic(fmt.Sprintf("kernels: no element plumbing for %T", dst))
	}
}

// fillBlock sets dst[do:do+n] to src[so] (same element type).
func fillBlock(dst any, do int, src any, so, n int) {
	switch d := dst.(type) {
	case []float32:
		fillT(d[do:do+n], src.([]float32)[so])
	case []float64:
		fillT(d[do:do+n], src.([]float64)[so])
	case []int64:
		fillT(d[do:do+n], src.([]int64)[so])
	case []int32:
		fillT(d[do:do+n], src.([]int32)[so])
	case []int16:
		fillT(d[do:do+n], src.([]int16)[so])
	case []int8:
		fillT(d[do:do+n], src.([]int8)[so])
	case []uint8:
		fillT(d[do:do+n], src.([]uint8)[so])
	case []uint16:
		fillT(d[do:do+n], src.([]uint16)[so])
	case []uint32:
		fillT(d[do:do+n], src.([]uint32)[so])
	case []uint64:
		fillT(d[do:do+n], src.([]uint64)[so])
	case []bool:
		fillT(d[do:do+n], src.([]bool)[so])
	case []string:
		fillT(d[do:do+n], src.([]string)[so])
	case []complex64:
		fillT(d[do:do+n], src.([]complex64)[so])
	case []complex128:
		fillT(d[do:do+n], src.([]complex128)[so])
	default:
		panic(fmt.Sprintf("kernels: no element plumbing for %T", dst))
	}
}

func fillT[T any](d []T, v T) {
	for i := range d {
		d[i] = v
	}
}

// copyAny copies src into dst (same element type) and returns the count.
func copyAny(dst, src any) int {
	switch d := dst.(type) {
	case []float32:
		return copy(d, src.([]float32))
	case []float64:
		return copy(d, src.([]float64))
	case []int64:
		return copy(d, src.([]int64))
	case []int32:
		return copy(d, src.([]int32))
	case []int16:
		return copy(d, src.([]int16))
	case []int8:
		return copy(d, src.([]int8))
	case []uint8:
		return copy(d, src.([]uint8))
	case []uint16:
		return copy(d, src.([]uint16))
	case []uint32:
		return copy(d, src.([]uint32))
	case []uint64:
		return copy(d, src.([]uint64))
	case []bool:
		return copy(d, src.([]bool))
	case []string:
		return copy(d, src.([]string))
	case []complex64:
		return copy(d, src.([]complex64))
	case []complex128:
		return copy(d, src.([]complex128))
	}
	panic(fmt.Sprintf("kernels: no element plumbing for %T", dst))
}

// cloneTensor copies t through ctx (ops return new tensors, never their
// inputs).
func cloneTensor(ctx *Context, t *tensor.Tensor) *tensor.Tensor {
	return reshaped(ctx, t, t.Shape)
}

// reshaped returns a copy of t with another shape (same element count).
func reshaped(ctx *Context, t *tensor.Tensor, shape []int) *tensor.Tensor {
	c := ctx.newTensorFull(t.DType, shape...) // the copy covers it
	copyAny(c.Data, t.Data)
	return c
}

// isHalf reports the 16-bit float types, which are computed in float32.
func isHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// halfToF32 widens a float16 or bfloat16 tensor to float32.
func halfToF32(t *tensor.Tensor) *tensor.Tensor {
	src := t.Data.([]uint16)
	d := make([]float32, len(src))
	if t.DType == tensor.BFloat16 {
		for i, v := range src {
			d[i] = tensor.BFloat16ToFloat32(v)
		}
	} else {
		for i, v := range src {
			d[i] = tensor.Float16ToFloat32(v)
		}
	}
	return &tensor.Tensor{DType: tensor.Float, Shape: t.Shape, Data: d}
}

// f32ToHalf narrows a float32 tensor to dt (Float16 or BFloat16).
func f32ToHalf(t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	src := t.Data.([]float32)
	d := make([]uint16, len(src))
	if dt == tensor.BFloat16 {
		for i, v := range src {
			d[i] = tensor.Float32ToBFloat16(v)
		}
	} else {
		for i, v := range src {
			d[i] = tensor.Float32ToFloat16(v)
		}
	}
	return &tensor.Tensor{DType: dt, Shape: append([]int{}, t.Shape...), Data: d}
}

// asFloat64s reads any numeric or bool tensor as float64 values.
func asFloat64s(t *tensor.Tensor) ([]float64, error) {
	if isHalf(t.DType) {
		t = halfToF32(t)
	}
	switch d := t.Data.(type) {
	case []float32:
		return convSlice[float32, float64](d), nil
	case []float64:
		return d, nil
	case []int64:
		return convSlice[int64, float64](d), nil
	case []int32:
		return convSlice[int32, float64](d), nil
	case []int16:
		return convSlice[int16, float64](d), nil
	case []int8:
		return convSlice[int8, float64](d), nil
	case []uint8:
		return convSlice[uint8, float64](d), nil
	case []uint16:
		return convSlice[uint16, float64](d), nil
	case []uint32:
		return convSlice[uint32, float64](d), nil
	case []uint64:
		return convSlice[uint64, float64](d), nil
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("element type %v is not numeric", t.DType)
}

func convSlice[S, D elemNum](s []S) []D {
	d := make([]D, len(s))
	for i, v := range s {
		d[i] = D(v)
	}
	return d
}

// asInts reads an integer tensor as ints (int64 or int32 indices).
func asInts(t *tensor.Tensor, what string) ([]int, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: missing input", what)
	}
	switch d := t.Data.(type) {
	case []int64:
		out := make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
		return out, nil
	case []int32:
		out := make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want int64 or int32, got %v", what, t.DType)
}

// fromFloat64s builds a tensor of type dt from float64 values, converting
// with Go's rules (truncation toward zero for integers).
func fromFloat64s(v []float64, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	t := tensor.New(dt, shape...)
	switch d := t.Data.(type) {
	case []float32:
		for i, x := range v {
			d[i] = float32(x)
		}
	case []float64:
		copy(d, v)
	case []int64:
		for i, x := range v {
			d[i] = int64(x)
		}
	case []int32:
		for i, x := range v {
			d[i] = int32(x)
		}
	case []int16:
		for i, x := range v {
			d[i] = int16(x)
		}
	case []int8:
		for i, x := range v {
			d[i] = int8(x)
		}
	case []uint8:
		for i, x := range v {
			d[i] = uint8(x)
		}
	case []uint16:
		if isHalf(dt) {
			for i, x := range v {
				if dt == tensor.BFloat16 {
					d[i] = tensor.Float32ToBFloat16(float32(x))
				} else {
					d[i] = tensor.Float32ToFloat16(float32(x))
				}
			}
		} else {
			for i, x := range v {
				d[i] = uint16(x)
			}
		}
	case []uint32:
		for i, x := range v {
			d[i] = uint32(x)
		}
	case []uint64:
		for i, x := range v {
			d[i] = uint64(x)
		}
	case []bool:
		for i, x := range v {
			d[i] = x != 0
		}
	default:
		return nil, fmt.Errorf("element type %v is not numeric", dt)
	}
	return t, nil
}
