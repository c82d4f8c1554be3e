// Package quant is the affine (uniform) quantization arithmetic that the
// calibration and the graph rewriting share: how a clipping range becomes a
// scale and a zero point, and how values are quantized and dequantized with
// the semantics of ONNX's QuantizeLinear and DequantizeLinear:
//
//	q = saturate(round_half_to_even(x / scale) + zero_point)
//	x = (q - zero_point) * scale
//
// A range [lo, hi] taken as is gives asymmetric parameters; the symmetric
// form uses [-max(|lo|, |hi|), max(|lo|, |hi|)] and a zero point in the
// middle of the integer range.
package quant

import (
	"fmt"
	"math"
)

// Type is an integer quantized type: a bit width in 2..16 and a signedness.
type Type struct {
	Bits   int
	Signed bool
}

// The types ONNX has operators for.
var (
	Int4   = Type{Bits: 4, Signed: true}
	Uint4  = Type{Bits: 4, Signed: false}
	Int8   = Type{Bits: 8, Signed: true}
	Uint8  = Type{Bits: 8, Signed: false}
	Int16  = Type{Bits: 16, Signed: true}
	Uint16 = Type{Bits: 16, Signed: false}
)

func (t Type) String() string {
	if t.Signed {
		return fmt.Sprintf("int%d", t.Bits)
	}
	return fmt.Sprintf("uint%d", t.Bits)
}

// Valid reports whether t has a bit width ptq can quantize to.
func (t Type) Valid() bool { return t.Bits >= 2 && t.Bits <= 16 }

// Min is the smallest integer of the type: -2^(Bits-1) or 0.
func (t Type) Min() int32 {
	if t.Signed {
		return -1 << (t.Bits - 1)
	}
	return 0
}

// Max is the largest integer of the type: 2^(Bits-1)-1 or 2^Bits-1.
func (t Type) Max() int32 {
	if t.Signed {
		return 1<<(t.Bits-1) - 1
	}
	return 1<<t.Bits - 1
}

// Levels is the number of integers of the type, 2^Bits.
func (t Type) Levels() int { return 1 << t.Bits }

// ReduceRange is the type one bit narrower with the same signedness, the
// reduce_range option of ONNX Runtime and PyTorch: uint8 data then uses
// 0..127 and int8 data -64..63, which keeps the 16-bit intermediate sums of
// some x86 int8 instructions from saturating. The result still needs the
// storage type of t.
func (t Type) ReduceRange() Type { return Type{Bits: t.Bits - 1, Signed: t.Signed} }

// Params are the scale and zero point of one tensor or one channel.
type Params struct {
	Scale     float32
	ZeroPoint int32
}

// smallestScale keeps 1/scale finite: a scale below the smallest normal
// float32 makes x/scale overflow for ordinary x.
const smallestScale = 0x1p-126

// ParamsFor returns the parameters that map [lo, hi] onto t.
//
// The range is first extended to contain 0, so that zero (padding, ReLU
// output) is represented exactly by the integer zero point. Asymmetric:
// scale = (hi - lo) / (2^Bits - 1), and the zero point is the integer that 0
// maps to, round(Min - lo/scale), clamped into the type. Symmetric: with
// a = max(|lo|, |hi|), scale = a / (2^(Bits-1) - 1) and the zero point is 0
// for signed types and 2^(Bits-1) for unsigned ones, so that -a and a are
// both representable and the code for -a is never used (the restricted range
// -127..127 of int8).
//
// A degenerate range (an all-zero tensor) gives scale 1 and zero point 0; a tiny one gives at
// least the smallest normal float32, so the scale is always a positive,
// finite number. NaN bounds are treated as 0 and infinite ones are clamped to
// the largest float32.
func ParamsFor(lo, hi float32, t Type, symmetric bool) Params {
	if !t.Valid() {
		panic(fmt.Sprintf("quant: %v has %d bits, want 2..16", t, t.Bits))
	}
	l, h := sanitize(lo), sanitize(hi)
	l, h = math.Min(l, 0), math.Max(h, 0)
	if symmetric {
		a := math.Max(-l, h)
		half := float64(int32(1)<<(t.Bits-1) - 1)
		zp := int32(0)
		if !t.Signed {
			zp = 1 << (t.Bits - 1)
		}
		return Params{Scale: scaleOf(a / half), ZeroPoint: zp}
	}
	if h == l {
		return Params{Scale: 1}
	}
	qmin, qmax := float64(t.Min()), float64(t.Max())
	s := scaleOf((h - l) / (qmax - qmin))
	// float32 arithmetic, as ONNX Runtime's quantizer does it.
	zp := math.RoundToEven(float64(float32(qmin) - float32(l)/s))
	zp = math.Max(qmin, math.Min(qmax, zp))
	return Params{Scale: s, ZeroPoint: int32(zp)}
}

func sanitize(v float32) float64 {
	switch {
	case v != v:
		return 0
	case v > math.MaxFloat32:
		return math.MaxFloat32
	case v < -math.MaxFloat32:
		return -math.MaxFloat32
	}
	return float64(v)
}

func scaleOf(s float64) float32 {
	if s == 0 {
		return 1
	}
	f := float32(s)
	if f < smallestScale {
		return smallestScale
	}
	if f > math.MaxFloat32 {
		return math.MaxFloat32
	}
	return f
}

// ParamsForChannels applies ParamsFor to each pair (lo[i], hi[i]).
func ParamsForChannels(lo, hi []float32, t Type, symmetric bool) ([]Params, error) {
	if len(lo) != len(hi) {
		return nil, fmt.Errorf("quant: %d lower bounds and %d upper bounds", len(lo), len(hi))
	}
	p := make([]Params, len(lo))
	for i := range lo {
		p[i] = ParamsFor(lo[i], hi[i], t, symmetric)
	}
	return p, nil
}

// Quantize maps x to t as QuantizeLinear does: the division is done in
// float32, ties round to even and the result saturates to [t.Min(), t.Max()].
// NaN maps to the zero point.
func Quantize(x float32, p Params, t Type) int32 {
	v := x / p.Scale
	if v != v {
		return p.ZeroPoint
	}
	r := math.RoundToEven(float64(v)) + float64(p.ZeroPoint)
	if r < float64(t.Min()) {
		return t.Min()
	}
	if r > float64(t.Max()) {
		return t.Max()
	}
	return int32(r)
}

// Dequantize maps q back to a real value as DequantizeLinear does,
// (q - zero_point) * scale in float32.
func Dequantize(q int32, p Params) float32 {
	return float32(q-p.ZeroPoint) * p.Scale
}

// QuantizeSlice quantizes xs into dst (allocated when nil) and returns it.
func QuantizeSlice(dst []int32, xs []float32, p Params, t Type) []int32 {
	if dst == nil {
		dst = make([]int32, len(xs))
	}
	for i, x := range xs {
		dst[i] = Quantize(x, p, t)
	}
	return dst
}

// DequantizeSlice dequantizes qs into dst (allocated when nil) and returns it.
func DequantizeSlice(dst []float32, qs []int32, p Params) []float32 {
	if dst == nil {
		dst = make([]float32, len(qs))
	}
	for i, q := range qs {
		dst[i] = Dequantize(q, p)
	}
	return dst
}

// FakeQuantize is Dequantize(Quantize(x)): the value a quantized model sees.
func FakeQuantize(x float32, p Params, t Type) float32 {
	return Dequantize(Quantize(x, p, t), p)
}
