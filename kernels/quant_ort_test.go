package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// This file checks the quantized and recurrent operators against ONNX
// Runtime on small single-node models built here: the cases the ONNX node
// tests do not cover (contrib operators, all RNN directions and options,
// newer QuantizeLinear forms).

// qtCase is one single-node model. Inputs listed in feeds are graph inputs;
// consts become initializers.
type qtCase struct {
	name     string
	op       string
	domain   string
	opset    int
	attrs    []*onnx.AttributeProto
	inputs   []string // node input names in order ("" = absent)
	feeds    map[string]*tensor.Tensor
	consts   map[string]*tensor.Tensor
	outputs  []string
	outTypes []tensor.DType
	// roundTrip follows a QuantizeLinear with a DequantizeLinear of the same
	// parameters, for output types ONNX Runtime's Node binding cannot hand
	// back (int4, float8); the float result is compared.
	roundTrip bool
}

// dqAttrs keeps the attributes DequantizeLinear shares with QuantizeLinear.
func (c *qtCase) dqAttrs() []*onnx.AttributeProto {
	var out []*onnx.AttributeProto
	for _, a := range c.attrs {
		if a.GetName() == "axis" || a.GetName() == "block_size" {
			out = append(out, a)
		}
	}
	return out
}

func qtProto(name string, t *tensor.Tensor) *onnx.TensorProto {
	dt := int32(t.DType)
	tp := &onnx.TensorProto{Name: &name, DataType: &dt}
	for _, d := range t.Shape {
		tp.Dims = append(tp.Dims, int64(d))
	}
	le := binary.LittleEndian
	var raw []byte
	switch d := t.Data.(type) {
	case []float32:
		for _, v := range d {
			raw = le.AppendUint32(raw, math.Float32bits(v))
		}
	case []int32:
		for _, v := range d {
			raw = le.AppendUint32(raw, uint32(v))
		}
	case []int64:
		for _, v := range d {
			raw = le.AppendUint64(raw, uint64(v))
		}
	case []int16:
		for _, v := range d {
			raw = le.AppendUint16(raw, uint16(v))
		}
	case []uint16:
		for _, v := range d {
			raw = le.AppendUint16(raw, v)
		}
	case []int8:
		if t.DType == tensor.Int4 {
			// 4-bit types are packed two per byte, low nibble first.
			raw = make([]byte, (len(d)+1)/2)
			for i, v := range d {
				raw[i/2] |= (byte(v) & 0xf) << (4 * (i % 2))
			}
		} else {
			for _, v := range d {
				raw = append(raw, byte(v))
			}
		}
	case []uint8:
		if t.DType == tensor.Uint4 {
			raw = make([]byte, (len(d)+1)/2)
			for i, v := range d {
				raw[i/2] |= (v & 0xf) << (4 * (i % 2))
			}
		} else {
			raw = append(raw, d...)
		}
	default:
		panic(fmt.Sprintf("qtProto: %T", d))
	}
	tp.RawData = raw
	return tp
}

func qtValueInfo(name string, dt tensor.DType, shape []int) *onnx.ValueInfoProto {
	elem := int32(dt)
	sh := &onnx.TensorShapeProto{}
	for _, d := range shape {
		v := int64(d)
		sh.Dim = append(sh.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: v}})
	}
	tt := &onnx.TypeProto_Tensor{ElemType: &elem}
	if shape != nil {
		tt.Shape = sh
	}
	return &onnx.ValueInfoProto{Name: &name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}}
}

