package quant

import (
	"math"
	"testing"
)

func TestTypeLimits(t *testing.T) {
	for _, c := range []struct {
		t        Type
		min, max int32
	}{
		{Int4, -8, 7}, {Uint4, 0, 15}, {Int8, -128, 127}, {Uint8, 0, 255},
		{Int16, -32768, 32767}, {Uint16, 0, 65535}, {Type{2, true}, -2, 1},
		{Uint8.ReduceRange(), 0, 127}, {Int8.ReduceRange(), -64, 63},
	} {
		if c.t.Min() != c.min || c.t.Max() != c.max {
			t.Errorf("%v: [%d, %d], want [%d, %d]", c.t, c.t.Min(), c.t.Max(), c.min, c.max)
		}
	}
}

func TestParamsFor(t *testing.T) {
	for _, c := range []struct {
		name   string
		lo, hi float32
		t      Type
		sym    bool
		want   Params
	}{
		{"uint8 0..255", 0, 255, Uint8, false, Params{1, 0}},
		{"uint8 -1..1", -1, 1, Uint8, false, Params{2.0 / 255, 127}}, // 1/float32(2/255) = 127.49999
		{"range extended to 0", 2, 5.1, Uint8, false, Params{0.02, 0}},
		{"negative range extended to 0", -5.1, -2, Uint8, false, Params{0.02, 255}},
		{"int8 asymmetric", -1, 3, Int8, false, Params{4.0 / 255, -64}},
		{"int8 symmetric", -1, 3, Int8, true, Params{3.0 / 127, 0}},
		{"uint8 symmetric", -1, 3, Uint8, true, Params{3.0 / 127, 128}},
		{"int4 symmetric", -0.7, 0.35, Int4, true, Params{0.1, 0}},
		{"all zero", 0, 0, Int8, false, Params{1, 0}},
		{"all zero symmetric", 0, 0, Uint8, true, Params{1, 128}},
		{"tiny range", 0, 1e-40, Uint8, false, Params{smallestScale, 0}},
		{"NaN bounds", float32(math.NaN()), 1, Uint8, false, Params{1.0 / 255, 0}},
		{"reduce range", 0, 127, Uint8.ReduceRange(), false, Params{1, 0}},
	} {
		got := ParamsFor(c.lo, c.hi, c.t, c.sym)
		if got.ZeroPoint != c.want.ZeroPoint || math.Abs(float64(got.Scale-c.want.Scale)) > 1e-6*float64(c.want.Scale) {
			t.Errorf("%s: ParamsFor(%g, %g, %v, %v) = %+v, want %+v", c.name, c.lo, c.hi, c.t, c.sym, got, c.want)
		}
	}
}

// Zero must be exact and the range ends must be representable (up to the
// rounding of the zero point) for every type and many ranges.
func TestParamsForZeroExactAndRangeCovered(t *testing.T) {
	types := []Type{Int4, Uint4, Int8, Uint8, Int16, Uint16, {2, false}, {3, true}, {12, true}}
	ranges := [][2]float32{{-1, 1}, {-0.001, 7}, {-300, 2}, {0, 1e-3}, {-5, 0}, {-1e30, 1e30}, {0.3, 0.9}}
	for _, ty := range types {
		for _, r := range ranges {
			for _, sym := range []bool{false, true} {
				p := ParamsFor(r[0], r[1], ty, sym)
				if !(p.Scale > 0) || math.IsInf(float64(p.Scale), 0) {
					t.Fatalf("%v %v sym=%v: scale %g", ty, r, sym, p.Scale)
				}
				if p.ZeroPoint < ty.Min() || p.ZeroPoint > ty.Max() {
					t.Fatalf("%v %v sym=%v: zero point %d outside the type", ty, r, sym, p.ZeroPoint)
				}
				if got := FakeQuantize(0, p, ty); got != 0 {
					t.Errorf("%v %v sym=%v: 0 comes back as %g", ty, r, sym, got)
				}
				for _, x := range []float32{min(r[0], 0), max(r[1], 0)} {
					if d := math.Abs(float64(FakeQuantize(x, p, ty) - x)); d > float64(p.Scale)*0.5001+1e-6*math.Abs(float64(x)) {
						t.Errorf("%v %v sym=%v: %g comes back %g away (scale %g)", ty, r, sym, x, d, p.Scale)
					}
				}
			}
		}
	}
}

