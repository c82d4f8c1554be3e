package rewrite_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// builder assembles small ONNX models for tests.
type builder struct {
	g   *onnx.GraphProto
	rng *rand.Rand
}

func newBuilder() *builder {
	name := "test"
	return &builder{g: &onnx.GraphProto{Name: &name}, rng: rand.New(rand.NewPCG(1, 2))}
}

func (b *builder) input(name string, shape ...int64) {
	b.g.Input = append(b.g.Input, valueInfo(name, shape))
}

func (b *builder) output(name string) {
	b.g.Output = append(b.g.Output, valueInfo(name, nil))
}

func valueInfo(name string, shape []int64) *onnx.ValueInfoProto {
	et := int32(onnx.TensorProto_FLOAT)
	tt := &onnx.TypeProto_Tensor{ElemType: &et}
	if shape != nil {
		tt.Shape = &onnx.TensorShapeProto{}
		for _, d := range shape {
			d := d
			tt.Shape.Dim = append(tt.Shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
	}
	return &onnx.ValueInfoProto{Name: &name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}}
}

// weight adds a random float initializer scaled by s.
func (b *builder) weight(name string, s float32, shape ...int) {
	n := tensor.NumElements(shape)
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(b.rng.NormFloat64()) * s
	}
	b.init(name, tensor.FromFloat32(d, shape...))
}

func (b *builder) init(name string, t *tensor.Tensor) {
	tp, err := onnxio.FromTensor(name, t)
	if err != nil {
		panic(err)
	}
	b.g.Initializer = append(b.g.Initializer, tp)
}

func (b *builder) node(op string, ins, outs []string, attrs ...*onnx.AttributeProto) {
	name := op + "_" + outs[0]
	b.g.Node = append(b.g.Node, &onnx.NodeProto{OpType: &op, Name: &name, Input: ins, Output: outs, Attribute: attrs})
}

func (b *builder) model(opset int64) *onnx.ModelProto {
	ir := int64(8)
	return &onnx.ModelProto{IrVersion: &ir, OpsetImport: []*onnx.OperatorSetIdProto{{Version: &opset}}, Graph: b.g}
}

// convNet is x -> Conv -> Relu -> Conv -> Reshape -> MatMul -> y, with the
// first conv's output also a graph output.
func convNet() *onnx.ModelProto {
	b := newBuilder()
	b.input("x", 1, 3, 8, 8)
	b.weight("w1", 0.3, 8, 3, 3, 3)
	b.weight("b1", 0.1, 8)
	b.weight("w2", 0.2, 4, 8, 3, 3)
	b.weight("b2", 0.1, 4)
	b.weight("fc", 0.1, 256, 10)
	b.init("shape", tensor.FromInt64([]int64{1, 256}, 2))
	pads := graph.IntsAttr("pads", []int64{1, 1, 1, 1})
	b.node("Conv", []string{"x", "w1", "b1"}, []string{"c1"}, pads)
	b.node("Relu", []string{"c1"}, []string{"r1"})
	b.node("Conv", []string{"r1", "w2", "b2"}, []string{"c2"}, pads)
	b.node("Reshape", []string{"c2", "shape"}, []string{"flat"})
	b.node("MatMul", []string{"flat", "fc"}, []string{"y"})
	b.output("y")
	b.output("c2")
	return b.model(13)
}

func randomInputs(n int, shape ...int) []map[string]*tensor.Tensor {
	rng := rand.New(rand.NewPCG(3, 4))
	var out []map[string]*tensor.Tensor
	for i := 0; i < n; i++ {
		d := make([]float32, tensor.NumElements(shape))
		for j := range d {
			d[j] = float32(rng.NormFloat64())
		}
		out = append(out, map[string]*tensor.Tensor{"x": tensor.FromFloat32(d, shape...)})
	}
	return out
}

