package kernels

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// The engine tests use operators of their own, in a private domain, so they
// do not depend on the operator files and cannot collide with them.
const engTestDomain = "test.ptq.engine"

func init() {
	// AddConst: Y = X + value (float32).
	registerDomain(engTestDomain, "AddConst", 1, func(n *graph.Node, _ int) (Op, error) {
		c := n.AttrFloat("value", 0)
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x := in[0].Float32()
			y := ctx.NewTensor(tensor.Float, in[0].Shape...)
			for i, v := range x {
				y.Float32()[i] = v + c
			}
			return []*tensor.Tensor{y}, nil
		}), nil
	})
	// Sum2: Y = A + B, same shapes (float32).
	registerDomain(engTestDomain, "Sum2", 1, func(n *graph.Node, _ int) (Op, error) {
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if in[0].Len() != in[1].Len() {
				return nil, fmt.Errorf("shapes %v and %v", in[0].Shape, in[1].Shape)
			}
			y := ctx.NewTensor(tensor.Float, in[0].Shape...)
			for i := range y.Float32() {
				y.Float32()[i] = in[0].Float32()[i] + in[1].Float32()[i]
			}
			return []*tensor.Tensor{y}, nil
		}), nil
	})
	// NextLess: Y = (I + 1 < n) for an int64 scalar I.
	registerDomain(engTestDomain, "NextLess", 1, func(n *graph.Node, _ int) (Op, error) {
		lim := n.AttrInt("n", 0)
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{{DType: tensor.Bool, Data: []bool{in[0].Int64()[0]+1 < lim}}}, nil
		}), nil
	})
	// Fail always fails, to check that errors name the node.
	registerDomain(engTestDomain, "Fail", 1, func(n *graph.Node, _ int) (Op, error) {
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return nil, errors.New("deliberate failure")
		}), nil
	})
	// Legacy builds only with attribute legacy=0.
	registerDomain(engTestDomain, "Legacy", 1, func(n *graph.Node, _ int) (Op, error) {
		if n.AttrInt("legacy", 0) != 0 {
			return nil, fmt.Errorf("legacy mode: %w", ErrUnsupported)
		}
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) { return in[:1], nil }), nil
	})
	// View returns its input's data under a new tensor, as Reshape may.
	registerDomain(engTestDomain, "View", 1, func(n *graph.Node, _ int) (Op, error) {
		return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{{DType: in[0].DType, Shape: in[0].Shape, Data: in[0].Data}}, nil
		}), nil
	})
	// BadAttr fails to build.
	registerDomain(engTestDomain, "BadAttr", 1, func(n *graph.Node, _ int) (Op, error) {
		return nil, errors.New("attribute x is invalid")
	})
}

func engNode(op string, in, out []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	name := op + "_" + strings.Join(out, "_")
	domain := engTestDomain
	switch op {
	case "If", "Loop", "Scan":
		domain = ""
	}
	return &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Domain: proto.String(domain), Input: in, Output: out, Attribute: attrs}
}

func engFloatAttr(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func engIntAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func engIntsAttr(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INTS.Enum(), Ints: v}
}

func engGraphAttr(name string, g *onnx.GraphProto) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_GRAPH.Enum(), G: g}
}

// engVI declares a tensor value; dims are ints (fixed) or strings (symbolic).
// With no dims at all the shape is left undeclared.
func engVI(name string, dt tensor.DType, dims ...any) *onnx.ValueInfoProto {
	tt := &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}
	if dims != nil {
		tt.Shape = &onnx.TensorShapeProto{}
		for _, d := range dims {
			switch d := d.(type) {
			case int:
				tt.Shape.Dim = append(tt.Shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
			case string:
				tt.Shape.Dim = append(tt.Shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: d}})
			}
		}
	}
	return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}}
}

func engScalarShape() []any { return []any{} }

func engGraph(name string, nodes []*onnx.NodeProto, in, out []*onnx.ValueInfoProto, inits ...*onnx.TensorProto) *onnx.GraphProto {
	return &onnx.GraphProto{Name: proto.String(name), Node: nodes, Input: in, Output: out, Initializer: inits}
}

func engModel(t *testing.T, g *onnx.GraphProto) *graph.Model {
	t.Helper()
	mp := &onnx.ModelProto{
		IrVersion: proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(17)},
			{Domain: proto.String(engTestDomain), Version: proto.Int64(1)},
		},
		Graph: g,
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatalf("FromProto: %v", err)
	}
	return m
}

