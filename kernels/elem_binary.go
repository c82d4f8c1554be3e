package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// Binary and variadic elementwise operators with multidirectional
// broadcasting: arithmetic, comparison, logic and bitwise.

func init() {
	for _, op := range []struct {
		name string
		k    arithKind
	}{{"Add", arAdd}, {"Sub", arSub}, {"Mul", arMul}, {"Div", arDiv}} {
		k := op.k
		register(op.name, 1, func(n *graph.Node, opset int) (Op, error) {
			return legacyBroadcast(n, opset, binaryOp(func(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error) { return arith(ctx, k, a, b) })), nil
		})
	}
	register("Mod", 10, func(n *graph.Node, opset int) (Op, error) {
		k := arMod
		if n.AttrInt("fmod", 0) != 0 {
			k = arFmod
		}
		return binaryOp(func(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error) { return arith(ctx, k, a, b) }), nil
	})
	for _, op := range []struct {
		name string
		k    arithKind
	}{{"Max", arMax}, {"Min", arMin}, {"Sum", arAdd}, {"Mean", arAdd}} {
		k, mean := op.k, op.name == "Mean"
		register(op.name, 1, func(n *graph.Node, opset int) (Op, error) {
			return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
				t, err := variadic(ctx, k, in, mean)
				return []*tensor.Tensor{t}, err
			}), nil
		})
	}
	for _, op := range []struct {
		name string
		k    cmpKind
	}{{"Equal", cmpEq}, {"Greater", cmpGt}, {"GreaterOrEqual", cmpGe}, {"Less", cmpLt}, {"LessOrEqual", cmpLe}} {
		k, since := op.k, 1
		if k == cmpGe || k == cmpLe {
			since = 12
		}
		register(op.name, since, func(n *graph.Node, opset int) (Op, error) {
			return legacyBroadcast(n, opset, binaryOp(func(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error) { return compare(ctx, k, a, b) })), nil
		})
	}
	for _, op := range []struct {
		name    string
		k       bitKind
		logical bool
	}{{"And", bitAnd, true}, {"Or", bitOr, true}, {"Xor", bitXor, true},
		{"BitwiseAnd", bitAnd, false}, {"BitwiseOr", bitOr, false}, {"BitwiseXor", bitXor, false}} {
		k, logical := op.k, op.logical
		since := 1
		if !logical {
			since = 18
		}
		register(op.name, since, func(n *graph.Node, opset int) (Op, error) {
			return legacyBroadcast(n, opset, binaryOp(func(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error) {
				if logical && (a.DType != tensor.Bool || b.DType != tensor.Bool) {
					return nil, fmt.Errorf("want bool inputs, got %v and %v", a.DType, b.DType)
				}
				return bitwise(ctx, k, a, b)
			})), nil
		})
	}
	register("BitShift", 11, func(n *graph.Node, opset int) (Op, error) {
		var k bitKind
		switch d := n.AttrString("direction", ""); d {
		case "LEFT":
			k = bitShl
		case "RIGHT":
			k = bitShr
		default:
			return nil, fmt.Errorf("direction %q: want LEFT or RIGHT", d)
		}
		return binaryOp(func(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error) { return bitwise(ctx, k, a, b) }), nil
	})
	register("Pow", 1, func(n *graph.Node, opset int) (Op, error) { return legacyBroadcast(n, opset, binaryOp(pow)), nil })
	register("PRelu", 1, func(n *graph.Node, opset int) (Op, error) {
		if opset >= 7 {
			return binaryOp(prelu), nil
		}
		// Before opset 7 a one-dimensional slope holds one value per
		// channel (axis 1) rather than broadcasting from the right.
		return binaryOp(func(ctx *Context, x, slope *tensor.Tensor) (*tensor.Tensor, error) {
			if len(slope.Shape) == 1 && len(x.Shape) >= 2 && slope.Shape[0] == x.Shape[1] && slope.Shape[0] != 1 {
				slope = alignAt(slope, 1, len(x.Shape))
			}
			return prelu(ctx, x, slope)
		}), nil
	})
	register("Where", 9, func(n *graph.Node, opset int) (Op, error) { return OpFunc(where), nil })
}

