package rewrite_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

func TestConstantsToInitializers(t *testing.T) {
	wt := rnd(1, 2, 2)
	wp, _ := onnxio.FromTensor("ignored", wt)
	sparse := &onnx.SparseTensorProto{Dims: []int64{2, 3}}
	sparse.Values, _ = onnxio.FromTensor("v", tensor.FromFloat32([]float32{5, 7}, 2))
	sparse.Indices, _ = onnxio.FromTensor("i", tensor.FromInt64([]int64{1, 5}, 2))
	sparse2 := &onnx.SparseTensorProto{Dims: []int64{2, 3}, Values: sparse.Values}
	sparse2.Indices, _ = onnxio.FromTensor("i", tensor.FromInt64([]int64{0, 1, 1, 2}, 2, 2))
	attr := func(name string, typ onnx.AttributeProto_AttributeType) *onnx.AttributeProto {
		return &onnx.AttributeProto{Name: ptr(name), Type: typ.Enum()}
	}
	withF := func(a *onnx.AttributeProto, f float32) *onnx.AttributeProto { a.F = &f; return a }
	withI := func(a *onnx.AttributeProto, i int64) *onnx.AttributeProto { a.I = &i; return a }
	cases := []struct {
		name string
		attr *onnx.AttributeProto
		want *tensor.Tensor
	}{
		{"value", &onnx.AttributeProto{Name: ptr("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: wp}, wt},
		{"value_float", withF(attr("value_float", onnx.AttributeProto_FLOAT), 2.5), tensor.FromFloat32([]float32{2.5})},
		{"value_floats", floatsAttr("value_floats", 1, 2, 3), tensor.FromFloat32([]float32{1, 2, 3}, 3)},
		{"value_int", withI(attr("value_int", onnx.AttributeProto_INT), -4), tensor.FromInt64([]int64{-4})},
		{"value_ints", graph.IntsAttr("value_ints", []int64{6, 0}), tensor.FromInt64([]int64{6, 0}, 2)},
		{"value_string", &onnx.AttributeProto{Name: ptr("value_string"), Type: onnx.AttributeProto_STRING.Enum(), S: []byte("a:b")},
			&tensor.Tensor{DType: tensor.String, Shape: []int{}, Data: []string{"a:b"}}},
		{"value_strings", &onnx.AttributeProto{Name: ptr("value_strings"), Type: onnx.AttributeProto_STRINGS.Enum(), Strings: [][]byte{[]byte("x"), []byte("")}},
			&tensor.Tensor{DType: tensor.String, Shape: []int{2}, Data: []string{"x", ""}}},
		{"sparse_linear", &onnx.AttributeProto{Name: ptr("sparse_value"), Type: onnx.AttributeProto_SPARSE_TENSOR.Enum(), SparseTensor: sparse},
			tensor.FromFloat32([]float32{0, 5, 0, 0, 0, 7}, 2, 3)},
		{"sparse_coords", &onnx.AttributeProto{Name: ptr("sparse_value"), Type: onnx.AttributeProto_SPARSE_TENSOR.Enum(), SparseTensor: sparse2},
			tensor.FromFloat32([]float32{0, 5, 0, 0, 0, 7}, 2, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The constant is read by an Identity inside an If branch too, so
			// the main-graph initializer must stay visible to subgraphs.
			branch := newPGraph().node("Identity", []string{"c weights/0"}, []string{"b"}).out("b").g
			mp := newPGraph().in("cond").
				node("Constant", nil, []string{"c weights/0"}, c.attr).
				node("If", []string{"cond"}, []string{"y"}, graphAttr("then_branch", branch), graphAttr("else_branch", branch)).
				out("y").model(13)
			mp.Graph.Input[0].Type.GetTensorType().ElemType = ptr(int32(tensor.Bool))
			m := mustGraph(t, mp)
			if err := rewrite.ConstantsToInitializers(m); err != nil {
				t.Fatal(err)
			}
			m = roundTrip(t, m)
			if n := len(nodesOf(m, "Constant")); n != 0 {
				t.Fatalf("%d Constant nodes left", n)
			}
			v := m.Graph.Value("c weights/0")
			if v == nil || v.Initializer == nil {
				t.Fatal("no initializer named \"c weights/0\"")
			}
			got, err := onnxio.ToTensor(v.Initializer)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != c.want.DType || !slices.Equal(got.Shape, c.want.Shape) || !reflect.DeepEqual(got.Data, c.want.Data) {
				t.Errorf("got %v %v, want %v %v", got, got.Data, c.want, c.want.Data)
			}
		})
	}
}

func TestConstantsToInitializersSubgraph(t *testing.T) {
	// A Constant inside a branch becomes an initializer of that branch.
	branch := func(v float32) *onnx.GraphProto {
		return newPGraph().
			node("Constant", nil, []string{"k"}, withFloat("value_float", v)).
			node("Mul", []string{"x", "k"}, []string{"b"}).out("b").g
	}
	branch2 := branch(3)
	branch2.Node[0].Output[0], branch2.Node[1].Input[1] = "k2", "k2"
	mp := newPGraph().in("x", 2).in("cond").
		node("If", []string{"cond"}, []string{"y"}, graphAttr("then_branch", branch(2)), graphAttr("else_branch", branch2)).
		out("y").model(13)
	mp.Graph.Input[1].Type.GetTensorType().ElemType = ptr(int32(tensor.Bool))
	m := mustGraph(t, mp)
	x := tensor.FromFloat32([]float32{1, -2}, 2)
	for _, cond := range []bool{true, false} {
		in := map[string]*tensor.Tensor{"x": x, "cond": {DType: tensor.Bool, Shape: []int{}, Data: []bool{cond}}}
		want := runEngine(t, mustGraph(t, mp), in)
		if err := rewrite.ConstantsToInitializers(m); err != nil {
			t.Fatal(err)
		}
		m = roundTrip(t, m)
		sameOutputs(t, want, runEngine(t, m, in), 0)
	}
	ifNode := m.Graph.Nodes[0]
	for _, name := range []string{"then_branch", "else_branch"} {
		sg := ifNode.Subgraphs[name][0]
		if len(sg.Initializers()) != 1 || len(sg.Nodes) != 1 {
			t.Errorf("%s: %d initializers, %d nodes; want the Constant as its own initializer", name, len(sg.Initializers()), len(sg.Nodes))
		}
	}
	if len(m.Graph.Initializers()) != 0 {
		t.Errorf("main graph got %d initializers", len(m.Graph.Initializers()))
	}
}

func withFloat(name string, f float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: &name, Type: onnx.AttributeProto_FLOAT.Enum(), F: &f}
}

func TestRemoveIdentity(t *testing.T) {
	trainOff, _ := onnxio.FromTensor("off", &tensor.Tensor{DType: tensor.Bool, Shape: []int{}, Data: []bool{false}})
	trainOn, _ := onnxio.FromTensor("on", &tensor.Tensor{DType: tensor.Bool, Shape: []int{}, Data: []bool{true}})
	cases := []struct {
		name    string
		build   func() *pgraph
		opset   int64
		removed int // pass-through nodes removed
	}{
		{"between", func() *pgraph {
			return newPGraph().in("x", 3).node("Relu", []string{"x"}, []string{"a"}).
				node("Identity", []string{"a"}, []string{"b"}).node("Neg", []string{"b"}, []string{"y"}).out("y")
		}, 13, 1},
		{"to-output-renamed", func() *pgraph {
			return newPGraph().in("x", 3).node("Relu", []string{"x"}, []string{"a"}).
				node("Identity", []string{"a"}, []string{"y"}).out("y")
		}, 13, 1},
		{"input-to-output-kept", func() *pgraph {
			return newPGraph().in("x", 3).node("Identity", []string{"x"}, []string{"y"}).out("y")
		}, 13, 0},
		{"both-outputs-kept", func() *pgraph {
			return newPGraph().in("x", 3).node("Relu", []string{"x"}, []string{"a"}).
				node("Identity", []string{"a"}, []string{"y"}).out("y").out("a")
		}, 13, 0},
		{"input-also-read-kept", func() *pgraph {
			return newPGraph().in("x", 3).node("Relu", []string{"x"}, []string{"a"}).
				node("Identity", []string{"a"}, []string{"y"}).node("Neg", []string{"a"}, []string{"z"}).out("y").out("z")
		}, 13, 0},
		{"chain", func() *pgraph {
			return newPGraph().in("x", 3).node("Identity", []string{"x"}, []string{"a"}).
				node("Identity", []string{"a"}, []string{"b"}).node("Neg", []string{"b"}, []string{"y"}).out("y")
		}, 13, 2},
		{"dropout-7", func() *pgraph {
			return newPGraph().in("x", 3).node("Dropout", []string{"x"}, []string{"a"}, withFloat("ratio", 0.3)).
				node("Neg", []string{"a"}, []string{"y"}).out("y")
		}, 9, 1},
		{"dropout-mask-unused", func() *pgraph {
			return newPGraph().in("x", 3).node("Dropout", []string{"x"}, []string{"a", "mask"}).
				node("Neg", []string{"a"}, []string{"y"}).out("y")
		}, 13, 1},
		{"dropout-mask-used-kept", func() *pgraph {
			return newPGraph().in("x", 3).node("Dropout", []string{"x"}, []string{"a", "mask"}).
				node("Neg", []string{"a"}, []string{"y"}).node("Not", []string{"mask"}, []string{"z"}).out("y").out("z")
		}, 13, 0},
		{"dropout-training-off", func() *pgraph {
			b := newPGraph().in("x", 3).node("Dropout", []string{"x", "", "off"}, []string{"a"}).
				node("Neg", []string{"a"}, []string{"y"}).out("y")
			b.g.Initializer = append(b.g.Initializer, trainOff)
			return b
		}, 13, 1},
		{"dropout-training-on-kept", func() *pgraph {
			b := newPGraph().in("x", 3).node("Dropout", []string{"x", "", "on"}, []string{"a"}).
				node("Neg", []string{"a"}, []string{"y"}).out("y")
			b.g.Initializer = append(b.g.Initializer, trainOn)
			return b
		}, 13, 0},
		// Ratio 0 copies the input even in training mode (torchvision Swin).
		{"dropout-training-on-ratio-0", func() *pgraph {
			b := newPGraph().in("x", 3).node("Dropout", []string{"x", "zero", "on"}, []string{"a"}).
				node("Neg", []string{"a"}, []string{"y"}).out("y")
			zero, _ := onnxio.FromTensor("zero", tensor.FromFloat32([]float32{0}))
			b.g.Initializer = append(b.g.Initializer, trainOn, zero)
			return b
		}, 13, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mp := c.build().model(c.opset)
			if c.name == "dropout-mask-used-kept" {
				mp.Graph.Output[1].Type.GetTensorType().ElemType = ptr(int32(tensor.Bool))
			}
			m := mustGraph(t, mp)
			before := len(nodesOf(m, "Identity")) + len(nodesOf(m, "Dropout"))
			if err := rewrite.RemoveIdentity(m); err != nil {
				t.Fatal(err)
			}
			m = roundTrip(t, m)
			after := len(nodesOf(m, "Identity")) + len(nodesOf(m, "Dropout"))
			if before-after != c.removed {
				t.Errorf("removed %d pass-through nodes, want %d", before-after, c.removed)
			}
			var outs []string
			for _, o := range m.Graph.Outputs {
				outs = append(outs, o.Name)
			}
			var wantOuts []string
			for _, o := range mp.Graph.Output {
				wantOuts = append(wantOuts, o.GetName())
			}
			if !slices.Equal(outs, wantOuts) {
				t.Errorf("outputs %v, want %v", outs, wantOuts)
			}
			if c.name == "dropout-training-on-kept" {
				return // the engine's training-mode Dropout is random
			}
			in := map[string]*tensor.Tensor{"x": rnd(3, 3)}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, m, in), 0)
		})
	}
}