func engFloatInit(name string, v []float32, dims ...int64) *onnx.TensorProto {
	return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(tensor.Float)), Dims: dims, FloatData: v}
}

func engEngine(t *testing.T, g *onnx.GraphProto) *Engine {
	t.Helper()
	e, err := NewEngine(engModel(t, g), Options{Threads: 1})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

func engClose(t *testing.T, what string, got []float32, want ...float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// A diamond whose nodes are stored out of order, with an initializer: the
// engine must sort the nodes, run them, show every produced tensor to the
// hook once and return the outputs.
func TestEngineRunAndHook(t *testing.T) {
	g := engGraph("diamond",
		[]*onnx.NodeProto{
			engNode("Sum2", []string{"b", "c"}, []string{"d"}),
			engNode("AddConst", []string{"x"}, []string{"a"}, engFloatAttr("value", 1)),
			engNode("Sum2", []string{"a", "w"}, []string{"c"}),
			engNode("AddConst", []string{"a"}, []string{"b"}, engFloatAttr("value", 10)),
			engNode("AddConst", []string{"a"}, []string{"unused"}, engFloatAttr("value", 5)),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float, "n")},
		[]*onnx.ValueInfoProto{engVI("d", tensor.Float, "n"), engVI("a", tensor.Float, "n")},
		engFloatInit("w", []float32{100, 200}, 2),
	)
	e := engEngine(t, g)
	seen := map[string][]float32{}
	hook := func(name string, n *graph.Node, tv *tensor.Tensor) error {
		if _, dup := seen[name]; dup {
			return fmt.Errorf("%q shown twice", name)
		}
		if n.Outputs[0].Name != name {
			return fmt.Errorf("%q shown with producer %s", name, n)
		}
		seen[name] = slices.Clone(tv.Float32())
		return nil
	}
	out, err := e.Run(map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{1, 2}, 2)}, hook)
	if err != nil {
		t.Fatal(err)
	}
	// a = x+1 = [2 3]; b = a+10 = [12 13]; c = a+w = [102 203]; d = b+c.
	engClose(t, "d", out["d"].Float32(), 114, 216)
	engClose(t, "a", out["a"].Float32(), 2, 3)
	if len(seen) != 5 {
		t.Errorf("hook saw %d tensors (%v), want 5", len(seen), seen)
	}
	engClose(t, "hooked unused", seen["unused"], 7, 8)
	if got := len(e.Inputs()); got != 1 || e.Inputs()[0].String() != "float32[n]" {
		t.Errorf("Inputs() = %v, want one float32[n]", e.Inputs())
	}
}

// Every intermediate value must be dropped right after its last reader, and
// graph outputs never.
func TestEngineFreesAfterLastUse(t *testing.T) {
	g := engGraph("chain",
		[]*onnx.NodeProto{
			engNode("AddConst", []string{"x"}, []string{"a"}),
			engNode("AddConst", []string{"a"}, []string{"b"}),
			engNode("Sum2", []string{"a", "b"}, []string{"c"}),
			engNode("AddConst", []string{"c"}, []string{"dead"}),
			engNode("AddConst", []string{"c"}, []string{"y"}),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float)},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float), engVI("b", tensor.Float)},
	)
	e := engEngine(t, g)
	want := [][]string{{"x"}, nil, {"a"}, {"dead"}, {"c"}}
	for i, s := range e.main.steps {
		if !slices.Equal(s.free, want[i]) {
			t.Errorf("step %d (%s) frees %v, want %v", i, s.node, s.free, want[i])
		}
	}
}