// binaryOp adapts a two-tensor function to Op.
func binaryOp(f func(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error)) Op {
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 2 || in[0] == nil || in[1] == nil {
			return nil, fmt.Errorf("want 2 inputs, got %d", len(in))
		}
		t, err := f(ctx, in[0], in[1])
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{t}, nil
	})
}

// legacyBroadcast wraps a binary op with the opset 1-6 rule: with
// broadcast=1 and an axis, the second operand's dimensions line up with
// the first's starting at axis instead of from the right.
func legacyBroadcast(n *graph.Node, opset int, op Op) Op {
	if opset >= 7 || n.AttrInt("broadcast", 0) == 0 || n.Attr("axis") == nil {
		return op
	}
	axis := int(n.AttrInt("axis", 0))
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 2 || in[0] == nil || in[1] == nil {
			return nil, fmt.Errorf("want 2 inputs")
		}
		r := len(in[0].Shape)
		ax := axis
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax+len(in[1].Shape) > r {
			return nil, fmt.Errorf("axis %d does not fit shape %v in %v", axis, in[1].Shape, in[0].Shape)
		}
		return op.Run(ctx, []*tensor.Tensor{in[0], alignAt(in[1], ax, r)})
	})
}

// alignAt views t (not copied) with its dimensions starting at axis of a
// rank-r shape, padded with 1s on both sides.
func alignAt(t *tensor.Tensor, axis, r int) *tensor.Tensor {
	shape := make([]int, r)
	for i := range shape {
		shape[i] = 1
	}
	copy(shape[axis:], t.Shape)
	return &tensor.Tensor{DType: t.DType, Shape: shape, Data: t.Data}
}

// binRun broadcasts typed a and b into a new tensor of type rdt.
func binRun[T, R any](ctx *Context, a, b *tensor.Tensor, rdt tensor.DType, l *binLoops[T, R]) (*tensor.Tensor, error) {
	out, err := bcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	o := ctx.newTensorFull(rdt, out...) // binApply writes every element
	binApply(ctx, o.Data.([]R), a.Data.([]T), a.Shape, b.Data.([]T), b.Shape, out, l)
	return o, nil
}

func sameType(a, b *tensor.Tensor) error {
	if a.DType != b.DType {
		return fmt.Errorf("input types differ: %v and %v", a.DType, b.DType)
	}
	return nil
}

type arithKind int

const (
	arAdd arithKind = iota
	arSub
	arMul
	arDiv
	arMax
	arMin
	arMod
	arFmod
)

// arith applies an arithmetic operator of any numeric type; the 16-bit
// float types are computed in float32 and rounded back.
func arith(ctx *Context, k arithKind, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	switch a.DType {
	case tensor.Float:
		return binRun(ctx, a, b, a.DType, arithLoops[float32](k))
	case tensor.Double:
		return binRun(ctx, a, b, a.DType, arithLoops[float64](k))
	case tensor.Int64:
		return binRun(ctx, a, b, a.DType, arithLoops[int64](k))
	case tensor.Int32:
		return binRun(ctx, a, b, a.DType, arithLoops[int32](k))
	case tensor.Int16:
		return binRun(ctx, a, b, a.DType, arithLoops[int16](k))
	case tensor.Int8:
		return binRun(ctx, a, b, a.DType, arithLoops[int8](k))
	case tensor.Uint8:
		return binRun(ctx, a, b, a.DType, arithLoops[uint8](k))
	case tensor.Uint16:
		return binRun(ctx, a, b, a.DType, arithLoops[uint16](k))
	case tensor.Uint32:
		return binRun(ctx, a, b, a.DType, arithLoops[uint32](k))
	case tensor.Uint64:
		return binRun(ctx, a, b, a.DType, arithLoops[uint64](k))
	case tensor.Float16, tensor.BFloat16:
		t, err := arith(ctx, k, halfToF32(a), halfToF32(b))
		if err != nil {
			return nil, err
		}
		return f32ToHalf(t, a.DType), nil
	}
	return nil, fmt.Errorf("unsupported element type %v", a.DType)
}