func TestFoldConstants(t *testing.T) {
	cases := []struct {
		name  string
		build func() *pgraph
		left  []string // op types expected to remain, in order
	}{
		{"add-of-initializers", func() *pgraph {
			return newPGraph().in("x", 2).init("a", rnd(1, 2)).init("b", rnd(2, 2)).
				node("Add", []string{"a", "b"}, []string{"c"}).node("Mul", []string{"x", "c"}, []string{"y"}).out("y")
		}, []string{"Mul"}},
		{"chain-and-shape", func() *pgraph {
			// Reshape's target comes from Shape of a static input, a Gather
			// and a Concat: the whole shape computation folds.
			return newPGraph().in("x", 2, 3).init("i", tensor.FromInt64([]int64{1}, 1)).init("m1", tensor.FromInt64([]int64{-1}, 1)).
				node("Shape", []string{"x"}, []string{"s"}).
				node("Gather", []string{"s", "i"}, []string{"d"}, graph.IntAttr("axis", 0)).
				node("Concat", []string{"m1", "d"}, []string{"shape"}, graph.IntAttr("axis", 0)).
				node("Reshape", []string{"x", "shape"}, []string{"y"}).out("y")
		}, []string{"Reshape"}},
		{"shape-of-symbolic-kept", func() *pgraph {
			return newPGraph().in("x", -1, 3).
				node("Shape", []string{"x"}, []string{"s"}).
				node("Reshape", []string{"x", "s"}, []string{"y"}).out("y")
		}, []string{"Shape", "Reshape"}},
		{"random-kept", func() *pgraph {
			return newPGraph().in("x", 2).init("a", rnd(1, 2)).
				node("RandomUniformLike", []string{"a"}, []string{"r"}).
				node("Mul", []string{"r", "x"}, []string{"y"}).out("y")
		}, []string{"RandomUniformLike", "Mul"}},
		{"graph-output-kept", func() *pgraph {
			return newPGraph().in("x", 2).init("a", rnd(1, 2)).
				node("Neg", []string{"a"}, []string{"na"}).node("Mul", []string{"na", "x"}, []string{"y"}).out("y").out("na")
		}, []string{"Neg", "Mul"}},
		{"too-big-kept", func() *pgraph {
			// 4096 x 4096 x 2 float32 = 128 MiB.
			return newPGraph().in("x", 1).init("s", tensor.FromInt64([]int64{4096, 4096, 2}, 3)).
				node("ConstantOfShape", []string{"s"}, []string{"big"}).
				node("ReduceMax", []string{"big"}, []string{"m"}, graph.IntAttr("keepdims", 0)).
				node("Add", []string{"x", "m"}, []string{"y"}).out("y")
		}, []string{"ConstantOfShape", "ReduceMax", "Add"}},
		{"overridable-initializer-kept", func() *pgraph {
			// IR >= 4: an initializer listed as an input is only a default.
			return newPGraph().in("x", 2).in("a", 2).init("a", rnd(1, 2)).
				node("Neg", []string{"a"}, []string{"na"}).node("Mul", []string{"na", "x"}, []string{"y"}).out("y")
		}, []string{"Neg", "Mul"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mp := c.build().model(13)
			m := mustGraph(t, mp)
			if err := rewrite.FoldConstants(m); err != nil {
				t.Fatal(err)
			}
			m = roundTrip(t, m)
			var left []string
			for _, n := range m.Graph.Nodes {
				left = append(left, n.OpType)
			}
			if !slices.Equal(left, c.left) {
				t.Errorf("nodes left %v, want %v", left, c.left)
			}
			if c.name == "random-kept" {
				return
			}
			in := map[string]*tensor.Tensor{"x": rnd(5, 2)}
			if c.name == "chain-and-shape" || c.name == "shape-of-symbolic-kept" {
				in["x"] = rnd(5, 2, 3)
			}
			if c.name == "too-big-kept" {
				in["x"] = rnd(5, 1)
			}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, m, in), 0)
		})
	}
}