// A long chain of big tensors must keep only a couple alive at a time.
func TestEngineLiveSetStaysSmall(t *testing.T) {
	const n, size = 50, 1 << 16
	var nodes []*onnx.NodeProto
	prev := "x"
	for i := range n {
		next := fmt.Sprintf("v%d", i)
		nodes = append(nodes, engNode("AddConst", []string{prev}, []string{next}, engFloatAttr("value", 1)))
		prev = next
	}
	g := engGraph("long", nodes, []*onnx.ValueInfoProto{engVI("x", tensor.Float, size)}, []*onnx.ValueInfoProto{engVI(prev, tensor.Float, size)})
	e := engEngine(t, g)
	live, peak := 0, 0
	for _, s := range e.main.steps {
		live += len(s.out)
		peak = max(peak, live)
		live -= len(s.free)
	}
	if peak > 2 {
		t.Errorf("peak live set %d tensors, want at most 2", peak)
	}
	out, err := e.Run(map[string]*tensor.Tensor{"x": tensor.New(tensor.Float, size)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[prev].Float32()[size-1]; got != n {
		t.Errorf("last element %v, want %v", got, n)
	}
}

func TestEngineInputErrors(t *testing.T) {
	g := engGraph("inputs",
		[]*onnx.NodeProto{engNode("Sum2", []string{"x", "y"}, []string{"z"})},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float, "batch", 3), engVI("y", tensor.Float, "batch", 3)},
		[]*onnx.ValueInfoProto{engVI("z", tensor.Float, "batch", 3)},
	)
	e := engEngine(t, g)
	good := func() *tensor.Tensor { return tensor.New(tensor.Float, 2, 3) }
	nan := good()
	nan.Float32()[4] = float32(math.NaN())
	cases := []struct {
		name   string
		inputs map[string]*tensor.Tensor
		want   []string // substrings of the error
	}{
		{"missing", map[string]*tensor.Tensor{"x": good()}, []string{`input "y": missing`, "float32[batch,3]"}},
		{"unknown name", map[string]*tensor.Tensor{"x": good(), "y": good(), "X": good()}, []string{`"X"`, `"x", "y"`}},
		{"dtype", map[string]*tensor.Tensor{"x": good(), "y": tensor.New(tensor.Double, 2, 3)}, []string{`input "y"`, "float64", "float32[batch,3]"}},
		{"rank", map[string]*tensor.Tensor{"x": tensor.New(tensor.Float, 6), "y": good()}, []string{`input "x"`, "rank 1", "rank 2"}},
		{"fixed dim", map[string]*tensor.Tensor{"x": good(), "y": tensor.New(tensor.Float, 2, 4)}, []string{`input "y"`, "[2 4]", "float32[batch,3]", "want 3"}},
		{"symbolic mismatch", map[string]*tensor.Tensor{"x": good(), "y": tensor.New(tensor.Float, 5, 3)}, []string{`input "y"`, "batch", "5", "2"}},
		{"nan", map[string]*tensor.Tensor{"x": good(), "y": nan}, []string{`input "y"`, "NaN", "index 4"}},
		{"short data", map[string]*tensor.Tensor{"x": good(), "y": tensor.FromFloat32(make([]float32, 5), 2, 3)}, []string{`input "y"`, "6 elements", "has 5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Run(c.inputs, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := e.Run(map[string]*tensor.Tensor{"x": good(), "y": good()}, nil); err != nil {
		t.Errorf("valid inputs: %v", err)
	}
	lenient, err := NewEngine(engModel(t, g), Options{AllowNaN: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := lenient.Run(map[string]*tensor.Tensor{"x": good(), "y": nan}, nil)
	if err != nil {
		t.Fatalf("AllowNaN: %v", err)
	}
	if v := out["z"].Float32()[4]; v == v {
		t.Errorf("AllowNaN: z[4] = %v, want NaN to flow through", v)
	}
}

func TestEngineUnsupportedListsEveryNode(t *testing.T) {
	body := engGraph("then",
		[]*onnx.NodeProto{engNode("NoSuchOpInside", []string{"x"}, []string{"t"})},
		nil, []*onnx.ValueInfoProto{engVI("t", tensor.Float)})
	els := engGraph("else",
		[]*onnx.NodeProto{engNode("AddConst", []string{"x"}, []string{"f"})},
		nil, []*onnx.ValueInfoProto{engVI("f", tensor.Float)})
	g := engGraph("bad",
		[]*onnx.NodeProto{
			engNode("NoSuchOp", []string{"x"}, []string{"a"}),
			engNode("BadAttr", []string{"a"}, []string{"b"}),
			engNode("Legacy", []string{"a"}, []string{"l1"}, engIntAttr("legacy", 1)),
			engNode("Legacy", []string{"a"}, []string{"l0"}),
			engNode("If", []string{"c"}, []string{"y"}, engGraphAttr("then_branch", body), engGraphAttr("else_branch", els)),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float), engVI("c", tensor.Bool)},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float), engVI("b", tensor.Float)},
	)
	m := engModel(t, g)
	var names []string
	for _, n := range Unsupported(m) {
		names = append(names, n.OpType)
	}
	if !slices.Equal(names, []string{"NoSuchOp", "Legacy", "NoSuchOpInside"}) {
		t.Errorf("Unsupported = %v, want [NoSuchOp Legacy NoSuchOpInside]", names)
	}
	_, err := NewEngine(m, Options{})
	if err == nil {
		t.Fatal("NewEngine accepted unsupported operators")
	}
	for _, w := range []string{"NoSuchOp (opset 1), 1 node(s): NoSuchOp_a", "NoSuchOpInside (opset 1), 1 node(s): NoSuchOpInside_t",
		"3 node(s) use operators", "Legacy_l1 (Legacy): legacy mode", "and 1 node(s) failed", "BadAttr_b (BadAttr): attribute x is invalid"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// Once every operator exists, builder errors are all reported too.
	g.Node = slices.Delete(g.Node, 2, 3) // Legacy_l1
	g.Node[0].OpType = proto.String("AddConst")
	g.Node = append(g.Node, engNode("BadAttr", []string{"x"}, []string{"b2"}))
	g.Output = append(g.Output, engVI("b2", tensor.Float))
	body.Node[0].OpType = proto.String("AddConst")
	_, err = NewEngine(engModel(t, g), Options{})
	if err == nil {
		t.Fatal("NewEngine accepted nodes whose builders fail")
	}
	for _, w := range []string{"BadAttr_b (BadAttr): attribute x is invalid", "BadAttr_b2 (BadAttr): attribute x is invalid", "2 node(s) failed"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestEngineRunErrorNamesNode(t *testing.T) {
	g := engGraph("fail",
		[]*onnx.NodeProto{engNode("Fail", []string{"x"}, []string{"y"})},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float)},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float)})
	_, err := engEngine(t, g).Run(map[string]*tensor.Tensor{"x": tensor.New(tensor.Float, 1)}, nil)
	if err == nil || !strings.Contains(err.Error(), "Fail_y") || !strings.Contains(err.Error(), "deliberate") {
		t.Errorf("error %v does not name the node and cause", err)
	}
}

