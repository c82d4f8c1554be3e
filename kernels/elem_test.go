package kernels

import (
	"math"
	"slices"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// These tests cover what ONNX 1.12's conformance data does not: operators
// and attributes newer than opset 17, the older attribute forms, and the
// broadcasting fast paths against a naive reference.

// runNode builds a node of opType with attrs at opset and runs it; outputs
// is the number of declared outputs.
func runNode(t *testing.T, opType string, opset int, attrs []*onnx.AttributeProto, outputs int, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	n := &graph.Node{OpType: opType, Attrs: attrs}
	for range in {
		n.Inputs = append(n.Inputs, &graph.Value{})
	}
	for range outputs {
		n.Outputs = append(n.Outputs, &graph.Value{})
	}
	op, err := Build(n, opset)
	if err != nil {
		t.Fatal(err)
	}
	out, err := op.Run(&Context{Threads: 2}, in)
	if err != nil {
		t.Fatalf("%s: %v", opType, err)
	}
	return out
}

func f32(shape []int, v ...float32) *tensor.Tensor { return tensor.FromFloat32(v, shape...) }
func i64(shape []int, v ...int64) *tensor.Tensor   { return tensor.FromInt64(v, shape...) }

func wantF32(t *testing.T, name string, got *tensor.Tensor, shape []int, want []float32, tol float64) {
	t.Helper()
	if !slices.Equal(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	g := got.Float32()
	for i := range want {
		if math.Abs(float64(g[i]-want[i])) > tol || (math.IsNaN(float64(want[i])) != math.IsNaN(float64(g[i]))) {
			t.Fatalf("%s: element %d = %v, want %v (all %v)", name, i, g[i], want[i], g)
		}
	}
}

func wantI64(t *testing.T, name string, got *tensor.Tensor, shape []int, want []int64) {
	t.Helper()
	if !slices.Equal(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	g := got.Int64()
	for i := range want {
		if g[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", name, g, want)
		}
	}
}

func TestGelu(t *testing.T) {
	x := f32([]int{4}, -3, -0.5, 0, 2)
	none := runNode(t, "Gelu", 20, nil, 1, x)[0]
	tanh := runNode(t, "Gelu", 20, []*onnx.AttributeProto{graph.StringAttr("approximate", "tanh")}, 1, x)[0]
	for i, v := range x.Float32() {
		e := float64(v)
		exact := 0.5 * e * (1 + math.Erf(e/math.Sqrt2))
		approx := 0.5 * e * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(e+0.044715*e*e*e)))
		if math.Abs(float64(none.Float32()[i])-exact) > 1e-6 || math.Abs(float64(tanh.Float32()[i])-approx) > 1e-6 {
			t.Fatalf("x=%v: got %v/%v, want %v/%v", v, none.Float32()[i], tanh.Float32()[i], exact, approx)
		}
	}
	if Supported("", "Gelu", 19) {
		t.Fatal("Gelu must not exist before opset 20")
	}
}

func TestBitwise(t *testing.T) {
	a := &tensor.Tensor{DType: tensor.Int32, Shape: []int{3}, Data: []int32{0b1100, -1, 7}}
	b := &tensor.Tensor{DType: tensor.Int32, Shape: []int{1}, Data: []int32{0b1010}}
	for _, c := range []struct {
		op   string
		want []int32
	}{
		{"BitwiseAnd", []int32{0b1000, 0b1010, 0b0010}},
		{"BitwiseOr", []int32{0b1110, -1, 0b1111}},
		{"BitwiseXor", []int32{0b0110, ^int32(0b1010), 0b1101}},
	} {
		got := runNode(t, c.op, 18, nil, 1, a, b)[0].Data.([]int32)
		for i := range c.want {
			if got[i] != c.want[i] {
				t.Fatalf("%s: got %v, want %v", c.op, got, c.want)
			}
		}
	}
	got := runNode(t, "BitwiseNot", 18, nil, 1, a)[0].Data.([]int32)
	if got[0] != ^int32(0b1100) || got[1] != 0 {
		t.Fatalf("BitwiseNot: got %v", got)
	}
}

func TestCastFloat8(t *testing.T) {
	x := f32([]int{7}, 0, 1, -2.5, 448, 500, float32(math.NaN()), 0.3)
	for _, c := range []struct {
		dt       tensor.DType
		saturate int64
		want     []float32
	}{
		{tensor.Float8E4M3FN, 1, []float32{0, 1, -2.5, 448, 448, float32(math.NaN()), 0.3125}},
		{tensor.Float8E4M3FN, 0, []float32{0, 1, -2.5, 448, float32(math.NaN()), float32(math.NaN()), 0.3125}},
		{tensor.Float8E5M2, 1, []float32{0, 1, -2.5, 448, 512, float32(math.NaN()), 0.3125}},
		{tensor.Float8E4M3FNUZ, 1, []float32{0, 1, -2.5, 240, 240, float32(math.NaN()), 0.3125}},
	} {
		attrs := []*onnx.AttributeProto{graph.IntAttr("to", int64(c.dt)), graph.IntAttr("saturate", c.saturate)}
		q := runNode(t, "Cast", 19, attrs, 1, x)[0]
		back := runNode(t, "Cast", 19, []*onnx.AttributeProto{graph.IntAttr("to", int64(tensor.Float))}, 1, q)[0]
		wantF32(t, c.dt.String(), back, []int{7}, c.want, 0)
	}
	// every E4M3FN code decodes and re-encodes to itself (NaNs to NaN)
	for c := range 256 {
		v := float8ToFloat32(uint8(c), tensor.Float8E4M3FN)
		if r := float32ToFloat8(v, tensor.Float8E4M3FN, true); r != uint8(c) && !math.IsNaN(float64(v)) {
			t.Fatalf("code %#x -> %v -> %#x", c, v, r)
		}
	}
}

func TestSplitNumOutputs(t *testing.T) {
	x := f32([]int{5}, 1, 2, 3, 4, 5)
	out := runNode(t, "Split", 18, []*onnx.AttributeProto{graph.IntAttr("num_outputs", 2)}, 2, x)
	wantF32(t, "part 0", out[0], []int{3}, []float32{1, 2, 3}, 0)
	wantF32(t, "part 1", out[1], []int{2}, []float32{4, 5}, 0)
	// opset 11: split as an attribute
	out = runNode(t, "Split", 11, []*onnx.AttributeProto{graph.IntsAttr("split", []int64{1, 4})}, 2, x)
	wantF32(t, "attr part 1", out[1], []int{4}, []float32{2, 3, 4, 5}, 0)
}

func TestPadModes(t *testing.T) {
	x := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	pads := i64([]int{2}, 2, 1) // axes=[1]: 2 before, 1 after
	axes := i64([]int{1}, 1)
	for _, c := range []struct {
		mode string
		want []float32
	}{
		{"constant", []float32{0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0}},
		{"reflect", []float32{3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}},
		{"edge", []float32{1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6}},
		{"wrap", []float32{2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4}},
	} {
		got := runNode(t, "Pad", 19, []*onnx.AttributeProto{graph.StringAttr("mode", c.mode)}, 1, x, pads, nil, axes)[0]
		wantF32(t, c.mode, got, []int{2, 6}, c.want, 0)
	}
	// opset 2: pads and value as attributes, negative pads crop
	got := runNode(t, "Pad", 2, []*onnx.AttributeProto{graph.IntsAttr("pads", []int64{0, -1, 1, 0}), graph.FloatAttr("value", 9)}, 1, x)[0]
	wantF32(t, "attr", got, []int{3, 2}, []float32{2, 3, 5, 6, 9, 9}, 0)
}

func TestReduceOpsetForms(t *testing.T) {
	x := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	keep0 := []*onnx.AttributeProto{graph.IntAttr("keepdims", 0)}
	// opset 18: axes is an input
	wantF32(t, "max18", runNode(t, "ReduceMax", 18, keep0, 1, x, i64([]int{1}, 1))[0], []int{2}, []float32{3, 6}, 0)
	// opset 13: axes is an attribute for ReduceMax
	attrs := append(keep0, graph.IntsAttr("axes", []int64{0}))
	wantF32(t, "max13", runNode(t, "ReduceMax", 13, attrs, 1, x)[0], []int{3}, []float32{4, 5, 6}, 0)
	// noop_with_empty_axes returns the input
	noop := []*onnx.AttributeProto{graph.IntAttr("noop_with_empty_axes", 1)}
	wantF32(t, "noop", runNode(t, "ReduceMean", 18, noop, 1, x)[0], []int{2, 3}, x.Float32(), 0)
	// non-adjacent axes go through a transpose
	y := f32([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8)
	wantF32(t, "sum02", runNode(t, "ReduceSum", 13, keep0, 1, y, i64([]int{2}, 0, 2))[0], []int{2}, []float32{1 + 2 + 5 + 6, 3 + 4 + 7 + 8}, 0)
	wantF32(t, "logsumexp", runNode(t, "ReduceLogSumExp", 18, keep0, 1, f32([]int{2}, 1000, 1000), i64([]int{1}, 0))[0], []int{}, []float32{1000 + float32(math.Ln2)}, 1e-3)
}

func TestClipForms(t *testing.T) {
	x := f32([]int{3}, -2, 0.5, 3)
	wantF32(t, "attr", runNode(t, "Clip", 6, []*onnx.AttributeProto{graph.FloatAttr("min", -1), graph.FloatAttr("max", 1)}, 1, x)[0], []int{3}, []float32{-1, 0.5, 1}, 0)
	wantF32(t, "inputs", runNode(t, "Clip", 13, nil, 1, x, nil, f32(nil, 2))[0], []int{3}, []float32{-2, 0.5, 2}, 0)
	xi := &tensor.Tensor{DType: tensor.Int32, Shape: []int{3}, Data: []int32{-5, 1, 9}}
	lo := &tensor.Tensor{DType: tensor.Int32, Shape: []int{}, Data: []int32{0}}
	got := runNode(t, "Clip", 13, nil, 1, xi, lo)[0].Data.([]int32)
	if got[0] != 0 || got[1] != 1 || got[2] != 9 {
		t.Fatalf("int clip: %v", got)
	}
}

func TestScatterReductions(t *testing.T) {
	x := f32([]int{4}, 1, 5, 3, 0)
	ind := i64([]int{3}, 1, 1, 2)
	upd := f32([]int{3}, 4, 7, 1)
	for _, c := range []struct {
		red  string
		want []float32
	}{
		{"none", []float32{1, 7, 1, 0}},
		{"add", []float32{1, 16, 4, 0}},
		{"mul", []float32{1, 140, 3, 0}},
		{"max", []float32{1, 7, 3, 0}},
		{"min", []float32{1, 4, 1, 0}},
	} {
		got := runNode(t, "ScatterElements", 18, []*onnx.AttributeProto{graph.StringAttr("reduction", c.red)}, 1, x, ind, upd)[0]
		wantF32(t, c.red, got, []int{4}, c.want, 0)
	}
}

func TestSqueezeUnsqueezeForms(t *testing.T) {
	x := f32([]int{1, 3, 1}, 1, 2, 3)
	if got := runNode(t, "Squeeze", 11, []*onnx.AttributeProto{graph.IntsAttr("axes", []int64{-1})}, 1, x)[0]; !slices.Equal(got.Shape, []int{1, 3}) {
		t.Fatalf("squeeze 11: %v", got.Shape)
	}
	if got := runNode(t, "Squeeze", 13, nil, 1, x)[0]; !slices.Equal(got.Shape, []int{3}) {
		t.Fatalf("squeeze 13 all: %v", got.Shape)
	}
	if got := runNode(t, "Unsqueeze", 11, []*onnx.AttributeProto{graph.IntsAttr("axes", []int64{0, 4})}, 1, x)[0]; !slices.Equal(got.Shape, []int{1, 1, 3, 1, 1}) {
		t.Fatalf("unsqueeze 11: %v", got.Shape)
	}
	if got := runNode(t, "Unsqueeze", 13, nil, 1, x, i64([]int{1}, -1))[0]; !slices.Equal(got.Shape, []int{1, 3, 1, 1}) {
		t.Fatalf("unsqueeze 13: %v", got.Shape)
	}
}

func TestSliceForms(t *testing.T) {
	x := f32([]int{2, 4}, 0, 1, 2, 3, 4, 5, 6, 7)
	// opset 1: attributes
	attrs := []*onnx.AttributeProto{graph.IntsAttr("starts", []int64{1}), graph.IntsAttr("ends", []int64{1000}), graph.IntsAttr("axes", []int64{1})}
	wantF32(t, "attr", runNode(t, "Slice", 1, attrs, 1, x)[0], []int{2, 3}, []float32{1, 2, 3, 5, 6, 7}, 0)
	// opset 13: negative step from the end, clamped start
	got := runNode(t, "Slice", 13, nil, 1, x, i64([]int{1}, 100), i64([]int{1}, -100), i64([]int{1}, 1), i64([]int{1}, -2))[0]
	wantF32(t, "neg step", got, []int{2, 2}, []float32{3, 1, 7, 5}, 0)
}

func TestTopKTies(t *testing.T) {
	x := f32([]int{5}, 3, 1, 3, 2, 1)
	out := runNode(t, "TopK", 11, nil, 2, x, i64([]int{1}, 3))
	wantF32(t, "values", out[0], []int{3}, []float32{3, 3, 2}, 0)
	wantI64(t, "indices", out[1], []int{3}, []int64{0, 2, 3})
	out = runNode(t, "TopK", 11, []*onnx.AttributeProto{graph.IntAttr("largest", 0)}, 2, x, i64([]int{1}, 2))
	wantI64(t, "smallest", out[1], []int{2}, []int64{1, 4})
	out = runNode(t, "TopK", 1, []*onnx.AttributeProto{graph.IntAttr("k", 1)}, 2, x)
	wantI64(t, "opset 1", out[1], []int{1}, []int64{0})
}

func TestIntegerDivMod(t *testing.T) {
	a := &tensor.Tensor{DType: tensor.Int32, Shape: []int{4}, Data: []int32{7, -7, 7, -7}}
	b := &tensor.Tensor{DType: tensor.Int32, Shape: []int{4}, Data: []int32{2, 2, -2, -2}}
	div := runNode(t, "Div", 14, nil, 1, a, b)[0].Data.([]int32)
	mod := runNode(t, "Mod", 13, nil, 1, a, b)[0].Data.([]int32)
	fmod := runNode(t, "Mod", 13, []*onnx.AttributeProto{graph.IntAttr("fmod", 1)}, 1, a, b)[0].Data.([]int32)
	for i, w := range [][3]int32{{3, 1, 1}, {-3, 1, -1}, {-3, -1, 1}, {3, -1, -1}} {
		if div[i] != w[0] || mod[i] != w[1] || fmod[i] != w[2] {
			t.Fatalf("case %d: div %v mod %v fmod %v, want %v", i, div[i], mod[i], fmod[i], w)
		}
	}
}

// TestBroadcastPaths checks every row kind of the broadcast driver against
// a naive per-element reference, with one and several threads.
func TestBroadcastPaths(t *testing.T) {
	shapes := [][2][]int{
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {}},
		{{}, {2, 3, 4}},
		{{2, 3, 4}, {4}},
		{{2, 3, 4}, {3, 1}},
		{{2, 1, 4}, {1, 3, 1}},
		{{1, 3, 1, 5}, {2, 1, 4, 1}},
		{{2, 3, 4, 5}, {1, 3, 1, 1}},
		{{4, 1}, {1, 3}},
	}
	for _, threads := range []int{1, 3} {
		ctx := &Context{Threads: threads}
		for _, s := range shapes {
			a, b := seq(s[0], 1), seq(s[1], 100)
			got, err := arith(ctx, arSub, a, b)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := bcastShape(s[0], s[1])
			ai, bi := bcastIndex(s[0], out), bcastIndex(s[1], out)
			want := make([]float32, len(ai))
			for i := range want {
				want[i] = a.Float32()[ai[i]] - b.Float32()[bi[i]]
			}
			wantF32(t, "sub", got, out, want, 0)
		}
	}
}

// TestWhereExpandBroadcast checks the row plans of Where and Expand
// against the naive index maps.
func TestWhereExpandBroadcast(t *testing.T) {
	cases := [][3][]int{
		{{2, 3}, {2, 3}, {2, 3}},
		{{1, 1, 1, 4}, {2, 3, 4, 4}, {}},
		{{3, 1}, {1, 4}, {2, 1, 1}},
		{{}, {5}, {2, 5}},
		{{2, 1, 3}, {1}, {4, 1}},
	}
	for _, c := range cases {
		out, err := bcastShape(c[0], c[1], c[2])
		if err != nil {
			t.Fatal(err)
		}
		cond := tensor.New(tensor.Bool, c[0]...)
		for i := range cond.Data.([]bool) {
			cond.Data.([]bool)[i] = i%3 != 1
		}
		x, y := seq(c[1], 1), seq(c[2], -100)
		got := runNode(t, "Where", 16, nil, 1, cond, x, y)[0]
		ci, xi, yi := bcastIndex(c[0], out), bcastIndex(c[1], out), bcastIndex(c[2], out)
		want := make([]float32, len(ci))
		for i := range want {
			if cond.Data.([]bool)[ci[i]] {
				want[i] = x.Float32()[xi[i]]
			} else {
				want[i] = y.Float32()[yi[i]]
			}
		}
		wantF32(t, "where", got, out, want, 0)
		shape := make([]int64, len(out))
		for i, d := range out {
			shape[i] = int64(d)
		}
		got = runNode(t, "Expand", 13, nil, 1, x, tensor.FromInt64(shape, len(shape)))[0]
		for i := range want {
			want[i] = x.Float32()[xi[i]]
		}
		wantF32(t, "expand", got, out, want, 0)
	}
}

func BenchmarkWhereMask(b *testing.B) {
	cond := tensor.New(tensor.Bool, 1, 1, 1, 128)
	x, y := seq([]int{1, 12, 128, 128}, 0), seq([]int{}, -1e9)
	ctx := &Context{Threads: 1}
	in := []*tensor.Tensor{cond, y, x}
	b.SetBytes(int64(4 * x.Len()))
	for range b.N {
		if _, err := where(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

func seq(shape []int, start float32) *tensor.Tensor {
	t := tensor.New(tensor.Float, shape...)
	for i := range t.Float32() {
		t.Float32()[i] = start + float32(i)
	}
	return t
}

func benchBinary(b *testing.B, k arithKind, as, bs []int, threads int) {
	x, y := seq(as, 0), seq(bs, 1)
	ctx := &Context{Threads: threads}
	b.SetBytes(int64(4 * x.Len()))
	b.ResetTimer()
	for range b.N {
		if _, err := arith(ctx, k, x, y); err != nil {
			b.Fatal(err)
		}
	}
}

// Transformer-like shapes: BERT-base hidden states [1,128,768] and
// attention scores [1,12,128,128].
func BenchmarkAddSameShape(b *testing.B) {
	benchBinary(b, arAdd, []int{1, 128, 768}, []int{1, 128, 768}, 1)
}
func BenchmarkAddBias(b *testing.B) { benchBinary(b, arAdd, []int{1, 128, 768}, []int{768}, 1) }
func BenchmarkAddMask(b *testing.B) {
	benchBinary(b, arAdd, []int{1, 12, 128, 128}, []int{1, 1, 1, 128}, 1)
}
func BenchmarkMulScalar(b *testing.B) { benchBinary(b, arMul, []int{1, 12, 128, 128}, []int{}, 1) }
func BenchmarkMulChannel(b *testing.B) {
	benchBinary(b, arMul, []int{1, 64, 56, 56}, []int{1, 64, 1, 1}, 1)
}
func BenchmarkMulSameShape2T(b *testing.B) {
	benchBinary(b, arMul, []int{1, 128, 3072}, []int{1, 128, 3072}, 2)
}

func BenchmarkReduceMeanLastAxis(b *testing.B) {
	x := seq([]int{1, 128, 768}, 0)
	ctx := &Context{Threads: 1}
	b.SetBytes(int64(4 * x.Len()))
	b.ResetTimer()
	for range b.N {
		if _, err := reduce(ctx, rdMean, x, []int{-1}, true, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReduceSumAxis1(b *testing.B) {
	x := seq([]int{1, 128, 768}, 0)
	ctx := &Context{Threads: 1}
	b.SetBytes(int64(4 * x.Len()))
	b.ResetTimer()
	for range b.N {
		if _, err := reduce(ctx, rdSum, x, []int{1}, false, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransposeHeads(b *testing.B) {
	x := seq([]int{1, 128, 12, 64}, 0)
	ctx := &Context{Threads: 1}
	b.SetBytes(int64(4 * x.Len()))
	b.ResetTimer()
	for range b.N {
		transposeF32(ctx, x, []int{0, 2, 1, 3})
	}
}

func TestConstantForms(t *testing.T) {
	typ := onnx.AttributeProto_SPARSE_TENSOR
	name := "sparse_value"
	dt := int32(tensor.Float)
	it := int32(tensor.Int64)
	sp := &onnx.SparseTensorProto{
		Values:  &onnx.TensorProto{DataType: &dt, Dims: []int64{2}, FloatData: []float32{5, 7}},
		Indices: &onnx.TensorProto{DataType: &it, Dims: []int64{2}, Int64Data: []int64{1, 4}},
		Dims:    []int64{2, 3},
	}
	sparse := &onnx.AttributeProto{Name: &name, Type: &typ, SparseTensor: sp}
	wantF32(t, "sparse", runNode(t, "Constant", 13, []*onnx.AttributeProto{sparse}, 1)[0], []int{2, 3}, []float32{0, 5, 0, 0, 7, 0}, 0)
	// coordinates form: indices [NNZ, rank]
	sp.Indices = &onnx.TensorProto{DataType: &it, Dims: []int64{2, 2}, Int64Data: []int64{0, 2, 1, 0}}
	wantF32(t, "sparse coords", runNode(t, "Constant", 13, []*onnx.AttributeProto{sparse}, 1)[0], []int{2, 3}, []float32{0, 0, 5, 7, 0, 0}, 0)
	floats := &onnx.AttributeProto{Name: strPtr("value_floats"), Type: attrType(onnx.AttributeProto_FLOATS), Floats: []float32{1.5, 2}}
	wantF32(t, "floats", runNode(t, "Constant", 13, []*onnx.AttributeProto{floats}, 1)[0], []int{2}, []float32{1.5, 2}, 0)
	wantI64(t, "int", runNode(t, "Constant", 13, []*onnx.AttributeProto{graph.IntAttr("value_int", -3)}, 1)[0], []int{}, []int64{-3})
	strs := &onnx.AttributeProto{Name: strPtr("value_strings"), Type: attrType(onnx.AttributeProto_STRINGS), Strings: [][]byte{[]byte("a"), []byte("bc")}}
	if got := runNode(t, "Constant", 13, []*onnx.AttributeProto{strs}, 1)[0]; got.Data.([]string)[1] != "bc" || got.Shape[0] != 2 {
		t.Fatalf("strings: %v %v", got.Shape, got.Data)
	}
}

func strPtr(s string) *string { return &s }

func attrType(t onnx.AttributeProto_AttributeType) *onnx.AttributeProto_AttributeType { return &t }

func TestCastStrings(t *testing.T) {
	s := &tensor.Tensor{DType: tensor.String, Shape: []int{4}, Data: []string{"1.5", "-INF", "NaN", " 2e3"}}
	got := runNode(t, "Cast", 13, []*onnx.AttributeProto{graph.IntAttr("to", int64(tensor.Float))}, 1, s)[0]
	wantF32(t, "parse", got, []int{4}, []float32{1.5, float32(math.Inf(-1)), float32(math.NaN()), 2000}, 0)
	back := runNode(t, "Cast", 13, []*onnx.AttributeProto{graph.IntAttr("to", int64(tensor.String))}, 1, got)[0].Data.([]string)
	if back[0] != "1.5" || back[1] != "-INF" || back[2] != "NaN" || back[3] != "2000" {
		t.Fatalf("format: %q", back)
	}
	// Cast-1 names the target type with a string
	to := &onnx.AttributeProto{Name: strPtr("to"), Type: attrType(onnx.AttributeProto_STRING), S: []byte("INT32")}
	if got := runNode(t, "Cast", 1, []*onnx.AttributeProto{to}, 1, f32([]int{2}, 2.7, -2.7))[0]; got.DType != tensor.Int32 || got.Data.([]int32)[1] != -2 {
		t.Fatalf("Cast-1: %v %v", got.DType, got.Data)
	}
}

func BenchmarkGatherEmbedding(b *testing.B) {
	emb := seq([]int{30522, 768}, 0)
	ids := make([]int64, 128)
	for i := range ids {
		ids[i] = int64(i * 97 % 30522)
	}
	ind := tensor.FromInt64(ids, 1, 128)
	ctx := &Context{Threads: 1}
	b.SetBytes(int64(4 * 128 * 768))
	b.ResetTimer()
	for range b.N {
		if _, err := gather(ctx, emb, ind, 0); err != nil {
			b.Fatal(err)
		}
	}
}