// model writes the case as an ONNX file.
func (c *qtCase) model(t *testing.T) string {
	opType, domain := c.op, c.domain
	node := &onnx.NodeProto{OpType: &opType, Input: c.inputs, Output: c.outputs, Attribute: c.attrs}
	if domain != "" {
		node.Domain = &domain
	}
	gname := c.name
	g := &onnx.GraphProto{Name: &gname, Node: []*onnx.NodeProto{node}}
	for _, name := range c.inputs {
		if v, ok := c.feeds[name]; ok {
			g.Input = append(g.Input, qtValueInfo(name, v.DType, v.Shape))
		}
		if v, ok := c.consts[name]; ok {
			g.Initializer = append(g.Initializer, qtProto(name, v))
		}
	}
	for i, name := range c.outputs {
		if name != "" && !c.roundTrip {
			g.Output = append(g.Output, qtValueInfo(name, c.outTypes[i], nil))
		}
	}
	if c.roundTrip {
		dq := "DequantizeLinear"
		in := append([]string{c.outputs[0]}, c.inputs[1:]...)
		g.Node = append(g.Node, &onnx.NodeProto{OpType: &dq, Input: in, Output: []string{"dq"}, Attribute: c.dqAttrs()})
		g.Output = append(g.Output, qtValueInfo("dq", tensor.Float, nil))
	}
	ir := int64(9)
	if c.opset >= 21 {
		ir = 10
	}
	empty, ms := "", msDomain
	v, one := int64(c.opset), int64(1)
	m := &onnx.ModelProto{IrVersion: &ir, Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: &empty, Version: &v}, {Domain: &ms, Version: &one}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs the node through Build, as the engine would.
func (c *qtCase) run(t *testing.T) []*tensor.Tensor {
	n := &graph.Node{Name: c.name, OpType: c.op, Domain: c.domain, Attrs: c.attrs}
	var in []*tensor.Tensor
	for _, name := range c.inputs {
		if name == "" {
			n.Inputs = append(n.Inputs, nil)
			in = append(in, nil)
			continue
		}
		n.Inputs = append(n.Inputs, &graph.Value{Name: name})
		v, ok := c.feeds[name]
		if !ok {
			v = c.consts[name]
		}
		in = append(in, v)
	}
	for _, name := range c.outputs {
		if name == "" {
			n.Outputs = append(n.Outputs, nil)
		} else {
			n.Outputs = append(n.Outputs, &graph.Value{Name: name})
		}
	}
	op, err := Build(n, c.opset)
	if err != nil {
		t.Fatal(err)
	}
	out, err := op.Run(&Context{Threads: 2}, in)
	if err != nil {
		t.Fatal(err)
	}
	if c.roundTrip {
		dn := &graph.Node{Name: "dq", OpType: "DequantizeLinear", Attrs: c.dqAttrs(), Inputs: n.Inputs, Outputs: []*graph.Value{{Name: "dq"}}}
		op, err := Build(dn, c.opset)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = op.Run(&Context{Threads: 2}, append([]*tensor.Tensor{out[0]}, in[1:]...)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// qtCompare allows one unit in the last place for integer outputs (ONNX
// Runtime's float intermediates can fall either side of a rounding tie)
// and 1e-4 relative or 1e-5 absolute for floats.
func qtCompare(got, want *tensor.Tensor) error {
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	g, err := elemValues(got)
	if err != nil {
		return err
	}
	w, _ := elemValues(want)
	isFloat := got.DType == tensor.Float
	bad, first, worst := 0, "", 0.0
	for i := range w {
		d := math.Abs(g[i] - w[i])
		ok := d <= 1
		if isFloat {
			ok = d <= 1e-5 || d <= 1e-4*math.Abs(w[i])
		}
		if math.IsNaN(g[i]) || math.IsNaN(w[i]) {
			ok = math.IsNaN(g[i]) && math.IsNaN(w[i])
		}
		if !ok {
			if bad == 0 {
				first = fmt.Sprintf("element %d: got %v, want %v", i, g[i], w[i])
			}
			bad++
		}
		worst = max(worst, d)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ (max |diff| %g); first: %s", bad, len(w), worst, first)
	}
	return nil
}

func qtCheck(t *testing.T, cases []qtCase) {
	oracle.Require(t, oracle.ORTOracle)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.run(t)
			want, err := oracle.ORT(c.model(t), c.feeds, oracle.ORTOptions{})
			if err != nil {
				t.Fatalf("onnx runtime: %v", err)
			}
			outputs := c.outputs
			if c.roundTrip {
				outputs = []string{"dq"}
			}
			for i, name := range outputs {
				if name == "" {
					continue
				}
				if i >= len(got) || got[i] == nil {
					t.Fatalf("output %q not produced", name)
				}
				if err := qtCompare(got[i], want[name]); err != nil {
					t.Errorf("output %q: %v", name, err)
				}
			}
		})
	}
}

// Random test data.
type qtRand struct{ r *rand.Rand }

func newQtRand(seed uint64) *qtRand { return &qtRand{rand.New(rand.NewPCG(seed, 7))} }

func (q *qtRand) f32(scale float32, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float, shape...)
	for i := range t.Float32() {
		t.Float32()[i] = float32(q.r.NormFloat64()) * scale
	}
	return t
}