// calibrateMinMax runs the float model and returns min/max ranges of the
// planned tensors.
func calibrateMinMax(t *testing.T, m *graph.Model, plan *rewrite.Plan, samples []map[string]*tensor.Tensor) map[string]calibrate.Range {
	t.Helper()
	eng, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range plan.Observe() {
		want[n] = true
	}
	ranges := map[string]calibrate.Range{}
	for _, s := range samples {
		for k, v := range s {
			if want[k] {
				ranges[k] = merge(ranges[k], v, len(ranges) == 0)
			}
		}
		_, err := eng.Run(s, func(name string, _ *graph.Node, tt *tensor.Tensor) error {
			if want[name] && tt.DType == tensor.Float {
				r, ok := ranges[name]
				ranges[name] = merge(r, tt, !ok)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ranges
}

func merge(r calibrate.Range, t *tensor.Tensor, first bool) calibrate.Range {
	for i, x := range t.Float32() {
		if first && i == 0 {
			r = calibrate.Range{Lo: x, Hi: x}
		}
		r.Lo, r.Hi = min(r.Lo, x), max(r.Hi, x)
	}
	return r
}

func quantizeStatic(t *testing.T, mp *onnx.ModelProto, cfg rewrite.Config, shape ...int) (*graph.Model, *rewrite.Result) {
	if len(shape) == 0 {
		shape = []int{1, 3, 8, 8}
	}
	t.Helper()
	m, err := graph.FromProto(proto.Clone(mp).(*onnx.ModelProto))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rewrite.Analyze(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ranges := calibrateMinMax(t, m, plan, randomInputs(8, shape...))
	res, err := rewrite.QDQ(plan, ranges)
	if err != nil {
		t.Fatal(err)
	}
	return m, res
}

func count(m *graph.Model, op string) int {
	n := 0
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, x := range g.Nodes {
			if x.OpType == op {
				n++
			}
		}
		return nil
	})
	return n
}

func TestQDQConvNet(t *testing.T) {
	mp := convNet()
	m, res := quantizeStatic(t, mp, rewrite.DefaultConfig())
	if got := len(res.Folded); got != 1 {
		t.Errorf("folded %d clamps, want the Relu", got)
	}
	if count(m, "Relu") != 0 {
		t.Errorf("Relu still in the graph")
	}
	// Quantized: 2 Conv, Reshape, MatMul.
	if got := len(res.Quantized); got != 4 {
		t.Errorf("quantized %d nodes, want 4: %v", got, res.Quantized)
	}
	for _, v := range m.Graph.Initializers() {
		if v.Name == "w1" || v.Name == "w2" || v.Name == "fc" {
			t.Errorf("float weight %s left in the model", v.Name)
		}
	}
	// Every quantized node reads only dequantized inputs (or shapes).
	for _, n := range res.Quantized {
		for i, in := range n.Inputs {
			if in == nil || in.Initializer != nil && tensor.DType(in.Initializer.GetDataType()) == tensor.Int64 {
				continue
			}
			if in.Producer == nil || in.Producer.OpType != "DequantizeLinear" {
				t.Errorf("%s input %d (%s) is not dequantized", n, i, in.Name)
			}
			if len(in.Consumers) != 1 {
				t.Errorf("%s input %d: DequantizeLinear has %d readers, want 1", n, i, len(in.Consumers))
			}
		}
	}
	// Biases are int32 with scale = input scale × weight scale.
	for _, v := range m.Graph.Initializers() {
		if v.Name == "b1_quantized" && tensor.DType(v.Initializer.GetDataType()) != tensor.Int32 {
			t.Errorf("bias stored as %v", tensor.DType(v.Initializer.GetDataType()))
		}
	}
	// The graph outputs keep their names and are produced by DequantizeLinear.
	for _, o := range m.Graph.Outputs {
		if o.Producer == nil || o.Producer.OpType != "DequantizeLinear" {
			t.Errorf("output %s produced by %v", o.Name, o.Producer)
		}
	}
	// The Reshape shares the parameters of its input.
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Reshape" {
			continue
		}
		in := n.Inputs[0].Producer
		out := n.Outputs[0].Consumers[0]
		if in.Inputs[1] != out.Inputs[1] || in.Inputs[2] != out.Inputs[2] {
			t.Errorf("Reshape input and output have different scale/zero point")
		}
	}
	// The quantized model computes nearly what the float one does.
	sqnr := modelSQNR(t, mp, m)
	if sqnr < 25 {
		t.Errorf("SQNR %.1f dB, want at least 25", sqnr)
	}
}

func modelSQNR(t *testing.T, float *onnx.ModelProto, q *graph.Model, shape ...int) float64 {
	if len(shape) == 0 {
		shape = []int{1, 3, 8, 8}
	}
	t.Helper()
	fm, err := graph.FromProto(float)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := q.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	qm, err := graph.FromProto(qp)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kernels.NewEngine(fm, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := kernels.NewEngine(qm, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := &compare.Stats{Name: "y"}
	for _, s := range randomInputs(8, shape...) {
		ra, err := a.Run(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Run(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Add(ra["y"], rb["y"]); err != nil {
			t.Fatal(err)
		}
	}
	return st.SQNR()
}

func TestQDQDeterministic(t *testing.T) {
	var outs [][]byte
	for i := 0; i < 2; i++ {
		m, _ := quantizeStatic(t, convNet(), rewrite.DefaultConfig())
		p, err := m.ToProto()
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two runs gave different models")
	}
}

func TestQDQMissingRangeFallsBack(t *testing.T) {
	m, err := graph.FromProto(convNet())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rewrite.Analyze(m, rewrite.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ranges := calibrateMinMax(t, m, plan, randomInputs(2, 1, 3, 8, 8))
	delete(ranges, "flat") // flat shares c2's parameters; drop the MatMul's output instead
	delete(ranges, "y")
	res, err := rewrite.QDQ(plan, ranges)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range res.Skipped {
		if s.Node.OpType == "MatMul" {
			found = true
		}
	}
	if !found {
		t.Errorf("MatMul without an output range was not reported as left in float: %v", res.Skipped)
	}
	for _, n := range res.Quantized {
		if n.OpType == "MatMul" {
			t.Error("MatMul quantized without a range for its output")
		}
	}
}

func TestQDQBiasOverflowGrowsWeightScale(t *testing.T) {
	b := newBuilder()
	b.input("x", 1, 2, 4, 4)
	b.init("w", tensor.FromFloat32([]float32{1e-6, -1e-6, 1e-6, 1e-6, 0.5, -0.5, 0.25, 0.1}, 2, 2, 1, 2))
	b.init("b", tensor.FromFloat32([]float32{5e4, 0.1}, 2))
	b.node("Conv", []string{"x", "w", "b"}, []string{"y"}, graph.IntsAttr("kernel_shape", []int64{1, 2}))
	b.output("y")
	mp := b.model(13)
	m, _ := quantizeStatic(t, mp, rewrite.DefaultConfig(), 1, 2, 4, 4)
	var bias *graph.Value
	for _, v := range m.Graph.Initializers() {
		if v.Name == "b_quantized" {
			bias = v
		}
	}
	if bias == nil {
		t.Fatal("no quantized bias")
	}
	bt, err := onnxio.ToTensor(bias.Initializer)
	if err != nil {
		t.Fatal(err)
	}
	q := bt.Data.([]int32)[0]
	if q == math.MaxInt32 || q == math.MinInt32 {
		t.Errorf("bias saturated at %d: the weight scale should have grown", q)
	}
	if sqnr := modelSQNR(t, mp, m, 1, 2, 4, 4); sqnr < 20 {
		t.Errorf("SQNR %.1f dB with a huge bias, want at least 20", sqnr)
	}
}

func TestWeightOnlyAndDynamic(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*rewrite.Config)
		op   string
		min  float64
	}{
		{"weight-only int8", func(c *rewrite.Config) { c.Mode = rewrite.WeightOnly }, "DequantizeLinear", 30},
		{"dynamic", func(c *rewrite.Config) { c.Mode = rewrite.Dynamic }, "MatMulInteger", 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rewrite.DefaultConfig()
			tc.cfg(&cfg)
			m, err := graph.FromProto(convNet())
			if err != nil {
				t.Fatal(err)
			}
			plan, err := rewrite.Analyze(m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rewrite.QDQ(plan, nil); err != nil {
				t.Fatal(err)
			}
			if count(m, tc.op) == 0 {
				t.Errorf("no %s in the result", tc.op)
			}
			if count(m, "QuantizeLinear") != 0 {
				t.Errorf("activations quantized in %s mode", tc.name)
			}
			if sqnr := modelSQNR(t, convNet(), m); sqnr < tc.min {
				t.Errorf("SQNR %.1f dB, want at least %v", sqnr, tc.min)
			}
		})
	}
}

func TestQOperator(t *testing.T) {
	mp := convNet()
	m, _ := quantizeStatic(t, mp, rewrite.DefaultConfig())
	if err := rewrite.ToQOperator(m); err != nil {
		t.Fatal(err)
	}
	if got := count(m, "QLinearConv"); got != 2 {
		t.Errorf("%d QLinearConv, want 2", got)
	}
	if got := count(m, "QLinearMatMul"); got != 1 {
		t.Errorf("%d QLinearMatMul, want 1", got)
	}
	if got := count(m, "Conv"); got != 0 {
		t.Errorf("%d float Conv left", got)
	}
	if sqnr := modelSQNR(t, mp, m); sqnr < 25 {
		t.Errorf("SQNR %.1f dB, want at least 25", sqnr)
	}
}

func TestAnalyzeExclusions(t *testing.T) {
	cfg := rewrite.DefaultConfig()
	cfg.ExcludeNodes = []string{"Conv_c2"}
	cfg.ExcludeOpTypes = []string{"MatMul"}
	m, err := graph.FromProto(convNet())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rewrite.Analyze(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range plan.Nodes() {
		if n.Name == "Conv_c2" || n.OpType == "MatMul" {
			t.Errorf("%s quantized despite exclusion", n)
		}
	}
	reasons := map[string]bool{}
	for _, s := range plan.Skipped {
		reasons[s.Node.Name] = true
	}
	if !reasons["Conv_c2"] || !reasons["MatMul_y"] {
		t.Errorf("exclusions not reported: %v", plan.Skipped)
	}
}

func TestQOperatorGemm(t *testing.T) {
	b := newBuilder()
	b.input("x", 1, 3, 8, 8)
	b.weight("w", 0.1, 10, 192)
	b.weight("bias", 0.1, 10)
	b.init("shape", tensor.FromInt64([]int64{1, 192}, 2))
	b.node("Reshape", []string{"x", "shape"}, []string{"flat"})
	b.node("Gemm", []string{"flat", "w", "bias"}, []string{"y"}, graph.IntAttr("transB", 1))
	b.output("y")
	mp := b.model(13)
	m, _ := quantizeStatic(t, mp, rewrite.DefaultConfig())
	if err := rewrite.ToQOperator(m); err != nil {
		t.Fatal(err)
	}
	if got := count(m, "QGemm"); got != 1 {
		t.Errorf("%d QGemm, want 1", got)
	}
	if sqnr := modelSQNR(t, mp, m); sqnr < 25 {
		t.Errorf("SQNR %.1f dB, want at least 25", sqnr)
	}
}

// TestClampKeptIsQuantized: with symmetric activations a Relu cannot be
// folded into the Conv's range, yet it stays between quantized tensors so the
// MaxPool after it is quantized too.
func TestClampKeptIsQuantized(t *testing.T) {
	b := newBuilder()
	b.input("x", 1, 3, 8, 8)
	b.weight("w", 0.3, 4, 3, 3, 3)
	b.node("Conv", []string{"x", "w"}, []string{"c"}, graph.IntsAttr("pads", []int64{1, 1, 1, 1}))
	b.node("Relu", []string{"c"}, []string{"r"})
	b.node("MaxPool", []string{"r"}, []string{"y"}, graph.IntsAttr("kernel_shape", []int64{2, 2}), graph.IntsAttr("strides", []int64{2, 2}))
	b.output("y")
	mp := b.model(13)
	cfg := rewrite.DefaultConfig()
	cfg.ActivationType = quant.Int8
	cfg.SymmetricActivations = true
	m, res := quantizeStatic(t, mp, cfg)
	ops := map[string]bool{}
	for _, n := range res.Quantized {
		ops[n.OpType] = true
	}
	if !ops["Relu"] || !ops["MaxPool"] || len(res.Folded) != 0 {
		t.Errorf("quantized %v, folded %d; want Relu and MaxPool quantized, nothing folded", res.Quantized, len(res.Folded))
	}
	if sqnr := modelSQNR(t, mp, m); sqnr < 25 {
		t.Errorf("SQNR %.1f dB, want at least 25", sqnr)
	}
}

// TestFuseHardSwish: the exported chain x*Clip(x+3, 0, 6)/6 becomes
// x*HardSigmoid(x) and computes the same.
func TestFuseHardSwish(t *testing.T) {
	b := newBuilder()
	b.input("x", 1, 3, 8, 8)
	b.init("three", tensor.FromFloat32([]float32{3}))
	b.init("zero", tensor.FromFloat32([]float32{0}))
	b.init("six", tensor.FromFloat32([]float32{6}))
	b.node("Add", []string{"x", "three"}, []string{"a"})
	b.node("Clip", []string{"a", "zero", "six"}, []string{"c"})
	b.node("Mul", []string{"x", "c"}, []string{"m"})
	b.node("Div", []string{"m", "six"}, []string{"y"})
	b.output("y")
	mp := b.model(13)
	m, err := graph.FromProto(proto.Clone(mp).(*onnx.ModelProto))
	if err != nil {
		t.Fatal(err)
	}
	if err := rewrite.FuseHardSwish(m); err != nil {
		t.Fatal(err)
	}
	if count(m, "HardSigmoid") != 1 || count(m, "Mul") != 1 || count(m, "Div")+count(m, "Clip")+count(m, "Add") != 0 {
		t.Errorf("not fused: HardSigmoid %d, Mul %d, Div %d", count(m, "HardSigmoid"), count(m, "Mul"), count(m, "Div"))
	}
	if sqnr := modelSQNR(t, mp, m); sqnr < 100 {
		t.Errorf("fused chain differs: SQNR %.1f dB", sqnr)
	}
}
