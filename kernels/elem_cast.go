package kernels

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// Cast and CastLike between every numeric type, bool, string, the 16-bit
// floats and (opset 19) the float8 types with optional saturation.

func init() {
	register("Cast", 1, func(n *graph.Node, opset int) (Op, error) {
		a := n.Attr("to")
		if a == nil {
			return nil, fmt.Errorf("missing attribute to")
		}
		to := tensor.DType(a.GetI())
		if a.GetS() != nil { // opsets 1-5 spell the type as a string
			var ok bool
			if to, ok = castTypeNames[strings.ToUpper(string(a.GetS()))]; !ok {
				return nil, fmt.Errorf("unknown type %q in attribute to", a.GetS())
			}
		}
		sat := opset < 19 || n.AttrInt("saturate", 1) != 0
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) { return castTensor(x, to, sat) }), nil
	})
	register("CastLike", 15, func(n *graph.Node, opset int) (Op, error) {
		sat := n.AttrInt("saturate", 1) != 0
		return binaryOp(func(ctx *Context, x, like *tensor.Tensor) (*tensor.Tensor, error) {
			return castTensor(x, like.DType, sat)
		}), nil
	})
}

// castTypeNames are the TensorProto type names Cast-1 accepted.
var castTypeNames = map[string]tensor.DType{
	"FLOAT": tensor.Float, "UINT8": tensor.Uint8, "INT8": tensor.Int8, "UINT16": tensor.Uint16,
	"INT16": tensor.Int16, "INT32": tensor.Int32, "INT64": tensor.Int64, "STRING": tensor.String,
	"BOOL": tensor.Bool, "FLOAT16": tensor.Float16, "DOUBLE": tensor.Double, "UINT32": tensor.Uint32,
	"UINT64": tensor.Uint64,
}

func isFloat8(dt tensor.DType) bool {
	return dt == tensor.Float8E4M3FN || dt == tensor.Float8E4M3FNUZ || dt == tensor.Float8E5M2 || dt == tensor.Float8E5M2FNUZ
}

// castTensor converts x to type to. Float-to-integer conversion truncates
// toward zero; bool is true for nonzero.
func castTensor(x *tensor.Tensor, to tensor.DType, saturate bool) (*tensor.Tensor, error) {
	from := x.DType
	if from == to {
		return x.Clone(), nil
	}
	switch {
	case isHalf(from):
		return castTensor(halfToF32(x), to, saturate)
	case isFloat8(from):
		src := x.Data.([]uint8)
		d := make([]float32, len(src))
		for i, v := range src {
			d[i] = float8ToFloat32(v, from)
		}
		return castTensor(&tensor.Tensor{DType: tensor.Float, Shape: x.Shape, Data: d}, to, saturate)
	case from == tensor.Bool:
		src := x.Data.([]bool)
		d := make([]uint8, len(src))
		for i, v := range src {
			if v {
				d[i] = 1
			}
		}
		return castTensor(&tensor.Tensor{DType: tensor.Uint8, Shape: x.Shape, Data: d}, to, saturate)
	case from == tensor.String:
		src := x.Data.([]string)
		d := make([]float64, len(src))
		for i, s := range src {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, fmt.Errorf("cast %q to a number: %w", s, err)
			}
			d[i] = v
		}
		return castTensor(&tensor.Tensor{DType: tensor.Double, Shape: x.Shape, Data: d}, to, saturate)
	case from == tensor.Int4 || from == tensor.Uint4:
		if from == tensor.Int4 {
			return castTensor(&tensor.Tensor{DType: tensor.Int8, Shape: x.Shape, Data: x.Data}, to, saturate)
		}
		return castTensor(&tensor.Tensor{DType: tensor.Uint8, Shape: x.Shape, Data: x.Data}, to, saturate)
	}
	switch {
	case isHalf(to):
		f, err := castTensor(x, tensor.Float, saturate)
		if err != nil {
			return nil, err
		}
		return f32ToHalf(f, to), nil
	case isFloat8(to):
		f, err := castTensor(x, tensor.Float, saturate)
		if err != nil {
			return nil, err
		}
		src := f.Float32()
		d := make([]uint8, len(src))
		for i, v := range src {
			d[i] = float32ToFloat8(v, to, saturate)
		}
		return &tensor.Tensor{DType: to, Shape: append([]int{}, x.Shape...), Data: d}, nil
	case to == tensor.Bool:
		v, err := asFloat64s(x)
		if err != nil {
			return nil, err
		}
		return fromFloat64s(v, to, x.Shape)
	case to == tensor.String:
		return castToString(x)
	case to == tensor.Int4 || to == tensor.Uint4:
		mid := tensor.Int8
		if to == tensor.Uint4 {
			mid = tensor.Uint8
		}
		t, err := castTensor(x, mid, saturate)
		if err != nil {
			return nil, err
		}
		// wrap to 4 bits like the two's complement narrowing of the wider casts
		switch d := t.Data.(type) {
		case []int8:
			for i, v := range d {
				d[i] = int8(uint8(v)<<4) >> 4
			}
		case []uint8:
			for i, v := range d {
				d[i] = v & 0xf
			}
		}
		t.DType = to
		return t, nil
	}
	var d any
	switch s := x.Data.(type) {
	case []float32:
		d = castFrom(s, to)
	case []float64:
		d = castFrom(s, to)
	case []int64:
		d = castFrom(s, to)
	case []int32:
		d = castFrom(s, to)
	case []int16:
		d = castFrom(s, to)
	case []int8:
		d = castFrom(s, to)
	case []uint8:
		d = castFrom(s, to)
	case []uint16:
		d = castFrom(s, to)
	case []uint32:
		d = castFrom(s, to)
	case []uint64:
		d = castFrom(s, to)
	}
	if d == nil {
		return nil, fmt.Errorf("cannot cast %v to %v", from, to)
	}
	return &tensor.Tensor{DType: to, Shape: append([]int{}, x.Shape...), Data: d}, nil
}