func (q *qtRand) u8(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Uint8, shape...)
	for i := range t.Data.([]uint8) {
		t.Data.([]uint8)[i] = uint8(q.r.IntN(256))
	}
	return t
}

func (q *qtRand) i8(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Int8, shape...)
	for i := range t.Data.([]int8) {
		t.Data.([]int8)[i] = int8(q.r.IntN(256) - 128)
	}
	return t
}

func (q *qtRand) i32(lo, hi int, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Int32, shape...)
	for i := range t.Data.([]int32) {
		t.Data.([]int32)[i] = int32(lo + q.r.IntN(hi-lo))
	}
	return t
}

func qtScalarF(v float32) *tensor.Tensor { return tensor.FromFloat32([]float32{v}) }

func qtScalarU8(v uint8) *tensor.Tensor {
	t := tensor.New(tensor.Uint8)
	t.Data.([]uint8)[0] = v
	return t
}

func qtScalarI8(v int8) *tensor.Tensor {
	t := tensor.New(tensor.Int8)
	t.Data.([]int8)[0] = v
	return t
}

func qtInt(name string, v int64) *onnx.AttributeProto     { return graph.IntAttr(name, v) }
func qtInts(name string, v ...int64) *onnx.AttributeProto { return graph.IntsAttr(name, v) }
func qtFloat(name string, v float32) *onnx.AttributeProto { return graph.FloatAttr(name, v) }

func qtStrings(name string, v ...string) *onnx.AttributeProto {
	ty := onnx.AttributeProto_STRINGS
	a := &onnx.AttributeProto{Name: &name, Type: &ty}
	for _, s := range v {
		a.Strings = append(a.Strings, []byte(s))
	}
	return a
}

func qtFloats(name string, v ...float32) *onnx.AttributeProto {
	ty := onnx.AttributeProto_FLOATS
	return &onnx.AttributeProto{Name: &name, Type: &ty, Floats: v}
}