// If reads an outer-scope value inside its branches, and the hook sees the
// branch's tensors.
func TestEngineIf(t *testing.T) {
	then := engGraph("then",
		[]*onnx.NodeProto{engNode("AddConst", []string{"a"}, []string{"t"}, engFloatAttr("value", 1))},
		nil, []*onnx.ValueInfoProto{engVI("t", tensor.Float)})
	els := engGraph("else",
		[]*onnx.NodeProto{engNode("AddConst", []string{"a"}, []string{"f"}, engFloatAttr("value", -1))},
		nil, []*onnx.ValueInfoProto{engVI("f", tensor.Float)})
	g := engGraph("if",
		[]*onnx.NodeProto{
			engNode("AddConst", []string{"x"}, []string{"a"}, engFloatAttr("value", 10)),
			engNode("If", []string{"c"}, []string{"y"}, engGraphAttr("then_branch", then), engGraphAttr("else_branch", els)),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float), engVI("c", tensor.Bool)},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float)})
	e := engEngine(t, g)
	// "a" is read only inside the branches: it must live until If has run.
	if !slices.Equal(e.main.steps[1].free, []string{"a", "c"}) {
		t.Errorf("If step frees %v, want [a c]", e.main.steps[1].free)
	}
	for _, c := range []struct {
		cond bool
		want float32
		seen string
	}{{true, 13, "t"}, {false, 11, "f"}} {
		var seen []string
		out, err := e.Run(map[string]*tensor.Tensor{
			"x": tensor.FromFloat32([]float32{2}, 1),
			"c": {DType: tensor.Bool, Data: []bool{c.cond}},
		}, func(name string, _ *graph.Node, _ *tensor.Tensor) error { seen = append(seen, name); return nil })
		if err != nil {
			t.Fatal(err)
		}
		engClose(t, fmt.Sprint("cond ", c.cond), out["y"].Float32(), c.want)
		if !slices.Equal(seen, []string{"a", c.seen, "y"}) {
			t.Errorf("cond %v: hook saw %v, want [a %s y]", c.cond, seen, c.seen)
		}
	}
}