func castFrom[S elemNum](s []S, to tensor.DType) any {
	switch to {
	case tensor.Float:
		return castNum[S, float32](s)
	case tensor.Double:
		return castNum[S, float64](s)
	case tensor.Int64:
		return castNum[S, int64](s)
	case tensor.Int32:
		return castNum[S, int32](s)
	case tensor.Int16:
		return castNum[S, int16](s)
	case tensor.Int8:
		return castNum[S, int8](s)
	case tensor.Uint8:
		return castNum[S, uint8](s)
	case tensor.Uint16:
		return castNum[S, uint16](s)
	case tensor.Uint32:
		return castNum[S, uint32](s)
	case tensor.Uint64:
		return castNum[S, uint64](s)
	}
	return nil
}

// castNum converts with Go's rules. A float out of the integer range goes
// through int64 first so that it wraps (as C casts commonly do) instead of
// producing Go's implementation-specific value.
func castNum[S, D elemNum](s []S) []D {
	d := make([]D, len(s))
	if isFloatType[S]() && !isFloatType[D]() {
		for i, v := range s {
			f := float64(v)
			if f != f {
				d[i] = 0
				continue
			}
			d[i] = D(int64(f))
		}
		return d
	}
	for i, v := range s {
		d[i] = D(v)
	}
	return d
}

// castToString formats numbers like numpy's str(): shortest round-trip
// digits, "nan"/"inf" for the specials (ONNX's tests write NaN and INF).
func castToString(x *tensor.Tensor) (*tensor.Tensor, error) {
	out := make([]string, x.Len())
	switch s := x.Data.(type) {
	case []float32:
		for i, v := range s {
			out[i] = formatFloat(float64(v), 32)
		}
	case []float64:
		for i, v := range s {
			out[i] = formatFloat(v, 64)
		}
	default:
		v, err := asFloat64s(x)
		if err != nil {
			return nil, err
		}
		for i, e := range v {
			out[i] = strconv.FormatFloat(e, 'f', -1, 64)
		}
	}
	return &tensor.Tensor{DType: tensor.String, Shape: append([]int{}, x.Shape...), Data: out}, nil
}

func formatFloat(v float64, bits int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "INF"
	case math.IsInf(v, -1):
		return "-INF"
	}
	return strconv.FormatFloat(v, 'g', -1, bits)
}

