package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// Unary elementwise operators. The float operators are defined once on
// float64 and applied to float32, float64 and (through float32) float16 and
// bfloat16; Abs, Neg, Sign and Relu also take integers.

// unaryMath are the float operators whose attributes, if any, are read
// when the node is built.
var unaryMath = map[string]func(n *graph.Node) func(float64) float64{
	"Exp":        fixed(math.Exp),
	"Log":        fixed(math.Log),
	"Sqrt":       fixed(math.Sqrt),
	"Reciprocal": fixed(func(x float64) float64 { return 1 / x }),
	"Floor":      fixed(math.Floor),
	"Ceil":       fixed(math.Ceil),
	"Round":      fixed(math.RoundToEven),
	"Sin":        fixed(math.Sin),
	"Cos":        fixed(math.Cos),
	"Tan":        fixed(math.Tan),
	"Asin":       fixed(math.Asin),
	"Acos":       fixed(math.Acos),
	"Atan":       fixed(math.Atan),
	"Sinh":       fixed(math.Sinh),
	"Cosh":       fixed(math.Cosh),
	"Asinh":      fixed(math.Asinh),
	"Acosh":      fixed(math.Acosh),
	"Atanh":      fixed(math.Atanh),
	"Erf":        fixed(math.Erf),
	"Tanh":       fixed(math.Tanh),
	"Sigmoid":    fixed(sigmoid),
	"Softplus":   fixed(softplus),
	"Softsign":   fixed(func(x float64) float64 { return x / (1 + math.Abs(x)) }),
	"Mish":       fixed(func(x float64) float64 { return x * math.Tanh(softplus(x)) }),
	"HardSwish":  fixed(func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }),
	"HardSigmoid": func(n *graph.Node) func(float64) float64 {
		a, b := float64(n.AttrFloat("alpha", 0.2)), float64(n.AttrFloat("beta", 0.5))
		return func(x float64) float64 { return math.Max(0, math.Min(1, a*x+b)) }
	},
	"LeakyRelu": func(n *graph.Node) func(float64) float64 {
		a := float64(n.AttrFloat("alpha", 0.01))
		return func(x float64) float64 {
			if x < 0 {
				return a * x
			}
			return x
		}
	},
	"Elu": func(n *graph.Node) func(float64) float64 {
		a := float64(n.AttrFloat("alpha", 1))
		return func(x float64) float64 {
			if x < 0 {
				return a * math.Expm1(x)
			}
			return x
		}
	},
	"Selu": func(n *graph.Node) func(float64) float64 {
		a := float64(n.AttrFloat("alpha", 1.67326319217681884765625))
		g := float64(n.AttrFloat("gamma", 1.05070102214813232421875))
		return func(x float64) float64 {
			if x > 0 {
				return g * x
			}
			return g * (a*math.Exp(x) - a)
		}
	},
	"Celu": func(n *graph.Node) func(float64) float64 {
		a := float64(n.AttrFloat("alpha", 1))
		return func(x float64) float64 { return math.Max(0, x) + math.Min(0, a*math.Expm1(x/a)) }
	},
	"ThresholdedRelu": func(n *graph.Node) func(float64) float64 {
		a := float64(n.AttrFloat("alpha", 1))
		return func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}
	},
	"Shrink": func(n *graph.Node) func(float64) float64 {
		l, b := float64(n.AttrFloat("lambd", 0.5)), float64(n.AttrFloat("bias", 0))
		return func(x float64) float64 {
			switch {
			case x < -l:
				return x + b
			case x > l:
				return x - b
			}
			return 0
		}
	},
	"Gelu": func(n *graph.Node) func(float64) float64 {
		if n.AttrString("approximate", "none") == "tanh" {
			c := math.Sqrt(2 / math.Pi)
			return func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x))) }
		}
		return func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	},
}