func TestContribOpsMatchORT(t *testing.T) {
	r := newQtRand(1)
	binary := func(name, op string, a, b, za, zb, zc *tensor.Tensor) qtCase {
		return qtCase{
			name: name, op: op, domain: msDomain, opset: 17,
			inputs:  []string{"A", "sa", "za", "B", "sb", "zb", "sc", "zc"},
			feeds:   map[string]*tensor.Tensor{"A": a, "B": b},
			consts:  map[string]*tensor.Tensor{"sa": qtScalarF(0.02), "za": za, "sb": qtScalarF(0.035), "zb": zb, "sc": qtScalarF(0.05), "zc": zc},
			outputs: []string{"C"}, outTypes: []tensor.DType{a.DType},
		}
	}
	unary := func(name, op string, x, zx, zy *tensor.Tensor, attrs ...*onnx.AttributeProto) qtCase {
		return qtCase{
			name: name, op: op, domain: msDomain, opset: 17, attrs: attrs,
			inputs:  []string{"X", "sx", "zx", "sy", "zy"},
			feeds:   map[string]*tensor.Tensor{"X": x},
			consts:  map[string]*tensor.Tensor{"sx": qtScalarF(0.04), "zx": zx, "sy": qtScalarF(1.0 / 256), "zy": zy},
			outputs: []string{"Y"}, outTypes: []tensor.DType{x.DType},
		}
	}
	pool := func(name, op string, x, zx, zy *tensor.Tensor, attrs ...*onnx.AttributeProto) qtCase {
		c := unary(name, op, x, zx, zy, attrs...)
		c.consts["sy"] = qtScalarF(0.03)
		return c
	}
	cases := []qtCase{
		binary("add_u8_broadcast", "QLinearAdd", r.u8(2, 3, 4), r.u8(4), qtScalarU8(120), qtScalarU8(128), qtScalarU8(100)),
		binary("add_i8", "QLinearAdd", r.i8(3, 5), r.i8(3, 5), qtScalarI8(-3), qtScalarI8(5), qtScalarI8(0)),
		binary("mul_u8_broadcast", "QLinearMul", r.u8(2, 1, 4), r.u8(3, 1), qtScalarU8(128), qtScalarU8(120), qtScalarU8(10)),
		binary("mul_i8", "QLinearMul", r.i8(4, 4), r.i8(4, 4), qtScalarI8(1), qtScalarI8(-2), qtScalarI8(-20)),
		unary("sigmoid_u8", "QLinearSigmoid", r.u8(4, 16), qtScalarU8(128), qtScalarU8(0)),
		unary("sigmoid_i8", "QLinearSigmoid", r.i8(4, 16), qtScalarI8(0), qtScalarI8(-128)),
		unary("leakyrelu_u8", "QLinearLeakyRelu", r.u8(4, 16), qtScalarU8(128), qtScalarU8(100), qtFloat("alpha", 0.1)),
		pool("gap_u8", "QLinearGlobalAveragePool", r.u8(2, 3, 4, 5), qtScalarU8(128), qtScalarU8(120)),
		pool("gap_i8_nhwc", "QLinearGlobalAveragePool", r.i8(2, 4, 5, 3), qtScalarI8(3), qtScalarI8(-4), qtInt("channels_last", 1)),
		pool("avgpool_pad", "QLinearAveragePool", r.u8(1, 2, 7, 6), qtScalarU8(128), qtScalarU8(128),
			qtInts("kernel_shape", 3, 3), qtInts("pads", 1, 1, 1, 1), qtInts("strides", 2, 2)),
		pool("avgpool_count_pad", "QLinearAveragePool", r.u8(1, 2, 7, 6), qtScalarU8(128), qtScalarU8(128),
			qtInts("kernel_shape", 3, 3), qtInts("pads", 1, 1, 1, 1), qtInts("strides", 2, 2), qtInt("count_include_pad", 1)),
		pool("avgpool_i8_nhwc", "QLinearAveragePool", r.i8(1, 5, 5, 3), qtScalarI8(0), qtScalarI8(0),
			qtInts("kernel_shape", 2, 2), qtInt("channels_last", 1)),
		{
			name: "where_u8_broadcast", op: "QLinearWhere", domain: msDomain, opset: 17,
			inputs:  []string{"c", "x", "sx", "zx", "y", "sy", "zy", "sz", "zz"},
			feeds:   map[string]*tensor.Tensor{"c": qtBools(r, 3, 1), "x": r.u8(3, 4), "y": r.u8(4)},
			consts:  map[string]*tensor.Tensor{"sx": qtScalarF(0.02), "zx": qtScalarU8(100), "sy": qtScalarF(0.05), "zy": qtScalarU8(130), "sz": qtScalarF(0.04), "zz": qtScalarU8(128)},
			outputs: []string{"z"}, outTypes: []tensor.DType{tensor.Uint8},
		},
		qtSoftmax("softmax_u8", r.u8(3, 10), qtScalarU8(0), 13, -1),
		qtSoftmax("softmax_i8_axis1", r.i8(2, 5, 3), qtScalarI8(-128), 13, 1),
		qtSoftmax("softmax_u8_opset12", r.u8(2, 3, 4), qtScalarU8(0), 12, 1),
		{
			name: "concat_u8", op: "QLinearConcat", domain: msDomain, opset: 17, attrs: []*onnx.AttributeProto{qtInt("axis", 1)},
			inputs:  []string{"sy", "zy", "a", "sa", "za", "b", "sb", "zb", "c", "sy", "zy"},
			feeds:   map[string]*tensor.Tensor{"a": r.u8(2, 3, 2), "b": r.u8(2, 1, 2), "c": r.u8(2, 2, 2)},
			consts:  map[string]*tensor.Tensor{"sy": qtScalarF(0.05), "zy": qtScalarU8(128), "sa": qtScalarF(0.02), "za": qtScalarU8(100), "sb": qtScalarF(0.09), "zb": qtScalarU8(140)},
			outputs: []string{"y"}, outTypes: []tensor.DType{tensor.Uint8},
		},
		{
			name: "qgemm_float_out", op: "QGemm", domain: msDomain, opset: 17, attrs: []*onnx.AttributeProto{qtFloat("alpha", 0.5), qtInt("transB", 1)},
			inputs:  []string{"A", "sa", "za", "B", "sb", "zb", "C"},
			feeds:   map[string]*tensor.Tensor{"A": r.u8(3, 8)},
			consts:  map[string]*tensor.Tensor{"sa": qtScalarF(0.02), "za": qtScalarU8(128), "B": r.i8(5, 8), "sb": r.f32Pos(5), "zb": tensor.New(tensor.Int8, 5), "C": r.i32(-500, 500, 5)},
			outputs: []string{"Y"}, outTypes: []tensor.DType{tensor.Float},
		},
		{
			name: "qgemm_quant_out", op: "QGemm", domain: msDomain, opset: 17, attrs: []*onnx.AttributeProto{qtInt("transA", 1)},
			inputs:  []string{"A", "sa", "za", "B", "sb", "zb", "C", "sy", "zy"},
			feeds:   map[string]*tensor.Tensor{"A": r.u8(8, 3)},
			consts:  map[string]*tensor.Tensor{"sa": qtScalarF(0.02), "za": qtScalarU8(128), "B": r.u8(8, 4), "sb": qtScalarF(0.01), "zb": qtScalarU8(127), "C": r.i32(-500, 500, 3, 4), "sy": qtScalarF(0.1), "zy": qtScalarU8(128)},
			outputs: []string{"Y"}, outTypes: []tensor.DType{tensor.Uint8},
		},
		{
			name: "matmulintegertofloat", op: "MatMulIntegerToFloat", domain: msDomain, opset: 17,
			inputs:  []string{"A", "B", "sa", "sb", "za", "zb", "bias"},
			feeds:   map[string]*tensor.Tensor{"A": r.u8(2, 3, 8)},
			consts:  map[string]*tensor.Tensor{"B": r.i8(8, 5), "sa": qtScalarF(0.02), "sb": r.f32Pos(5), "za": qtScalarU8(130), "zb": tensor.New(tensor.Int8, 5), "bias": r.f32(1, 5)},
			outputs: []string{"Y"}, outTypes: []tensor.DType{tensor.Float},
		},
		{
			name: "dynamicquantizematmul", op: "DynamicQuantizeMatMul", domain: msDomain, opset: 17,
			inputs:  []string{"A", "B", "sb", "zb", "bias"},
			feeds:   map[string]*tensor.Tensor{"A": r.f32(1, 4, 8)},
			consts:  map[string]*tensor.Tensor{"B": r.i8(8, 6), "sb": qtScalarF(0.01), "zb": qtScalarI8(0), "bias": r.f32(1, 6)},
			outputs: []string{"Y"}, outTypes: []tensor.DType{tensor.Float},
		},
	}
	qtCheck(t, cases)
}