func TestFoldConstantsSubgraph(t *testing.T) {
	// Neg(outer initializer) inside a Loop body folds into the body.
	body := newPGraph().in("i").in("c").in("acc", 2).
		node("Neg", []string{"w"}, []string{"nw"}).
		node("Add", []string{"acc", "nw"}, []string{"acc2"}).
		node("Identity", []string{"c"}, []string{"c2"}).
		out("c2").out("acc2", 2).g
	body.Input[0].Type.GetTensorType().ElemType = ptr(int32(tensor.Int64))
	body.Input[0].Type.GetTensorType().Shape = nil
	body.Input[1].Type.GetTensorType().ElemType = ptr(int32(tensor.Bool))
	body.Input[1].Type.GetTensorType().Shape = nil
	body.Output[0].Type = body.Input[1].Type
	mp := newPGraph().in("x", 2).init("w", rnd(1, 2)).init("n", tensor.FromInt64([]int64{3})).
		node("Loop", []string{"n", "", "x"}, []string{"y"}, graphAttr("body", body)).out("y").model(13)
	m := mustGraph(t, mp)
	if err := rewrite.FoldConstants(m); err != nil {
		t.Fatal(err)
	}
	m = roundTrip(t, m)
	sg := m.Graph.Nodes[0].Subgraphs["body"][0]
	if len(nodesOf(m, "Neg")) != 0 || len(sg.Initializers()) != 1 {
		t.Errorf("Neg not folded into the body: %d Neg, %d body initializers", len(nodesOf(m, "Neg")), len(sg.Initializers()))
	}
	if len(m.Graph.Initializers()) != 1 {
		t.Errorf("main graph keeps %d initializers, want only the trip count", len(m.Graph.Initializers()))
	}
	in := map[string]*tensor.Tensor{"x": rnd(5, 2)}
	sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, m, in), 0)
}