func isFloatType[T elemNum]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

func arithLoops[T elemNum](k arithKind) *binLoops[T, T] {
	switch k {
	case arAdd:
		return &binLoops[T, T]{
			vv: func(d, a, b []T) {
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					d[i] = a[i] + b[i]
				}
			},
			vs: func(d, a []T, b T) {
				a = a[:len(d)]
				for i := range d {
					d[i] = a[i] + b
				}
			},
			sv: func(d []T, a T, b []T) {
				b = b[:len(d)]
				for i := range d {
					d[i] = a + b[i]
				}
			},
		}
	case arSub:
		return &binLoops[T, T]{
			vv: func(d, a, b []T) {
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					d[i] = a[i] - b[i]
				}
			},
			vs: func(d, a []T, b T) {
				a = a[:len(d)]
				for i := range d {
					d[i] = a[i] - b
				}
			},
			sv: func(d []T, a T, b []T) {
				b = b[:len(d)]
				for i := range d {
					d[i] = a - b[i]
				}
			},
		}
	case arMul:
		return &binLoops[T, T]{
			vv: func(d, a, b []T) {
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					d[i] = a[i] * b[i]
				}
			},
			vs: func(d, a []T, b T) {
				a = a[:len(d)]
				for i := range d {
					d[i] = a[i] * b
				}
			},
			sv: func(d []T, a T, b []T) {
				b = b[:len(d)]
				for i := range d {
					d[i] = a * b[i]
				}
			},
		}
	case arDiv:
		if !isFloatType[T]() {
			// Go panics on integer division by zero; ONNX leaves it
			// undefined, so yield 0 rather than crash.
			return loopsOf(func(a, b T) T {
				if b == 0 {
					return 0
				}
				return a / b
			})
		}
		return &binLoops[T, T]{
			vv: func(d, a, b []T) {
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					d[i] = a[i] / b[i]
				}
			},
			vs: func(d, a []T, b T) {
				a = a[:len(d)]
				for i := range d {
					d[i] = a[i] / b
				}
			},
			sv: func(d []T, a T, b []T) {
				b = b[:len(d)]
				for i := range d {
					d[i] = a / b[i]
				}
			},
		}
	case arMax:
		return loopsOf(func(a, b T) T {
			if a >= b || a != a {
				return a
			}
			return b
		})
	case arMin:
		return loopsOf(func(a, b T) T {
			if a <= b || a != a {
				return a
			}
			return b
		})
	case arMod, arFmod:
		fmod := k == arFmod
		if isFloatType[T]() {
			return loopsOf(func(a, b T) T {
				r := math.Mod(float64(a), float64(b))
				if !fmod && r != 0 && (r < 0) != (b < 0) {
					r += float64(b)
				}
				return T(r)
			})
		}
		return loopsOf(func(a, b T) T { return intMod(a, b, fmod) })
	}
	panic("kernels: unknown arithmetic kind")
}