// f32Pos is positive scales.
func (q *qtRand) f32Pos(n int) *tensor.Tensor {
	t := tensor.New(tensor.Float, n)
	for i := range t.Float32() {
		t.Float32()[i] = 0.005 + 0.02*q.r.Float32()
	}
	return t
}

func TestQuantizeLinearNewFormsMatchORT(t *testing.T) {
	r := newQtRand(2)
	x := r.f32(3, 4, 6)
	qd := func(name string, opset int, attrs []*onnx.AttributeProto, scale, zp *tensor.Tensor, outType tensor.DType) qtCase {
		c := qtCase{
			name: name, op: "QuantizeLinear", opset: opset, attrs: attrs,
			inputs:  []string{"x", "s"},
			feeds:   map[string]*tensor.Tensor{"x": x},
			consts:  map[string]*tensor.Tensor{"s": scale},
			outputs: []string{"y"}, outTypes: []tensor.DType{outType},
		}
		if zp != nil {
			c.inputs = append(c.inputs, "z")
			c.consts["z"] = zp
		}
		return c
	}
	i16 := tensor.New(tensor.Int16)
	i16.Data.([]int16)[0] = -300
	u16 := tensor.New(tensor.Uint16, 6)
	for i := range 6 {
		u16.Data.([]uint16)[i] = uint16(30000 + 100*i)
	}
	blockScale := r.f32Pos(4 * 2)
	blockScale.Shape = []int{4, 2}
	i4 := tensor.New(tensor.Int4, 4, 2)
	for i := range i4.Data.([]int8) {
		i4.Data.([]int8)[i] = int8(i%5 - 2)
	}
	u4 := tensor.New(tensor.Uint4, 1)
	u4.Data.([]uint8)[0] = 8
	f8 := tensor.New(tensor.Float8E4M3FN)
	axis0 := r.f32Pos(4)
	rt := func(c qtCase) qtCase { c.roundTrip = true; return c }
	cases := []qtCase{
		qd("per_axis_13", 13, []*onnx.AttributeProto{qtInt("axis", 0)}, axis0, tensor.New(tensor.Uint8, 4), tensor.Uint8),
		qd("int16_21", 21, nil, qtScalarF(0.001), i16, tensor.Int16),
		qd("uint16_per_axis_21", 21, []*onnx.AttributeProto{qtInt("axis", 1)}, tensor.FromFloat32(r.f32Pos(6).Float32(), 6), u16, tensor.Uint16),
		rt(qd("int4_blocked_21", 21, []*onnx.AttributeProto{qtInt("axis", 1), qtInt("block_size", 3)}, blockScale, i4, tensor.Int4)),
		rt(qd("uint4_21", 21, nil, qtScalarF(0.5), u4, tensor.Uint4)),
		rt(qd("float8_saturate_19", 19, nil, qtScalarF(0.01), f8, tensor.Float8E4M3FN)),
		rt(qd("float8_no_saturate_19", 19, []*onnx.AttributeProto{qtInt("saturate", 0)}, qtScalarF(0.01), f8, tensor.Float8E4M3FN)),
		rt(qd("float8e5m2_19", 19, nil, qtScalarF(0.001), tensor.New(tensor.Float8E5M2), tensor.Float8E5M2)),
		rt(qd("float8e4m3fnuz_19", 19, nil, qtScalarF(0.01), tensor.New(tensor.Float8E4M3FNUZ), tensor.Float8E4M3FNUZ)),
		rt(qd("float8e5m2fnuz_no_saturate_19", 19, []*onnx.AttributeProto{qtInt("saturate", 0)}, qtScalarF(0.0001), tensor.New(tensor.Float8E5M2FNUZ), tensor.Float8E5M2FNUZ)),
		qd("output_dtype_int8_21", 21, []*onnx.AttributeProto{qtInt("output_dtype", int64(tensor.Int8))}, qtScalarF(0.05), nil, tensor.Int8),
	}
	// DequantizeLinear of the same forms.
	dq := func(name string, opset int, attrs []*onnx.AttributeProto, q, scale, zp *tensor.Tensor) qtCase {
		c := qtCase{
			name: name, op: "DequantizeLinear", opset: opset, attrs: attrs,
			inputs:  []string{"q", "s"},
			feeds:   map[string]*tensor.Tensor{"q": q},
			consts:  map[string]*tensor.Tensor{"s": scale},
			outputs: []string{"y"}, outTypes: []tensor.DType{tensor.Float},
		}
		if zp != nil {
			c.inputs = append(c.inputs, "z")
			c.consts["z"] = zp
		}
		return c
	}
	qi4 := tensor.New(tensor.Int4, 4, 6)
	for i := range qi4.Data.([]int8) {
		qi4.Data.([]int8)[i] = int8(r.r.IntN(16) - 8)
	}
	q32 := r.i32(-100000, 100000, 4, 6)
	dqI4 := dq("dq_int4_blocked_21", 21, []*onnx.AttributeProto{qtInt("axis", 1), qtInt("block_size", 3)}, qi4, blockScale, i4)
	// The Node binding cannot feed int4, so the input is an initializer.
	dqI4.consts["q"], dqI4.feeds = qi4, map[string]*tensor.Tensor{}
	cases = append(cases, dqI4,
		dq("dq_int32_13", 13, nil, q32, qtScalarF(0.0001), nil),
		dq("dq_i8_per_axis_13", 13, []*onnx.AttributeProto{qtInt("axis", 0)}, r.i8(4, 6), axis0, tensor.New(tensor.Int8, 4)),
	)
	qtCheck(t, cases)
}