func TestQuantizeRoundsHalfToEvenAndSaturates(t *testing.T) {
	p := Params{Scale: 0.5, ZeroPoint: 10}
	for _, c := range []struct {
		x    float32
		t    Type
		want int32
	}{
		{0.25, Uint8, 10},  // 0.5 -> 0
		{0.75, Uint8, 12},  // 1.5 -> 2
		{1.25, Uint8, 12},  // 2.5 -> 2
		{-0.25, Uint8, 10}, // -0.5 -> -0
		{-0.75, Uint8, 8},  // -1.5 -> -2
		{-1.25, Uint8, 8},  // -2.5 -> -2
		{0.2, Uint8, 10},
		{0.3, Uint8, 11},
		{200, Uint8, 255},
		{-200, Uint8, 0},
		{100, Int8, 127},
		{-100, Int8, -128},
		{float32(math.Inf(1)), Int8, 127},
		{float32(math.Inf(-1)), Int8, -128},
		{float32(math.NaN()), Int8, 10},
		{3, Int4, 7},
		{-10, Int4, -8},
	} {
		if got := Quantize(c.x, p, c.t); got != c.want {
			t.Errorf("Quantize(%g, %+v, %v) = %d, want %d", c.x, p, c.t, got, c.want)
		}
	}
}

// The division is float32, as in ONNX: 0.3/0.1 is 2.9999998 in float32 and
// rounds to 3, while a float64 division of the float32 operands gives
// 3.0000000447 which would too; 1.05/0.1 is 10.5 in float32 (ties to 10) but
// 10.499999… in float64. The float32 result is the ONNX one.
func TestQuantizeDividesInFloat32(t *testing.T) {
	x, s := float32(1.05), float32(0.1)
	want := int32(math.RoundToEven(float64(x / s)))
	if got := Quantize(x, Params{Scale: s}, Int8); got != want {
		t.Errorf("Quantize(%g / %g) = %d, want %d (float32 quotient %g)", x, s, got, want, x/s)
	}
}

func TestDequantize(t *testing.T) {
	p := Params{Scale: 0.25, ZeroPoint: -3}
	for q, want := range map[int32]float32{-3: 0, -128: -31.25, 127: 32.5, 0: 0.75} {
		if got := Dequantize(q, p); got != want {
			t.Errorf("Dequantize(%d) = %g, want %g", q, got, want)
		}
	}
	qs := QuantizeSlice(nil, []float32{0, 1, -1, 100}, p, Int8)
	xs := DequantizeSlice(nil, qs, p)
	for i, want := range []float32{0, 1, -1, 32.5} {
		if xs[i] != want {
			t.Errorf("round trip %d: %g, want %g", i, xs[i], want)
		}
	}
}

func TestQuantizeBias(t *testing.T) {
	q, s, err := QuantizeBias([]float32{1, -0.5, 0.0625, 1e9}, 0.5, []float32{0.25, 0.5, 0.25, 0.25})
	if err != nil {
		t.Fatal(err)
	}
	wantQ := []int32{8, -2, 0, math.MaxInt32} // 0.0625/0.125 = 0.5 ties to 0
	wantS := []float32{0.125, 0.25, 0.125, 0.125}
	for i := range q {
		if q[i] != wantQ[i] || s[i] != wantS[i] {
			t.Errorf("element %d: q=%d scale=%g, want %d %g", i, q[i], s[i], wantQ[i], wantS[i])
		}
	}
	if _, _, err := QuantizeBias([]float32{1, 2}, 1, []float32{1, 2, 3}); err == nil {
		t.Error("mismatched weight scales accepted")
	}
	if _, _, err := QuantizeBias([]float32{1}, 1e-30, []float32{1e-30}); err == nil {
		t.Error("a bias scale that underflows to 0 was accepted")
	}
}