// intMod is the remainder with the sign of the dividend (fmod) or of the
// divisor (Python's %, ONNX's default).
func intMod[T elemNum](a, b T, fmod bool) T {
	if b == 0 {
		return 0
	}
	var r T
	switch x := any(a).(type) {
	case int8:
		r = T(x % int8(b))
	case int16:
		r = T(x % int16(b))
	case int32:
		r = T(x % int32(b))
	case int64:
		r = T(x % int64(b))
	case uint8:
		return T(x % uint8(b))
	case uint16:
		return T(x % uint16(b))
	case uint32:
		return T(x % uint32(b))
	case uint64:
		return T(x % uint64(b))
	}
	if !fmod && r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

// variadic folds Max, Min, Sum or Mean over its inputs with broadcasting.
func variadic(ctx *Context, k arithKind, in []*tensor.Tensor, mean bool) (*tensor.Tensor, error) {
	var acc *tensor.Tensor
	count := 0
	for i, t := range in {
		if t == nil {
			continue
		}
		count++
		if acc == nil {
			acc = t
			continue
		}
		var err error
		if acc, err = arith(ctx, k, acc, t); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
	}
	if acc == nil {
		return nil, fmt.Errorf("no inputs")
	}
	if count == 1 {
		acc = cloneTensor(ctx, acc)
	}
	if mean {
		c, err := fromFloat64s([]float64{float64(count)}, acc.DType, nil)
		if err != nil {
			return nil, err
		}
		return arith(ctx, arDiv, acc, c)
	}
	return acc, nil
}

type cmpKind int

const (
	cmpEq cmpKind = iota
	cmpGt
	cmpGe
	cmpLt
	cmpLe
)

type elemOrdered interface{ elemNum | ~string }

func cmpLoops[T elemOrdered](k cmpKind) *binLoops[T, bool] {
	switch k {
	case cmpEq:
		return loopsOf(func(a, b T) bool { return a == b })
	case cmpGt:
		return loopsOf(func(a, b T) bool { return a > b })
	case cmpGe:
		return loopsOf(func(a, b T) bool { return a >= b })
	case cmpLt:
		return loopsOf(func(a, b T) bool { return a < b })
	}
	return loopsOf(func(a, b T) bool { return a <= b })
}

func compare(ctx *Context, k cmpKind, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	if isHalf(a.DType) {
		a, b = halfToF32(a), halfToF32(b)
	}
	switch a.Data.(type) {
	case []float32:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[float32](k))
	case []float64:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[float64](k))
	case []int64:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[int64](k))
	case []int32:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[int32](k))
	case []int16:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[int16](k))
	case []int8:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[int8](k))
	case []uint8:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[uint8](k))
	case []uint16:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[uint16](k))
	case []uint32:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[uint32](k))
	case []uint64:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[uint64](k))
	case []string:
		return binRun(ctx, a, b, tensor.Bool, cmpLoops[string](k))
	case []bool:
		if k != cmpEq {
			break
		}
		return binRun(ctx, a, b, tensor.Bool, loopsOf(func(x, y bool) bool { return x == y }))
	}
	return nil, fmt.Errorf("unsupported element type %v", a.DType)
}

type bitKind int

const (
	bitAnd bitKind = iota
	bitOr
	bitXor
	bitShl
	bitShr
)

func bitLoops[T elemInt](k bitKind) *binLoops[T, T] {
	switch k {
	case bitAnd:
		return loopsOf(func(a, b T) T { return a & b })
	case bitOr:
		return loopsOf(func(a, b T) T { return a | b })
	case bitXor:
		return loopsOf(func(a, b T) T { return a ^ b })
	case bitShl:
		return loopsOf(func(a, b T) T { return a << uint64(b) })
	}
	return loopsOf(func(a, b T) T { return a >> uint64(b) })
}

func bitwise(ctx *Context, k bitKind, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	if (k == bitShl || k == bitShr) && a.DType != tensor.Uint8 && a.DType != tensor.Uint16 && a.DType != tensor.Uint32 && a.DType != tensor.Uint64 {
		return nil, fmt.Errorf("BitShift: want an unsigned integer type, got %v", a.DType)
	}
	switch a.DType {
	case tensor.Bool:
		var f func(x, y bool) bool
		switch k {
		case bitAnd:
			f = func(x, y bool) bool { return x && y }
		case bitOr:
			f = func(x, y bool) bool { return x || y }
		case bitXor:
			f = func(x, y bool) bool { return x != y }
		default:
			return nil, fmt.Errorf("shift of bool")
		}
		return binRun(ctx, a, b, tensor.Bool, loopsOf(f))
	case tensor.Int64:
		return binRun(ctx, a, b, a.DType, bitLoops[int64](k))
	case tensor.Int32:
		return binRun(ctx, a, b, a.DType, bitLoops[int32](k))
	case tensor.Int16:
		return binRun(ctx, a, b, a.DType, bitLoops[int16](k))
	case tensor.Int8:
		return binRun(ctx, a, b, a.DType, bitLoops[int8](k))
	case tensor.Uint8:
		return binRun(ctx, a, b, a.DType, bitLoops[uint8](k))
	case tensor.Uint16:
		return binRun(ctx, a, b, a.DType, bitLoops[uint16](k))
	case tensor.Uint32:
		return binRun(ctx, a, b, a.DType, bitLoops[uint32](k))
	case tensor.Uint64:
		return binRun(ctx, a, b, a.DType, bitLoops[uint64](k))
	}
	return nil, fmt.Errorf("unsupported element type %v", a.DType)
}