// float8Format describes a float8 encoding.
type float8Format struct {
	mbits, bias int
	fnuz        bool // no infinities, NaN is 0x80, no negative zero
	ieee        bool // E5M2: IEEE-like infinities and NaNs
}

func float8Fmt(dt tensor.DType) float8Format {
	switch dt {
	case tensor.Float8E4M3FN:
		return float8Format{mbits: 3, bias: 7}
	case tensor.Float8E4M3FNUZ:
		return float8Format{mbits: 3, bias: 8, fnuz: true}
	case tensor.Float8E5M2:
		return float8Format{mbits: 2, bias: 15, ieee: true}
	}
	return float8Format{mbits: 2, bias: 16, fnuz: true}
}

// float8ToFloat32 decodes one float8 value of type dt.
func float8ToFloat32(v uint8, dt tensor.DType) float32 {
	f := float8Fmt(dt)
	ebits := 7 - f.mbits
	emax := 1<<ebits - 1
	sign := v >> 7
	e := int(v>>f.mbits) & emax
	m := int(v) & (1<<f.mbits - 1)
	switch {
	case f.fnuz && v == 0x80:
		return float32(math.NaN())
	case !f.fnuz && !f.ieee && e == emax && m == 1<<f.mbits-1:
		return float32(math.NaN())
	case f.ieee && e == emax:
		if m != 0 {
			return float32(math.NaN())
		}
		if sign != 0 {
			return float32(math.Inf(-1))
		}
		return float32(math.Inf(1))
	}
	var r float64
	if e == 0 {
		r = math.Ldexp(float64(m), 1-f.bias-f.mbits)
	} else {
		r = math.Ldexp(1+float64(m)/float64(int(1)<<f.mbits), e-f.bias)
	}
	if sign != 0 {
		r = -r
	}
	return float32(r)
}

// float8Table holds, per float8 type, the non-negative finite values in
// increasing order with their codes, for round-to-nearest-even encoding.
type float8Entry struct {
	v    float64
	code uint8
}

var float8Tables = func() map[tensor.DType][]float8Entry {
	m := map[tensor.DType][]float8Entry{}
	for _, dt := range []tensor.DType{tensor.Float8E4M3FN, tensor.Float8E4M3FNUZ, tensor.Float8E5M2, tensor.Float8E5M2FNUZ} {
		var es []float8Entry
		for c := 0; c < 0x80; c++ {
			v := float64(float8ToFloat32(uint8(c), dt))
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				es = append(es, float8Entry{v, uint8(c)})
			}
		}
		sort.Slice(es, func(i, j int) bool { return es[i].v < es[j].v })
		m[dt] = es
	}
	return m
}()

// float32ToFloat8 rounds to nearest even. Values beyond the largest finite
// value saturate to it when saturate is set, and otherwise become NaN (or
// infinity for E5M2), as ONNX's Cast specifies.
func float32ToFloat8(x float32, dt tensor.DType, saturate bool) uint8 {
	f := float8Fmt(dt)
	es := float8Tables[dt]
	nan := uint8(0x7f)
	if f.fnuz {
		nan = 0x80
	}
	v := float64(x)
	if math.IsNaN(v) {
		return nan
	}
	var sign uint8
	if v < 0 || (v == 0 && math.Signbit(v)) {
		sign = 0x80
		v = -v
	}
	top := es[len(es)-1]
	overflow := func() uint8 {
		if saturate {
			return sign | top.code
		}
		if f.ieee {
			return sign | 0x7c
		}
		return nan
	}
	if math.IsInf(v, 0) {
		if f.ieee && !saturate {
			return sign | 0x7c
		}
		return overflow()
	}
	// the step above the largest value decides overflow by rounding
	step := top.v - es[len(es)-2].v
	if v > top.v {
		if v >= top.v+step/2 {
			return overflow()
		}
		return sign | top.code
	}
	i := sort.Search(len(es), func(i int) bool { return es[i].v >= v })
	c := es[i]
	if c.v != v && i > 0 {
		lo := es[i-1]
		switch dl, dh := v-lo.v, c.v-v; {
		case dl < dh:
			c = lo
		case dl == dh && lo.code&1 == 0:
			c = lo
		}
	}
	if f.fnuz && c.code == 0 {
		return 0 // no negative zero
	}
	return sign | c.code
}