func fixed(f func(float64) float64) func(*graph.Node) func(float64) float64 {
	return func(*graph.Node) func(float64) float64 { return f }
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// unaryFast are float32 loops for the activations that are pure
// arithmetic and hot in mobile CNNs (MobileNetV3's hard activations).
var unaryFast = map[string]func(n *graph.Node) func(d, s []float32){
	"Sigmoid": func(n *graph.Node) func(d, s []float32) {
		return vecSigmoid32
	},
	"HardSigmoid": func(n *graph.Node) func(d, s []float32) {
		a, b := n.AttrFloat("alpha", 0.2), n.AttrFloat("beta", 0.5)
		return func(d, s []float32) {
			for i, x := range s[:len(d)] {
				d[i] = max(0, min(1, a*x+b))
			}
		}
	},
	"HardSwish": func(n *graph.Node) func(d, s []float32) {
		return func(d, s []float32) {
			for i, x := range s[:len(d)] {
				d[i] = x * max(0, min(1, x/6+0.5))
			}
		}
	},
	"LeakyRelu": func(n *graph.Node) func(d, s []float32) {
		a := n.AttrFloat("alpha", 0.01)
		return func(d, s []float32) {
			for i, x := range s[:len(d)] {
				if x < 0 {
					x *= a
				}
				d[i] = x
			}
		}
	},
}

// unarySince is the opset that introduced the operators added after
// opset 1, so older models report them as unsupported.
var unarySince = map[string]int{
	"Erf": 9, "Sinh": 9, "Cosh": 9, "Asinh": 9, "Acosh": 9, "Atanh": 9, "Shrink": 9,
	"Sin": 7, "Cos": 7, "Tan": 7, "Asin": 7, "Acos": 7, "Atan": 7,
	"ThresholdedRelu": 10, "Round": 11, "Celu": 12, "HardSwish": 14, "Mish": 18, "Gelu": 20,
}

// unaryInts are the operators that also take integer types.
var unaryInts = map[string]bool{"Abs": true, "Neg": true, "Sign": true, "Relu": true, "Shrink": true}

func init() {
	for name, mk := range unaryMath {
		since := max(1, unarySince[name])
		register(name, since, func(n *graph.Node, opset int) (Op, error) {
			f := mk(n)
			var fast func(d, s []float32)
			if mkFast := unaryFast[n.OpType]; mkFast != nil {
				fast = mkFast(n)
			}
			return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
				if unaryInts[n.OpType] && !isFloatDType(x.DType) {
					return intUnaryVia64(ctx, x, f)
				}
				if fast != nil && x.DType == tensor.Float {
					o := ctx.newTensorFull(tensor.Float, x.Shape...)
					d, s := o.Float32(), x.Float32()
					ctx.Parallel(len(d), elemGrain, func(lo, hi int) { fast(d[lo:hi], s[lo:hi]) })
					return o, nil
				}
				return floatUnary(ctx, x, f)
			}), nil
		})
	}
	for _, name := range []string{"Abs", "Neg", "Sign", "Relu"} {
		name := name
		register(name, 1, func(n *graph.Node, opset int) (Op, error) {
			return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) { return signedUnary(ctx, name, x) }), nil
		})
	}
	register("IsNaN", 9, func(n *graph.Node, opset int) (Op, error) {
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
			return floatPredicate(ctx, x, func(v float64) bool { return v != v })
		}), nil
	})
	register("IsInf", 10, func(n *graph.Node, opset int) (Op, error) {
		neg, pos := n.AttrInt("detect_negative", 1) != 0, n.AttrInt("detect_positive", 1) != 0
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
			return floatPredicate(ctx, x, func(v float64) bool { return (pos && math.IsInf(v, 1)) || (neg && math.IsInf(v, -1)) })
		}), nil
	})
	register("Not", 1, func(n *graph.Node, opset int) (Op, error) {
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
			b, ok := x.Data.([]bool)
			if !ok {
				return nil, fmt.Errorf("want bool, got %v", x.DType)
			}
			o := ctx.NewTensor(tensor.Bool, x.Shape...)
			d := o.Data.([]bool)
			for i, v := range b {
				d[i] = !v
			}
			return o, nil
		}), nil
	})
	register("BitwiseNot", 18, func(n *graph.Node, opset int) (Op, error) {
		return unaryOp(bitwiseNot), nil
	})
	register("Identity", 1, func(n *graph.Node, opset int) (Op, error) {
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) { return cloneTensor(ctx, x), nil }), nil
	})
	register("Dropout", 1, buildDropout)
	register("Clip", 1, buildClip)
}

// unaryOp adapts a one-tensor function to Op.
func unaryOp(f func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error)) Op {
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		t, err := f(ctx, in[0])
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{t}, nil
	})
}