// pow raises a to b; the exponent may be of another numeric type and the
// result has the type of a. float32 with a scalar exponent of 2 or 0.5 (the
// LayerNorm pattern of exported transformers) avoids math.Pow.
func pow(ctx *Context, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType == tensor.Float && b.Len() == 1 {
		e, err := asFloat64s(b)
		if err != nil {
			return nil, err
		}
		x := a.Float32()
		o := ctx.NewTensor(tensor.Float, outShapeScalar(a.Shape, b.Shape)...)
		d := o.Float32()
		switch e[0] {
		case 2:
			ctx.Parallel(len(d), elemGrain, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					d[i] = x[i] * x[i]
				}
			})
			return o, nil
		case 0.5:
			ctx.Parallel(len(d), elemGrain, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					d[i] = float32(math.Sqrt(float64(x[i])))
				}
			})
			return o, nil
		}
	}
	if a.DType == tensor.Float && b.DType == tensor.Float {
		return binRun(ctx, a, b, tensor.Float, loopsOf(func(x, y float32) float32 { return float32(math.Pow(float64(x), float64(y))) }))
	}
	if a.DType == tensor.Double && b.DType == tensor.Double {
		return binRun(ctx, a, b, tensor.Double, loopsOf(math.Pow))
	}
	x, err := asFloat64s(a)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	y, err := asFloat64s(b)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	out, err := bcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	d := make([]float64, tensor.NumElements(out))
	binApply(ctx, d, x, a.Shape, y, b.Shape, out, loopsOf(func(p, q float64) float64 {
		r := math.Pow(p, q)
		if q < 0 && p != 0 && math.Abs(p) != 1 && !isFloatDType(a.DType) {
			return 0 // integer power with a negative exponent truncates
		}
		return r
	}))
	return fromFloat64s(d, a.DType, out)
}

func isFloatDType(dt tensor.DType) bool {
	return dt == tensor.Float || dt == tensor.Double || isHalf(dt)
}

// outShapeScalar is the broadcast of shape a with a one-element tensor of
// shape b (which may add leading 1s).
func outShapeScalar(a, b []int) []int {
	if len(b) <= len(a) {
		return a
	}
	s := make([]int, len(b))
	for i := range s {
		s[i] = 1
	}
	copy(s[len(b)-len(a):], a)
	return s
}

// prelu is x for x >= 0 and slope*x otherwise; the slope broadcasts to x.
func prelu(ctx *Context, x, slope *tensor.Tensor) (*tensor.Tensor, error) {
	if err := sameType(x, slope); err != nil {
		return nil, err
	}
	switch x.DType {
	case tensor.Float:
		return binRun(ctx, x, slope, x.DType, preluLoops[float32]())
	case tensor.Double:
		return binRun(ctx, x, slope, x.DType, preluLoops[float64]())
	case tensor.Int32:
		return binRun(ctx, x, slope, x.DType, preluLoops[int32]())
	case tensor.Int64:
		return binRun(ctx, x, slope, x.DType, preluLoops[int64]())
	case tensor.Float16, tensor.BFloat16:
		t, err := prelu(ctx, halfToF32(x), halfToF32(slope))
		if err != nil {
			return nil, err
		}
		return f32ToHalf(t, x.DType), nil
	}
	return nil, fmt.Errorf("unsupported element type %v", x.DType)
}