func TestFoldBatchNorm(t *testing.T) {
	bn := func(b *pgraph, x string, c int, y string) *pgraph {
		return b.init("s", rnd(11, c)).init("beta", rnd(12, c)).init("mean", rnd(13, c)).init("var", positive(14, c)).
			node("BatchNormalization", []string{x, "s", "beta", "mean", "var"}, []string{y}, withFloat("epsilon", 1e-3))
	}
	cases := []struct {
		name   string
		build  func() *pgraph
		x      []int
		folded bool
	}{
		{"conv-bias", func() *pgraph {
			b := newPGraph().in("x", 1, 4, 5, 5).init("w", rnd(1, 6, 4, 3, 3)).init("b", rnd(2, 6)).
				node("Conv", []string{"x", "w", "b"}, []string{"c"})
			return bn(b, "c", 6, "y").out("y")
		}, []int{1, 4, 5, 5}, true},
		{"conv-no-bias-grouped", func() *pgraph {
			b := newPGraph().in("x", 1, 4, 5, 5).init("w", rnd(1, 6, 2, 3, 3)).
				node("Conv", []string{"x", "w"}, []string{"c"}, graph.IntAttr("group", 2))
			return bn(b, "c", 6, "y").node("Relu", []string{"y"}, []string{"z"}).out("z")
		}, []int{1, 4, 5, 5}, true},
		{"depthwise", func() *pgraph {
			b := newPGraph().in("x", 1, 4, 5, 5).init("w", rnd(1, 4, 1, 3, 3)).
				node("Conv", []string{"x", "w"}, []string{"c"}, graph.IntAttr("group", 4))
			return bn(b, "c", 4, "y").out("y")
		}, []int{1, 4, 5, 5}, true},
		{"convtranspose-grouped", func() *pgraph {
			// W is [C=4, M/g=3, k, k] with group 2: M = 6 output channels.
			b := newPGraph().in("x", 1, 4, 5, 5).init("w", rnd(1, 4, 3, 2, 2)).init("b", rnd(2, 6)).
				node("ConvTranspose", []string{"x", "w", "b"}, []string{"c"}, graph.IntAttr("group", 2), graph.IntsAttr("strides", []int64{2, 2}))
			return bn(b, "c", 6, "y").out("y")
		}, []int{1, 4, 5, 5}, true},
		{"gemm-transB", func() *pgraph {
			b := newPGraph().in("x", 3, 5).init("w", rnd(1, 4, 5)).init("b", rnd(2, 4)).
				node("Gemm", []string{"x", "w", "b"}, []string{"c"}, graph.IntAttr("transB", 1), withFloat("alpha", 0.5), withFloat("beta", 2))
			return bn(b, "c", 4, "y").out("y")
		}, []int{3, 5}, true},
		{"gemm-no-C", func() *pgraph {
			b := newPGraph().in("x", 3, 5).init("w", rnd(1, 5, 4)).
				node("Gemm", []string{"x", "w"}, []string{"c"})
			return bn(b, "c", 4, "y").out("y")
		}, []int{3, 5}, true},
		{"gemm-full-C", func() *pgraph {
			b := newPGraph().in("x", 3, 5).init("w", rnd(1, 5, 4)).init("b", rnd(2, 3, 4)).
				node("Gemm", []string{"x", "w", "b"}, []string{"c"})
			return bn(b, "c", 4, "y").out("y")
		}, []int{3, 5}, true},
		{"shared-weight", func() *pgraph {
			// The weight also feeds a second Conv, which must not change.
			b := newPGraph().in("x", 1, 4, 5, 5).init("w", rnd(1, 4, 4, 1, 1)).
				node("Conv", []string{"x", "w"}, []string{"c"}).
				node("Conv", []string{"x", "w"}, []string{"z"})
			return bn(b, "c", 4, "y").out("y").out("z")
		}, []int{1, 4, 5, 5}, true},
		{"conv-output-also-read-kept", func() *pgraph {
			b := newPGraph().in("x", 1, 4, 5, 5).init("w", rnd(1, 4, 4, 1, 1)).
				node("Conv", []string{"x", "w"}, []string{"c"}).node("Neg", []string{"c"}, []string{"z"})
			return bn(b, "c", 4, "y").out("y").out("z")
		}, []int{1, 4, 5, 5}, false},
		{"after-relu-kept", func() *pgraph {
			b := newPGraph().in("x", 1, 4, 5, 5).node("Relu", []string{"x"}, []string{"c"})
			return bn(b, "c", 4, "y").out("y")
		}, []int{1, 4, 5, 5}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mp := c.build().model(13)
			m := mustGraph(t, mp)
			if err := rewrite.FoldBatchNorm(m); err != nil {
				t.Fatal(err)
			}
			m = roundTrip(t, m)
			if got := len(nodesOf(m, "BatchNormalization")) == 0; got != c.folded {
				t.Errorf("folded = %v, want %v", got, c.folded)
			}
			in := map[string]*tensor.Tensor{"x": rnd(9, c.x...)}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, m, in), 2e-5)
		})
	}
}