// floatUnary applies f to every element of a float tensor.
func floatUnary(ctx *Context, x *tensor.Tensor, f func(float64) float64) (*tensor.Tensor, error) {
	switch s := x.Data.(type) {
	case []float32:
		o := ctx.newTensorFull(x.DType, x.Shape...)
		d := o.Float32()
		ctx.Parallel(len(d), elemGrain/8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d[i] = float32(f(float64(s[i])))
			}
		})
		return o, nil
	case []float64:
		o := ctx.newTensorFull(x.DType, x.Shape...)
		d := o.Data.([]float64)
		ctx.Parallel(len(d), elemGrain/8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d[i] = f(s[i])
			}
		})
		return o, nil
	}
	if isHalf(x.DType) {
		t, err := floatUnary(ctx, halfToF32(x), f)
		if err != nil {
			return nil, err
		}
		return f32ToHalf(t, x.DType), nil
	}
	return nil, fmt.Errorf("unsupported element type %v (want a float type)", x.DType)
}

// intUnaryVia64 applies a float function to an integer tensor, converting
// the result back with truncation.
func intUnaryVia64(ctx *Context, x *tensor.Tensor, f func(float64) float64) (*tensor.Tensor, error) {
	v, err := asFloat64s(x)
	if err != nil {
		return nil, err
	}
	r := make([]float64, len(v))
	for i, e := range v {
		r[i] = f(e)
	}
	return fromFloat64s(r, x.DType, x.Shape)
}

func floatPredicate(ctx *Context, x *tensor.Tensor, f func(float64) bool) (*tensor.Tensor, error) {
	if !isFloatDType(x.DType) {
		return nil, fmt.Errorf("unsupported element type %v (want a float type)", x.DType)
	}
	v, err := asFloat64s(x)
	if err != nil {
		return nil, err
	}
	o := ctx.NewTensor(tensor.Bool, x.Shape...)
	d := o.Data.([]bool)
	for i, e := range v {
		d[i] = f(e)
	}
	return o, nil
}

// signedUnary is Abs, Neg, Sign or Relu for any numeric type.
func signedUnary(ctx *Context, name string, x *tensor.Tensor) (*tensor.Tensor, error) {
	if isHalf(x.DType) {
		t, err := signedUnary(ctx, name, halfToF32(x))
		if err != nil {
			return nil, err
		}
		return f32ToHalf(t, x.DType), nil
	}
	o := ctx.newTensorFull(x.DType, x.Shape...) // every case writes all of o
	switch s := x.Data.(type) {
	case []float32:
		signedLoop(ctx, name, o.Data.([]float32), s)
	case []float64:
		signedLoop(ctx, name, o.Data.([]float64), s)
	case []int64:
		signedLoop(ctx, name, o.Data.([]int64), s)
	case []int32:
		signedLoop(ctx, name, o.Data.([]int32), s)
	case []int16:
		signedLoop(ctx, name, o.Data.([]int16), s)
	case []int8:
		signedLoop(ctx, name, o.Data.([]int8), s)
	case []uint8:
		signedLoop(ctx, name, o.Data.([]uint8), s)
	case []uint16:
		signedLoop(ctx, name, o.Data.([]uint16), s)
	case []uint32:
		signedLoop(ctx, name, o.Data.([]uint32), s)
	case []uint64:
		signedLoop(ctx, name, o.Data.([]uint64), s)
	default:
		return nil, fmt.Errorf("unsupported element type %v", x.DType)
	}
	return o, nil
}

func signedLoop[T elemNum](ctx *Context, name string, d, s []T) {
	ctx.Parallel(len(d), elemGrain, func(lo, hi int) {
		d, s := d[lo:hi], s[lo:hi]
		var one T = 1
		switch name {
		case "Relu":
			for i, v := range s {
				if v > 0 {
					d[i] = v
				} else {
					d[i] = 0
				}
			}
		case "Neg":
			for i, v := range s {
				d[i] = -v
			}
		case "Abs":
			for i, v := range s {
				if v < 0 {
					v = -v
				}
				d[i] = v
			}
		case "Sign":
			for i, v := range s {
				switch {
				case v > 0:
					d[i] = 1
				case v < 0:
					d[i] = -one
				case v != v:
					d[i] = v
				default:
					d[i] = 0
				}
			}
		}
	})
}

func bitwiseNot(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	o := ctx.NewTensor(x.DType, x.Shape...)
	switch s := x.Data.(type) {
	case []int64:
		notLoop(o.Data.([]int64), s)
	case []int32:
		notLoop(o.Data.([]int32), s)
	case []int16:
		notLoop(o.Data.([]int16), s)
	case []int8:
		notLoop(o.Data.([]int8), s)
	case []uint8:
		notLoop(o.Data.([]uint8), s)
	case []uint16:
		notLoop(o.Data.([]uint16), s)
	case []uint32:
		notLoop(o.Data.([]uint32), s)
	case []uint64:
		notLoop(o.Data.([]uint64), s)
	default:
		return nil, fmt.Errorf("unsupported element type %v (want an integer type)", x.DType)
	}
	return o, nil
}