func preluLoops[T elemNum]() *binLoops[T, T] {
	return &binLoops[T, T]{
		vv: func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				if v := a[i]; v < 0 {
					d[i] = v * b[i]
				} else {
					d[i] = v
				}
			}
		},
		vs: func(d, a []T, s T) {
			a = a[:len(d)]
			for i := range d {
				if v := a[i]; v < 0 {
					d[i] = v * s
				} else {
					d[i] = v
				}
			}
		},
		sv: func(d []T, v T, b []T) {
			b = b[:len(d)]
			for i := range d {
				if v < 0 {
					d[i] = v * b[i]
				} else {
					d[i] = v
				}
			}
		},
	}
}

// where selects x where cond is true and y elsewhere, broadcasting all three.
func where(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("want 3 inputs")
	}
	c, x, y := in[0], in[1], in[2]
	if c.DType != tensor.Bool {
		return nil, fmt.Errorf("condition: want bool, got %v", c.DType)
	}
	if err := sameType(x, y); err != nil {
		return nil, err
	}
	out, err := bcastShape(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	o := ctx.NewTensor(x.DType, out...)
	if o.Len() == 0 {
		return []*tensor.Tensor{o}, nil
	}
	cond := c.Data.([]bool)
	p := planRows([][]int{c.Shape, x.Shape, y.Shape}, out)
	switch d := o.Data.(type) {
	case []float32:
		whereT(ctx, &p, d, cond, x.Data.([]float32), y.Data.([]float32))
	case []float64:
		whereT(ctx, &p, d, cond, x.Data.([]float64), y.Data.([]float64))
	case []int64:
		whereT(ctx, &p, d, cond, x.Data.([]int64), y.Data.([]int64))
	case []int32:
		whereT(ctx, &p, d, cond, x.Data.([]int32), y.Data.([]int32))
	case []int16:
		whereT(ctx, &p, d, cond, x.Data.([]int16), y.Data.([]int16))
	case []int8:
		whereT(ctx, &p, d, cond, x.Data.([]int8), y.Data.([]int8))
	case []uint8:
		whereT(ctx, &p, d, cond, x.Data.([]uint8), y.Data.([]uint8))
	case []uint16:
		whereT(ctx, &p, d, cond, x.Data.([]uint16), y.Data.([]uint16))
	case []uint32:
		whereT(ctx, &p, d, cond, x.Data.([]uint32), y.Data.([]uint32))
	case []uint64:
		whereT(ctx, &p, d, cond, x.Data.([]uint64), y.Data.([]uint64))
	case []bool:
		whereT(ctx, &p, d, cond, x.Data.([]bool), y.Data.([]bool))
	case []string:
		whereT(ctx, &p, d, cond, x.Data.([]string), y.Data.([]string))
	default:
		return nil, fmt.Errorf("unsupported element type %v", x.DType)
	}
	return []*tensor.Tensor{o}, nil
}

// whereT selects row by row; along a row each operand steps by 0 or 1.
func whereT[T any](ctx *Context, p *rowPlan, d []T, c []bool, x, y []T) {
	L := p.inner
	cs, xs, ys := p.innerStride[0], p.innerStride[1], p.innerStride[2]
	ctx.Parallel(len(d)/L, max(1, elemGrain/L), func(lo, hi int) {
		p.each(lo, hi, func(row int, offs []int) {
			dr := d[row*L : row*L+L]
			co, xo, yo := offs[0], offs[1], offs[2]
			if cs == 1 && xs == 1 && ys == 1 {
				cr, xr, yr := c[co:co+L], x[xo:xo+L], y[yo:yo+L]
				for i := range dr {
					if cr[i] {
						dr[i] = xr[i]
					} else {
						dr[i] = yr[i]
					}
				}
				return
			}
			for i := range dr {
				if c[co+i*cs] {
					dr[i] = x[xo+i*xs]
				} else {
					dr[i] = y[yo+i*ys]
				}
			}
		})
	})
}