func TestPreparePassNames(t *testing.T) {
	var names []string
	for _, p := range rewrite.Prepare(13) {
		names = append(names, p.Name)
	}
	want := []string{"constants-to-initializers", "remove-identity", "fold-constants", "fold-bias-add", "fold-batchnorm", "upgrade-opset", "convtranspose-to-conv", "merge-depthtospace"}
	if !slices.Equal(names, want) {
		t.Fatalf("passes %v, want %v", names, want)
	}
	// Skipping upgrade-opset leaves the opset alone; the others still run.
	mp := newPGraph().in("x", 3).node("Constant", nil, []string{"k"}, withFloat("value_float", 2)).
		node("Identity", []string{"x"}, []string{"a"}).node("Clip", []string{"a"}, []string{"y"}, withFloat("max", 1)).out("y").model(9)
	m := mustGraph(t, mp)
	if err := rewrite.RunPasses(m, rewrite.Prepare(13), map[string]bool{"upgrade-opset": true, "remove-identity": true}); err != nil {
		t.Fatal(err)
	}
	if m.Opset("") != 9 || len(nodesOf(m, "Identity")) != 1 || len(nodesOf(m, "Constant")) != 0 {
		t.Errorf("opset %d, %d Identity, %d Constant after skipping upgrade-opset and remove-identity", m.Opset(""), len(nodesOf(m, "Identity")), len(nodesOf(m, "Constant")))
	}
}