func TestEngineLoop(t *testing.T) {
	// body(i, cond, v) -> (cond', v + x, v + x as scan output); cond' = i+1 < 4.
	body := engGraph("body",
		[]*onnx.NodeProto{
			engNode("Sum2", []string{"v_in", "x"}, []string{"v_out"}),
			engNode("NextLess", []string{"i"}, []string{"cond_out"}, engIntAttr("n", 4)),
			engNode("AddConst", []string{"v_out"}, []string{"scan"}),
		},
		[]*onnx.ValueInfoProto{engVI("i", tensor.Int64, engScalarShape()...), engVI("cond_in", tensor.Bool, engScalarShape()...), engVI("v_in", tensor.Float, 2)},
		[]*onnx.ValueInfoProto{engVI("cond_out", tensor.Bool, engScalarShape()...), engVI("v_out", tensor.Float, 2), engVI("scan", tensor.Float, 2)})
	g := engGraph("loop",
		[]*onnx.NodeProto{engNode("Loop", []string{"M", "cond", "v0"}, []string{"v_final", "scans"}, engGraphAttr("body", body))},
		[]*onnx.ValueInfoProto{engVI("M", tensor.Int64, engScalarShape()...), engVI("cond", tensor.Bool, engScalarShape()...), engVI("v0", tensor.Float, 2), engVI("x", tensor.Float, 2)},
		[]*onnx.ValueInfoProto{engVI("v_final", tensor.Float, 2), engVI("scans", tensor.Float, "n", 2)})
	e := engEngine(t, g)
	// The hook sees the body's inputs (nil producer) and produced values
	// on every iteration.
	var seen []string
	_, err := e.Run(map[string]*tensor.Tensor{
		"M":    {DType: tensor.Int64, Data: []int64{2}},
		"cond": {DType: tensor.Bool, Data: []bool{true}},
		"v0":   tensor.FromFloat32([]float32{0, 1}, 2),
		"x":    tensor.FromFloat32([]float32{1, 10}, 2),
	}, func(name string, n *graph.Node, _ *tensor.Tensor) error {
		if (n == nil) != (name == "i" || name == "cond_in" || name == "v_in") {
			return fmt.Errorf("%q shown with producer %v", name, n)
		}
		seen = append(seen, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	iter := []string{"i", "cond_in", "v_in", "v_out", "cond_out", "scan"}
	if want := append(append(append([]string(nil), iter...), iter...), "v_final", "scans"); !slices.Equal(seen, want) {
		t.Errorf("hook saw %v, want %v", seen, want)
	}
	run := func(m int64, cond bool) (map[string]*tensor.Tensor, error) {
		return e.Run(map[string]*tensor.Tensor{
			"M":    {DType: tensor.Int64, Data: []int64{m}},
			"cond": {DType: tensor.Bool, Data: []bool{cond}},
			"v0":   tensor.FromFloat32([]float32{0, 1}, 2),
			"x":    tensor.FromFloat32([]float32{1, 10}, 2),
		}, nil)
	}
	cases := []struct {
		m    int64
		cond bool
		iter int
	}{
		{2, true, 2},  // trip count ends it
		{10, true, 4}, // condition ends it
		{10, false, 0},
		{0, true, 0},
	}
	for _, c := range cases {
		out, err := run(c.m, c.cond)
		if err != nil {
			t.Fatalf("M=%d cond=%v: %v", c.m, c.cond, err)
		}
		k := float32(c.iter)
		engClose(t, fmt.Sprintf("M=%d v_final", c.m), out["v_final"].Float32(), k, 1+10*k)
		if s := out["scans"]; !slices.Equal(s.Shape, []int{c.iter, 2}) {
			t.Errorf("M=%d scans shape %v, want [%d 2]", c.m, s.Shape, c.iter)
		} else if c.iter > 0 {
			engClose(t, "last scan row", s.Float32()[2*(c.iter-1):], k, 1+10*k)
		}
	}

	// Without a trip count the condition alone ends the loop (a while loop).
	g.Node[0].Input[0] = ""
	g.Input = g.Input[1:]
	e = engEngine(t, g)
	out, err := e.Run(map[string]*tensor.Tensor{
		"cond": {DType: tensor.Bool, Data: []bool{true}},
		"v0":   tensor.FromFloat32([]float32{0, 1}, 2),
		"x":    tensor.FromFloat32([]float32{1, 10}, 2),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	engClose(t, "while loop v_final", out["v_final"].Float32(), 4, 41)
	// With neither, it could never end: an error, not a hang.
	g.Node[0].Input[1] = ""
	g.Input = g.Input[1:]
	e = engEngine(t, g)
	if _, err := e.Run(map[string]*tensor.Tensor{"v0": tensor.FromFloat32([]float32{0, 1}, 2), "x": tensor.FromFloat32([]float32{1, 10}, 2)}, nil); err == nil || !strings.Contains(err.Error(), "never end") {
		t.Errorf("Loop without M or cond: error %v, want one saying it would never end", err)
	}
}

func TestEngineScan(t *testing.T) {
	// Running sum over the rows (axis 0) or columns (axis 1) of X, with the
	// rows read in either direction and the outputs stacked either way.
	body := engGraph("body",
		[]*onnx.NodeProto{
			engNode("Sum2", []string{"s_in", "row"}, []string{"s_out"}),
			engNode("AddConst", []string{"s_out"}, []string{"y"}),
		},
		[]*onnx.ValueInfoProto{engVI("s_in", tensor.Float, 2), engVI("row", tensor.Float, 2)},
		[]*onnx.ValueInfoProto{engVI("s_out", tensor.Float, 2), engVI("y", tensor.Float, 2)})
	x := tensor.FromFloat32([]float32{1, 2, 3, 4}, 2, 2) // [[1 2] [3 4]]
	cases := []struct {
		name          string
		inAxis, inDir int64
		outAxis, oDir int64
		final, ys     []float32
	}{
		{"rows forward", 0, 0, 0, 0, []float32{4, 6}, []float32{1, 2, 4, 6}},
		{"rows reversed in", 0, 1, 0, 0, []float32{4, 6}, []float32{3, 4, 4, 6}},
		{"rows reversed out", 0, 0, 0, 1, []float32{4, 6}, []float32{4, 6, 1, 2}},
		{"columns, stacked on axis 1", 1, 0, 1, 0, []float32{3, 7}, []float32{1, 3, 3, 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := engGraph("scan",
				[]*onnx.NodeProto{engNode("Scan", []string{"s0", "x"}, []string{"s", "ys"},
					engGraphAttr("body", body), engIntAttr("num_scan_inputs", 1),
					engIntsAttr("scan_input_axes", c.inAxis), engIntsAttr("scan_input_directions", c.inDir),
					engIntsAttr("scan_output_axes", c.outAxis), engIntsAttr("scan_output_directions", c.oDir))},
				[]*onnx.ValueInfoProto{engVI("s0", tensor.Float, 2), engVI("x", tensor.Float, 2, 2)},
				[]*onnx.ValueInfoProto{engVI("s", tensor.Float, 2), engVI("ys", tensor.Float, 2, 2)})
			out, err := engEngine(t, g).Run(map[string]*tensor.Tensor{"s0": tensor.New(tensor.Float, 2), "x": x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			engClose(t, "final state", out["s"].Float32(), c.final...)
			engClose(t, "stacked", out["ys"].Float32(), c.ys...)
		})
	}
}

// Run keeps no state between calls, so one Engine serves several goroutines.
func TestEngineConcurrentRuns(t *testing.T) {
	g := engGraph("conc",
		[]*onnx.NodeProto{
			engNode("AddConst", []string{"x"}, []string{"a"}, engFloatAttr("value", 1)),
			engNode("Sum2", []string{"a", "x"}, []string{"y"}),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float, 1)},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float, 1)})
	e := engEngine(t, g)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				v := float32(i*100 + j)
				out, err := e.Run(map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{v}, 1)}, nil)
				if err != nil {
					errs[i] = err
					return
				}
				if got := out["y"].Float32()[0]; got != 2*v+1 {
					errs[i] = fmt.Errorf("x=%v: y=%v, want %v", v, got, 2*v+1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// A buffer still visible through a view must not be recycled when the value
// that allocated it dies, and outputs handed to the caller never are.
func TestEnginePoolRespectsViewsAndOutputs(t *testing.T) {
	g := engGraph("views",
		[]*onnx.NodeProto{
			engNode("AddConst", []string{"x"}, []string{"a"}, engFloatAttr("value", 1)),
			engNode("View", []string{"a"}, []string{"v"}),                                 // a dies here, v shares its buffer
			engNode("AddConst", []string{"x"}, []string{"c"}, engFloatAttr("value", 100)), // same size: would reuse a's buffer
			engNode("Sum2", []string{"v", "c"}, []string{"y"}),
			engNode("AddConst", []string{"y"}, []string{"z"}, engFloatAttr("value", 0)),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float, 2)},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float, 2), engVI("z", tensor.Float, 2)})
	e := engEngine(t, g)
	first, err := e.Run(map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{1, 2}, 2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	engClose(t, "y", first["y"].Float32(), 103, 105)
	for i := range 3 {
		out, err := e.Run(map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{10, 20}, 2)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		engClose(t, fmt.Sprint("later run ", i), out["z"].Float32(), 121, 141)
	}
	engClose(t, "first run's y after later runs", first["y"].Float32(), 103, 105)
	engClose(t, "first run's z after later runs", first["z"].Float32(), 103, 105)
}

// After the first run, a chain of large intermediates reuses its buffers:
// later runs allocate a small fraction of the bytes the intermediates take.
func TestEnginePoolRecycles(t *testing.T) {
	const n, size = 20, 1 << 16
	var nodes []*onnx.NodeProto
	prev := "x"
	for i := range n {
		next := fmt.Sprintf("v%d", i)
		nodes = append(nodes, engNode("AddConst", []string{prev}, []string{next}, engFloatAttr("value", 1)))
		prev = next
	}
	g := engGraph("long", nodes, []*onnx.ValueInfoProto{engVI("x", tensor.Float, size)}, []*onnx.ValueInfoProto{engVI(prev, tensor.Float, size)})
	e := engEngine(t, g)
	x := tensor.New(tensor.Float, size)
	run := func() {
		out, err := e.Run(map[string]*tensor.Tensor{"x": x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := out[prev].Float32()[0]; got != n {
			t.Fatalf("output %v, want %v", got, n)
		}
	}
	run()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	intermediates := uint64(n * size * 4)
	// One output buffer per run is new (it belongs to the caller).
	if got := after.TotalAlloc - before.TotalAlloc; got > intermediates/4 {
		t.Errorf("second run allocated %d bytes; the intermediates take %d", got, intermediates)
	}
}

// Buffers of sizes no run asks for any more leave the pool: a model fed
// ever-changing shapes keeps about one run's intermediates, not all of them.
func TestEnginePoolForgetsOldSizes(t *testing.T) {
	g := engGraph("varying",
		[]*onnx.NodeProto{
			engNode("AddConst", []string{"x"}, []string{"a"}, engFloatAttr("value", 1)),
			engNode("AddConst", []string{"a"}, []string{"b"}, engFloatAttr("value", 1)),
			engNode("AddConst", []string{"b"}, []string{"y"}, engFloatAttr("value", 1)),
		},
		[]*onnx.ValueInfoProto{engVI("x", tensor.Float, "n")},
		[]*onnx.ValueInfoProto{engVI("y", tensor.Float, "n")})
	e := engEngine(t, g)
	var most int64
	for n := 1000; n < 1100; n++ {
		out, err := e.Run(map[string]*tensor.Tensor{"x": tensor.New(tensor.Float, n)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].Float32()[n-1]; got != 3 {
			t.Fatalf("n=%d: y = %v, want 3", n, got)
		}
		most = max(most, e.pool.bytes)
	}
	// Each run frees two buffers of about 4 KB; keeping two runs' worth (plus
	// the current one) is about 24 KB, far from the 100 runs' 800 KB.
	if most > 40<<10 {
		t.Errorf("pool grew to %d bytes over 100 runs of different sizes", most)
	}
}

// BenchmarkEngineOverhead runs a chain of 100 one-element nodes, so the time
// and allocations are the engine's own cost per node.
func BenchmarkEngineOverhead(b *testing.B) {
	var nodes []*onnx.NodeProto
	prev := "x"
	for i := range 100 {
		next := fmt.Sprintf("v%d", i)
		nodes = append(nodes, engNode("AddConst", []string{prev}, []string{next}, engFloatAttr("value", 1)))
		prev = next
	}
	g := engGraph("chain", nodes, []*onnx.ValueInfoProto{engVI("x", tensor.Float, 1)}, []*onnx.ValueInfoProto{engVI(prev, tensor.Float, 1)})
	m, err := graph.FromProto(&onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{
		{Domain: proto.String(""), Version: proto.Int64(17)}, {Domain: proto.String(engTestDomain), Version: proto.Int64(1)}}})
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(m, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{0}, 1)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Run(in, nil); err != nil {
			b.Fatal(err)
		}
	}
}