func TestIntegerOpsMatchORT(t *testing.T) {
	r := newQtRand(4)
	wzpI8 := tensor.New(tensor.Int8, 4)
	copy(wzpI8.Data.([]int8), []int8{0, 1, -2, 3})
	cases := []qtCase{
		{
			name: "qlinearconv_u8_per_channel_group_bias", op: "QLinearConv", opset: 13,
			attrs:  []*onnx.AttributeProto{qtInt("group", 2), qtInts("pads", 1, 0, 1, 2), qtInts("strides", 2, 1), qtInts("dilations", 1, 2)},
			inputs: []string{"x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "B"},
			feeds:  map[string]*tensor.Tensor{"x": r.u8(2, 4, 7, 8)},
			consts: map[string]*tensor.Tensor{"sx": qtScalarF(0.02), "zx": qtScalarU8(120), "w": r.i8(4, 2, 3, 3), "sw": r.f32Pos(4),
				"zw": tensor.New(tensor.Int8, 4), "sy": qtScalarF(0.15), "zy": qtScalarU8(125), "B": r.i32(-2000, 2000, 4)},
			outputs: []string{"y"}, outTypes: []tensor.DType{tensor.Uint8},
		},
		{
			name: "qlinearconv_i8_same_upper_1d", op: "QLinearConv", opset: 13,
			attrs:  []*onnx.AttributeProto{&onnx.AttributeProto{Name: strPtr("auto_pad"), Type: attrType(onnx.AttributeProto_STRING), S: []byte("SAME_UPPER")}, qtInts("strides", 2)},
			inputs: []string{"x", "sx", "zx", "w", "sw", "zw", "sy", "zy"},
			feeds:  map[string]*tensor.Tensor{"x": r.i8(1, 3, 9)},
			consts: map[string]*tensor.Tensor{"sx": qtScalarF(0.02), "zx": qtScalarI8(-5), "w": r.i8(4, 3, 4), "sw": qtScalarF(0.01),
				"zw": qtScalarI8(0), "sy": qtScalarF(0.08), "zy": qtScalarI8(3)},
			outputs: []string{"y"}, outTypes: []tensor.DType{tensor.Int8},
		},
		{
			name: "convinteger_u8_pads", op: "ConvInteger", opset: 13,
			attrs:   []*onnx.AttributeProto{qtInts("pads", 1, 1, 1, 1)},
			inputs:  []string{"x", "w", "zx", "zw"},
			feeds:   map[string]*tensor.Tensor{"x": r.u8(1, 2, 5, 5)},
			consts:  map[string]*tensor.Tensor{"w": r.u8(3, 2, 3, 3), "zx": qtScalarU8(128), "zw": qtScalarU8(100)},
			outputs: []string{"y"}, outTypes: []tensor.DType{tensor.Int32},
		},
		{
			name: "matmulinteger_batched_per_column", op: "MatMulInteger", opset: 13,
			inputs:  []string{"A", "B", "za", "zb"},
			feeds:   map[string]*tensor.Tensor{"A": r.u8(2, 3, 5)},
			consts:  map[string]*tensor.Tensor{"B": r.i8(5, 4), "za": qtScalarU8(130), "zb": wzpI8},
			outputs: []string{"Y"}, outTypes: []tensor.DType{tensor.Int32},
		},
		{
			name: "qlinearmatmul_i8_batched", op: "QLinearMatMul", opset: 13,
			inputs:  []string{"a", "sa", "za", "b", "sb", "zb", "sy", "zy"},
			feeds:   map[string]*tensor.Tensor{"a": r.i8(2, 3, 6)},
			consts:  map[string]*tensor.Tensor{"sa": qtScalarF(0.03), "za": qtScalarI8(2), "b": r.i8(6, 5), "sb": qtScalarF(0.02), "zb": qtScalarI8(0), "sy": qtScalarF(0.2), "zy": qtScalarI8(-1)},
			outputs: []string{"y"}, outTypes: []tensor.DType{tensor.Int8},
		},
	}
	qtCheck(t, cases)
}

func qtBools(r *qtRand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Bool, shape...)
	for i := range t.Data.([]bool) {
		t.Data.([]bool)[i] = r.r.IntN(2) == 1
	}
	return t
}

// qtSoftmax is a QLinearSoftmax case with the output parameters ONNX
// Runtime's quantizer uses (scale 1/256, zero point 0 or -128).
func qtSoftmax(name string, x, zy *tensor.Tensor, opset, axis int64) qtCase {
	zx := tensor.New(x.DType)
	return qtCase{
		name: name, op: "QLinearSoftmax", domain: msDomain, opset: 17,
		attrs:   []*onnx.AttributeProto{qtInt("opset", opset), qtInt("axis", axis)},
		inputs:  []string{"X", "sx", "zx", "sy", "zy"},
		feeds:   map[string]*tensor.Tensor{"X": x},
		consts:  map[string]*tensor.Tensor{"sx": qtScalarF(0.05), "zx": zx, "sy": qtScalarF(1.0 / 256), "zy": zy},
		outputs: []string{"Y"}, outTypes: []tensor.DType{x.DType},
	}
}