func notLoop[T elemInt](d, s []T) {
	for i, v := range s {
		d[i] = ^v
	}
}

// buildDropout is identity at inference. In training mode (opset 12's
// training_mode input) with a positive ratio it draws a mask and scales
// the kept elements by 1/(1-ratio).
func buildDropout(n *graph.Node, opset int) (Op, error) {
	attrRatio := float64(n.AttrFloat("ratio", 0.5))
	seed := n.AttrInt("seed", 0)
	wantMask := len(n.Outputs) > 1 && n.Outputs[1] != nil
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		ratio, training := attrRatio, false
		if opset >= 12 {
			ratio = 0.5
			if len(in) > 1 && in[1] != nil {
				v, err := asFloat64s(in[1])
				if err != nil || len(v) != 1 {
					return nil, fmt.Errorf("ratio: want a float scalar")
				}
				ratio = v[0]
			}
			if len(in) > 2 && in[2] != nil {
				b, ok := in[2].Data.([]bool)
				if !ok || len(b) != 1 {
					return nil, fmt.Errorf("training_mode: want a bool scalar")
				}
				training = b[0]
			}
		}
		y := cloneTensor(ctx, x)
		if !wantMask && !(training && ratio > 0) {
			return []*tensor.Tensor{y}, nil
		}
		mask := ctx.NewTensor(tensor.Bool, x.Shape...)
		m := mask.Data.([]bool)
		for i := range m {
			m[i] = true
		}
		if training && ratio > 0 {
			if err := dropoutTrain(y, m, ratio, seed); err != nil {
				return nil, err
			}
		}
		return []*tensor.Tensor{y, mask}, nil
	}), nil
}

// dropoutTrain zeroes elements with probability ratio using a small
// xorshift generator (deterministic for a given seed).
func dropoutTrain(y *tensor.Tensor, m []bool, ratio float64, seed int64) error {
	v, err := asFloat64s(y)
	if err != nil {
		return err
	}
	s := uint64(seed)*0x9E3779B97F4A7C15 | 1
	scale := 1 / (1 - ratio)
	for i := range v {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		if float64(s>>11)/(1<<53) < ratio {
			m[i] = false
			v[i] = 0
		} else {
			v[i] *= scale
		}
	}
	t, err := fromFloat64s(v, y.DType, y.Shape)
	if err != nil {
		return err
	}
	y.Data = t.Data
	return nil
}

// buildClip reads the bounds from attributes before opset 11 and from the
// optional inputs after.
func buildClip(n *graph.Node, opset int) (Op, error) {
	if opset < 11 {
		lo := float64(n.AttrFloat("min", float32(math.Inf(-1))))
		hi := float64(n.AttrFloat("max", float32(math.Inf(1))))
		return unaryOp(func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
			return floatUnary(ctx, x, func(v float64) float64 { return clamp(v, lo, hi) })
		}), nil
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		bound := func(i int, def float64) (float64, error) {
			if len(in) <= i || in[i] == nil {
				return def, nil
			}
			v, err := asFloat64s(in[i])
			if err != nil || len(v) != 1 {
				return 0, fmt.Errorf("input %d: want a scalar", i)
			}
			return v[0], nil
		}
		lo, err := bound(1, math.Inf(-1))
		if err != nil {
			return nil, err
		}
		hi, err := bound(2, math.Inf(1))
		if err != nil {
			return nil, err
		}
		if x.DType == tensor.Float {
			s := x.Float32()
			o := ctx.newTensorFull(tensor.Float, x.Shape...)
			d := o.Float32()
			l, h := float32(lo), float32(hi)
			ctx.Parallel(len(d), elemGrain, func(a, b int) {
				for i := a; i < b; i++ {
					v := s[i]
					if v < l {
						v = l
					}
					if v > h {
						v = h
					}
					d[i] = v
				}
			})
			return []*tensor.Tensor{o}, nil
		}
		var t *tensor.Tensor
		if isFloatDType(x.DType) {
			t, err = floatUnary(ctx, x, func(v float64) float64 { return clamp(v, lo, hi) })
		} else {
			t, err = intUnaryVia64(ctx, x, func(v float64) float64 { return clamp(v, lo, hi) })
		}
		return []*tensor.Tensor{t}, err
	}), nil
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}
